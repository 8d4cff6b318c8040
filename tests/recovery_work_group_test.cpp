// A persisted work group's pending state across a reopen: records not done
// are delivered again, done ones (acked or dead-lettered) never, and failed
// attempts are remembered.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/manual_clock.h"
#include "tests/temp_dir.h"

using namespace conduit;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using conduit::test::TempDir;

struct Opened {
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  WorkGroup* group = nullptr;
};

Opened open(const TempDir& dir, const conduit::test::ManualClock& clock, WorkGroupOptions go = {}) {
  EngineOptions o;
  o.data_dir = dir.path.string();
  o.clock = clock.function();
  Opened r;
  r.engine = Engine::open(o).value();
  TopicOptions t;
  t.durability = Durability::kAsync;
  t.segment_bytes = 256 << 10;
  t.max_payload_bytes = 1024;
  r.topic = r.engine->create_topic("jobs", t).value();
  r.group = r.topic->work_group("workers", go).value();
  return r;
}

// Everything the consumer gets now: sequence -> attempt.
std::map<std::uint64_t, std::uint32_t> drain(Consumer& c, bool ack) {
  std::map<std::uint64_t, std::uint32_t> got;
  Delivery out[16];
  for (PollResult r = c.try_poll(out); r.count != 0; r = c.try_poll(out))
    for (std::size_t k = 0; k < r.count; ++k) {
      got[out[k].sequence] = out[k].attempt;
      if (ack) CHECK(c.ack(out[k]));
    }
  return got;
}

}  // namespace

TEST_CASE("after a reopen unacked records are delivered again and records acked above the floor never") {
  TempDir dir;
  conduit::test::ManualClock clock;
  {
    Opened a = open(dir, clock);
    for (int i = 0; i < 10; ++i) REQUIRE(a.topic->publish("job " + std::to_string(i)).ok());
    auto c = a.group->consumer().value();
    Delivery out[10];
    REQUIRE(c->try_poll(out).count == 10);
    for (int i : {0, 1, 3, 5, 6, 7, 8, 9}) CHECK(c->ack(out[i]));
    CHECK(c->nack(out[4], 1h));  // failed once, waiting
    // out[2] stays in flight; close commits the group.
    CHECK(a.group->stats().ack_floor == 2);
    c.reset();
  }
  Opened b = open(dir, clock);
  CHECK(b.group->stats().ack_floor == 2);
  auto c = b.group->consumer().value();
  CHECK(drain(*c, true) == std::map<std::uint64_t, std::uint32_t>{{2, 1}, {4, 2}});
  CHECK(b.group->stats().ack_floor == 10);
  CHECK(b.group->lag() == 0);
  REQUIRE(b.topic->publish("job 10").ok());
  CHECK(drain(*c, true) == std::map<std::uint64_t, std::uint32_t>{{10, 1}});
}

TEST_CASE("a record dead-lettered before a reopen is not delivered again, and attempts count on across it") {
  TempDir dir;
  conduit::test::ManualClock clock;
  WorkGroupOptions go;
  go.max_attempts = 3;
  {
    Opened a = open(dir, clock, go);
    for (int i = 0; i < 3; ++i) REQUIRE(a.topic->publish("job " + std::to_string(i)).ok());
    auto c = a.group->consumer().value();
    Delivery out[3];
    REQUIRE(c->try_poll(out).count == 3);
    CHECK(c->dead_letter(out[0], "bad"));
    CHECK(c->nack(out[1]));
    CHECK(c->ack(out[2]));
    Delivery again[1];
    REQUIRE(c->try_poll(again).count == 1);
    CHECK(again[0].sequence == 1);
    CHECK(c->nack(again[0]));  // two failed attempts of 1 so far
    c.reset();
  }
  Opened b = open(dir, clock, go);
  auto c = b.group->consumer().value();
  Delivery out[4];
  REQUIRE(c->try_poll(out).count == 1);
  CHECK(out[0].sequence == 1);
  CHECK(out[0].attempt == 3);
  CHECK(c->nack(out[0]));  // the third: dead letter
  CHECK(c->try_poll(out).count == 0);
  CHECK(b.group->stats().ack_floor == 3);
  SubscriberOptions from_start;
  from_start.start = StartAt::earliest();
  auto sub = b.engine->topic("jobs.dlq").value()->subscribe(from_start).value();
  RecordView v[4];
  REQUIRE(sub->try_poll(v).count == 2);
  CHECK(v[0].find_header(dlq_header::kSequence) == "0");
  CHECK(v[1].find_header(dlq_header::kSequence) == "1");
  CHECK(v[1].find_header(dlq_header::kAttempts) == "3");
}

TEST_CASE("commit() stores the group's state without a close, and a damaged state file is an error naming it") {
  TempDir dir;
  conduit::test::ManualClock clock;
  {
    Opened a = open(dir, clock);
    for (int i = 0; i < 4; ++i) REQUIRE(a.topic->publish("job").ok());
    auto c = a.group->consumer().value();
    Delivery out[4];
    REQUIRE(c->try_poll(out).count == 4);
    CHECK(c->ack(out[1]));
    CHECK(c->ack(out[3]));
    REQUIRE(a.group->commit().ok());
  }
  const fs::path state = dir.path / "topics/jobs/cursors/group-workers.state";
  REQUIRE(fs::exists(state));
  {
    Opened b = open(dir, clock);
    auto c = b.group->consumer().value();
    CHECK(drain(*c, false) == std::map<std::uint64_t, std::uint32_t>{{0, 1}, {2, 1}});
  }
  {
    std::fstream f(state, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x7f');
  }
  EngineOptions o;
  o.data_dir = dir.path.string();
  auto e = Engine::open(o).value();
  TopicOptions t;
  t.durability = Durability::kAsync;
  t.segment_bytes = 256 << 10;
  t.max_payload_bytes = 1024;
  Topic* topic = e->create_topic("jobs", t).value();
  auto g = topic->work_group("workers");
  CHECK(g.status().code() == Code::kCorruption);
  CHECK(g.status().message().find("group-workers.state") != std::string::npos);
}
