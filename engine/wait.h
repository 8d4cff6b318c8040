// Waiting: futex parking and the per-reader wait strategies.
//
// Thread safety
//   ParkingLot: any number of threads park on it; any thread wakes it.
//   A waker calls wake_if_parked() after making its change visible; a parker
//   re-checks its condition after announcing itself. The announcement and the
//   re-check are not fenced against the waker's change (that would put a full
//   fence on every publish), so a wake-up can be missed in a narrow window;
//   every park is therefore bounded by a timeout (EngineOptions::park_timeout)
//   and the next wake-up or the timeout ends it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "conduit/options.h"

namespace conduit::detail {

class ParkingLot {
 public:
  // Cheap when nobody is parked: one relaxed load of a rarely written line.
  void wake_if_parked() noexcept {
    // Relaxed: a stale 0 only delays a parker until its timeout (see above).
    if (parked_.load(std::memory_order_relaxed) != 0) wake_all();
  }
  void wake_all() noexcept;
  // Sleeps until woken or `timeout`, unless woken since `ticket()` was read.
  void park(std::uint32_t ticket, std::chrono::nanoseconds timeout) noexcept;
  std::uint32_t ticket() const noexcept {
    // Acquire pairs with the release increment in wake_all().
    return epoch_.load(std::memory_order_acquire);
  }
  void announce() noexcept {
    // Relaxed: the counter is only a hint for wakers (see the header comment).
    parked_.fetch_add(1, std::memory_order_relaxed);
  }
  void withdraw() noexcept { parked_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<std::uint32_t> epoch_{0};
  alignas(64) std::atomic<std::uint32_t> parked_{0};
};

// Drives one wait with a strategy: call idle() each time the condition was
// found false; it spins, yields or parks as the strategy says. Returns false
// once the deadline has passed.
class Backoff {
 public:
  Backoff(WaitStrategy s, ParkingLot& lot, std::chrono::nanoseconds park_timeout,
          std::chrono::steady_clock::time_point deadline) noexcept
      : strategy_(s), lot_(lot), park_timeout_(park_timeout), deadline_(deadline) {}

  // `ready` is re-checked between announcing a park and sleeping.
  template <class Ready>
  bool idle(Ready&& ready) noexcept {
    ++rounds_;
    if ((rounds_ & 63) == 0 && std::chrono::steady_clock::now() >= deadline_) return false;
    switch (mode()) {
      case Mode::kSpin: cpu_relax(); return true;
      case Mode::kYield: yield(); return true;
      case Mode::kPark: break;
    }
    if (std::chrono::steady_clock::now() >= deadline_) return false;
    const std::uint32_t ticket = lot_.ticket();
    lot_.announce();
    if (!ready()) {
      auto left = deadline_ - std::chrono::steady_clock::now();
      lot_.park(ticket, left < park_timeout_ ? left : park_timeout_);
    }
    lot_.withdraw();
    return true;
  }

 private:
  enum class Mode { kSpin, kYield, kPark };
  Mode mode() const noexcept {
    switch (strategy_) {
      case WaitStrategy::kBusySpin: return Mode::kSpin;
      case WaitStrategy::kYield: return Mode::kYield;
      case WaitStrategy::kPark: return Mode::kPark;
      case WaitStrategy::kAdaptive: break;
    }
    // Adaptive: a short spin catches a record that is being written right
    // now; yielding lets a preempted producer run on an oversubscribed
    // machine; then park so idle readers cost nothing.
    if (rounds_ < kSpinRounds) return Mode::kSpin;
    if (rounds_ < kSpinRounds + kYieldRounds) return Mode::kYield;
    return Mode::kPark;
  }
  static void cpu_relax() noexcept;
  static void yield() noexcept;

  static constexpr std::uint32_t kSpinRounds = 256;
  static constexpr std::uint32_t kYieldRounds = 32;
  WaitStrategy strategy_;
  ParkingLot& lot_;
  std::chrono::nanoseconds park_timeout_;
  std::chrono::steady_clock::time_point deadline_;
  std::uint32_t rounds_ = 0;
};

std::chrono::steady_clock::time_point deadline_after(std::chrono::nanoseconds timeout) noexcept;

}  // namespace conduit::detail
