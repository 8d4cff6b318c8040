#include "persistence/file_storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <utility>

#include "common/crc32c.h"
#include "common/disk_names.h"
#include "common/format.h"
#include "common/wait.h"
#include "persistence/clean_record.h"

#include "persistence/log_reader.h"
#include "persistence/persistence_thread.h"
#include "persistence/reader_positions.h"
#include "persistence/replace_file.h"
#include "persistence/torn_pieces.h"

namespace conduit::persistence {

namespace {

// gather_publishers(): the log stayed the same this long, or the wait went
// on this long: the round starts. 10 and 100 us until 2026-12-06: on 2
// cores a publisher still waiting for one often let 10 us pass, missed the
// round and waited for the next (doc/design-choices.md, "Group commit with
// more publishers than cores").
constexpr std::chrono::microseconds kGatherQuiet{20};
constexpr std::chrono::microseconds kGatherMax{200};

// A position file: magic "CNDTPOS1", the sequence, CRC32C of those 16 bytes.
using disk::kPositionMagic;
constexpr std::size_t kPositionBytes = 24;
// A state file: magic "CNDTSTA1", u64 length, the bytes, CRC32C of all before it.
using disk::kStateMagic;
constexpr std::size_t kStateHead = 16;

// The whole file; nullopt when it does not exist.
Result<std::optional<std::string>> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return Status::IOError("open " + path + ": " + errno_text(errno));
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::IOError("read " + path + ": " + errno_text(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>{std::move(out)};
}

}  // namespace

Result<std::unique_ptr<FileTopicStorage>> FileTopicStorage::open(std::string dir, FileStorageOptions options,
                                                                 PersistenceThread* thread) {
  if (Status s = make_dirs(dir); !s.ok()) return s;
  auto control = ControlFile::open(dir);
  if (!control.ok()) return control.status();
  return std::unique_ptr<FileTopicStorage>(
      new FileTopicStorage(std::move(dir), options, thread, std::move(control).value()));
}

FileTopicStorage::FileTopicStorage(std::string dir, FileStorageOptions options, PersistenceThread* thread,
                                   std::unique_ptr<ControlFile> control)
    : dir_(std::move(dir)), options_(options), thread_(thread), control_(std::move(control)) {}

FileTopicStorage::~FileTopicStorage() { (void)close(); }

Result<std::unique_ptr<detail::SegmentMemory>> FileTopicStorage::create_segment(std::uint64_t first_seq,
                                                                                std::size_t capacity,
                                                                                std::int64_t created_ns) {
  if (!stats_.read_only.ok()) return stats_.read_only;
  {
    // Adopt (rename away from ".spare") under files_mu_: prepare_spare()
    // finds no spare only once the name is free again, so its O_TRUNC open
    // cannot truncate the file being adopted under the producer's mapping
    // (that was a SIGBUS in adopt()'s header write).
    std::lock_guard lk(files_mu_);
    segment_bytes_ = capacity;
    if (spare_ && spare_->capacity() == capacity) {
      std::unique_ptr<SegmentFile> spare = std::move(spare_);
      if (spare->adopt(dir_, first_seq, created_ns).ok()) {
        dirty_.push_back({first_seq, spare->file(), spare->capacity()});
        dir_dirty_ = true;  // the rename
        return std::unique_ptr<detail::SegmentMemory>(std::move(spare));
      }
    }
  }
  auto file = SegmentFile::create(dir_, first_seq, capacity, created_ns, true, zero_segments());
  if (!file.ok()) return file.status();
  (*file)->set_log(options_.log);
  {
    std::lock_guard lk(files_mu_);
    dirty_.push_back({first_seq, (*file)->file(), (*file)->capacity()});
    dir_dirty_ = true;  // the new name
  }
  return std::unique_ptr<detail::SegmentMemory>(std::move(file).value());
}

Result<std::vector<detail::RecoveredSegment>> FileTopicStorage::recover() {
  auto listed = list_segments(dir_);
  if (!listed.ok()) return listed.status();
  // A durable point: every record below it was durable once. The control
  // file's watermark lags the real one (it is not synced with the rounds),
  // so it is a lower bound, which is all the checks below need.
  const std::uint64_t durable = control_->durable();
  stats_.segments = listed->size();
  if (control_->was_clean() && !options_.verify_on_open && !listed->empty())
    if (auto trusted = recover_clean(*listed, durable)) return std::move(*trusted);

  // Nothing is written until the scan has decided what the log is: a log
  // damaged below the durable watermark may be opened read-only, untouched.
  RecoveryScan scan;
  scan.cut_files_from = listed->size();
  if (Status s = open_listed(*listed, durable, scan); !s.ok()) return s;
  if (scan.damage && !options_.read_only_on_corruption) return *scan.damage;
  if (scan.files.empty()) {
    if (Status s = cut_whole_log(*listed, scan.cut_files_from); !s.ok()) return s;
    return std::move(scan.out);
  }
  if (Status s = scan_opened(durable, scan); !s.ok()) return s;
  if (scan.damage) {
    if (Status s = reopen_read_only(scan); !s.ok()) return s;
    return std::move(scan.out);
  }
  if (Status s = write_recovered(*listed, durable, scan); !s.ok()) return s;
  return std::move(scan.out);
}

Status FileTopicStorage::open_listed(const std::vector<std::pair<std::uint64_t, std::string>>& listed,
                                     std::uint64_t durable, RecoveryScan& scan) {
  for (auto& [first, path] : listed) {
    auto f = SegmentFile::open(path, true);
    if (f.ok()) (*f)->set_log(options_.log);
    if (!f.ok()) {
      // A segment whose header never reached the disk (a roll cut short, or
      // one whose first record was never durable) is past the log's end,
      // but only when it starts at or above the durable watermark: then
      // nothing in it was ever durable. A bad header on a segment that
      // holds durable records is corruption, and its file is kept.
      if (f.status().code() == Code::kCorruption && first >= durable &&
          (!scan.files.empty() || &path == &listed.back().second)) {
        scan.cut_files_from = scan.files.size();
        return Status::OK();
      }
      if (f.status().code() != Code::kCorruption || scan.files.empty()) return f.status();
      scan.damage = f.status();
      return Status::OK();
    }
    if ((*f)->first_seq() != first) {
      scan.damage =
          Status::Corruption(path + " offset 16: header says first sequence " + std::to_string((*f)->first_seq()));
      if (scan.files.empty()) return *scan.damage;
      return Status::OK();
    }
    scan.files.push_back(std::move(f).value());
  }
  return Status::OK();
}

Status FileTopicStorage::cut_whole_log(const std::vector<std::pair<std::uint64_t, std::string>>& listed,
                                       std::size_t cut_files_from) {
  begin_writing();
  TornPieces torn(dir_, control_->generation(), options_.log);
  for (std::size_t i = cut_files_from; i < listed.size(); ++i)
    if (Status s = torn.move_file(listed[i].second); !s.ok()) return s;
  return torn.finish(0);
}

Status FileTopicStorage::scan_opened(std::uint64_t durable, RecoveryScan& scan) {
  // Scan every segment, not only those above the durable watermark: a
  // record that went bad on disk after its fdatasync must be reported here,
  // or readers would be handed it. Costs one CRC pass over the log per open
  // after a crash (or with verify_on_open); a clean close skips it.
  std::vector<std::unique_ptr<SegmentFile>>& files = scan.files;
  for (std::size_t i = 0; i < files.size(); ++i) {
    detail::RecoveredSegment r;
    r.first_seq = files[i]->first_seq();
    const bool last = i + 1 == files.size();
    const SegmentScan seg = scan_segment(files[i]->base(), files[i]->capacity(), r.first_seq, true, nullptr);
    stats_.records_checked += seg.records;
    stats_.bytes_checked += seg.end_offset - format::kSegmentHeaderSize;
    r.records = seg.records;
    r.sealed = seg.sealed;
    r.end_offset = seg.end_offset;
    const std::uint64_t end = r.first_seq + r.records;
    const bool next_follows = !last && files[i + 1]->first_seq() == end;
    // A segment whose padding never reached the disk, followed by one that
    // goes on from its last record: the roll happened, only its padding is
    // missing. Sealed again below, not taken for the end of the log.
    if (next_follows && !seg.sealed) {
      scan.repairs.push_back(scan.out.size());
      r.sealed = true;
    }
    if (!next_follows) {
      // The log ends in this segment. Below the durable watermark that is
      // corruption; above it, a torn tail of records never acknowledged.
      if (end < durable && !scan.damage) {
        const std::string what = seg.problem ? seg.problem->what : "the log ends here";
        scan.damage = Status::Corruption(files[i]->path() + " offset " + std::to_string(seg.end_offset) + ": " + what +
                                         " (sequence " + std::to_string(end) + ", below the durable watermark " +
                                         std::to_string(durable) + ")");
        if (!options_.read_only_on_corruption) return *scan.damage;
      }
      // What follows the intact prefix (a torn record, or records committed
      // after a hole that were never durable) is moved aside and zeroed below.
      if (!seg.sealed) scan.zero_tail_at = r.end_offset;
      scan.cut_files_from = std::min(scan.cut_files_from, i + 1);
    }
    // The scan touched every page; only the tail needs to stay resident.
    if (next_follows) files[i]->drop_resident_pages();
    r.memory = std::move(files[i]);
    scan.out.push_back(std::move(r));
    if (!next_follows) break;
  }
  return Status::OK();
}

Status FileTopicStorage::reopen_read_only(RecoveryScan& scan) {
  // Read-only up to the damage: map what is kept read-only, change nothing.
  for (auto& r : scan.out) {
    auto ro = SegmentFile::open(static_cast<SegmentFile*>(r.memory.get())->path(), false);
    if (!ro.ok()) return ro.status();
    r.memory = std::move(ro).value();
  }
  stats_.read_only = Status::ReadOnly(scan.damage->message());
  const detail::RecoveredSegment& last = scan.out.back();
  durable_.store(last.first_seq + last.records, std::memory_order_release);  // pairs with durable()
  return Status::OK();
}

Status FileTopicStorage::write_recovered(const std::vector<std::pair<std::uint64_t, std::string>>& listed,
                                         std::uint64_t durable, RecoveryScan& scan) {
  std::vector<detail::RecoveredSegment>& out = scan.out;
  begin_writing();
  for (const std::size_t i : scan.repairs) {
    auto* seg = static_cast<SegmentFile*>(out[i].memory.get());
    if (Status s = seg->seal_at(out[i].end_offset); !s.ok()) return s;
  }
  // Recovery keeps what it cuts off (torn_pieces.h): the tail's bytes past
  // the intact end, and every segment file past the end, go aside first.
  TornPieces torn(dir_, control_->generation(), options_.log);
  auto* tail = static_cast<SegmentFile*>(out.back().memory.get());
  if (scan.zero_tail_at)
    if (Status s = torn.copy_tail(*tail, *scan.zero_tail_at); !s.ok()) return s;
  for (std::size_t i = scan.cut_files_from; i < listed.size(); ++i) {
    if (i < scan.files.size()) scan.files[i].reset();
    if (Status s = torn.move_file(listed[i].second); !s.ok()) return s;
  }
  if (Status s = torn.finish(out.back().first_seq + out.back().records); !s.ok()) return s;
  if (scan.zero_tail_at)
    if (Status s = tail->zero_from(*scan.zero_tail_at); !s.ok()) return s;
  return track_recovered(out, durable);
}

void FileTopicStorage::begin_writing() {
  control_->begin_session();
  // A clean-close record describes the log only until it is written again.
  // Removing it is tidiness: a stale one is refused by its generation.
  ::unlink((dir_ + "/" + kCleanRecordName).c_str());
}

Status FileTopicStorage::track_recovered(std::vector<detail::RecoveredSegment>& out, std::uint64_t durable) {
  // Producers append to an open tail: it says the format they write, and a
  // kSync topic's gets zeros ahead of them, as a segment it creates does.
  if (!out.back().sealed) {
    auto* tail = static_cast<SegmentFile*>(out.back().memory.get());
    if (Status s = tail->relabel_for_appends(); !s.ok()) return s;
    if (zero_segments()) {
      tail->prepare_for_appends(out.back().end_offset);
      zeros_pending_.store(tail->ready_bytes() < tail->capacity(), std::memory_order_relaxed);  // relaxed: before add()
    }
  }
  // The tail segment (and any not known durable) may hold unsynced bytes.
  {
    std::lock_guard lk(files_mu_);
    for (auto& r : out) {
      auto* f = static_cast<SegmentFile*>(r.memory.get());
      if (r.first_seq + r.records >= durable || &r == &out.back())
        dirty_.push_back({r.first_seq, f->file(), f->capacity()});
    }
  }
  const std::uint64_t end = out.back().first_seq + out.back().records;
  durable_.store(std::min(durable, end), std::memory_order_release);  // pairs with durable()
  return Status::OK();
}

std::optional<std::vector<detail::RecoveredSegment>> FileTopicStorage::recover_clean(
    const std::vector<std::pair<std::uint64_t, std::string>>& listed, std::uint64_t durable) {
  // Trusted only when it is the record of the last session's close (its
  // generation), agrees with the control file, and lists exactly the
  // segment files there are. Any doubt: scan.
  const std::string path = dir_ + "/" + kCleanRecordName;
  auto bytes = read_file(path);
  if (!bytes.ok() || !bytes->has_value()) return std::nullopt;
  auto rec = decode_clean_record(**bytes, path);
  if (!rec.ok() || rec->generation != control_->generation() || rec->durable != durable ||
      rec->segments.size() != listed.size())
    return std::nullopt;
  std::vector<detail::RecoveredSegment> out;
  for (std::size_t i = 0; i < listed.size(); ++i) {
    const CleanSegment& c = rec->segments[i];
    const bool last = i + 1 == listed.size();
    if (c.first_seq != listed[i].first ||
        (!last && (!c.sealed || rec->segments[i + 1].first_seq != c.first_seq + c.records)))
      return std::nullopt;
    auto f = SegmentFile::open(listed[i].second, true);  // checks the header (one page)
    if (f.ok()) (*f)->set_log(options_.log);
    if (!f.ok() || (*f)->first_seq() != c.first_seq || (*f)->capacity() != c.capacity || c.end_offset > c.capacity ||
        c.end_offset < format::kSegmentHeaderSize || c.end_offset % format::kAlign != 0)
      return std::nullopt;
    const std::byte* base = (*f)->base();
    // Cheap sanity, no CRC: the first record is the one named, and nothing
    // was committed past the recorded end of the open tail.
    if (c.records != 0 &&
        format::load<std::uint64_t>(base + format::kSegmentHeaderSize + format::rec::kSequence) != c.first_seq)
      return std::nullopt;
    if (!c.sealed && c.end_offset + 4 <= c.capacity && format::load_length(base + c.end_offset) != 0)
      return std::nullopt;
    if (!last) (*f)->drop_resident_pages();
    detail::RecoveredSegment r;
    r.first_seq = c.first_seq;
    r.records = c.records;
    r.sealed = c.sealed;
    r.end_offset = c.end_offset;
    r.unchecked_path = listed[i].second;  // no record was read: readers check them (Segment::check_through)
    r.memory = std::move(f).value();
    out.push_back(std::move(r));
  }
  if (out.back().first_seq + out.back().records != durable) return std::nullopt;
  // Spend the record before anything is written: once the flag is cleared
  // on disk, a crash from here on is recovered by a scan.
  begin_writing();
  if (!control_->mark_open().ok()) return std::nullopt;
  stats_.clean = true;
  if (!track_recovered(out, durable).ok()) return std::nullopt;  // the scan meets it again and says why
  return out;
}

void FileTopicStorage::attach(detail::WatermarkSource* source) {
  source_ = source;
  if (!stats_.read_only.ok()) return;              // nothing to sync, nothing to write
  if (!stats_.clean) (void)control_->mark_open();  // recover_clean() did
  thread_->add(this);
}

void FileTopicStorage::prepare_spare(DiskIo& io) {
  std::size_t bytes = 0;
  {
    std::lock_guard lk(files_mu_);
    if (spare_ || segment_bytes_ == 0 || closed_.load(std::memory_order_relaxed)) return;  // relaxed: a hint
    bytes = segment_bytes_;
  }
  std::unique_ptr<SegmentFile> spare;
  if (zero_segments()) {
    spare = zero_spare_step(io, bytes);
    if (!spare) return;  // more zeros next time
  } else {
    auto made = reserve_spare(io, bytes);
    if (!made.ok()) return;  // the roll will create its segment itself, and report any error
    spare = std::move(made).value();
  }
  // Its first pages, before any producer can reach them: right after the
  // roll they write there before the next tick maps more. Not synced until
  // adopted, and then only as far as its records reach (see populate_ahead()).
  if (io.syncs_ranges()) spare->populate_range(0, std::min(kPopulateAhead, spare->capacity()));
  std::lock_guard lk(files_mu_);
  spare_ = std::move(spare);
}

Result<std::unique_ptr<SegmentFile>> FileTopicStorage::reserve_spare(DiskIo& io, std::size_t bytes) {
  auto spare = SegmentFile::create_spare(
      dir_, bytes, [&io](int fd, std::size_t n, const std::string& path) { return io.preallocate(fd, n, path); });
  if (spare.ok()) (*spare)->set_log(options_.log);
  return spare;
}

std::unique_ptr<SegmentFile> FileTopicStorage::zero_spare_step(DiskIo& io, std::size_t bytes) {
  // A kSync topic's spare is written with zeros kZeroStep at a time, one
  // step per call: the persistence thread's rounds, every topic's, wait
  // behind one step, not behind a whole segment of zeros.
  if (!zeroing_) {
    auto made = reserve_spare(io, bytes);
    if (!made.ok()) return nullptr;  // the roll will create (and zero) its segment itself
    zeroing_ = std::move(made).value();
    zeroed_ = 0;
  }
  const std::size_t capacity = zeroing_->capacity();
  const std::size_t to = std::min(capacity, zeroed_ + SegmentFile::kZeroStep);
  const int fd = zeroing_->file()->fd();
  if (Status s = io.write_zeros(fd, zeroed_, to, zeroing_->path(), to == capacity); !s.ok()) {
    ::unlink(zeroing_->path().c_str());  // a spare is not part of the log
    zeroing_.reset();
    return nullptr;
  }
  zeroed_ = to;
  if (to != capacity) return nullptr;
  SegmentFile::evict_zeros(fd, 0, capacity);
  SegmentFile::map_for_appends(zeroing_->base(), capacity);
  return std::move(zeroing_);
}

detail::ZeroAhead FileTopicStorage::zero_head_step() {
  if (!zeros_pending() || source_ == nullptr || closed_.load(std::memory_order_relaxed))  // relaxed: a hint
    return detail::ZeroAhead::kDone;
  const detail::ZeroAhead z = source_->zero_head(kZeroAhead, kZeroAheadStep);
  if (z == detail::ZeroAhead::kDone)
    zeros_pending_.store(false, std::memory_order_relaxed);  // relaxed: see zeros_pending()
  return z;
}

void FileTopicStorage::populate_ahead() {
  if (source_ == nullptr || closed_.load(std::memory_order_relaxed)) return;  // relaxed: a hint
  // A backend that syncs whole files (the syscall fallback) would write the
  // mapped-ahead pages, zeros, in every round: on a kSync topic that is
  // every publish, 4 MiB each. There the producers fault their pages in.
  if (!thread_->io().syncs_ranges()) return;
  populated_ = source_->populate_head(populated_, kPopulateAhead);
}

void FileTopicStorage::gather_publishers() {
  // Group commit on a machine with fewer cores than publishers: the round
  // before woke its waiters all at once, and the first of them to publish
  // again wakes this thread while the others still wait for a core. A
  // round started then holds one or two records and the rest wait for the
  // next: two syncs each. So wait, briefly, until as many publishers came
  // back as the last round synced for, or the log stops growing. One
  // publisher is back before this runs, and does not wait at all.
  using namespace std::chrono;
  // Relaxed, here and below: counts for a heuristic; the round reads the
  // watermarks it syncs on its own.
  auto back = [&] { return sync_arrivals_.load(std::memory_order_relaxed) - arrivals_at_round_end_; };
  if (back() < last_round_waiters_) {
    const auto start = steady_clock::now();
    auto changed = start;
    std::uint64_t seen = source_->published_watermark();
    while (back() < last_round_waiters_) {
      detail::backoff_yield();  // a publisher queued on this core runs
      const auto now = steady_clock::now();
      if (const std::uint64_t w = source_->published_watermark(); w != seen) {
        seen = w;
        changed = now;
      }
      if (now - changed > kGatherQuiet || now - start > kGatherMax) break;
    }
  }
  last_round_waiters_ = sync_waiters_.load(std::memory_order_relaxed);
}

bool FileTopicStorage::sync_due(std::chrono::steady_clock::time_point now) {
  // Relaxed: a hint; a round re-reads the watermarks.
  if (sync_wanted_.load(std::memory_order_relaxed)) return true;
  const bool interval = now - last_sync_ >= options_.flush_interval;
  // A sync topic's publishes and acks ask for their rounds; journal entries
  // nobody waits for (ack timeouts) are synced on the interval.
  if (options_.durability != Durability::kAsync) return interval && journals_pending();
  if (interval) return true;
  return options_.flush_bytes != 0 && source_->published_bytes() - bytes_at_last_sync_ >= options_.flush_bytes;
}

FileTopicStorage::PendingJournals FileTopicStorage::pending_journals() {
  PendingJournals out;
  std::lock_guard lk(files_mu_);
  for (auto& j : journals_) {
    std::vector<FileJournal::Pending> p;
    j->pending(&p);
    if (!p.empty()) out.emplace_back(j.get(), std::move(p));
  }
  return out;
}

bool FileTopicStorage::sync_round(DiskIo& io) {
  begin_round();
  SyncRound round = plan_round();
  measure_segments(round);
  drop_settled(round);
  if (round.items.empty()) return true;
  const auto started = std::chrono::steady_clock::now();
  Status s = sync_items(io, round);
  const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started);
  // Relaxed: counters (sync_stats()).
  sync_rounds_.fetch_add(1, std::memory_order_relaxed);
  sync_latency_sum_ns_.fetch_add(static_cast<std::uint64_t>(took.count()), std::memory_order_relaxed);
  sync_latency_[counters::latency_bucket(static_cast<std::uint64_t>(took.count()))].fetch_add(
      1, std::memory_order_relaxed);
  if (!s.ok()) {
    fail_round(io, round, std::move(s));
    return false;
  }
  finish_round(round);
  return true;
}

detail::SyncStats FileTopicStorage::sync_stats() const {
  detail::SyncStats st;
  // Relaxed: counters, each read on its own.
  st.rounds = sync_rounds_.load(std::memory_order_relaxed);
  st.failures = failed_rounds_.load(std::memory_order_relaxed);
  st.latency_sum_ns = sync_latency_sum_ns_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < counters::kLatencyBuckets; ++i)
    st.latency[i] = sync_latency_[i].load(std::memory_order_relaxed);
  return st;
}

