// Fuzz target: the log reader's scan of one segment over arbitrary bytes.
// The first input byte picks the mode (CRCs checked or not) and the first
// sequence; the rest are the segment's bytes after its 64-byte header. The
// scan must stay inside the segment, report only intact records in sequence
// order, and end where it says.
#include <cstdint>
#include <vector>

#include "persistence/format.h"
#include "persistence/log_reader.h"
#include "tools/fuzz/fuzz_support.h"
#include "tools/fuzz/record_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace conduit;
  fuzz::ByteReader in(data, size);
  const auto mode = in.take<std::uint8_t>();
  const bool with_crc = (mode & 1) != 0;
  const std::uint64_t first_seq = mode >> 1;
  const std::string_view body = in.rest();
  // The header is not the scan's business (SegmentFile::open checks it);
  // zeros stand in for it. Exactly as many bytes as the segment has.
  const std::size_t capacity = format::kSegmentHeaderSize + body.size();
  std::vector<std::byte> seg(capacity);
  if (!body.empty()) std::memcpy(seg.data() + format::kSegmentHeaderSize, body.data(), body.size());

  std::uint64_t expected_index = 0;
  std::size_t next_offset = format::kSegmentHeaderSize;
  const auto scan = persistence::scan_segment(seg.data(), capacity, first_seq, with_crc,
                                              [&](std::uint64_t index, std::size_t offset) {
    FUZZ_CHECK(index == expected_index);
    FUZZ_CHECK(offset == next_offset);
    FUZZ_CHECK(offset % format::kAlign == 0);
    const std::byte* rec = seg.data() + offset;
    const std::uint32_t length = format::load_length(rec);
    FUZZ_CHECK((length & format::kPaddingFlag) == 0);
    FUZZ_CHECK(offset + format::align_up(length) <= capacity);
    FUZZ_CHECK(format::record_fields_consistent(rec, length));
    FUZZ_CHECK(format::load<std::uint64_t>(rec + format::rec::kSequence) == first_seq + index);
    if (with_crc) FUZZ_CHECK(format::load<std::uint32_t>(rec + format::rec::kCrc) == format::record_crc(rec, length));
    fuzz::check_accepted_record(rec, length);
    ++expected_index;
    next_offset = offset + format::align_up(length);
  });
  FUZZ_CHECK(scan.records == expected_index);
  FUZZ_CHECK(scan.end_offset <= capacity);
  if (scan.problem) {
    FUZZ_CHECK(!scan.sealed);
    FUZZ_CHECK(scan.problem->offset == next_offset && scan.end_offset == next_offset);
    FUZZ_CHECK(scan.problem->sequence == first_seq + scan.records);
    FUZZ_CHECK(!scan.problem->what.empty());
  } else if (scan.sealed) {
    FUZZ_CHECK(scan.end_offset == capacity);
  } else {
    // Ended at a zero length word: the end of what was written.
    FUZZ_CHECK(scan.end_offset == next_offset);
    // (Fewer than 4 bytes may be left; they are read zero-extended.)
    for (std::size_t k = next_offset; k < capacity && k < next_offset + 4; ++k) FUZZ_CHECK(seg[k] == std::byte{0});
  }
  return 0;
}
