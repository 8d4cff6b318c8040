// Work groups: competing consumers, acks and nacks, the ring they hold, and
// the dispatcher that drives a consumer (or a subscriber) on its own thread.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;

namespace {

using conduit::test::small_ring;

void publish_numbers(Topic* topic, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t i = from; i < to; ++i) REQUIRE(topic->publish(std::to_string(i)).value() == i);
}

}  // namespace

TEST_CASE("each record is delivered to exactly one consumer of a group") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  WorkGroup* group = topic->work_group("g").value();
  std::vector<std::unique_ptr<Consumer>> consumers;
  for (int i = 0; i < 3; ++i) consumers.push_back(group->consumer().value());
  constexpr std::uint64_t kRecords = 1000;
  publish_numbers(topic, 0, kRecords);

  std::vector<std::set<std::uint64_t>> got(consumers.size());
  Delivery out[7];
  for (bool any = true; any;) {
    any = false;
    for (std::size_t c = 0; c < consumers.size(); ++c) {
      PollResult r = consumers[c]->try_poll(out);
      any = any || r.count != 0;
      for (std::size_t k = 0; k < r.count; ++k) {
        CHECK(out[k].attempt == 1);
        CHECK(out[k].record.sequence() == out[k].sequence);
        CHECK(out[k].record.payload() == std::to_string(out[k].sequence));
        CHECK(got[c].insert(out[k].sequence).second);
        consumers[c]->ack(out[k]);
      }
    }
  }
  std::vector<int> times(kRecords, 0);
  for (const auto& s : got)
    for (std::uint64_t seq : s) ++times.at(seq);
  CHECK(std::all_of(times.begin(), times.end(), [](int n) { return n == 1; }));
  for (const auto& s : got) CHECK_FALSE(s.empty());  // the work was shared
  CHECK(group->stats().ack_floor == kRecords);
  CHECK(group->lag() == 0);
}

TEST_CASE("a nacked record is delivered again with attempt 2") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  WorkGroup* group = topic->work_group("g").value();
  auto consumer = group->consumer().value();
  publish_numbers(topic, 0, 3);
  Delivery out[1];
  REQUIRE(consumer->try_poll(out).count == 1);
  CHECK(out[0].sequence == 0);
  CHECK(out[0].attempt == 1);
  consumer->nack(out[0]);
  CHECK(group->stats().pending_redelivery == 1);

  REQUIRE(consumer->try_poll(out).count == 1);  // redeliveries come before new records
  CHECK(out[0].sequence == 0);
  CHECK(out[0].attempt == 2);
  CHECK(out[0].record.payload() == "0");
  CHECK(group->stats().redelivered == 1);
  CHECK(group->stats().pending_redelivery == 0);
  consumer->ack(out[0]);
  REQUIRE(consumer->try_poll(out).count == 1);
  CHECK(out[0].sequence == 1);
  CHECK(out[0].attempt == 1);
}

TEST_CASE("a delay or ack timeout of centuries means never, not an overflow into the past") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  WorkGroupOptions wo;
  wo.ack_timeout = std::chrono::nanoseconds::max();
  WorkGroup* group = topic->work_group("g", wo).value();
  auto consumer = group->consumer().value();
  publish_numbers(topic, 0, 2);
  Delivery out[2];
  REQUIRE(consumer->try_poll(out).count == 2);
  // now + the delay wrapped to a time long past: delivered again at once.
  consumer->nack(out[0], std::chrono::nanoseconds::max());
  CHECK(group->stats().pending_redelivery == 1);
  CHECK(consumer->try_poll(out).count == 0);
  // The unacked one (out[1]) is not timed out either.
  CHECK(consumer->poll(out, 20ms).count == 0);
  CHECK(group->stats().redelivered == 0);
}

