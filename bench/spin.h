// The pause a busy-waiting benchmark thread makes between looks: it tells
// the core (and a hyperthread sibling) that this is a spin loop.
#pragma once

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

}  // namespace conduit::bench
