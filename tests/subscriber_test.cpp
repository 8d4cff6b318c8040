// Subscribers: lose-oldest and block policies on a small ring, waiting,
// close, and the lifetime of the views a poll hands out.
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <conduit/inspect.h>

#include <atomic>
#include <chrono>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;

namespace {

using conduit::test::small_ring;

SubscriberOptions options(StartAt start, SlowPolicy slow, WaitStrategy wait = WaitStrategy::kAdaptive) {
  SubscriberOptions o;
  o.start = start;
  o.slow = slow;
  o.wait = wait;
  return o;
}

// The payload of record `i`: its number, padded to a fixed width.
std::string payload_of(std::uint64_t i) {
  std::string s = std::to_string(i);
  return std::string(64 - s.size(), '0') + s;
}

// Publishes records [0, count) from a producer thread; returns how many
// publishes failed (0 expected), for the test thread to check after join().
std::uint64_t produce(Topic* topic, std::uint64_t count, std::uint64_t yield_every = 0) {
  std::uint64_t failures = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    auto r = topic->publish(payload_of(i));
    if (!r.ok() || *r != i) ++failures;
    if (yield_every != 0 && i % yield_every == 0) std::this_thread::yield();
  }
  return failures;
}

// Reads records [0, count) in order, `out.size()` per poll; returns how many
// it read before anything went wrong: a loss, a record out of order or with
// the wrong payload, close, ten seconds with nothing, or (a blocking
// subscriber) the ring dropping a record it has not passed.
std::uint64_t read_in_order(Topic* topic, Subscriber& sub, std::uint64_t count, std::span<RecordView> out,
                            bool yield_between = false) {
  std::uint64_t next = 0;
  while (next < count) {
    PollResult r = sub.poll(out, 10s);
    if (r.count == 0 || r.lost != 0 || r.closed) return next;
    for (std::size_t k = 0; k < r.count; ++k) {
      if (out[k].sequence() != next || out[k].payload() != payload_of(next)) return next;
      ++next;
    }
    if (sub.options().slow == SlowPolicy::kBlock && topic->earliest() > sub.position()) return next;
    if (yield_between) std::this_thread::yield();
  }
  return next;
}

}  // namespace

// -------------------------------------------------------------- lose-oldest ---

TEST_CASE("a lose-oldest subscriber that never polled is told exactly how many records it lost") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", small_ring()).value();
  auto sub = topic->subscribe(options(StartAt::earliest(), SlowPolicy::kLoseOldest)).value();
  constexpr std::uint64_t kRecords = 20000;  // several rings
  for (std::uint64_t i = 0; i < kRecords; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  const std::uint64_t earliest = topic->earliest();
  const std::uint64_t position = sub->position();
  REQUIRE(position == 0);
  REQUIRE(earliest > position);  // the ring moved on without the subscriber

  std::vector<RecordView> out(256);
  PollResult first = sub->try_poll(out);
  CHECK(first.lost == earliest - position);
  REQUIRE(first.count > 0);
  CHECK(out[0].sequence() == earliest);
  CHECK(sub->lost() == earliest);

  std::uint64_t next = earliest;
  std::uint64_t delivered = 0;
  for (PollResult r = first; r.count != 0; r = sub->try_poll(out)) {
    if (next != earliest) CHECK(r.lost == 0);  // only the first poll reports the loss
    for (std::size_t k = 0; k < r.count; ++k) {
      REQUIRE(out[k].sequence() == next);
      CHECK(out[k].payload() == payload_of(next));
      ++next;
      ++delivered;
    }
  }
  CHECK(next == kRecords);
  CHECK(sub->lost() == earliest);
  CHECK(delivered + sub->lost() == topic->published());
}

