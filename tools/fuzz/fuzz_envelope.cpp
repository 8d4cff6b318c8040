// Fuzz target: the envelope and header codecs. The input chooses an envelope
// (strings, user headers, payload) and a segment header; each is encoded,
// decoded and compared, and one flipped byte must always be caught by the CRC.
// The input's first 64 bytes are also parsed as a raw segment header.
#include <cstdint>
#include <string>
#include <vector>

#include "persistence/format.h"
#include "persistence/log_reader.h"
#include "tools/fuzz/fuzz_support.h"
#include "tools/fuzz/record_checks.h"

namespace {

using namespace conduit;

// A string of the length the input asks for. Length bytes 0xfe and 0xff ask
// for a string at the 65535-byte limit and one byte over it, filled with one
// byte, so the limits are reachable from small inputs (and rare enough not
// to slow every run).
std::string take_string(fuzz::ByteReader& in) {
  const auto len = in.take<std::uint8_t>();
  if (len >= 0xfe) return std::string(format::kMaxFieldBytes + (len - 0xfe), static_cast<char>(in.take<std::uint8_t>()));
  return std::string(in.bytes(len));
}

void check_segment_header(fuzz::ByteReader& in) {
  format::SegmentHeader h;
  h.first_seq = in.take<std::uint64_t>();
  h.created_ns = in.take<std::int64_t>();
  h.capacity = in.take<std::uint64_t>();
  h.flags = in.take<std::uint32_t>();
  std::byte buf[format::kSegmentHeaderSize];
  format::encode_segment_header(buf, h);
  format::SegmentHeader back;
  FUZZ_CHECK(format::decode_segment_header(buf, &back) == format::HeaderCheck::kOk);
  FUZZ_CHECK(back.version == format::kVersion && back.first_seq == h.first_seq &&
             back.created_ns == h.created_ns && back.capacity == h.capacity && back.flags == h.flags);
  // Any one changed byte is caught (CRC32C detects every error burst of up to 32 bits).
  const std::size_t at = in.take<std::uint8_t>() % format::kSegmentHeaderSize;
  const auto x = static_cast<std::byte>(in.take<std::uint8_t>() | 1);
  buf[at] ^= x;
  FUZZ_CHECK(format::decode_segment_header(buf, &back) != format::HeaderCheck::kOk);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The raw header parser over the input's own bytes.
  if (size >= format::kSegmentHeaderSize) {
    std::vector<std::byte> raw(format::kSegmentHeaderSize);
    std::memcpy(raw.data(), data, raw.size());
    format::SegmentHeader h;
    const format::HeaderCheck c = format::decode_segment_header(raw.data(), &h);
    FUZZ_CHECK(format::header_check_name(c) != nullptr);
    if (c == format::HeaderCheck::kOk) FUZZ_CHECK(h.version == format::kVersion);
  }

  fuzz::ByteReader in(data, size);
  check_segment_header(in);

  std::string strings[6];
  for (std::string& s : strings) s = take_string(in);
  const std::size_t header_count = in.take<std::uint8_t>() % 9;
  std::vector<std::string> names(header_count), values(header_count);
  std::vector<Header> headers(header_count);
  for (std::size_t i = 0; i < header_count; ++i) {
    names[i] = take_string(in);
    values[i] = take_string(in);
    headers[i] = {names[i], values[i]};
  }
  const auto schema = in.take<std::uint32_t>();
  const auto sequence = in.take<std::uint64_t>();
  const auto timestamp = in.take<std::int64_t>();
  const auto flip = in.take<std::uint32_t>();
  const std::string payload(in.rest());

  const Message m = fuzz::make_message(payload, strings, schema, headers);

  bool over_limit = false;
  for (const std::string& s : strings) over_limit |= s.size() > format::kMaxFieldBytes;
  for (std::size_t i = 0; i < header_count; ++i)
    over_limit |= names[i].size() > format::kMaxFieldBytes || values[i].size() > format::kMaxFieldBytes;
  const std::size_t n = format::encoded_size(m);
  FUZZ_CHECK((n == 0) == over_limit);
  if (n == 0) return 0;

  // Encode into a segment, as a producer would, and read it back.
  const std::size_t capacity = format::kSegmentHeaderSize + format::align_up(n) + format::kAlign;
  std::vector<std::byte> seg(capacity);
  const std::uint32_t length = format::encode_record(seg.data() + format::kSegmentHeaderSize, m, sequence, timestamp, true);
  FUZZ_CHECK(length == n);
  format::commit_length(seg.data() + format::kSegmentHeaderSize, length);
  const std::byte* rec = seg.data() + format::kSegmentHeaderSize;
  FUZZ_CHECK(format::record_fields_consistent(rec, length));
  fuzz::check_accepted_record(rec, length);

  const RecordView v(rec);
  FUZZ_CHECK(v.sequence() == sequence && v.timestamp_ns() == timestamp && v.schema_version() == schema);
  FUZZ_CHECK(v.payload() == payload && v.id() == strings[0] && v.key() == strings[1] &&
             v.correlation_id() == strings[2] && v.reply_to() == strings[3] && v.trace_id() == strings[4] &&
             v.content_type() == strings[5]);
  FUZZ_CHECK(v.header_count() == header_count);
  for (std::size_t i = 0; i < header_count; ++i) {
    FUZZ_CHECK(v.header(i).name == names[i] && v.header(i).value == values[i]);
    // The first header of a name wins.
    std::size_t first = i;
    for (std::size_t k = 0; k < i; ++k)
      if (names[k] == names[i]) { first = k; break; }
    FUZZ_CHECK(v.find_header(names[i]) == std::string_view(values[first]));
  }

  std::uint64_t seen = 0;
  auto scan = persistence::scan_segment(seg.data(), capacity, sequence, true, [&](std::uint64_t, std::size_t) { ++seen; });
  FUZZ_CHECK(!scan.problem && seen == 1 && scan.records == 1);

  // One changed byte after the CRC field: the scan must refuse the record.
  const std::size_t at = format::rec::kSequence + flip % (length - format::rec::kSequence);
  seg[format::kSegmentHeaderSize + at] ^= static_cast<std::byte>((flip >> 24) | 1);
  scan = persistence::scan_segment(seg.data(), capacity, sequence, true, nullptr);
  FUZZ_CHECK(scan.problem.has_value() && scan.records == 0);
  return 0;
}
