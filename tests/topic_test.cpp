#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <string>
#include <vector>

#include "tests/support/full_envelope.h"

using namespace conduit;

namespace {

SubscriberOptions from(StartAt start) {
  SubscriberOptions o;
  o.start = start;
  return o;
}

}  // namespace

TEST_CASE("a published record reaches a subscriber with every envelope field intact") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("orders").value();
  auto sub = topic->subscribe(from(StartAt::earliest())).value();
  // A header with an empty value too.
  Header headers[] = {{"tenant", "acme"}, {"retry", ""}};
  Message m = test::full_envelope("hello");
  m.headers = headers;
  m.timestamp_ns = 1234;
  REQUIRE(topic->publish(m).value() == 0);
  RecordView out[4];
  PollResult r = sub->try_poll(out);
  REQUIRE(r.count == 1);
  CHECK(out[0].sequence() == 0);
  CHECK(out[0].payload() == "hello");
  CHECK(out[0].id() == m.id);
  CHECK(out[0].key() == m.key);
  CHECK(out[0].correlation_id() == m.correlation_id);
  CHECK(out[0].reply_to() == m.reply_to);
  CHECK(out[0].trace_id() == m.trace_id);
  CHECK(out[0].content_type() == m.content_type);
  CHECK(out[0].schema_version() == m.schema_version);
  CHECK(out[0].timestamp_ns() == 1234);
  REQUIRE(out[0].header_count() == 2);
  CHECK(out[0].header(0).name == "tenant");
  CHECK(out[0].find_header("tenant").value() == "acme");
  CHECK(out[0].find_header("retry").value() == "");
  CHECK_FALSE(out[0].find_header("nope").has_value());
}

TEST_CASE("records cross many segment rolls in order") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.segment_bytes = 256 << 10;
  o.max_payload_bytes = 1000;
  o.ring_bytes = 1 << 20;
  Topic* topic = engine->create_topic("t", o).value();
  auto sub = topic->subscribe(from(StartAt::earliest())).value();
  std::uint64_t next = 0;
  std::vector<RecordView> out(100);
  for (int i = 0; i < 200000; ++i) {
    std::string p = std::to_string(i);
    REQUIRE(topic->publish(p).value() == static_cast<std::uint64_t>(i));
    if (i % 50 == 0) {
      for (;;) {
        PollResult r = sub->try_poll(out);
        REQUIRE(r.lost == 0);
        for (std::size_t k = 0; k < r.count; ++k) {
          REQUIRE(out[k].sequence() == next);
          REQUIRE(out[k].payload() == std::to_string(next));
          ++next;
        }
        if (r.count == 0) break;
      }
    }
  }
  CHECK(topic->published() == 200000);
}

// ------------------------------------------------------------ topic names ---

TEST_CASE("an empty topic name is refused") {
  auto engine = Engine::open().value();
  CHECK(engine->create_topic("").status().code() == Code::kInvalidArgument);
  CHECK(validate_topic_name("").code() == Code::kInvalidArgument);
}

TEST_CASE("a topic name of 201 characters is refused") {
  auto engine = Engine::open().value();
  CHECK(engine->create_topic(std::string(201, 'a')).status().code() == Code::kInvalidArgument);
}

TEST_CASE("a topic name starting with a dot is refused") {
  auto engine = Engine::open().value();
  CHECK(engine->create_topic(".hidden").status().code() == Code::kInvalidArgument);
  CHECK(engine->create_topic(".").status().code() == Code::kInvalidArgument);
}