TEST_CASE("a lose-oldest subscriber that falls behind mid-stream reports each gap and stays contiguous after it") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", small_ring()).value();
  auto sub = topic->subscribe(options(StartAt::earliest(), SlowPolicy::kLoseOldest)).value();
  std::vector<RecordView> out(64);
  std::uint64_t published = 0, expected = 0, delivered = 0, lost = 0;
  // Read a little, then let the producer run a few rings ahead; repeat.
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 10000; ++i) REQUIRE(topic->publish(payload_of(published++)).ok());
    for (int polls = 0; polls < 3; ++polls) {
      PollResult r = sub->try_poll(out);
      lost += r.lost;
      expected += r.lost;
      for (std::size_t k = 0; k < r.count; ++k) {
        REQUIRE(out[k].sequence() == expected);
        CHECK(out[k].payload() == payload_of(expected));
        ++expected;
        ++delivered;
      }
    }
  }
  for (PollResult r = sub->try_poll(out); r.count != 0 || r.lost != 0; r = sub->try_poll(out)) {
    lost += r.lost;
    expected += r.lost;
    for (std::size_t k = 0; k < r.count; ++k) {
      REQUIRE(out[k].sequence() == expected);
      ++expected;
      ++delivered;
    }
  }
  CHECK(lost > 0);
  CHECK(sub->lost() == lost);
  CHECK(delivered + lost == published);
  CHECK(sub->position() == published);
}

TEST_CASE("the views of a lose-oldest subscriber stay intact while the ring moves past them") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", small_ring()).value();
  auto sub = topic->subscribe(options(StartAt::earliest(), SlowPolicy::kLoseOldest)).value();
  for (std::uint64_t i = 0; i < 10; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  RecordView out[10];
  REQUIRE(sub->try_poll(out).count == 10);
  // Lap the ring several times: the segment these views are in is dropped
  // from the topic, but this subscriber still holds it.
  for (std::uint64_t i = 10; i < 20000; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  REQUIRE(topic->earliest() > 10);
  for (std::uint64_t i = 0; i < 10; ++i) {
    CHECK(out[i].sequence() == i);
    CHECK(out[i].payload() == payload_of(i));
  }
}

TEST_CASE("a ring reused lap after lap never shows a record from an earlier lap") {
  // Record sizes change from lap to lap, so record boundaries move: a
  // reused segment that kept stale bytes would show an old record (or a
  // length word from the middle of one) where a new one is not written yet.
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", small_ring()).value();
  auto reader = topic->subscribe(options(StartAt::earliest(), SlowPolicy::kBlock)).value();
  auto lagger = topic->subscribe(options(StartAt::earliest(), SlowPolicy::kLoseOldest)).value();
  std::uint64_t published = 0, lagger_next = 0, lagger_lost = 0;
  RecordView out[64];
  for (int lap = 0; lap < 24; ++lap) {
    const std::size_t size = 64 + static_cast<std::size_t>(lap % 7) * 97;
    // Half a ring of records, then read them all: the blocking reader keeps
    // up, so the producer never waits for it on this one thread.
    const std::uint64_t count = (160u << 10) / (size + 64);
    for (std::uint64_t i = 0; i < count; ++i, ++published) {
      std::string p = payload_of(published);
      p.resize(size, static_cast<char>('a' + lap));
      REQUIRE(topic->publish(p).ok());
    }
    for (std::uint64_t next = published - count; next < published;) {
      const PollResult r = reader->try_poll(out);
      REQUIRE(r.count != 0);
      CHECK(r.lost == 0);
      for (std::size_t k = 0; k < r.count; ++k, ++next) {
        REQUIRE(out[k].sequence() == next);
        CHECK(out[k].payload().size() == size);
        CHECK(out[k].payload().substr(0, payload_of(next).size()) == payload_of(next));
      }
    }
    CHECK(reader->try_poll(out).count == 0);  // nothing past the last commit
    // The lose-oldest subscriber reads every third lap: whatever it is
    // given is exact, and what it lost is counted.
    if (lap % 3 != 2) continue;
    for (PollResult r; (r = lagger->try_poll(out)).count != 0 || r.lost != 0;) {
      lagger_lost += r.lost;
      lagger_next += r.lost;
      for (std::size_t k = 0; k < r.count; ++k, ++lagger_next) {
        REQUIRE(out[k].sequence() == lagger_next);
        CHECK(out[k].payload().substr(0, payload_of(lagger_next).size()) == payload_of(lagger_next));
      }
    }
    CHECK(lagger_next == published);
  }
  CHECK(lagger_lost == lagger->lost());
  CHECK(lagger_lost > 0);
}

// ------------------------------------------------------------------- block ---

TEST_CASE("a producer waits while a blocking subscriber is a whole ring behind") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", small_ring()).value();
  auto sub = topic->subscribe(options(StartAt::earliest(), SlowPolicy::kBlock)).value();
  constexpr std::uint64_t kRecords = 20000;  // several rings
  std::atomic<bool> done{false};
  std::uint64_t failures = 0;
  std::thread producer([&] {
    failures = produce(topic, kRecords);
    done.store(true, std::memory_order_release);  // pairs with the acquire loads below
  });
  // Let the producer run into the subscriber (it stops claiming once the
  // ring is full); how long that takes does not matter for what is checked.
  std::uint64_t claimed = topic->claimed();
  for (int still = 0; still < 5;) {
    std::this_thread::sleep_for(20ms);
    const std::uint64_t now = topic->claimed();
    still = now == claimed ? still + 1 : 0;
    claimed = now;
  }
  CHECK_FALSE(done.load(std::memory_order_acquire));
  CHECK(topic->earliest() == 0);  // nothing the subscriber has not read was dropped
  CHECK(topic->published() < kRecords);

  std::vector<RecordView> out(128);
  CHECK(read_in_order(topic, *sub, kRecords, out) == kRecords);
  engine->close();  // ends the producer if it is stuck
  producer.join();
  CHECK(failures == 0);
  CHECK(done.load(std::memory_order_acquire));
  CHECK(sub->lost() == 0);
}