TEST_CASE("a record nacked by one consumer may be delivered to another") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  WorkGroup* group = topic->work_group("g").value();
  auto a = group->consumer().value();
  auto b = group->consumer().value();
  publish_numbers(topic, 0, 1);
  Delivery out[1];
  REQUIRE(a->try_poll(out).count == 1);
  a->nack(out[0]);
  REQUIRE(b->try_poll(out).count == 1);
  CHECK(out[0].sequence == 0);
  CHECK(out[0].attempt == 2);
  b->ack(out[0]);
  CHECK(group->stats().ack_floor == 1);
}

TEST_CASE("a work group's stats report the next sequence and the ack floor") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  WorkGroup* group = topic->work_group("g").value();
  auto consumer = group->consumer().value();
  publish_numbers(topic, 0, 10);
  CHECK(group->stats().next == 0);
  CHECK(group->stats().ack_floor == 0);
  CHECK(group->lag() == 10);

  Delivery out[4];
  REQUIRE(consumer->try_poll(out).count == 4);  // sequences 0..3
  CHECK(group->stats().next == 4);
  CHECK(group->stats().ack_floor == 0);
  consumer->ack(out[0]);
  consumer->ack(out[1]);
  CHECK(group->stats().ack_floor == 2);
  consumer->ack(out[3]);
  CHECK(group->stats().ack_floor == 2);  // 2 is still out
  consumer->ack(out[2]);
  CHECK(group->stats().ack_floor == 4);
  CHECK(group->lag() == 6);
  CHECK(group->stats().next == 4);
}

TEST_CASE("acking a batch of deliveries at once acks those still the consumer's and counts them") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  WorkGroup* group = topic->work_group("g").value();
  auto a = group->consumer().value();
  auto b = group->consumer().value();
  publish_numbers(topic, 0, 10);
  Delivery out[8];
  REQUIRE(a->try_poll(out).count == 8);  // sequences 0..7
  CHECK(a->ack(out[1]));
  CHECK(a->nack(out[2]));  // no longer a's: goes back to the group
  Delivery again[1];
  REQUIRE(b->try_poll(again).count == 1);
  CHECK(again[0].sequence == 2);

  // 1 was acked already and 2 was nacked: six of the eight are acked now.
  CHECK(a->ack(std::span<const Delivery>(out, 8)) == 6);
  CHECK(group->stats().ack_floor == 2);  // 2 is b's, in flight
  CHECK(group->stats().in_flight == 1);
  CHECK(b->ack(std::span<const Delivery>(again, 1)) == 1);
  CHECK(group->stats().ack_floor == 8);
  CHECK(a->ack(std::span<const Delivery>(out, 8)) == 0);  // all answered: nothing changes
  CHECK(a->ack(std::span<const Delivery>()) == 0);
}

TEST_CASE("a work group is created once per name and later calls return it") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  WorkGroup* g = topic->work_group("g").value();
  CHECK(topic->work_group("g").value() == g);
  CHECK(g->name() == "g");
}

