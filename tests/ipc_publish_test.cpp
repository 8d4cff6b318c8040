// Publishing from other processes (conduit/attach.h, AttachedTopic): the
// records go straight into the owner's mapped log; the owner's subscribers
// and LogReaders in other processes read every one exactly once, in each
// publisher's order, across segment rolls, and so do subscribers in other
// processes; a kSync publish returns once its record is durable.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/ipc/worker.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::TempDir;
using conduit::test::Worker;

namespace {

// Reads `total` records from `sub` and requires them dense from 0 and, per
// publisher (the payload's first word), in the order it published them
// (the second word counts up from 0).
void require_all_in_order(Subscriber* sub, std::uint64_t total) {
  std::map<std::string, std::uint64_t> next;
  RecordView views[256];
  std::uint64_t seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (seen < total) {
    INFO("records read: " << seen << " of " << total);
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    const PollResult r = sub->poll(views, 100ms);
    REQUIRE(r.status.ok());
    REQUIRE(r.lost == 0);
    for (std::size_t k = 0; k < r.count; ++k, ++seen) {
      REQUIRE(views[k].sequence() == seen);
      const std::string p(views[k].payload());
      const auto sp = p.find(' ');
      REQUIRE(sp != std::string::npos);
      auto& want = next[p.substr(0, sp)];
      REQUIRE(p.substr(sp + 1) == std::to_string(want));
      ++want;
    }
  }
  // Nothing more than what was published.
  CHECK(sub->try_poll(views).count == 0);
}

std::unique_ptr<Engine> owner_of(const TempDir& tmp) {
  EngineOptions eo;
  eo.data_dir = tmp.path.string();
  return Engine::open(eo).value();
}

}  // namespace

TEST_CASE(
    "three publisher processes (one publishing batches) and the owner's own thread: every record once, in each "
    "publisher's order") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  // 256 KiB segments: the publishes below fill several, so attached
  // publishers cross segment ends and the owner rolls on their behalf.
  Topic* topic = engine->create_topic("t", test::small_async()).value();
  auto sub1 = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  auto sub2 = topic->subscribe({.name = {}, .start = StartAt::earliest(), .wait = WaitStrategy::kPark}).value();

  constexpr std::uint64_t kPerPublisher = 4000;
  constexpr std::uint64_t kTotal = 4 * kPerPublisher;
  Worker reader({"read", tmp.path.string(), "t", std::to_string(kTotal)});
  std::vector<std::unique_ptr<Worker>> pubs;
  for (const char* id : {"p0", "p1"})
    pubs.push_back(std::make_unique<Worker>(
        std::vector<std::string>{"publish", tmp.path.string(), "t", id, std::to_string(kPerPublisher)}));
  // And one with publish_batch: 50 records a claim.
  pubs.push_back(std::make_unique<Worker>(
      std::vector<std::string>{"batch", tmp.path.string(), "t", "b", std::to_string(kPerPublisher), "50"}));
  // The owner's own publisher adds to the same tail words.
  std::thread own([&] {
    for (std::uint64_t i = 0; i < kPerPublisher; ++i) REQUIRE(topic->publish("owner " + std::to_string(i)).ok());
  });
  std::thread second([&] { require_all_in_order(sub2.get(), kTotal); });
  require_all_in_order(sub1.get(), kTotal);
  second.join();
  own.join();
  for (auto& p : pubs) {
    auto l = p->line();
    REQUIRE(l.has_value());
    CHECK(l->rfind("done", 0) == 0);
    CHECK(p->wait() == 0);
  }
  CHECK(reader.line() == std::optional<std::string>("ok"));
  CHECK(reader.wait() == 0);
  const TopicStats st = topic->stats();
  CHECK(st.published == kTotal);
  CHECK(st.segments >= 3);  // rolls happened, some of them for attached publishers
  CHECK(st.skipped == 0);
  // The persistence thread syncs records whoever wrote them.
  REQUIRE(topic->await_durable(kTotal - 1, 30s).ok());
  CHECK(topic->durable() >= kTotal);
}

