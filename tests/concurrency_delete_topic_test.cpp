// Engine::delete_topic racing publishers and subscribers coming and going.
// Runs under TSan in CI (label "concurrency").
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;

namespace {

using conduit::test::TempDir;

struct Round {
  std::uint64_t ok = 0;       // publishes that returned a sequence
  std::uint64_t max_seq = 0;  // the largest of them + 1
  Code last = Code::kOk;      // how the loop ended
};

// Publishers publish until the topic refuses; a churner opens and closes
// subscribers until it is refused; the main thread deletes the topic as
// soon as the churner lets it. Every publish that succeeded is published,
// every later one fails with kNotFound, and the name starts empty again.
void delete_under_load(Engine& engine, const TopicOptions& options) {
  Topic* t = engine.create_topic("hot", options).value();
  constexpr int kPublishers = 3;
  std::vector<Round> rounds(kPublishers);
  std::atomic<bool> churning{true};
  std::vector<std::thread> threads;
  for (int p = 0; p < kPublishers; ++p)
    threads.emplace_back([&, p] {
      for (;;) {
        auto r = t->publish("p" + std::to_string(p));
        if (!r.ok()) {
          rounds[p].last = r.status().code();
          return;
        }
        ++rounds[p].ok;
        rounds[p].max_seq = std::max(rounds[p].max_seq, *r + 1);
      }
    });
  threads.emplace_back([&] {
    RecordView v[16];
    while (true) {
      auto sub = t->subscribe({.slow = SlowPolicy::kLoseOldest});
      if (!sub.ok()) {
        CHECK(sub.status().code() == Code::kNotFound);
        break;
      }
      (void)(*sub)->try_poll(v);
    }
    // Relaxed: the flag only ends the main thread's wait; join() orders the rest.
    churning.store(false, std::memory_order_relaxed);
  });
  while (t->published() < 300) std::this_thread::yield();
  Status s;
  int busy = 0;
  while ((s = engine.delete_topic("hot")).code() == Code::kBusy) {
    ++busy;
    std::this_thread::yield();
  }
  REQUIRE(s.ok());
  for (auto& th : threads) th.join();
  CHECK_FALSE(churning.load(std::memory_order_relaxed));  // relaxed: after join
  std::uint64_t total = 0, max_seq = 0, unsynced = 0;
  for (auto& r : rounds) {
    // A sync publish whose record was written but not yet durable when the
    // storage closed ends with kClosed (its record goes with the topic).
    if (options.durability == Durability::kSync && r.last == Code::kClosed)
      ++unsynced;
    else
      CHECK(r.last == Code::kNotFound);
    total += r.ok;
    max_seq = std::max(max_seq, r.max_seq);
  }
  // Every publish that returned a sequence completed before the topic went,
  // and the sequences were dense: no claimed-but-unwritten hole.
  CHECK(t->published() == total + unsynced);
  CHECK(max_seq <= total + unsynced);
  if (unsynced == 0) CHECK(max_seq == total);
  CHECK(t->publish("after").status().code() == Code::kNotFound);
  Topic* again = engine.create_topic("hot", options).value();
  CHECK(again->published() == 0);
  REQUIRE(engine.delete_topic("hot").ok());
}

}  // namespace

TEST_CASE("a memory-only topic deleted under publishers and subscriber churn loses no completed publish") {
  auto engine = Engine::open().value();
  for (int i = 0; i < 20; ++i) delete_under_load(*engine, conduit::test::small_ring());
}

TEST_CASE("a persisted topic deleted under publishers and subscriber churn loses no completed publish") {
  TempDir dir;
  EngineOptions o;
  o.data_dir = dir.path.string();
  auto engine = Engine::open(o).value();
  TopicOptions t;
  t.durability = Durability::kAsync;
  t.segment_bytes = 256 << 10;
  t.max_payload_bytes = 1024;
  for (int i = 0; i < 6; ++i) delete_under_load(*engine, t);
  t.durability = Durability::kSync;
  for (int i = 0; i < 2; ++i) delete_under_load(*engine, t);
}
