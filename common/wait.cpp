#include "common/wait.h"

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace conduit::detail {

void futex_wake_all(std::uint32_t* word, bool shared) noexcept {
  // A shared word is in a shared file mapping: the kernel keys its futex by
  // the file page, so parkers in other processes wake.
  syscall(SYS_futex, word, shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

bool process_barrier_available(std::string* why) noexcept {
  // Registered once per process; the guard of a function-local static is
  // thread-safe. The errno of a refusal: 0 when registered.
  static const int refused = [] {
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 ? 0 : errno;
  }();
  if (refused != 0 && why != nullptr) *why = std::strerror(refused);
  return refused == 0;
}

bool use_process_barrier() noexcept {
#if defined(CONDUIT_SANITIZE_THREAD)
  return false;
#else
  return process_barrier_available();
#endif
}

void process_barrier() noexcept {
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
  // EPERM: this process is not registered, which it was (a child forked
  // after the registration, should the kernel not carry it over): register
  // again. Anything else cannot happen with these arguments, and the
  // stopper's correctness rests on this barrier.
  if (errno != EPERM || syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0 ||
      syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) {
    std::fprintf(stderr, "conduit: membarrier(2) failed after registering: %s\n", std::strerror(errno));
    std::abort();
  }
}

void futex_wait(std::uint32_t* word, std::uint32_t expected, std::chrono::nanoseconds timeout, bool shared) noexcept {
  if (timeout.count() <= 0) return;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  syscall(SYS_futex, word, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, expected, &ts, nullptr, 0);
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
