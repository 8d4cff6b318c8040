// LogReader: a persisted topic followed from another process, read-only.
//
// The reader keeps a cursor (segment, offset, sequence of the record there)
// over read-only MAP_SHARED mappings of the segment files. A record is
// there once its length word is non-zero (the writer's commit, format.h), so
// the reader sees a record as soon as the writer's process does.
//
// Segment boundaries: a padding record ends a segment; the next one is the
// file named by the sequence after the padding. Until the writer has created
// it (or while its header is still being written) the reader waits; if a
// later file exists instead, retention deleted the ones between, and the
// difference in sequences is what the reader lost. Which file to read is
// persistence::SegmentFollower's business, shared with inspect::TopicReader.
//
// Writer restarts: recovery keeps every committed record and continues the
// log after them, so the cursor stays right; on a new generation in the
// control file the reader reopens its segment anyway, in case recovery
// replaced the file.
#include "conduit/reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <utility>

#include "common/disk_names.h"
#include "persistence/reader_positions.h"
#include "common/format.h"
#include "common/wait.h"
#include "persistence/data_dir.h"
#include "persistence/disk_io.h"
#include "persistence/file_storage.h"
#include "persistence/log_reader.h"
#include "persistence/replace_file.h"
#include "persistence/segment_file.h"
#include "persistence/segment_follower.h"

namespace conduit {
namespace detail {

namespace {
using persistence::SegmentFile;
constexpr auto kFileRetry = std::chrono::microseconds(50);    // how often to look for a segment file not there yet
constexpr auto kDeletedCheck = std::chrono::milliseconds(5);  // how often an idle reader checks for deletion
}  // namespace

class LogReaderCore {
 public:
  LogReaderCore(std::string data_dir, std::string topic, LogReaderOptions options,
                std::unique_ptr<persistence::ControlFile> control)
      : data_dir_(std::move(data_dir)),
        topic_(std::move(topic)),
        topic_dir_(disk::topic_dir(data_dir_, topic_)),
        options_(std::move(options)),
        control_(std::move(control)),
        generation_(control_->generation()),
        opened_generation_(generation_),
        // A newest file whose header does not check out is a roll still
        // writing it: wait, as for a file not there yet.
        follower_(topic_dir_, persistence::SegmentFollower::BadNewest::kWait) {}

  Status start();
  Result<PollResult> try_poll(std::span<RecordView> out);
  bool ready() const noexcept;
  Status commit();

  std::string data_dir_, topic_, topic_dir_;
  LogReaderOptions options_;
  std::unique_ptr<persistence::ControlFile> control_;
  std::uint64_t generation_;         // the last one try_poll saw
  std::uint64_t opened_generation_;  // when this reader opened
  std::uint64_t lost_ = 0;
  std::uint64_t next_ = 0;     // the next sequence to hand out
  std::uint64_t rewound_ = 0;  // told at the next poll (PollResult::rewound)

  // kNotFound once the topic was deleted (its control file is gone, or is
  // another file: the topic was created again). Looks at most every
  // kDeletedCheck while the reader finds nothing new.
  Status check_not_deleted(bool now);

 private:
  // Where the log ends now: the sequence after the last committed record.
  Result<std::uint64_t> end_of_log();
  // The first record stamped at or after `ns`, or end_of_log().
  Result<std::uint64_t> first_at_or_after(std::int64_t ns);
  Result<std::optional<std::uint64_t>> load_position() const;

