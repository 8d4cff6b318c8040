#include "persistence/log_reader.h"

#include <cstring>

#include "persistence/format.h"

namespace conduit::persistence {

RecordCheck check_record(const std::byte* base, std::size_t capacity, std::size_t off, std::uint32_t word,
                         std::uint64_t expected, bool with_crc) {
  RecordCheck c;
  if (word == 0) return c;  // the end of what was written
  const std::uint32_t len = word & format::kLengthMask;
  c.length = len;
  if (word & format::kPaddingFlag) {
    if (off + len != capacity) {
      c.kind = RecordCheck::kBad;
      c.what = "padding record of " + std::to_string(len) + " bytes does not end at the segment's end";
      return c;
    }
    c.kind = RecordCheck::kPadding;
    return c;
  }
  c.kind = RecordCheck::kBad;
  if (len < format::kRecordHeaderSize || off + format::align_up(len) > capacity) {
    c.what = "record length " + std::to_string(len) + " is impossible here";
    return c;
  }
  const std::byte* rec = base + off;
  const std::uint64_t seq = format::load<std::uint64_t>(rec + format::rec::kSequence);
  if (with_crc && format::load<std::uint32_t>(rec + format::rec::kCrc) != format::record_crc(rec, len)) {
    c.what = "CRC32C mismatch";
    return c;
  }
  if (seq != expected) {
    c.what = "sequence " + std::to_string(seq) + " where " + std::to_string(expected) + " was expected";
    return c;
  }
  if (!format::record_fields_consistent(rec, len)) {
    c.what = "field lengths do not add up to the record length";
    return c;
  }
  c.kind = RecordCheck::kRecord;
  return c;
}

namespace {

// The length word at `off`. Fewer bytes than a word left (a crafted segment
// whose capacity is not a multiple of 8): read them zero-extended, never
// past the end.
std::uint32_t length_word_at(const std::byte* base, std::size_t capacity, std::size_t off) {
  std::uint32_t word = 0;
  if (capacity - off >= sizeof word) return format::load_length(base + off);
  std::memcpy(&word, base + off, capacity - off);
  return word;
}

}  // namespace

SegmentScan scan_segment(const std::byte* base, std::size_t capacity, std::uint64_t first_seq, bool with_crc,
                         const std::function<void(std::uint64_t, std::size_t)>& on_record) {
  SegmentScan scan;
  std::size_t off = format::kSegmentHeaderSize;
  while (off < capacity) {
    const RecordCheck c =
        check_record(base, capacity, off, length_word_at(base, capacity, off), first_seq + scan.records, with_crc);
    if (c.kind == RecordCheck::kEnd) break;
    if (c.kind == RecordCheck::kPadding) {
      off = capacity;
      break;
    }
    if (c.kind == RecordCheck::kBad) {
      scan.problem = ScanProblem{off, first_seq + scan.records, c.what};
      break;
    }
    if (on_record) on_record(scan.records, off);
    ++scan.records;
    off += format::align_up(c.length);
  }
  scan.sealed = !scan.problem && off >= capacity;
  scan.end_offset = scan.sealed ? capacity : off;
  if (scan.problem) scan.end_offset = scan.problem->offset;
  return scan;
}

}  // namespace conduit::persistence
