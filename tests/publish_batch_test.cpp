// Topic::publish_batch: many messages per claim, in order, all or (on a bad
// message) none; split across segments; durable on a kSync topic.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/full_envelope.h"
#include "tests/support/helpers.h"

namespace conduit::test {
namespace {

std::vector<std::string> numbered(std::size_t n, std::size_t size = 16) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string p = "m" + std::to_string(i) + ":";
    p.resize(std::max(size, p.size()), 'x');
    out.push_back(std::move(p));
  }
  return out;
}

// Messages viewing `payloads`, which must outlive them (hence no temporaries).
std::vector<Message> messages_of(std::vector<std::string>&& payloads) = delete;
std::vector<Message> messages_of(const std::vector<std::string>& payloads) {
  std::vector<Message> ms;
  for (const std::string& p : payloads) ms.push_back(text(p));
  return ms;
}

}  // namespace

TEST_CASE("a batch is appended in order with consecutive sequences, every envelope field kept") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("batch").value();
  REQUIRE(t->publish("before").ok());
  const auto sent = numbered(100);
  std::vector<Message> ms = messages_of(sent);
  ms[7] = test::full_envelope(ms[7].payload);
  ms[9].timestamp_ns = 1234;
  std::vector<std::uint64_t> seqs(ms.size());
  const PublishBatchResult r = t->publish_batch(ms, seqs);
  REQUIRE(r.ok());
  CHECK(r.published == ms.size());
  for (std::size_t i = 0; i < seqs.size(); ++i) CHECK(seqs[i] == i + 1);

  std::vector<std::string> want{"before"};
  want.insert(want.end(), sent.begin(), sent.end());
  CHECK(payloads(t) == want);
  auto sub = t->subscribe({.name = {}, .start = StartAt::at(8)}).value();
  RecordView v[3];
  REQUIRE(sub->try_poll(v).count == 3);
  CHECK(v[0].id() == ms[7].id);
  CHECK(v[0].key() == ms[7].key);
  CHECK(v[0].correlation_id() == ms[7].correlation_id);
  CHECK(v[0].reply_to() == ms[7].reply_to);
  CHECK(v[0].trace_id() == ms[7].trace_id);
  CHECK(v[0].content_type() == ms[7].content_type);
  CHECK(v[0].schema_version() == ms[7].schema_version);
  CHECK(v[0].header_count() == ms[7].headers.size());
  CHECK(v[0].find_header("region") == std::optional<std::string_view>("eu-west-1"));
  // The records of one claim share the engine's stamp; a message's own
  // timestamp is kept.
  CHECK(v[1].timestamp_ns() == v[0].timestamp_ns());
  CHECK(v[0].timestamp_ns() != 0);
  CHECK(v[2].timestamp_ns() == 1234);
}

TEST_CASE("a batch of bare messages and one with only a schema version or a short payload keeps each form's fields") {
  // Bare messages of 24 B or more take the short form; a schema version, or
  // a payload under 24 B, needs the full one. The batch writes the short
  // form without testing each message again only when all of them take it.
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("batch").value();
  const auto sent = numbered(6, 40);
  std::vector<Message> ms = messages_of(sent);
  REQUIRE(t->publish_batch(ms).ok());  // all short
  ms[2].schema_version = 9;
  REQUIRE(t->publish_batch(ms).ok());  // one with a schema version
  ms[2].schema_version = 0;
  const std::string small = "tiny";
  ms[4].payload = small;
  REQUIRE(t->publish_batch(ms).ok());  // one with a short payload
  auto sub = t->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  RecordView v[18];
  REQUIRE(sub->try_poll(v).count == 18);
  for (std::size_t i = 0; i < 18; ++i) {
    CAPTURE(i);
    CHECK(v[i].sequence() == i);
    CHECK(v[i].payload() == (i == 16 ? small : sent[i % 6]));
    CHECK(v[i].schema_version() == (i == 8 ? 9u : 0u));
    CHECK(v[i].timestamp_ns() != 0);
  }
}

TEST_CASE("a batch with one message too large publishes none of it and names that message") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.max_payload_bytes = 100;
  Topic* t = engine->create_topic("batch", o).value();
  const std::string big(101, 'b');
  const auto sent = numbered(5);
  std::vector<Message> ms = messages_of(sent);
  ms[3] = text(big);
  const PublishBatchResult r = t->publish_batch(ms);
  CHECK(r.status.code() == Code::kTooLarge);
  CHECK(r.published == 0);
  CHECK(r.status.message().find("message 3 of the batch") != std::string::npos);
  CHECK(t->claimed() == 0);
  CHECK(payloads(t).empty());
}

