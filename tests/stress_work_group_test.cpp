// Stress: 4 producers and a work group of 3 consumers that nack or time out
// 10% of their deliveries at random, on a manual clock moved by a thread of
// its own. In the end every record is acked exactly once or dead-lettered
// exactly once: none lost, none both. Also across a reopen of a persisted
// topic in the middle of the run. Seeds are printed on failure.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/manual_clock.h"
#include "tests/support/temp_dir.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::ManualClock;

namespace {

#if defined(CONDUIT_SANITIZE_THREAD)
constexpr std::uint64_t kPerProducer = 3000;  // TSan runs several times slower
#else
constexpr std::uint64_t kPerProducer = 5000;
#endif
constexpr int kProducers = 4;
constexpr int kConsumers = 3;
constexpr std::uint64_t kRecords = kProducers * kPerProducer;

TopicOptions topic_options(Durability d) {
  TopicOptions t;
  t.durability = d;
  t.segment_bytes = 256 << 10;
  t.max_payload_bytes = 1024;
  return t;
}

WorkGroupOptions group_options() {
  WorkGroupOptions o;
  o.max_in_flight = 256;  // small: slots are reused many times over
  o.ack_timeout = 1s;
  o.max_attempts = 3;
  o.backoff_base = 10ms;
  o.backoff_max = 100ms;
  o.backoff_jitter = 0.5;
  return o;
}

// What the consumers did, per sequence: acks that were accepted.
struct Ledger {
  std::vector<std::atomic<std::uint32_t>> acked = std::vector<std::atomic<std::uint32_t>>(kRecords);
  std::atomic<std::uint64_t> refused{0};  // late acks the group refused
};

// One consumer thread: acks 90%; nacks 5%; "times out" 5%, half of those
// forgotten and half acked late (accepted only if the timeout had not passed).
void consume(Consumer& c, Ledger& ledger, std::uint64_t seed, const std::atomic<bool>& stop) {
  std::mt19937_64 rng(seed);
  std::vector<Delivery> held;
  Delivery out[16];
  // Acquire pairs with the release store of `stop` by the test thread.
  while (!stop.load(std::memory_order_acquire)) {
    PollResult r = c.poll(out, 1ms);
    for (std::size_t k = 0; k < r.count; ++k) {
      const Delivery& d = out[k];
      const auto roll = rng() % 100;
      if (roll < 5) {
        (void)c.nack(d);  // refused only if it had timed out already
      } else if (roll < 8) {
        held.push_back(d);  // acked late, below
      } else if (roll < 10) {
        // forgotten: the ack timeout brings it back
      } else if (c.ack(d)) {
        ledger.acked[d.sequence].fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join()
      } else {
        // The ticker can pass the ack timeout before a preempted consumer acks.
        ledger.refused.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
      }
    }
    if (held.size() > 8) {
      for (const Delivery& d : held) {
        if (c.ack(d))
          ledger.acked[d.sequence].fetch_add(1, std::memory_order_relaxed);  // relaxed: as above
        else
          ledger.refused.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
      }
      held.clear();
    }
  }
}

// Runs 4 producers over [from, to) of each producer's share and 3 consumers
// until the group's floor reaches `floor_goal` (or until the floor passes
// `stop_at`, to stop in the middle). Returns whether the goal was reached.
struct Run {
  Topic* topic;
  WorkGroup* group;
  ManualClock& clock;
  Ledger& ledger;
  std::uint64_t seed;