void FileTopicStorage::begin_round() {
  // Relaxed: the flag only asks for a round; the watermarks carry the data.
  if (sync_wanted_.exchange(false, std::memory_order_relaxed)) gather_publishers();
  last_sync_ = std::chrono::steady_clock::now();
  bytes_at_last_sync_ = source_->published_bytes();
}

FileTopicStorage::SyncRound FileTopicStorage::plan_round() {
  SyncRound round;
  // The order of the next three steps is the durability invariant's
  // (file_storage.h). Journals first: an entry is appended only after the
  // record it names was published, so every entry taken here names a record
  // below the target read next, and this round syncs both or neither.
  round.journals = pending_journals();
  round.target = source_->published_watermark();
  round.records = round.target > durable();
  // Segment files after the target: a segment holding a record below it was
  // created, renamed into place and listed (create_segment, under
  // files_mu_) before that record could be claimed, so it is listed here,
  // and so is the directory change that named it.
  if (round.records) {
    std::lock_guard lk(files_mu_);
    for (auto& d : dirty_)
      round.items.push_back({.file = d.file, .first_seq = d.first_seq, .capacity = d.capacity, .dropped = d.dropped});
    round.sync_directory = std::exchange(dir_dirty_, false);
  }
  round.segments = !round.items.empty();
  for (auto& [j, pending] : round.journals)
    for (auto& p : pending) round.items.push_back({.file = p.file, .journal = j, .appended = p.appended});
  return round;
}

