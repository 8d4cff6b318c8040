// A topic's start-up: the recovered segments (or a first empty one) become
// the head, the dedup window and the committed positions are rebuilt.

#include "engine/envelope.h"
#include "engine/topic_core.h"
#include "engine/topic_core_internal.h"
#include "common/format.h"
#include "persistence/log_reader.h"

namespace conduit::detail {

Status TopicCore::start() {
  auto recovered = storage_->recover();
  if (!recovered.ok()) return recovered.status();
  if (Status ro = storage_->recovery_stats().read_only; !ro.ok()) {
    read_only_ = Status::ReadOnly(topic_error(name_, "opened read-only: " + ro.message()));
    // Waking readers in other processes writes to the control file; a
    // read-only log has nothing new for them anyway.
    remote_readers_ = nullptr;
  }
  if (options_.retain_until_consumed) {
    // The interest that outlived the last engine: committed positions.
    auto positions = storage_->load_positions();
    if (!positions.ok()) return positions.status();
    std::lock_guard lk(mu_);
    for (auto& [key, seq] : *positions) interest_[key] = seq;
  }
  Status s = recovered->empty() ? start_empty() : start_from(std::move(recovered).value());
  if (!s.ok()) return s;
  storage_->attach(this);
  recovered_end_ = published();
  return read_only_.ok() ? set_back_positions() : Status::OK();
}

Status TopicCore::set_back_positions() {
  if (options_.durability == Durability::kMemory) return Status::OK();
  auto positions = storage_->load_positions();
  // A damaged position file is its reader's error, told when it opens
  // (subscribe(), work_group()): not a reason to refuse the topic.
  if (!positions.ok()) return positions.status().code() == Code::kCorruption ? Status::OK() : positions.status();
  for (auto& [key, seq] : *positions) {
    if (seq <= recovered_end_) continue;
    // Stored again at the end (durable: it is below it), and told to the
    // reader at its first poll (PollResult::rewound).
    if (Status s = storage_->store_position(key, recovered_end_); !s.ok()) return s;
    shared_->say(LogLevel::kWarning, "topic '" + name_ + "': " + key + "'s committed position " + std::to_string(seq) +
                                         " was past the end of the log (" + std::to_string(recovered_end_) +
                                         "); set back");
    std::lock_guard lk(mu_);
    rewound_[key] = seq - recovered_end_;
    if (auto it = interest_.find(key); it != interest_.end()) it->second = recovered_end_;
  }
  return Status::OK();
}

std::uint64_t TopicCore::take_rewound(const std::string& key) {
  std::lock_guard lk(mu_);
  auto it = rewound_.find(key);
  if (it == rewound_.end()) return 0;
  const std::uint64_t n = it->second;
  rewound_.erase(it);
  return n;
}

Status TopicCore::start_from(std::vector<RecoveredSegment> recovered) {
  std::lock_guard lk(mu_);
  for (auto& r : recovered) {
    // Only the last one may take claims: the others' indexes stay private.
    auto seg = &r == &recovered.back() ? make_segment(std::move(r.memory), r.first_seq)
                                       : Segment::make(std::move(r.memory), r.first_seq);
    if (!seg.ok()) return seg.status();
    if (r.sealed) (*seg)->seal(r.records);
    if (!r.unchecked_path.empty()) (*seg)->mark_unchecked(std::move(r.unchecked_path), r.records, r.sealed);
    // The tail is indexed now; older segments when a reader first needs them.
    if (&r == &recovered.back())
      (*seg)->build_index(r.records);
    else
      (*seg)->mark_unindexed();
    if (!segments_.empty()) segments_.back()->set_next(seg->get());
    segments_.push_back(std::move(seg).value());
  }
  rebuild_dedup_locked();
  RecoveredSegment& last = recovered.back();
  std::shared_ptr<Segment> tail = segments_.back();
  const bool writable = read_only_.ok();  // a read-only log is left exactly as it is
  if (writable && !last.sealed && tail->capacity() != options_.segment_bytes) {
    // Written with another segment_bytes: producers size their claims by
    // options_.segment_bytes, so close this tail with a padding record (as
    // a full segment ends) and continue in a new segment of the new size.
    if (last.end_offset < tail->capacity())
      format::commit_length(tail->base() + last.end_offset,
                            format::kPaddingFlag | static_cast<std::uint32_t>(tail->capacity() - last.end_offset));
    tail->seal(last.records);
    last.sealed = true;
  }
  {
    std::lock_guard sl(scan_mu_);
    scan_seg_ = tail;
    scan_off_ = last.sealed ? tail->capacity() : last.end_offset;
    // Relaxed: published by head_'s release below.
    published_.store(last.first_seq + last.records, std::memory_order_relaxed);
  }
  if (writable && last.sealed) {
    // The tail is full: start the next segment now.
    auto mem = storage_->create_segment(tail->end_seq(), options_.segment_bytes, shared_->now());
    if (!mem.ok()) return mem.status();
    auto next = make_segment(std::move(mem).value(), tail->end_seq());
    if (!next.ok()) return next.status();
    tail->set_next(next->get());
    segments_.push_back(*next);
    tail = *next;
  }
  AppendSlot* slot = new_slot_locked();
  slot->segment.store(tail.get(), std::memory_order_relaxed);           // published by head_ below
  slot->first_seq.store(tail->first_seq(), std::memory_order_relaxed);  // likewise
  const bool fresh = last.sealed && writable;                           // the tail is the segment just created
  const std::uint64_t records = fresh ? 0 : last.records;
  const std::uint64_t offset = fresh ? format::kSegmentHeaderSize : last.sealed ? tail->capacity() : last.end_offset;
  slot->tail.store(records << kTailOffsetBits | offset, std::memory_order_relaxed);  // likewise
  set_head_locked(slot);
  if (writable) apply_retention_locked();
  return Status::OK();
}

Status TopicCore::start_empty() {
  auto mem = storage_->create_segment(0, options_.segment_bytes, shared_->now());
  if (!mem.ok()) return mem.status();
  auto seg = make_segment(std::move(mem).value(), 0);
  if (!seg.ok()) return seg.status();
  std::lock_guard lk(mu_);
  segments_.push_back(*seg);
  AppendSlot* slot = new_slot_locked();
  slot->segment.store(seg->get(), std::memory_order_relaxed);               // published by head_ below
  slot->tail.store(format::kSegmentHeaderSize, std::memory_order_relaxed);  // likewise
  {
    std::lock_guard sl(scan_mu_);
    scan_seg_ = *seg;
    scan_off_ = format::kSegmentHeaderSize;
  }
  set_head_locked(slot);
  return Status::OK();
}

void TopicCore::rebuild_dedup_locked() {
  if (!dedup_) return;
  // The window as the last publishes left it: every id in the log, oldest
  // first (remember() keeps the newest max_ids; find() checks ages). One
  // pass over the record headers, after recovery's CRC pass over the same
  // bytes (when it made one).
  for (const auto& seg : segments_) {
    const std::size_t cap = seg->capacity();
    std::size_t off = format::kSegmentHeaderSize;
    for (std::uint64_t seq = seg->first_seq(); off < cap; ++seq) {
      const std::uint32_t len = format::load_length(seg->base() + off);
      // A log taken from its clean-close record was not read at open: its
      // ids are read only where the record's framing holds, so that bad
      // lengths cannot send the walk astray (readers check the rest).
      if (persistence::check_record(seg->base(), cap, off, len, seq, false).kind != persistence::RecordCheck::kRecord)
        break;
      const RecordView r(seg->base() + off);
      if (!format::is_skip(len) && !r.id().empty()) dedup_->remember(r.id(), r.sequence(), r.timestamp_ns());
      off += format::align_up(len & format::kLengthMask);
    }
  }
}

}  // namespace conduit::detail
