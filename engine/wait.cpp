#include "engine/wait.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace conduit::detail {

void ParkingLot::wake_all() noexcept {
  // Release pairs with the acquire in ticket(): a parker that reads the new
  // epoch also sees what the waker published before waking.
  epoch_.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&epoch_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

void ParkingLot::park(std::uint32_t ticket, std::chrono::nanoseconds timeout) noexcept {
  if (timeout.count() <= 0) return;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  // The kernel compares the epoch with `ticket` atomically with going to
  // sleep, so a wake_all() after ticket() was read is never slept through.
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&epoch_), FUTEX_WAIT_PRIVATE, ticket, &ts, nullptr, 0);
}

void SharedParkingLot::wake_all() noexcept {
  // Release pairs with the acquire in ticket(), in whichever process parks.
  std::atomic_ref<std::uint32_t>(*epoch_).fetch_add(1, std::memory_order_release);
  // Not FUTEX_PRIVATE: the word is in a shared file mapping, and the kernel
  // keys the futex by the file page, so parkers in other processes wake.
  syscall(SYS_futex, epoch_, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

void SharedParkingLot::park(std::uint32_t ticket, std::chrono::nanoseconds timeout) noexcept {
  if (timeout.count() <= 0) return;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  syscall(SYS_futex, epoch_, FUTEX_WAIT, ticket, &ts, nullptr, 0);
}

void backoff_cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

void backoff_yield() noexcept { sched_yield(); }

std::chrono::steady_clock::time_point deadline_after(std::chrono::nanoseconds timeout) noexcept {
  const auto now = std::chrono::steady_clock::now();
  if (timeout > std::chrono::hours(24 * 365)) return std::chrono::steady_clock::time_point::max();
  return now + timeout;
}

}  // namespace conduit::detail