void FileTopicStorage::measure_segments(SyncRound& round) {
  // Each segment is synced only as far as its records below the target
  // reach: the pages past them, mapped ahead of the producers (populate_ahead),
  // are left dirty and mapped, not written as zeros and write-protected. A
  // segment the target passed whole is synced whole: its padding record too,
  // which a producer may have written after an earlier round synced the
  // records before it. Measured before drop_settled(): it reads the last
  // record's length word, and a read of a dropped page would map it again.
  for (SyncItem& f : round.items) {
    if (f.journal != nullptr) continue;
    f.length = source_->settled_bytes(f.first_seq, round.target);
    f.whole = f.length != 0 && f.length == f.capacity;
  }
}

void FileTopicStorage::drop_settled(SyncRound& round) {
  // Take the settled pages out of the writer's mapping first, in one call
  // per file: writing back a page that is mapped writable write-protects it
  // with a TLB shootdown of its own (most of an async topic's cost, on a VM).
  for (SyncItem& f : round.items)
    if (f.journal == nullptr) f.dropped = source_->drop_settled_pages(f.first_seq, round.target, f.dropped);
  if (!round.segments) return;
  std::lock_guard lk(files_mu_);
  for (auto& d : dirty_)
    for (const SyncItem& f : round.items)
      if (d.file == f.file) d.dropped = std::max(d.dropped, f.dropped);
}

