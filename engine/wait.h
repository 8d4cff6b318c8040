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

void backoff_cpu_relax() noexcept;  // a pause instruction
void backoff_yield() noexcept;      // sched_yield

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

// A parking lot whose two words live in memory shared between processes (a
// topic's mapped control file): the writer process wakes readers parked in
// other processes. Same protocol as ParkingLot, with process-shared futex
// calls. `parked` may be null for a reader that cannot write the shared
// memory: it never announces itself, so nobody wakes it and each park lasts
// its whole timeout.
class SharedParkingLot {
 public:
  SharedParkingLot(std::uint32_t* epoch, std::uint32_t* parked) noexcept : epoch_(epoch), parked_(parked) {}
  void wake_if_parked() noexcept {
    // Relaxed: a stale 0 only delays a parker until its timeout (as above).
    if (std::atomic_ref<std::uint32_t>(*parked_).load(std::memory_order_relaxed) != 0) wake_all();
  }
  void wake_all() noexcept;
  void park(std::uint32_t ticket, std::chrono::nanoseconds timeout) noexcept;
  std::uint32_t ticket() const noexcept {
    // Acquire pairs with the release increment in wake_all().
    return std::atomic_ref<std::uint32_t>(*epoch_).load(std::memory_order_acquire);
  }
  void announce() noexcept {
    // Relaxed: a hint for wakers, as in ParkingLot.
    if (parked_ != nullptr) std::atomic_ref<std::uint32_t>(*parked_).fetch_add(1, std::memory_order_relaxed);
  }
  // Never below zero: the engine resets the count when it opens the topic
  // (a reader killed while parked must not leave it raised for good), so a
  // reader parked across that reset withdraws from a count that no longer
  // includes it. The count heals; a reader missed meanwhile wakes on its
  // timeout.
  void withdraw() noexcept {
    if (parked_ == nullptr) return;
    std::atomic_ref<std::uint32_t> parked(*parked_);
    // Relaxed: as announce().
    std::uint32_t n = parked.load(std::memory_order_relaxed);
    while (n != 0 && !parked.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {
    }
  }

 private:
  std::uint32_t* epoch_;
  std::uint32_t* parked_;
};

// Drives one wait with a strategy: call idle() each time the condition was
// found false; it spins, yields or parks as the strategy says. Returns false
// once the deadline has passed. `Lot`: ParkingLot or SharedParkingLot.
template <class Lot>
class BasicBackoff {
 public:
  BasicBackoff(WaitStrategy s, Lot& lot, std::chrono::nanoseconds park_timeout,
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
  static void cpu_relax() noexcept { backoff_cpu_relax(); }
  static void yield() noexcept { backoff_yield(); }

  static constexpr std::uint32_t kSpinRounds = 256;
  static constexpr std::uint32_t kYieldRounds = 32;
  WaitStrategy strategy_;
  Lot& lot_;
  std::chrono::nanoseconds park_timeout_;
  std::chrono::steady_clock::time_point deadline_;
  std::uint32_t rounds_ = 0;
};

using Backoff = BasicBackoff<ParkingLot>;

std::chrono::steady_clock::time_point deadline_after(std::chrono::nanoseconds timeout) noexcept;

}  // namespace conduit::detail
