// Delayed delivery: the delay topic and its pump, on a manual clock.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <limits>
#include <string>
#include <vector>

#include "tests/support/helpers.h"
#include "tests/support/manual_clock.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::text;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

struct Fixture {
  std::int64_t now = 1'700'000'000 * kSecond;
  std::unique_ptr<Engine> engine = Engine::open().value();
  Topic* target = engine->create_topic("jobs").value();
  std::unique_ptr<Subscriber> sub =
      target->subscribe(SubscriberOptions{.name = {}, .start = StartAt::earliest()}).value();
  std::unique_ptr<DelayPump> pump = DelayPump::open(*engine, *target, {.clock = [this] { return now; }}).value();

  std::vector<std::string> received() {
    std::vector<std::string> got;
    RecordView views[64];
    for (PollResult r; (r = sub->try_poll(views)).count != 0;)
      for (std::size_t i = 0; i < r.count; ++i) got.emplace_back(views[i].payload());
    return got;
  }
};

}  // namespace

TEST_CASE("a delayed record reaches subscribers only once it is due, with its envelope intact") {
  Fixture f;
  Header headers[] = {{"tenant", "acme"}};
  Message m = text("later");
  m.id = "job-1";
  m.key = "k";
  m.trace_id = "tr";
  m.headers = headers;
  REQUIRE(f.pump->publish_after(m, 5s).ok());
  CHECK(f.pump->pump().value() == 0);
  CHECK(f.pump->waiting() == 1);
  CHECK(f.pump->next_due() == f.now + 5 * kSecond);
  f.now += 5 * kSecond - 1;
  CHECK(f.pump->pump().value() == 0);
  CHECK(f.received().empty());
  f.now += 1;
  CHECK(f.pump->pump().value() == 1);
  CHECK(f.pump->waiting() == 0);

  RecordView views[4];
  REQUIRE(f.sub->try_poll(views).count == 1);
  CHECK(views[0].payload() == "later");
  CHECK(views[0].id() == "job-1");
  CHECK(views[0].key() == "k");
  CHECK(views[0].trace_id() == "tr");
  REQUIRE(views[0].header_count() == 1);
  CHECK(views[0].find_header("tenant") == "acme");
  CHECK_FALSE(views[0].find_header(kNotBeforeHeader).has_value());
}

TEST_CASE("delayed records are released in due-time order, ties in publish order, between ordinary records") {
  Fixture f;
  REQUIRE(f.pump->publish_at(text("c"), f.now + 30).ok());
  REQUIRE(f.pump->publish_at(text("a"), f.now + 10).ok());
  REQUIRE(f.pump->publish_at(text("b1"), f.now + 20).ok());
  REQUIRE(f.pump->publish_at(text("b2"), f.now + 20).ok());
  REQUIRE(f.target->publish("now-1").ok());
  f.now += 20;
  CHECK(f.pump->pump().value() == 3);
  REQUIRE(f.target->publish("now-2").ok());
  f.now += 100;
  CHECK(f.pump->pump().value() == 1);
  CHECK(f.received() == std::vector<std::string>{"now-1", "a", "b1", "b2", "now-2", "c"});
}

TEST_CASE("a record already due when published is released by the next pump") {
  Fixture f;
  REQUIRE(f.pump->publish_at(text("past"), f.now - kSecond).ok());
  REQUIRE(f.pump->publish_after(text("zero"), 0s).ok());
  CHECK(f.pump->pump().value() == 2);
  CHECK(f.received() == std::vector<std::string>{"past", "zero"});
}

TEST_CASE("a delay of centuries is never due, not an overflow into the past") {
  Fixture f;
  REQUIRE(f.pump->publish_after(text("never"), std::chrono::nanoseconds::max()).ok());
  CHECK(f.pump->pump().value() == 0);
  CHECK(f.pump->next_due() == std::numeric_limits<std::int64_t>::max());
  CHECK(f.received().empty());
}

TEST_CASE("a work group of the target gets a delayed record only when it is due") {
  Fixture f;
  auto consumer = f.target->work_group("workers").value()->consumer().value();
  REQUIRE(f.pump->publish_after(text("task"), 1s).ok());
  Delivery d[4];
  REQUIRE(f.pump->pump().ok());
  CHECK(consumer->try_poll(d).count == 0);
  f.now += kSecond;
  REQUIRE(f.pump->pump().value() == 1);
  REQUIRE(consumer->try_poll(d).count == 1);
  CHECK(d[0].record.payload() == "task");
  consumer->ack(d[0]);
}

TEST_CASE("a message that carries its own not-before header is refused and nothing is published") {
  Fixture f;
  Header headers[] = {{kNotBeforeHeader, "1"}};
  Message m = text("x");
  m.headers = headers;
  auto r = f.pump->publish_after(m, 1s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(f.pump->delay_topic().published() == 0);
}

TEST_CASE("a record put on the delay topic without a due time is released at once") {
  Fixture f;
  CHECK(f.pump->delay_topic().name() == "jobs.delay");
  REQUIRE(f.pump->delay_topic().publish("direct").ok());
  CHECK(f.pump->pump().value() == 1);
  CHECK(f.received() == std::vector<std::string>{"direct"});
}

TEST_CASE("a pump with no clock of its own runs on the engine's clock") {
  conduit::test::ManualClock clock;
  EngineOptions eo;
  eo.clock = clock.function();
  auto engine = Engine::open(eo).value();
  Topic* target = engine->create_topic("engine-clock").value();
  auto pump = DelayPump::open(*engine, *target).value();
  CHECK(engine->now_ns() == clock.now());
  Message m;
  m.payload = "later";
  REQUIRE(pump->publish_after(m, std::chrono::seconds(5)).ok());
  CHECK(pump->pump().value() == 0);
  CHECK(pump->next_due() == clock.now() + 5'000'000'000);  // due on the engine's clock
  clock.advance(std::chrono::seconds(5));
  CHECK(pump->pump().value() == 1);
  CHECK(target->published() == 1);
}