Status FileTopicStorage::sync_items(DiskIo& io, const SyncRound& round) {
  std::vector<SyncRange> batch;
  batch.reserve(round.items.size());
  for (const SyncItem& f : round.items) batch.push_back({f.file->fd(), f.file->path(), f.length});
  // While the batch is out, keep mapping pages ahead of the producers: a
  // sync takes milliseconds, in which a producer passes megabytes.
  Status s = io.datasync(batch, [this] { populate_ahead(); });
  // A new segment's name: a rename (or create) reaches the disk with its
  // directory, not with the file. Rare: once per roll.
  if (s.ok() && round.sync_directory) s = io.sync_directory(dir_);
  // The pages mapped ahead stay as they were (a ranged sync leaves them
  // alone; a backend without ranges maps none ahead), so the next
  // populate_ahead() goes on from where the last one stopped. Walking the
  // whole window from the tail again after every round cost a sync topic
  // 0.1 to 0.7 ms per publish here, before the next round could start. Only
  // the page the producers are in was written (the last record ends in it)
  // and write-protected: map that one writable again, so that the next
  // publish does not take the fault with its record claimed.
  if (s.ok() && round.segments && io.syncs_ranges() && !closed_.load(std::memory_order_relaxed))
    (void)source_->populate_head({}, 1);  // relaxed: a hint, as in populate_ahead()
  return s;
}

