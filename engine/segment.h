// A segment: one contiguous region of a topic's log, and the seam to where
// its bytes live (anonymous memory here; files in persistence/).
//
// Thread safety
//   Segment: base/capacity/first_seq are fixed at creation. Producers write
//   records into [base, base+capacity) at claimed offsets (see TopicCore);
//   index entries and sealed_count are written once each with release and
//   read with acquire. A reader keeps a segment alive by holding its
//   shared_ptr; a segment dropped from its topic is freed when the last
//   reader lets go. Readers hold it through a pin (Segment::pin): a
//   memory-only ring reuses a dropped segment, zeroed, only once it has no
//   pin and no other owner.
//   A segment read from disk unchecked (a log taken from its clean-close
//   record): readers check its records a chunk at a time, taking turns
//   under the segment's own check mutex; the check sets the records' index
//   entries (the same values again where the tail's were built at open).
//   How far it got (checked_) is stored with release and read with acquire
//   (checked()).
//   TopicStorage: called by one thread at a time (under the topic's lock).
#pragma once

#include <atomic>
#include <chrono>
#include <vector>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "conduit/engine.h"
#include "conduit/status.h"
#include "engine/alloc.h"
#include "engine/wait.h"

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
  // first write to them does not fault (file mappings; no-op elsewhere).
  virtual void populate_range(std::size_t from, std::size_t to) noexcept { (void)from, (void)to; }
  // Zero bytes mean "no record here" (Segment::ensure_zeroed). How far from
  // the start the bytes are ready for producers when the segment is made:
  // all of them, except where zero_range() still has work to do (a kSync
  // topic's file segment whose zeros are written as the log grows).
  virtual std::size_t ready_bytes() const noexcept { return capacity(); }
  // Makes [from, to) ready: every byte zero, and whatever else the memory
  // needs before producers store there. Called under the segment's zero
  // lock, above every byte written. Anonymous memory clears it; a file
  // writes zeros to disk (persistence/segment_file.h).
  virtual void zero_range(std::size_t from, std::size_t to) noexcept;
  // How much a producer that finds the ready bytes behind it makes ready
  // at once (at least).
  virtual std::size_t zero_chunk() const noexcept { return std::size_t{64} << 10; }
};

