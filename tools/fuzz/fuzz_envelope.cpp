// Fuzz target: the envelope and header codecs. The input chooses an envelope
// (strings, user headers, payload) and a segment header; each is encoded,
// decoded and compared, and one flipped byte must always be caught by the CRC.
// The input's first 64 bytes are also parsed as a raw segment header.
#include <conduit/inspect.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "record_checks.h"

namespace {

using namespace conduit;

// A string of the length the input asks for. Length bytes 0xfe and 0xff ask
// for a string at the 65535-byte limit and one byte over it, filled with one
// byte, so the limits are reachable from small inputs (and rare enough not
// to slow every run).
std::string take_string(fuzz::ByteReader& in) {
  const auto len = in.take<std::uint8_t>();
  if (len >= 0xfe)
    return std::string(inspect::kMaxFieldBytes + (len - 0xfe), static_cast<char>(in.take<std::uint8_t>()));
  return std::string(in.bytes(len));
}

void check_segment_header(fuzz::ByteReader& in) {
  inspect::SegmentHeader h;
  h.first_seq = in.take<std::uint64_t>();
  h.created_ns = in.take<std::int64_t>();
  h.capacity = in.take<std::uint64_t>();
  h.with_crc = (in.take<std::uint32_t>() & 1u) != 0;
  std::byte buf[inspect::kSegmentHeaderBytes];
  inspect::encode_segment_header(buf, h);
  auto back = inspect::decode_segment_header(buf);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back->version == inspect::kFormatVersion && back->first_seq == h.first_seq &&
             back->created_ns == h.created_ns && back->capacity == h.capacity && back->with_crc == h.with_crc);
  // Any one changed byte is caught (CRC32C detects every error burst of up to 32 bits).
  const std::size_t at = in.take<std::uint8_t>() % inspect::kSegmentHeaderBytes;
  const auto x = static_cast<std::byte>(in.take<std::uint8_t>() | 1);
  buf[at] ^= x;
  FUZZ_CHECK(!inspect::decode_segment_header(buf).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The raw header parser over the input's own bytes.
  if (size >= inspect::kSegmentHeaderBytes) {
    std::vector<std::byte> raw(inspect::kSegmentHeaderBytes);
    std::memcpy(raw.data(), data, raw.size());
    auto h = inspect::decode_segment_header(raw);
    if (h.ok())
      FUZZ_CHECK(h->version >= inspect::kOldestFormatVersion && h->version <= inspect::kFormatVersion);
    else
      FUZZ_CHECK(h.status().code() == Code::kCorruption && !h.status().message().empty());
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
  for (const std::string& s : strings) over_limit |= s.size() > inspect::kMaxFieldBytes;
  for (std::size_t i = 0; i < header_count; ++i)
    over_limit |= names[i].size() > inspect::kMaxFieldBytes || values[i].size() > inspect::kMaxFieldBytes;
  const std::size_t n = inspect::record_size(m);
  FUZZ_CHECK((n == 0) == over_limit);
  if (n == 0) {
    std::byte small[inspect::kRecordHeaderBytes];
    FUZZ_CHECK(inspect::encode_record(small, m, sequence, timestamp).status().code() == Code::kInvalidArgument);
    return 0;
  }

  // Encode into a segment, as a producer would, and read it back.
  const std::size_t capacity = inspect::kSegmentHeaderBytes + inspect::padded_size(n) + inspect::kRecordAlign;
  std::vector<std::byte> seg(capacity);
  const auto body = std::span<std::byte>(seg).subspan(inspect::kSegmentHeaderBytes);
  auto encoded = inspect::encode_record(body, m, sequence, timestamp, true);
  FUZZ_CHECK(encoded.ok() && *encoded == n);
  const auto length = static_cast<std::uint32_t>(n);
  const std::byte* rec = body.data();
  FUZZ_CHECK(inspect::decode_record(body, true).ok());
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
      if (names[k] == names[i]) {
        first = k;
        break;
      }
    FUZZ_CHECK(v.find_header(names[i]) == std::string_view(values[first]));
  }

  std::uint64_t seen = 0;
  auto scan = inspect::scan_segment(seg, sequence, true, [&](RecordView, std::uint64_t, std::size_t) { ++seen; });
  FUZZ_CHECK(!scan.damage && seen == 1 && scan.records == 1);

  // One changed byte after the CRC field: the scan must refuse the record.
  const std::size_t at = fuzz::kRecordSequenceOffset + flip % (length - fuzz::kRecordSequenceOffset);
  body[at] ^= static_cast<std::byte>((flip >> 24) | 1);
  scan = inspect::scan_segment(seg, sequence, true);
  FUZZ_CHECK(scan.damage.has_value() && scan.records == 0);
  FUZZ_CHECK(!inspect::decode_record(body, true).ok());
  return 0;
}
