// Segment::check_through(): the records of a segment read from disk
// unchecked are checked before a reader hands one out, a chunk at a time
// just ahead of the first reader to get there.
#include <algorithm>
#include <limits>
#include <string>

#include "common/format.h"
#include "engine/segment.h"
#include "persistence/log_reader.h"

namespace conduit::detail {

void Segment::mark_unchecked(std::string path, std::uint64_t records, bool sealed) {
  unchecked_ = std::make_unique<Unchecked>();
  unchecked_->path = std::move(path);
  unchecked_->records = records;
  unchecked_->sealed = sealed;
  unchecked_->next_offset = format::kSegmentHeaderSize;
  // Relaxed: the segment is not shared yet; the topic's lock publishes it.
  checked_.store(0, std::memory_order_relaxed);
}

Status Segment::check_through(std::uint64_t i) {
  Unchecked* u = unchecked_.get();
  // Every record is checked, or was never unchecked; and in an open tail
  // the records past the unchecked ones are this process's own.
  if (u == nullptr || (!u->sealed && i >= u->records)) return Status::OK();
  std::lock_guard lk(u->mu);
  // Relaxed: stored only under u->mu, which we hold.
  std::uint64_t done = checked_.load(std::memory_order_relaxed);
  if (i < done) return Status::OK();  // another reader checked it meanwhile
  if (!u->error.ok()) return u->error;
  // A chunk at a time, until `i` is covered (at least one chunk). No record
  // is shorter than a full header, so this many start in one chunk at most.
  constexpr std::size_t kChunkRecords = persistence::kCheckAhead / format::kRecordHeaderSize + 1;
  std::uint32_t offsets[kChunkRecords];
  while (done <= i && done < u->records) {
    const persistence::RunCheck run = persistence::check_records(
        base_, capacity_, u->next_offset, first_seq_ + done, std::min<std::uint64_t>(u->records - done, kChunkRecords),
        u->next_offset + persistence::kCheckAhead, /*with_crc=*/true, offsets);
    // Their index entries (see index_for_readers()), set before checked_
    // moves past them.
    for (std::size_t k = 0; k < run.records; ++k) set_offset(done + k, offsets[k]);
    done += run.records;
    u->next_offset = run.end_offset;
    if (run.stop.kind == persistence::RecordCheck::kRecord) continue;  // a limit: the chunk's, or the count's
    const std::string what = run.stop.kind == persistence::RecordCheck::kBad
                                 ? run.stop.what
                                 : "the log ends here, " + std::to_string(u->records - done) +
                                       " records short of the count in the clean-close record";
    return fail_check(done,
                      Status::Corruption(u->path + " offset " + std::to_string(run.end_offset) + ": " + what +
                                         " (sequence " + std::to_string(first_seq_ + done) + ")"),
                      i);
  }
  if (done == u->records) {
    // A full segment must end right after them, in padding or at its end.
    if (u->sealed && u->next_offset < capacity_) {
      const persistence::RecordCheck end = persistence::check_record(
          base_, capacity_, u->next_offset, format::load_length(base_ + u->next_offset), first_seq_ + done, true);
      if (end.kind != persistence::RecordCheck::kPadding)
        return fail_check(done,
                          Status::Corruption(u->path + " offset " + std::to_string(u->next_offset) +
                                             ": no padding where the full segment's records end" +
                                             (end.what.empty() ? "" : " (" + end.what + ")") + " (sequence " +
                                             std::to_string(first_seq_ + done) + ")"),
                          i);
    }
    done = std::numeric_limits<std::uint64_t>::max();  // all, and (open tail) this process's records after
  }
  // Release pairs with the acquire in checked(): these records are checked.
  checked_.store(done, std::memory_order_release);
  return Status::OK();
}

std::uint64_t Segment::check_all() {
  if (unchecked_ != nullptr && unchecked_->records != 0) (void)check_through(unchecked_->records - 1);
  // Acquire pairs with the release in check_through() (or fail_check()).
  return checked_.load(std::memory_order_acquire);
}

Status Segment::fail_check(std::uint64_t good, Status error, std::uint64_t i) {
  unchecked_->error = std::move(error);
  // Release pairs with the acquire in checked(): the records before the bad
  // one are checked, and stay good for every reader.
  checked_.store(good, std::memory_order_release);
  return i < good ? Status::OK() : unchecked_->error;  // a chunk may find it past `i`
}

}  // namespace conduit::detail
