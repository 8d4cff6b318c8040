// Subscribers in other processes (conduit/attach_subscriber.h) and the
// attached handles' stats: records followed in each process's own mapping,
// named positions committed through the owner and resumed after a
// SIGKILL, stats equal to the owner's, the owner's death told, and
// Topic::readers() listing subscriber processes at their live positions
// for as long as their connections last.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/ipc/readers.h"
#include "tests/ipc/stats_text.h"
#include "tests/ipc/worker.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::readers_once;
using conduit::test::small_async;
using conduit::test::stats_text;
using conduit::test::TempDir;
using conduit::test::Worker;

namespace {

void publish(Topic* t, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t i = from; i < to; ++i) REQUIRE(t->publish("record " + std::to_string(i)).ok());
}

// An engine owning a temporary data directory, with topic "t".
struct Owner {
  explicit Owner(const TopicOptions& to) {
    eo.data_dir = tmp.path.string();
    engine = Engine::open(eo).value();
    topic = engine->create_topic("t", to).value();
  }
  TempDir tmp;
  EngineOptions eo;
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
};

std::string expect_line(Worker& w, const std::string& prefix) {
  const auto l = w.line();
  REQUIRE(l.has_value());
  REQUIRE_MESSAGE(l->starts_with(prefix), *l);
  return l->substr(prefix.size());
}

}  // namespace

TEST_CASE("three subscriber processes each see every record once, in order, across segment rolls") {
  Owner owner(small_async());
  const EngineOptions& eo = owner.eo;
  Topic* topic = owner.topic;
  constexpr std::uint64_t kRecords = 12000;  // about 0.8 MB of 256 KiB segments
  std::vector<std::unique_ptr<Worker>> subs;
  for (int i = 0; i < 3; ++i) {
    subs.push_back(std::make_unique<Worker>(std::vector<std::string>{"sub-follow", eo.data_dir, "t", "12000"}));
    REQUIRE(subs.back()->line() == "ready");
  }
  // Each worker checks every record's sequence and payload as it reads.
  publish(topic, 0, kRecords);
  for (auto& s : subs) {
    CHECK(s->line() == "got 12000 0");
    CHECK(s->wait() == 0);
  }
  CHECK(topic->stats().segments >= 3);
}

TEST_CASE(
    "a named subscriber process commits, is SIGKILLed, and the next one resumes there; its position holds retention") {
  TopicOptions to = small_async();
  to.retain_until_consumed = true;
  Owner owner(to);
  const EngineOptions& eo = owner.eo;
  Topic* topic = owner.topic;
  {
    // Its interest counts from its subscribe on: nothing goes before it reads.
    Worker first({"sub-named", eo.data_dir, "t", "n", "1000", "2000"});
    REQUIRE(first.line() == "ready");
    publish(topic, 0, 6000);
    CHECK(expect_line(first, "committed ") == "1000");
    CHECK(expect_line(first, "read ") == "3000");
    first.kill();
  }
  // Rolls run retention: the dead process's committed position holds
  // record 1000 and everything after it.
  publish(topic, 6000, 12000);
  REQUIRE(topic->stats().segments >= 3);
  CHECK(topic->stats().earliest <= 1000);
  {
    Worker second({"sub-resume", eo.data_dir, "t", "n", "12000"});
    CHECK(expect_line(second, "first ") == "1000 0");
    CHECK(expect_line(second, "committed ") == "12000");
    CHECK(second.wait() == 0);
  }
  // Consumed now: the next rolls let the old segments go.
  publish(topic, 12000, 18000);
  CHECK(topic->stats().earliest > 3000);
  // One namespace with in-process named subscribers.
  auto in_process = topic->subscribe({.name = "n"}).value();
  CHECK(in_process->position() == 12000);
}

TEST_CASE("stats fetched by an attached process equal the owner's at a quiet point") {
  Owner owner(small_async());
  const EngineOptions& eo = owner.eo;
  Topic* topic = owner.topic;
  WorkGroup* group = topic->work_group("g").value();
  publish(topic, 0, 100);
  auto consumer = group->consumer().value();
  std::vector<Delivery> out(30);
  std::size_t got = 0;
  while (got < out.size()) got += consumer->poll(std::span(out).subspan(got), 5s).count;
  REQUIRE(consumer->ack(std::span<const Delivery>(out).first(20)) == 20);
  REQUIRE(consumer->nack(out[20]));
  Worker w({"sub-stats", eo.data_dir, "t", "g"});
  const std::string topic_line = expect_line(w, "topic ");
  const std::string group_line = expect_line(w, "group ");
  const std::string consumer_line = expect_line(w, "consumer ");
  CHECK(w.wait() == 0);
  CHECK(topic_line == stats_text(topic->stats()));
  CHECK(group_line == stats_text(group->stats()));
  CHECK(consumer_line == stats_text(group->stats()));
  CHECK(group->stats().in_flight == 9);  // the figures compared are not all zero
}

