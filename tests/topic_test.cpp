#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <string>
#include <vector>

using namespace conduit;

TEST_CASE("a published record reaches a subscriber with every envelope field intact") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("orders").value();
  auto sub = topic->subscribe({.start = StartAt::earliest()}).value();
  Header headers[] = {{"tenant", "acme"}, {"retry", ""}};
  Message m;
  m.payload = "hello";
  m.id = "msg-1";
  m.key = "k";
  m.correlation_id = "corr";
  m.reply_to = "replies";
  m.trace_id = "trace";
  m.content_type = "text/plain";
  m.schema_version = 7;
  m.headers = headers;
  m.timestamp_ns = 1234;
  REQUIRE(topic->publish(m).value() == 0);
  RecordView out[4];
  PollResult r = sub->try_poll(out);
  REQUIRE(r.count == 1);
  CHECK(out[0].sequence() == 0);
  CHECK(out[0].payload() == "hello");
  CHECK(out[0].id() == "msg-1");
  CHECK(out[0].key() == "k");
  CHECK(out[0].correlation_id() == "corr");
  CHECK(out[0].reply_to() == "replies");
  CHECK(out[0].trace_id() == "trace");
  CHECK(out[0].content_type() == "text/plain");
  CHECK(out[0].schema_version() == 7);
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
  auto sub = topic->subscribe({.start = StartAt::earliest()}).value();
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
