// Work queues without surprises: the dead-letter topic exists from the
// group's creation, a dispatcher's dead letter carries its reason, a group
// can be waited on until drained, and a DelayPump's clean close commits
// what it released.
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <conduit/delay.h>
#include <conduit/dispatcher.h>
#include <conduit/inspect.h>

#include <chrono>
#include <string>

#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;

namespace {

// The delay pump's committed position on "<target>.delay", as read from disk.
std::optional<std::uint64_t> pump_position(const test::TempDir& dir, const std::string& target) {
  auto t = inspect::summarize_topic(dir.path.string(), target + ".delay").value();
  for (const auto& p : t.positions)
    if (p.name == "conduit.delay-pump") return p.position;
  return std::nullopt;
}

}  // namespace

TEST_CASE("the dead-letter topic exists from the group's creation when dead letters can come unasked") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("jobs").value();
  WorkGroupOptions by_count;
  by_count.max_attempts = 3;
  REQUIRE(t->work_group("by-count", by_count).ok());
  auto dlq = engine->topic("jobs.dlq");
  REQUIRE_MESSAGE(dlq.ok(), dlq.status().to_string());
  CHECK((*dlq)->subscribe().ok());  // subscribing early works

  WorkGroupOptions at_once;
  at_once.on_failure = WorkGroupOptions::OnFailure::kDeadLetter;
  at_once.dead_letter_topic = "jobs.failed";
  REQUIRE(t->work_group("at-once", at_once).ok());
  CHECK(engine->topic("jobs.failed").ok());

  // Dead letters only by an explicit Consumer::dead_letter: created on first use.
  Topic* quiet = engine->create_topic("quiet").value();
  REQUIRE(quiet->work_group("plain").ok());
  CHECK(engine->topic("quiet.dlq").status().code() == Code::kNotFound);

  // A dead-letter topic that cannot exist is an error at creation, naming it.
  WorkGroupOptions bad;
  bad.max_attempts = 1;
  bad.dead_letter_topic = "x";
  REQUIRE(engine->create_topic("x", test::small_ring()).ok());  // other options: used as it is
  CHECK(t->work_group("reuses-x", bad).ok());
  Topic* long_name = engine->create_topic(std::string(197, 'n')).value();
  const Status s = long_name->work_group("g", by_count).status();
  CHECK(s.code() == Code::kInvalidArgument);
  std::string expected = "work group 'g': dead-letter topic '";
  expected.append(197, 'n').append(".dlq': ");
  CHECK(s.message().starts_with(expected));
}

TEST_CASE("a dispatcher handler's dead letter carries its reason") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("jobs").value();
  WorkGroupOptions o;
  o.max_attempts = 5;
  WorkGroup* g = t->work_group("workers", o).value();
  SubscriberOptions so;
  so.start = StartAt::earliest();
  auto dead = engine->topic("jobs.dlq").value()->subscribe(so).value();
  REQUIRE(t->publish("poison").ok());
  REQUIRE(t->publish("fine").ok());
  {
    Dispatcher d(g->consumer().value(), [](const Delivery& d) -> Decision {
      if (d.record.payload() == "poison") return Decision::dead_letter("payload is poison");
      return Outcome::kAck;
    });
    REQUIRE(g->wait_drained(10s).ok());
  }
  RecordView views[4];
  REQUIRE(dead->poll(views, 5s).count == 1);
  CHECK(views[0].payload() == "poison");
  CHECK(views[0].find_header(dlq_header::kReason) == "rejected");
  CHECK(views[0].find_header(dlq_header::kError) == "payload is poison");
}

TEST_CASE("wait_drained returns once everything published before it is acked or dead-lettered") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("jobs").value();
  WorkGroup* g = t->work_group("workers").value();
  CHECK(g->wait_drained(0ns).ok());  // nothing published: drained
  for (int i = 0; i < 100; ++i) REQUIRE(t->publish(std::to_string(i)).ok());
  auto c = g->consumer().value();
  Delivery d[64];
  REQUIRE(c->try_poll(d).count == 64);
  const Status s = g->wait_drained(5ms);
  CHECK(s.code() == Code::kTimedOut);
  CHECK(s.message() ==
        "work group 'workers' of topic 'jobs': not drained: 100 of the records published before 100 "
        "are not acked or dead-lettered (ack floor 0)");
  CHECK(c->ack(std::span<const Delivery>(d, 64)) == 64);
  std::size_t n = c->try_poll(d).count;
  REQUIRE(n == 36);
  for (std::size_t i = 0; i + 1 < n; ++i) REQUIRE(c->ack(d[i]));
  REQUIRE(c->dead_letter(d[n - 1], "last one"));
  CHECK(g->wait_drained(1s).ok());
  engine->close();
  REQUIRE(t->publish("x").status().code() == Code::kClosed);
  CHECK(g->wait_drained(1s).ok());  // nothing new was published
}

TEST_CASE("a DelayPump's clean close commits what it released: a reopened pump repeats nothing") {
  test::TempDir dir;
  const std::int64_t t0 = 1'700'000'000'000'000'000;
  std::int64_t now = t0;
  const DelayOptions clock{.clock = [&now] { return now; }};
  {
    auto engine = Engine::open(test::engine_options(dir, false)).value();
    Topic* target = engine->create_topic("jobs", test::small_async()).value();
    auto pump = DelayPump::open(*engine, *target, clock).value();
    for (int i = 0; i < 100; ++i) REQUIRE(pump->publish_at(test::text(std::to_string(i)), t0 + 1).ok());
    now = t0 + 2;
    REQUIRE(pump->pump().value() == 100);
    CHECK(pump->close().ok());
  }
  {
    auto engine = Engine::open(test::engine_options(dir, false)).value();
    Topic* target = engine->topic("jobs").value();
    auto pump = DelayPump::open(*engine, *target, clock).value();
    CHECK(pump->pump().value() == 0);
    CHECK(target->published() == 100);
    REQUIRE(pump->publish_at(test::text("one more"), t0 + 1).ok());
    REQUIRE(pump->pump().value() == 1);
  }  // the destructor closes it
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* target = engine->topic("jobs").value();
  CHECK(DelayPump::open(*engine, *target, clock).value()->pump().value() == 0);
  CHECK(target->published() == 101);
}

TEST_CASE("quick successive pump() calls move the committed position once the releases are durable") {
  test::TempDir dir;
  const std::int64_t t0 = 1'700'000'000'000'000'000;
  std::int64_t now = t0;
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* target = engine->create_topic("jobs", test::small_async()).value();
  auto pump = DelayPump::open(*engine, *target, {.clock = [&now] { return now; }}).value();
  for (int round = 0; round < 10; ++round) {
    const std::string payload = std::to_string(round);
    REQUIRE(pump->publish_at(test::text(payload), t0).ok());
    REQUIRE(pump->pump().value() == 1);  // no wait between them
  }
  REQUIRE(target->await_durable(target->published() - 1, 10s).ok());
  REQUIRE(pump->pump().value() == 0);
  CHECK(pump_position(dir, "jobs") == 10u);
}
