// Waiting: futex parking and the per-reader wait strategies.
//
// Thread safety
//   ParkingLot (one process) and SharedParkingLot (words in shared memory,
//   parkers in any process): any number of threads park on it; any thread
//   wakes it.
//   A waker calls wake_if_parked() after making its change visible; a parker
//   re-checks its condition after announcing itself. The announcement and the
//   re-check are not fenced against the waker's change (that would put a full
//   fence on every publish), so a wake-up can be missed in a narrow window;
//   every park is therefore bounded by a timeout (EngineOptions::park_timeout)
//   and the next wake-up or the timeout ends it.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "conduit/options.h"

namespace conduit::detail {

void backoff_cpu_relax() noexcept;  // a pause instruction
void backoff_yield() noexcept;      // sched_yield

// The futex calls under every parking lot. `shared`: the word is in memory
// mapped by several processes (no FUTEX_PRIVATE).
void futex_wake_all(std::uint32_t* word, bool shared) noexcept;
void futex_wait(std::uint32_t* word, std::uint32_t expected, std::chrono::nanoseconds timeout, bool shared) noexcept;

// membarrier(2), MEMBARRIER_CMD_PRIVATE_EXPEDITED: whether this process may
// use it (registered on the first call; `why`, if given, gets the reason
// for a refusal),
// and the barrier itself: every thread of this process that is running
// executes a full memory barrier before it returns (the others pass one
// when they are scheduled again). Only after process_barrier_available().
bool process_barrier_available(std::string* why = nullptr) noexcept;
void process_barrier() noexcept;
// Whether the cheap side of an asymmetric fence may be a compiler fence,
// the other side calling process_barrier(): membarrier(2) is available and
// this is no TSan build (TSan knows nothing of membarrier(2); both sides
// use a seq_cst fence there).
bool use_process_barrier() noexcept;

// SubscriberOptions::stream_gap for one reader, used by its poll thread
// only: a poll waits out the gap the previous one set, and sets one when
// its first look found more than one record already there and fewer than
// it could take (it reached the head of a producer that kept writing; one
// record found is what a reader keeping up with a steady rate sees).
class StreamGap {
 public:
  void wait() noexcept {
    if (until_ == std::chrono::steady_clock::time_point{}) [[likely]]
      return;
    while (std::chrono::steady_clock::now() < until_) backoff_cpu_relax();
    until_ = {};
  }
  void note(std::size_t found, std::size_t room, std::chrono::nanoseconds gap) noexcept {
    if (found > 1 && found < room && gap.count() > 0) until_ = std::chrono::steady_clock::now() + gap;
  }

 private:
  std::chrono::steady_clock::time_point until_{};  // {}: no gap set
};

// The fence pair of a store-then-load handshake between two sides, one that
// runs often (light(): a claim's commit, a handle's call) and one that runs
// rarely (heavy(): a closer, the engine's destructor). Each side stores its
// own word, fences, then loads the other's; with both fences in place at
// least one side sees the other's store (both may). light() pairs with
// heavy(), and with nothing else.
//
// Where use_process_barrier() holds, light() is only a compiler fence: it
// keeps the compiler from moving the light side's load above its store, and
// heavy()'s process_barrier() (membarrier(2)) makes every running thread of
// this process execute a full barrier (a thread not running passes one when
// it is scheduled again), which orders the light side's store before its
// load wherever that thread stands. The light side then issues no fence
// instruction at all. Otherwise (no membarrier(2), or a TSan build, which
// cannot see what membarrier(2) orders), both sides are a seq_cst fence and
// pair with each other as usual.
//
// The choice is taken at construction; use_process_barrier() gives the same
// answer all through a process, so two objects built apart pair as well.
class AsymmetricFence {
 public:
  AsymmetricFence() noexcept : asymmetric_(use_process_barrier()) {}

  void light() const noexcept {
    if (asymmetric_)
      std::atomic_signal_fence(std::memory_order_seq_cst);  // heavy()'s process_barrier() does the rest
    else
      std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with the fence in heavy()
  }
  void heavy() const noexcept {
    if (asymmetric_)
      process_barrier();  // pairs with light()'s compiler fence, on every thread
    else
      std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with the fence in light()
  }

 private:
  const bool asymmetric_;
};

// A short lock whose release is a plain store (on x86 a mov, no locked
// instruction). A locked instruction waits until the thread's earlier
// stores have drained; std::mutex releases with one (an exchange). The
// claim path (engine/claim_table.h) writes a record's head under this
// lock, and a subscriber may be spinning on those bytes: a mutex's release
// would wait for them to reach it. Contended, it spins briefly and then
// yields (a preempted holder on an oversubscribed machine needs the core).
// Meets BasicLockable.
class SpinLock {
 public:
  void lock() noexcept {
    // Acquire pairs with unlock()'s release: the holder's writes are seen.
    for (unsigned spins = 0; locked_.exchange(true, std::memory_order_acquire);)
      // Relaxed: only a hint to try the exchange again.
      while (locked_.load(std::memory_order_relaxed)) ++spins < 64 ? backoff_cpu_relax() : backoff_yield();
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }  // pairs with lock()

