#include "persistence/log_reader.h"

#include <cstring>

#include "persistence/format.h"

namespace conduit::persistence {

SegmentScan scan_segment(const std::byte* base, std::size_t capacity, std::uint64_t first_seq, bool with_crc,
                         const std::function<void(std::uint64_t, std::size_t)>& on_record) {
  SegmentScan scan;
  std::size_t off = format::kSegmentHeaderSize;
  auto stop = [&](std::string what) {
    scan.problem = ScanProblem{off, first_seq + scan.records, std::move(what)};
  };
  while (off < capacity) {
    // Fewer bytes than a length word left (a crafted segment whose capacity
    // is not a multiple of 8): read them zero-extended, never past the end.
    std::uint32_t word = 0;
    if (capacity - off >= sizeof word) word = format::load_length(base + off);
    else std::memcpy(&word, base + off, capacity - off);
    if (word == 0) break;  // the end of what was written
    const std::uint32_t len = word & format::kLengthMask;
    if (word & format::kPaddingFlag) {
      if (off + len != capacity) {
        stop("padding record of " + std::to_string(len) + " bytes does not end at the segment's end");
        break;
      }
      off = capacity;
      break;
    }
    if (len < format::kRecordHeaderSize || off + format::align_up(len) > capacity) {
      stop("record length " + std::to_string(len) + " is impossible here");
      break;
    }
    const std::byte* rec = base + off;
    const std::uint64_t seq = format::load<std::uint64_t>(rec + format::rec::kSequence);
    if (with_crc && format::load<std::uint32_t>(rec + format::rec::kCrc) != format::record_crc(rec, len)) {
      stop("CRC32C mismatch");
      break;
    }
    if (seq != first_seq + scan.records) {
      stop("sequence " + std::to_string(seq) + " where " + std::to_string(first_seq + scan.records) + " was expected");
      break;
    }
    if (!format::record_fields_consistent(rec, len)) {
      stop("field lengths do not add up to the record length");
      break;
    }
    if (on_record) on_record(scan.records, off);
    ++scan.records;
    off += format::align_up(len);
  }
  scan.sealed = !scan.problem && off >= capacity;
  scan.end_offset = scan.sealed ? capacity : off;
  if (scan.problem) scan.end_offset = scan.problem->offset;
  return scan;
}

}  // namespace conduit::persistence
