// The one reader of segment bytes that checks everything: used by recovery,
// and (later) by conduit-log verify. It reports each problem; the caller
// decides what a problem means (a torn tail to truncate, or corruption).
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
  std::size_t offset = 0;  // in the segment
  std::uint64_t sequence = 0;  // the sequence expected there
  std::string what;
};

struct SegmentScan {
  std::uint64_t records = 0;       // intact records from the start
  std::size_t end_offset = 0;      // first byte after the last intact record
  bool sealed = false;             // ended in a padding record (or exactly at capacity)
  std::optional<ScanProblem> problem;  // why the scan stopped early, if it did
};

// Walks the records of a segment that starts at `first_seq`, from its
// header to the first zero length, padding, or problem. `on_record` sees
// each intact record's index in the segment and its offset.
SegmentScan scan_segment(const std::byte* base, std::size_t capacity, std::uint64_t first_seq, bool with_crc,
                         const std::function<void(std::uint64_t index, std::size_t offset)>& on_record);

}  // namespace conduit::persistence