void FileTopicStorage::fail_round(DiskIo& io, SyncRound& round, Status s) {
  if (round.sync_directory) {
    std::lock_guard lk(files_mu_);
    dir_dirty_ = true;
  }
  s = redirty_failed(io, round, std::move(s));
  if (!round.records) return;
  {
    std::lock_guard lk(error_mu_);
    last_error_ = s;
  }
  // Release pairs with the acquire in await_durable().
  failed_rounds_.fetch_add(1, std::memory_order_release);
  durable_lot_.wake_all();
}

void FileTopicStorage::finish_round(const SyncRound& round) {
  // Only the entries written before the batch count: later ones wait for the next.
  for (auto& [j, pending] : round.journals) j->synced(pending);
  if (!round.records) return;
  {
    // Files synced whole are durable now, padding and all; the others stay,
    // whatever was added meanwhile.
    std::lock_guard lk(files_mu_);
    std::erase_if(dirty_, [&](const DirtyFile& d) {
      return std::any_of(round.items.begin(), round.items.end(),
                         [&](const SyncItem& f) { return f.whole && f.file == d.file; });
    });
  }
  // Relaxed: a count for gather_publishers().
  arrivals_at_round_end_ = sync_arrivals_.load(std::memory_order_relaxed);
  // The control file's first: a waiter that durable() lets go (an attached
  // kSync publisher, answered by the owner) finds it there too.
  control_->set_durable(round.target);
  control_->set_published(round.target);
  // Release pairs with the acquire in durable(): a waiter that sees it
  // knows its record reached the disk.
  durable_.store(round.target, std::memory_order_release);
  durable_lot_.wake_all();
}

