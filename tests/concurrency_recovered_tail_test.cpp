// A kSync topic's recovered tail with unwritten extents (the log was
// written as async) gets zeros ahead of its producers: the zero thread's
// steps (PersistenceThread::run_zeros) and, where producers outrun them,
// the producers' own (Segment::zero_to), all under the segment's zero
// lock. Four producers publishing without waiting race both; every record
// must come back intact, each producer's in order, and the tail must end
// with no unwritten extent and mapped for appends ("rr"). On io_uring and
// on the syscall fallback; label concurrency, so CI runs it under TSan.
#include "tests/support/segment_probe.h"  // first: see its note on <linux/fs.h>
#include "tests/support/helpers.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace conduit;

namespace {

using conduit::test::TempDir;

constexpr std::size_t kBytes = 4000;
constexpr std::size_t kOld = 100;  // written while the topic was async
constexpr std::size_t kThreads = 4;
constexpr std::size_t kPerThread = 750;  // 12 MB in all, faster than the 4 MiB steps

// Payload of producer `who`'s `i`-th record (who == kThreads: the old ones).
std::string payload_of(std::size_t who, std::size_t i) {
  std::string p(kBytes, static_cast<char>('a' + (who * 7 + i) % 26));
  std::memcpy(p.data(), &who, sizeof who);
  std::memcpy(p.data() + sizeof who, &i, sizeof i);
  return p;
}

// Every record intact: the old ones first, then each producer's in order.
void check_log(Topic* t) {
  const std::vector<std::string> got = test::payloads(t);
  REQUIRE(got.size() == kOld + kThreads * kPerThread);
  for (std::size_t i = 0; i < kOld; ++i)
    if (got[i] != payload_of(kThreads, i)) FAIL("old record " << i << " came back changed");
  std::vector<std::size_t> next(kThreads, 0);
  for (std::size_t k = kOld; k < got.size(); ++k) {
    std::size_t who = 0;
    std::memcpy(&who, got[k].data(), sizeof who);
    REQUIRE_MESSAGE(who < kThreads, "record " << k << " came back changed");
    if (got[k] != payload_of(who, next[who])) FAIL("record " << k << " (producer " << who << ") came back changed");
    ++next[who];
  }
}

void race_on_recovered_tail(bool fallback) {
  TempDir dir;
  TopicOptions o;
  o.segment_bytes = 16u << 20;
  o.durability = Durability::kAsync;
  const std::string seg0 = (dir.path / "topics" / "t" / persistence::segment_file_name(0)).string();
  {
    auto engine = Engine::open(test::engine_options(dir, fallback)).value();
    Topic* t = engine->create_topic("t", o).value();
    for (std::size_t i = 0; i < kOld; ++i) REQUIRE(t->publish(payload_of(kThreads, i)).ok());
  }
  const auto unwritten = test::unwritten_extents(seg0);
  if (!unwritten) {
    MESSAGE("this filesystem does not answer FIEMAP: the extents are not checked here");
  } else {
    REQUIRE(*unwritten > 0);  // the async topic left its tail reserved only
  }
  o.durability = Durability::kSync;
  test::forget_stored_options(dir, "t");  // reopened as a sync topic: not the options stored with it
  {
    auto engine = Engine::open(test::engine_options(dir, fallback)).value();
    Topic* t = engine->create_topic("t", o).value();
    std::atomic<bool> failed{false};
    std::vector<std::thread> producers;
    for (std::size_t who = 0; who < kThreads; ++who)
      producers.emplace_back([&, who] {
        std::uint64_t last = 0;
        for (std::size_t i = 0; i < kPerThread; ++i) {
          const std::string body = payload_of(who, i);
          auto seq = t->publish_nowait(test::text(body));
          if (!seq.ok()) {
            failed.store(true, std::memory_order_relaxed);  // relaxed: read after join()
            return;
          }
          last = *seq;
        }
        if (!t->await_durable(last, std::chrono::seconds(30)).ok())
          failed.store(true, std::memory_order_relaxed);  // relaxed: read after join()
      });
    for (auto& p : producers) p.join();
    REQUIRE_FALSE(failed.load(std::memory_order_relaxed));  // relaxed: after join()
    check_log(t);
    if (unwritten) CHECK(test::becomes_written(seg0));
    CHECK(test::random_read(test::vm_flags_of(seg0)));
  }
  auto engine = Engine::open(test::engine_options(dir, fallback)).value();
  check_log(engine->create_topic("t", o).value());
}

}  // namespace

TEST_CASE("producers racing the zeros ahead of them on a recovered sync tail lose nothing (io_uring)") {
  race_on_recovered_tail(false);
}

TEST_CASE("producers racing the zeros ahead of them on a recovered sync tail lose nothing (syscall fallback)") {
  race_on_recovered_tail(true);
}
