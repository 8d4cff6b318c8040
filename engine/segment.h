// A segment: one contiguous region of a topic's log. Where its bytes live is
// the storage seam (persistence/storage.h): anonymous memory here
// (make_memory_storage), files in persistence/.
//
// Thread safety
//   Segment: base/capacity/first_seq are fixed at creation. Producers write
//   records into [base, base+capacity) at claimed offsets (see TopicCore);
//   index entries and sealed_count are written once each with release and
//   read with acquire. A reader keeps a segment alive by holding its
//   shared_ptr; a segment dropped from its topic is freed when the last
//   reader lets go. Readers hold it through a pin (Segment::pin): a
//   memory-only ring reuses a dropped segment, zeroed, only once it has no
//   pin and no other owner.
//   A segment read from disk unchecked (a log taken from its clean-close
//   record): readers check its records a chunk at a time, taking turns
//   under the segment's own check mutex; the check sets the records' index
//   entries (the same values again where the tail's were built at open).
//   How far it got (checked_) is stored with release and read with acquire
//   (checked()).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/wait.h"
#include "conduit/engine.h"
#include "conduit/status.h"
#include "engine/alloc.h"
#include "persistence/storage.h"

namespace conduit::detail {

// Memory-only topics: anonymous mappings, never on disk; `shared`
// (TopicOptions::shared): memfds other processes can map (doc/ipc.md).
std::unique_ptr<TopicStorage> make_memory_storage(bool shared = false, bool huge_pages = false);

// A memfd of `bytes` (zero-filled, close-on-exec), mapped shared and
// writable: {its descriptor, the address}. For memory other processes map
// (shared indexes, claim blocks; doc/ipc.md).
Result<std::pair<int, std::byte*>> map_shared_memfd(const char* name, std::size_t bytes);

inline constexpr std::uint64_t kNotSealed = std::numeric_limits<std::uint64_t>::max();

// Pages mapped ahead of the producers, a stretch at a time, by one of them
// at a time (the others go on and at worst take a fault): how far is
// mapped, and the lock of the one mapping. Units are the caller's (index
// entries, bytes).
class MapAhead {
 public:
  explicit MapAhead(std::size_t ready) noexcept : ready_(ready) {}
  // Relaxed, both: a hint between producers; whatever lies above it is
  // still written and read correctly, only through faults.
  bool needed(std::size_t end, std::size_t slack) const noexcept {
    return ready_.load(std::memory_order_relaxed) < end + slack;
  }
  void set(std::size_t ready) noexcept { ready_.store(ready, std::memory_order_relaxed); }
  // Unless another producer is at it, or `end` is `slack` or more below
  // what is mapped, maps [ready, max(ready, end) + chunk) capped at
  // `limit` through map(from, to), which returns how far is mapped then.
  template <class Map>
  void advance(std::size_t end, std::size_t slack, std::size_t chunk, std::size_t limit, Map&& map) noexcept {
    std::unique_lock lk(mu_, std::try_to_lock);
    if (!lk.owns_lock()) return;
    // Relaxed: stored only under mu_ (see needed()).
    const std::size_t from = ready_.load(std::memory_order_relaxed);
    if (from >= end + slack || from >= limit) return;
    ready_.store(map(from, std::min(limit, std::max(from, end) + chunk)), std::memory_order_relaxed);
  }

