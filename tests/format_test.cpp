// The record and segment layout in common/format.h, byte for byte, as
// doc/log-format.md draws it.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <vector>

#include "common/crc32c.h"
#include "common/format.h"

using namespace conduit;

TEST_CASE("the worked example of doc/log-format.md encodes to exactly those bytes") {
  Header headers[] = {{"tenant", "acme"}};
  Message m;
  m.payload = "hi";
  m.key = "k";
  m.headers = headers;
  REQUIRE(format::encoded_size(m) == 65);
  std::vector<std::byte> buf(72, std::byte{0xee});
  std::memset(buf.data(), 0, 4);
  const std::uint32_t len = format::encode_record(buf.data(), m, 5, 1'700'000'000'000'000'000, true);
  CHECK(len == 65);
  const std::array<unsigned, 64> expected_from_8 = {
      0x05, 0,    0,    0,    0,    0,    0,    0,     // sequence
      0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17,  // timestamp
      2,    0,    0,    0,    0,    0,    0,    0,     // payload length, schema version
      0,    0,    1,    0,    0,    0,    0,    0,     // id, key, correlation, reply-to lengths
      0,    0,    0,    0,    1,    0,    0,    0,     // trace, content type, header count, flags
      'k',  6,    0,    4,    0,    't',  'e',  'n',  'a', 'n', 't', 'a',
      'c',  'm',  'e',  'h',  'i',  0,    0,    0,    0,   0,   0,   0};  // padding to 72
  for (std::size_t i = 0; i < expected_from_8.size(); ++i) {
    CAPTURE(i + 8);
    CHECK(static_cast<unsigned>(buf[8 + i]) == expected_from_8[i]);
  }
  CHECK(format::load<std::uint32_t>(buf.data() + 4) == crc32c::value(buf.data() + 8, 57));
  format::commit_length(buf.data(), len);
  CHECK(format::load_length(buf.data()) == 65);
  CHECK(format::record_fields_consistent(buf.data(), len));
  RecordView v(buf.data());
  CHECK(v.sequence() == 5);
  CHECK(v.key() == "k");
  CHECK(v.payload() == "hi");
  CHECK(v.find_header("tenant").value() == "acme");
}

TEST_CASE("the short-form example of doc/log-format.md encodes to exactly those bytes") {
  Message m;
  m.payload = "0123456789abcdef01234567";
  std::vector<std::byte> buf(48, std::byte{0xee});
  const std::uint32_t word = format::encode_record(buf.data(), m, 5, 1'700'000'000'000'000'000, true);
  format::store<std::uint32_t>(buf.data(), word);
  const std::array<unsigned, 24> expected = {0x30, 0, 0, 0x40, 0,    0,    0,    0,    0x05, 0,    0,    0,
                                             0,    0, 0, 0,    0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (i >= 4 && i < 8) continue;  // the CRC
    CAPTURE(i);
    CHECK(static_cast<unsigned>(buf[i]) == expected[i]);
  }
  CHECK(std::memcmp(buf.data() + 24, m.payload.data(), 24) == 0);
  CHECK(format::load<std::uint32_t>(buf.data() + 4) == crc32c::value(buf.data() + 8, 40));
}

TEST_CASE("a segment header round-trips and any flipped byte is caught") {
  std::byte buf[format::kSegmentHeaderSize];
  format::SegmentHeader h;
  h.first_seq = 42;
  h.created_ns = 7;
  h.capacity = 1 << 20;
  h.flags = format::kSegmentFlagCrc;
  format::encode_segment_header(buf, h);
  format::SegmentHeader out;
  REQUIRE(format::decode_segment_header(buf, &out) == format::HeaderCheck::kOk);
  CHECK(out.first_seq == 42);
  CHECK(out.capacity == (1u << 20));
  for (std::size_t i = 0; i < format::kSegmentHeaderSize; ++i) {
    CAPTURE(i);
    std::byte copy[format::kSegmentHeaderSize];
    std::memcpy(copy, buf, sizeof copy);
    copy[i] ^= std::byte{0x40};
    CHECK(format::decode_segment_header(copy, &out) != format::HeaderCheck::kOk);
  }
}

TEST_CASE("a field over 65535 bytes makes the record unencodable") {
  std::string big(70000, 'x');
  Message m;
  m.key = big;
  CHECK(format::encoded_size(m) == 0);
  m.key = {};
  m.payload = big;  // the payload's limit is the topic's, not the format's
  CHECK(format::encoded_size(m) == format::kShortHeaderSize + big.size());
  m.schema_version = 1;  // not in the short form
  CHECK(format::encoded_size(m) == format::kRecordHeaderSize + big.size());
}

