// A publisher in another process that dies mid-claim (doc/ipc.md, "A
// publisher that dies mid-claim"): the owner ends the claims it named in
// its claim slots (engine/pub_claims.h) when its connection closes, and
// skips what it claimed without naming once that stays stuck for
// EngineOptions::unblock_timeout.
//
// Thread safety: called on a connection's thread (IpcServer) or by
// stop_claims(). The owner writes a dead claim's room only: its publisher
// is gone, or (an unnamed claim) its slot was revoked first, so it writes
// nothing there; the length word of the first skip record is stored with a
// compare-and-swap all the same (format::commit_length_if_empty).
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <new>
#include <thread>

#include "common/format.h"
#include "engine/topic_core.h"
#include "engine/topic_core_internal.h"

namespace conduit::detail {
namespace {

// Raises `w` to at least `v`. Relaxed: a threshold (see unblock_until_).
void raise_to(std::atomic<std::uint64_t>& w, std::uint64_t v) noexcept {
  std::uint64_t now = w.load(std::memory_order_relaxed);
  while (now < v && !w.compare_exchange_weak(now, v, std::memory_order_relaxed)) {}
}

// Whether process `pid` is gone: no such process, or a zombie waiting to be
// reaped (its descriptors are closed already).
bool process_gone(int pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

}  // namespace

Result<std::shared_ptr<PubClaimBlock>> TopicCore::open_pub_claims(int peer_pid, int* fd) {
  auto mapped = map_shared_memfd("conduit-pubclaims", sizeof(PubClaimBlock));
  if (!mapped.ok()) return mapped.status();
  auto* raw = new (mapped->second) PubClaimBlock();
  std::shared_ptr<PubClaimBlock> block;
  try {
    block.reset(raw, [](PubClaimBlock* b) { ::munmap(b, sizeof(PubClaimBlock)); });
    std::lock_guard lk(pub_mu_);
    pub_claims_.push_back({block, peer_pid});
  } catch (const std::bad_alloc&) {
    ::close(mapped->first);
    return Status::IOError(topic_error(name_, "out of memory for a publisher's claim slots"));
  }
  *fd = mapped->first;
  return block;
}

bool TopicCore::pub_claims_gone(const PubClaimBlock* block) noexcept {
  std::shared_ptr<PubClaimBlock> keep;  // mapped until we are done with it
  {
    // Once: the connection's thread and a close may both find it gone.
    std::lock_guard lk(pub_mu_);
    const auto it = std::find_if(pub_claims_.begin(), pub_claims_.end(),
                                 [block](const PubClaims& p) { return p.block.get() == block; });
    if (it == pub_claims_.end()) return false;
    keep = std::move(it->block);
    pub_claims_.erase(it);
  }
  bool unnamed = false;
  for (const PubClaim& c : block->slot) {
    // Acquire pairs with the publisher's release compare-and-swap to
    // kPubClaimed (and its release stores of kPubFree and
    // kPubRevokedNamed): what it named is visible. It is gone, so nothing
    // changes any more.
    const std::uint32_t state = c.state.load(std::memory_order_acquire);
    // A held claim, or one its holder was ending: as a claim being written.
    if (state == kPubClaimed || state == kPubRevokedNamed || state == kPubHeld || state == kPubEnding)
      end_dead_claim(c);
    unnamed = unnamed || state == kPubClaiming || state == kPubRevoked;
    // Relaxed: a statistic; the block is the owner's alone from here.
    skipped_.fetch_add(c.abandoned.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  // Its add, if it made one, is in the tail: below what is claimed now.
  if (unnamed) raise_to(unblock_until_, claimed());
  return unnamed;
}

void TopicCore::end_dead_claim(const PubClaim& c, bool taken_back) noexcept {
  // Relaxed: ordered by the acquire of its state (pub_claims_gone()).
  const std::uint32_t h = c.head.load(std::memory_order_relaxed);
  const std::uint64_t add = c.add.load(std::memory_order_relaxed);
  const std::uint64_t t = c.tail.load(std::memory_order_relaxed);
  const std::uint64_t first = c.first_seq.load(std::memory_order_relaxed);
  if (claim_ == nullptr || h >= kClaimSlots) return;
  // A deleted topic's segments stay until retire() drops them, and retire()
  // waits for this claim (and for this ending: dead_endings_).
  struct Ending {
    TopicCore* t;
    ~Ending() { t->dead_endings_.fetch_sub(1, std::memory_order_seq_cst); }  // seq_cst: see topic_core.h
  } ending{this};
  dead_endings_.fetch_add(1, std::memory_order_seq_cst);
  if (segments_dropped_.load(std::memory_order_seq_cst)) return;
  // No mu_ here: a thread may hold it waiting for this very claim's seal
  // (claimed()). The slot still holds the claim's segment while its first
  // sequence is the claim's (a slot's next segment starts elsewhere).
  // Relaxed: a slot's first_seq changes only with a roll that needs this
  // claim published or sealed first (below), which nobody else does.
  AppendSlot& slot = claim_->slot[h];
  if (slot.first_seq.load(std::memory_order_relaxed) != first) return;
  const std::uint64_t off = t & kTailOffsetMask;
  const std::uint64_t bytes = add & kTailOffsetMask;
  if (off + bytes > options_.segment_bytes) {
    // It crossed the segment's end and died before asking for the roll.
    // Only the crosser (a claim starting inside the segment) owes a seal,
    // and only while the segment is still the head (never dropped): the
    // roll, with the padding and seal, on its behalf. Acquire pairs with
    // the release in set_head_locked().
    if (off > options_.segment_bytes || claim_->head.load(std::memory_order_acquire) != h) return;
    (void)roll_for_remote(h, t, true);
    return;
  }
  const std::uint64_t from = first + (t >> kTailOffsetBits);
  const std::uint64_t count = add >> kTailOffsetBits;
  // Published: it died after its last index entry, before freeing the slot.
  if (published() >= from + count) return;
  // Not published, so neither dropped nor its slot reused. Relaxed: set
  // with first_seq, read above.
  Segment& seg = *slot.segment.load(std::memory_order_relaxed);
  const std::uint64_t n = skip_room(seg, t >> kTailOffsetBits, off, count, off + bytes);
  if (n != 0 && !taken_back)
    shared_->say(LogLevel::kWarning,
                 topic_error(name_, "a publisher in another process died mid-claim: " + std::to_string(n) +
                                        " records from " + std::to_string(from) + " are skip records"));
}

std::uint64_t TopicCore::skip_room(Segment& seg, std::uint64_t i, std::size_t at, std::uint64_t count,
                                   std::size_t end) noexcept {
  // Whatever a reader looks at next must read zero until stored (as a
  // producer does before it writes; Segment::ensure_zeroed).
  seg.ensure_zeroed(std::min<std::size_t>(end + sizeof(std::uint32_t), seg.capacity()));
  std::byte* base = seg.base();
  std::uint64_t k = 0;
  std::uint64_t skipped = 0;
  while (k < count && at < end) {
    std::uint32_t word = format::load_length(base + at);
    if (word == 0) {
      // One skip record for each record left. The first takes all the room
      // but the others' least, so that a record being written at `at` lies
      // inside it; the later ones go first, since nobody reads past the
      // first until its length word is stored.
      const std::uint64_t r = count - k;
      if (end - at < r * format::kSkipMinLength) break;  // not a claim's room: left as it is
      const std::size_t len = end - at - (r - 1) * format::kSkipMinLength;
      for (std::uint64_t q = 1; q < r; ++q) {
        const std::size_t o = at + len + (q - 1) * format::kSkipMinLength;
        format::write_skip(base + o, format::kSkipMinLength, seg.first_seq() + i + k + q, crc_);
        seg.set_offset(i + k + q, static_cast<std::uint32_t>(o));
      }
      format::fill_skip(base + at, seg.first_seq() + i + k, crc_);
      if (format::commit_length_if_empty(base + at, format::kSkipFlag | static_cast<std::uint32_t>(len), &word)) {
        seg.set_offset(i + k, static_cast<std::uint32_t>(at));
        skipped = r;
        break;
      }
      // Committed after all, in between: its CRC again (fill_skip wrote
      // over it), and on from there.
      if ((word & (format::kPaddingFlag | format::kSkipFlag)) == 0) format::seal_crc(base + at, word, crc_);
    }
    // Committed, and its index entry maybe not (its publisher died between the two).
    if (seg.offset_of(i + k) == 0) seg.set_offset(i + k, static_cast<std::uint32_t>(at));
    at += format::align_up(word & format::kLengthMask);
    ++k;
  }
  if (skipped != 0) skipped_.fetch_add(skipped, std::memory_order_relaxed);  // relaxed: a statistic
  readers_.wake_if_parked();
  if (remote_readers_ != nullptr) remote_readers_->wake_if_parked();
  return skipped;
}

std::optional<TopicCore::Stall> TopicCore::stall_mark(std::uint64_t p) const noexcept {
  std::lock_guard lk(mu_);
  if (deleted() || segments_.empty()) return std::nullopt;
  const Segment* seg = nullptr;
  for (auto it = segments_.rbegin(); it != segments_.rend() && seg == nullptr; ++it)
    if ((*it)->first_seq() <= p) seg = it->get();
  if (seg == nullptr) return std::nullopt;
  Stall m{p, seg->first_seq(), 0, 0};
  if (const std::uint64_t sealed = seg->sealed_count(); sealed != kNotSealed) {
    m.n = sealed;
    m.end = seg->padded_at();
    return m.end == 0 ? std::nullopt : std::optional(m);
  }
  AppendSlot* head = head_.load(std::memory_order_relaxed);  // changes only under mu_
  if (head->segment.load(std::memory_order_relaxed) != seg) return std::nullopt;
  // Seq_cst: a claim added after it is outside the room repair_stall()
  // skips, and one added before it marked its slot first (pub_claims.h).
  const std::uint64_t t = claims_end_ != kNotSealed ? stop_tail_ : head->tail.load(std::memory_order_seq_cst);
  if ((t & kTailOffsetMask) > options_.segment_bytes) return std::nullopt;  // its crosser seals it
  m.n = t >> kTailOffsetBits;
  m.end = t & kTailOffsetMask;
  return m;
}

void TopicCore::repair_stall(const Stall& m) noexcept {
  std::shared_ptr<Segment> seg;
  {
    std::lock_guard lk(mu_);
    if (const auto* s = find_segment_locked(m.first); s != nullptr) seg = *s;
  }
  if (!seg || m.p < m.first || m.p - m.first >= m.n) return;
  Segment& s = *seg;
  const std::uint64_t i = m.p - m.first;
  std::size_t at = format::kSegmentHeaderSize;
  if (i != 0) {
    const std::uint32_t prev = s.offset_of(i - 1);
    if (prev == 0) return;  // not stuck here after all
    at = prev + format::align_up(format::load_length(s.base() + prev) & format::kLengthMask);
  }
  // The stuck room ends at the next record with its index entry set...
  std::uint64_t k = i + 1;
  while (k < m.n && s.offset_of(k) == 0) ++k;
  std::size_t end = k < m.n ? s.offset_of(k) : m.end;
  // ...or at the next claim a live publisher named; one that names record
  // `i` is only slow. Unnamed claims of live publishers are revoked: they
  // write nothing (engine/pub_claims.h).
  {
    // This process's open claims (Topic::claim) are live too, however long
    // they stay open: their commit is a plain store.
    std::lock_guard cl(claims_.lock());
    bool live = false;
    claims_.for_each_open_locked([&](const ClaimTable::Slot& o) {
      if (o.seg != &s) return;
      const std::uint64_t idx = o.seq - m.first;
      if (idx == i) live = true;
      if (idx > i && idx < k) {
        k = idx;
        end = static_cast<std::size_t>(o.record - s.base());
      }
    });
    if (live) return;
  }
  bool revoked = false;
  {
    std::lock_guard pl(pub_mu_);
    for (const PubClaims& pc : pub_claims_)
      for (const PubClaim& c : pc.block->slot) {
        // Acquire pairs with the publisher's release compare-and-swap to
        // kPubClaimed: its tail and first_seq are the claim's.
        const std::uint32_t state = c.state.load(std::memory_order_acquire);
        // A held claim is as live as an in-process one, however long it stays open.
        if (state != kPubClaimed && state != kPubRevokedNamed && state != kPubHeld && state != kPubEnding) continue;
        // Relaxed: ordered by that acquire (a slot reused since names a
        // later claim, which bounds nothing below it).
        if (c.first_seq.load(std::memory_order_relaxed) != m.first) continue;
        const std::uint64_t t = c.tail.load(std::memory_order_relaxed);
        const std::uint64_t from = t >> kTailOffsetBits;
        const std::uint64_t records = c.add.load(std::memory_order_relaxed) >> kTailOffsetBits;
        if (from <= i && i < from + records) return;
        if (from > i && from < k) {
          k = from;
          end = t & kTailOffsetMask;
        }
      }
    for (const PubClaims& pc : pub_claims_)
      for (PubClaim& c : pc.block->slot) {
        std::uint32_t expected = kPubClaiming;
        // Seq_cst: see engine/pub_claims.h. The publisher's own
        // compare-and-swap from kPubClaiming then fails.
        revoked |= c.state.compare_exchange_strong(expected, kPubRevoked, std::memory_order_seq_cst,
                                                   std::memory_order_relaxed);
      }
  }
  // A revoked claim's room may lie further on: keep watching until then.
  if (revoked) raise_to(unblock_until_, claimed());
  const std::uint64_t n = skip_room(s, i, at, k - i, end);
  if (n != 0)
    shared_->say(LogLevel::kWarning,
                 topic_error(name_, "record " + std::to_string(m.p) + " stayed unwritten for unblock_timeout after a " +
                                        "publisher in another process died: " + std::to_string(n) +
                                        " records are skip records"));
}

bool TopicCore::end_revoked_claims() noexcept {
  std::vector<std::pair<std::shared_ptr<PubClaimBlock>, PubClaim*>> named;
  bool waiting = false;
  {
    std::lock_guard pl(pub_mu_);
    for (const PubClaims& pc : pub_claims_)
      for (PubClaim& c : pc.block->slot) {
        // Acquire pairs with the publisher's release store of kPubRevokedNamed.
        const std::uint32_t state = c.state.load(std::memory_order_acquire);
        if (state == kPubRevokedNamed) named.emplace_back(pc.block, &c);
        waiting = waiting || state == kPubRevoked;
      }
  }
  for (auto& [block, c] : named) {
    end_dead_claim(*c);
    // Relaxed: its publisher never uses the slot again (pub_claims.h).
    c->state.store(kPubFree, std::memory_order_relaxed);
  }
  return waiting || !named.empty();
}

void TopicCore::wait_unblocked(std::uint64_t target, const std::function<bool()>& give_up,
                               const std::function<void()>& now_and_then) noexcept {
  const auto bound = shared_->unblock_timeout;
  std::uint64_t last = published();
  auto since = std::chrono::steady_clock::now();
  std::optional<Stall> mark = stall_mark(last);
  for (;;) {
    // Revoked claims are ended once named, wherever they lie.
    const bool revoked = end_revoked_claims();
    // Relaxed: a threshold (see unblock_until_).
    const std::uint64_t until = std::max(target, unblock_until_.load(std::memory_order_relaxed));
    const std::uint64_t p = published();
    if ((p >= until && !revoked) || (give_up && give_up())) return;
    const auto now = std::chrono::steady_clock::now();
    if (p != last) {
      last = p;
      since = now;
      mark = stall_mark(p);
    } else if (now - since >= bound) {
      if (now_and_then) now_and_then();
      if (p < unblock_until_.load(std::memory_order_relaxed) && mark) repair_stall(*mark);
      since = now;
      mark = stall_mark(p);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void TopicCore::take_back_held_claims(std::uint32_t as) noexcept {
  std::vector<std::pair<std::shared_ptr<PubClaimBlock>, PubClaim*>> taken;
  {
    std::lock_guard pl(pub_mu_);
    for (const PubClaims& pc : pub_claims_)
      for (PubClaim& c : pc.block->slot) {
        std::uint32_t expected = kPubHeld;
        // Acq_rel pairs with the holder's acq_rel compare-and-swap to
        // kPubEnding (engine/pub_claims.h): one of the two ends the claim.
        // Acquire also pairs with its release naming: the room is its.
        if (c.state.compare_exchange_strong(expected, as, std::memory_order_acq_rel, std::memory_order_relaxed))
          taken.emplace_back(pc.block, &c);
      }
  }
  for (auto& [block, c] : taken) end_dead_claim(*c, true);
}

std::uint64_t TopicCore::pub_abandoned() const noexcept {
  std::uint64_t n = 0;
  std::lock_guard pl(pub_mu_);
  for (const PubClaims& pc : pub_claims_)
    for (const PubClaim& c : pc.block->slot) n += c.abandoned.load(std::memory_order_relaxed);  // a statistic
  return n;
}

void TopicCore::unblock_dead_claims(const std::function<bool()>& give_up) noexcept { wait_unblocked(0, give_up, {}); }

void TopicCore::stop_claims_wait(std::uint64_t end) noexcept {
  for (int spins = 0; published() < end; ++spins) {
    if (spins < 1000) {
      take_back_held_claims(kPubClosedBack);  // one named after stop_claims() looked
      sched_yield();
      continue;
    }
    // Something holds the end up: a publisher that died after the control
    // socket closed (nobody read its end-of-file) ends here.
    wait_unblocked(end, {}, [this] {
      take_back_held_claims(kPubClosedBack);  // one named after stop_claims() looked
      std::vector<const PubClaimBlock*> gone;
      {
        std::lock_guard lk(pub_mu_);
        for (const PubClaims& pc : pub_claims_)
          if (process_gone(pc.pid)) gone.push_back(pc.block.get());
      }
      for (const PubClaimBlock* b : gone) (void)pub_claims_gone(b);
    });
    return;
  }
}

}  // namespace conduit::detail
