// conduit/inspect.h's data directory half: summaries and verification.
#include "conduit/inspect.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "common/disk_names.h"
#include "common/format.h"
#include "persistence/data_dir.h"
#include "persistence/disk_io.h"
#include "persistence/file_storage.h"
#include "persistence/log_reader.h"
#include "persistence/reader_positions.h"
#include "persistence/segment_file.h"

namespace conduit::inspect {
using namespace persistence;

namespace {

// Names of the entries of `dir` that pass `keep`, sorted.
template <class Keep>
Result<std::vector<std::string>> dir_entries(const std::string& dir, Keep keep) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound(dir + ": no such directory");
    return Status::IOError("opendir " + dir + ": " + errno_text(errno));
  }
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || !keep(name)) continue;
    out.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// A committed position in cursors/: "sub-NAME" or "group-NAME", not a
// temporary file being written nor a work group's state file (NAME.state)
// or journal (NAME.journal-GENERATION).
bool is_position_file(const std::string& name) {
  return (name.starts_with(disk::kSubscriberPrefix) || name.starts_with(disk::kGroupPrefix)) &&
         !disk::is_cursor_side_file(name);
}

// Why a segment file's header does not check out (read with pread, so a
// damaged or short file is never mapped), or nullopt when it does.
std::optional<Damage> header_problem(const std::string& path, std::uint64_t name_first, format::SegmentHeader* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Damage{path, 0, "cannot open: " + errno_text(errno)};
  struct stat st {};
  std::byte buf[format::kSegmentHeaderSize] = {};
  const bool read_ok = ::fstat(fd, &st) == 0 && ::pread(fd, buf, sizeof buf, 0) >= 0;
  const int err = errno;
  ::close(fd);
  if (!read_ok) return Damage{path, 0, "cannot read: " + errno_text(err)};
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < format::kSegmentHeaderSize)
    return Damage{path, 0, "truncated: the file is " + std::to_string(size) + " bytes, shorter than a segment header"};
  format::SegmentHeader h;
  switch (format::decode_segment_header(buf, &h)) {
    case format::HeaderCheck::kOk: break;
    case format::HeaderCheck::kBadMagic:
      return Damage{path, format::seg::kMagic, "bad segment header: not a conduit segment (magic)"};
    case format::HeaderCheck::kBadCrc:
      return Damage{path, format::seg::kHeaderCrc, "bad segment header: CRC32C mismatch"};
    case format::HeaderCheck::kBadVersion:
      return Damage{path, format::seg::kVersion,
                    "segment format version " + std::to_string(h.version) + " is not one this build reads (" +
                        format::versions_read() + ")"};
    case format::HeaderCheck::kBadLength:
      return Damage{path, format::seg::kHeaderLen, "bad segment header: header length"};
  }
  if (h.capacity != size) {
    if (size < h.capacity)
      return Damage{
          path, size,
          "truncated: the file is " + std::to_string(size) + " bytes, its header says " + std::to_string(h.capacity)};
    return Damage{path, format::seg::kCapacity,
                  "the header says " + std::to_string(h.capacity) + " bytes but the file is " + std::to_string(size)};
  }
  *out = h;
  if (h.first_seq != name_first)
    return Damage{path, format::seg::kFirstSeq,
                  "the header says first sequence " + std::to_string(h.first_seq) + ", the file name " +
                      std::to_string(name_first)};
  return std::nullopt;
}

// A problem from a Status whose message names `path` ("PATH offset N: what"
// or "PATH: what"): the path and offset become fields, not text.
Damage problem_from(const std::string& path, const Status& s) {
  std::string what = s.message();
  std::size_t offset = 0;
  if (what.starts_with(path + " offset ")) {
    const std::size_t p = path.size() + 8;
    offset = std::strtoull(what.c_str() + p, nullptr, 10);
    what.erase(0, what.find(": ", p) == std::string::npos ? 0 : what.find(": ", p) + 2);
  } else if (what.starts_with(path + ": ")) {
    what.erase(0, path.size() + 2);
  }
  return {path, offset, what};
}

bool bytes_zero(const std::byte* p, std::size_t n) {
  return std::all_of(p, p + n, [](std::byte b) { return b == std::byte{0}; });
}