TEST_CASE("a sequences span shorter than the batch is refused before anything is published") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("batch").value();
  const auto sent = numbered(4);
  std::vector<Message> ms = messages_of(sent);
  std::vector<std::uint64_t> seqs(3);
  const PublishBatchResult r = t->publish_batch(ms, seqs);
  CHECK(r.status.code() == Code::kInvalidArgument);
  CHECK(t->claimed() == 0);
}

TEST_CASE("a batch larger than a segment is split across segments and read back whole, in order") {
  auto engine = Engine::open().value();
  TopicOptions o = small_ring();
  o.ring_bytes = 8 * o.segment_bytes;
  Topic* t = engine->create_topic("batch", o).value();
  // 600 records of about 1 KiB: nearly four 160 KiB segments.
  const auto sent = numbered(600, 1000);
  std::vector<std::uint64_t> seqs(sent.size());
  const PublishBatchResult r = t->publish_batch(messages_of(sent), seqs);
  REQUIRE(r.ok());
  CHECK(r.published == sent.size());
  for (std::size_t i = 0; i < seqs.size(); ++i) REQUIRE(seqs[i] == i);
  CHECK(t->stats().segments >= 4);
  CHECK(read_dense_log(t, [&](std::uint64_t seq) { return sent[seq]; }) == sent.size());
}

TEST_CASE("publish_batch after close fails with kClosed and publishes nothing") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("batch").value();
  engine->close();
  const auto sent = numbered(3);
  const PublishBatchResult r = t->publish_batch(messages_of(sent));
  CHECK(r.status.code() == Code::kClosed);
  CHECK(r.published == 0);
}

TEST_CASE("on a dedup topic a batch drops the repeats of ids already published") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.dedup.max_ids = 100;
  Topic* t = engine->create_topic("batch", o).value();
  const std::vector<std::string> sent{"a", "b", "a again"};
  std::vector<Message> ms = messages_of(sent);
  ms[0].id = "A";
  ms[1].id = "B";
  ms[2].id = "A";
  std::vector<std::uint64_t> seqs(3);
  const PublishBatchResult r = t->publish_batch(ms, seqs);
  REQUIRE(r.ok());
  CHECK(seqs[0] == 0);
  CHECK(seqs[1] == 1);
  CHECK(seqs[2] == 0);  // the first "A"'s sequence
  CHECK(payloads(t) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("on a kSync topic publish_batch returns once the whole batch is durable, and it survives a reopen") {
  TempDir dir;
  const auto sent = numbered(300, 200);
  {
    auto engine = Engine::open({.data_dir = dir.path.string()}).value();
    Topic* t = engine->create_topic("batch", {.durability = Durability::kSync}).value();
    std::vector<std::uint64_t> seqs(sent.size());
    const PublishBatchResult r = t->publish_batch(messages_of(sent), seqs);
    REQUIRE(r.ok());
    CHECK(t->durable() > seqs.back());
  }
  auto engine = Engine::open({.data_dir = dir.path.string()}).value();
  Topic* t = engine->create_topic("batch", {.durability = Durability::kSync}).value();
  CHECK(read_dense_log(t, [&](std::uint64_t seq) { return sent[seq]; }) == sent.size());
}

TEST_CASE("every record of many batches is found by its sequence, across the index's populated chunks") {
  // 40,000 records: the index's first 16 Ki entries are mapped together
  // (Segment::prepare_index), then the next; each form of record (short,
  // full header, envelope) goes through the batch path.
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("many").value();
  const auto sent = numbered(40'000, 30);
  std::vector<Message> ms = messages_of(sent);
  for (std::size_t i = 0; i < ms.size(); i += 3) ms[i].payload = std::string_view(sent[i]).substr(0, 20);
  for (std::size_t i = 5; i < ms.size(); i += 97) ms[i].key = "k";
  for (std::size_t first = 0; first < ms.size(); first += 64) {
    const std::size_t n = std::min<std::size_t>(64, ms.size() - first);
    REQUIRE(t->publish_batch(std::span<const Message>(ms).subspan(first, n)).ok());
  }
  for (const std::uint64_t seq : {0ull, 1023ull, 1024ull, 16383ull, 16384ull, 17407ull, 17408ull, 32768ull, 39999ull}) {
    CAPTURE(seq);
    auto sub = t->subscribe({.name = {}, .start = StartAt::at(seq)}).value();
    RecordView v[1];
    REQUIRE(sub->try_poll(v).count == 1);
    CHECK(v[0].sequence() == seq);
    CHECK(v[0].payload() == ms[seq].payload);
    CHECK(v[0].key() == ms[seq].key);
  }
  CHECK(read_dense_log(t, [&](std::uint64_t seq) { return std::string(ms[seq].payload); }) == ms.size());
}

}  // namespace conduit::test
