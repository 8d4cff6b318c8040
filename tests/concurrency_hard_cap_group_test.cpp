// The hard cap cuts an open work group while its consumers ack, nack and
// hold deliveries on other threads and a producer goes on: every record is
// in the end either acked once or lost once (reported by a poll, counted in
// the group's and the topic's stats), never both, never twice. CI runs
// this under TSan (label "concurrency").
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;

namespace {

constexpr std::size_t kSegment = 256 << 10;  // about 270 records of ~1 KB
constexpr std::uint64_t kRecords = 4000;
constexpr int kConsumers = 2;

}  // namespace

TEST_CASE("under concurrent consumers, each record is acked once or lost to the cap once") {
  conduit::test::TempDir dir;
  EngineOptions eo;
  eo.data_dir = dir.path.string();
  auto engine = Engine::open(eo).value();
  TopicOptions to;
  to.durability = Durability::kAsync;
  to.segment_bytes = kSegment;
  to.max_payload_bytes = 1024;
  to.hard_cap_bytes = 3 * kSegment;
  Topic* topic = engine->create_topic("jobs", to).value();
  WorkGroupOptions go;
  go.max_in_flight = 256;  // fills up behind the held deliveries: the cap must cut
  go.ack_timeout = std::chrono::nanoseconds(0);
  WorkGroup* group = topic->work_group("workers", go).value();

  // acks[s]: how many acks of sequence s were taken (true).
  std::vector<std::atomic<int>> acks(kRecords);
  std::atomic<std::uint64_t> reported_lost{0};
  std::atomic<bool> published_all{false};

  auto consume = [&](int id) {
    auto c = group->consumer().value();
    std::vector<Delivery> held;  // answered only at the end
    Delivery out[16];
    std::uint64_t n = 0;
    // A bug here would spin forever: give up (and fail the checks) instead.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < give_up) {
      PollResult r = c->try_poll(out);
      // Relaxed: a sum read after the threads are joined.
      reported_lost.fetch_add(r.lost, std::memory_order_relaxed);
      for (std::size_t k = 0; k < r.count; ++k, ++n) {
        const Delivery& d = out[k];
        if ((n + static_cast<std::uint64_t>(id)) % 40 == 0) {
          held.push_back(d);
        } else if (d.attempt == 1 && n % 7 == 0) {
          c->nack(d);  // true, or false when the cap took it meanwhile
        } else if (c->ack(d)) {
          acks[d.sequence].fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
        }
      }
      if (r.count != 0 || r.lost != 0) continue;
      // Acquire pairs with the producer's release: every record is out.
      if (published_all.load(std::memory_order_acquire)) {
        for (const Delivery& d : held)
          if (c->ack(d)) acks[d.sequence].fetch_add(1, std::memory_order_relaxed);  // relaxed: as above
        held.clear();
        if (group->stats().ack_floor == kRecords) return;
      }
      std::this_thread::yield();
    }
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < kConsumers; ++i) threads.emplace_back(consume, i);
  const std::string payload(900, 'q');
  for (std::uint64_t s = 0; s < kRecords; ++s) REQUIRE(topic->publish(payload).ok());
  published_all.store(true, std::memory_order_release);  // release: see the consumers' acquire
  for (auto& t : threads) t.join();

  const WorkGroupStats gs = group->stats();
  const TopicStats ts = topic->stats();
  std::uint64_t acked = 0;
  for (auto& a : acks) {
    const int n = a.load(std::memory_order_relaxed);  // relaxed: the threads are joined
    CHECK(n <= 1);
    acked += static_cast<std::uint64_t>(n);
  }
  CHECK(gs.ack_floor == kRecords);
  CHECK(gs.lost > 0);  // the cap did cut
  CHECK(acked + gs.lost == kRecords);
  CHECK(reported_lost.load(std::memory_order_relaxed) == gs.lost);  // relaxed: joined
  CHECK(ts.cap_lost_records == gs.lost);
  CHECK(ts.segments <= 3);
  CHECK(conduit::test::segment_files(dir.path / "topics" / "jobs") <= 3);
}