Status FileTopicStorage::redirty_failed(DiskIo& io, const SyncRound& round, Status s) {
  // The kernel may have marked the pages that failed to write as clean:
  // dirty them again so that a later round really writes them, and a
  // later success really means they are on disk. Only bytes below the
  // target are rewritten: they are settled, while producers may be writing
  // past them in the same mapping.
  const std::vector<SyncItem>& items = round.items;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const SyncItem& f = items[i];
    // 0: a segment retention dropped meanwhile.
    const std::size_t bytes =
        f.journal != nullptr ? FileJournal::bytes_of(f.appended) : source_->settled_bytes(f.first_seq, round.target);
    if (bytes != 0)
      if (Status r = io.redirty(f.file->fd(), bytes, f.file->path()); !r.ok())
        s = Status::IOError(s.message() + "; " + r.message());
    // A journal hears of the failure once its files were written again.
    if (f.journal != nullptr && (i + 1 == items.size() || items[i + 1].journal != f.journal)) f.journal->sync_failed(s);
  }
  return s;
}

Status FileTopicStorage::await_durable(std::uint64_t seq, std::chrono::steady_clock::time_point deadline) {
  if (durable() > seq) return Status::OK();
  if (!stats_.read_only.ok()) return stats_.read_only;
  // Relaxed: a count for gather_publishers(), nothing more.
  sync_waiters_.fetch_add(1, std::memory_order_relaxed);
  sync_arrivals_.fetch_add(1, std::memory_order_relaxed);
  struct Leave {
    std::atomic<std::uint32_t>& n;
    ~Leave() { n.fetch_sub(1, std::memory_order_relaxed); }  // relaxed: as above
  } leave{sync_waiters_};
  // Acquire pairs with the release increment in sync_round().
  const std::uint64_t failures_before = failed_rounds_.load(std::memory_order_acquire);
  // Relaxed: the wake below carries the request.
  sync_wanted_.store(true, std::memory_order_relaxed);
  thread_->wake();
  detail::Backoff backoff(WaitStrategy::kPark, durable_lot_, options_.park_timeout, deadline);
  auto ready = [&] {
    return durable() > seq || failed_rounds_.load(std::memory_order_acquire) != failures_before ||
           final_synced_.load(std::memory_order_acquire);
  };
  for (;;) {
    if (durable() > seq) return Status::OK();
    if (failed_rounds_.load(std::memory_order_acquire) != failures_before) {
      std::lock_guard lk(error_mu_);
      return last_error_;
    }
    // Acquire pairs with the release in close(): the last round's durable
    // watermark is visible to the durable() read after it.
    if (final_synced_.load(std::memory_order_acquire)) {
      if (durable() > seq) return Status::OK();
      return Status::Closed(dir_ + ": topic closed before the record was durable");
    }
    if (!backoff.idle(ready))
      return Status::TimedOut(dir_ + ": record " + std::to_string(seq) + " not durable in time");
  }
}