struct Scanned {
  std::unique_ptr<SegmentFile> file;  // null when the header failed
  std::optional<Damage> header;
  format::SegmentHeader fields;
  persistence::SegmentScan scan;
  std::int64_t min_ts = 0, max_ts = 0;
};

// One segment, header then records. A last segment may still be written by
// an engine: when a committed record appears at the end just scanned, scan
// again (a few times) so that a live append is not taken for garbage.
Scanned scan_file(const std::string& path, std::uint64_t first, bool last) {
  Scanned s;
  s.header = header_problem(path, first, &s.fields);
  if (s.header) return s;
  auto f = SegmentFile::open(path, false);
  if (!f.ok()) {
    s.header = problem_from(path, f.status());
    return s;
  }
  s.file = std::move(f).value();
  const std::byte* base = s.file->base();
  for (int pass = 0; pass < 4; ++pass) {
    bool any = false;
    s.scan = persistence::scan_segment(
        base, s.file->capacity(), first, s.file->with_crc(), [&](std::uint64_t, std::size_t off) {
          const auto ts = format::load<std::int64_t>(base + off + format::rec::kTimestamp);
          s.min_ts = any ? std::min(s.min_ts, ts) : ts;
          s.max_ts = any ? std::max(s.max_ts, ts) : ts;
          any = true;
        });
    const std::size_t end = s.scan.end_offset;
    if (!last || s.scan.problem || s.scan.sealed || end >= s.file->capacity() || format::load_length(base + end) == 0)
      break;
  }
  return s;
}

}  // namespace