TEST_CASE("a slow blocking subscriber receives every record of ten rings and loses none") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", small_ring()).value();
  auto sub = topic->subscribe(options(StartAt::earliest(), SlowPolicy::kBlock)).value();
  constexpr std::uint64_t kRecords = 30000;  // about ten rings of these records
  std::uint64_t failures = 0;
  std::thread producer([&] { failures = produce(topic, kRecords); });
  // Three at a time, yielding between: slower than the producer. The
  // reader also checks that the ring never drops a record it has not passed.
  RecordView out[3];
  CHECK(read_in_order(topic, *sub, kRecords, out, true) == kRecords);
  engine->close();  // ends the producer if it is stuck
  producer.join();
  CHECK(failures == 0);
  CHECK(sub->lost() == 0);
  CHECK(topic->published() == kRecords);
}

// ----------------------------------------------------------------- waiting ---

TEST_CASE("close wakes a subscriber parked in poll on an empty topic, and the poll says closed") {
  EngineOptions eo;
  eo.park_timeout = std::chrono::minutes(10);  // only close() can end the park in time
  auto engine = Engine::open(eo).value();
  Topic* topic = engine->create_topic("t").value();
  auto sub = topic->subscribe(options(StartAt::latest(), SlowPolicy::kBlock, WaitStrategy::kPark)).value();
  std::atomic<bool> polling{false};
  PollResult result;
  std::thread reader([&] {
    RecordView out[4];
    polling.store(true, std::memory_order_release);  // pairs with the acquire below
    result = sub->poll(out, std::chrono::minutes(1));
  });
  while (!polling.load(std::memory_order_acquire)) std::this_thread::yield();
  std::this_thread::sleep_for(20ms);  // most likely parked by now; either way close must end the poll
  engine->close();
  reader.join();
  CHECK(result.closed);
  CHECK(result.count == 0);
}

TEST_CASE("close wakes a parked subscriber that has read everything, and the poll says closed") {
  EngineOptions eo;
  eo.park_timeout = std::chrono::minutes(10);
  auto engine = Engine::open(eo).value();
  Topic* topic = engine->create_topic("t").value();
  auto sub = topic->subscribe(options(StartAt::earliest(), SlowPolicy::kBlock, WaitStrategy::kPark)).value();
  for (int i = 0; i < 3; ++i) REQUIRE(topic->publish("x").ok());
  RecordView out[4];
  REQUIRE(sub->try_poll(out).count == 3);
  std::atomic<bool> polling{false};
  PollResult result;
  std::thread reader([&] {
    polling.store(true, std::memory_order_release);  // pairs with the acquire below
    result = sub->poll(out, std::chrono::minutes(1));
  });
  while (!polling.load(std::memory_order_acquire)) std::this_thread::yield();
  std::this_thread::sleep_for(20ms);
  engine->close();
  reader.join();
  CHECK(result.closed);
  CHECK(result.count == 0);
}

TEST_CASE("a subscriber reads what was published before close, then polls say closed") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  auto sub = topic->subscribe(options(StartAt::earliest(), SlowPolicy::kBlock)).value();
  for (int i = 0; i < 5; ++i) REQUIRE(topic->publish("x").ok());
  engine->close();
  RecordView out[2];
  std::size_t received = 0;
  PollResult r;
  for (r = sub->poll(out, 1s); r.count != 0; r = sub->poll(out, 1s)) {
    CHECK_FALSE(r.closed);
    received += r.count;
  }
  CHECK(received == 5);
  CHECK(r.closed);
}