Status FileTopicStorage::close() {
  // acq_rel: the first caller does the work; it pairs with await_durable()'s acquire.
  if (closed_.exchange(true, std::memory_order_acq_rel)) return Status::OK();
  if (source_ == nullptr || !stats_.read_only.ok()) {
    final_synced_.store(true, std::memory_order_release);  // pairs with await_durable()'s acquire
    durable_lot_.wake_all();
    return Status::OK();
  }
  thread_->remove(this);
  {
    // An unused spare is not part of the log.
    std::lock_guard lk(files_mu_);
    if (spare_) ::unlink(spare_->path().c_str());
    spare_.reset();
    if (zeroing_) ::unlink(zeroing_->path().c_str());  // the persistence thread let go of it (remove())
    zeroing_.reset();
  }
  // A last round on this thread: the persistence thread no longer knows us.
  // It may be syncing other topics meanwhile; final_round() takes turns with
  // it on the one DiskIo (two threads on one io_uring raced: TSan, stress test).
  thread_->final_round(this);
  // Release pairs with await_durable()'s acquire: waiters whose records that
  // round made durable see durable() first and return OK.
  final_synced_.store(true, std::memory_order_release);
  durable_lot_.wake_all();
  {
    // Nothing is synced after this: let go of the files (a deleted topic's
    // disk space comes back once nothing holds them open).
    std::lock_guard lk(files_mu_);
    dirty_.clear();
  }
  if (durable() < source_->published_watermark()) return Status::IOError(dir_ + ": final sync failed");
  // The record first, then the flag: a crash between them leaves the flag
  // clear, and the next open scans. A record that cannot be written is
  // only a slower next open: it is written whole or not at all
  // (replace_file), and without one for this generation the open scans.
  Status record = write_clean_record();
  if (!record.ok())
    detail::log(options_.log, LogLevel::kWarning,
                dir_ + ": no clean-close record, the next open scans the log: " + record.to_string());
  if (Status s = control_->mark_clean(durable()); !s.ok()) return s;
  // Busy (records still being published) is expected at some closes.
  if (record.code() == Code::kIOError) return Status::IOError(record.message() + "; the next open checks every record");
  return Status::OK();
}

Status FileTopicStorage::write_clean_record() {
  CleanRecord rec;
  rec.generation = control_->generation();
  rec.durable = durable();
  for (const detail::SegmentExtent& e : source_->segment_extents())
    rec.segments.push_back({e.first_seq, e.records, e.end_offset, e.capacity, e.sealed});
  if (rec.segments.empty() || rec.segments.back().first_seq + rec.segments.back().records != rec.durable) {
    ::unlink((dir_ + "/" + kCleanRecordName).c_str());  // a stale one is refused by its generation anyway
    return Status::Busy(dir_ + ": records were still being published at close");
  }
  const std::string bytes = encode_clean_record(rec);
  return replace_file(thread_->io(), dir_, kCleanRecordName, std::as_bytes(std::span(bytes)));
}

Result<std::optional<std::uint64_t>> FileTopicStorage::load_position(const std::string& key) {
  return read_position_file(disk::cursors_dir(dir_) + "/" + key);
}

Result<std::optional<std::uint64_t>> read_position_file(const std::string& path) {
  auto file = read_file(path);
  if (!file.ok()) return file.status();
  if (!file->has_value()) return std::optional<std::uint64_t>{};
  const auto* buf = reinterpret_cast<const std::byte*>((*file)->data());
  if ((*file)->size() != kPositionBytes || format::load<std::uint64_t>(buf) != kPositionMagic ||
      format::load<std::uint32_t>(buf + 16) != crc32c::value(buf, 16))
    return Status::Corruption(path + " offset 0: not an intact position file");
  return std::optional<std::uint64_t>{format::load<std::uint64_t>(buf + 8)};
}

Result<std::vector<std::pair<std::string, std::uint64_t>>> FileTopicStorage::load_positions() {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  const std::string dir = disk::cursors_dir(dir_);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return Status::IOError("opendir " + dir + ": " + errno_text(errno));
  }
  std::vector<std::string> keys;
  while (dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    // Position files only: not ".", "..", state files, journals or temporaries.
    if (name.starts_with(".") || disk::is_cursor_side_file(name)) continue;
    keys.emplace_back(name);
  }
  ::closedir(d);
  for (auto& key : keys) {
    auto seq = read_position_file(dir + "/" + key);
    if (!seq.ok()) return seq.status();
    if (seq->has_value()) out.emplace_back(std::move(key), **seq);
  }
  return out;
}