TEST_CASE(
    "three publisher processes and two subscriber processes: every record once at each, in each publisher's order") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  Topic* topic = engine->create_topic("fan", test::small_async()).value();
  constexpr std::uint64_t kPerPublisher = 4000;
  constexpr std::uint64_t kTotal = 3 * kPerPublisher;
  // Attached subscribers from the earliest record, reading while the
  // publishers write (they say "ready" once subscribed).
  std::vector<std::unique_ptr<Worker>> subs;
  for (int s = 0; s < 2; ++s) {
    subs.push_back(std::make_unique<Worker>(
        std::vector<std::string>{"subscribe", tmp.path.string(), "fan", std::to_string(kTotal)}));
    REQUIRE(subs.back()->line() == std::optional<std::string>("ready"));
  }
  std::vector<std::unique_ptr<Worker>> pubs;
  for (const char* id : {"p0", "p1", "p2"})
    pubs.push_back(std::make_unique<Worker>(
        std::vector<std::string>{"publish", tmp.path.string(), "fan", id, std::to_string(kPerPublisher)}));
  for (auto& p : pubs) {
    auto l = p->line(60s);
    REQUIRE(l.has_value());
    CHECK(l->rfind("done", 0) == 0);
    CHECK(p->wait() == 0);
  }
  for (auto& s : subs) {
    CHECK(s->line(60s) == std::optional<std::string>("ok"));
    CHECK(s->wait() == 0);
  }
  const TopicStats st = topic->stats();
  CHECK(st.published == kTotal);
  CHECK(st.segments >= 3);  // the subscribers followed the topic across rolls
}

TEST_CASE("a kSync publish from another process returns once its record is durable") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  TopicOptions to = test::small_async();
  to.durability = Durability::kSync;
  Topic* topic = engine->create_topic("s", to).value();
  constexpr int kPublishes = 50;
  Worker w({"durable", tmp.path.string(), "s", std::to_string(kPublishes)});
  CHECK(w.line() == std::optional<std::string>("durable " + std::to_string(kPublishes)));
  CHECK(w.wait() == 0);
  CHECK(topic->stats().published == kPublishes);
}

TEST_CASE("topics other processes cannot publish into are refused with a reason") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  TopicOptions single = test::small_async();
  single.single_producer = true;
  REQUIRE(engine->create_topic("single", single).ok());
  TopicOptions dedup = test::small_async();
  dedup.dedup.max_ids = 16;
  REQUIRE(engine->create_topic("dedup", dedup).ok());
  auto attached = AttachedEngine::attach(tmp.path.string()).value();
  auto s = attached->topic("single");
  CHECK(s.status().code() == Code::kUnsupported);
  CHECK(s.status().message().find("single_producer") != std::string::npos);
  auto d = attached->topic("dedup");
  CHECK(d.status().code() == Code::kUnsupported);
  CHECK(d.status().message().find("dedup") != std::string::npos);
}

TEST_CASE("an attached publish_batch: an empty batch claims nothing, a bad message publishes none") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  REQUIRE(engine->create_topic("t", test::small_async()).ok());
  auto attached = AttachedEngine::attach(tmp.path.string()).value();
  AttachedTopic* t = attached->topic("t").value();
  PublishBatchResult empty = t->publish_batch({});
  CHECK(empty.status.ok());
  CHECK(empty.published == 0);
  std::vector<Message> ms(3);
  ms[0].payload = "a";
  ms[1].payload = std::string(test::small_async().max_payload_bytes + 1, 'x');
  ms[2].payload = "c";
  PublishBatchResult bad = t->publish_batch(ms);
  CHECK(bad.status.code() == Code::kTooLarge);
  CHECK(bad.status.message().find("message 1 of the batch") != std::string::npos);
  CHECK(bad.published == 0);
  // Nothing was claimed by either: the next record is the topic's first.
  CHECK(t->publish("first").value() == 0);
}
