// Every heap allocation the engine makes goes through mimalloc, the one
// allocator it depends on: engine objects derive from MiAllocated, arrays
// and containers use MiAllocator, moodycamel queues use MiQueueTraits.
// Sanitizer builds use the C allocator instead, so ASan and TSan see every
// allocation (mimalloc is not instrumented).
//
// Thread safety: the allocators are thread-safe.
#pragma once

#include <concurrentqueue/concurrentqueue.h>
#include <mimalloc.h>

#include <cstdlib>
#include <new>

namespace conduit::detail {

#if defined(CONDUIT_SANITIZE_THREAD) || defined(CONDUIT_SANITIZE_ADDRESS)
inline void* heap_alloc(std::size_t n, std::size_t align) {
  return std::aligned_alloc(align, (n + align - 1) / align * align);
}
inline void heap_free(void* p) noexcept { std::free(p); }
#else
inline void* heap_alloc(std::size_t n, std::size_t align) { return mi_malloc_aligned(n, align); }
inline void heap_free(void* p) noexcept { mi_free(p); }
#endif

inline void* heap_alloc_or_throw(std::size_t n, std::size_t align) {
  void* p = heap_alloc(n, align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

// Base for engine objects: `new` and `delete` of the derived class use the
// engine's heap.
struct MiAllocated {
  static void* operator new(std::size_t n) { return heap_alloc_or_throw(n, alignof(std::max_align_t)); }
  static void* operator new(std::size_t n, std::align_val_t a) {
    return heap_alloc_or_throw(n, static_cast<std::size_t>(a));
  }
  static void operator delete(void* p) noexcept { heap_free(p); }
  static void operator delete(void* p, std::align_val_t) noexcept { heap_free(p); }
};

template <class T>
struct MiAllocator {
  using value_type = T;
  MiAllocator() noexcept = default;
  template <class U>
  MiAllocator(const MiAllocator<U>&) noexcept {}  // NOLINT: converting, as allocators are
  T* allocate(std::size_t n) {
    return static_cast<T*>(heap_alloc_or_throw(n * sizeof(T), alignof(T) < 16 ? 16 : alignof(T)));
  }
  void deallocate(T* p, std::size_t) noexcept { heap_free(p); }
  template <class U>
  bool operator==(const MiAllocator<U>&) const noexcept {
    return true;
  }
};

struct MiQueueTraits : moodycamel::ConcurrentQueueDefaultTraits {
  static void* malloc(std::size_t n) { return heap_alloc(n, alignof(std::max_align_t)); }
  static void free(void* p) { heap_free(p); }
};

}  // namespace conduit::detail
