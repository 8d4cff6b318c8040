// Group commit with publishers coming and going: a sync round waits a
// moment for the publishers the last round let go (gather_publishers), so
// these check that the wait never outlives them and never lets a publish
// return before its record is durable. Runs under TSan in CI (label
// "concurrency"), on io_uring and on the syscall fallback.
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

std::string payload_of(int thread, int i) { return std::to_string(thread) + ":" + std::to_string(i); }

// `publishers` threads make `each` blocking sync publishes; every one must
// come back durable. Returns how many failed that check (0 expected).
int publish_sync(Topic* t, int publishers, int each, int first_thread) {
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < publishers; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < each; ++i) {
        auto r = t->publish(payload_of(first_thread + p, i));
        // Relaxed: a tally read after join().
        if (!r.ok() || t->durable() <= *r) bad.fetch_add(1, std::memory_order_relaxed);
      }
    });
  for (auto& th : threads) th.join();
  return bad.load(std::memory_order_relaxed);  // relaxed: after join()
}

void come_and_go(bool fallback) {
  TempDir dir;
  const EngineOptions o = test::engine_options(dir, fallback);
  TopicOptions sync;
  sync.durability = Durability::kSync;
  sync.segment_bytes = 256u << 10;
  sync.max_payload_bytes = 4096;
  std::vector<std::string> want;
  {
    auto engine = Engine::open(o).value();
    Topic* t = engine->create_topic("orders", sync).value();
    // Eight at once: each round lets eight go, and the next waits for them.
    CHECK(publish_sync(t, 8, 60, 0) == 0);
    // Then one alone: the round after the eight expects eight back, and
    // must start without them (the log stops growing).
    CHECK(publish_sync(t, 1, 200, 8) == 0);
    // Four again, then none: close() runs the last round.
    CHECK(publish_sync(t, 4, 40, 9) == 0);
    CHECK(t->published() == 8 * 60 + 200 + 4 * 40);
    CHECK(t->durable() == t->published());
    engine->close();
  }
  // Every acknowledged record is on disk, each thread's in its order.
  auto engine = Engine::open(o).value();
  Topic* t = engine->create_topic("orders", sync).value();
  const auto got = conduit::test::payloads(t);
  REQUIRE(got.size() == 8 * 60 + 200 + 4 * 40);
  std::vector<int> next(13, 0);
  for (const std::string& p : got) {
    const auto colon = p.find(':');
    REQUIRE(colon != std::string::npos);
    const int thread = std::stoi(p.substr(0, colon));
    REQUIRE(thread >= 0);
    REQUIRE(thread < 13);
    CHECK(p == payload_of(thread, next[thread]));
    ++next[thread];
  }
  for (int th = 0; th < 8; ++th) CHECK(next[th] == 60);
  CHECK(next[8] == 200);
  for (int th = 9; th < 13; ++th) CHECK(next[th] == 40);
}

}  // namespace

TEST_CASE("sync publishers that come and go are each acknowledged only when durable (io_uring)") { come_and_go(false); }

TEST_CASE("sync publishers that come and go are each acknowledged only when durable (syscall fallback)") {
  come_and_go(true);
}
