// create_topic on an existing topic: every option is compared, and the
// error names the one that differs.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <functional>
#include <string>

#include "tests/support/helpers.h"

using namespace conduit;

namespace {

struct Change {
  const char* expected;  // the error's tail
  std::function<void(TopicOptions&)> apply;
};

}  // namespace

TEST_CASE("create_topic again with any one option changed is AlreadyExists naming that option") {
  test::TempDir dir;
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  REQUIRE(engine->create_topic("t", test::small_async()).ok());
  const Change changes[] = {
      {"durability is kAsync, not kSync", [](TopicOptions& o) { o.durability = Durability::kSync; }},
      {"segment_bytes is 262144, not 524288", [](TopicOptions& o) { o.segment_bytes = 512u << 10; }},
      {"max_payload_bytes is 1024, not 2048", [](TopicOptions& o) { o.max_payload_bytes = 2048; }},
      {"retain_bytes is 0, not 1048576", [](TopicOptions& o) { o.retain_bytes = 1u << 20; }},
      {"retain_age is 0 s, not 60 s", [](TopicOptions& o) { o.retain_age = std::chrono::seconds(60); }},
      {"retain_until_consumed is false, not true", [](TopicOptions& o) { o.retain_until_consumed = true; }},
      {"hard_cap_bytes is 0, not 1048576", [](TopicOptions& o) { o.hard_cap_bytes = 1u << 20; }},
      {"dedup.max_ids is 0, not 100", [](TopicOptions& o) { o.dedup.max_ids = 100; }},
      {"dedup.max_age is 0 ns, not 1000 ns", [](TopicOptions& o) { o.dedup.max_age = std::chrono::nanoseconds(1000); }},
      {"single_producer is false, not true", [](TopicOptions& o) { o.single_producer = true; }},
  };
  for (const Change& c : changes) {
    CAPTURE(c.expected);
    TopicOptions o = test::small_async();
    c.apply(o);
    const Status s = engine->create_topic("t", o).status();
    CHECK(s.code() == Code::kAlreadyExists);
    CHECK(s.message() == std::string("topic 't' exists with other options: ") + c.expected);
  }
  // The topic kept its own options.
  CHECK(engine->topic("t").value()->options().retain_bytes == 0);
}

TEST_CASE("create_topic again with the same options, as given or as normalized, returns the topic") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.max_payload_bytes = 1024;
  o.segment_bytes = 200000;  // rounded up to 4 KiB: 200704
  Topic* t = engine->create_topic("t", o).value();
  CHECK(t->options().segment_bytes == 200704);
  CHECK(engine->create_topic("t", o).value() == t);
  CHECK(engine->create_topic("t", t->options()).value() == t);
  Topic* d = engine->create_topic("d").value();  // segment_bytes 0: the default
  CHECK(engine->create_topic("d", d->options()).value() == d);
  CHECK(engine->create_topic("d").value() == d);
  // ring_bytes matters for a memory-only topic.
  TopicOptions bigger_ring;
  bigger_ring.ring_bytes = 2 * bigger_ring.ring_bytes;
  CHECK(engine->create_topic("d", bigger_ring).status().message() ==
        "topic 'd' exists with other options: ring_bytes is 67108864, not 134217728");
}
