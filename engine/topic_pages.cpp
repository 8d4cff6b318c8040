// Page-cache work for the background threads: the settled extents, pages
// let go behind the readers, and pages mapped or zeroed ahead of the head.
#include <algorithm>

#include "engine/topic_core.h"
#include "common/format.h"

namespace conduit::detail {
namespace {

constexpr std::size_t kPage = 4096;

}  // namespace

const std::shared_ptr<Segment>* TopicCore::find_segment_locked(std::uint64_t first_seq) const {
  auto it = std::lower_bound(segments_.begin(), segments_.end(), first_seq,
                             [](const std::shared_ptr<Segment>& g, std::uint64_t s) { return g->first_seq() < s; });
  if (it == segments_.end() || (*it)->first_seq() != first_seq) return nullptr;
  return &*it;
}

std::size_t TopicCore::settled_bytes(std::uint64_t first_seq, std::uint64_t below) const {
  std::lock_guard lk(mu_);
  const auto* seg = find_segment_locked(first_seq);
  return seg == nullptr ? 0 : settled_bytes_of(**seg, below);
}

std::size_t TopicCore::settled_bytes_of(const Segment& seg, std::uint64_t below) {
  if (below >= seg.end_seq()) return seg.capacity();  // sealed and wholly below: padding and all
  if (below <= seg.first_seq()) return format::kSegmentHeaderSize;
  auto record_end = [&](std::size_t off) {
    return off + format::align_up(format::load_length(seg.base() + off) & format::kLengthMask);
  };
  if (!seg.indexed()) {
    // A recovered segment nobody has read yet: walk the record lengths.
    std::size_t off = format::kSegmentHeaderSize;
    for (std::uint64_t s = seg.first_seq(); s < below; ++s) off = record_end(off);
    return off;
  }
  // Every record below `below` is committed, so the last one's index entry is set.
  return record_end(seg.offset_of(below - 1 - seg.first_seq()));
}

std::vector<SegmentExtent> TopicCore::segment_extents() const {
  std::lock_guard lk(mu_);
  std::lock_guard sl(scan_mu_);
  const std::uint64_t done = advance_published_locked();
  std::vector<SegmentExtent> out;
  for (const auto& s : segments_) {
    const std::uint64_t sealed = s->sealed_count();
    if (sealed != kNotSealed) {
      if (s->first_seq() + sealed > done) return {};  // sealed past the published watermark
      out.push_back({s->first_seq(), sealed, s->capacity(), s->capacity(), true});
      continue;
    }
    // The one open segment is the scanner's, the last, and holds nothing past it.
    if (s != scan_seg_ || s != segments_.back()) return {};
    if (scan_off_ < s->capacity() && format::load_length(s->base() + scan_off_) != 0) return {};
    out.push_back({s->first_seq(), done - s->first_seq(), scan_off_, s->capacity(), false});
  }
  return out;
}

std::size_t TopicCore::drop_settled_pages(std::uint64_t first_seq, std::uint64_t below, std::size_t from) {
  std::shared_ptr<Segment> seg;  // keeps the mapping alive once the lock is let go
  std::size_t to = 0;
  {
    std::lock_guard lk(mu_);
    const auto* found = find_segment_locked(first_seq);
    if (found == nullptr) return from;
    seg = *found;
    to = settled_bytes_of(*seg, below) & ~(kPage - 1);
  }
  if (to <= from) return from;
  seg->drop_resident_range(from, to);
  return to;
}

WatermarkSource::PopulatedMark TopicCore::populate_head(PopulatedMark last, std::size_t ahead) {
  std::shared_ptr<Segment> seg;  // keeps the mapping alive once the lock is let go
  std::size_t from = 0, to = 0;
  {
    std::lock_guard lk(mu_);
    if (segments_.empty()) return last;  // deleted
    AppendSlot* slot = head_.load(std::memory_order_relaxed);
    // Relaxed, both: a hint of where the producers are; a stale one only
    // maps pages a little early or late. Under mu_ no roll replaces the head.
    if (slot->segment.load(std::memory_order_relaxed) != segments_.back().get()) return last;
    seg = segments_.back();
    const std::uint64_t tail = slot->tail.load(std::memory_order_relaxed) & kTailOffsetMask;
    if (tail >= seg->capacity()) return last;  // crossed its end: the roll is coming
    from = tail & ~(kPage - 1);
    if (last.first_seq == seg->first_seq()) from = std::max(from, last.to);
    to = std::min(seg->capacity(), (tail + ahead + kPage - 1) & ~(kPage - 1));
  }
  if (to <= from) return {seg->first_seq(), from};
  seg->populate_range(from, to);
  return {seg->first_seq(), to};
}

ZeroAhead TopicCore::zero_head(std::size_t ahead, std::size_t step) {
  std::shared_ptr<Segment> seg;  // keeps the mapping alive once the lock is let go
  std::size_t until = 0;
  {
    std::lock_guard lk(mu_);
    if (segments_.empty()) return ZeroAhead::kDone;  // deleted
    AppendSlot* slot = head_.load(std::memory_order_relaxed);
    // Relaxed, both: a hint of where the producers are (as populate_head);
    // a producer that gets past the zeros writes its own (zero_to()).
    if (slot->segment.load(std::memory_order_relaxed) != segments_.back().get()) return ZeroAhead::kAhead;
    seg = segments_.back();
    const std::uint64_t tail = slot->tail.load(std::memory_order_relaxed) & kTailOffsetMask;
    // Crossed its end: nothing more is written there, and the next head
    // comes from a zeroed spare or a zeroed roll.
    if (tail >= seg->capacity()) return ZeroAhead::kDone;
    until = tail + ahead;
  }
  return seg->zero_ahead(until, step);
}

}  // namespace conduit::detail