TEST_CASE("every wait strategy delivers every record from a producer thread") {
  const WaitStrategy strategies[] = {WaitStrategy::kBusySpin, WaitStrategy::kYield, WaitStrategy::kPark,
                                     WaitStrategy::kAdaptive};
  for (WaitStrategy wait : strategies) {
    CAPTURE(static_cast<int>(wait));
    auto engine = Engine::open().value();
    Topic* topic = engine->create_topic("t", small_ring()).value();
    auto sub = topic->subscribe(options(StartAt::earliest(), SlowPolicy::kBlock, wait)).value();
    constexpr std::uint64_t kRecords = 5000;
    std::uint64_t failures = 0;
    // Yields now and then, so the reader catches up and has to wait.
    std::thread producer([&] { failures = produce(topic, kRecords, 100); });
    RecordView out[16];
    CHECK(read_in_order(topic, *sub, kRecords, out) == kRecords);
    engine->close();  // ends the producer if it is stuck
    producer.join();
    CHECK(failures == 0);
  }
}

TEST_CASE("a poll with nothing to read returns nothing once its timeout passes") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  auto sub = topic->subscribe().value();
  RecordView out[4];
  PollResult r = sub->poll(out, 1ms);
  CHECK(r.count == 0);
  CHECK(r.lost == 0);
  CHECK_FALSE(r.closed);
}

// ------------------------------------------------------------------- views ---

TEST_CASE("views from a poll stay valid and unchanged while more records are published") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t", small_ring()).value();
  auto sub = topic->subscribe(options(StartAt::earliest(), SlowPolicy::kBlock)).value();
  for (std::uint64_t i = 0; i < 10; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  RecordView out[10];
  REQUIRE(sub->try_poll(out).count == 10);
  // Publish into the same and the next segment, staying within the ring (a
  // blocking subscriber at 10 would otherwise hold this very thread).
  for (std::uint64_t i = 10; i < 2000; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  for (std::uint64_t i = 0; i < 10; ++i) {
    CHECK(out[i].sequence() == i);
    CHECK(out[i].payload() == payload_of(i));
  }
}

// ------------------------------------------------------- start past the end ---

TEST_CASE("a subscriber that starts at a sequence past the end waits for it, across segment rolls") {
  auto engine = Engine::open().value();
  TopicOptions o = small_ring();
  o.ring_bytes = 8 * o.segment_bytes;  // room for every record below: nothing dropped
  Topic* topic = engine->create_topic("future", o).value();
  // Far past what one segment can hold: the start lies several segments on.
  const std::uint64_t start = 9000;
  auto sub = topic->subscribe(options(StartAt::at(start), SlowPolicy::kLoseOldest)).value();
  CHECK(sub->position() == start);
  std::vector<RecordView> out(16);
  for (std::uint64_t i = 0; i < start; ++i) {
    REQUIRE(topic->publish(payload_of(i)).ok());
    if (i % 1000 == 0) CHECK(sub->try_poll(out).count == 0);  // nothing yet, and no crash
  }
  CHECK(sub->try_poll(out).count == 0);
  REQUIRE(topic->publish(payload_of(start)).ok());
  PollResult r = sub->poll(out, 5s);
  REQUIRE(r.count == 1);
  CHECK(r.lost == 0);
  CHECK(out[0].sequence() == start);
  CHECK(out[0].payload() == payload_of(start));
}

// ------------------------------------------------------------------ linger ---

namespace {
SubscriberOptions lingering(std::size_t min_batch, std::chrono::nanoseconds linger) {
  SubscriberOptions o = options(StartAt::earliest(), SlowPolicy::kBlock);
  o.min_batch = min_batch;
  o.linger = linger;
  return o;
}
}  // namespace

TEST_CASE("a lingering poll that found some records waits for the rest of its batch") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  auto sub = topic->subscribe(lingering(8, 2s)).value();
  for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  PollResult r;
  RecordView out[16];
  std::thread poller([&] { r = sub->poll(out, 10s); });
  // position() moves once the poll has taken the first three: it is lingering.
  while (sub->position() < 3) std::this_thread::yield();
  for (std::uint64_t i = 3; i < 8; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  poller.join();
  REQUIRE(r.count == 8);  // without lingering: 3
  for (std::uint64_t i = 0; i < 8; ++i) CHECK(out[i].payload() == payload_of(i));
}

TEST_CASE("a lingering poll returns what it has when the linger ends") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  auto sub = topic->subscribe(lingering(8, 20ms)).value();
  for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  RecordView out[16];
  PollResult r = sub->poll(out, 10s);
  CHECK(r.count == 3);
  CHECK(r.lost == 0);
  CHECK(sub->position() == 3);
}

