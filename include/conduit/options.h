// conduit — options for engines, topics, subscribers and work groups.
// Plain values; each field says its default and its limits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

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
  kSync,    // publish completes only once fdatasync covers the record;
            // its segment files are written with zeros before use, so a
            // sync has no unwritten extent to convert (a journal commit)
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
// compared: Message::timestamp_ns, else the engine's stamp, on
// EngineOptions::clock). A
// persisted topic rebuilds the window from its log on open.
struct DedupOptions {
  std::size_t max_ids = 0;              // 0: off. At most 2^24.
  std::chrono::nanoseconds max_age{0};  // 0: by count only
};

// How a topic keeps its records; fixed when it is created.
struct TopicOptions {
  Durability durability = Durability::kMemory;  // memory-only, or persisted and how it syncs
  // Bytes per segment (header included), rounded up to 4 KiB. Within
  // 64 KiB .. 512 MiB, and room for the header (64 B) and two of the largest
  // records: 2 * align64(48 + 64 KiB + max_payload_bytes) (64 KiB is the
  // envelope's limit). With a 1 KiB max_payload_bytes that is 132 KiB.
  // 0 (the default): 8 MiB for a memory-only topic, 64 MiB for a persisted one.
  std::size_t segment_bytes = 0;
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
  // @{
  std::size_t retain_bytes = 0;
  std::chrono::seconds retain_age{0};
  // @}
  // Persisted topics: interest retention. When on, the oldest segment is
  // deleted only once every named subscriber's and every work group's
  // committed position (Subscriber::commit, WorkGroup::commit; on disk, so
  // it holds across a reopen) is at or past its end, and retain_bytes /
  // retain_age also let it go (with both 0: as soon as it is consumed).
  // Open work groups also hold what they have not acked. Unnamed
  // subscribers never hold records. A named subscriber or group counts from
  // its first subscribe / work_group() on such a topic (its start is
  // committed then). With no named subscriber or group, nothing is kept.
  bool retain_until_consumed = false;
  // Persisted topics: a hard cap on the log's bytes (whole segments; at
  // least two segments' worth). While the log holds more, the oldest
  // segment is deleted even when a named subscriber or group has not
  // consumed it, or an open work group has not acked it: the cap wins. Such
  // a deletion is counted in Topic::stats(), said once (EngineOptions::log), and the
  // subscriber or group is told the exact gap (an open group's unacked
  // records in it are lost to it; see Consumer::ack). 0: no cap.
  std::size_t hard_cap_bytes = 0;
  DedupOptions dedup;  // idempotent publish; off by default
  // Every publish comes from one thread: the first to publish; a publish
  // from any other thread fails with kInvalidArgument and writes nothing.
  // That thread's claim is then a plain load and store of the tail instead
  // of a locked add, which on x86 waits for every earlier store of the
  // publishing core to reach its cache first (doc/design-choices.md,
  // "One producer"). Needs membarrier(2) (Linux 4.14+), through which
  // close() and delete_topic() stop that thread's claims; where it is
  // refused, such topics claim as the others do and the engine says so
  // through EngineOptions::log. Off by default. Dead-letter topics made from this
  // topic's options have it off (several consumers publish to them).
  bool single_producer = false;
  // Memory-only topics: other processes may publish into it and subscribe
  // to it (AttachedEngine::topic, ::subscribe; doc/ipc.md, "Shared
  // memory-only topics"). Its segments are then memfds mapped shared rather
  // than anonymous memory; where the kernel keeps shared memory off
  // transparent huge pages (shmem_enabled), their first touch costs a page
  // fault per 4 KiB (bench/results/2026-12-07-ipc-shm-topic.md), so it is
  // off by default. Persisted topics are shared always; this is ignored.
  bool shared = false;
  // Memory-only topics: segments of 4 MiB or more on transparent huge pages
  // where the kernel allows them (MADV_HUGEPAGE). The ring's first lap then
  // takes one page fault per 2 MiB rather than per 4 KiB, and fewer TLB
  // misses (1P/1S 8% faster; the ping-pong's p99.9 about 4 us against 7.5
  // us); but that one fault zeroes 2 MiB while a publisher waits, which on
  // a KVM guest took milliseconds: records published at a steady 100k msg/s
  // into a fresh ring had a p99 of 1.6-3.6 ms against 0.13 ms on small
  // pages (bench/results/2026-12-07-huge-pages.md). Off, the default: small
  // pages (MADV_NOHUGEPAGE, which the kernel's "always" mode obeys too),
  // which producers map a page ahead of their claims. Once the ring has
  // gone round, its segments are reused and neither faults. Not stored;
  // persisted topics' segments are file mappings and ignore it.
  bool huge_pages = false;
};

