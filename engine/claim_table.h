// The open claims of one topic (Topic::claim, conduit/claim.h) in this
// process: what close() and delete_topic() take back, and who ends each.
//
// Every claim is ended exactly once: by its owner (commit, abandon) or by
// the closer (take_back), which writes a skip record. Deciding who takes
// no lock on the owner's side, so that a commit issues no locked
// instruction after the payload's writes (on x86 one waits until those
// writes have reached a subscriber that may be spinning on them; with a
// lock per commit a claim cost about three times a copying publish):
//
//   owner:  state = kEnding;  fence;  read closing_
//   closer: closing_ = true;  fence;  compare-and-swap state kOpen -> kTaken
//
// Either the owner sees closing_ or the closer sees kEnding (both may).
// The owner that does not see closing_ owns the record: the closer found
// kEnding (or the slot freed after it) and left it, and the closer waits
// for the topic's published watermark, which the owner's commit moves. The
// owner that sees closing_ takes the lock, which the closer holds while it
// takes claims back, and looks at the record's length word: a skip record
// there was the closer's; 0, the closer left it and the owner ends it.
// The owner's fence is the light side of an AsymmetricFence, the closer's
// its heavy side (common/wait.h).
//
// Slots are listed under the lock (taking one is a locked instruction
// before the record is written); the owner frees its slot with a release
// store once it is done with the record. Chunks of slots are allocated
// as needed and never move: an owner reads its slot without the lock.
// A new claim looks for a free slot from one past the slot taken last,
// round the listed ones, and lists a new slot only when none is free: with
// claims ended about in the order they were taken, the slot after the last
// one taken is most often free again by the time the scan comes round to
// it, so a claim looks at a few slots however many are open. (Owners free
// without the lock, so the table cannot know that none is free without
// looking at every one: while the open claims only grow, each claim still
// goes round them all before it lists a new slot.)
//
// A single_producer topic lists its one producing thread's claims in a
// slot of their own (kSoleSlot, reserve_sole()) without the lock: only
// that thread claims on such a topic (SoleProducer, topic_core.h), so
// nobody else lists into the slot, and the owner writes the record's head,
// then the slot's fields, then stores kOpen with release; a closer's
// acquire compare-and-swap on the state sees them. The owner then does as
// begin_end() does against closing_ (light fence, then look): either it
// sees closing_ (and settles the claim under the lock, list_sole()'s
// caller), or the closer's scan, after its heavy fence, sees kOpen. The
// sole slot's fields change without the lock, so only readers that go by
// its state read them: the closer (after its acquire CAS), the destructor
// (acquire), and the dead-claims scan, which runs only for topics with
// publishers in other processes, never a single_producer one.
//
// A listed claim keeps its segment: the published watermark cannot pass
// it, and no segment goes before that. So a claim holds no reference of
// its own (a locked increment and decrement per claim, the decrement
// after the commit's writes); a closer that takes it back takes one for
// it (Slot::kept), and the topic's destructor hands those of claims still
// not ended to keep_forever().
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "common/wait.h"

namespace conduit::detail {

class Segment;

class ClaimTable {
 public:
  enum State : std::uint32_t { kFree = 0, kOpen, kEnding, kTaken };
  struct Slot {
    std::atomic<std::uint32_t> state{kFree};
    std::uint32_t length = 0;  // unpadded
    std::uint64_t seq = 0;
    Segment* seg = nullptr;
    std::byte* record = nullptr;
    // Set by the closer that took the claim back (under the lock), let go
    // by its owner (under the lock): the topic may free its segments then,
    // and the owner may still be writing the payload.
    std::shared_ptr<void> kept;
  };
  static constexpr std::uint32_t kChunk = 64, kChunks = 64;
  static constexpr std::uint32_t kMaxOpen = kChunk * kChunks;  // claims open at once, per topic
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};

  // Slot 0, kept for a single_producer topic's own thread (list_sole()).
  static constexpr std::uint32_t kSoleSlot = 0;
  // Before any claim: keeps kSoleSlot out of add_locked()'s reach.
  void reserve_sole() {
    std::lock_guard lk(mu_);
    chunks_[0] = std::make_unique<Slot[]>(kChunk);
    used_ = next_ = first_ = 1;
  }
  // The sole producer's thread: its slot is free for a claim (else it lists
  // the claim under the lock, as other topics do).
  bool sole_free() const noexcept {
    // Acquire pairs with end()'s release: whoever ended the slot's last
    // claim (on any thread: a Claim moves) is done with it.
    return at(kSoleSlot).state.load(std::memory_order_acquire) == kFree;
  }
  // Then, after writing the record's head: true, the claim is listed in
  // kSoleSlot and open; false, it is listed but a closer came: the caller
  // settles it under lock() (taken back or not, by the slot's state).
  bool list_sole(Segment* seg, std::byte* record, std::uint64_t seq, std::uint32_t length) noexcept {
    // Release pairs with the closer's acquire CAS in take_back_locked() (and
    // the acquire loads of for_each_*): the head and the fields first.
    open_slot(kSoleSlot, seg, record, seq, length, std::memory_order_release);
    fence_.light();  // orders kOpen before closing_; pairs with heavy() in take_back_locked()
    return !closing_.load(std::memory_order_relaxed);
  }

