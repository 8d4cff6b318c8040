// conduit/inspect.h: the format's building blocks over buffers, and the
// read-only inspection of a data directory an engine wrote. Public API only.
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <conduit/inspect.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/full_envelope.h"
#include "tests/support/helpers.h"

using namespace conduit;
using conduit::test::full_envelope;
using conduit::test::TempDir;

namespace {

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::vector<std::byte> encoded(const Message& m, std::uint64_t seq, bool with_crc = true) {
  std::vector<std::byte> buf(inspect::padded_size(inspect::record_size(m)));
  REQUIRE(inspect::encode_record(buf, m, seq, 1'700'000'000'000'000'000, with_crc).ok());
  return buf;
}

// A segment of `capacity` bytes starting at `first`, holding `records`.
std::vector<std::byte> segment(std::uint64_t first, std::size_t capacity,
                               const std::vector<std::vector<std::byte>>& records) {
  std::vector<std::byte> seg(capacity);
  inspect::SegmentHeader h;
  h.first_seq = first;
  h.capacity = capacity;
  inspect::encode_segment_header(seg, h);
  std::size_t off = inspect::kSegmentHeaderBytes;
  for (const auto& r : records) {
    std::memcpy(seg.data() + off, r.data(), r.size());
    off += r.size();
  }
  return seg;
}

}  // namespace

TEST_CASE("crc32c gives the standard check value with the instruction and with the table, and pieces compose") {
  const auto data = bytes_of("123456789");
  CHECK(inspect::crc32c(data) == 0xE3069283u);
  CHECK(inspect::crc32c_portable(data) == 0xE3069283u);
  CHECK(inspect::crc32c(data.subspan(4), inspect::crc32c(data.first(4))) == 0xE3069283u);
}

TEST_CASE("a record encoded with every envelope field decodes to the same fields") {
  const Message m = full_envelope("order 42");
  const auto buf = encoded(m, 42);
  auto v = inspect::decode_record(buf);
  REQUIRE(v.ok());
  CHECK(v->size_bytes() == inspect::record_size(m));
  CHECK(v->sequence() == 42);
  CHECK(v->timestamp_ns() == 1'700'000'000'000'000'000);
  CHECK(v->payload() == "order 42");
  CHECK(v->id() == m.id);
  CHECK(v->key() == m.key);
  CHECK(v->correlation_id() == m.correlation_id);
  CHECK(v->reply_to() == m.reply_to);
  CHECK(v->trace_id() == m.trace_id);
  CHECK(v->content_type() == m.content_type);
  CHECK(v->schema_version() == m.schema_version);
  REQUIRE(v->header_count() == m.headers.size());
  CHECK(v->find_header("region") == std::string_view("eu-west-1"));
}

TEST_CASE("a changed byte anywhere after the CRC field makes decode refuse the record as corrupt") {
  const auto good = encoded(full_envelope("payload"), 7);
  const std::size_t length = inspect::record_size(full_envelope("payload"));
  for (std::size_t i = 8; i < length; ++i) {
    auto bad = good;
    bad[i] ^= std::byte{0x01};
    auto v = inspect::decode_record(bad);
    REQUIRE_MESSAGE(!v.ok(), "byte " << i);
    CHECK(v.status().code() == Code::kCorruption);
  }
  // Without the CRC check a payload byte is not noticed; the fields still are checked.
  auto payload_changed = good;
  payload_changed[length - 1] ^= std::byte{0x01};
  CHECK(inspect::decode_record(payload_changed, false).ok());
}

TEST_CASE("decode finds no record in zeros or padding, and refuses a length longer than the bytes") {
  std::vector<std::byte> zeros(64);
  CHECK(inspect::decode_record(zeros).status().code() == Code::kNotFound);
  REQUIRE(inspect::encode_padding(zeros).ok());
  CHECK(inspect::decode_record(zeros).status().code() == Code::kNotFound);
  const auto rec = encoded(full_envelope("x"), 1);
  CHECK(inspect::decode_record(std::span(rec).first(rec.size() - 8)).status().code() == Code::kCorruption);
}

TEST_CASE("encode refuses a buffer too small and a field over its limit, writing nothing past the buffer") {
  const Message m = full_envelope("payload");
  std::vector<std::byte> small(inspect::padded_size(inspect::record_size(m)) - 8);
  CHECK(inspect::encode_record(small, m, 1, 1).status().code() == Code::kInvalidArgument);
  const std::string huge(inspect::kMaxFieldBytes + 1, 'k');
  Message over;
  over.key = huge;
  CHECK(inspect::record_size(over) == 0);
  std::vector<std::byte> big(1 << 17);
  CHECK(inspect::encode_record(big, over, 1, 1).status().code() == Code::kInvalidArgument);
  std::vector<std::byte> odd(12);
  CHECK(inspect::encode_padding(odd).code() == Code::kInvalidArgument);
}

