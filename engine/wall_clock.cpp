// TscWallClock: see the header. The reasons for each step are here.
#include "engine/wall_clock.h"

#include <time.h>

#include <cstdio>
#include <cstring>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace conduit::detail {
namespace {

__extension__ typedef unsigned __int128 U128;  // GCC and Clang on 64-bit targets

std::int64_t clock_ns(clockid_t id) noexcept {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::uint64_t ticks() noexcept {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return 0;
#endif
}

// A kernel clock reading and the TSC at (nearly) the same instant: the
// reading is taken between two TSC reads at most kTightTicks apart, or not
// at all (false) when the thread kept being interrupted.
constexpr std::uint64_t kTightTicks = 2'000;  // under a microsecond at the TSC rates in use (over 2 GHz)
bool paired(clockid_t id, std::uint64_t* tsc, std::int64_t* ns) noexcept {
  for (int attempt = 0; attempt < 8; ++attempt) {
    const std::uint64_t before = ticks();
    const std::int64_t t = clock_ns(id);
    const std::uint64_t after = ticks();
    if (after >= before && after - before <= kTightTicks) {
      *tsc = before + (after - before) / 2;
      *ns = t;
      return true;
    }
  }
  return false;
}

std::int64_t scale(std::uint64_t delta_ticks, std::uint64_t mult) noexcept {
  return static_cast<std::int64_t>((static_cast<U128>(delta_ticks) * mult) >> 32);
}

}  // namespace

std::int64_t kernel_wall_clock_ns() noexcept { return clock_ns(CLOCK_REALTIME); }

bool kernel_clocksource_is_tsc() noexcept {
#if defined(__x86_64__)
  std::FILE* f = std::fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
  if (f == nullptr) return false;
  char name[32] = {};
  const bool read = std::fgets(name, sizeof name, f) != nullptr;
  std::fclose(f);
  return read && std::strncmp(name, "tsc\n", 4) == 0;
#else
  return false;
#endif
}

TscWallClock::TscWallClock(bool use_tsc, std::chrono::nanoseconds renew_after, std::chrono::nanoseconds calibrate_over,
                           bool (*still_tsc)()) noexcept
    : use_tsc_(use_tsc),
      still_tsc_(still_tsc),
      renew_after_ns_(renew_after.count()),
      calibrate_over_ns_(calibrate_over.count()) {
  if (use_tsc_ && !paired(CLOCK_MONOTONIC, &cal_tsc_, &cal_mono_ns_)) cal_tsc_ = 0;
}

std::int64_t TscWallClock::now() noexcept {
  // Acquire pairs with the release store that ended the calibration or the
  // last renewal: the anchor read below is at least that one, and mult_ and
  // renew_ticks_ (written once, before the first) are visible. Version 0:
  // not calibrated yet.
  const std::uint64_t v = version_.load(std::memory_order_acquire);
  if (v == 0) [[unlikely]]
    return slow_now();
  const std::uint64_t tsc = anchor_tsc_.load(std::memory_order_relaxed);  // relaxed: checked by the re-read of version_
  const std::int64_t ns = anchor_ns_.load(std::memory_order_relaxed);     // relaxed: likewise
  // Acquire fence: the anchor reads above happen before the re-read below,
  // so a renewal that overlapped them changes the version we see.
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint64_t t = ticks();
  if ((v & 1) != 0 || version_.load(std::memory_order_relaxed) != v || t < tsc) [[unlikely]]
    return kernel_wall_clock_ns();  // a renewal in progress (or a TSC read before the anchor's)
  const std::uint64_t delta = t - tsc;
  if (delta > renew_ticks_) [[unlikely]] {
    renew(v);
    return kernel_wall_clock_ns();
  }
  return ns + scale(delta, mult_);
}

std::int64_t TscWallClock::slow_now() noexcept {
  // Relaxed: a hint to skip the work; calibrate() takes the flag for real.
  if (use_tsc_ && cal_tsc_ != 0 && !calibrating_.load(std::memory_order_relaxed)) calibrate();
  return kernel_wall_clock_ns();
}

void TscWallClock::calibrate() noexcept {
  std::uint64_t tsc = 0;
  std::int64_t mono = 0;
  if (!paired(CLOCK_MONOTONIC, &tsc, &mono) || mono - cal_mono_ns_ < calibrate_over_ns_ || tsc <= cal_tsc_) return;
  // One thread sets the rate, and whoever fails returns and reads the
  // kernel clock meanwhile. Acquire pairs with the release that gives the
  // flag back after a failed anchor, so the next try's writes come after.
  if (calibrating_.exchange(true, std::memory_order_acquire)) return;
  const auto elapsed = static_cast<U128>(mono - cal_mono_ns_);
  const std::uint64_t mult = static_cast<std::uint64_t>((elapsed << 32) / (tsc - cal_tsc_));
  // A TSC between 0.1 and 10 GHz, or the measurement was wrong: stay on the
  // kernel clock for good (the flag stays taken, so nobody tries again).
  if (mult < (std::uint64_t{1} << 32) / 10 || mult > (std::uint64_t{10} << 32)) return;
  mult_ = mult;
  renew_ticks_ = static_cast<std::uint64_t>((static_cast<U128>(renew_after_ns_) << 32) / mult);
  if (!take_anchor()) {
    // Release pairs with the acquire exchange above: the next thread to
    // take the flag writes mult_ after these writes.
    calibrating_.store(false, std::memory_order_release);
    return;
  }
  // Release pairs with the acquire loads of version_ in now() and
  // calibrated(): a reader that sees version 2 sees mult_ and this anchor.
  version_.store(2, std::memory_order_release);
}

void TscWallClock::renew(std::uint64_t seen) noexcept {
  // Take the lock by making the version odd; whoever loses skips renewing.
  // Relaxed CAS, then a release fence (the classic sequence-lock writer):
  // a reader that sees any of the new anchor's values also sees the odd
  // version, or a later one, on its re-read.
  std::uint64_t expected = seen;
  if (!version_.compare_exchange_strong(expected, seen + 1, std::memory_order_relaxed)) return;
  std::atomic_thread_fence(std::memory_order_release);
  if (++renewals_ % kRecheckRenewals == 0 && !still_tsc_()) {
    // The kernel no longer trusts the TSC: back to 0, where now() reads the
    // kernel clock; calibrating_ stays taken, so nobody calibrates again.
    // Release pairs with the acquire load of version_ in now().
    version_.store(0, std::memory_order_release);
    return;
  }
  // Without a new pairing the old anchor stays, and the next caller tries again.
  (void)take_anchor();
  // Release pairs with the acquire load of version_ in now().
  version_.store(seen + 2, std::memory_order_release);
}

bool TscWallClock::take_anchor() noexcept {
  std::uint64_t tsc = 0;
  std::int64_t ns = 0;
  if (!paired(CLOCK_REALTIME, &tsc, &ns)) return false;
  // Relaxed: published by the caller's release store of version_ (after,
  // in renew(), the release fence that follows the odd version).
  anchor_tsc_.store(tsc, std::memory_order_relaxed);
  anchor_ns_.store(ns, std::memory_order_relaxed);
  return true;
}

std::int64_t wall_clock_ns() noexcept {
  static TscWallClock clock(kernel_clocksource_is_tsc());
  return clock.now();
}

}  // namespace conduit::detail
