// Topic::claim under contention (run under TSan by its label): producers
// claiming, committing and abandoning beside plain publishes while readers
// read; claims racing Engine::close() and delete_topic().
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/helpers.h"

namespace conduit::test {
namespace {

// Producer `p`'s i-th payload.
std::string payload_of(int p, int i) {
  std::string s = std::to_string(p * 10'000'000 + i);
  s.resize(s.size() + static_cast<std::size_t>(i % 40), 'x');
  return s;
}

// What one producer did until it stopped.
struct Done {
  std::vector<std::string> committed;
  int abandoned = 0;
  Code stopped_by = Code::kOk;
};

// Claims (committing two of three, abandoning the third) and publishes in
// turns, `n` times or until a call fails; a failed commit must be kClosed or
// kNotFound.
Done produce(Topic* t, int p, int n) {
  Done d;
  for (int i = 0; i < n; ++i) {
    const std::string s = payload_of(p, i);
    if (i % 4 == 3) {
      auto seq = t->publish(s);
      if (!seq.ok()) {
        d.stopped_by = seq.status().code();
        return d;
      }
      d.committed.push_back(s);
      continue;
    }
    auto c = t->claim(s.size());
    if (!c.ok()) {
      d.stopped_by = c.status().code();
      return d;
    }
    std::memcpy(c->payload().data(), s.data(), s.size());
    if (i % 4 == 2) {
      c->abandon();
      ++d.abandoned;
      continue;
    }
    auto seq = c->commit();
    if (!seq.ok()) {
      d.stopped_by = seq.status().code();
      return d;
    }
    d.committed.push_back(s);
  }
  return d;
}

}  // namespace

TEST_CASE("concurrent claims, commits and abandons: readers get every commit once and count every skip") {
  auto engine = Engine::open().value();
  TopicOptions o = small_ring();
  o.ring_bytes = 16 * o.segment_bytes;
  Topic* t = engine->create_topic("z", o).value();
  constexpr int kProducers = 3, kEach = 3000;
  auto sub = t->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  WorkGroup* g = t->work_group("g").value();
  std::vector<Done> done(kProducers);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) producers.emplace_back([&, p] { done[p] = produce(t, p, kEach); });

  std::multiset<std::string> seen_sub, seen_group;
  std::uint64_t sub_skipped = 0;
  std::thread group_reader([&] {
    auto consumer = g->consumer().value();
    Delivery d[32];
    const std::size_t want = kProducers * (kEach - kEach / 4);
    while (seen_group.size() < want) {
      const PollResult r = consumer->poll(d, std::chrono::seconds(10));
      for (std::size_t i = 0; i < r.count; ++i) {
        seen_group.emplace(d[i].record.payload());
        REQUIRE(consumer->ack(d[i]));
      }
    }
  });
  RecordView v[64];
  std::uint64_t next = 0;  // the sequence after the last record seen
  const std::uint64_t total = kProducers * kEach;
  while (seen_sub.size() + sub_skipped < total) {
    const PollResult r = sub->poll(v, std::chrono::seconds(10));
    REQUIRE(r.lost == 0);
    REQUIRE((r.count != 0 || r.skipped != 0));  // a stall would time out here
    sub_skipped += r.skipped;
    for (std::size_t i = 0; i < r.count; ++i) {
      // In order; at most the skips counted so far lie before it.
      REQUIRE(v[i].sequence() >= next);
      REQUIRE(v[i].sequence() <= seen_sub.size() + sub_skipped);
      seen_sub.emplace(v[i].payload());
      next = v[i].sequence() + 1;
    }
  }
  for (auto& th : producers) th.join();
  group_reader.join();
  std::multiset<std::string> want;
  int abandoned = 0;
  for (const Done& d : done) {
    CHECK(d.stopped_by == Code::kOk);
    want.insert(d.committed.begin(), d.committed.end());
    abandoned += d.abandoned;
  }
  CHECK(seen_sub == want);
  CHECK(seen_group == want);
  CHECK(sub_skipped == static_cast<std::uint64_t>(abandoned));
  CHECK(t->stats().skipped == static_cast<std::uint64_t>(abandoned));
  CHECK(g->stats().skipped == static_cast<std::uint64_t>(abandoned));
  CHECK(t->published() == total);
}