TEST_CASE("an attached subscriber that fell behind retention is told exactly how many records it lost") {
  TopicOptions to = small_async();
  to.retain_bytes = 1;  // at each roll, only the newest segments stay
  Owner owner(to);
  const EngineOptions& eo = owner.eo;
  Topic* topic = owner.topic;
  auto attached = AttachedEngine::attach(eo.data_dir).value();
  auto sub = attached->subscribe("t", {.name = "", .start = StartAt::earliest()}).value();
  publish(topic, 0, 12000);
  const std::uint64_t earliest = topic->stats().earliest;
  REQUIRE(earliest > 0);
  std::vector<RecordView> out(16);
  PollResult r = sub->poll(out, 5s);
  CHECK(r.lost == earliest);
  CHECK(r.count == 0);
  r = sub->poll(out, 5s);
  REQUIRE(r.count > 0);
  CHECK(out[0].sequence() == earliest);
  CHECK(sub->lost() == earliest);
  CHECK(sub->position() == earliest + r.count);
}

TEST_CASE("the owner's death: an attached subscriber reads what was published, then gets kClosed") {
  TempDir tmp;
  const std::string dir = tmp.path.string();
  Worker owner({"own", dir, "t", "500"});
  REQUIRE(owner.line() == "ready");
  auto attached = AttachedEngine::attach(dir).value();
  auto sub = attached->subscribe("t", {.name = "n", .start = StartAt::earliest()}).value();
  std::vector<RecordView> out(200);
  PollResult r = sub->poll(out, 5s);
  REQUIRE(r.count == 200);
  CHECK(sub->commit().ok());
  CHECK(sub->topic_stats().value().published == 500);
  owner.kill();
  std::uint64_t read = 200;
  for (;;) {
    r = sub->poll(out, 5s);
    for (std::size_t k = 0; k < r.count; ++k) CHECK(out[k].payload() == "record " + std::to_string(read++));
    if (r.closed || r.count == 0) break;
  }
  CHECK(read == 500);
  CHECK(r.closed);
  CHECK(r.status.code() == Code::kClosed);
  CHECK(sub->owner_status().code() == Code::kClosed);
  CHECK(sub->commit().code() == Code::kClosed);
  CHECK(sub->topic_stats().status().code() == Code::kClosed);
  CHECK(attached->topic_stats("t").status().code() == Code::kClosed);
}

TEST_CASE("what an attached subscriber refuses, naming why") {
  Owner owner(small_async());
  const EngineOptions& eo = owner.eo;
  Topic* topic = owner.topic;
  TopicOptions memory;
  memory.durability = Durability::kMemory;
  REQUIRE(owner.engine->create_topic("m", memory).ok());
  auto attached = AttachedEngine::attach(eo.data_dir).value();
  // Memory-only and not TopicOptions::shared (tests/ipc_shm_topic_test.cpp shares one).
  CHECK(attached->subscribe("m").status().code() == Code::kUnsupported);
  CHECK(attached->subscribe("none").status().code() == Code::kNotFound);
  SubscriberOptions durable_only;
  durable_only.durable_only = true;
  CHECK(attached->subscribe("t", durable_only).status().code() == Code::kUnsupported);
  CHECK(attached->work_group("t", "g").value()->stats().status().code() == Code::kOk);
  CHECK(attached->topic_stats("none").status().code() == Code::kNotFound);

  auto unnamed = attached->subscribe("t").value();
  CHECK(unnamed->commit().code() == Code::kInvalidArgument);
  auto named = attached->subscribe("t", {.name = "n", .start = StartAt::latest()}).value();
  publish(topic, 0, 10);
  std::vector<RecordView> out(4);
  REQUIRE(named->poll(out, 5s).count == 4);
  CHECK(named->commit(5).code() == Code::kInvalidArgument);  // past its position
  CHECK(named->commit(3).ok());
  CHECK(topic->subscribe({.name = "n"}).value()->position() == 3);
}