TEST_CASE("a segment header round-trips, and a damaged one is refused saying why") {
  inspect::SegmentHeader h;
  h.first_seq = 1000;
  h.created_ns = 123;
  h.capacity = 1 << 16;
  h.with_crc = false;
  std::byte buf[inspect::kSegmentHeaderBytes];
  inspect::encode_segment_header(buf, h);
  auto back = inspect::decode_segment_header(buf);
  REQUIRE(back.ok());
  CHECK(back->version == inspect::kFormatVersion);
  CHECK(back->first_seq == 1000);
  CHECK(back->created_ns == 123);
  CHECK(back->capacity == (1u << 16));
  CHECK(!back->with_crc);
  buf[0] ^= std::byte{1};
  CHECK(inspect::decode_segment_header(buf).status().message().find("magic") != std::string::npos);
  buf[0] ^= std::byte{1};
  buf[20] ^= std::byte{1};
  CHECK(inspect::decode_segment_header(buf).status().message().find("CRC") != std::string::npos);
  CHECK(inspect::decode_segment_header(std::span(buf).first(63)).status().code() == Code::kCorruption);
}

TEST_CASE("a segment scan sees each record with its index and offset, and stops at damage naming offset and sequence") {
  const auto r0 = encoded(full_envelope("a"), 10), r1 = encoded(full_envelope("bb"), 11),
             r2 = encoded(full_envelope("c"), 12);
  auto seg = segment(10, 4096, {r0, r1, r2});
  std::vector<std::size_t> offsets;
  auto scan = inspect::scan_segment(seg, 10, true, [&](RecordView v, std::uint64_t index, std::size_t offset) {
    CHECK(v.sequence() == 10 + index);
    offsets.push_back(offset);
  });
  CHECK(scan.records == 3);
  CHECK(!scan.damage);
  CHECK(!scan.sealed);
  CHECK(offsets == std::vector<std::size_t>{64, 64 + r0.size(), 64 + r0.size() + r1.size()});
  CHECK(scan.end_offset == 64 + r0.size() + r1.size() + r2.size());

  seg[offsets[1] + 30] ^= std::byte{0x40};  // inside the second record
  scan = inspect::scan_segment(seg, 10, true);
  CHECK(scan.records == 1);
  REQUIRE(scan.damage);
  CHECK(scan.damage->offset == offsets[1]);
  CHECK(scan.damage_sequence == 11);
  CHECK(scan.damage->what.find("CRC") != std::string::npos);
}

TEST_CASE("summary, verification and TopicReader of an engine's log agree on records, files and offsets") {
  TempDir dir;
  const std::string data_dir = dir.path.string();
  {
    EngineOptions eo;
    eo.data_dir = data_dir;
    auto engine = Engine::open(eo).value();
    TopicOptions o;
    o.durability = Durability::kAsync;
    o.segment_bytes = 160u << 10;  // the smallest with this max_payload_bytes
    o.max_payload_bytes = 1024;
    Topic* t = engine->create_topic("ledger", o).value();
    const std::string payload(900, 'x');
    for (int i = 0; i < 500; ++i) REQUIRE(t->publish(full_envelope(payload)).ok());
    engine->close();
  }
  auto topics = inspect::list_topics(data_dir);
  REQUIRE(topics.ok());
  CHECK(*topics == std::vector<std::string>{"ledger"});

  auto summary = inspect::summarize_topic(data_dir, "ledger");
  REQUIRE(summary.ok());
  CHECK(summary->records() == 500);
  REQUIRE(summary->segments.size() >= 3);  // 500 records of about 1 KiB in 160 KiB segments
  REQUIRE(summary->control);
  CHECK(summary->control->clean);
  CHECK(summary->control->durable == 500);
  for (const auto& s : summary->segments) {
    CHECK(s.with_crc);
    CHECK(s.created_ns > 0);
    CHECK(s.capacity == (160u << 10));
    CHECK(s.problem.empty());
  }

  const auto v = inspect::verify_topic(data_dir, "ledger");
  CHECK(v.problems.empty());
  CHECK(v.records == 500);
  CHECK(v.end_seq == 500);

  auto reader = inspect::TopicReader::open(data_dir, "ledger");
  REQUIRE(reader.ok());
  std::uint64_t want = 0;
  for (;;) {
    auto step = (*reader)->next();
    REQUIRE(step.ok());
    if (step->kind == inspect::TopicReader::Step::kEnd) break;
    REQUIRE(step->kind == inspect::TopicReader::Step::kRecord);
    CHECK(step->record.sequence() == want++);
    // The file and offset it names hold exactly that record.
    std::ifstream f(step->file, std::ios::binary);
    std::vector<char> bytes(step->record.size_bytes());
    f.seekg(static_cast<std::streamoff>(step->offset));
    f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(f.good());
    CHECK(std::memcmp(bytes.data(), step->record.data(), bytes.size()) == 0);
  }
  CHECK(want == 500);
  CHECK(inspect::TopicReader::open(data_dir, "nope").status().code() == Code::kNotFound);
  CHECK(inspect::summarize_topic(data_dir, "nope").status().code() == Code::kNotFound);
}