TEST_CASE("a work group with a bad name or a max_in_flight that is not a power of two in 64..2^24 is refused") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  CHECK(topic->work_group("").status().code() == Code::kInvalidArgument);
  CHECK(topic->work_group("a/b").status().code() == Code::kInvalidArgument);
  for (std::uint32_t bad : {100u, 32u, 1u << 25}) {
    CAPTURE(bad);
    WorkGroupOptions o;
    o.max_in_flight = bad;
    CHECK(topic->work_group("h", o).status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("two work groups on one topic each receive every record") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  auto a = topic->work_group("a").value()->consumer().value();
  auto b = topic->work_group("b").value()->consumer().value();
  constexpr std::uint64_t kRecords = 500;
  publish_numbers(topic, 0, kRecords);
  for (Consumer* c : {a.get(), b.get()}) {
    std::vector<std::uint64_t> seqs;
    Delivery out[32];
    for (PollResult r = c->try_poll(out); r.count != 0; r = c->try_poll(out))
      for (std::size_t k = 0; k < r.count; ++k) {
        seqs.push_back(out[k].sequence);
        c->ack(out[k]);
      }
    REQUIRE(seqs.size() == kRecords);
    for (std::uint64_t i = 0; i < kRecords; ++i) CHECK(seqs[i] == i);
  }
}

TEST_CASE("an unacked record holds the ring of a memory-only topic and producers wait for it") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", small_ring()).value();
  WorkGroup* group = topic->work_group("g").value();
  auto consumer = group->consumer().value();
  constexpr std::uint64_t kRecords = 30000;  // several rings
  std::atomic<bool> done{false};
  std::uint64_t failures = 0;
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < kRecords; ++i) {
      auto r = topic->publish(std::to_string(i));
      if (!r.ok() || *r != i) ++failures;
    }
    done.store(true, std::memory_order_release);  // pairs with the acquire loads below
  });

  // Hold sequence 0 and ack everything else, until nothing more arrives.
  Delivery held;
  std::vector<Delivery> out(64);
  std::uint64_t acked = 0;
  for (int idle = 0; idle < 5;) {
    PollResult r = consumer->poll(out, 20ms);
    idle = r.count == 0 ? idle + 1 : 0;
    for (std::size_t k = 0; k < r.count; ++k) {
      if (out[k].sequence == 0) {
        held = out[k];
        continue;
      }
      consumer->ack(out[k]);
      ++acked;
    }
  }
  CHECK(held.record.valid());
  CHECK_FALSE(done.load(std::memory_order_acquire));
  CHECK(topic->earliest() == 0);
  CHECK(topic->published() < kRecords);
  CHECK(group->stats().ack_floor == 0);
  if (held.record.valid()) {
    CHECK(held.record.payload() == "0");  // its view is still valid
    consumer->ack(held);
    ++acked;
  }
  while (acked < kRecords) {
    PollResult r = consumer->poll(out, 10s);
    if (r.count == 0) break;  // nothing within ten seconds: it is not coming
    for (std::size_t k = 0; k < r.count; ++k) {
      consumer->ack(out[k]);
      ++acked;
    }
  }
  CHECK(acked == kRecords);
  engine->close();  // ends the producer if it is stuck
  producer.join();
  CHECK(failures == 0);
  CHECK(group->stats().ack_floor == kRecords);
}

// ------------------------------------------------------------- dispatcher ---

TEST_CASE("a dispatcher nacks what its handler throws on, and every record is acked in the end") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  WorkGroup* group = topic->work_group("g").value();
  constexpr std::uint64_t kRecords = 3000;
  std::vector<std::atomic<int>> acks(kRecords);
  std::atomic<std::uint64_t> first_attempts_thrown{0};
  Dispatcher dispatcher(group->consumer().value(), [&](const Delivery& d) {
    // Every third record fails on its first two attempts.
    if (d.sequence % 3 == 0 && d.attempt <= 2) {
      if (d.attempt == 1) first_attempts_thrown.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
      throw std::runtime_error("not yet");
    }
    acks[d.sequence].fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join()
    return Outcome::kAck;
  });
  publish_numbers(topic, 0, kRecords);
  engine->close();  // the dispatcher ends once everything published was handled
  dispatcher.join();
  for (std::uint64_t i = 0; i < kRecords; ++i) {
    CAPTURE(i);
    CHECK(acks[i].load(std::memory_order_relaxed) == 1);
  }
  CHECK(first_attempts_thrown.load(std::memory_order_relaxed) == kRecords / 3);  // relaxed: after join()
  CHECK(dispatcher.handled() == kRecords);
  CHECK(dispatcher.failed() == 2 * (kRecords / 3));
  CHECK(group->stats().ack_floor == kRecords);
  CHECK(group->stats().redelivered == 2 * (kRecords / 3));
}

