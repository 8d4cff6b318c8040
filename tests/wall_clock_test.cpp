// The engine's wall clock: the kernel's CLOCK_REALTIME, or the TSC scaled
// to it where the kernel keeps time with the TSC. No speed is checked here;
// bench/micro_bench measures that.
#include "engine/wall_clock.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace conduit::detail {
namespace {

using namespace std::chrono_literals;

// Reads `clock` between two kernel readings for `how_long` and requires
// each reading within `slack` of that bracket. Returns how many it took.
int stays_with_the_kernel_clock(TscWallClock& clock, std::chrono::milliseconds how_long, std::int64_t slack_ns) {
  const auto end = std::chrono::steady_clock::now() + how_long;
  int n = 0;
  while (std::chrono::steady_clock::now() < end) {
    const std::int64_t before = kernel_wall_clock_ns();
    const std::int64_t t = clock.now();
    const std::int64_t after = kernel_wall_clock_ns();
    if (t < before - slack_ns || t > after + slack_ns) {
      FAIL("reading " << n << ": " << t << " outside [" << before << ", " << after << "] by more than " << slack_ns
                      << " ns");
    }
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("with the TSC off the clock is the kernel's CLOCK_REALTIME") {
  TscWallClock clock(false, 1ms, 1ms);
  CHECK(stays_with_the_kernel_clock(clock, 20ms, 0) > 0);
  CHECK_FALSE(clock.calibrated());
}

TEST_CASE("a TSC clock calibrates and then stays within microseconds of CLOCK_REALTIME across renewals") {
  if (!kernel_clocksource_is_tsc()) {
    // Scaling a TSC the kernel does not trust would be wrong; the engine
    // does not, and this machine cannot show the TSC path.
    MESSAGE("the kernel's clocksource is not the TSC here: the engine uses clock_gettime");
    TscWallClock clock(false);
    CHECK(stays_with_the_kernel_clock(clock, 10ms, 0) > 0);
    return;
  }
  // Calibrated over 2 ms, renewed every 5 ms: many renewals in 200 ms.
  TscWallClock clock(true, 5ms, 2ms);
  CHECK_FALSE(clock.calibrated());
  stays_with_the_kernel_clock(clock, 200ms, 10'000);
  CHECK(clock.calibrated());
}

namespace {
std::atomic<bool> fake_tsc_trusted{true};
bool fake_clocksource_is_tsc() { return fake_tsc_trusted.load(std::memory_order_relaxed); }  // relaxed: one thread
}  // namespace

TEST_CASE("a TSC clock goes back to the kernel clock for good once the kernel gives up on the TSC") {
  if (!kernel_clocksource_is_tsc()) {
    MESSAGE("the kernel's clocksource is not the TSC here: the engine uses clock_gettime");
    return;
  }
  fake_tsc_trusted.store(true, std::memory_order_relaxed);  // relaxed: one thread
  TscWallClock clock(true, 1ms, 1ms, fake_clocksource_is_tsc);
  stays_with_the_kernel_clock(clock, 30ms, 10'000);
  REQUIRE(clock.calibrated());
  fake_tsc_trusted.store(false, std::memory_order_relaxed);
  // Renewals every millisecond; the clocksource is asked at every
  // kRecheckRenewals-th of them.
  stays_with_the_kernel_clock(clock, std::chrono::milliseconds(3 * TscWallClock::kRecheckRenewals), 10'000);
  CHECK_FALSE(clock.calibrated());
  CHECK(stays_with_the_kernel_clock(clock, 10ms, 0) > 0);  // the kernel clock itself, exactly
  fake_tsc_trusted.store(true, std::memory_order_relaxed);
  stays_with_the_kernel_clock(clock, 30ms, 0);  // and it does not come back
  CHECK_FALSE(clock.calibrated());
}

}  // namespace conduit::detail