TEST_CASE("a lingering poll never spans a segment boundary") {
  auto engine = Engine::open().value();
  TopicOptions o = small_ring();
  o.ring_bytes = 4 * o.segment_bytes;
  Topic* topic = engine->create_topic("t", o).value();
  auto sub = topic->subscribe(lingering(100'000, 200ms)).value();
  const std::uint64_t total = 3000;  // 112-byte records: about two segments of 160 KiB
  for (std::uint64_t i = 0; i < total; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  std::vector<RecordView> out(total);
  PollResult first = sub->poll(out, 10s);
  REQUIRE(first.count > 0);
  REQUIRE(first.count < total);
  // Every view of the batch is from the first segment, and all of it: as
  // many records as fit after the segment header.
  Message m;
  const std::string p = payload_of(0);
  m.payload = p;
  const std::size_t per_segment =
      (o.segment_bytes - inspect::kSegmentHeaderBytes) / inspect::padded_size(inspect::record_size(m));
  CHECK(first.count == per_segment);
  for (std::uint64_t i = 0; i < first.count; ++i) REQUIRE(out[i].sequence() == i);
  std::uint64_t next = first.count;
  while (next < total) {
    PollResult r = sub->poll(out, 10s);
    REQUIRE(r.count > 0);
    for (std::size_t k = 0; k < r.count; ++k) REQUIRE(out[k].sequence() == next++);
  }
}

// -------------------------------------------------------------- stream gap ---

namespace {
// Seconds a call of `f` took.
template <class F>
double seconds_of(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

TEST_CASE("stream_gap: after a poll that found several records waiting and did not fill its batch, the next waits") {
  auto engine = Engine::open().value();
  Topic* topic = engine->create_topic("t").value();
  SubscriberOptions o = options(StartAt::earliest(), SlowPolicy::kBlock, WaitStrategy::kBusySpin);
  o.stream_gap = 1s;
  auto sub = topic->subscribe(o).value();
  RecordView out[8];
  std::uint64_t next = 0;
  auto publish = [&](std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i) REQUIRE(topic->publish(payload_of(next++)).ok());
  };
  publish(5);
  PollResult r;
  // Found at once, 5 of 8: it streams, and sets the gap (from a time
  // after `streamed`).
  const auto streamed = std::chrono::steady_clock::now();
  CHECK(seconds_of([&] { r = sub->poll(out, 10s); }) < 0.9);
  REQUIRE(r.count == 5);
  publish(8);
  // try_poll never waits, and takes nothing from the gap.
  CHECK(seconds_of([&] { r = sub->try_poll(std::span(out, 1)); }) < 0.9);
  REQUIRE(r.count == 1);
  // The record was there, yet the poll waits out the gap; it fills its batch, so it sets none.
  r = sub->poll(std::span(out, 7), 10s);
  CHECK(std::chrono::steady_clock::now() - streamed >= 1s);
  REQUIRE(r.count == 7);
  CHECK(out[6].payload() == payload_of(12));
  // No gap now: a poll that waits for its record...
  std::thread later([&] {
    std::this_thread::sleep_for(50ms);
    publish(1);
  });
  CHECK(seconds_of([&] { r = sub->poll(out, 10s); }) < 0.9);
  later.join();
  REQUIRE(r.count == 1);
  // ... sets none (a round trip), nor does one that finds a single record
  // there at once (a rate the reader keeps up with).
  publish(1);
  CHECK(seconds_of([&] { r = sub->poll(out, 10s); }) < 0.9);
  REQUIRE(r.count == 1);
  publish(1);
  CHECK(seconds_of([&] { r = sub->poll(out, 10s); }) < 0.9);
  REQUIRE(r.count == 1);
}