  bool go(std::uint64_t from, std::uint64_t to, std::uint64_t stop_at) {
    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<Consumer>> consumers;
    for (int i = 0; i < kConsumers; ++i) consumers.push_back(group->consumer().value());
    std::vector<std::thread> threads;
    std::atomic<int> publish_errors{0};
    for (int p = 0; p < kProducers; ++p)
      threads.emplace_back([&, p] {
        for (std::uint64_t i = from; i < to; ++i) {
          std::string payload = std::to_string(p);
          payload += '-';
          payload += std::to_string(i);
          if (!topic->publish(payload).ok())
            publish_errors.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join()
        }
      });
    for (int i = 0; i < kConsumers; ++i)
      threads.emplace_back([&, i] { consume(*consumers[i], ledger, seed * 31 + i, stop); });
    // The clock thread: 50 ms of engine time per real millisecond, so
    // timeouts and backoff come round quickly.
    std::thread ticker([&] {
      while (!stop.load(std::memory_order_acquire)) {  // acquire: pairs with the release below
        clock.advance(50ms);
        std::this_thread::sleep_for(1ms);
      }
    });
    bool reached = false;
    for (int waited = 0; waited < 60'000; ++waited) {  // at most a minute of real time
      const std::uint64_t floor = group->stats().ack_floor;
      if (floor >= stop_at) {
        reached = true;
        break;
      }
      std::this_thread::sleep_for(1ms);
    }
    stop.store(true, std::memory_order_release);  // release: pairs with the consumers' acquire
    for (auto& t : threads) t.join();
    ticker.join();
    CHECK(publish_errors.load(std::memory_order_relaxed) == 0);
    return reached;
  }
};

// Every sequence acked exactly once or dead-lettered exactly once.
void check_end_state(Engine& engine, const std::string& topic, Durability d, WorkGroup* group, Ledger& ledger) {
  Topic* dlq = engine.create_topic(topic + ".dlq", topic_options(d)).value();
  SubscriberOptions so;
  so.start = StartAt::earliest();
  auto sub = dlq->subscribe(so).value();
  std::vector<std::uint32_t> dead(kRecords, 0);
  RecordView v[64];
  std::uint64_t letters = 0;
  for (PollResult r = sub->try_poll(v); r.count != 0; r = sub->try_poll(v))
    for (std::size_t k = 0; k < r.count; ++k) {
      ++letters;
      const auto seq = std::stoull(std::string(v[k].find_header(dlq_header::kSequence).value_or("none")));
      REQUIRE(seq < kRecords);
      ++dead[seq];
      CHECK(v[k].find_header(dlq_header::kAttempts) == "3");
    }
  std::uint64_t acked = 0, bad = 0;
  for (std::uint64_t s = 0; s < kRecords; ++s) {
    const std::uint32_t a = ledger.acked[s].load(std::memory_order_relaxed);  // relaxed: threads joined
    acked += a;
    if (a + dead[s] != 1) {
      if (++bad <= 5) FAIL_CHECK("sequence ", s, ": acked ", a, " times, dead-lettered ", dead[s], " times");
    }
  }
  CHECK(bad == 0);
  CHECK(acked + letters == kRecords);
  const WorkGroupStats st = group->stats();
  CHECK(st.ack_floor == kRecords);
  CHECK(st.in_flight == 0);
  CHECK(st.pending_redelivery == 0);
  MESSAGE("acked ", acked, ", dead-lettered ", letters, ", late acks refused ",
          ledger.refused.load(std::memory_order_relaxed), ", timed out ", st.timed_out, ", redelivered ",
          st.redelivered);
}

std::uint64_t seed_from_time() {
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace

TEST_CASE("under nacks and timeouts every record ends acked once or dead-lettered once") {
  const std::uint64_t seed = seed_from_time();
  INFO("seed ", seed);
  ManualClock clock;
  EngineOptions eo;
  eo.clock = clock.function();
  auto engine = Engine::open(eo).value();
  Topic* topic = engine->create_topic("work", topic_options(Durability::kMemory)).value();
  REQUIRE(engine->create_topic("work.dlq", topic_options(Durability::kMemory)).ok());
  WorkGroup* group = topic->work_group("g", group_options()).value();
  Ledger ledger;
  Run run{topic, group, clock, ledger, seed};
  REQUIRE(run.go(0, kPerProducer, kRecords));
  check_end_state(*engine, "work", Durability::kMemory, group, ledger);
}

TEST_CASE("a reopen in the middle of the stress on a persisted topic gives the same end state") {
  const std::uint64_t seed = seed_from_time();
  INFO("seed ", seed);
  conduit::test::TempDir dir;
  ManualClock clock;
  EngineOptions eo;
  eo.clock = clock.function();
  eo.data_dir = dir.path.string();
  Ledger ledger;
  {
    auto engine = Engine::open(eo).value();
    Topic* topic = engine->create_topic("work", topic_options(Durability::kAsync)).value();
    WorkGroup* group = topic->work_group("g", group_options()).value();
    Run run{topic, group, clock, ledger, seed};
    // Half of each producer's share; stop once a third of all is done,
    // with deliveries in flight, nacked and forgotten.
    REQUIRE(run.go(0, kPerProducer / 2, kRecords / 3));
    MESSAGE("stopped at floor ", group->stats().ack_floor, " of ", kRecords);
  }  // close commits the group
  auto engine = Engine::open(eo).value();
  Topic* topic = engine->create_topic("work", topic_options(Durability::kAsync)).value();
  WorkGroup* group = topic->work_group("g", group_options()).value();
  CHECK(group->stats().ack_floor >= kRecords / 3);
  Run run{topic, group, clock, ledger, seed + 1};
  REQUIRE(run.go(kPerProducer / 2, kPerProducer, kRecords));
  check_end_state(*engine, "work", Durability::kAsync, group, ledger);
}