 private:
  std::mutex mu_;
  std::atomic<std::size_t> ready_;
};

class Segment : public MiAllocated, public std::enable_shared_from_this<Segment> {
 public:
  // Takes ownership of `mem`. Fails only when the index cannot be mapped.
  // `shared_index`: the index lives in a memfd (index_fd()) that publishers
  // in other processes map too (doc/ipc.md); else in anonymous memory.
  static Result<std::shared_ptr<Segment>> make(std::unique_ptr<SegmentMemory> mem, std::uint64_t first_seq,
                                               bool shared_index = false);
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  std::byte* base() const noexcept { return base_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::uint64_t first_seq() const noexcept { return first_seq_; }
  // The most records a segment of this capacity can hold.
  std::size_t max_records() const noexcept { return max_records_; }

  // Offset of record `i` (0-based in this segment), or 0 while it is not
  // committed yet. Written once by the record's producer. An `i` past what
  // the segment can hold is 0 too: a reader that starts beyond the end of
  // the log (StartAt::at a future sequence) waits until the segment seals.
  std::uint32_t offset_of(std::size_t i) const noexcept {
    if (i >= max_records_) return 0;
    // Acquire pairs with the release in set_offset(): the record's bytes,
    // committed before, are visible.
    return index_[i].load(std::memory_order_acquire);
  }
  void set_offset(std::size_t i, std::uint32_t off) noexcept {
    // Release pairs with the acquire in offset_of().
    index_[i].store(off, std::memory_order_release);
  }
  // The index is anonymous memory, backed a 4 KiB page (1024 entries) at a
  // time on first touch: left to faults, one publish in every 1024 took a
  // page fault (a few to tens of µs on a VM), on every topic, on the first
  // lap of a ring and in every new segment. A producer calls this for the
  // entries its claim ends at, before storing them: the pages go in
  // kIndexChunk at a time (one MADV_POPULATE_WRITE) once the claim comes
  // within a page of the pages mapped so far, so the fault is taken once
  // per 16 Ki records, not once per 1 Ki.
  void prepare_index(std::size_t end) noexcept {
    // Relaxed: a hint between producers; an entry above it is still stored
    // and read correctly (set_offset/offset_of), only through a fault.
    if (index_ready_.needed(end, kIndexSlack)) [[unlikely]]
      populate_index(end);
  }
  // The same for the records' bytes of fresh anonymous memory
  // (SegmentMemory::populated_by_producers; AnonymousMemory has why): a
  // producer calls it for the end of its claim before writing, and the
  // pages go in kDataChunk at a time once the claim comes within kDataSlack
  // of those mapped so far, ahead of any reader. Elsewhere a no-op.
  void prepare_data(std::size_t end) noexcept {
    // Relaxed: a hint between producers; bytes above it are written and
    // read as well, only through faults.
    if (data_ready_.needed(end, kDataSlack)) [[unlikely]]
      populate_data(end);
  }

  // All a producer readies before it writes a claim that ends at byte
  // `end` of the segment (the length word after it included) and at index
  // entry `entries`: the bytes zeroed, the records' pages and the index's
  // mapped. Each is a load and a compare unless it is due.
  void prepare_claim(std::size_t end, std::size_t entries) noexcept {
    ensure_zeroed(std::min(end, capacity()));
    prepare_data(end);
    prepare_index(entries);
  }

  // Records in the segment once it is sealed (no more fit), else kNotSealed.
  std::uint64_t sealed_count() const noexcept {
    // Acquire pairs with the release in seal().
    return sealed_count_.load(std::memory_order_acquire);
  }
  void seal(std::uint64_t count) noexcept {
    // Release pairs with the acquire of a reader in another process
    // (engine/shm_reader.cpp): the padding record is there before it.
    sealed_mirror(index_map_).store(count, std::memory_order_release);
    // Release pairs with the acquire in sealed_count(). Last: once it is
    // seen, a topic being closed or deleted may free this segment
    // (TopicCore::retire), so nothing here is touched after it.
    sealed_count_.store(count, std::memory_order_release);
  }
  // Where the padding that ends this sealed segment starts (the crosser's
  // offset; the capacity when the last record ends exactly there); 0 when
  // not known (not sealed yet, or sealed before this engine opened it).
  // Relaxed both: stored before seal()'s release, read after
  // sealed_count()'s acquire.
  std::size_t padded_at() const noexcept { return padded_at_.load(std::memory_order_relaxed); }
  void set_padded_at(std::size_t offset) noexcept { padded_at_.store(offset, std::memory_order_relaxed); }
  // One past the last sequence, once sealed; kNotSealed before.
  std::uint64_t end_seq() const noexcept {
    const std::uint64_t n = sealed_count();
    return n == kNotSealed ? kNotSealed : first_seq_ + n;
  }

  // A reader's reference: the segment, kept alive and pinned until the last
  // copy of the returned pointer is gone. Readers get segments only this
  // way (TopicCore::segment_for), so a memory-only ring can tell when
  // nobody reads a dropped segment any more and reuse it.
  static std::shared_ptr<Segment> pin(std::shared_ptr<Segment> s);
  bool pinned() const noexcept {
    // Acquire pairs with the release in the last pin's drop: that reader's
    // reads of the segment happen before whatever the caller does next.
    return pins_.load(std::memory_order_acquire) != 0;
  }

  // Makes this sealed segment, dropped from its topic and held by nobody
  // else, start again at `first_seq` with an empty index; the storage has
  // rewritten its header (TopicStorage::reuse_segment). Called under the
  // topic's lock; the topic publishes it to producers and readers as it
  // does a new segment (release stores of the slot's tail and of next()).
  // Only the first zero chunk is cleared here; see ensure_zeroed().
  void reuse(std::uint64_t first_seq) noexcept;

  // Zero bytes mean "no record here" (a record's length word is its commit),
  // so a reader must find zeros wherever it looks next. Below zeroed_ the
  // bytes are zero or this lap's records; new memory is zero throughout, a
  // reused segment holds the last lap's bytes above it. A producer calls
  // this for the end of its claim plus the next length word before writing:
  // every position a reader looks at (the end of a committed record) is
  // then below zeroed_, and a clear happens only above everything written.
  // The clearing goes a chunk at a time just ahead of the producers, rather
  // than all of a segment under the topic's lock when the ring comes round
  // (a stall for producers and for readers changing segment). A file whose
  // zeros are still being written (SegmentMemory::ready_bytes) starts with
  // zeroed_ there: the bytes above read as zero already, but must not be
  // stored into before zero_range() has written them.
  void ensure_zeroed(std::size_t end) noexcept {
    // Acquire pairs with the release in zero_to(): the cleared bytes are
    // cleared before this producer writes (and, through its commit, for
    // the readers that follow it).
    if (zeroed_.load(std::memory_order_acquire) < end) [[unlikely]]
      zero_to(end);
  }
  SegmentMemory& memory() noexcept { return *mem_; }
  // The shared index's memfd (make()'s shared_index), -1 otherwise or once
  // close_index_fd() ran (no publisher can claim in the segment any more).
  int index_fd() const noexcept { return index_fd_; }
  void close_index_fd() noexcept;
  // The index mapping's layout, for a publisher in another process: a
  // header line (the zeroed mirror), then max_records() u32 entries.
  static constexpr std::size_t kIndexHeaderBytes = 64;
  // In the index header: zeroed_ as last stored (another process cannot
  // read zeroed_); stored with release after zeroed_, read with acquire.
  static std::atomic<std::uint64_t>& zeroed_mirror(std::byte* index_map) noexcept {
    return *reinterpret_cast<std::atomic<std::uint64_t>*>(index_map);
  }
  // Also in the index header, for readers in other processes (a shared
  // memory-only topic, doc/ipc.md): sealed_count() as last stored (see seal()).
  static std::atomic<std::uint64_t>& sealed_mirror(std::byte* index_map) noexcept {
    return *reinterpret_cast<std::atomic<std::uint64_t>*>(index_map + 8);
  }
  // Makes at most `step` more bytes above zeroed_ ready, ahead of the
  // producers, if zeroed_ is below `until` (the persistence thread's zero
  // thread, for a file whose zeros are still being written).
  ZeroAhead zero_ahead(std::size_t until, std::size_t step) noexcept;

  // See SegmentMemory::drop_resident_pages(). Readers may go on reading.
  void drop_resident_pages() noexcept { mem_->drop_resident_pages(); }
  void drop_resident_range(std::size_t from, std::size_t to) noexcept { mem_->drop_resident_range(from, to); }
  void populate_range(std::size_t from, std::size_t to) noexcept { mem_->populate_range(from, to); }

  // The segment after this one, set once when the topic rolls. Valid to
  // follow only while this one is not yet dropped from the topic.
  Segment* next() const noexcept {
    // Acquire pairs with the release in set_next().
    return next_.load(std::memory_order_acquire);
  }
  void set_next(Segment* s) noexcept { next_.store(s, std::memory_order_release); }  // pairs with next()

  // Segments found on open have no index until a reader needs one; the
  // topic builds it under its lock (walking the record lengths).
  bool indexed() const noexcept { return indexed_; }
  void mark_unindexed() noexcept { indexed_ = false; }
  void build_index(std::uint64_t records) noexcept;
  // What the topic calls, under its lock, before a reader gets the segment:
  // builds the index of a segment found on open, except where its records
  // are unchecked. There check_through() sets each entry as it checks the
  // record, and a reader checks a record before it reads its entry: one
  // pass over the bytes where a walk for the index and then the check
  // would take two. (indexed() stays false: settled_bytes walks lengths.)
  void index_for_readers() noexcept {
    if (!indexed_ && unchecked_ == nullptr) build_index(sealed_count());
  }

  // A record is handed out to a reader (subscriber, work group) only once
  // this process has checked it (CRC32C, length, sequence, fields) or
  // wrote it itself. Only records read from disk unchecked
  // (RecoveredSegment::unchecked_path) start unchecked; recovery's scan
  // checked the others. Whether record `i` (0-based) may go out as it is:
  bool checked(std::uint64_t i) const noexcept { return i < checked_count(); }
  // How many records from the first are checked: every one below the value
  // read may go out. A reader takes it once for a run of records.
  std::uint64_t checked_count() const noexcept {
    // Acquire pairs with the release in check_through(): the check of every
    // record below the value read, and the setting of its index entry,
    // happened before.
    return checked_.load(std::memory_order_acquire);
  }
  // Checks the unchecked records from the first not checked yet through
  // record `i`, persistence::kCheckAhead bytes at a time (the reader reads
  // the rest of the chunk next, from cache), once for all readers: they
  // take turns. OK, also for a record past the unchecked ones (written by this
  // process); or kCorruption naming the file and offset of the first bad
  // record at or before `i`, the same to every reader that gets there.
  // Records before it stay good. Any thread.
  Status check_through(std::uint64_t i);
  // Record `i` is there, read from disk, and not checked yet: a reader
  // waiting for it should poll (and check it) rather than wait.
  bool unchecked_record(std::uint64_t i) const noexcept {
    return unchecked_ != nullptr && i < unchecked_->records && !checked(i);
  }
  // Checks every unchecked record now; returns how many records from the
  // start are good (all: the maximum), the rest lying at or after a bad one.
  std::uint64_t check_all();
  // Marks the first `records` records, read from `path`, unchecked; when
  // `sealed`, also what ends them (padding, or the segment's end). Before
  // the segment is shared.
  void mark_unchecked(std::string path, std::uint64_t records, bool sealed);

 private:
  Segment(std::unique_ptr<SegmentMemory> mem, std::uint64_t first_seq, std::byte* index_map, int index_fd,
          std::size_t max_records);
  void store_zeroed(std::size_t to) noexcept;  // zeroed_ and its mirror, release
  std::unique_ptr<SegmentMemory> mem_;
  std::byte* base_;
  std::size_t capacity_;
  std::uint64_t first_seq_;
  std::byte* index_map_;               // header (kIndexHeaderBytes), then the entries
  std::atomic<std::uint32_t>* index_;  // max_records_ entries
  int index_fd_;                       // see index_fd()
  std::size_t max_records_;
  std::atomic<std::uint64_t> sealed_count_{kNotSealed};
  std::atomic<std::size_t> padded_at_{0};  // see padded_at()
  std::atomic<Segment*> next_{nullptr};
  struct Pin;
  std::atomic<std::uint32_t> pins_{0};  // readers' pins (see pin())
  bool indexed_ = true;                 // guarded by the topic's lock
  // Records below it are checked (see checked()), and their index entries
  // set; all of them unless mark_unchecked() ran. Stored only under
  // unchecked_->mu.
  std::atomic<std::uint64_t> checked_{std::numeric_limits<std::uint64_t>::max()};
  struct Unchecked {
    std::string path;
    std::uint64_t records = 0;    // records [0, records) came unchecked
    bool sealed = false;          // and the padding (or end) after them
    std::mutex mu;                // one checker at a time
    std::size_t next_offset = 0;  // guarded by mu: where record checked_ starts
    Status error;                 // guarded by mu: the bad record's, once found
  };
  std::unique_ptr<Unchecked> unchecked_;  // set by mark_unchecked()
  // check_through() found the record after the first `good` ones bad:
  // keeps `error` for every reader from there on; OK when `i` is below it.
  // unchecked_->mu held.
  Status fail_check(std::uint64_t good, Status error, std::uint64_t i);
  void zero_to(std::size_t end) noexcept;
  static constexpr std::size_t kIndexSlack = 1024;       // entries: one page of them
  static constexpr std::size_t kIndexChunk = 16 * 1024;  // entries: 64 KiB of index per populate
  void populate_index(std::size_t end) noexcept;
  static constexpr std::size_t kDataSlack = 8 << 10;  // bytes
  static constexpr std::size_t kDataChunk = 4 << 10;  // bytes per populate: one page
  void populate_data(std::size_t end) noexcept;
  MapAhead index_ready_{0};  // entries of the index mapped
  std::mutex zero_mu_;               // one clearer at a time (once per zero chunk: reused and zeroing segments only)
  std::atomic<std::size_t> zeroed_;  // see ensure_zeroed(); stored under zero_mu_ or the topic's lock
  MapAhead data_ready_;  // bytes of the records' memory mapped
};

}  // namespace conduit::detail