// Where a new subscriber starts.
struct StartAt {
  // The oldest record held, the next one published, a sequence, a time.
  enum class Kind : std::uint8_t { kEarliest, kLatest, kSequence, kTime };
  Kind kind = Kind::kLatest;   // which of them
  std::uint64_t sequence = 0;  // kSequence
  std::int64_t time_ns = 0;    // kTime: ns since the Unix epoch

  static StartAt earliest() { return {Kind::kEarliest, 0, 0}; }               // the oldest record held
  static StartAt latest() { return {Kind::kLatest, 0, 0}; }                   // only what comes next
  static StartAt at(std::uint64_t seq) { return {Kind::kSequence, seq, 0}; }  // sequence `seq`
  // The first record stamped at or after `ns`, found by binary search over
  // segments and records (not a scan). Timestamps from several producers
  // can be out of order by the time between a claim and its stamp.
  static StartAt time(std::int64_t ns) { return {Kind::kTime, 0, ns}; }
};

// How a subscriber reads (Topic::subscribe).
struct SubscriberOptions {
  // Optional. On a persisted topic a named subscriber resumes from its
  // committed position (Subscriber::commit) when one exists; `start` is used
  // only the first time. Same rules as topic names.
  std::string name;
  // Where it starts. THE DEFAULT IS latest(): only records published after
  // subscribe() (WorkGroupOptions::start defaults to earliest() instead).
  // earliest() for every record the topic still holds, at(seq), time(ns).
  StartAt start = StartAt::latest();
  SlowPolicy slow = SlowPolicy::kBlock;         // memory-only topics
  WaitStrategy wait = WaitStrategy::kAdaptive;  // how poll() waits
  // Persisted topics: see only records below the durable watermark.
  bool durable_only = false;
  // Batching, a trade of latency for throughput (as a broker consumer's
  // minimum fetch size and maximum fetch wait): once poll() has found at
  // least one record but fewer than min(min_batch, out.size()), it waits up
  // to `linger` (counted from when it found the first) for more, looking
  // again only a few times meanwhile, and returns what it has then. Each
  // look at the head of the log takes the cache line the producer is
  // writing, so a subscriber that keeps up record by record slows the
  // producer down; lingering lets the producer run ahead (bench/README.md
  // has the figures). A batch never spans a segment boundary or a loss.
  // try_poll() never lingers. 0 (either): off, the default.
  // @{
  std::size_t min_batch = 0;
  std::chrono::nanoseconds linger{0};
  // @}
  // Keeping up with a fast producer: after a poll() that found more than
  // one record already there and returned fewer than `out` holds (it
  // reached the head while the producer kept writing), the next poll()
  // waits until this long after it before it looks at the head again.
  // Meanwhile the producer writes whole cache lines that this reader does
  // not take back half written: one producer to one busy-spin subscriber
  // of 64 B records went 1.8x as fast at 1 us (bench/README.md, "stream
  // gap"). It adds at most this much to the latency of a record published
  // during such a stream. A poll that had to wait for its first record or
  // found just one (a round trip, a rate the reader keeps up with), or
  // that filled `out`, sets no gap; try_poll() never waits. 0: off.
  std::chrono::nanoseconds stream_gap{1000};
};

// How a work group hands out records (Topic::work_group).
struct WorkGroupOptions {
  // Where a new group starts. THE DEFAULT IS earliest(): every record the
  // topic still holds (SubscriberOptions::start defaults to latest()
  // instead). A persisted group with a committed ack floor
  // (WorkGroup::commit) resumes from it instead.
  StartAt start = StartAt::earliest();
  // Records delivered but not yet acked, counted from the oldest unacked one.
  // Consumers wait when the window is full. A power of two, 64..2^24.
  std::uint32_t max_in_flight = 1u << 16;

  // Redelivery and dead letters (all times on EngineOptions::clock).
  // A delivery neither acked nor nacked within ack_timeout is delivered
  // again (a failure like a nack). 0: deliveries never time out.
  std::chrono::nanoseconds ack_timeout = std::chrono::seconds(30);
  // Deliveries of one record at most: when the last one fails, the record
  // goes to the dead-letter topic. 0: unlimited (never dead-lettered by count).
  std::uint32_t max_attempts = 0;
  // Wait before delivering again after attempt n failed:
  // backoff_base * 2^(n-1), at most backoff_max, less a random part of up to
  // backoff_jitter (0..1) of it. base 0: again at once. A nack with an
  // explicit delay uses that delay instead.
  // @{
  std::chrono::nanoseconds backoff_base{0};
  std::chrono::nanoseconds backoff_max = std::chrono::seconds(60);
  double backoff_jitter = 0.0;
  // @}
  // Where dead letters go; empty: "<topic>.dlq". Created with the source
  // topic's options (an existing topic of that name is used as is) when the
  // group is, if dead letters can come unasked (max_attempts not 0,
  // on_failure kDeadLetter, or this named), so it can be subscribed to at
  // once; otherwise on the first Consumer::dead_letter.
  std::string dead_letter_topic;
  // What Consumer::fail (and so a dispatcher whose handler throws) does.
  enum class OnFailure : std::uint8_t {
    kRedeliver,   // a nack: backoff, and dead-letter after max_attempts
    kDeadLetter,  // dead-letter at once
  };
  OnFailure on_failure = OnFailure::kRedeliver;  // see OnFailure
};

