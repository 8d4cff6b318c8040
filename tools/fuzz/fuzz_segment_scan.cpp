// Fuzz target: the log reader's scan of one segment over arbitrary bytes.
// The first input byte picks the mode (CRCs checked or not) and the first
// sequence; the rest are the segment's bytes after its 64-byte header. The
// scan must stay inside the segment, report only intact records in sequence
// order, and end where it says.
#include <conduit/inspect.h>

#include <cstdint>
#include <vector>

#include "fuzz_support.h"
#include "record_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace conduit;
  fuzz::ByteReader in(data, size);
  const auto mode = in.take<std::uint8_t>();
  const bool with_crc = (mode & 1) != 0;
  const std::uint64_t first_seq = mode >> 1;
  const std::string_view body = in.rest();
  // The header is not the scan's business (inspect::decode_segment_header
  // checks it); zeros stand in for it. Exactly as many bytes as the segment
  // has.
  const std::size_t capacity = inspect::kSegmentHeaderBytes + body.size();
  std::vector<std::byte> seg(capacity);
  if (!body.empty()) std::memcpy(seg.data() + inspect::kSegmentHeaderBytes, body.data(), body.size());

  std::uint64_t expected_index = 0;
  std::size_t next_offset = inspect::kSegmentHeaderBytes;
  const auto scan =
      inspect::scan_segment(seg, first_seq, with_crc, [&](RecordView view, std::uint64_t index, std::size_t offset) {
        fuzz::step_over_skips(seg.data(), index, &expected_index, &next_offset);
        FUZZ_CHECK(index == expected_index);
        FUZZ_CHECK(offset == next_offset);
        FUZZ_CHECK(offset % inspect::kRecordAlign == 0);
        const std::byte* rec = seg.data() + offset;
        FUZZ_CHECK(view.data() == rec);
        // The scan's verdict, reached again through the one-record decode.
        auto again = inspect::decode_record(std::span<const std::byte>(seg).subspan(offset), with_crc);
        FUZZ_CHECK(again.ok() && again->data() == rec);
        const std::uint32_t length = view.size_bytes();
        FUZZ_CHECK(offset + inspect::padded_size(length) <= capacity);
        FUZZ_CHECK(view.sequence() == first_seq + index);
        fuzz::check_accepted_record(rec, length);
        ++expected_index;
        next_offset = offset + inspect::padded_size(length);
      });
  if (scan.records > expected_index) fuzz::step_over_skips(seg.data(), scan.records, &expected_index, &next_offset);
  FUZZ_CHECK(scan.records == expected_index);
  FUZZ_CHECK(scan.end_offset <= capacity);
  if (scan.damage) {
    FUZZ_CHECK(!scan.sealed);
    FUZZ_CHECK(scan.damage->offset == next_offset && scan.end_offset == next_offset);
    FUZZ_CHECK(scan.damage_sequence == first_seq + scan.records);
    FUZZ_CHECK(!scan.damage->what.empty());
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