TEST_CASE("a topic name with a character outside [A-Za-z0-9._-] is refused") {
  auto engine = Engine::open().value();
  const std::string names[] = {"a/b", "a b", "caf\xc3\xa9", "a\\b", "a:b", "a*", std::string("a\0b", 3)};
  for (const std::string& name : names) {
    CAPTURE(name);
    CHECK(engine->create_topic(name).status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("a topic name of 200 characters from [A-Za-z0-9._-] is accepted") {
  auto engine = Engine::open().value();
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
  std::string name;
  while (name.size() < 200) name += alphabet[name.size() % alphabet.size()];
  CHECK(validate_topic_name(name).ok());
  auto t = engine->create_topic(name);
  REQUIRE(t.ok());
  CHECK((*t)->name() == name);
  CHECK(engine->create_topic("a.b_c-D9").ok());
}

// ------------------------------------------------------- topic registry ---

TEST_CASE("creating a topic twice with the same options returns the same topic") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.max_payload_bytes = 4096;
  Topic* first = engine->create_topic("t", o).value();
  Topic* second = engine->create_topic("t", o).value();
  CHECK(first == second);
}

TEST_CASE("creating a topic twice with different options fails with AlreadyExists") {
  auto engine = Engine::open().value();
  REQUIRE(engine->create_topic("t").ok());
  TopicOptions o;
  o.ring_bytes = 2 * o.ring_bytes;
  CHECK(engine->create_topic("t", o).status().code() == Code::kAlreadyExists);
}

TEST_CASE("looking up a topic that was never created fails with NotFound") {
  auto engine = Engine::open().value();
  CHECK(engine->topic("missing").status().code() == Code::kNotFound);
  Topic* t = engine->create_topic("present").value();
  CHECK(engine->topic("present").value() == t);
}

TEST_CASE("a segment too small for two of the largest records is refused") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.max_payload_bytes = 1u << 20;
  o.segment_bytes = 1u << 20;  // needs about 2 * (1 MiB + 64 KiB)
  CHECK(engine->create_topic("small", o).status().code() == Code::kInvalidArgument);
  o.segment_bytes = 3u << 20;
  CHECK(engine->create_topic("fits", o).ok());
}

TEST_CASE("a segment under 64 KiB is refused") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.max_payload_bytes = 16;
  o.segment_bytes = 32u << 10;
  CHECK(engine->create_topic("tiny", o).status().code() == Code::kInvalidArgument);
}

TEST_CASE("a max_payload_bytes over 256 MiB is refused") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.max_payload_bytes = (256u << 20) + 1;
  o.segment_bytes = 512u << 20;
  CHECK(engine->create_topic("huge", o).status().code() == Code::kInvalidArgument);
}

// ---------------------------------------------------------------- publish ---

TEST_CASE("a payload over max_payload_bytes fails with TooLarge and publishes nothing") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.max_payload_bytes = 100;
  o.segment_bytes = 256u << 10;
  Topic* topic = engine->create_topic("t", o).value();
  auto sub = topic->subscribe(from(StartAt::earliest())).value();
  REQUIRE(topic->publish("before").ok());
  const std::uint64_t published = topic->published();
  const std::uint64_t claimed = topic->claimed();
  auto r = topic->publish(std::string(101, 'x'));
  CHECK(r.status().code() == Code::kTooLarge);
  CHECK(topic->published() == published);
  CHECK(topic->claimed() == claimed);
  RecordView out[4];
  PollResult p = sub->try_poll(out);
  REQUIRE(p.count == 1);
  CHECK(out[0].payload() == "before");
  CHECK(sub->try_poll(out).count == 0);
  CHECK(topic->publish("after").value() == 1);  // the failed publish took no sequence
}

TEST_CASE("a payload of exactly max_payload_bytes is published") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.max_payload_bytes = 100;
  o.segment_bytes = 256u << 10;
  Topic* topic = engine->create_topic("t", o).value();
  auto sub = topic->subscribe(from(StartAt::earliest())).value();
  const std::string payload(100, 'y');
  REQUIRE(topic->publish(payload).value() == 0);
  RecordView out[1];
  REQUIRE(sub->try_poll(out).count == 1);
  CHECK(out[0].payload() == payload);
}

