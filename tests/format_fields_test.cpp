// The full form's envelope fields at every length the encoder copies
// differently (common/format.cpp copies fields of up to 64 bytes inline, in
// overlapping pieces), and each field's 65535-byte limit, checked by
// encoded_size() in one pass over the fields.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/format.h"

using namespace conduit;

namespace {

// `n` bytes that differ from each other and from field to field, so that a
// piece copied from the wrong place or to the wrong place shows. Each in a
// heap block of exactly `n` bytes: under AddressSanitizer a read past a
// field's end is caught.
struct Field {
  std::unique_ptr<char[]> bytes;
  std::size_t n;
  Field(std::size_t size, char first) : bytes(new char[size]), n(size) {
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>(first + i % 61);
  }
  operator std::string_view() const { return {bytes.get(), n}; }
};

}  // namespace

TEST_CASE("every field of 0 to 70 bytes is written intact, and nothing past the record") {
  constexpr auto kGuard = std::byte{0xee};
  for (std::size_t n = 0; n <= 70; ++n) {
    CAPTURE(n);
    const Field id(n, 'a'), key(70 - n, 'b'), corr(n / 2, 'c'), reply(n, 'd'), trace(n + 1, 'e'), type(n % 17, 'f'),
        name(n, 'g'), value(70 - n, 'h'), payload(n, 'i');
    const Header headers[] = {{name, value}, {value, name}, {"", ""}};
    const Message m{.payload = payload,
                    .id = id,
                    .key = key,
                    .correlation_id = corr,
                    .reply_to = reply,
                    .trace_id = trace,
                    .content_type = type,
                    .schema_version = 7,
                    .headers = headers};
    const std::size_t size = format::encoded_size(m);
    REQUIRE(size == format::kRecordHeaderSize + id.n + key.n + corr.n + reply.n + trace.n + type.n + 3 * 4 +
                        2 * (name.n + value.n) + payload.n);
    // The guard after the padded record must survive.
    std::vector<std::byte> buf(format::align_up(size) + 64, kGuard);
    format::store<std::uint32_t>(buf.data(), 0);
    const std::uint32_t word = format::encode_record(buf.data(), m, 9, 11, true);
    CHECK(word == size);
    for (std::size_t i = size; i < format::align_up(size); ++i) CHECK(buf[i] == std::byte{0});
    for (std::size_t i = format::align_up(size); i < buf.size(); ++i) CHECK(buf[i] == kGuard);
    format::commit_length(buf.data(), word);
    REQUIRE(format::record_fields_consistent(buf.data(), word));
    CHECK(format::load<std::uint32_t>(buf.data() + format::rec::kCrc) == format::record_crc(buf.data(), word));
    const RecordView v(buf.data());
    CHECK(v.payload() == payload);
    CHECK(v.id() == id);
    CHECK(v.key() == key);
    CHECK(v.correlation_id() == corr);
    CHECK(v.reply_to() == reply);
    CHECK(v.trace_id() == trace);
    CHECK(v.content_type() == type);
    CHECK(v.schema_version() == 7);
    REQUIRE(v.header_count() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(v.header(i).name == headers[i].name);
      CHECK(v.header(i).value == headers[i].value);
    }
  }
}

TEST_CASE("each string, header name and value may be 65535 bytes, not one more; likewise the header count") {
  const std::string most(format::kMaxFieldBytes, 'x'), over(format::kMaxFieldBytes + 1, 'x');
  std::string_view Message::*const strings[] = {&Message::id,       &Message::key,      &Message::correlation_id,
                                                &Message::reply_to, &Message::trace_id, &Message::content_type};
  for (auto field : strings) {
    Message m;
    m.*field = most;
    CHECK(format::encoded_size(m) == format::kRecordHeaderSize + most.size());
    m.*field = over;
    CHECK(format::encoded_size(m) == 0);
  }
  const std::string_view at[] = {most, "v", "n", most};
  for (std::size_t i = 0; i < 2; ++i) {
    CAPTURE(i);
    Header h[] = {{"a", "b"}, {at[2 * i], at[2 * i + 1]}};
    Message m;
    m.headers = h;
    CHECK(format::encoded_size(m) == format::kRecordHeaderSize + 4 + 2 + 4 + most.size() + 1);
    (i == 0 ? h[1].name : h[1].value) = over;
    CHECK(format::encoded_size(m) == 0);
  }
  std::vector<Header> many(format::kMaxFieldBytes);
  Message m;
  m.headers = many;
  CHECK(format::encoded_size(m) == format::kRecordHeaderSize + 4 * many.size());
  many.emplace_back();
  m.headers = many;
  CHECK(format::encoded_size(m) == 0);
}