TEST_CASE("claims racing Engine::close(): every commit is OK or kClosed, readers finish, nothing hangs") {
  for (int round = 0; round < 5; ++round) {
    auto engine = Engine::open().value();
    TopicOptions o = small_ring();
    o.ring_bytes = 64 * o.segment_bytes;
    Topic* t = engine->create_topic("z", o).value();
    auto sub = t->subscribe({.name = {}, .start = StartAt::earliest()}).value();
    constexpr int kProducers = 2;
    std::vector<Done> done(kProducers);
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) producers.emplace_back([&, p] { done[p] = produce(t, p, 1'000'000); });
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + 5 * round));
    engine->close();
    for (auto& th : producers) th.join();
    std::multiset<std::string> want;
    for (const Done& d : done) {
      CHECK((d.stopped_by == Code::kClosed));
      want.insert(d.committed.begin(), d.committed.end());
    }
    // Everything committed is there, dense with the skip records, up to the close.
    std::multiset<std::string> seen;
    std::uint64_t skipped = 0;
    RecordView v[64];
    for (;;) {
      const PollResult r = sub->try_poll(v);
      skipped += r.skipped;
      for (std::size_t i = 0; i < r.count; ++i) seen.emplace(v[i].payload());
      if (r.closed) break;
      REQUIRE((r.count != 0 || r.skipped != 0));
    }
    CHECK(seen == want);
    CHECK(skipped == t->stats().skipped);
    CHECK(seen.size() + skipped == t->published());
  }
}

TEST_CASE("a single_producer topic's claims racing close() and delete_topic(): nothing lost, nothing hangs") {
  for (int round = 0; round < 6; ++round) {
    const bool del = round % 2 == 1;
    auto engine = Engine::open().value();
    TopicOptions o = small_ring();
    o.ring_bytes = 64 * o.segment_bytes;
    o.single_producer = true;
    Topic* t = engine->create_topic("z", o).value();
    // delete_topic() refuses a topic with subscribers: those rounds read nothing.
    auto sub = del ? nullptr : t->subscribe({.name = {}, .start = StartAt::earliest()}).value();
    std::atomic<std::uint64_t> read{0}, skipped{0};
    std::thread reader([&] {
      if (sub == nullptr) return;
      RecordView v[64];
      for (;;) {
        const PollResult r = sub->poll(v, std::chrono::milliseconds(50));
        read.fetch_add(r.count, std::memory_order_relaxed);  // relaxed: read after join()
        skipped.fetch_add(r.skipped, std::memory_order_relaxed);
        if (r.closed || !r.status.ok()) break;
      }
    });
    Done d;
    std::thread producer([&] { d = produce(t, 0, 1'000'000); });
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + 3 * round));
    if (del) {
      REQUIRE(engine->delete_topic("z").ok());
    } else {
      engine->close();
    }
    producer.join();
    CHECK((d.stopped_by == (del ? Code::kNotFound : Code::kClosed)));
    if (!del) {
      // Every record the producer committed was read; the rest are skips.
      reader.join();
      CHECK(read.load(std::memory_order_relaxed) == d.committed.size());
      CHECK(read.load(std::memory_order_relaxed) + skipped.load(std::memory_order_relaxed) == t->published());
    } else {
      reader.join();
    }
  }
}

TEST_CASE("claims racing delete_topic(): every commit is OK or kNotFound, nothing hangs") {
  for (int round = 0; round < 3; ++round) {
    TempDir dir;
    auto engine = Engine::open(engine_options(dir, false)).value();
    Topic* t = engine->create_topic("z", small_async()).value();
    constexpr int kProducers = 2;
    std::vector<Done> done(kProducers);
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) producers.emplace_back([&, p] { done[p] = produce(t, p, 1'000'000); });
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + 5 * round));
    REQUIRE(engine->delete_topic("z").ok());
    for (auto& th : producers) th.join();
    for (const Done& d : done) CHECK((d.stopped_by == Code::kNotFound));
  }
}

}  // namespace conduit::test