  // Held to list a claim (and write its head), by the closer while it takes
  // claims back, and by an owner that saw closing().
  SpinLock& lock() noexcept { return mu_; }

  // Lock held: a free slot, listed kOpen for `seq`; kNone when kMaxOpen
  // claims are open.
  std::uint32_t add_locked(Segment* seg, std::byte* record, std::uint64_t seq, std::uint32_t length) {
    const std::uint32_t i = free_slot_locked();
    if (i == kNone) return kNone;
    next_ = i + 1;
    // Relaxed: the closer reads the slot under the lock held here.
    open_slot(i, seg, record, seq, length, std::memory_order_relaxed);
    return i;
  }

  // The owner, ending its claim in slot `i`: true, the record is the
  // owner's to end (no lock taken); false, a closer came first or is
  // taking claims back: lock(), then the record's length word says.
  bool begin_end(std::uint32_t i) noexcept {
    // Relaxed store and load: the fences order them (see the top).
    at(i).state.store(kEnding, std::memory_order_relaxed);
    fence_.light();  // orders kEnding before closing_; pairs with heavy() in take_back_locked()
    return !closing_.load(std::memory_order_relaxed);
  }
  // The owner is done with the record (its commit, index entry and all).
  void end(std::uint32_t i) noexcept {
    // Release pairs with the acquire loads of free_slot_locked() and list_sole().
    at(i).state.store(kFree, std::memory_order_release);
  }

  // The closer, lock held: from now on owners look before they end; then
  // `take(slot)` for each claim still open (not being ended), which is the
  // closer's to end from then on.
  template <class Take>
  void take_back_locked(Take&& take) {
    // Relaxed: the fence (or barrier) after it orders it before the reads.
    closing_.store(true, std::memory_order_relaxed);
    fence_.heavy();  // orders closing_ before the states; pairs with light() in begin_end()
    for (std::uint32_t i = 0; i < used_; ++i) {
      std::uint32_t open = kOpen;
      // Acquire pairs with list_sole()'s release (other slots' fields were
      // written under this lock); losing to an owner's kEnding leaves it
      // the owner's.
      if (at(i).state.compare_exchange_strong(open, kTaken, std::memory_order_acquire)) take(at(i));
    }
  }

  // Lock held: `f(slot)` for each claim open or being ended by its owner.
  template <class F>
  void for_each_open_locked(F&& f) const {
    for (std::uint32_t i = 0; i < used_; ++i) {
      // Acquire pairs with list_sole()'s release; the fields of the other
      // slots change only under the lock (see the top for the sole slot's).
      const std::uint32_t st = at(i).state.load(std::memory_order_acquire);
      if (st == kOpen || st == kEnding) f(at(i));
    }
  }

  // `f(slot)` for each slot not freed by its owner: the topic's destructor.
  template <class F>
  void for_each_unended(F&& f) {
    std::lock_guard lk(mu_);
    for (std::uint32_t i = 0; i < used_; ++i)
      // Acquire pairs with end()'s release.
      if (at(i).state.load(std::memory_order_acquire) != kFree) f(at(i));
  }

  Slot& at(std::uint32_t i) const noexcept { return chunks_[i / kChunk][i % kChunk]; }

 private:
  // A free slot's fields, then its state kOpen stored with `order`.
  void open_slot(std::uint32_t i, Segment* seg, std::byte* record, std::uint64_t seq, std::uint32_t length,
                 std::memory_order order) noexcept {
    Slot& s = at(i);
    s.length = length;
    s.seq = seq;
    s.seg = seg;
    s.record = record;
    s.state.store(kOpen, order);
  }

  // Lock held: a free slot, from next_ round the listed ones, else a new
  // one listed; kNone when kMaxOpen are listed and none is free.
  std::uint32_t free_slot_locked() {
    for (std::uint32_t n = 0; n < used_; ++n) {
      // next_ <= used_, so one wrap is enough.
      const std::uint32_t i = next_ + n < used_ ? next_ + n : next_ + n - used_;
      if (i < first_) continue;  // the sole slot
      // Acquire pairs with end()'s release: the slot's last owner is done.
      if (at(i).state.load(std::memory_order_acquire) == kFree) return i;
    }
    if (used_ == kMaxOpen) return kNone;
    if (used_ % kChunk == 0) chunks_[used_ / kChunk] = std::make_unique<Slot[]>(kChunk);
    return used_++;
  }

  const AsymmetricFence fence_;
  SpinLock mu_;
  std::uint32_t used_ = 0;                               // guarded by mu_: slots ever listed
  std::uint32_t next_ = 0;                               // guarded by mu_: where the scan starts, <= used_
  std::uint32_t first_ = 0;                              // guarded by mu_: 1 once the sole slot is kept
  std::array<std::unique_ptr<Slot[]>, kChunks> chunks_;  // each set once, under mu_
  std::atomic<bool> closing_{false};
};

}  // namespace conduit::detail
