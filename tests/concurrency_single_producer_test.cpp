// TopicOptions::single_producer: the first publishing thread owns the topic
// and claims with a plain store; other threads are refused; close() and
// delete_topic() stop the owner's claims without losing one it was told
// succeeded. Also run under ThreadSanitizer (concurrency label).
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;

namespace {

#if defined(CONDUIT_SANITIZE_THREAD)
constexpr int kScale = 4;  // TSan is about ten times slower
#else
constexpr int kScale = 1;
#endif

TopicOptions single_ring() {
  TopicOptions o = test::small_ring();  // two 160 KiB segments: a roll every ~2,700 records
  o.single_producer = true;
  return o;
}

std::string counter(std::uint64_t i) {
  std::string s(sizeof i, '\0');
  std::memcpy(s.data(), &i, sizeof i);
  return s;
}

std::uint64_t counter_of(std::string_view payload) {
  std::uint64_t i = ~std::uint64_t{0};
  if (payload.size() == sizeof i) std::memcpy(&i, payload.data(), sizeof i);
  return i;
}

// A thread that publishes counters 0, 1, ... until a publish fails; `told`
// counts those that succeeded and `last` is the failure's code (read both
// after join()).
std::thread publish_until_refused(Topic* topic, std::uint64_t& told, Code& last) {
  return std::thread([topic, &told, &last] {
    for (;;) {
      auto r = topic->publish(counter(told));
      if (!r.ok()) {
        last = r.status().code();
        return;
      }
      ++told;
    }
  });
}

}  // namespace

TEST_CASE("a single_producer topic takes publishes from its first publishing thread only") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", single_ring()).value();
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();

  // The first publisher is this thread; many records, across rolls.
  constexpr std::uint64_t kFirst = 10'000;
  for (std::uint64_t i = 0; i < kFirst; ++i) {
    REQUIRE(topic->publish(counter(i)).value() == i);
    if (i % 1000 == 999) {  // keep the blocking subscriber moving: the ring holds ~5,400 records
      std::vector<RecordView> views(1000);
      std::uint64_t read = 0;
      while (read < 1000) read += sub->poll(views, 1s).count;
    }
  }

  // Another thread: refused, nothing written, for every kind of publish.
  Status single{}, batch{}, nowait{};
  std::thread other([&] {
    single = topic->publish(counter(99)).status();
    const Message m = test::text("x");
    batch = topic->publish_batch({&m, 1}).status;
    nowait = topic->publish_nowait(m).status();
  });
  other.join();
  for (const Status& s : {single, batch, nowait}) {
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message().find("single_producer") != std::string::npos);
  }
  CHECK(topic->published() == kFirst);
  CHECK(topic->claimed() == kFirst);

  // The owner carries on where it was.
  CHECK(topic->publish(counter(kFirst)).value() == kFirst);

  // A topic of the same name with the option off is another topic.
  CHECK(engine->create_topic("t", test::small_ring()).status().code() == Code::kAlreadyExists);
}

TEST_CASE("two threads racing to be a single_producer topic's first publisher: exactly one wins") {
  for (int round = 0; round < 50 / kScale; ++round) {
    auto engine = Engine::open().value();
    Topic* topic = engine->create_topic("t", single_ring()).value();
    int ok[2] = {}, refused[2] = {};
    std::vector<std::thread> threads;
    for (int p = 0; p < 2; ++p)
      threads.emplace_back([&, p] {
        for (int i = 0; i < 100; ++i) {
          auto r = topic->publish(counter(static_cast<std::uint64_t>(i)));
          if (r.ok()) ++ok[p];
          if (!r.ok() && r.status().code() == Code::kInvalidArgument) ++refused[p];
        }
      });
    for (auto& t : threads) t.join();
    // One thread had all 100 publishes, the other none.
    CHECK(ok[0] + ok[1] == 100);
    CHECK(((ok[0] == 100 && refused[1] == 100) || (ok[1] == 100 && refused[0] == 100)));
    CHECK(topic->published() == 100);
  }
}