// A work-group consumer's options (WorkGroup::consumer).
struct ConsumerOptions {
  std::string name;                             // optional label; the engine does not read it
  WaitStrategy wait = WaitStrategy::kAdaptive;  // how poll() waits
};

// How much a message of the engine matters (EngineOptions::log).
enum class LogLevel : std::uint8_t {
  kDebug,    // detail for whoever traces a problem
  kInfo,     // a choice the engine made that keeps every guarantee
  kWarning,  // something went wrong and was worked around; nothing lost
  kError,    // something failed that the caller may not see otherwise
};

// An engine's options (Engine::open).
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
  // The longest readers wait at a record that a publisher in another
  // process (conduit/attach.h) claimed and never wrote because it died
  // between its claim and naming it to the owner (a few instructions; a
  // claim it named is ended as soon as its connection closes). Once a
  // publisher died that way, a record that stays uncommitted this long
  // becomes a skip record (TopicStats::skipped); a publisher that was only
  // descheduled that long inside that window gets kTimedOut and writes
  // nothing (doc/ipc.md, "A publisher that dies mid-claim").
  std::chrono::milliseconds unblock_timeout{1000};
  // The engine's time: ns since the Unix epoch. Every timestamp, timer and
  // age reads it: record timestamps (publish, publish_batch, and publishes
  // through the dedup window), dedup max_age, segment creation times (in
  // the segment headers) and retention by retain_age, work-group ack
  // timeouts, nack delays, backoff and dead-letter headers, DelayPump due
  // times, and Requester timeouts (unless DelayOptions / RequesterOptions
  // name a clock of their own). Empty: the system's real-time clock (read
  // fast, engine/wall_clock.h). Tests inject a manual clock to run timed
  // behaviour deterministically. Not read: how long a blocking call waits
  // (poll and publish timeouts, wait_drained, await_durable: real time, as
  // the caller sleeps through it) and the persistence thread's flush_interval.
  // Called from any thread; must be thread-safe and should not go backwards
  // (timers then fire late).
  std::function<std::int64_t()> clock;
  // Persisted topics, on open. After a clean close a topic trusts the
  // clean-close record its close wrote and reads none of its records; after
  // a crash it checks every record (length, CRC32C, sequence, fields).
  // verify_on_open checks every record on every open, so that bytes gone bad
  // on disk since the close are reported at open (conduit-log verify does
  // the same check offline).
  bool verify_on_open = false;
  // Persisted topics whose log is damaged below the durable watermark (or in
  // a segment header after the first) fail to open with kCorruption naming
  // the file and offset. With this set they open read-only instead: every
  // intact record before the damage can be read, publish and commit fail
  // with kReadOnly naming the damage, and no file is changed.
  // Topic::recovery_stats() says which happened.
  bool read_only_on_corruption = false;
  // Where the engine's messages go (a fallback it chose, records it moved
  // aside, a file it could not delete, ...), each with its level. Called
  // from whichever thread met the event, possibly several at once, so it
  // must be thread-safe; it must not call back into the engine. Empty:
  // "conduit: <level>: <message>" on stderr.
  std::function<void(LogLevel level, std::string_view message)> log;
  // Runs first on each thread the engine starts, with the name that thread
  // carries (pthread_setname_np, at most 15 characters): "conduit-persist"
  // (sync rounds), "conduit-zero" (writes zeros ahead of kSync producers),
  // "conduit-handler" (a Dispatcher's), "conduit-counter" (refreshes
  // DATA_DIR/counters), "conduit-ipc" (lets other processes attach) and
  // "conduit-ipc-c" (one per attached connection), "conduit-inbound" and
  // "conduit-outbnd" (the NATS bridge's). For pinning (sched_setaffinity)
  // or naming threads otherwise. Must not call into the engine. Empty:
  // nothing runs.
  std::function<void(std::string_view thread_name)> on_thread_start;
  // Engines with a data directory keep live counters in DATA_DIR/counters
  // (mode 0600), which any process can map and read without the engine's
  // lock (`conduit-log stat`; doc/observability.md): every topic, open
  // subscriber, work group and named LogReader, refreshed from what the
  // engine already keeps this often (by a thread of its own; nothing is
  // added to the publish path) and on Engine::refresh_counters(). 0: no
  // counters file. A memory-only engine has none; one that cannot create
  // the file says so on stderr and runs without it.
  std::chrono::milliseconds counters_interval{100};
};

}  // namespace conduit
