// The one reader of segment bytes that checks everything: used by recovery,
// by the read-only TopicReader (conduit/inspect.h), by conduit-log verify,
// and before a record read from disk unchecked is handed out (LogReader,
// and the engine's readers of a log taken from its clean-close record). It
// reports each problem; the caller decides what a problem means (a torn
// tail to truncate, or corruption).
//
// Thread safety: a function over bytes; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace conduit::persistence {

struct ScanProblem {
  std::size_t offset = 0;      // in the segment
  std::uint64_t sequence = 0;  // the sequence expected there
  std::string what;
};

struct SegmentScan {
  std::uint64_t records = 0;           // intact records from the start
  std::uint64_t skipped = 0;           // of them, skip records (abandoned claims)
  std::size_t end_offset = 0;          // first byte after the last intact record
  bool sealed = false;                 // ended in a padding record (or exactly at capacity)
  std::optional<ScanProblem> problem;  // why the scan stopped early, if it did
};

// What is at `offset` of a segment, given the length word read there (with
// acquire: format::load_length).
struct RecordCheck {
  enum Kind { kEnd, kPadding, kRecord, kBad } kind = kEnd;
  std::uint32_t length = 0;  // unpadded; the padding's length for kPadding
  std::string what;          // kBad: why
  bool skip = false;         // kRecord: a skip record (common/format.h), never handed out
};

// Checks one record of a segment starting at `first_seq`: its length fits
// the segment, its CRC (when `with_crc`), that its sequence is `expected`,
// and that its field lengths add up. kEnd for a zero word; kPadding for a
// padding record that ends exactly at `capacity`. A skip record is a
// kRecord (it holds its sequence) with `skip` set; its length, sequence
// and (when `with_crc`) the CRC of its sequence are checked, not its body.
RecordCheck check_record(const std::byte* base, std::size_t capacity, std::size_t offset, std::uint32_t word,
                         std::uint64_t expected, bool with_crc);

// What check_records() found: `records` intact records from where it
// started, the first byte after them, and what is there: kEnd (a zero
// length word: nothing more is written), kPadding (padding, or the
// segment's end), kBad (with why), or kRecord when a limit ended the run.
struct RunCheck {
  std::uint64_t records = 0;
  std::size_t end_offset = 0;
  RecordCheck stop;
};

// Checks records as check_record() does each, from the one at `offset`
// (sequence `expected`) on, until `max_records` are checked or the next
// starts at or past `until`. The CRCs of neighbouring records run side by
// side (crc32c::values): for small records one at a time, the CRC
// instruction's latency was most of the check. `offsets`, when given (room
// for max_records), receives each intact record's offset.
RunCheck check_records(const std::byte* base, std::size_t capacity, std::size_t offset, std::uint64_t expected,
                       std::uint64_t max_records, std::size_t until, bool with_crc, std::uint32_t* offsets = nullptr);
// How far ahead of a reader its records are checked at once: the reader
// then reads them from cache, and the per-call costs are spread thin.
inline constexpr std::size_t kCheckAhead = std::size_t{64} << 10;

// Walks the records of a segment that starts at `first_seq`, from its
// header to the first zero length, padding, or problem. `on_record` sees
// each intact record's index in the segment and its offset.
SegmentScan scan_segment(const std::byte* base, std::size_t capacity, std::uint64_t first_seq, bool with_crc,
                         const std::function<void(std::uint64_t index, std::size_t offset)>& on_record);

}  // namespace conduit::persistence
