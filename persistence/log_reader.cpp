#include "persistence/log_reader.h"

#include <cstring>
#include <optional>

#include "common/crc32c.h"
#include "common/format.h"

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
  const bool skip = format::is_skip(word);
  if (len < (skip ? format::kSkipMinLength : format::kRecordHeaderSize) || (word & format::kShortFlag && skip) ||
      off + format::align_up(len) > capacity) {
    c.what = "record length " + std::to_string(len) + " is impossible here";
    return c;
  }
  const std::byte* rec = base + off;
  const std::uint64_t seq = format::load<std::uint64_t>(rec + format::rec::kSequence);
  if (with_crc && format::load<std::uint32_t>(rec + format::rec::kCrc) !=
                      format::record_crc(rec, skip ? format::kSkipMinLength : len)) {
    c.what = "CRC32C mismatch";
    return c;
  }
  if (seq != expected) {
    c.what = "sequence " + std::to_string(seq) + " where " + std::to_string(expected) + " was expected";
    return c;
  }
  if (!skip && !format::record_fields_consistent(rec, len)) {
    c.what = "field lengths do not add up to the record length";
    return c;
  }
  c.kind = RecordCheck::kRecord;
  c.skip = skip;
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

RunCheck check_records(const std::byte* base, std::size_t capacity, std::size_t offset, std::uint64_t expected,
                       std::uint64_t max_records, std::size_t until, bool with_crc, std::uint32_t* offsets) {
  RunCheck run;
  std::size_t off = offset;
  for (;;) {
    // Up to kLanes records whose framing checks out (length, sequence,
    // fields: cheap), then their CRCs together. Anything else at `off`
    // gets check_record()'s verdict, after the CRCs of those before it.
    const void* data[crc32c::kLanes];
    std::size_t bytes[crc32c::kLanes];
    std::size_t at[crc32c::kLanes];
    std::uint32_t words[crc32c::kLanes];
    std::size_t k = 0;
    std::optional<RecordCheck> stop;
    while (k < crc32c::kLanes) {
      const std::uint64_t seq = expected + run.records + k;
      if (run.records + k >= max_records || off >= until) {
        stop = RecordCheck{RecordCheck::kRecord, 0, {}};
        break;
      }
      if (off >= capacity) {
        stop = RecordCheck{RecordCheck::kPadding, 0, {}};
        break;
      }
      const std::uint32_t word = length_word_at(base, capacity, off);
      const std::uint32_t len = word & format::kLengthMask;
      // (A short-form record's fields always add up: the payload is the rest.)
      // A skip record goes the slow way (rare), and joins the lanes with the
      // CRC of its sequence once that way found it sound.
      if (word == 0 || (word & (format::kPaddingFlag | format::kSkipFlag)) != 0 || len < format::kRecordHeaderSize ||
          format::align_up(len) > capacity - off ||
          format::load<std::uint64_t>(base + off + format::rec::kSequence) != seq ||
          ((word & format::kShortFlag) == 0 && !format::record_fields_consistent(base + off, len))) {
        if (RecordCheck c = check_record(base, capacity, off, word, seq, false); !c.skip) {
          stop = check_record(base, capacity, off, word, seq, with_crc);
          break;
        }
      }
      data[k] = base + off + format::rec::kSequence;
      bytes[k] = (format::is_skip(word) ? format::kSkipMinLength : len) - format::rec::kSequence;
      at[k] = off;
      words[k] = word;
      ++k;
      off += format::align_up(len);
    }
    if (offsets != nullptr)  // all k; only those before a bad CRC below count
      for (std::size_t i = 0; i < k; ++i) offsets[run.records + i] = static_cast<std::uint32_t>(at[i]);
    if (with_crc && k != 0) {
      std::uint32_t crc[crc32c::kLanes];
      crc32c::values(data, bytes, crc, k);
      for (std::size_t i = 0; i < k; ++i) {
        if (crc[i] == format::load<std::uint32_t>(base + at[i] + format::rec::kCrc)) continue;
        run.records += i;
        run.end_offset = at[i];
        run.stop = check_record(base, capacity, at[i], words[i], expected + run.records, with_crc);
        return run;
      }
    }
    run.records += k;
    if (stop) {
      run.end_offset = off;
      run.stop = std::move(*stop);
      return run;
    }
  }
}

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
    scan.skipped += c.skip ? 1 : 0;
    off += format::align_up(c.length);
  }
  scan.sealed = !scan.problem && off >= capacity;
  scan.end_offset = scan.sealed ? capacity : off;
  if (scan.problem) scan.end_offset = scan.problem->offset;
  return scan;
}

}  // namespace conduit::persistence