Result<std::optional<std::uint64_t>> FileTopicStorage::reader_hold() {
  if (options_.readers_dir.empty()) return std::optional<std::uint64_t>{};
  auto readers = list_reader_positions(options_.readers_dir);
  if (!readers.ok()) return readers.status();
  std::optional<std::uint64_t> lowest;
  for (const ReaderPosition& r : *readers)
    if (r.holds) lowest = std::min(lowest.value_or(r.position), r.position);
  return lowest;
}

Status FileTopicStorage::remove_position(const std::string& key) {
  if (!stats_.read_only.ok()) return stats_.read_only;
  return remove_cursor(dir_, key);
}

Status FileTopicStorage::remove_reader_position(const std::string& reader) {
  return persistence::remove_reader_position(options_.readers_dir, reader);
}

Status FileTopicStorage::store_position(const std::string& key, std::uint64_t seq) {
  if (!stats_.read_only.ok()) return stats_.read_only;
  // A committed position never points past what is durable: the log is made
  // durable up to it first (doc/durability.md). Else a power cut could leave
  // a reader resuming past the recovered end, where new records then go.
  if (Status s = make_durable_below(seq); !s.ok()) return s;
  std::byte buf[kPositionBytes] = {};
  format::store<std::uint64_t>(buf, kPositionMagic);
  format::store<std::uint64_t>(buf + 8, seq);
  format::store<std::uint32_t>(buf + 16, crc32c::value(buf, 16));
  return replace_file(thread_->io(), disk::cursors_dir(dir_), key, buf);
}

Result<std::optional<std::string>> FileTopicStorage::load_state(const std::string& key) {
  const std::string path = disk::cursors_dir(dir_) + "/" + key;
  auto file = read_file(path);
  if (!file.ok() || !file->has_value()) return file;
  const std::string& f = **file;
  const auto* p = reinterpret_cast<const std::byte*>(f.data());
  if (f.size() < kStateHead + 4 || format::load<std::uint64_t>(p) != kStateMagic ||
      format::load<std::uint64_t>(p + 8) != f.size() - kStateHead - 4 ||
      format::load<std::uint32_t>(p + f.size() - 4) != crc32c::value(p, f.size() - 4))
    return Status::Corruption(path + " offset 0: not an intact state file");
  return std::optional<std::string>{f.substr(kStateHead, f.size() - kStateHead - 4)};
}

Status FileTopicStorage::make_durable_below(std::uint64_t end) {
  if (end == 0 || durable() >= end) return Status::OK();
  return await_durable(end - 1, std::chrono::steady_clock::time_point::max());
}

Status FileTopicStorage::store_state(const std::string& key, std::string_view bytes) {
  if (!stats_.read_only.ok()) return stats_.read_only;
  std::string buf(kStateHead + bytes.size() + 4, '\0');
  auto* p = reinterpret_cast<std::byte*>(buf.data());
  format::store<std::uint64_t>(p, kStateMagic);
  format::store<std::uint64_t>(p + 8, bytes.size());
  std::copy(bytes.begin(), bytes.end(), buf.begin() + kStateHead);
  format::store<std::uint32_t>(p + kStateHead + bytes.size(), crc32c::value(p, kStateHead + bytes.size()));
  return replace_file(thread_->io(), disk::cursors_dir(dir_), key, std::as_bytes(std::span(buf)));
}

Result<std::shared_ptr<detail::StateJournal>> FileTopicStorage::open_journal(const std::string& key,
                                                                             std::vector<std::string>* entries) {
  FileJournal::Hooks hooks;
  hooks.want_sync = [this] {
    // Relaxed: the wake carries the request.
    sync_wanted_.store(true, std::memory_order_relaxed);
    thread_->wake();
  };
  hooks.closed = &final_synced_;
  hooks.park_timeout = options_.park_timeout;
  hooks.io = &thread_->io();
  hooks.log = options_.log;
  auto j = FileJournal::open(disk::cursors_dir(dir_), key, entries, std::move(hooks));
  if (!j.ok()) return j.status();
  std::lock_guard lk(files_mu_);
  journals_.push_back(*j);
  return std::shared_ptr<detail::StateJournal>(std::move(j).value());
}

bool FileTopicStorage::journals_pending() {
  std::vector<FileJournal::Pending> p;
  std::lock_guard lk(files_mu_);
  for (auto& j : journals_) j->pending(&p);
  return !p.empty();
}

void FileTopicStorage::segment_dropped(std::uint64_t first_seq) {
  if (!stats_.read_only.ok()) return;
  {
    std::lock_guard lk(files_mu_);
    std::erase_if(dirty_, [&](const DirtyFile& d) { return d.first_seq == first_seq; });
  }
  // Readers that still map it keep their mapping; the name goes now.
  const std::string path = dir_ + "/" + segment_file_name(first_seq);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    detail::log(options_.log, LogLevel::kError, "retention could not delete " + path + ": " + errno_text(errno));
}

}  // namespace conduit::persistence
