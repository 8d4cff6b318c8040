// The pause a busy-waiting benchmark thread makes between looks: it tells
// the core (and a hyperthread sibling) that this is a spin loop.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace conduit::bench {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Pins the calling thread to `cpu` where there are two CPUs or more (best
// effort: a refusal leaves it where it was).
inline void pin_to(int cpu) {
  if (std::thread::hardware_concurrency() < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

}  // namespace conduit::bench