 private:
  std::atomic<bool> locked_{false};
};

// The parking protocol, over two 32-bit words that `Words` keeps: the epoch
// (the futex word; wake_all() adds 1) and the number of parked threads (a
// hint for wakers). Words::epoch() and Words::parked() give them;
// Words::kShared says whether other processes map them. parked() may be
// null: such a parker never announces itself, so nobody wakes it early and
// each park lasts its whole timeout.
template <class Words>
class BasicParkingLot {
 public:
  template <class... Args>
  explicit BasicParkingLot(Args... args) noexcept : words_(args...) {}
  BasicParkingLot(const BasicParkingLot&) = delete;
  BasicParkingLot& operator=(const BasicParkingLot&) = delete;

  // Cheap when nobody is parked: one relaxed load of a rarely written line.
  void wake_if_parked() noexcept {
    std::uint32_t* parked = words_.parked();
    // Relaxed: a stale 0 only delays a parker until its timeout (see above).
    if (parked != nullptr && std::atomic_ref<std::uint32_t>(*parked).load(std::memory_order_relaxed) != 0) wake_all();
  }
  void wake_all() noexcept {
    // Release pairs with the acquire in ticket() (in whichever process
    // parks): a parker that reads the new epoch also sees what the waker
    // published before waking.
    std::atomic_ref<std::uint32_t>(*words_.epoch()).fetch_add(1, std::memory_order_release);
    futex_wake_all(words_.epoch(), Words::kShared);
  }
  // Sleeps until woken or `timeout`, unless woken since `ticket()` was read:
  // the kernel compares the epoch with `ticket` atomically with going to
  // sleep, so a wake_all() after ticket() was read is never slept through.
  void park(std::uint32_t ticket, std::chrono::nanoseconds timeout) noexcept {
    futex_wait(words_.epoch(), ticket, timeout, Words::kShared);
  }
  std::uint32_t ticket() const noexcept {
    // Acquire pairs with the release increment in wake_all().
    return std::atomic_ref<std::uint32_t>(*words_.epoch()).load(std::memory_order_acquire);
  }
  void announce() noexcept {
    // Relaxed: the counter is only a hint for wakers (see the header comment).
    if (std::uint32_t* parked = words_.parked())
      std::atomic_ref<std::uint32_t>(*parked).fetch_add(1, std::memory_order_relaxed);
  }
  // Never below zero: the engine resets a shared count when it opens the
  // topic (a reader killed while parked must not leave it raised for good),
  // so a reader parked across that reset withdraws from a count that no
  // longer includes it. The count heals; a reader missed meanwhile wakes on
  // its timeout.
  void withdraw() noexcept {
    std::uint32_t* word = words_.parked();
    if (word == nullptr) return;
    std::atomic_ref<std::uint32_t> parked(*word);
    // Relaxed: as announce().
    std::uint32_t n = parked.load(std::memory_order_relaxed);
    while (n != 0 && !parked.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {}
  }

 private:
  Words words_;
};

// A thread-shared lot's words, each on its own cache line. Mutable: they
// change under const readers, always through std::atomic_ref.
struct PrivateLotWords {
  static constexpr bool kShared = false;
  std::uint32_t* epoch() const noexcept { return &epoch_; }
  std::uint32_t* parked() const noexcept { return &parked_; }
  alignas(64) mutable std::uint32_t epoch_ = 0;
  alignas(64) mutable std::uint32_t parked_ = 0;
};

// A process-shared lot's words, in memory shared between processes (a
// topic's mapped control file): the writer process wakes readers parked in
// other processes.
struct SharedLotWords {
  static constexpr bool kShared = true;
  SharedLotWords(std::uint32_t* epoch, std::uint32_t* parked) noexcept : epoch_(epoch), parked_(parked) {}
  std::uint32_t* epoch() const noexcept { return epoch_; }
  std::uint32_t* parked() const noexcept { return parked_; }
  std::uint32_t* epoch_;
  std::uint32_t* parked_;
};

using ParkingLot = BasicParkingLot<PrivateLotWords>;
using SharedParkingLot = BasicParkingLot<SharedLotWords>;

// Drives one wait with a strategy: call idle() each time the condition was
// found false; it spins, yields or parks as the strategy says. Returns false
// once the deadline has passed. `Lot`: ParkingLot or SharedParkingLot, taken
// from the constructor's argument (a class template, not an alias of one:
// clang before 19 deduces no alias template's arguments).
template <class Lot = ParkingLot>
class Backoff {
 public:
  Backoff(WaitStrategy s, Lot& lot, std::chrono::nanoseconds park_timeout,
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

// A blocking call's deadline. Real (steady) time, not the engine's clock:
// it bounds how long the calling thread sleeps, and an injected test clock
// would not move while it sleeps. Timers and ages use the engine's clock.
std::chrono::steady_clock::time_point deadline_after(std::chrono::nanoseconds timeout) noexcept;

// A due time on the engine's clock: `ns` (below 0: none) after `now` (at
// least 0), at most the largest value, which means never. A timeout or
// delay of centuries is never due, not a signed overflow into the past.
inline std::int64_t due_after(std::int64_t now, std::int64_t ns) noexcept {
  constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
  ns = std::max<std::int64_t>(ns, 0);
  return ns > kNever - now ? kNever : now + ns;
}

}  // namespace conduit::detail