TEST_CASE("a dispatcher on a kSync topic acks every record, a polled batch at a time") {
  conduit::test::TempDir dir;
  auto engine = Engine::open({.data_dir = dir.path.string()}).value();
  Topic* topic = engine->create_topic("t", {.durability = Durability::kSync}).value();
  WorkGroup* group = topic->work_group("g").value();
  constexpr std::uint64_t kRecords = 1000;
  std::atomic<std::uint64_t> seen{0};
  Dispatcher dispatcher(group->consumer().value(), [&](const Delivery& d) {
    seen.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
    return d.sequence % 10 == 7 && d.attempt == 1 ? Outcome::kNack : Outcome::kAck;
  });
  std::vector<std::string> payloads(kRecords, "job");
  std::vector<Message> batch(kRecords);
  for (std::size_t i = 0; i < kRecords; ++i) batch[i].payload = payloads[i];
  REQUIRE(topic->publish_batch(batch).ok());
  // Every ack durable before the close (a close cuts a journal wait short).
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (dispatcher.handled() < kRecords && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  engine->close();
  dispatcher.join();
  CHECK(dispatcher.handled() == kRecords);
  CHECK(seen.load(std::memory_order_relaxed) == kRecords + kRecords / 10);
  CHECK(group->stats().ack_floor == kRecords);
}

TEST_CASE("a dispatcher whose handler returns nack sees the record again") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  WorkGroup* group = topic->work_group("g").value();
  std::vector<std::uint32_t> attempts;  // only the dispatcher's thread touches it until join()
  Dispatcher dispatcher(group->consumer().value(), [&](const Delivery& d) {
    attempts.push_back(d.attempt);
    return d.attempt < 3 ? Outcome::kNack : Outcome::kAck;
  });
  REQUIRE(topic->publish("once").ok());
  engine->close();
  dispatcher.join();
  CHECK(attempts == std::vector<std::uint32_t>{1, 2, 3});
  CHECK(dispatcher.handled() == 1);
  CHECK(dispatcher.failed() == 0);
}

TEST_CASE("a dispatcher over a subscriber handles every record and counts it") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  SubscriberOptions so;
  so.start = StartAt::earliest();
  std::uint64_t sum = 0;  // only the dispatcher's thread touches it until join()
  std::uint64_t next = 0;
  bool in_order = true;
  Dispatcher dispatcher(topic->subscribe(so).value(), [&](const RecordView& v) {
    in_order = in_order && v.sequence() == next++;
    sum += std::stoull(std::string(v.payload()));
  });
  constexpr std::uint64_t kRecords = 5000;
  publish_numbers(topic, 0, kRecords);
  engine->close();
  dispatcher.join();
  CHECK(dispatcher.handled() == kRecords);
  CHECK(dispatcher.failed() == 0);
  CHECK(dispatcher.lost() == 0);
  CHECK(in_order);
  CHECK(sum == kRecords * (kRecords - 1) / 2);
}

TEST_CASE("a dispatcher over a subscriber counts records whose handler threw as failed") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  SubscriberOptions so;
  so.start = StartAt::earliest();
  Dispatcher dispatcher(topic->subscribe(so).value(), [&](const RecordView& v) {
    if (v.sequence() % 4 == 0) throw std::runtime_error("bad record");
  });
  constexpr std::uint64_t kRecords = 1000;
  publish_numbers(topic, 0, kRecords);
  engine->close();
  dispatcher.join();
  CHECK(dispatcher.handled() == kRecords - kRecords / 4);
  CHECK(dispatcher.failed() == kRecords / 4);
}

TEST_CASE("stop ends a dispatcher that is waiting for records") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  std::atomic<std::uint64_t> seen{0};
  Dispatcher dispatcher(topic->subscribe().value(), [&](const RecordView&) {
    seen.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
  });
  REQUIRE(topic->publish("x").ok());
  while (dispatcher.handled() == 0) std::this_thread::yield();
  dispatcher.stop();
  CHECK(seen.load(std::memory_order_relaxed) == 1);  // relaxed: after stop() joined the thread
  CHECK(dispatcher.handled() == 1);
}

