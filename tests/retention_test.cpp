// Retention, committed positions and replay on persisted topics.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;
namespace fs = std::filesystem;

namespace {

using conduit::test::segment_files;
using conduit::test::TempDir;

EngineOptions engine_options(const TempDir& dir) {
  EngineOptions o;
  o.data_dir = dir.path.string();
  return o;
}

TopicOptions persisted(std::size_t retain_bytes = 0) {
  TopicOptions t;
  t.durability = Durability::kAsync;
  t.segment_bytes = 256 << 10;
  t.max_payload_bytes = 1024;
  t.retain_bytes = retain_bytes;
  return t;
}

}  // namespace

TEST_CASE("retention by bytes deletes whole segments and a subscriber behind it is told the exact gap") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("metrics", persisted(1 << 20)).value();
  auto sub = t->subscribe({.start = StartAt::earliest()}).value();
  const std::string payload(200, 'm');
  for (int i = 0; i < 20000; ++i) REQUIRE(t->publish(payload).ok());
  CHECK(segment_files(dir.path / "topics" / "metrics") <= 4);
  const std::uint64_t earliest = t->earliest();
  REQUIRE(earliest > 0);
  RecordView views[8];
  PollResult r = sub->try_poll(views);
  CHECK(r.lost == earliest);
  REQUIRE(r.count > 0);
  CHECK(views[0].sequence() == earliest);
  CHECK(sub->lost() == earliest);
}

TEST_CASE("a named subscriber resumes from its committed position after a reopen") {
  TempDir dir;
  {
    auto engine = Engine::open(engine_options(dir)).value();
    Topic* t = engine->create_topic("events", persisted()).value();
    for (int i = 0; i < 100; ++i) REQUIRE(t->publish("e" + std::to_string(i)).ok());
    auto sub = t->subscribe({.name = "audit", .start = StartAt::earliest()}).value();
    RecordView views[30];
    CHECK(sub->try_poll(views).count == 30);
    REQUIRE(sub->commit().ok());
  }
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("events", persisted()).value();
  auto sub = t->subscribe({.name = "audit", .start = StartAt::earliest()}).value();
  CHECK(sub->position() == 30);
  RecordView views[1];
  REQUIRE(sub->try_poll(views).count == 1);
  CHECK(views[0].payload() == "e30");
  // An unnamed subscriber cannot commit.
  auto anon = t->subscribe({}).value();
  CHECK(anon->commit().code() == Code::kInvalidArgument);
}

TEST_CASE("a work group resumes from its committed ack floor after a reopen") {
  TempDir dir;
  {
    auto engine = Engine::open(engine_options(dir)).value();
    Topic* t = engine->create_topic("jobs", persisted()).value();
    for (int i = 0; i < 10; ++i) REQUIRE(t->publish("j" + std::to_string(i)).ok());
    WorkGroup* g = t->work_group("workers").value();
    auto c = g->consumer().value();
    Delivery d[4];
    REQUIRE(c->try_poll(d).count == 4);
    for (auto& x : d) c->ack(x);
    REQUIRE(g->commit().ok());
  }
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("jobs", persisted()).value();
  auto c = t->work_group("workers").value()->consumer().value();
  Delivery d[1];
  REQUIRE(c->try_poll(d).count == 1);
  CHECK(d[0].sequence == 4);
  CHECK(d[0].record.payload() == "j4");
}

TEST_CASE("a subscriber can start from a time and gets the first record stamped at or after it") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("ticks", persisted()).value();
  for (int i = 0; i < 3000; ++i) {
    Message m;
    const std::string p = "t" + std::to_string(i);
    m.payload = p;
    m.timestamp_ns = 1'000'000 + i * 10;
    REQUIRE(t->publish(m).ok());
  }
  for (std::int64_t want : {0, 1'000'000, 1'000'005, 1'010'000, 1'029'990, 2'000'000}) {
    CAPTURE(want);
    auto sub = t->subscribe({.start = StartAt::time(want)}).value();
    const std::int64_t expected_seq = want <= 1'000'000 ? 0 : std::min<std::int64_t>((want - 1'000'000 + 9) / 10, 3000);
    CHECK(sub->position() == static_cast<std::uint64_t>(expected_seq));
  }
}

TEST_CASE("a memory-only topic keeps no committed positions") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("mem").value();
  auto sub = t->subscribe({.name = "x"}).value();
  CHECK(sub->commit().code() == Code::kUnsupported);
}

// Found by the model test (tests/model_engine_test.cpp): a group whose start
// lay below what the topic still held (its committed floor, after retention
// dropped segments at reopen) was told "stale, try again" by every poll and
// never delivered anything again.
TEST_CASE(
    "a work group whose committed floor fell behind retention resumes at the earliest record and reports the gap") {
  TempDir dir;
  const std::string payload(900, 'w');
  {
    auto engine = Engine::open(engine_options(dir)).value();
    Topic* topic = engine->create_topic("jobs", persisted(2 * (256 << 10))).value();
    WorkGroup* group = topic->work_group("billing").value();
    REQUIRE(group->commit().ok());  // floor 0; the group holds every segment while open
    for (int i = 0; i < 1500; ++i) REQUIRE(topic->publish(payload).ok());
    REQUIRE(topic->earliest() == 0);
  }
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* topic = engine->create_topic("jobs", persisted(2 * (256 << 10))).value();
  const std::uint64_t earliest = topic->earliest();
  REQUIRE(earliest > 0);  // reopened without the group, retention dropped the oldest segments
  WorkGroup* group = topic->work_group("billing").value();
  auto consumer = group->consumer().value();
  Delivery d[8];
  PollResult r = consumer->try_poll(d);
  CHECK(r.lost == earliest);
  REQUIRE(r.count == 8);
  for (std::size_t i = 0; i < r.count; ++i) {
    CHECK(d[i].sequence == earliest + i);
    consumer->ack(d[i]);
  }
  CHECK(group->stats().ack_floor == earliest + 8);
  r = consumer->try_poll(d);
  CHECK(r.lost == 0);
  CHECK(r.count == 8);
}

// Found by the model test: after a reopen the oldest retained segment is
// indexed only when a reader first needs it, and a reader arriving there
// through a gap found it unindexed, took every record for "not published
// yet", and never read again.
TEST_CASE("after a reopen a subscriber behind retention is told the gap and reads on from the oldest segment") {
  TempDir dir;
  const std::string payload(900, 's');
  {
    auto engine = Engine::open(engine_options(dir)).value();
    Topic* topic = engine->create_topic("events", persisted(2 * (256 << 10))).value();
    for (int i = 0; i < 1500; ++i) REQUIRE(topic->publish(payload + std::to_string(i)).ok());
  }
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* topic = engine->create_topic("events", persisted(2 * (256 << 10))).value();
  const std::uint64_t earliest = topic->earliest();
  REQUIRE(earliest > 0);
  auto sub = topic->subscribe({.start = StartAt::at(0)}).value();
  std::vector<RecordView> views(64);
  PollResult r = sub->try_poll(views);
  CHECK(r.lost == earliest);
  std::uint64_t next = earliest;
  for (int polls = 0; polls < 1000 && next < 1500; ++polls) {
    for (std::size_t i = 0; i < r.count; ++i, ++next) REQUIRE(views[i].payload() == payload + std::to_string(next));
    if (next < 1500) r = sub->try_poll(views);
  }
  CHECK(next == 1500);
}
