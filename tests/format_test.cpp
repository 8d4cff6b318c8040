// The record and segment layout in persistence/format.h, byte for byte, as
// doc/log-format.md draws it.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <vector>

#include "persistence/crc32c.h"
#include "persistence/format.h"

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
      0x05, 0, 0, 0, 0, 0, 0, 0,                  // sequence
      0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17,  // timestamp
      2, 0, 0, 0, 0, 0, 0, 0,                     // payload length, schema version
      0, 0, 1, 0, 0, 0, 0, 0,                     // id, key, correlation, reply-to lengths
      0, 0, 0, 0, 1, 0, 0, 0,                     // trace, content type, header count, flags
      'k', 6, 0, 4, 0, 't', 'e', 'n', 'a', 'n', 't', 'a', 'c', 'm', 'e', 'h', 'i',
      0, 0, 0, 0, 0, 0, 0};                       // padding to 72
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