TEST_CASE("an attached subscriber's lag counts from the published watermark of the owner's last sync round") {
  TopicOptions to = small_async();
  to.durability = Durability::kSync;
  Owner owner(to);
  const EngineOptions& eo = owner.eo;
  Topic* topic = owner.topic;
  auto attached = AttachedEngine::attach(eo.data_dir).value();
  auto sub = attached->subscribe("t").value();
  CHECK(sub->lag() == 0);
  publish(topic, 0, 10);  // each returns once its sync round is done
  // A publish may return once it sees the round's durable watermark, just
  // before the round writes published to the control file.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (sub->lag() != 10 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  CHECK(sub->lag() == 10);
  std::vector<RecordView> out(4);
  REQUIRE(sub->poll(out, 5s).count == 4);
  CHECK(sub->position() == 4);
  CHECK(sub->lag() == 6);
}

TEST_CASE("Engine::close in the owner: an attached subscriber reads what was published, then closed") {
  Owner owner(small_async());
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  auto sub = attached->subscribe("t", {.name = "n", .start = StartAt::earliest()}).value();
  publish(owner.topic, 0, 10);
  owner.engine->close();
  std::vector<RecordView> out(16);
  PollResult r = sub->poll(out, 5s);
  CHECK(r.count == 10);
  r = sub->poll(out, 5s);
  CHECK(r.count == 0);
  CHECK(r.closed);
  CHECK(r.status.ok());  // closed, as in process; the owner is still there
  CHECK(sub->commit().code() == Code::kClosed);
}

namespace {

// Tells a sub-steps worker to read its next K records; the position it printed.
std::string step(Worker& w) {
  REQUIRE(::kill(w.pid(), SIGUSR1) == 0);
  return expect_line(w, "read ");
}

}  // namespace

TEST_CASE("Topic::readers() lists subscriber processes of a persisted topic at the position they read to") {
  Owner owner(small_async());
  const std::string dir = owner.eo.data_dir;
  Topic* topic = owner.topic;
  auto local = topic->subscribe({.name = "local"}).value();
  publish(topic, 0, 10);
  // Neither commits: what readers() shows is where each has read to.
  Worker named({"sub-steps", dir, "t", "far", "4"});
  REQUIRE(named.line() == "ready");
  Worker unnamed({"sub-steps", dir, "t", "-", "3"});
  REQUIRE(unnamed.line() == "ready");
  auto rs = topic->readers();
  REQUIRE(rs.size() == 3);
  // The in-process subscriber first, then the attached ones in the order they came.
  CHECK(rs[0].name == "local");
  CHECK_FALSE(rs[0].attached);
  CHECK(rs[1].name == "far");
  CHECK(rs[1].attached);
  CHECK(rs[1].kind == ReaderInfo::Kind::kSubscriber);
  CHECK_FALSE(rs[1].holds_ring);  // a persisted topic's holds nothing
  CHECK(rs[1].position == 0);
  CHECK(rs[1].lag == 10);
  CHECK(rs[2].name.empty());
  CHECK(rs[2].attached);
  CHECK(rs[2].position == 0);

  CHECK(step(named) == "4");
  rs = topic->readers();
  REQUIRE(rs.size() == 3);
  CHECK(rs[1].position == 4);
  CHECK(rs[1].lag == 6);
  CHECK(step(named) == "8");
  CHECK(step(unnamed) == "3");
  publish(topic, 10, 20);
  rs = topic->readers();
  REQUIRE(rs.size() == 3);
  CHECK(rs[1].position == 8);
  CHECK(rs[1].lag == 12);
  CHECK(rs[2].position == 3);
  CHECK(rs[2].lag == 17);
  CHECK(rs[0].position == 0);  // the in-process one never polled
}

TEST_CASE("an attached subscriber of a persisted topic leaves readers() when destroyed, or when its process dies") {
  Owner owner(small_async());
  const std::string dir = owner.eo.data_dir;
  Topic* topic = owner.topic;
  publish(topic, 0, 10);
  Worker dropped({"sub-steps", dir, "t", "first", "5"});
  REQUIRE(dropped.line() == "ready");
  Worker killed({"sub-steps", dir, "t", "second", "2"});
  REQUIRE(killed.line() == "ready");
  CHECK(step(dropped) == "5");
  CHECK(step(killed) == "2");
  auto rs = readers_once(topic, 2);
  CHECK(rs[0].name == "first");
  CHECK(rs[0].position == 5);
  CHECK(rs[1].name == "second");
  CHECK(rs[1].position == 2);
  // Destroyed, its process still there: its connection ends with it.
  REQUIRE(::kill(dropped.pid(), SIGUSR2) == 0);
  REQUIRE(dropped.line() == "dropped");
  rs = readers_once(topic, 1);
  CHECK(rs[0].name == "second");
  CHECK(rs[0].attached);
  // SIGKILLed: the kernel ends its connection.
  killed.kill();
  CHECK(readers_once(topic, 0).empty());
}