// Found by tests/stress_engine_test.cpp: a publish that sealed the head
// segment and was then refused its roll by close() left a sealed segment with
// no successor. A consumer whose next sequence lay past it was told "maybe
// ready" forever, so its polls never reported closed and its thread never
// ended.
TEST_CASE("a work group reports closed after close cut a segment roll short") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.max_payload_bytes = 1024;
  o.segment_bytes = 160u << 10;
  o.ring_bytes = 2 * o.segment_bytes;
  Topic* topic = engine->create_topic("cut", o).value();
  // A blocking subscriber that never reads: the ring fills, and the publish
  // that seals the second segment waits in its roll for space.
  SubscriberOptions holder;
  holder.start = StartAt::earliest();
  auto stuck = topic->subscribe(holder).value();
  auto consumer = topic->work_group("workers").value()->consumer().value();
  std::thread producer([&] {
    while (topic->publish(std::string(900, 'c')).ok()) {}
  });
  // Wait until the producer is parked in its roll (published stops moving).
  for (std::uint64_t last = ~std::uint64_t{0}; last != topic->published();) {
    last = topic->published();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  engine->close();
  producer.join();

  Delivery d[64];
  std::uint64_t acked = 0;
  PollResult r;
  for (int polls = 0; polls < 100'000; ++polls) {
    r = consumer->try_poll(d);
    for (std::size_t i = 0; i < r.count; ++i) consumer->ack(d[i]);
    acked += r.count;
    if (r.closed) break;
  }
  CHECK(r.closed);
  CHECK(acked == topic->published());
}

TEST_CASE("a work group name is checked like a topic name, and may not end in .state or .tmp") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  CHECK(topic->work_group("bad/name").status().code() == Code::kInvalidArgument);
  CHECK(topic->work_group("billing.state").status().code() == Code::kInvalidArgument);  // its state file's name
  CHECK(topic->work_group("billing.tmp").status().code() == Code::kInvalidArgument);
  CHECK(topic->work_group("billing.v2").ok());
}

TEST_CASE("a consumer waiting on a full window gets the next record once another consumer acks") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  WorkGroupOptions o;
  o.max_in_flight = 64;
  WorkGroup* group = topic->work_group("g", o).value();
  for (int i = 0; i < 65; ++i) REQUIRE(topic->publish("r" + std::to_string(i)).ok());
  auto holder = group->consumer().value();
  std::vector<Delivery> held(64);
  REQUIRE(holder->poll(held, std::chrono::seconds(5)).count == 64);  // the whole window

  ConsumerOptions parks;
  parks.wait = WaitStrategy::kPark;
  auto waiter = group->consumer(parks).value();
  std::vector<Delivery> got(1);
  CHECK(waiter->try_poll(got).count == 0);  // full: record 64 cannot go out
  PollResult r;
  std::thread t([&] { r = waiter->poll(got, std::chrono::seconds(10)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(holder->ack(held[0]));
  t.join();
  REQUIRE(r.count == 1);
  CHECK(got[0].sequence == 64);
}

TEST_CASE("a destroyed consumer's deliveries go out again at once, as nacks with no delay") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  WorkGroupOptions wo;
  wo.ack_timeout = std::chrono::hours(1);   // only the consumer's end can explain a redelivery
  wo.backoff_base = std::chrono::hours(1);  // and a nack with the group's backoff would wait
  WorkGroup* group = topic->work_group("g", wo).value();
  publish_numbers(topic, 0, 10);
  auto other = group->consumer().value();
  Delivery out[10];
  {
    auto gone = group->consumer().value();
    PollResult r = gone->try_poll(std::span<Delivery>(out, 4));
    REQUIRE(r.count == 4);
    CHECK(gone->ack(out[0]));  // acked ones stay acked
  }
  std::set<std::uint64_t> again;
  PollResult r = other->try_poll(out);
  for (std::size_t k = 0; k < r.count; ++k) {
    if (out[k].attempt == 2) again.insert(out[k].sequence);
    CHECK(other->ack(out[k]));
  }
  CHECK(again == std::set<std::uint64_t>{1, 2, 3});
  CHECK(r.count == 9);
  CHECK(group->stats().redelivered == 3);
  CHECK(group->stats().ack_floor == 10);
}
