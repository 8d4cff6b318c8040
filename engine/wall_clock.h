// The engine's wall clock: nanoseconds since the epoch, for record
// timestamps and the engine's timers.
//
// clock_gettime(CLOCK_REALTIME) costs 25 to 40 ns on the VMs measured
// (bench/results/2026-12-02-tsc-clock.md), up to half of a publish. Where the kernel itself keeps
// time with the TSC (clocksource "tsc": it found the TSC invariant and in
// step across CPUs), TscWallClock reads the TSC instead (about 11 ns there)
// and scales it from an anchor, a TSC reading and CLOCK_REALTIME taken
// together. The first caller that finds the anchor older than `renew_after`
// takes a new one, so a clock set or slewed by NTP shows within that; in
// between the TSC runs at the rate measured against CLOCK_MONOTONIC over
// the first `calibrate_over`, which keeps it within a few microseconds of
// CLOCK_REALTIME. Until calibrated, where the clocksource is not the TSC,
// and once the kernel stops using the TSC (asked at most about once a
// second), now() is clock_gettime. Like CLOCK_REALTIME, it may step back
// (by as much as that drift when an anchor is renewed).
//
// Thread safety: any thread. The anchor is a sequence lock; a reader that
// meets a renewal in progress reads the kernel clock instead of waiting.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace conduit::detail {

// CLOCK_REALTIME through the vDSO.
std::int64_t kernel_wall_clock_ns() noexcept;

// Whether the kernel keeps time with the TSC (and this is x86-64).
bool kernel_clocksource_is_tsc() noexcept;

class TscWallClock {
 public:
  // `use_tsc` false: now() is always the kernel clock. Every
  // kRecheckRenewals-th renewal (about a second apart by default) asks
  // `still_tsc` again; once it says no (the kernel gave up on the TSC, as it
  // may at run time), now() is the kernel clock for good.
  static constexpr unsigned kRecheckRenewals = 20;
  TscWallClock(bool use_tsc, std::chrono::nanoseconds renew_after = std::chrono::milliseconds(50),
               std::chrono::nanoseconds calibrate_over = std::chrono::milliseconds(20),
               bool (*still_tsc)() = kernel_clocksource_is_tsc) noexcept;

  std::int64_t now() noexcept;

  // The TSC rate was measured and now() scales the TSC. Any thread.
  bool calibrated() const noexcept {
    // Acquire pairs with the release store in calibrate(): mult_ is set.
    return version_.load(std::memory_order_acquire) != 0;
  }

 private:
  std::int64_t slow_now() noexcept;  // the kernel clock; calibrates or renews when due
  void calibrate() noexcept;
  void renew(std::uint64_t seen) noexcept;
  // Pairs the TSC with CLOCK_REALTIME into the anchor; false (anchor
  // unchanged) when no tight pairing could be had. Version odd or 0.
  [[nodiscard]] bool take_anchor() noexcept;

  const bool use_tsc_;
  bool (*const still_tsc_)();
  unsigned renewals_ = 0;  // written only by the renewing thread, under the lock (odd version)
  const std::int64_t renew_after_ns_;
  const std::int64_t calibrate_over_ns_;
  // Calibration: the first sample, set in the constructor; then the rate.
  std::uint64_t cal_tsc_ = 0;
  std::int64_t cal_mono_ns_ = 0;
  std::atomic<bool> calibrating_{false};  // taken by the thread that calibrates (for good once it did)
  std::uint64_t mult_ = 0;                // ns per tick << 32; written before version_ leaves 0
  std::uint64_t renew_ticks_ = 0;         // renew_after in ticks; likewise
  // The anchor, a sequence lock: 0 until calibrated (and once the TSC was
  // given up), odd while renewed.
  alignas(64) std::atomic<std::uint64_t> version_{0};
  std::atomic<std::uint64_t> anchor_tsc_{0};
  std::atomic<std::int64_t> anchor_ns_{0};
};

// The process's clock (TSC-backed where kernel_clocksource_is_tsc()).
std::int64_t wall_clock_ns() noexcept;

}  // namespace conduit::detail
