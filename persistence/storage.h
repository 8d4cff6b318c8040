// The storage seam: what the engine asks of where a topic's bytes live, and
// what storage may ask of the engine. The engine (engine/) includes this;
// persistence/ implements it over files (FileTopicStorage), engine/segment.cpp
// over anonymous memory (make_memory_storage). Nothing here includes engine/.
//
// Thread safety
//   TopicStorage: called by one thread at a time (under the topic's lock),
//   except where a member says "any thread".
//   StateJournal: see the class.
//   SegmentMemory: base()/capacity() fixed; the rest is called as each
//   member says (under the segment's zero lock, by the persistence thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/counters.h"
#include "common/wait.h"
#include "conduit/engine.h"
#include "conduit/status.h"

namespace conduit::detail {

// Bytes of one segment, owned: unmapped (or closed) on destruction.
class SegmentMemory {
 public:
  virtual ~SegmentMemory() = default;
  virtual std::byte* base() const noexcept = 0;
  virtual std::size_t capacity() const noexcept = 0;
  // Drops this process's page-table entries for the bytes, keeping the
  // bytes: file mappings only (the page cache keeps the pages; the next
  // touch maps them again). Anonymous memory would lose its bytes: no-op.
  virtual void drop_resident_pages() noexcept {}
  // The same for the whole pages within [from, to) (page-aligned offsets).
  virtual void drop_resident_range(std::size_t from, std::size_t to) noexcept { (void)from, (void)to; }
  // Maps the pages within [from, to) writable now, so that the producer's
  // first write to them does not fault (file mappings, and fresh anonymous
  // memory; no-op elsewhere).
  virtual void populate_range(std::size_t from, std::size_t to) noexcept { (void)from, (void)to; }
  // Whether the producers themselves populate this memory just ahead of
  // their claims (Segment::prepare_data): fresh anonymous memory, which no
  // other thread populates.
  virtual bool populated_by_producers() const noexcept { return false; }
  // Zero bytes mean "no record here" (Segment::ensure_zeroed). How far from
  // the start the bytes are ready for producers when the segment is made:
  // all of them, except where zero_range() still has work to do (a kSync
  // topic's file segment whose zeros are written as the log grows).
  virtual std::size_t ready_bytes() const noexcept { return capacity(); }
  // Makes [from, to) ready: every byte zero, and whatever else the memory
  // needs before producers store there. Called under the segment's zero
  // lock, above every byte written. Anonymous memory clears it; a file
  // writes zeros to disk (persistence/segment_file.h).
  virtual void zero_range(std::size_t from, std::size_t to) noexcept { std::memset(base() + from, 0, to - from); }
  // How much a producer that finds the ready bytes behind it makes ready
  // at once (at least).
  virtual std::size_t zero_chunk() const noexcept { return std::size_t{64} << 10; }
  // A memfd holding the bytes, which another process may map (a memory-only
  // topic's segment, doc/ipc.md); -1 when there is none.
  virtual int shared_fd() const noexcept { return -1; }
};

// A segment found on open, as recovery left it.
struct RecoveredSegment {
  std::unique_ptr<SegmentMemory> memory;
  std::uint64_t first_seq = 0;
  std::uint64_t records = 0;   // intact records
  bool sealed = false;         // full: ends in padding
  std::size_t end_offset = 0;  // where the next record goes, when not sealed
  // Set (to the file's path) when these records were read from disk
  // unchecked: an open that took the log from its clean-close record. They
  // are checked before any reader hands one out (Segment::check_through).
  std::string unchecked_path;
};

// Where one segment of the log stands (what a clean close records).
struct SegmentExtent {
  std::uint64_t first_seq = 0;
  std::uint64_t records = 0;
  std::size_t end_offset = 0;  // where the next record goes; the capacity when sealed
  std::size_t capacity = 0;
  bool sealed = false;
};

// Where a segment's ready bytes stand after Segment::zero_ahead(): all of
// the segment is ready; ready as far as asked for now; not yet.
enum class ZeroAhead { kDone, kAhead, kMore };

// What the engine tells storage about its log: how far it is complete.
class WatermarkSource {
 public:
  virtual ~WatermarkSource() = default;
  // Every record below `seq` is complete in memory.
  virtual std::uint64_t published_watermark() const noexcept = 0;
  // Bytes of records below published_watermark(), since the topic opened.
  virtual std::uint64_t published_bytes() const noexcept = 0;
  // In the segment that starts at `first_seq`: the offset just past the
  // records below `below` (every byte before it is written and will not
  // change), or 0 when the topic no longer has that segment. `below` must
  // not exceed the published watermark.
  virtual std::size_t settled_bytes(std::uint64_t first_seq, std::uint64_t below) const = 0;
  // Every segment, oldest first, each as far as the published watermark;
  // empty when a record is claimed past it (the log is still moving).
  virtual std::vector<SegmentExtent> segment_extents() const = 0;
  // Drops this process's page-table entries for the whole pages of that
  // segment from offset `from` (page-aligned) up to its settled bytes below
  // `below`; returns the offset dropped up to (`from` when there was no
  // whole page more). The writer's mapping then holds no entry for bytes
  // the kernel is about to write back, which it would otherwise write-protect
  // one page at a time, each with its own TLB shootdown to the writers' cores.
  virtual std::size_t drop_settled_pages(std::uint64_t first_seq, std::uint64_t below, std::size_t from) = 0;
  // Maps the head segment's pages writable from the producers' tail to
  // `ahead` bytes past it (see SegmentMemory::populate_range), skipping what
  // `last` (this call's previous answer) says is mapped already. Returns
  // the head's first sequence and the offset mapped up to.
  struct PopulatedMark {
    std::uint64_t first_seq = 0;
    std::size_t to = 0;
  };
  virtual PopulatedMark populate_head(PopulatedMark last, std::size_t ahead) {
    (void)ahead;
    return last;
  }
  // Makes the head segment's bytes ready for producers up to `ahead` bytes
  // past their tail, at most `step` bytes a call (Segment::zero_ahead).
  virtual ZeroAhead zero_head(std::size_t ahead, std::size_t step) {
    (void)ahead, (void)step;
    return ZeroAhead::kDone;
  }
};

// An append-only journal of small fixed-size entries beside a state file
// (a work group's acks and failures between two commits of its state).
// Entries are kJournalEntryBytes each; the storage frames them (CRC).
//
// Thread safety: append/await_durable/rotate/retire from any thread.
// Compaction protocol (the owner's, e.g. GroupCore::commit): rotate(),
// then take and store a state that covers every change whose entry was
// appended before rotate() returned, then retire(that generation).
class StateJournal {
 public:
  static constexpr std::size_t kEntryBytes = 32;
  virtual ~StateJournal() = default;
  // Writes one entry and returns its ticket (tickets grow by one per entry).
  // Not durable yet: see await_durable(). An error loses nothing already
  // written; the entry is not in the journal.
  virtual Result<std::uint64_t> append(const std::byte* entry) noexcept = 0;
  // Waits until the entry with `ticket` (and every earlier one) is durable:
  // fdatasync'ed by the persistence thread (shared with the topic's sync
  // round), or covered by a stored state (retire()). Its error otherwise
  // (a failed sync, kClosed).
  virtual Status await_durable(std::uint64_t ticket) noexcept = 0;
  // Entries appended from now on go to a fresh generation; returns it.
  virtual Result<std::uint64_t> rotate() = 0;
  // A stored state covers every entry of generations below `generation`:
  // their files go, and their entries count as durable.
  virtual void retire(std::uint64_t generation) = 0;
  // A journal file filled up and more than one generation is live: the
  // owner should store its state (and retire) soon.
  virtual bool wants_compaction() const noexcept = 0;
};

// A persisted topic's sync rounds, for the counters file (common/counters.h).
struct SyncStats {
  std::uint64_t rounds = 0;                               // rounds that had something to sync
  std::uint64_t failures = 0;                             // of those, rounds whose sync failed
  std::uint64_t latency_sum_ns = 0;                       // their syncs' time in total
  std::uint64_t latency[counters::kLatencyBuckets] = {};  // rounds by log2(ns) of their sync
};

// Where a topic's segments come from and go to. The engine's side of the
// storage seam: the write-ahead log implements it over files.
class TopicStorage {
 public:
  virtual ~TopicStorage() = default;
  // The segments already there, oldest first (empty for a new topic).
  virtual Result<std::vector<RecoveredSegment>> recover() { return std::vector<RecoveredSegment>{}; }
  // Called once before any publish.
  virtual void attach(WatermarkSource*) {}
  // How recover() went; OK read_only unless the log opened read-only (then
  // nothing may be written: create_segment and the stores fail with it).
  virtual RecoveryStats recovery_stats() const { return {}; }
  // Every record below it is durable (fdatasync'ed). Memory-only storage:
  // there is no disk, so this is the published watermark's business, not ours.
  virtual std::uint64_t durable() const noexcept { return 0; }
  // Waits until durable() > seq, a failed sync (its error), close (kClosed)
  // or the deadline (kTimedOut). Any thread.
  virtual Status await_durable(std::uint64_t seq, std::chrono::steady_clock::time_point deadline) {
    (void)seq, (void)deadline;
    return Status::Unsupported("a memory-only topic has no durable watermark");
  }
  // Sync rounds so far; all zero for memory-only storage. Any thread.
  virtual SyncStats sync_stats() const { return {}; }
  // Final sync and clean-close marker; after it, nothing is written.
  virtual Status close() { return Status::OK(); }
  // Durable positions by key ("sub-NAME", "group-NAME"); kUnsupported for
  // memory-only storage. load: nullopt when none was stored.
  virtual Result<std::optional<std::uint64_t>> load_position(const std::string& key) {
    (void)key;
    return std::optional<std::uint64_t>{};
  }
  // Returns once every record below `end` is durable (a persisted topic;
  // nothing to wait for in memory).
  virtual Status make_durable_below(std::uint64_t end) {
    (void)end;
    return Status::OK();
  }
  virtual Status store_position(const std::string& key, std::uint64_t seq) {
    (void)key, (void)seq;
    return Status::Unsupported("a memory-only topic keeps no positions");
  }
  // The lowest committed position of the LogReaders that hold records
  // (LogReaderOptions::hold; other processes write them); nullopt: none.
  virtual Result<std::optional<std::uint64_t>> reader_hold() { return std::optional<std::uint64_t>{}; }
  // Topic::remove_reader: removes the committed position, state and
  // journals of `key`, or the position of the LogReader named `reader`.
  // kNotFound when there is none.
  virtual Status remove_position(const std::string& key) {
    (void)key;
    return Status::Unsupported("a memory-only topic keeps no positions");
  }
  virtual Status remove_reader_position(const std::string& reader) { return remove_position(reader); }
  // Every stored position, as (key, sequence) pairs (interest retention
  // reads them on open). Memory-only storage keeps none.
  virtual Result<std::vector<std::pair<std::string, std::uint64_t>>> load_positions() {
    return std::vector<std::pair<std::string, std::uint64_t>>{};
  }
  // Small durable blobs by key (a work group's state), replaced atomically;
  // load: nullopt when none was stored. Memory-only storage keeps none.
  virtual Result<std::optional<std::string>> load_state(const std::string& key) {
    (void)key;
    return std::optional<std::string>{};
  }
  virtual Status store_state(const std::string& key, std::string_view bytes) {
    (void)key, (void)bytes;
    return Status::Unsupported("a memory-only topic keeps no state");
  }
  // The journal stored under `key` (beside the state file of that key):
  // `entries` receives every intact entry its files hold, oldest generation
  // first, and appends go to a fresh generation. nullptr for memory-only
  // storage (nothing to journal).
  virtual Result<std::shared_ptr<StateJournal>> open_journal(const std::string& key,
                                                             std::vector<std::string>* entries) {
    (void)key, (void)entries;
    return std::shared_ptr<StateJournal>{};
  }
  // Memory-only storage: make `mem`, a dropped segment nobody reads any more,
  // the segment starting at `first_seq` (its header rewritten; the record
  // bytes stay as they were, stale: readers go by the segment's index).
  // false: this storage does not reuse segments (files are never reused).
  virtual bool reuse_segment(SegmentMemory& mem, std::uint64_t first_seq) {
    (void)mem, (void)first_seq;
    return false;
  }
  // Retention dropped the segment starting at `first_seq` from the topic
  // (readers may still hold its memory): delete what backs it.
  virtual void segment_dropped(std::uint64_t first_seq) { (void)first_seq; }
  // Zero-filled memory of `capacity` bytes with the segment header written.
  // `created_ns`: now on the engine's clock (EngineOptions::clock), for the
  // header's creation time, which retention by age reads; storage reads no
  // clock of its own. Memory-only storage leaves it 0 (retain_age is for
  // persisted topics).
  virtual Result<std::unique_ptr<SegmentMemory>> create_segment(std::uint64_t first_seq, std::size_t capacity,
                                                                std::int64_t created_ns) = 0;
  // Whether records carry a CRC32C (they do once they can meet a disk).
  virtual bool records_have_crc() const noexcept = 0;
  // Readers in other processes (LogReader) park here; publishers wake it.
  // Null when no other process can read the log. Fixed for the storage's life.
  virtual SharedParkingLot* remote_readers() noexcept { return nullptr; }
};

}  // namespace conduit::detail
