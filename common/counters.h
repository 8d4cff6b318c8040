// The live counters file, DATA_DIR/counters: its layout, the seqlock that
// keeps each row consistent, and a reader for other processes.
//
// The engine maps the file shared and rewrites its rows from one refresher
// thread; any process may map it read-only and read it without the engine's
// lock. Every field is a little-endian u64 word accessed through
// std::atomic_ref (the file is shared memory between processes; atomic u64s
// are lock-free on every platform conduit builds for), so a reader racing
// the writer never reads a torn word, and the seqlock makes the whole row
// one snapshot.
//
// Layout (doc/observability.md draws it):
//   header, kRowWords words: magic "CNDTCNT1", version, row size in bytes,
//   row count, the writer's pid, the engine's start time (ns, engine clock)
//   rows, kRowWords words each:
//     0      seq: the seqlock (even: stable, odd: being written)
//     1      kind (RowKind; 0 = free, readers skip it)
//     2..29  topic name, NUL-padded (224 bytes)
//     30..57 reader name, or the engine row's disk I/O path (224 bytes)
//     58..   values, indexed by TopicField / ReaderField / EngineField
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace conduit::counters {

inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::size_t kRowWords = 128;  // 1 KiB rows
inline constexpr std::size_t kRowBytes = kRowWords * 8;
inline constexpr std::size_t kTextWords = 28;  // 224 bytes: a 200-character name and its NUL
inline constexpr std::size_t kSeqWord = 0, kKindWord = 1, kTopicWord = 2, kNameWord = kTopicWord + kTextWords,
                             kValueWord = kNameWord + kTextWords;
inline constexpr std::size_t kValueWords = kRowWords - kValueWord;
// Rows the file holds (the engine row first). Readers past that are not
// exported; the engine row counts them (EngineField::kRowsMissing).
inline constexpr std::size_t kDefaultRows = 1023;

// Header words.
inline constexpr std::size_t kMagicWord = 0, kVersionWord = 1, kRowBytesWord = 2, kRowCountWord = 3, kPidWord = 4,
                             kStartWord = 5;

enum class RowKind : std::uint64_t {
  kFree = 0,
  kEngine = 1,
  kTopic = 2,
  kSubscriber = 3,
  kWorkGroup = 4,
  kLogReader = 5
};

// Sync-round latency histogram: bucket i counts rounds that took
// [2^i, 2^(i+1)) ns (bucket 0 also takes 0 ns; the last, everything longer).
inline constexpr std::size_t kLatencyBuckets = 40;
inline std::size_t latency_bucket(std::uint64_t ns) noexcept {
  std::size_t b = ns == 0 ? 0 : static_cast<std::size_t>(63 - __builtin_clzll(ns));
  return b < kLatencyBuckets ? b : kLatencyBuckets - 1;
}

enum TopicField : std::size_t {
  kPublished,           // every record below it is complete
  kDurable,             // every record below it is fdatasync'ed (0: memory-only)
  kClaimed,             // next sequence a producer will claim
  kEarliest,            // oldest sequence held
  kSegments,            // segments held
  kBytes,               // bytes those segments take (segments x segment_bytes)
  kRetentionDeletions,  // segments retention deleted (bytes, age, interest)
  kCapDeletions,        // hard_cap_bytes deletions of records not yet consumed
  kCapLostRecords,      // records those deletions took
  kSyncRounds,          // sync rounds that wrote something
  kSyncFailures,        // of those, rounds that failed
  kSyncLatencySumNs,    // the rounds' sync time in total, ns
  kSyncLatency,         // kLatencyBuckets words: the histogram
  kTopicFields = kSyncLatency + kLatencyBuckets,
};
enum ReaderField : std::size_t {
  kPosition,      // subscriber: next sequence; group: ack floor; LogReader: committed position
  kLagRecords,    // published - position
  kLagNs,         // engine now - timestamp of record `position` (0: caught up)
  kLagKnown,      // 1 when kLagNs could be read (the record is held and checked)
  kRedelivered,   // work group: deliveries that were redeliveries
  kDeadLettered,  // work group: records sent to the dead-letter topic
  kTimedOut,      // work group: deliveries whose ack timeout passed
  kLost,          // records lost (lose-oldest, retention, the hard cap)
  kInFlight,      // work group: delivered, not answered yet
  kReaderFields,
};
enum EngineField : std::size_t {
  kPersistenceRounds,  // persistence-thread rounds (ticks that looked at the topics)
  kPersistenceErrors,  // sync rounds that failed, every topic together
  kRefreshes,          // times the engine rewrote this file
  kRefreshedAtNs,      // engine clock at the last refresh
  kRowsMissing,        // readers/topics the file had no room for at the last refresh
  kEngineFields,
};
static_assert(kTopicFields <= kValueWords && kReaderFields <= kValueWords && kEngineFields <= kValueWords);

// One row as a reader copied it.
struct Row {
  std::size_t index = 0;  // row number in the file (stable while the row lives)
  RowKind kind = RowKind::kFree;
  std::string topic, name;
  std::uint64_t values[kValueWords] = {};
};

// --- the seqlock, over a row's words in shared memory ---
// Writer (one thread only): seq odd, the words, seq even again.
class RowWriter {
 public:
  explicit RowWriter(std::uint64_t* row) noexcept : row_(row) {
    // Relaxed load: only this writer stores seq. The release fence after the
    // odd store orders it before every word store below: a reader that sees
    // any of those words (its acquire fence) then also sees seq odd, or a
    // later value, and retries.
    auto seq = std::atomic_ref<std::uint64_t>(row_[kSeqWord]);
    start_ = seq.load(std::memory_order_relaxed);
    seq.store(start_ + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
  }
  ~RowWriter() {
    // Release: every word store above happens before a reader's acquire
    // load of this even value.
    std::atomic_ref<std::uint64_t>(row_[kSeqWord]).store(start_ + 2, std::memory_order_release);
  }
  RowWriter(const RowWriter&) = delete;
  RowWriter& operator=(const RowWriter&) = delete;
  void set(std::size_t word, std::uint64_t v) noexcept {
    // Relaxed: ordered by the seqlock's fences (constructor, destructor).
    std::atomic_ref<std::uint64_t>(row_[word]).store(v, std::memory_order_relaxed);
  }
  void set_kind(RowKind k) noexcept { set(kKindWord, static_cast<std::uint64_t>(k)); }
  void set_value(std::size_t field, std::uint64_t v) noexcept { set(kValueWord + field, v); }
  void set_text(std::size_t first_word, std::string_view text) noexcept;

 private:
  std::uint64_t* row_;
  std::uint64_t start_;
};

// Reads row `index` of a mapped file; false when it is free. Retries while
// the writer is inside it (gives up after `max_tries`, returning false with
// *torn set: a writer that died mid-row leaves it odd).
bool read_row(const std::uint64_t* file, std::size_t index, Row* out, int max_tries = 10000, bool* torn = nullptr);

// The engine's side: DATA_DIR/counters made anew (written as FILE.tmp,
// mode 0600, and renamed into place, so a reader that has the old one
// mapped keeps a stale but whole file), mapped shared for writing.
class CountersMapping {
 public:
  // `rows`: rows after the header. Empty object and *error on failure.
  static CountersMapping create(const std::string& data_dir, std::size_t rows, std::int64_t start_ns,
                                std::string* error);
  CountersMapping() = default;
  CountersMapping(CountersMapping&& o) noexcept;
  CountersMapping& operator=(CountersMapping&& o) noexcept;
  ~CountersMapping();
  bool is_open() const noexcept { return words_ != nullptr; }
  std::size_t rows() const noexcept { return rows_; }
  // Row `index`'s words, for a RowWriter.
  std::uint64_t* row(std::size_t index) noexcept { return words_ + (index + 1) * kRowWords; }

 private:
  std::uint64_t* words_ = nullptr;
  std::size_t rows_ = 0;
};

// A mapped counters file, read-only.
class CountersFile {
 public:
  // Maps DATA_DIR/counters; on failure an empty object and *error names the
  // file and what is wrong with it (missing, too short, bad magic at offset
  // 0, unknown version at offset 8 ...).
  static CountersFile open(const std::string& data_dir, std::string* error);
  CountersFile() = default;
  CountersFile(CountersFile&& o) noexcept;
  CountersFile& operator=(CountersFile&& o) noexcept;
  ~CountersFile();
  bool is_open() const noexcept { return words_ != nullptr; }
  std::uint64_t writer_pid() const noexcept;
  // Every row in use, in file order (the engine row first).
  std::vector<Row> rows() const;

 private:
  const std::uint64_t* words_ = nullptr;
  std::size_t bytes_ = 0;
  std::size_t rows_ = 0;
};

}  // namespace conduit::counters