  persistence::SegmentFollower follower_;  // the segment being read
  std::size_t off_ = 0;                    // offset of the record with sequence seq_ in it
  std::uint64_t seq_ = 0;
  std::size_t checked_to_ = 0;  // in the segment: records below this offset passed check_records()
  // Steady: they pace this reader's looks at the files; another process
  // has no engine clock to read.
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::steady_clock::time_point deleted_check_at_{};
  ino_t control_ino_ = 0;  // the control file this reader opened
  dev_t control_dev_ = 0;
};

Status LogReaderCore::check_not_deleted(bool now) {
  const auto t = std::chrono::steady_clock::now();
  if (!now && t < deleted_check_at_) return Status::OK();
  deleted_check_at_ = t + kDeletedCheck;
  struct stat st {};
  const std::string path = disk::topic_file(topic_dir_, disk::kControlFileName);
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound("topic '" + topic_ + "' was deleted");
    return Status::IOError("stat " + path + ": " + persistence::errno_text(errno));
  }
  if (control_ino_ == 0) {
    control_ino_ = st.st_ino;
    control_dev_ = st.st_dev;
  } else if (st.st_ino != control_ino_ || st.st_dev != control_dev_) {
    return Status::NotFound("topic '" + topic_ + "' was deleted (and created again: open a new reader)");
  }
  return Status::OK();
}

Status LogReaderCore::start() {
  if (Status s = check_not_deleted(true); !s.ok()) return s;
  if (!options_.name.empty()) {
    auto stored = load_position();
    if (!stored.ok()) return stored.status();
    if (stored->has_value()) {
      options_.start = StartAt::at(**stored);
      // Past the end of the log: records that were never durable, gone in
      // a power cut (commit() stores no more than the durable watermark,
      // but an older build's did). Resume at the end and say so.
      auto end = end_of_log();
      if (!end.ok()) return end.status();
      if (**stored > *end) {
        rewound_ = **stored - *end;
        options_.start = StartAt::at(*end);
      }
    }
  }
  switch (options_.start.kind) {
    case StartAt::Kind::kEarliest: next_ = 0; break;  // the first poll moves it to the oldest file
    case StartAt::Kind::kSequence: next_ = options_.start.sequence; break;
    case StartAt::Kind::kLatest: {
      auto end = end_of_log();
      if (!end.ok()) return end.status();
      next_ = *end;
      break;
    }
    case StartAt::Kind::kTime: {
      auto at = first_at_or_after(options_.start.time_ns);
      if (!at.ok()) return at.status();
      next_ = *at;
      break;
    }
  }
  if (options_.start.kind == StartAt::Kind::kEarliest) {
    // An earliest start is not a loss: move to the oldest record quietly.
    auto list = persistence::list_segments(topic_dir_);
    if (!list.ok()) return list.status();
    if (!list->empty()) next_ = list->front().first;
  }
  // A holding reader holds from its open: its start is committed now.
  return options_.hold ? commit() : Status::OK();
}

Result<std::uint64_t> LogReaderCore::end_of_log() {
  auto list = persistence::list_segments(topic_dir_);
  if (!list.ok()) return list.status();
  if (list->empty()) return std::uint64_t{0};
  // The newest file may be a segment whose header is not written yet; then
  // the log ends where the one before it does.
  for (std::size_t i = list->size(); i-- > 0;) {
    auto seg = SegmentFile::open((*list)[i].second, false);
    if (!seg.ok()) {
      if (i + 1 == list->size()) continue;
      return seg.status();
    }
    std::uint64_t seq = (*seg)->first_seq();
    std::size_t off = format::kSegmentHeaderSize;
    const std::byte* base = (*seg)->base();
    while (off < (*seg)->capacity()) {
      const std::uint32_t len = format::load_length(base + off);
      if (len == 0 || (len & format::kPaddingFlag) != 0) break;
      off += format::align_up(len & format::kLengthMask);
      ++seq;
    }
    return seq;
  }
  return std::uint64_t{0};
}

Result<std::uint64_t> LogReaderCore::first_at_or_after(std::int64_t ns) {
  auto list = persistence::list_segments(topic_dir_);
  if (!list.ok()) return list.status();
  // Newest first: the first segment whose first record is stamped at or
  // before `ns` holds the answer, or the answer is its successor's start.
  for (std::size_t i = list->size(); i-- > 0;) {
    auto seg = SegmentFile::open((*list)[i].second, false);
    if (!seg.ok()) {
      if (i + 1 == list->size()) continue;
      return seg.status();
    }
    const std::byte* base = (*seg)->base();
    std::size_t off = format::kSegmentHeaderSize;
    std::uint64_t seq = (*seg)->first_seq();
    const std::uint32_t first_len = format::load_length(base + off);
    if (i != 0 && first_len != 0 && (first_len & (format::kPaddingFlag | format::kSkipFlag)) == 0 &&
        format::load<std::int64_t>(base + off + format::rec::kTimestamp) > ns)
      continue;
    while (off < (*seg)->capacity()) {
      const std::uint32_t len = format::load_length(base + off);
      if (len == 0 || (len & format::kPaddingFlag) != 0) break;
      // A skip record's timestamp is not covered by its check: not looked at.
      if (!format::is_skip(len) && format::load<std::int64_t>(base + off + format::rec::kTimestamp) >= ns) return seq;
      off += format::align_up(len & format::kLengthMask);
      ++seq;
    }
    if (i + 1 < list->size()) return (*list)[i + 1].first;
    return seq;
  }
  return std::uint64_t{0};
}

Result<PollResult> LogReaderCore::try_poll(std::span<RecordView> out) {
  PollResult r;
  r.rewound = std::exchange(rewound_, 0);
  int segments_opened = 0;
  if (const std::uint64_t g = control_->generation(); g != generation_) {
    // An engine opened the log since we last looked: keep our place, but
    // look the segment up again.
    generation_ = g;
    follower_.reset();
  }
  while (r.count < out.size()) {
    const SegmentFile* seg = follower_.segment();
    if (seg == nullptr) {
      if (std::chrono::steady_clock::now() < retry_at_) break;
      auto found = follower_.open(next_);
      if (!found.ok()) {
        if (r.count != 0) break;  // hand out what we have; the error comes next time
        if (Status s = check_not_deleted(true); !s.ok()) return s;
        return found.status();
      }
      if (found->kind == persistence::SegmentFollower::Found::kNotYet) {
        retry_at_ = std::chrono::steady_clock::now() + kFileRetry;
        break;
      }
      if (found->kind == persistence::SegmentFollower::Found::kGap) {
        const std::uint64_t lost = found->gap_to - next_;
        r.lost += lost;
        lost_ += lost;
        next_ = found->gap_to;
        follower_.reset();  // the next poll opens the segment at next_
        break;              // the loss first, on its own, as Subscriber does
      }
      seg = follower_.segment();
      off_ = format::kSegmentHeaderSize;
      seq_ = seg->first_seq();
      checked_to_ = off_;
    }
    const std::byte* p = seg->base() + off_;
    const std::uint32_t len = off_ < seg->capacity() ? format::load_length(p) : format::kPaddingFlag;
    if (len == 0) break;  // not written yet
    if (len & format::kPaddingFlag) {
      if (r.count != 0) break;  // one poll's views come from one segment
      follower_.finished(seq_);
      // Empty segments one after another: hand back and go on next poll.
      if (++segments_opened > 4) break;
      continue;
    }
    const std::uint32_t length = len & format::kLengthMask;
    const std::size_t size = format::align_up(length);
    const bool skip = format::is_skip(len);
    if (length < (skip ? format::kSkipMinLength : format::kRecordHeaderSize) || size > seg->capacity() - off_ ||
        format::load<std::uint64_t>(p + format::rec::kSequence) != seq_) {
      if (r.count != 0) break;
      return Status::Corruption(seg->path() + " offset " + std::to_string(off_) + ": expected record " +
                                std::to_string(seq_) + " (length " + std::to_string(length) + ")");
    }
    if (seq_ >= next_) {
      // Every record goes out checked: this process wrote none of them.
      if (off_ >= checked_to_) {
        const persistence::RunCheck run =
            persistence::check_records(seg->base(), seg->capacity(), off_, seq_, ~std::uint64_t{0},
                                       off_ + persistence::kCheckAhead, seg->with_crc());
        checked_to_ = run.end_offset;  // the records before it are good
        if (run.records == 0) {
          if (r.count != 0) break;  // hand out what we have; the error comes next time
          return Status::Corruption(seg->path() + " offset " + std::to_string(off_) + ": " + run.stop.what +
                                    " (sequence " + std::to_string(seq_) + ")");
        }
      }
      if (skip)
        ++r.skipped;  // an abandoned claim: checked, stepped over
      else
        out[r.count++] = RecordView(p);
      next_ = seq_ + 1;
    }
    off_ += size;
    ++seq_;
  }
  if (r.count == 0 && r.lost == 0)
    if (Status s = check_not_deleted(false); !s.ok()) return s;
  return r;
}

bool LogReaderCore::ready() const noexcept {
  if (control_->generation() != generation_) return true;
  const SegmentFile* seg = follower_.segment();
  if (seg == nullptr) return std::chrono::steady_clock::now() >= retry_at_;
  if (off_ >= seg->capacity()) return true;
  return format::load_length(seg->base() + off_) != 0;
}

Result<std::optional<std::uint64_t>> LogReaderCore::load_position() const {
  auto stored = persistence::read_reader_position(disk::reader_positions_dir(data_dir_, topic_), options_.name);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return std::optional<std::uint64_t>{};
  return std::optional<std::uint64_t>((*stored)->position);
}

Status LogReaderCore::commit() {
  if (options_.name.empty()) return Status::InvalidArgument("only a named reader can commit its position");
  // Through the same seam as the engine's control files (plain syscalls
  // here: a reader process has no persistence thread).
  const std::unique_ptr<persistence::DiskIo> io = persistence::make_syscall_disk_io();
  // No further than the durable watermark: a reader cannot make the log
  // durable, and a position past it could outlive the records after a
  // power cut (doc/durability.md).
  const std::string text = persistence::reader_position_text(std::min(next_, control_->durable()), options_.hold);
  return persistence::replace_file(*io, disk::reader_positions_dir(data_dir_, topic_), options_.name,
                                   std::as_bytes(std::span(text)));
}

}  // namespace detail

