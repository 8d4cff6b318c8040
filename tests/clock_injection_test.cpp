// One clock: an injected EngineOptions::clock reaches every timestamp, timer
// and age the engine keeps. Each case moves only the manual clock, so a
// reading of the real clock anywhere on its path makes it fail: the real
// clock is years past ManualClock::kStart and barely moves during a test.
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <conduit/inspect.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/helpers.h"
#include "tests/support/manual_clock.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::ManualClock;
using conduit::test::text;

namespace {

constexpr std::int64_t kStart = ManualClock::kStart;
constexpr std::int64_t kHour = 3600'000'000'000;

struct Fixture {
  ManualClock clock;
  test::TempDir dir;
  std::unique_ptr<Engine> engine;

  Fixture() {
    EngineOptions o = test::engine_options(dir, false);
    o.clock = clock.function();
    engine = Engine::open(o).value();
  }
};

std::vector<std::int64_t> timestamps(Topic& t) {
  auto sub = t.subscribe(SubscriberOptions{.name = {}, .start = StartAt::earliest()}).value();
  std::vector<std::int64_t> out;
  RecordView v[64];
  for (PollResult r; (r = sub->try_poll(v)).count != 0;)
    for (std::size_t i = 0; i < r.count; ++i) out.push_back(v[i].timestamp_ns());
  return out;
}

// Publishes 1000-byte records until the topic has rolled into a new
// segment (stats().segments or earliest changed). false if it never did.
bool publish_until_roll(Topic& t) {
  const std::string payload(1000, 'x');
  const TopicStats before = t.stats();
  for (int i = 0; i < 10'000; ++i) {
    REQUIRE(t.publish(payload).ok());
    const TopicStats now = t.stats();
    if (now.segments != before.segments || now.earliest != before.earliest) return true;
  }
  return false;
}

// One delivery, or none.
std::optional<Delivery> poll_one(Consumer& c) {
  Delivery d[1];
  if (c.try_poll(d).count == 0) return std::nullopt;
  return d[0];
}

}  // namespace

