// Delayed delivery on a persisted topic: the delay survives a restart, and
// what the pump guarantees about releasing twice.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <map>
#include <string>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;
using conduit::test::TempDir;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

struct Node {
  std::unique_ptr<Engine> engine;
  Topic* target = nullptr;
  std::unique_ptr<DelayPump> pump;
  Node(const TempDir& dir, std::int64_t* now, TopicOptions options) {
    engine = Engine::open({.data_dir = dir.path.string()}).value();
    target = engine->create_topic("jobs", options).value();
    pump = DelayPump::open(*engine, *target, {.clock = [now] { return *now; }}).value();
  }
  // Pumps until the pump's position is committed as far as the releases go.
  void pump_and_commit() {
    REQUIRE(pump->pump().ok());
    if (target->published() != 0)
      REQUIRE(target->await_durable(target->published() - 1, std::chrono::seconds(10)).ok());
    REQUIRE(pump->pump().ok());
  }
  std::map<std::string, int> released() {
    std::map<std::string, int> got;
    for (const std::string& p : test::payloads(target)) ++got[p];
    return got;
  }
};

TopicOptions persisted(bool dedup) {
  TopicOptions o;
  o.durability = Durability::kAsync;
  o.segment_bytes = 256 << 10;
  o.max_payload_bytes = 4096;
  if (dedup) o.dedup.max_ids = 1000;
  return o;
}

Message job(std::string_view name) {
  Message m;
  m.payload = name;
  m.id = name;
  return m;
}

}  // namespace

TEST_CASE("a delay survives a restart, and records released before it are not released again") {
  TempDir dir;
  std::int64_t now = 1'700'000'000 * kSecond;
  const std::int64_t t0 = now;
  {
    Node n(dir, &now, persisted(false));
    REQUIRE(n.pump->publish_at(job("a"), t0 + 10 * kSecond).ok());
    REQUIRE(n.pump->publish_at(job("b"), t0 + 20 * kSecond).ok());
    REQUIRE(n.pump->publish_at(job("c"), t0 + 30 * kSecond).ok());
    now = t0 + 15 * kSecond;
    n.pump_and_commit();
    CHECK(n.released() == std::map<std::string, int>{{"a", 1}});
  }
  Node n(dir, &now, persisted(false));
  REQUIRE(n.pump->pump().value() == 0);  // "a" is not released twice; the others are not due
  CHECK(n.pump->waiting() == 2);
  now = t0 + 35 * kSecond;
  CHECK(n.pump->pump().value() == 2);
  CHECK(n.released() == std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 1}});
}

TEST_CASE("a record released ahead of an older delayed one may be released again after a restart") {
  // The documented at-least-once: the committed position is the oldest
  // record not yet released, and "late" (published first, due last) holds it.
  TempDir dir;
  std::int64_t now = 1'700'000'000 * kSecond;
  const std::int64_t t0 = now;
  {
    Node n(dir, &now, persisted(false));
    REQUIRE(n.pump->publish_at(job("late"), t0 + 100 * kSecond).ok());
    REQUIRE(n.pump->publish_at(job("soon"), t0 + 10 * kSecond).ok());
    now = t0 + 20 * kSecond;
    n.pump_and_commit();
    CHECK(n.released() == std::map<std::string, int>{{"soon", 1}});
  }
  Node n(dir, &now, persisted(false));
  now = t0 + 200 * kSecond;
  CHECK(n.pump->pump().value() == 2);
  CHECK(n.released() == std::map<std::string, int>{{"late", 1}, {"soon", 2}});
}

TEST_CASE("with ids and the target's dedup window on, every delayed record lands exactly once across a restart") {
  TempDir dir;
  std::int64_t now = 1'700'000'000 * kSecond;
  const std::int64_t t0 = now;
  {
    Node n(dir, &now, persisted(true));
    REQUIRE(n.pump->publish_at(job("late"), t0 + 100 * kSecond).ok());
    REQUIRE(n.pump->publish_at(job("soon"), t0 + 10 * kSecond).ok());
    now = t0 + 20 * kSecond;
    n.pump_and_commit();
  }
  Node n(dir, &now, persisted(true));
  now = t0 + 200 * kSecond;
  REQUIRE(n.pump->pump().ok());
  CHECK(n.released() == std::map<std::string, int>{{"late", 1}, {"soon", 1}});
}

TEST_CASE("a named subscriber can commit a position behind its own, not past it, and resumes from it") {
  TempDir dir;
  TopicOptions o = persisted(false);
  {
    auto engine = Engine::open({.data_dir = dir.path.string()}).value();
    Topic* t = engine->create_topic("log", o).value();
    for (int i = 0; i < 10; ++i) REQUIRE(t->publish("r").ok());
    auto sub = t->subscribe(SubscriberOptions{.name = "reader", .start = StartAt::earliest()}).value();
    RecordView views[16];
    REQUIRE(sub->try_poll(views).count == 10);
    auto past = sub->commit(11);
    REQUIRE_FALSE(past.ok());
    CHECK(past.code() == Code::kInvalidArgument);
    REQUIRE(sub->commit(4).ok());
  }
  auto engine = Engine::open({.data_dir = dir.path.string()}).value();
  Topic* t = engine->create_topic("log", o).value();
  auto sub = t->subscribe(SubscriberOptions{.name = "reader", .start = StartAt::latest()}).value();
  CHECK(sub->position() == 4);
}
