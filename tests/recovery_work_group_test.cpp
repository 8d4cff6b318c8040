// A persisted work group's pending state across a reopen: records not done
// are delivered again, done ones (acked or dead-lettered) never, and failed
// attempts are remembered.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/support/manual_clock.h"
#include "tests/support/temp_dir.h"

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

Opened open(const TempDir& dir, const conduit::test::ManualClock& clock, WorkGroupOptions go = {},
            Durability durability = Durability::kAsync) {
  EngineOptions o;
  o.data_dir = dir.path.string();
  o.clock = clock.function();
  Opened r;
  r.engine = Engine::open(o).value();
  TopicOptions t;
  t.durability = durability;
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
    // out[2] stays in flight until the consumer goes, which hands it back
    // as a nack with no delay (its first attempt failed); close commits the group.
    CHECK(a.group->stats().ack_floor == 2);
    c.reset();
  }
  Opened b = open(dir, clock);
  CHECK(b.group->stats().ack_floor == 2);
  auto c = b.group->consumer().value();
  // 4's nack delay holds across the reopen, on the engine clock.
  CHECK(drain(*c, true) == std::map<std::uint64_t, std::uint32_t>{{2, 2}});
  clock.advance(59min);
  CHECK(drain(*c, true).empty());
  clock.advance(1min);
  CHECK(drain(*c, true) == std::map<std::uint64_t, std::uint32_t>{{4, 2}});
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
  }  // the consumer goes first: 0 and 2, still out, go back as nacks (journaled)
  const fs::path state = dir.path / "topics/jobs/cursors/group-workers.state";
  REQUIRE(fs::exists(state));
  {
    Opened b = open(dir, clock);
    auto c = b.group->consumer().value();
    CHECK(drain(*c, false) == std::map<std::uint64_t, std::uint32_t>{{0, 2}, {2, 2}});
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

namespace {

// Runs `body` in a child process, which must end with crash(): it exits
// without closing its engine, so nothing is committed at close, as after a
// crash (the page cache stays, so this checks what the child wrote before
// each call returned, not that it reached the disk).
[[noreturn]] void crash() { ::_exit(0); }
template <class Body>
void in_crashing_child(Body body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    body();
    ::_exit(9);  // the body returned: its engine was closed, no crash
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

std::size_t journal_files(const TempDir& dir) {
  std::size_t n = 0;
  for (auto& e : fs::directory_iterator(dir.path / "topics/jobs/cursors"))
    if (e.path().filename().string().find(".journal-") != std::string::npos) ++n;
  return n;
}

}  // namespace

namespace {

// For a kSync and a kAsync topic: a child process publishes `n` records,
// takes them all with one consumer, runs `child(opened, consumer, out)` and
// crashes; then `reopened(opened, clock)` checks the group opened again.
template <class Child, class Reopened>
void after_a_crash(std::size_t n, Child child, Reopened reopened) {
  for (Durability d : {Durability::kSync, Durability::kAsync}) {
    CAPTURE(static_cast<int>(d));
    TempDir dir;
    conduit::test::ManualClock clock;
    in_crashing_child([&] {
      Opened a = open(dir, clock, {}, d);
      for (std::size_t i = 0; i < n; ++i)
        if (!a.topic->publish("job").ok()) ::_exit(1);
      auto c = a.group->consumer().value();
      std::vector<Delivery> out(n);
      if (c->try_poll(out).count != n) ::_exit(2);
      child(a, *c, out);
      crash();
    });
    Opened b = open(dir, clock, {}, d);
    reopened(b, clock);
  }
}

}  // namespace

TEST_CASE("acks and failures after the last commit survive a crash, nack delays included") {
  after_a_crash(
      8,
      [](Opened& a, Consumer& c, std::vector<Delivery>& out) {
        if (!c.ack(out[0]) || !c.ack(out[1])) ::_exit(3);
        if (!a.group->commit().ok()) ::_exit(4);  // floor 2 stored; the rest only journaled
        if (!c.ack(out[2]) || !c.ack(out[5]) || !c.nack(out[3], 1h) || !c.dead_letter(out[6], "bad")) ::_exit(5);
        // out[4] and out[7] stay in flight.
      },
      [](Opened& b, conduit::test::ManualClock& clock) {
        CHECK(b.group->stats().ack_floor == 3);
        auto c = b.group->consumer().value();
        CHECK(drain(*c, true) == std::map<std::uint64_t, std::uint32_t>{{4, 1}, {7, 1}});
        clock.advance(1h);
        CHECK(drain(*c, true) == std::map<std::uint64_t, std::uint32_t>{{3, 2}});
        CHECK(b.group->stats().ack_floor == 8);
      });
}

TEST_CASE("a batch of acks after the last commit survives a crash") {
  after_a_crash(
      40,
      [](Opened& a, Consumer& c, std::vector<Delivery>& out) {
        if (!a.group->commit().ok()) ::_exit(3);  // floor 0 stored; the acks below only journaled
        // Every delivery but 10 and 20..24, in one call.
        std::vector<Delivery> done;
        for (std::size_t k = 0; k < out.size(); ++k)
          if (k != 10 && (k < 20 || k > 24)) done.push_back(out[k]);
        if (c.ack(done) != done.size()) ::_exit(4);
      },
      [](Opened& b, conduit::test::ManualClock&) {
        CHECK(b.group->stats().ack_floor == 10);
        auto c = b.group->consumer().value();
        CHECK(drain(*c, true) ==
              std::map<std::uint64_t, std::uint32_t>{{10, 1}, {20, 1}, {21, 1}, {22, 1}, {23, 1}, {24, 1}});
        CHECK(b.group->stats().ack_floor == 40);
      });
}

TEST_CASE("a nack delay survives a restart and is kept by a second reopen before it is due") {
  TempDir dir;
  conduit::test::ManualClock clock;
  in_crashing_child([&] {
    Opened a = open(dir, clock, {}, Durability::kSync);
    if (!a.topic->publish("job").ok()) ::_exit(1);
    auto c = a.group->consumer().value();
    Delivery out[1];
    if (c->try_poll(out).count != 1 || !c->nack(out[0], 10min)) ::_exit(2);
    crash();
  });
  clock.advance(4min);
  {
    Opened b = open(dir, clock, {}, Durability::kSync);
    auto c = b.group->consumer().value();
    CHECK(drain(*c, false).empty());
  }  // closed cleanly: the state file keeps the not-before time
  clock.advance(5min);
  Opened b = open(dir, clock, {}, Durability::kSync);
  auto c = b.group->consumer().value();
  CHECK(drain(*c, false).empty());
  clock.advance(1min);
  CHECK(drain(*c, true) == std::map<std::uint64_t, std::uint32_t>{{0, 2}});
}

TEST_CASE("a full journal file is compacted into the state file, and the acks in both survive a crash") {
  TempDir dir;
  conduit::test::ManualClock clock;
  constexpr int kRecords = 30000;  // more than one journal file holds (26,212 entries of 1 MiB)
  in_crashing_child([&] {
    Opened a = open(dir, clock);
    for (int i = 0; i < kRecords; ++i)
      if (!a.topic->publish("j").ok()) ::_exit(1);
    auto c = a.group->consumer().value();
    Delivery out[256];
    int acked = 0;
    for (PollResult r = c->try_poll(out); r.count != 0; r = c->try_poll(out))
      for (std::size_t k = 0; k < r.count; ++k)
        if (out[k].sequence != 7 && c->ack(out[k])) ++acked;
    if (acked != kRecords - 1) ::_exit(2);
    if (journal_files(dir) > 2) ::_exit(3);  // the old file went once the state covered it
    crash();
  });
  Opened b = open(dir, clock);
  CHECK(b.group->stats().ack_floor == 7);
  auto c = b.group->consumer().value();
  CHECK(drain(*c, true) == std::map<std::uint64_t, std::uint32_t>{{7, 1}});
  CHECK(b.group->stats().ack_floor == kRecords);
  CHECK(journal_files(dir) <= 2);
}