// A segment found on open, as recovery left it.
struct RecoveredSegment {
  std::unique_ptr<SegmentMemory> memory;
  std::uint64_t first_seq = 0;
  std::uint64_t records = 0;     // intact records
  bool sealed = false;           // full: ends in padding
  std::size_t end_offset = 0;    // where the next record goes, when not sealed
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
  virtual PopulatedMark populate_head(PopulatedMark last, std::size_t ahead) { (void)ahead; return last; }
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

// Memory-only topics: anonymous mappings, never on disk.
std::unique_ptr<TopicStorage> make_memory_storage();

inline constexpr std::uint64_t kNotSealed = std::numeric_limits<std::uint64_t>::max();

class Segment : public MiAllocated, public std::enable_shared_from_this<Segment> {
 public:
  // Takes ownership of `mem`. Fails only when the index cannot be mapped.
  static Result<std::shared_ptr<Segment>> make(std::unique_ptr<SegmentMemory> mem, std::uint64_t first_seq);
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  std::byte* base() const noexcept { return base_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::uint64_t first_seq() const noexcept { return first_seq_; }
  // The most records a segment of this capacity can hold.
  std::size_t max_records() const noexcept { return max_records_; }

  // Offset of record `i` (0-based in this segment), or 0 while it is not
  // committed yet. Written once by the record's producer. An `i` past what
  // the segment can hold is 0 too: a reader that starts beyond the end of
  // the log (StartAt::at a future sequence) waits until the segment seals.
  std::uint32_t offset_of(std::size_t i) const noexcept {
    if (i >= max_records_) return 0;
    // Acquire pairs with the release in set_offset(): the record's bytes,
    // committed before, are visible.
    return index_[i].load(std::memory_order_acquire);
  }
  void set_offset(std::size_t i, std::uint32_t off) noexcept {
    // Release pairs with the acquire in offset_of().
    index_[i].store(off, std::memory_order_release);
  }

  // Records in the segment once it is sealed (no more fit), else kNotSealed.
  std::uint64_t sealed_count() const noexcept {
    // Acquire pairs with the release in seal().
    return sealed_count_.load(std::memory_order_acquire);
  }
  void seal(std::uint64_t count) noexcept {
    // Release pairs with the acquire in sealed_count().
    sealed_count_.store(count, std::memory_order_release);
  }
  // One past the last sequence, once sealed; kNotSealed before.
  std::uint64_t end_seq() const noexcept {
    const std::uint64_t n = sealed_count();
    return n == kNotSealed ? kNotSealed : first_seq_ + n;
  }

  // A reader's reference: the segment, kept alive and pinned until the last
  // copy of the returned pointer is gone. Readers get segments only this
  // way (TopicCore::segment_for), so a memory-only ring can tell when
  // nobody reads a dropped segment any more and reuse it.
  static std::shared_ptr<Segment> pin(std::shared_ptr<Segment> s);
  bool pinned() const noexcept {
    // Acquire pairs with the release in the last pin's drop: that reader's
    // reads of the segment happen before whatever the caller does next.
    return pins_.load(std::memory_order_acquire) != 0;
  }

  // Makes this sealed segment, dropped from its topic and held by nobody
  // else, start again at `first_seq` with an empty index; the storage has
  // rewritten its header (TopicStorage::reuse_segment). Called under the
  // topic's lock; the topic publishes it to producers and readers as it
  // does a new segment (release stores of the slot's tail and of next()).
  // Only the first zero chunk is cleared here; see ensure_zeroed().
  void reuse(std::uint64_t first_seq) noexcept;

  // Zero bytes mean "no record here" (a record's length word is its commit),
  // so a reader must find zeros wherever it looks next. Below zeroed_ the
  // bytes are zero or this lap's records; new memory is zero throughout, a
  // reused segment holds the last lap's bytes above it. A producer calls
  // this for the end of its claim plus the next length word before writing:
  // every position a reader looks at (the end of a committed record) is
  // then below zeroed_, and a clear happens only above everything written.
  // The clearing goes a chunk at a time just ahead of the producers, rather
  // than all of a segment under the topic's lock when the ring comes round
  // (a stall for producers and for readers changing segment). A file whose
  // zeros are still being written (SegmentMemory::ready_bytes) starts with
  // zeroed_ there: the bytes above read as zero already, but must not be
  // stored into before zero_range() has written them.
  void ensure_zeroed(std::size_t end) noexcept {
    // Acquire pairs with the release in zero_to(): the cleared bytes are
    // cleared before this producer writes (and, through its commit, for
    // the readers that follow it).
    if (zeroed_.load(std::memory_order_acquire) < end) [[unlikely]] zero_to(end);
  }
  SegmentMemory& memory() noexcept { return *mem_; }
  // Makes at most `step` more bytes above zeroed_ ready, ahead of the
  // producers, if zeroed_ is below `until` (the persistence thread's zero
  // thread, for a file whose zeros are still being written).
  ZeroAhead zero_ahead(std::size_t until, std::size_t step) noexcept;

  // See SegmentMemory::drop_resident_pages(). Readers may go on reading.
  void drop_resident_pages() noexcept { mem_->drop_resident_pages(); }
  void drop_resident_range(std::size_t from, std::size_t to) noexcept { mem_->drop_resident_range(from, to); }
  void populate_range(std::size_t from, std::size_t to) noexcept { mem_->populate_range(from, to); }

  // The segment after this one, set once when the topic rolls. Valid to
  // follow only while this one is not yet dropped from the topic.
  Segment* next() const noexcept {
    // Acquire pairs with the release in set_next().
    return next_.load(std::memory_order_acquire);
  }
  void set_next(Segment* s) noexcept { next_.store(s, std::memory_order_release); }  // pairs with next()

  // Segments found on open have no index until a reader needs one; the
  // topic builds it under its lock (walking the record lengths).
  bool indexed() const noexcept { return indexed_; }
  void mark_unindexed() noexcept { indexed_ = false; }
  void build_index(std::uint64_t records) noexcept;
  // What the topic calls, under its lock, before a reader gets the segment:
  // builds the index of a segment found on open, except where its records
  // are unchecked. There check_through() sets each entry as it checks the
  // record, and a reader checks a record before it reads its entry: one
  // pass over the bytes where a walk for the index and then the check
  // would take two. (indexed() stays false: settled_bytes walks lengths.)
  void index_for_readers() noexcept {
    if (!indexed_ && unchecked_ == nullptr) build_index(sealed_count());
  }

  // A record is handed out to a reader (subscriber, work group) only once
  // this process has checked it (CRC32C, length, sequence, fields) or
  // wrote it itself. Only records read from disk unchecked
  // (RecoveredSegment::unchecked_path) start unchecked; recovery's scan
  // checked the others. Whether record `i` (0-based) may go out as it is:
  bool checked(std::uint64_t i) const noexcept {
    // Acquire pairs with the release in check_through(): the check of every
    // record below the value read, and the setting of its index entry,
    // happened before.
    return i < checked_.load(std::memory_order_acquire);
  }
  // Checks the unchecked records from the first not checked yet through
  // record `i`, persistence::kCheckAhead bytes at a time (the reader reads
  // the rest of the chunk next, from cache), once for all readers: they
  // take turns. OK, also for a record past the unchecked ones (written by this
  // process); or kCorruption naming the file and offset of the first bad
  // record at or before `i`, the same to every reader that gets there.
  // Records before it stay good. Any thread.
  Status check_through(std::uint64_t i);
  // Record `i` is there, read from disk, and not checked yet: a reader
  // waiting for it should poll (and check it) rather than wait.
  bool unchecked_record(std::uint64_t i) const noexcept {
    return unchecked_ != nullptr && i < unchecked_->records && !checked(i);
  }
  // Checks every unchecked record now; returns how many records from the
  // start are good (all: the maximum), the rest lying at or after a bad one.
  std::uint64_t check_all();
  // Marks the first `records` records, read from `path`, unchecked; when
  // `sealed`, also what ends them (padding, or the segment's end). Before
  // the segment is shared.
  void mark_unchecked(std::string path, std::uint64_t records, bool sealed);

 private:
  Segment(std::unique_ptr<SegmentMemory> mem, std::uint64_t first_seq, std::atomic<std::uint32_t>* index,
          std::size_t max_records);
  std::unique_ptr<SegmentMemory> mem_;
  std::byte* base_;
  std::size_t capacity_;
  std::uint64_t first_seq_;
  std::atomic<std::uint32_t>* index_;  // anonymous mapping, max_records_ entries
  std::size_t max_records_;
  std::atomic<std::uint64_t> sealed_count_{kNotSealed};
  std::atomic<Segment*> next_{nullptr};
  struct Pin;
  std::atomic<std::uint32_t> pins_{0};  // readers' pins (see pin())
  bool indexed_ = true;  // guarded by the topic's lock
  // Records below it are checked (see checked()), and their index entries
  // set; all of them unless mark_unchecked() ran. Stored only under
  // unchecked_->mu.
  std::atomic<std::uint64_t> checked_{std::numeric_limits<std::uint64_t>::max()};
  struct Unchecked {
    std::string path;
    std::uint64_t records = 0;  // records [0, records) came unchecked
    bool sealed = false;        // and the padding (or end) after them
    std::mutex mu;              // one checker at a time
    std::size_t next_offset = 0;  // guarded by mu: where record checked_ starts
    Status error;                 // guarded by mu: the bad record's, once found
  };
  std::unique_ptr<Unchecked> unchecked_;  // set by mark_unchecked()
  // check_through() found the record after the first `good` ones bad:
  // keeps `error` for every reader from there on; OK when `i` is below it.
  // unchecked_->mu held.
  Status fail_check(std::uint64_t good, Status error, std::uint64_t i);
  void zero_to(std::size_t end) noexcept;
  std::mutex zero_mu_;  // one clearer at a time (once per zero chunk: reused and zeroing segments only)
  std::atomic<std::size_t> zeroed_;  // see ensure_zeroed(); stored under zero_mu_ or the topic's lock
};

}  // namespace conduit::detail
