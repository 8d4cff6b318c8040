// A topic's side of publishing from other processes (doc/ipc.md): the claim
// block, the shared indexes' descriptors, and rolls on a remote
// publisher's behalf.
#include <sys/mman.h>
#include <unistd.h>

#include <new>

#include "common/format.h"
#include "engine/topic_core.h"
#include "engine/topic_core_internal.h"

namespace conduit::detail {

ClaimBlock* make_claim_block(int* fd) noexcept {
  auto mapped = map_shared_memfd("conduit-claims", sizeof(ClaimBlock));
  if (!mapped.ok()) return nullptr;
  *fd = mapped->first;
  return new (mapped->second) ClaimBlock();
}

Status TopicCore::shareable_for_publish() const {
  if (options_.durability == Durability::kMemory && !options_.shared)
    return Status::Unsupported(topic_error(name_, "memory-only and not shared (TopicOptions::shared)"));
  if (claim_ == nullptr)
    return Status::Unsupported(topic_error(name_, "has no claim block (memfd_create failed when it opened)"));
  if (!read_only_.ok()) return read_only_;
  // Its publisher claims with a plain store, which another process's add
  // would race.
  if (options_.single_producer)
    return Status::Unsupported(topic_error(name_, "single_producer: only its one thread publishes"));
  // The window lives in the owner's memory.
  if (dedup_ != nullptr)
    return Status::Unsupported(topic_error(name_, "dedup is on: other processes cannot publish into it yet"));
  return Status::OK();
}

std::shared_ptr<Segment> TopicCore::claimable_segment(std::uint64_t first_seq) const {
  std::lock_guard lk(mu_);
  const std::shared_ptr<Segment>* s = find_segment_locked(first_seq);
  if (s == nullptr || (*s)->index_fd() < 0) return nullptr;
  // A memory-only segment keeps its index's memfd (a reader elsewhere may
  // map it, and the ring reuses it): one still open for claims is one
  // not sealed, or with claims below its end not yet published.
  if (options_.durability == Durability::kMemory) {
    const std::uint64_t end = (*s)->end_seq();
    if (end != kNotSealed && published() >= end) return nullptr;
  }
  return *s;
}

Status TopicCore::roll_for_remote(std::uint32_t slot, std::uint64_t tail_before, bool dead) noexcept {
  if (claim_ == nullptr || slot >= kClaimSlots)
    return Status::InvalidArgument(topic_error(name_, "a roll request for slot " + std::to_string(slot)));
  AppendSlot* s = &claim_->slot[slot];
  // A slot not handed out yet has no segment: nobody can have claimed on it.
  // Relaxed: a slot's segment is set once before it is ever the head, and
  // a claim on it was ordered after that by the publisher's acquire add.
  if (s->segment.load(std::memory_order_relaxed) == nullptr)
    return Status::InvalidArgument(topic_error(name_, "a roll request for an unused slot"));
  // A crosser's tail (its offset inside the segment: the padding goes
  // there) is one some claim read: aligned (every claim's size is), past
  // the segment's header, and not beyond what was claimed on the slot
  // (relaxed: a claim's add came before its request). Anything else would
  // have the padding written where no claim ended (found by fuzz_ipc_wire).
  // A crosser's add also took the slot's tail past the end, and nobody
  // sealed the segment but it; the record it would have been is not there.
  // Its slot is still the head (the head moves only once its crosser has
  // sealed it); a retired slot's segment may be gone already (retention,
  // the ring). Not under mu_: claimed_locked() holds it waiting for this
  // very seal. A head that moves after the look is one a racing crosser
  // sealed and rolled, and its segment outlives the next roll at least.
  // An offset at the very end is a crosser too (no padding, but its seal).
  const std::uint64_t off = tail_before & kTailOffsetMask;
  if (off <= options_.segment_bytes) {
    // Acquire pairs with the release in set_head_locked(): the slot's segment.
    if ((deleted() && !dead) || head_.load(std::memory_order_acquire) != s)
      return Status::InvalidArgument(topic_error(name_, "a crossing roll request for a slot that is not the head"));
    const std::uint64_t now = s->tail.load(std::memory_order_relaxed);
    // Relaxed: ordered by the head's acquire above.
    const Segment& seg = *s->segment.load(std::memory_order_relaxed);
    const std::uint64_t n = tail_before >> kTailOffsetBits;
    if (off % format::kAlign != 0 || off < format::kSegmentHeaderSize || tail_before > now ||
        (now & kTailOffsetMask) <= options_.segment_bytes || seg.sealed_count() != kNotSealed ||
        n >= seg.max_records() || seg.offset_of(n) != 0)
      return Status::InvalidArgument(topic_error(name_, "a roll request with a tail no claim read"));
  }
  // As an in-process crosser: the claim that crossed the end (its offset at
  // most the capacity) was on the head, whose segment is still the slot's.
  // No lock before the seal: claimed_locked() waits for it under mu_.
  return roll_past(s, tail_before);
}

void TopicCore::close_done_index_fds_locked() {
  // A memory-only topic's readers in other processes map indexes too.
  if (options_.durability == Durability::kMemory) return;
  // A segment every claim of which is published takes no more claims: no
  // publisher elsewhere needs its index any more (its mapping stays).
  const std::uint64_t done = published();
  for (const auto& seg : segments_) {
    if (seg->index_fd() < 0) continue;
    const std::uint64_t end = seg->end_seq();
    if (end == kNotSealed || end > done) break;
    seg->close_index_fd();
  }
}

std::shared_ptr<Segment> TopicCore::shared_segment_for(std::uint64_t seq, std::uint64_t* lost) const {
  if (options_.durability != Durability::kMemory || claim_ == nullptr) return nullptr;
  auto seg = segment_for(seq, lost);
  if (seg == nullptr || seg->index_fd() < 0 || seg->memory().shared_fd() < 0) return nullptr;
  return seg;
}

}  // namespace conduit::detail