TEST_CASE("field lengths that do not add up to the record length are rejected") {
  Message m;
  m.payload = "abc";
  std::vector<std::byte> buf(64);
  const std::uint32_t len = format::encode_record(buf.data(), m, 0, 1, false);
  CHECK(format::record_fields_consistent(buf.data(), len));
  CHECK_FALSE(format::record_fields_consistent(buf.data(), len + 8));
  format::store<std::uint32_t>(buf.data() + format::rec::kPayloadLen, 1000);
  CHECK_FALSE(format::record_fields_consistent(buf.data(), len));
}

TEST_CASE("a message with no envelope and a payload of 24 bytes or more takes the short form") {
  const std::string payload(64, 'p');
  Message m;
  m.payload = payload;
  REQUIRE(format::encoded_size(m) == 88);  // 24 + 64, where the full form takes 112
  std::vector<std::byte> buf(88, std::byte{0xee});
  std::memset(buf.data(), 0, 4);
  const std::uint32_t word = format::encode_record(buf.data(), m, 9, 1'700'000'000'000'000'000, true);
  CHECK(word == (88u | format::kShortFlag));
  CHECK(format::load<std::uint64_t>(buf.data() + 8) == 9);
  CHECK(format::load<std::int64_t>(buf.data() + 16) == 1'700'000'000'000'000'000);
  CHECK(std::memcmp(buf.data() + 24, payload.data(), payload.size()) == 0);
  CHECK(format::load<std::uint32_t>(buf.data() + 4) == crc32c::value(buf.data() + 8, 80));
  format::commit_length(buf.data(), word);
  CHECK((format::load_length(buf.data()) & format::kLengthMask) == 88);
  CHECK(format::record_fields_consistent(buf.data(), 88));
  const RecordView v(buf.data());
  CHECK(v.size_bytes() == 88);
  CHECK(v.sequence() == 9);
  CHECK(v.payload() == payload);
  CHECK(v.schema_version() == 0);
  CHECK(v.header_count() == 0);
  CHECK(!v.find_header("x").has_value());
  for (std::string_view s : {v.id(), v.key(), v.correlation_id(), v.reply_to(), v.trace_id(), v.content_type()}) {
    CHECK(s.empty());
    CHECK(s.data() == reinterpret_cast<const char*>(buf.data()) + 24);  // inside the record
  }
}

TEST_CASE("the full form stays for a short payload, a schema version or any envelope field") {
  const std::string p23(23, 'a'), p24(24, 'a');
  Header headers[] = {{"h", "v"}};
  Message m;
  m.payload = p23;
  CHECK(format::encoded_size(m) == format::kRecordHeaderSize + 23);  // 71: a short one would be 47
  m.payload = p24;
  CHECK(format::encoded_size(m) == format::kShortHeaderSize + 24);
  const auto full = [&](auto&& set) {
    Message x = m;
    set(x);
    CHECK(format::encoded_size(x) > format::kRecordHeaderSize + 24);
    CHECK(!format::short_form(x));
    std::vector<std::byte> buf(format::align_up(format::encoded_size(x)));
    CHECK((format::encode_record(buf.data(), x, 1, 1, false) & format::kShortFlag) == 0);
  };
  full([](Message& x) { x.id = "i"; });
  full([](Message& x) { x.key = "k"; });
  full([](Message& x) { x.correlation_id = "c"; });
  full([](Message& x) { x.reply_to = "r"; });
  full([](Message& x) { x.trace_id = "t"; });
  full([](Message& x) { x.content_type = "t"; });
  full([&](Message& x) { x.headers = headers; });
  CHECK(format::encoded_size([&] {
          Message x = m;
          x.schema_version = 2;
          return x;
        }()) == format::kRecordHeaderSize + 24);
}

TEST_CASE("a short-form record under 48 bytes is refused: no record is ever shorter") {
  // Crafted: S set, length 40 (a 16-byte payload), the CRC right. Segments
  // size their record index by 48-byte records, so a reader must refuse it.
  std::vector<std::byte> buf(48);
  format::store<std::uint64_t>(buf.data() + 8, 0);
  format::store<std::uint32_t>(buf.data() + 4, format::record_crc(buf.data(), 40));
  format::store<std::uint32_t>(buf.data(), 40u | format::kShortFlag);
  CHECK_FALSE(format::record_fields_consistent(buf.data(), 40));
}

TEST_CASE("segment headers of format versions 1 to 3 are read; others are refused") {
  std::byte buf[format::kSegmentHeaderSize];
  format::SegmentHeader h;
  h.capacity = 1 << 20;
  for (std::uint32_t version : {0u, 1u, 2u, 3u, 4u}) {
    CAPTURE(version);
    h.version = version;
    format::encode_segment_header(buf, h);
    format::SegmentHeader out;
    const bool read = version >= 1 && version <= 3;
    CHECK((format::decode_segment_header(buf, &out) == format::HeaderCheck::kOk) == read);
    if (read) CHECK(out.version == version);
  }
  CHECK(format::versions_read() == "1 to 3");
}