Result<std::vector<std::string>> list_topics(const std::string& data_dir) {
  struct stat st {};
  if (::stat(data_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::NotFound(data_dir + ": no such data directory");
  const std::string topics = disk::topics_dir(data_dir);
  auto names = dir_entries(topics, [&](const std::string& name) {
    struct stat t {};
    return name[0] != '.' && ::stat((topics + "/" + name).c_str(), &t) == 0 && S_ISDIR(t.st_mode);
  });
  if (!names.ok() && names.status().code() == Code::kNotFound)
    return Status::NotFound(data_dir +
                            " has no topics/ directory: not a conduit data directory, or nothing persisted yet");
  return names;
}

std::uint64_t TopicSummary::end_seq() const noexcept {
  return segments.empty() ? 0 : segments.back().first_seq + segments.back().records;
}

std::uint64_t TopicSummary::records() const noexcept {
  std::uint64_t n = 0;
  for (const auto& s : segments) n += s.records;
  return n;
}

Result<TopicSummary> summarize_topic(const std::string& data_dir, const std::string& topic) {
  const std::string topic_dir = disk::topic_dir(data_dir, topic);
  struct stat st {};
  if (::stat(topic_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::NotFound(topic_dir + ": no such topic directory");
  TopicSummary t;
  t.name = topic;
  auto listed = list_segments(topic_dir);
  if (!listed.ok()) return listed.status();
  if (auto c = ControlFile::read_only(topic_dir); c.ok()) t.control = ControlState{c->clean, c->durable, c->published};
  for (std::size_t i = 0; i < listed->size(); ++i) {
    const auto& [first, path] = (*listed)[i];
    Scanned s = scan_file(path, first, i + 1 == listed->size());
    SegmentSummary seg;
    seg.path = path;
    seg.first_seq = first;
    seg.created_ns = s.fields.created_ns;
    seg.with_crc = (s.fields.flags & format::kSegmentFlagCrc) != 0;
    if (s.header) {
      seg.problem = s.header->to_string();
    } else {
      seg.records = s.scan.records;
      seg.used_bytes = s.scan.sealed ? s.file->capacity() : s.scan.end_offset;
      seg.capacity = s.file->capacity();
      seg.sealed = s.scan.sealed;
      seg.min_ts = s.min_ts;
      seg.max_ts = s.max_ts;
      if (s.scan.problem)
        seg.problem = path + " offset " + std::to_string(s.scan.problem->offset) + ": " + s.scan.problem->what;
    }
    t.segments.push_back(std::move(seg));
  }
  const std::string cursors = disk::cursors_dir(topic_dir);
  auto files = dir_entries(cursors, is_position_file);
  if (files.ok()) {
    for (const std::string& f : *files) {
      const bool sub = f.starts_with(disk::kSubscriberPrefix);
      auto pos = read_position_file(cursors + "/" + f);
      t.positions.push_back({sub ? "subscriber" : "work group",
                             f.substr((sub ? disk::kSubscriberPrefix : disk::kGroupPrefix).size()),
                             pos.ok() ? *pos : std::nullopt});
    }
  }
  const std::string readers_dir = disk::reader_positions_dir(data_dir, topic);
  // The listing the counters file and LogReader use (dot and temporary files skipped).
  auto readers = persistence::list_reader_names(readers_dir);
  if (readers.ok()) {
    for (const std::string& name : *readers) {
      auto r = persistence::read_reader_position(readers_dir, name);
      NamedPosition p{"reader", name, std::nullopt};
      if (r.ok() && r->has_value()) {
        p.position = (*r)->position;
        p.holds = (*r)->holds;
      }
      t.positions.push_back(std::move(p));
    }
  }
  return t;
}

Status remove_named_position(const std::string& data_dir, const std::string& topic, const std::string& kind,
                             const std::string& name) {
  if (kind != "subscriber" && kind != "group" && kind != "reader")
    return Status::InvalidArgument("kind '" + kind + "' is none of subscriber, group, reader");
  if (Status s = validate_topic_name(topic); !s.ok()) return Status::InvalidArgument("topic " + s.message());
  if (Status s = validate_topic_name(name); !s.ok()) return Status::InvalidArgument(kind + " name: " + s.message());
  const std::string topic_dir = disk::topic_dir(data_dir, topic);
  struct stat st {};
  if (::stat(topic_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::NotFound("no topic '" + topic + "' in " + data_dir + " (" + topic_dir + ")");
  if (kind == "reader") return persistence::remove_reader_position(disk::reader_positions_dir(data_dir, topic), name);
  auto lock = persistence::DataDirLock::acquire(data_dir);
  if (!lock.ok()) {
    if (lock.status().code() != Code::kBusy) return lock.status();
    return Status::Busy("an engine has " + data_dir + " open: remove the " + kind +
                        " through Topic::remove_reader in that process, or once it has closed");
  }
  return persistence::remove_cursor(topic_dir,
                                    kind == "subscriber" ? disk::subscriber_key(name) : disk::group_key(name));
}

namespace {

// verify_topic()'s walk over the segments: what the one before left.
struct SegmentWalk {
  bool known = false;          // whether `expected` is known
  std::uint64_t expected = 0;  // where the next segment should start
  bool prev_sealed = true;
  std::string prev_path;
};

// Non-zero bytes past the end of the records of an unsealed segment:
// garbage, or (the log's last segment, above the durable watermark, while
// an engine may be writing) a record being written.
void check_after_end(const Scanned& s, const std::string& path, bool may_be_writing, TopicVerification& v) {
  const std::byte* base = s.file->base();
  const std::size_t cap = s.file->capacity(), endoff = s.scan.end_offset;
  if (bytes_zero(base + endoff, cap - endoff)) return;
  const std::byte* nz = std::find_if(base + endoff, base + cap, [](std::byte b) { return b != std::byte{0}; });
  const auto at = static_cast<std::size_t>(nz - base);
  if (may_be_writing) {
    // Not closed cleanly: an engine is writing (a record is filled in
    // before its length word commits it) or died mid-write (a torn
    // tail its recovery zeroes). Neither is damage to the log.
    v.notes.push_back(path + " offset " + std::to_string(at) +
                      ": bytes after the last committed record: a record being written, or a torn tail");
  } else {
    v.problems.push_back(
        {path, at,
         "garbage: non-zero bytes after the end of the log (which is at offset " + std::to_string(endoff) + ")"});
  }
}

// One segment of verify_topic()'s walk: its place after the one before,
// its records, and the bytes past them.
void verify_segment(const std::string& path, std::uint64_t first, bool last, std::uint64_t durable,
                    bool engine_may_write, SegmentWalk& w, TopicVerification& v) {
  ++v.segments;
  if (w.known && !w.prev_sealed)
    v.problems.push_back({w.prev_path, 0, "the segment has no padding record at its end, yet a later segment follows"});
  if (w.known && first != w.expected)
    v.problems.push_back({path, format::seg::kFirstSeq,
                          first > w.expected ? "sequence gap: records " + std::to_string(w.expected) + " to " +
                                                   std::to_string(first - 1) + " are missing before this segment"
                                             : "overlap: this segment starts at " + std::to_string(first) +
                                                   ", the one before ends at " + std::to_string(w.expected)});
  Scanned s = scan_file(path, first, last);
  w.prev_path = path;
  if (s.header) {
    v.problems.push_back(*s.header);
    w.known = false;
    w.prev_sealed = true;
    return;
  }
  v.records += s.scan.records;
  v.skipped += s.scan.skipped;
  const std::uint64_t end = first + s.scan.records;
  v.end_seq = end;
  w.expected = end;
  w.known = true;
  w.prev_sealed = s.scan.sealed;
  if (s.scan.problem) {
    std::string what = s.scan.problem->what + " (sequence " + std::to_string(s.scan.problem->sequence) + ")";
    if (last && end >= durable)
      what += "; a torn tail above the durable watermark " + std::to_string(durable) +
              ": the engine's recovery will cut the log here";
    v.problems.push_back({path, s.scan.problem->offset, what});
    w.prev_sealed = true;  // already reported; no second report for the same end
    w.known = false;
    return;
  }
  if (!s.scan.sealed) check_after_end(s, path, last && end >= durable && engine_may_write, v);
}

// The committed positions: intact, and not past the end of the log.
void check_positions(const std::string& topic_dir, bool has_log, TopicVerification& v) {
  const std::string cursors = disk::cursors_dir(topic_dir);
  auto files = dir_entries(cursors, is_position_file);
  if (files.ok())
    for (const std::string& f : *files) {
      auto pos = read_position_file(cursors + "/" + f);
      if (!pos.ok())
        v.problems.push_back({cursors + "/" + f, 0, "not an intact position file"});
      else if (*pos && **pos > v.end_seq && has_log)
        v.notes.push_back(cursors + "/" + f + ": position " + std::to_string(**pos) + " is past the end of the log " +
                          std::to_string(v.end_seq));
    }
}

}  // namespace

TopicVerification verify_topic(const std::string& data_dir, const std::string& topic) {
  const std::string topic_dir = disk::topic_dir(data_dir, topic);
  TopicVerification v;
  auto listed = list_segments(topic_dir);
  if (!listed.ok()) {
    v.problems.push_back({topic_dir, 0, listed.status().message()});
    return v;
  }
  auto control = ControlFile::read_only(topic_dir);
  if (!control.ok())
    v.problems.push_back(problem_from(disk::topic_file(topic_dir, disk::kControlFileName), control.status()));
  const std::uint64_t durable = control.ok() ? control->durable : 0;

  // A last segment whose header is still all zeros, at or above the
  // durable watermark, is a roll in progress: its file was created (or the
  // spare renamed to its name) and the header is written next; or a crash
  // cut that roll short and the engine's recovery drops it. It holds no
  // record yet, so the log ends in the segment before it, where producers
  // that claimed space before the roll may still be writing (a hole before
  // the padding) and its name says nothing about continuity: no gap, no
  // missing padding is reported against it.
  const bool rolling =
      !listed->empty() && listed->back().first >= durable && segment_header_is_zero(listed->back().second);
  const std::size_t log_files = listed->size() - (rolling ? 1 : 0);

  // Not closed cleanly: an engine may be writing past the durable watermark.
  const bool engine_may_write = control.ok() && !control->clean;
  SegmentWalk walk;
  for (std::size_t i = 0; i < log_files; ++i) {
    const auto& [first, path] = (*listed)[i];
    if (i == 0) v.first_seq = first;
    verify_segment(path, first, i + 1 == log_files, durable, engine_may_write, walk, v);
  }
  if (rolling) {
    const auto& [first, path] = listed->back();
    if (++v.segments == 1) v.first_seq = first;
    v.notes.push_back(path +
                      ": no header yet: a roll in progress, or one a crash cut short (no part of the log; "
                      "recovery drops it)");
  }
  if (control.ok() && !listed->empty() && durable > v.end_seq)
    v.problems.push_back({disk::topic_file(topic_dir, disk::kControlFileName), 16,
                          "the durable watermark is " + std::to_string(durable) + " but the intact log ends at " +
                              std::to_string(v.end_seq)});
  if (control.ok() && !control->clean)
    v.notes.push_back("not closed cleanly: an engine has the topic open, or one stopped without closing it");

  check_positions(topic_dir, !listed->empty(), v);
  return v;
}

}  // namespace conduit::inspect