TEST_CASE("a single producer racing close: every publish it was told succeeded is read, and no other") {
  const int rounds = 200 / kScale;
  std::uint64_t total_ok = 0;
  for (int round = 0; round < rounds; ++round) {
    auto engine = Engine::open().value();
    Topic* topic = engine->create_topic("t", single_ring()).value();
    auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
    std::uint64_t told = 0;
    Code last = Code::kOk;
    std::thread producer = publish_until_refused(topic, told, last);
    std::uint64_t read = 0, out_of_order = 0;
    std::thread reader([&] {
      std::vector<RecordView> views(64);
      for (PollResult r; !r.closed;) {
        r = sub->poll(views, 10ms);
        for (std::size_t i = 0; i < r.count; ++i) out_of_order += counter_of(views[i].payload()) != read + i;
        read += r.count;
      }
    });
    std::this_thread::sleep_for(std::chrono::microseconds(40 * (round % 25)));
    engine->close();
    producer.join();
    reader.join();
    total_ok += told;
    CHECK(last == Code::kClosed);
    CHECK(out_of_order == 0);
    if (read != told || topic->published() != told || topic->claimed() != told) {
      CAPTURE(round);
      CAPTURE(told);
      CAPTURE(read);
      CAPTURE(topic->published());
      CAPTURE(topic->claimed());
      FAIL("a single producer's publish racing close was lost or half claimed");
    }
  }
  MESSAGE(rounds << " rounds, " << total_ok << " publishes acknowledged");
}

TEST_CASE("a single producer racing delete_topic stops with kNotFound, and the topic starts again empty") {
  for (int round = 0; round < 100 / kScale; ++round) {
    auto engine = Engine::open().value();
    Topic* topic = engine->create_topic("t", single_ring()).value();
    std::uint64_t told = 0;
    Code last = Code::kOk;
    std::thread producer = publish_until_refused(topic, told, last);
    std::this_thread::sleep_for(std::chrono::microseconds(40 * (round % 25)));
    REQUIRE(engine->delete_topic("t").ok());
    producer.join();
    CHECK(last == Code::kNotFound);
    // Every claim the producer made before the stop was finished: the
    // deleted topic counts exactly what it was told.
    CHECK(topic->published() == told);
    Topic* again = engine->create_topic("t", single_ring()).value();
    CHECK(again->published() == 0);
    CHECK(again->publish(counter(0)).value() == 0);
  }
}

TEST_CASE("a delete_topic refused for open users leaves the single producer as it was") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", single_ring()).value();
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  REQUIRE(topic->publish(counter(0)).ok());
  CHECK(engine->delete_topic("t").code() == Code::kBusy);
  CHECK(topic->publish(counter(1)).value() == 1);
  std::vector<RecordView> views(4);
  CHECK(sub->poll(views, 1s).count == 2);
}

TEST_CASE("the dead-letter topic of a single_producer topic takes publishes from any consumer") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", single_ring()).value();
  WorkGroupOptions wo;
  wo.max_attempts = 1;
  auto group = topic->work_group("g", wo).value();
  auto consumer = group->consumer().value();
  REQUIRE(topic->publish(counter(0)).ok());
  Delivery d[1];
  REQUIRE(consumer->poll(d, 1s).count == 1);
  // Failed from another thread than the topic's publisher: the dead letter
  // is published by this consumer's thread.
  std::thread([&] { consumer->nack(d[0]); }).join();
  Topic* dlq = engine->topic("t.dlq").value();
  CHECK_FALSE(dlq->options().single_producer);
  CHECK(dlq->published() == 1);
}

TEST_CASE("delete_topic does not wait for a single producer blocked on a full ring") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", single_ring()).value();
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest(), .slow = SlowPolicy::kBlock}).value();
  std::uint64_t told = 0;
  Code last = Code::kOk;
  std::thread producer = publish_until_refused(topic, told, last);
  // The ring (two 160 KiB segments) fills and the producer waits for the
  // subscriber, its claim in progress.
  while (topic->claimed() < 4000) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);
  CHECK(engine->delete_topic("t").code() == Code::kBusy);
  // The producer goes on once the subscriber reads; close() then stops it.
  std::vector<RecordView> views(256);
  while (sub->position() < 8000) REQUIRE(sub->poll(views, 1s).count > 0);
  engine->close();
  producer.join();
  CHECK(last == Code::kClosed);
  CHECK(told >= 8000);
}
