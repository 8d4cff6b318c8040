// The TSC wall clock read by several threads while its anchor is renewed
// over and over: every reading stays with the kernel clock (and, under TSan,
// the sequence lock shows no race).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "engine/wall_clock.h"

namespace conduit::detail {

TEST_CASE("threads reading a TSC clock while its anchor is renewed every 100 microseconds stay with CLOCK_REALTIME") {
  using namespace std::chrono_literals;
  const bool tsc = kernel_clocksource_is_tsc();
  if (!tsc) MESSAGE("the kernel's clocksource is not the TSC here: the threads read the kernel clock path");
  TscWallClock clock(tsc, 100us, 1ms);
  constexpr int kThreads = 4;
  std::atomic<std::uint64_t> outside{0}, readings{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&] {
      const auto end = std::chrono::steady_clock::now() + 300ms;
      std::uint64_t bad = 0, n = 0;
      while (std::chrono::steady_clock::now() < end) {
        const std::int64_t before = kernel_wall_clock_ns();
        const std::int64_t t = clock.now();
        const std::int64_t after = kernel_wall_clock_ns();
        bad += (t < before - 10'000 || t > after + 10'000) ? 1 : 0;
        ++n;
      }
      outside.fetch_add(bad, std::memory_order_relaxed);  // relaxed: read after join()
      readings.fetch_add(n, std::memory_order_relaxed);
    });
  for (auto& t : threads) t.join();
  CHECK(readings.load(std::memory_order_relaxed) > 0);
  CHECK(outside.load(std::memory_order_relaxed) == 0);
  CHECK(clock.calibrated() == tsc);
}

}  // namespace conduit::detail
