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

// Idempotent publish (off by default: then publish never looks at ids).
// While on, a publish whose Message::id equals the id of a record published
// to the same topic within the window is dropped and returns that record's
// sequence. The window holds the last `max_ids` ids, and of those only ids
// whose record is at most `max_age` older than the new message (timestamps
// compared: Message::timestamp_ns, else the engine's wall-clock stamp). A
// persisted topic rebuilds the window from its log on open.
struct DedupOptions {
  std::size_t max_ids = 0;          // 0: off. At most 2^24.
  std::chrono::nanoseconds max_age{0};  // 0: by count only
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
  // Persisted topics: retention. Whole segments are deleted, oldest first,
  // while the log holds more than retain_bytes (0: no limit) or while the
  // oldest segment's newest record is older than retain_age (0: forever).
  // The segment being written is never deleted. A subscriber behind it is
  // told the exact number of records it lost.
  std::size_t retain_bytes = 0;
  std::chrono::seconds retain_age{0};
  DedupOptions dedup;  // idempotent publish; off by default
};

// Where a new subscriber starts.
struct StartAt {
  enum class Kind : std::uint8_t { kEarliest, kLatest, kSequence, kTime };
  Kind kind = Kind::kLatest;
  std::uint64_t sequence = 0;   // kSequence
  std::int64_t time_ns = 0;     // kTime: ns since the Unix epoch

  static StartAt earliest() { return {Kind::kEarliest, 0, 0}; }
  static StartAt latest() { return {Kind::kLatest, 0, 0}; }
  static StartAt at(std::uint64_t seq) { return {Kind::kSequence, seq, 0}; }
  // The first record stamped at or after `ns`, found by binary search over
  // segments and records (not a scan). Timestamps from several producers
  // can be out of order by the time between a claim and its stamp.
  static StartAt time(std::int64_t ns) { return {Kind::kTime, 0, ns}; }
};

struct SubscriberOptions {
  // Optional. On a persisted topic a named subscriber resumes from its
  // committed position (Subscriber::commit) when one exists; `start` is used
  // only the first time. Same rules as topic names.
  std::string name;
  StartAt start = StartAt::latest();       // earliest retained, latest, or a sequence
  SlowPolicy slow = SlowPolicy::kBlock;    // memory-only topics
  WaitStrategy wait = WaitStrategy::kAdaptive;
  // Persisted topics: see only records below the durable watermark.
  bool durable_only = false;
};

struct WorkGroupOptions {
  // Where a new group starts; a persisted group with a committed ack floor
  // (WorkGroup::commit) resumes from it instead.
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
  // Async topics: fdatasync also once this many bytes were published since
  // the last one (checked every millisecond). 0: time only.
  std::size_t flush_bytes = 4u << 20;
  // Use plain fdatasync/fallocate syscalls instead of io_uring even where
  // io_uring works (tests cover the fallback with it). The environment
  // variable CONDUIT_FORCE_SYSCALL_IO=1 does the same for every engine.
  bool force_syscall_io = false;
  // How long a parked reader sleeps before it looks again on its own. A
  // safety net only: publishers wake parked readers.
  std::chrono::microseconds park_timeout{500};
};

}  // namespace conduit