TEST_CASE("publish, publish_batch and publishes through the dedup window are stamped on the injected clock") {
  Fixture f;
  Topic* plain = f.engine->create_topic("plain").value();
  TopicOptions with_dedup;
  with_dedup.dedup.max_ids = 16;
  Topic* dedup = f.engine->create_topic("dedup", with_dedup).value();

  Message a = text("a"), b = text("b");
  a.id = "id-a";  // with an id: through the dedup window on `dedup`
  b.id = "id-b";
  const Message batch[] = {text("no id"), b};
  for (Topic* t : {plain, dedup}) {
    const std::int64_t t0 = f.clock.now();
    REQUIRE(t->publish(a).ok());
    f.clock.advance(1s);
    REQUIRE(t->publish("no id").ok());
    f.clock.advance(1s);
    REQUIRE(t->publish_batch(batch).status.ok());
    const std::vector<std::int64_t> want = {t0, t0 + 1'000'000'000, t0 + 2'000'000'000, t0 + 2'000'000'000};
    CHECK(timestamps(*t) == want);
  }
}

TEST_CASE("dedup max_age is measured on the injected clock") {
  Fixture f;
  TopicOptions o;
  o.dedup.max_ids = 16;
  o.dedup.max_age = 10s;
  Topic* t = f.engine->create_topic("t", o).value();
  Message m = text("once");
  m.id = "order-1";
  REQUIRE(t->publish(m).value() == 0);
  std::this_thread::sleep_for(20ms);  // real time passing changes nothing
  f.clock.advance(10s);
  CHECK(t->publish(m).value() == 0);  // exactly max_age old: still a repeat
  f.clock.advance(1ns);
  CHECK(t->publish(m).value() == 1);  // older than max_age: published again
}

TEST_CASE("segment headers carry their creation time on the injected clock") {
  Fixture f;
  Topic* t = f.engine->create_topic("t", test::small_async()).value();  // the first segment: created
  // Let the persistence thread make the spare, so the roll below adopts it.
  const auto spare = f.dir.path / "topics" / "t" / ".spare";
  for (int i = 0; i < 10'000 && !std::filesystem::exists(spare); ++i) std::this_thread::sleep_for(1ms);
  CHECK(std::filesystem::exists(spare));
  f.clock.advance(1h);
  REQUIRE(publish_until_roll(*t));
  f.clock.advance(1h);
  REQUIRE(publish_until_roll(*t));  // the spare's or a new file, whichever is ready
  auto summary = inspect::summarize_topic(f.dir.path.string(), "t").value();
  REQUIRE(summary.segments.size() == 3);
  CHECK(summary.segments[0].created_ns == kStart);
  CHECK(summary.segments[1].created_ns == kStart + kHour);
  CHECK(summary.segments[2].created_ns == kStart + 2 * kHour);
}

TEST_CASE("retention by age ages segments on the injected clock") {
  Fixture f;
  TopicOptions o = test::small_async();
  o.retain_age = 60s;
  Topic* t = f.engine->create_topic("t", o).value();
  REQUIRE(publish_until_roll(*t));
  REQUIRE(publish_until_roll(*t));
  // Every segment was made at kStart, years before the real time: none is
  // too old on the injected clock.
  CHECK(t->stats().segments == 3);
  CHECK(t->stats().earliest == 0);
  f.clock.advance(60s + 1ns);
  REQUIRE(publish_until_roll(*t));
  // The roll made a fourth segment; the two whose successors were made more
  // than 60 s ago went.
  CHECK(t->stats().segments == 2);
  CHECK(t->stats().earliest != 0);
  CHECK(test::segment_files(f.dir.path / "topics" / "t") == 2);
}

TEST_CASE("a DelayPump without a clock of its own releases on the injected clock") {
  Fixture f;
  Topic* target = f.engine->create_topic("jobs").value();
  auto sub = target->subscribe(SubscriberOptions{.name = {}, .start = StartAt::earliest()}).value();
  auto pump = DelayPump::open(*f.engine, *target).value();
  REQUIRE(pump->publish_after(text("later"), 5s).ok());
  CHECK(pump->pump().value() == 0);
  CHECK(pump->next_due() == kStart + 5'000'000'000);
  f.clock.advance(5s - 1ns);
  CHECK(pump->pump().value() == 0);
  f.clock.advance(1ns);
  CHECK(pump->pump().value() == 1);
  RecordView v[2];
  CHECK(sub->try_poll(v).count == 1);
}

TEST_CASE("ack timeouts, backoff and dead-letter times run on the injected clock") {
  Fixture f;
  Topic* t = f.engine->create_topic("orders").value();
  REQUIRE(t->publish("order").ok());
  WorkGroupOptions o;
  o.ack_timeout = 10s;
  o.backoff_base = 3s;
  o.max_attempts = 3;
  WorkGroup* g = t->work_group("g", o).value();
  auto c = g->consumer().value();
  REQUIRE(poll_one(*c));
  std::this_thread::sleep_for(20ms);
  f.clock.advance(10s - 1ns);
  CHECK_FALSE(poll_one(*c));
  f.clock.advance(1ns);  // the ack timeout: attempt 1 failed, backoff 3 s
  CHECK_FALSE(poll_one(*c));
  f.clock.advance(3s);
  auto second = poll_one(*c);
  REQUIRE(second);
  CHECK(second->attempt == 2);
  CHECK(c->nack(*second));  // backoff 6 s
  f.clock.advance(6s - 1ns);
  CHECK_FALSE(poll_one(*c));
  f.clock.advance(1ns);
  auto third = poll_one(*c);
  REQUIRE(third);
  CHECK(third->attempt == 3);
  f.clock.advance(1s);
  CHECK(c->nack(*third));  // the last attempt: dead-lettered, stamped now
  auto dlq = f.engine->topic("orders.dlq").value();
  auto sub = dlq->subscribe(SubscriberOptions{.name = {}, .start = StartAt::earliest()}).value();
  RecordView v[1];
  REQUIRE(sub->try_poll(v).count == 1);
  CHECK(v[0].find_header(dlq_header::kFirstFailure) == std::to_string(kStart + 10'000'000'000));
  CHECK(v[0].find_header(dlq_header::kLastFailureTime) == std::to_string(kStart + 20'000'000'000));
}

TEST_CASE("a Requester without a clock of its own times requests out on the injected clock") {
  Fixture f;
  Topic* service = f.engine->create_topic("service").value();
  auto requester = Requester::open(*f.engine).value();
  const std::uint64_t n = requester->send(*service, text("ping"), 5s).value();
  Reply out[2];
  std::this_thread::sleep_for(20ms);
  CHECK(requester->poll(out) == 0);
  f.clock.advance(5s - 1ns);
  CHECK(requester->poll(out) == 0);
  f.clock.advance(1ns);
  REQUIRE(requester->poll(out) == 1);
  CHECK(out[0].request == n);
  CHECK(out[0].status.code() == Code::kTimedOut);
}
