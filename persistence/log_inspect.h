// Read-only inspection of a data directory, for conduit-log: what topics,
// segments, watermarks and committed positions are there (summarize_topic),
// and whether every byte of a topic's log checks out (verify_topic). Every
// file is opened O_RDONLY (segments mapped PROT_READ through
// SegmentFile::open); the LOCK is never taken and nothing is written, so an
// engine may be running on the directory meanwhile.
//
// Thread safety: functions over files; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conduit/status.h"
#include "persistence/data_dir.h"

namespace conduit::persistence {

// Names of the topic directories under DATA_DIR/topics, sorted. kNotFound
// when DATA_DIR has no topics directory.
Result<std::vector<std::string>> list_topic_names(const std::string& data_dir);

struct SegmentSummary {
  std::string path;
  std::uint64_t first_seq = 0;
  std::uint64_t records = 0;     // intact records from the start
  std::size_t used_bytes = 0;    // header and records, up to the end of the last intact one
  std::size_t capacity = 0;
  bool sealed = false;
  std::int64_t min_ts = 0, max_ts = 0;  // record timestamps (records > 0)
  std::string problem;           // "" or "FILE offset N: what"
};

struct NamedPosition {
  std::string kind;  // "subscriber" or "work group"
  std::string name;
  std::optional<std::uint64_t> position;  // nullopt: the position file is damaged
};

struct TopicSummary {
  std::string name;
  std::optional<ControlSnapshot> control;  // nullopt: missing or damaged
  std::vector<SegmentSummary> segments;   // oldest first
  std::vector<NamedPosition> positions;   // sorted by kind, name
  std::uint64_t first_seq() const noexcept { return segments.empty() ? 0 : segments.front().first_seq; }
  std::uint64_t end_seq() const noexcept;  // one past the last intact record
  std::uint64_t records() const noexcept;
};

// Segments (each scanned up to its first problem), watermarks and
// committed positions of TOPIC_DIR. Fails only when the directory cannot be
// listed.
Result<TopicSummary> summarize_topic(const std::string& topic_dir);

struct VerifyProblem {
  std::string file;
  std::size_t offset = 0;
  std::string what;
  std::string to_string() const { return file + " offset " + std::to_string(offset) + ": " + what; }
};

struct TopicVerification {
  std::uint64_t segments = 0;
  std::uint64_t records = 0;
  std::uint64_t first_seq = 0, end_seq = 0;
  std::vector<VerifyProblem> problems;  // empty: the log is intact
  std::vector<std::string> notes;       // worth knowing, not problems
};

// Checks every segment header (magic, version, CRC, length, capacity
// against the file size, first sequence against the file name), every
// record (length, CRC32C, sequence, field lengths), the sequence continuity
// across segments, that nothing but zeros follows the end of the log, and
// the control file and position files.
TopicVerification verify_topic(const std::string& topic_dir);

}  // namespace conduit::persistence
