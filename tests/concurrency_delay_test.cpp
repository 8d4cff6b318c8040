// Delayed delivery with producers racing the pump: every delayed record is
// released exactly once, never before it is due, in due order.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace conduit;

TEST_CASE("producers publishing delayed records while the pump runs get each one released once, when due") {
  constexpr int kProducers = 3;
  constexpr int kPerProducer = 2000;
  auto engine = Engine::open().value();
  Topic* target = engine->create_topic("jobs").value();
  auto sub = target->subscribe(SubscriberOptions{.name = {}, .start = StartAt::earliest()}).value();
  // The manual clock: the pump thread moves it, producers read it.
  std::atomic<std::int64_t> now{0};
  auto pump = DelayPump::open(*engine, *target, {.clock = [&now] {
                // Acquire pairs with the pump thread's release.
                return now.load(std::memory_order_acquire);
              }}).value();
  std::atomic<int> producers_done{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p)
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        // Due times spread over 0..999 ticks ahead, in no order.
        const std::int64_t due = (i * 7919 + p * 131) % 1000;
        const std::string payload = std::to_string(due) + ":" + std::to_string(p) + ":" + std::to_string(i);
        Message m;
        m.payload = payload;
        REQUIRE(pump->publish_at(m, due).ok());
      }
      // Release pairs with the pump thread's acquire.
      producers_done.fetch_add(1, std::memory_order_release);
    });

  // The pump thread: its clock advances one tick per round; it checks that
  // nothing released is due after the clock.
  // Within one pump() the released records are in due order; across calls
  // a record published late, for a due time already passed, comes out late.
  std::vector<std::string> released;
  bool early = false, out_of_order = false;
  RecordView views[128];
  auto drain = [&](std::int64_t clock) {
    std::int64_t last_due = -1;
    for (PollResult r; (r = sub->try_poll(views)).count != 0;)
      for (std::size_t i = 0; i < r.count; ++i) {
        std::string s(views[i].payload());
        const std::int64_t due = std::stoll(s.substr(0, s.find(':')));
        early |= due > clock;
        out_of_order |= due < last_due;
        last_due = due;
        released.push_back(std::move(s));
      }
  };
  std::int64_t clock = 0;
  // Acquire pairs with the producers' release.
  while (producers_done.load(std::memory_order_acquire) != kProducers || clock < 1000) {
    REQUIRE(pump->pump().ok());
    drain(clock);
    if (clock < 1000) {
      ++clock;
      // Release pairs with the clock's acquire load.
      now.store(clock, std::memory_order_release);
    }
  }
  for (auto& t : producers) t.join();
  REQUIRE(pump->pump().ok());
  drain(clock);
  CHECK_FALSE(early);
  CHECK_FALSE(out_of_order);
  CHECK(released.size() == static_cast<std::size_t>(kProducers * kPerProducer));
  std::set<std::string> unique(released.begin(), released.end());
  CHECK(unique.size() == released.size());
  CHECK(pump->waiting() == 0);
}