TEST_CASE("an envelope field over 65535 bytes fails with TooLarge naming the field and publishes nothing") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  const std::string big(65536, 'k');
  Message m;
  m.payload = "p";
  m.key = big;
  Status s = topic->publish(m).status();
  CHECK(s.code() == Code::kTooLarge);
  CHECK(s.message() == "topic 't': key of 65536 bytes is over the field limit (65535)");
  m.key = {};
  Header h[] = {{"tenant", "a"}, {"name", big}};
  m.headers = h;
  s = topic->publish(m).status();
  CHECK(s.code() == Code::kTooLarge);
  CHECK(s.message() == "topic 't': header 1 'name': value of 65536 bytes is over the field limit (65535)");
  CHECK(topic->published() == 0);
  CHECK(topic->claimed() == 0);
}

TEST_CASE("fields each within 65535 bytes but over 64 KiB together fail with TooLarge naming the sum and the largest") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  const std::string id(40000, 'i');
  const std::string trace(30000, 't');
  Message m;
  m.payload = "p";
  m.id = id;
  m.trace_id = trace;
  const Status s = topic->publish(m).status();
  CHECK(s.code() == Code::kTooLarge);
  CHECK(s.message() ==
        "topic 't': envelope (every field but the payload) of 70000 bytes is over the limit (65536); "
        "the largest field is id (40000 bytes)");
  Message ok;
  ok.payload = "ok";
  std::vector<Message> batch(3, ok);
  batch[2] = m;
  const PublishBatchResult r = topic->publish_batch(batch);
  CHECK(r.status.code() == Code::kTooLarge);
  CHECK(r.status.message().starts_with("topic 't': message 2 of the batch: envelope (every field"));
  CHECK(topic->claimed() == 0);
}

TEST_CASE("an envelope field of exactly 65535 bytes is published intact") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  auto sub = topic->subscribe(from(StartAt::earliest())).value();
  const std::string id(65535, 'i');
  Message m;
  m.payload = "p";
  m.id = id;
  REQUIRE(topic->publish(m).value() == 0);
  RecordView out[1];
  REQUIRE(sub->try_poll(out).count == 1);
  CHECK(out[0].id() == id);
  CHECK(out[0].payload() == "p");
}

TEST_CASE("a 1 MiB payload round-trips byte for byte") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();  // defaults: max_payload_bytes is 1 MiB
  auto sub = topic->subscribe(from(StartAt::earliest())).value();
  std::string payload(1u << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>((i * 131) ^ (i >> 9));
  for (int i = 0; i < 20; ++i) REQUIRE(topic->publish(payload).value() == static_cast<std::uint64_t>(i));
  RecordView out[32];
  std::size_t received = 0;
  for (PollResult r = sub->try_poll(out); r.count != 0; r = sub->try_poll(out)) {
    CHECK(r.lost == 0);
    for (std::size_t k = 0; k < r.count; ++k) {
      CHECK(out[k].sequence() == received);
      CHECK(out[k].payload() == payload);
      ++received;
    }
  }
  CHECK(received == 20);
}

TEST_CASE("publishing after the engine closed fails with Closed") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  REQUIRE(topic->publish("x").ok());
  engine->close();
  CHECK(engine->closed());
  CHECK(topic->publish("y").status().code() == Code::kClosed);
  CHECK(topic->published() == 1);
  CHECK(topic->subscribe().status().code() == Code::kClosed);
  CHECK(engine->create_topic("u").status().code() == Code::kClosed);
}

// --------------------------------------------------------------- start at ---

namespace {

std::vector<std::uint64_t> drain_sequences(Subscriber& sub) {
  std::vector<std::uint64_t> seqs;
  RecordView out[16];
  for (PollResult r = sub.try_poll(out); r.count != 0; r = sub.try_poll(out))
    for (std::size_t k = 0; k < r.count; ++k) seqs.push_back(out[k].sequence());
  return seqs;
}

}  // namespace

TEST_CASE("a subscriber starting at earliest reads every record from the first") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  for (int i = 0; i < 5; ++i) REQUIRE(topic->publish(std::to_string(i)).ok());
  auto sub = topic->subscribe(from(StartAt::earliest())).value();
  CHECK(sub->position() == 0);
  CHECK(drain_sequences(*sub) == std::vector<std::uint64_t>{0, 1, 2, 3, 4});
}

