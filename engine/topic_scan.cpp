// The published watermark: the scanner that follows committed records, and
// the claimed count (what producers have claimed, committed or not).
#include <sched.h>

#include "engine/topic_core.h"
#include "common/format.h"

namespace conduit::detail {

std::uint64_t TopicCore::published() const noexcept {
  std::lock_guard lk(scan_mu_);
  return advance_published_locked();
}

std::uint64_t TopicCore::advance_published_locked() const {
  // Relaxed: only this function, under scan_mu_, stores published_.
  std::uint64_t seq = published_.load(std::memory_order_relaxed);
  if (!scan_seg_) return seq;  // deleted: the segments are gone
  for (;;) {
    const Segment& s = *scan_seg_;
    // A producer sets its record's index entry last, after the record's
    // length: count a record only once its entry is set, so no segment is
    // dropped (or reused) before its last producer is done with it. The walk
    // reads the index, not the records: 4 bytes per record, and a reused
    // memory-only segment has stale bytes past its last commit.
    std::uint64_t i = seq - s.first_seq();
    const std::uint64_t from = i;
    while (s.offset_of(i) != 0) ++i;
    if (i != from) {
      const std::uint32_t last = s.offset_of(i - 1);
      const std::size_t end = last + format::align_up(format::load_length(s.base() + last) & format::kLengthMask);
      // Relaxed: only this function, under scan_mu_, writes it; readers want a threshold.
      published_bytes_.fetch_add(end - scan_off_, std::memory_order_relaxed);
      scan_off_ = end;
      seq = s.first_seq() + i;
    }
    if (seq < s.end_seq()) break;  // open (kNotSealed), or a record not committed yet
    Segment* next = s.next();
    if (next == nullptr) break;
    // `next` is not dropped: the scanner has not passed it yet.
    scan_seg_ = next->shared_from_this();
    scan_off_ = format::kSegmentHeaderSize;
  }
  // Release pairs with acquire loads of published_ by other threads.
  published_.store(seq, std::memory_order_release);
  return seq;
}

std::uint64_t TopicCore::claimed() const noexcept {
  std::lock_guard lk(mu_);
  if (segments_.empty()) return published();  // deleted
  return claimed_locked();
}

std::uint64_t TopicCore::claimed_locked() const noexcept {
  if (claims_end_ != kNotSealed) return claims_end_;  // closed: the tail counts refused claims too
  AppendSlot* slot = head_.load(std::memory_order_relaxed);
  // Relaxed: a snapshot; claims in flight may or may not be counted.
  return claims_end_of(*slot->segment.load(std::memory_order_relaxed), slot->tail.load(std::memory_order_relaxed));
}

std::uint64_t TopicCore::claim_bound() const noexcept {
  std::lock_guard lk(mu_);
  if (segments_.empty()) return published();  // deleted
  if (claims_end_ != kNotSealed) return claims_end_;
  const AppendSlot* slot = head_.load(std::memory_order_relaxed);
  // Relaxed: the head's segment and first sequence change only under mu_;
  // the tail's snapshot may miss claims in flight, which have not asked
  // anything of anyone yet.
  return slot->first_seq.load(std::memory_order_relaxed) +
         (slot->tail.load(std::memory_order_relaxed) >> kTailOffsetBits);
}

std::uint64_t TopicCore::claims_end_of(const Segment& seg, std::uint64_t tail) const noexcept {
  std::uint64_t sealed = seg.sealed_count();
  if (sealed == kNotSealed && (tail & kTailOffsetMask) <= options_.segment_bytes)
    return seg.first_seq() + (tail >> kTailOffsetBits);
  // Crossed: the tail also counts claims that did not fit; the crosser is
  // sealing the segment with the count that did (it does not need mu_).
  while ((sealed = seg.sealed_count()) == kNotSealed) sched_yield();
  return seg.first_seq() + sealed;
}

}  // namespace conduit::detail