Result<std::unique_ptr<LogReader>> LogReader::open(std::string_view data_dir, std::string_view topic,
                                                   LogReaderOptions options) {
  if (Status s = validate_topic_name(topic); !s.ok()) return s;
  if (!options.name.empty()) {
    if (Status s = validate_topic_name(options.name); !s.ok())
      return Status::InvalidArgument("reader name: " + s.message());
  } else if (options.hold) {
    return Status::InvalidArgument("only a named reader can hold records (LogReaderOptions::hold)");
  }
  std::string dir(data_dir);
  auto control = persistence::ControlFile::open_for_reader(disk::topic_dir(dir, topic));
  if (!control.ok()) return control.status();
  auto core =
      std::make_unique<detail::LogReaderCore>(dir, std::string(topic), std::move(options), std::move(control).value());
  if (Status s = core->start(); !s.ok()) return s;
  return std::unique_ptr<LogReader>(new LogReader(std::move(core)));
}

LogReader::LogReader(std::unique_ptr<detail::LogReaderCore> core) : core_(std::move(core)) {}
LogReader::~LogReader() = default;

Result<PollResult> LogReader::try_poll(std::span<RecordView> out) { return core_->try_poll(out); }

Result<PollResult> LogReader::poll(std::span<RecordView> out, std::chrono::nanoseconds timeout) {
  auto r = core_->try_poll(out);
  if (!r.ok() || r->count != 0 || r->lost != 0 || r->rewound != 0) return r;
  std::uint64_t skipped = r->skipped;  // polls that only stepped over skip records wait on
  detail::Backoff<detail::SharedParkingLot> backoff(core_->options_.wait, core_->control_->readers_lot(),
                                                    core_->options_.park_timeout, detail::deadline_after(timeout));
  while (backoff.idle([&] { return core_->ready(); })) {
    r = core_->try_poll(out);
    if (r.ok()) r->skipped = skipped += r->skipped;
    if (!r.ok() || r->count != 0 || r->lost != 0 || r->rewound != 0) return r;
  }
  return r;
}

std::uint64_t LogReader::position() const noexcept { return core_->next_; }
std::uint64_t LogReader::lost() const noexcept { return core_->lost_; }
std::uint64_t LogReader::writer_restarts() const noexcept {
  return core_->control_->generation() - core_->opened_generation_;
}
bool LogReader::writer_closed() const noexcept { return core_->control_->closed_cleanly(); }
Status LogReader::commit() { return core_->commit(); }

}  // namespace conduit