TEST_CASE("a subscriber starting at latest reads only records published after it subscribed") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  for (int i = 0; i < 5; ++i) REQUIRE(topic->publish(std::to_string(i)).ok());
  auto sub = topic->subscribe(from(StartAt::latest())).value();
  CHECK(sub->position() == 5);
  CHECK(drain_sequences(*sub).empty());
  REQUIRE(topic->publish("5").ok());
  REQUIRE(topic->publish("6").ok());
  CHECK(drain_sequences(*sub) == std::vector<std::uint64_t>{5, 6});
}

TEST_CASE("a subscriber starting at a sequence reads from that record on") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  for (int i = 0; i < 5; ++i) REQUIRE(topic->publish(std::to_string(i)).ok());
  auto sub = topic->subscribe(from(StartAt::at(3))).value();
  CHECK(sub->position() == 3);
  RecordView out[8];
  PollResult r = sub->try_poll(out);
  REQUIRE(r.count == 2);
  CHECK(r.lost == 0);
  CHECK(out[0].payload() == "3");
  CHECK(out[1].payload() == "4");
}

TEST_CASE("a subscriber starting at a sequence not yet published receives that record once it is") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  REQUIRE(topic->publish("0").ok());
  auto sub = topic->subscribe(from(StartAt::at(3))).value();
  RecordView out[4];
  CHECK(sub->try_poll(out).count == 0);
  for (int i = 1; i < 5; ++i) REQUIRE(topic->publish(std::to_string(i)).ok());
  PollResult r = sub->try_poll(out);
  REQUIRE(r.count == 2);
  CHECK(r.lost == 0);
  CHECK(out[0].payload() == "3");
  CHECK(out[1].payload() == "4");
}

TEST_CASE("a subscriber starting at latest just before a segment rolls receives the next record") {
  // Each iteration subscribes at latest, polls (nothing yet), and publishes
  // one record; over several segments, some iteration waits exactly at a
  // segment's end, and its record is the first of the next segment.
  auto engine = Engine::open().value();
  TopicOptions o;
  o.max_payload_bytes = 2048;
  o.segment_bytes = 160u << 10;
  Topic* topic = engine->create_topic("t", o).value();
  const std::string payload(2000, 'r');
  for (int i = 0; i < 300; ++i) {
    CAPTURE(i);
    auto sub = topic->subscribe(from(StartAt::latest())).value();
    RecordView out[2];
    REQUIRE(sub->try_poll(out).count == 0);  // the subscriber is now waiting at its position
    const std::uint64_t seq = topic->publish(payload).value();
    PollResult r = sub->try_poll(out);
    REQUIRE(r.count == 1);
    CHECK(out[0].sequence() == seq);
  }
}

// -------------------------------------------------------------------- lag ---

TEST_CASE("a subscriber's lag is the records published that it has not read") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  auto sub = topic->subscribe(from(StartAt::earliest())).value();
  CHECK(sub->lag() == 0);
  for (int i = 0; i < 10; ++i) REQUIRE(topic->publish("x").ok());
  CHECK(sub->lag() == 10);
  RecordView out[4];
  REQUIRE(sub->try_poll(out).count == 4);
  CHECK(sub->position() == 4);
  CHECK(sub->lag() == 6);
  while (sub->try_poll(out).count != 0) {}
  CHECK(sub->lag() == 0);
  CHECK(sub->position() == 10);
}

TEST_CASE("the watermarks of a fresh topic are all zero and move together with publishes") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  CHECK(topic->published() == 0);
  CHECK(topic->claimed() == 0);
  CHECK(topic->earliest() == 0);
  for (int i = 0; i < 3; ++i) REQUIRE(topic->publish("x").ok());
  CHECK(topic->published() == 3);
  CHECK(topic->claimed() == 3);
  CHECK(topic->earliest() == 0);
}
