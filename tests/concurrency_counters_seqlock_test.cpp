// The counters file's seqlock (common/counters.h): readers racing one
// writer never see a row mixed from two writes. Each write fills every
// value word and both names with the same number, so a torn read shows as
// two different numbers in one row. Meant for TSan as well (label
// concurrency): every word is an atomic access, ordered by the seqlock.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/counters.h"

namespace conduit::test {
namespace {

namespace ct = counters;

void write_row(std::uint64_t* row, std::uint64_t v) {
  ct::RowWriter w(row);
  w.set_kind(v % 7 == 0 ? ct::RowKind::kFree : ct::RowKind::kTopic);
  const std::string text = std::to_string(v);
  w.set_text(ct::kTopicWord, text);
  w.set_text(ct::kNameWord, text);
  for (std::size_t f = 0; f < ct::kValueWords; ++f) w.set_value(f, v);
}

TEST_CASE("seqlock: no torn row under a writer that never stops") {
  constexpr std::size_t kRows = 2;
  std::vector<std::uint64_t> file((kRows + 1) * ct::kRowWords, 0);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (std::uint64_t v = 1; !stop.load(std::memory_order_relaxed); ++v)  // relaxed: a stop flag (joined)
      write_row(file.data() + (1 + v % kRows) * ct::kRowWords, v);
  });
  std::atomic<std::uint64_t> torn{0}, consistent{0}, free_seen{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        ct::Row r;
        bool gave_up = false;
        if (!ct::read_row(file.data(), static_cast<std::size_t>(i) % kRows, &r, 1 << 20, &gave_up)) {
          // Relaxed: counts, read after the joins.
          (gave_up ? torn : free_seen).fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        const std::uint64_t v = r.values[0];
        bool same = r.topic == std::to_string(v) && r.name == r.topic;
        for (std::size_t f = 0; f < ct::kValueWords; ++f) same = same && r.values[f] == v;
        (same ? consistent : torn).fetch_add(1, std::memory_order_relaxed);  // relaxed: as above
      }
    });
  for (auto& r : readers) r.join();
  stop.store(true, std::memory_order_relaxed);  // relaxed: see the writer
  writer.join();
  CHECK(torn.load(std::memory_order_relaxed) == 0);  // relaxed: after the joins
  CHECK(consistent.load(std::memory_order_relaxed) + free_seen.load(std::memory_order_relaxed) == 40000);
}

TEST_CASE("seqlock: a row left odd (a writer that died inside it) reads as torn, not as values") {
  std::vector<std::uint64_t> file(2 * ct::kRowWords, 0);
  std::uint64_t* row = file.data() + ct::kRowWords;
  write_row(row, 3);
  ct::Row r;
  bool gave_up = true;
  REQUIRE(ct::read_row(file.data(), 0, &r, 10, &gave_up));
  CHECK_FALSE(gave_up);
  CHECK(r.values[5] == 3);
  row[ct::kSeqWord] += 1;  // odd: inside a write
  CHECK_FALSE(ct::read_row(file.data(), 0, &r, 10, &gave_up));
  CHECK(gave_up);
}

TEST_CASE("latency buckets are log2 of the nanoseconds") {
  CHECK(ct::latency_bucket(0) == 0);
  CHECK(ct::latency_bucket(1) == 0);
  CHECK(ct::latency_bucket(2) == 1);
  CHECK(ct::latency_bucket(1023) == 9);
  CHECK(ct::latency_bucket(1024) == 10);
  CHECK(ct::latency_bucket(~std::uint64_t{0}) == ct::kLatencyBuckets - 1);
}

}  // namespace
}  // namespace conduit::test
