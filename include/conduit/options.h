// conduit — options for engines, topics, subscribers and work groups.
// Plain values; each field says its default and its limits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace conduit {

// How a reader waits when nothing is there to read.
enum class WaitStrategy : std::uint8_t {
  kBusySpin,  // spin on the log; lowest latency, burns a core
  kYield,     // spin with sched_yield between checks
  kPark,      // sleep on a futex until a publisher wakes it
  kAdaptive,  // spin, then yield, then park (default; safe with more threads than cores)
};

// Where a topic's records live.
enum class Durability : std::uint8_t {
  kMemory,  // no log on disk; the in-memory segments are all there is
  kAsync,   // written to the log, fdatasync later (on a timer or size)
  kSync,    // publish completes only once fdatasync covers the record
};

// What a memory-only topic does when a subscriber is a whole ring behind.
enum class SlowPolicy : std::uint8_t {
  kBlock,       // producers wait for this subscriber; it never loses a record
  kLoseOldest,  // producers go on; the subscriber is told exactly how many it lost
};

struct TopicOptions {
  Durability durability = Durability::kMemory;
  // Bytes per segment (header included). At least 64 KiB and at least
  // 2 * (max_payload_bytes + 64 KiB); at most 1 GiB.
  std::size_t segment_bytes = 8u << 20;
  // Memory-only topics: bytes of records kept in memory (the ring), rounded up
  // to whole segments, at least two. Subscribers that fall further behind
  // block producers or lose records (their SlowPolicy).
  std::size_t ring_bytes = 64u << 20;
  // Largest payload a publish accepts; a larger one fails with kTooLarge and
  // publishes nothing. At most 256 MiB.
  std::size_t max_payload_bytes = 1u << 20;
};

// Where a new subscriber starts.
struct StartAt {
  enum class Kind : std::uint8_t { kEarliest, kLatest, kSequence };
  Kind kind = Kind::kLatest;
  std::uint64_t sequence = 0;

  static StartAt earliest() { return {Kind::kEarliest, 0}; }
  static StartAt latest() { return {Kind::kLatest, 0}; }
  static StartAt at(std::uint64_t seq) { return {Kind::kSequence, seq}; }
};

struct SubscriberOptions {
  std::string name;                        // optional; shown in stats
  StartAt start = StartAt::latest();       // earliest retained, latest, or a sequence
  SlowPolicy slow = SlowPolicy::kBlock;    // memory-only topics
  WaitStrategy wait = WaitStrategy::kAdaptive;
};

struct WorkGroupOptions {
  StartAt start = StartAt::earliest();
  // Records delivered but not yet acked, counted from the oldest unacked one.
  // Consumers wait when the window is full. A power of two, 64..2^24.
  std::uint32_t max_in_flight = 1u << 16;
};

struct ConsumerOptions {
  std::string name;
  WaitStrategy wait = WaitStrategy::kAdaptive;
};

struct EngineOptions {
  // Where persisted topics keep their logs. Empty: a memory-only engine
  // (persisted topics are refused). Created 0700 if missing; one engine per
  // directory (a second open fails with kBusy).
  std::string data_dir;
  // Async topics: fdatasync at least this often (also the persistence
  // thread's tick).
  std::chrono::milliseconds flush_interval{10};
  // Use pwritev/fdatasync syscalls instead of io_uring even where io_uring
  // works (tests cover the fallback with it).
  bool force_syscall_io = false;
  // How long a parked reader sleeps before it looks again on its own. A
  // safety net only: publishers wake parked readers.
  std::chrono::microseconds park_timeout{500};
};

}  // namespace conduit
