// The topic: claim, write and commit records; roll segments; keep the ring.
//
// Thread safety
//   Producers (any number, any thread) call publish(): lock-free except when
//   a segment fills up and the topic rolls (then under mu_).
//   Readers (subscribers, work-group consumers) read committed records in
//   place and call segment_for() (under mu_) when they change segment.
//   Invariants:
//   - A record is visible once its length word is committed (release);
//     readers acquire-load it and stop at 0.
//   - The head slot's tail packs (records claimed << 40 | bytes claimed).
//     The producer whose claim first crosses the end ("the crosser") writes
//     the padding record and seals the segment with the count that fit.
//   - A segment is dropped from the ring only when the published scanner
//     has passed its end (no producer is still writing into it) and every
//     holder (blocking subscriber, work group) has passed it, or (persisted,
//     over hard_cap_bytes) every holder of it was cut (RetentionHolder::cut).
//     Lose-oldest subscribers still reading it keep it alive through their
//     shared_ptr; cut work groups, through their unanswered deliveries'.
//   - A retired append slot is reused only once its segment is fully
//     committed, so a producer that claimed in it can still find its segment.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/wait.h"
#include "conduit/engine.h"
#include "engine/claim_table.h"
#include "engine/dedup_window.h"
#include "engine/handle_life.h"
#include "engine/pub_claims.h"
#include "engine/segment.h"
#include "engine/wall_clock.h"

namespace conduit::detail {

// TopicOptions::segment_bytes 0 means this. Persisted segments are files,
// where a roll costs a file creation and its fallocate: larger.
constexpr std::size_t default_segment_bytes(Durability d) noexcept {
  return d == Durability::kMemory ? std::size_t{8} << 20 : std::size_t{64} << 20;
}

inline constexpr int kTailOffsetBits = 40;
inline constexpr std::uint64_t kTailOffsetMask = (std::uint64_t{1} << kTailOffsetBits) - 1;
inline constexpr std::uint64_t kTailOneRecord = std::uint64_t{1} << kTailOffsetBits;
// Records one claim may take (publish_batch splits larger batches), far
// below what the tail's record count (24 bits) holds.
inline constexpr std::size_t kMaxClaimRecords = 4096;

// Where producers append. Reused across segments (see the invariants).
struct alignas(64) AppendSlot : MiAllocated {
  // Producers: fetch_add. Reset to (0 records, the segment header's size)
  // with release when the slot gets a new segment; the acquire of the
  // fetch_add then sees `segment`.
  std::atomic<std::uint64_t> tail{0};
  std::atomic<Segment*> segment{nullptr};
  // The segment's first sequence, for publishers in other processes (which
  // cannot follow `segment`): stored with `segment`, ordered by the tail's
  // release reset as `segment` is.
  std::atomic<std::uint64_t> first_seq{0};
  // One past the last record of the segment this slot last held, once it
  // retired; kNotSealed while it is the head. Guarded by the topic's mu_.
  std::uint64_t retired_end = kNotSealed;
};

// A persisted topic's claim block (doc/ipc.md, "Publishing from any
// process"): a memfd every publishing process maps, holding the append
// slots (their tails are the words every publisher adds to, in-process ones
// included), which slot is the head, and the futex words of the topic's
// readers' parking lot. Written by the owner under the topic's lock (head,
// a slot's segment), and by any publisher (tails: fetch_add; lot words).
inline constexpr std::uint64_t kClaimBlockMagic = 0x314b4c43'54444e43;  // "CNDTCLK1"
inline constexpr std::size_t kClaimSlots = 8;
struct alignas(64) ClaimBlock {
  std::uint64_t magic = kClaimBlockMagic;
  std::uint32_t slots = kClaimSlots;
  // Index of the head slot. Stored with release after the slot's reset;
  // a publisher in another process loads it with acquire.
  alignas(64) std::atomic<std::uint32_t> head{0};
  alignas(64) std::uint32_t readers_epoch = 0;  // the readers' lot (SharedLotWords)
  alignas(64) std::uint32_t readers_parked = 0;
  AppendSlot slot[kClaimSlots];
};
// A new claim block in a memfd (*fd), or null (then said nowhere: the topic
// works as before, and other processes may not publish into it).
ClaimBlock* make_claim_block(int* fd) noexcept;

// A TopicOptions::single_producer topic's publishing thread and the threads
// that stop its claims (close, delete). One cache line, written by the
// publisher on every publish and by the others only when they stop it.
//
// The publisher marks itself inside a claim (`in_claim`), then reads
// `stopping` with no fence between the two; a stopper sets `stopping`,
// then runs membarrier(2), which makes the publisher's core execute a full
// barrier. After it, either the publisher's mark is visible to the stopper
// (which waits for it to clear) or the publisher's read of `stopping`
// comes after the barrier and sees it set (and claims with the locked add,
// as every topic does, or not at all). Either way, once the stopper has
// waited, no plain-store claim can overwrite the stopper's locked add to
// the tail. The fence the locked add would cost on every publish is paid
// once, by the stopper.
struct alignas(64) SoleProducer {
  // The publisher's thread (the address of a thread_local, see
  // enter_sole_claim()); 0 until the first publish.
  std::atomic<std::uintptr_t> owner{0};
  std::atomic<std::uint32_t> in_claim{0};
  std::atomic<bool> stopping{false};
};

// Anything whose position keeps records from being dropped from the ring.
class RetentionHolder {
 public:
  virtual ~RetentionHolder() = default;
  // Every record below this sequence may be dropped as far as we are concerned.
  virtual std::uint64_t hold_position() const noexcept = 0;
  // Called once, under the topic's lock, with the holder's first position.
  virtual void start_at(std::uint64_t seq) noexcept = 0;
  // The hard cap (TopicOptions::hard_cap_bytes) may take records from this
  // holder (a work group); others (blocking subscribers) are never cut.
  virtual bool cuttable() const noexcept { return false; }
  // The hard cap deletes `seg` (records below `end`) although this holder
  // holds it: every record below `end` not done yet is lost to the holder,
  // which moves past `end` and keeps `seg`'s memory for views still out.
  // Called under the topic's lock; returns how many records were lost.
  virtual std::uint64_t cut(std::uint64_t /*end*/, const std::shared_ptr<Segment>& /*seg*/) noexcept { return 0; }
  // How the stderr line of a cut, or a bounded publish's error, names it
  // ("work group 'NAME'", "subscriber 'NAME'").
  virtual std::string describe() const { return {}; }
  // Topic::readers(): kind, name, position (lag and holds_ring are the
  // topic's to fill in).
  virtual ReaderInfo reader_info() const { return {}; }
  // Records this reader lost so far (the counters file).
  virtual std::uint64_t lost_count() const noexcept { return 0; }
};

// A bounded publish (Topic::try_publish, Topic::publish with a timeout):
// how long the calling thread's publish may wait for ring space. max(): as
// long as it takes; min(): not at all. Set around the call; read only when
// the ring is full.
inline thread_local std::chrono::steady_clock::time_point ring_wait_deadline =
    std::chrono::steady_clock::time_point::max();

// What every topic of one engine shares. Written before the first topic
// exists, read-only afterwards (closed aside).
struct TopicShared {
  std::atomic<bool> closed{false};
  std::chrono::nanoseconds park_timeout{500'000};
  std::chrono::nanoseconds unblock_timeout{std::chrono::seconds(1)};  // EngineOptions::unblock_timeout
  std::function<std::int64_t()> clock;  // EngineOptions::clock; empty: the real-time clock
  Engine* engine = nullptr;             // for dead-letter topics
  LogSink log;                          // EngineOptions::log
  ThreadStartHook on_thread_start;      // EngineOptions::on_thread_start
  void say(LogLevel level, std::string_view message) const noexcept { detail::log(log, level, message); }
  // The engine's time (ns since the epoch): one branch over the real clock
  // when no clock was injected.
  std::int64_t now() const { return clock ? clock() : wall_clock_ns(); }
};

class TopicCore final : public MiAllocated, public WatermarkSource {
 public:
  static Result<std::unique_ptr<TopicCore>> make(std::string name, TopicOptions options,
                                                 std::unique_ptr<TopicStorage> storage, TopicShared* shared);
  ~TopicCore();

  // Appends; on a kSync topic waits for durability unless `nowait`. With
  // dedup on and an id set, a repeat within the window appends nothing and
  // returns the first's sequence. Without a trace id, takes the thread's
  // TraceScope's.
  Result<std::uint64_t> publish(const Message& m, bool nowait = false) noexcept;
  // Topic::publish_batch.
  PublishBatchResult publish_batch(std::span<const Message> ms, std::span<std::uint64_t> seqs) noexcept;
  // Topic::claim, and a Claim's end (conduit/claim.h; engine/topic_claim.cpp).
  Result<Claim> claim(std::size_t payload_bytes, const Message& envelope) noexcept;
  static Result<std::uint64_t> end_claim(Claim& c, bool commit, bool nowait) noexcept;
  Status await_durable(std::uint64_t seq, std::chrono::nanoseconds timeout) noexcept;
  std::uint64_t durable() const noexcept { return storage_->durable(); }
  // The log opened read-only (damaged): it ends at durable(). Fixed after start.
  bool read_only() const noexcept { return !read_only_.ok(); }
  std::uint64_t published_watermark() const noexcept override { return published(); }
  std::size_t settled_bytes(std::uint64_t first_seq, std::uint64_t below) const override;
  std::vector<SegmentExtent> segment_extents() const override;
  std::size_t drop_settled_pages(std::uint64_t first_seq, std::uint64_t below, std::size_t from) override;
  PopulatedMark populate_head(PopulatedMark last, std::size_t ahead) override;
  ZeroAhead zero_head(std::size_t ahead, std::size_t step) override;
  std::uint64_t published_bytes() const noexcept override {
    (void)published();
    // Relaxed: a threshold check; published() above ordered the scan.
    return published_bytes_.load(std::memory_order_relaxed);
  }
  // The final sync of a persisted topic (engine close).
  Status close_storage() { return storage_->close(); }
  TopicStorage& storage() noexcept { return *storage_; }

  std::uint64_t published() const noexcept;  // advances the scanner
  std::uint64_t claimed() const noexcept;
  // No claim has taken a sequence at or past this: the head's first
  // sequence plus every claim its tail counts, those that did not fit
  // included. Never waits (claimed() may wait for a crosser's seal, which
  // a request from that crosser's process could be queued behind).
  std::uint64_t claim_bound() const noexcept;
  // Where the log ended when this engine opened it (set by start()).
  std::uint64_t recovered_end() const noexcept { return recovered_end_; }
  // A committed position start() found past the recovered end (a power cut
  // took records that were never durable; written by an older build) was
  // set back to it: by how many sequences, once (0 afterwards, or if none).
  std::uint64_t take_rewound(const std::string& key);
  // Engine close, after the closed flag is set: no claim succeeds from here
  // on, and this returns once every claim that did is published. Until then
  // a producer that saw the flag clear may still be about to claim, so
  // readers wait for claims_end(), not for the flag.
  void stop_claims() noexcept;
  // One past the last sequence ever claimed, once stop_claims() ran (or the
  // topic was deleted); kNotSealed before.
  std::uint64_t claims_end() const noexcept;
  std::uint64_t earliest() const noexcept;

  // The segment holding `seq`; when `seq` was dropped, the oldest retained
  // one and *lost = how many records were dropped from `seq` on. nullptr
  // when `seq` is past the last segment (not rolled yet).
  std::shared_ptr<Segment> segment_for(std::uint64_t seq, std::uint64_t* lost) const;

  // Where a reader starting at `at` begins; when `h` is given it is told
  // (start_at) and registered, under one lock so the ring cannot move past
  // it in between. Unregister with remove_holder() when it goes away.
  std::uint64_t attach(StartAt at, RetentionHolder* h);
  void remove_holder(RetentionHolder* h);
  // A reader in another process (AttachedReader, engine/reader_slot.h) that readers() lists
  // until unlisted, with its own reader_info().
  void list_attached(const RetentionHolder* r);
  void unlist_attached(const RetentionHolder* r);
  // Interest retention: a named subscriber or work group stored `seq` as its
  // committed position under `key` ("sub-NAME", "group-NAME"); segments
  // everyone has consumed may go now.
  void note_committed(const std::string& key, std::uint64_t seq);
  // Topic::remove_reader.
  Status remove_reader(Topic::ReaderKind kind, std::string_view name);
  TopicStats stats() const noexcept;
  // The timestamp of record `seq`, when the topic holds it, it is
  // committed, and this process wrote or checked it; else nullopt (the
  // counters file's lag in time).
  std::optional<std::int64_t> timestamp_of(std::uint64_t seq) const;
  // A holder moved: wake producers waiting for ring space.
  void notify_progress() noexcept { space_.wake_if_parked(); }

  const std::string& name() const noexcept { return name_; }
  const TopicOptions& options() const noexcept { return options_; }
  bool closed() const noexcept {
    // Acquire pairs with the release in close().
    return shared_->closed.load(std::memory_order_acquire);
  }
  std::chrono::nanoseconds park_timeout() const noexcept { return shared_->park_timeout; }
  const TopicShared& shared() const noexcept { return *shared_; }
  SharedParkingLot& readers_lot() noexcept { return readers_; }
  void wake_all() noexcept;  // on close

  // Deletion (Engine::delete_topic). Subscribers and consumers count as
  // users: add_user() fails with kNotFound once the topic is deleted.
  // Each is named by its HandleLife, which the engine's destructor orphans
  // (orphan_handles()) before it frees the topic.
  // `reader`: a subscriber (Topic::readers() lists it); null for a consumer.
  Status add_user(HandleLife* life, const RetentionHolder* reader = nullptr);
  void remove_user(HandleLife* life);
  std::vector<ReaderInfo> readers();
  // Every open subscriber with what the counters file shows of it; `id`
  // tells subscribers apart while they live (unnamed ones too).
  struct SubscriberSample {
    const void* id;
    ReaderInfo info;
    std::uint64_t lost;
  };
  std::vector<SubscriberSample> subscriber_samples() const;
  std::vector<HandleLife*> open_users() const;
  // Every segment the topic and its groups' zombies hold (for consumers
  // that outlive the engine: their views stay valid).
  std::vector<std::shared_ptr<Segment>> held_segments();
  bool deleted() const noexcept {
    // Acquire pairs with the release in mark_deleted() (retire()).
    return deleted_.load(std::memory_order_acquire);
  }
  // Marks the topic deleted (kBusy while it has users): later publishes fail
  // with kNotFound, publishes already claimed complete, the storage closes,
  // and the segments go. The object stays (handles to it stay valid).
  Status retire();
  // Held by a work group's commit, and by retire() while it marks the topic
  // deleted: no commit writes into a deleted topic's directory.
  std::mutex& commit_mutex() noexcept { return commit_mu_; }

  // Publishing from other processes (engine/topic_ipc.cpp, doc/ipc.md).
  // Whether it may (the topic has a claim block, and is not read-only,
  // single_producer or deduplicated): OK, or why not.
  Status shareable_for_publish() const;
  int claim_block_fd() const noexcept { return claim_fd_; }
  // The segment starting at `first_seq` while it may still take claims
  // (its shared index's memfd is open), else null.
  std::shared_ptr<Segment> claimable_segment(std::uint64_t first_seq) const;
  // A publisher in another process claimed on slot `slot` (its tail read
  // `tail_before`) and did not fit: the roll, as an in-process crosser's.
  // `dead`: on behalf of a dead publisher's crossing claim (topic_dead_claims.cpp),
  // which a deleted topic still needs sealed while retire() waits for it.
  Status roll_for_remote(std::uint32_t slot, std::uint64_t tail_before, bool dead = false) noexcept;
  // Reading a memory-only topic from other processes (doc/ipc.md): the
  // segment holding `seq` as segment_for() finds it (pinned: the ring does
  // not reuse it while the caller holds it), when it is one another process
  // can map (its memory and index are memfds), else null.
  std::shared_ptr<Segment> shared_segment_for(std::uint64_t seq, std::uint64_t* lost) const;

  // A publisher in another process that dies mid-claim (doc/ipc.md;
  // engine/topic_dead_claims.cpp). open_pub_claims: a connection's claim
  // slots (engine/pub_claims.h), in a new memfd (*fd, for the caller to
  // pass and close), kept here with the peer's pid until that connection
  // ends. pub_claims_gone: its process is gone; ends every claim named in
  // `block` (committed records stay, the rest become skip records; a claim
  // that crossed the segment's end gets its roll) and forgets it. true: it
  // may also have left a claim it never named; unblock_dead_claims() then
  // skips what stays stuck past EngineOptions::unblock_timeout, until every
  // claim made before now is published or `give_up` says stop.
  Result<std::shared_ptr<PubClaimBlock>> open_pub_claims(int peer_pid, int* fd);
  bool pub_claims_gone(const PubClaimBlock* block) noexcept;
  void unblock_dead_claims(const std::function<bool()>& give_up) noexcept;

  Topic* handle() noexcept { return handle_; }
  // Work groups live as long as the topic; the list is guarded by groups_mutex().
  std::mutex& groups_mutex() noexcept { return groups_mu_; }
  std::vector<std::unique_ptr<class GroupCore>>& groups() noexcept { return groups_; }
  // Commits every work group's state (engine close); failures are said on stderr.
  void commit_groups();

 private:
  TopicCore(std::string name, TopicOptions options, std::unique_ptr<TopicStorage> storage, TopicShared* shared);
  Status start();
  // start()'s last step: committed positions past the recovered end.
  Status set_back_positions();
  Status start_empty();
  Status start_from(std::vector<RecoveredSegment> recovered);
  void rebuild_dedup_locked();  // mu_ held, before any publish
  Result<std::uint64_t> append(const Message& m, bool nowait) noexcept;
  // Whether `m` can be published (payload and envelope within their
  // limits); if so *length = its encoded size. unpublishable() says why
  // not (kTooLarge naming the field and its size); `which` starts its text.
  [[gnu::always_inline]] bool publishable(const Message& m, std::size_t* length) const noexcept;
  Status unpublishable(const Message& m, std::string_view which) const;
  // Claims room for every message of `ms` (checked; `bytes` their aligned
  // sizes, at most half a segment) with one fetch_add and writes them with
  // consecutive sequences; returns the first. Rolls when they do not fit.
  // N: 1 for publish() (its loops fold away), std::dynamic_extent for batches.
  // AllShort: the caller's checks found every message in the short form
  // (format::short_form), so the writes skip that test, which reads each
  // Message's envelope fields again.
  template <std::size_t N, bool AllShort = false>
  [[gnu::always_inline]] Result<std::uint64_t> claim_and_write(std::span<const Message, N> ms,
                                                               std::uint64_t bytes) noexcept;
  // The claim itself. Sole: with a plain load and store of the tail (this
  // thread is a single_producer topic's owner and nobody is stopping it).
  template <std::size_t N, bool Sole, bool AllShort>
  [[gnu::always_inline]] Result<std::uint64_t> claim_and_write_as(std::span<const Message, N> ms,
                                                                  std::uint64_t bytes) noexcept;
  // claim_and_write() on a single_producer topic: marks the claim (see
  // SoleProducer), claims, clears the mark.
  template <std::size_t N, bool AllShort>
  [[gnu::noinline]] Result<std::uint64_t> claim_sole(std::span<const Message, N> ms, std::uint64_t bytes) noexcept;
  Result<std::uint64_t> publish_once(const Message& m, bool nowait) noexcept;
  // single_producer: how this thread's claim goes. kForeign: another thread
  // published first (refused, nothing marked). Otherwise the claim is
  // marked in sole_.in_claim (cleared by the caller): kSole claims with a
  // plain store; kStopping with the locked add (close or delete is stopping
  // the producer).
  enum class SoleClaim { kSole, kStopping, kForeign };
  [[gnu::noinline]] SoleClaim enter_sole_claim() noexcept;
  // close() and retire(): after this returns true, the single producer
  // claims with the locked add (or not at all) and no claim of its is half
  // done. false: `give_up` (asked while waiting for a claim in progress)
  // said to stop waiting; the producer is left claiming with the locked add
  // from its next claim on, and the tail must not be touched. True at once
  // for other topics. Call without mu_ (the producer may be rolling).
  bool stop_sole_producer(const std::function<bool()>& give_up);
  // claim()'s steps: the room taken (and rolled to) as a publish does, the
  // head written, the claim listed among the open ones.
  // sole: the single_producer thread, not stopped (plain tail store, the
  // sole slot).
  Result<Claim> claim_room(std::size_t payload_bytes, const Message& envelope, std::uint32_t length,
                           bool sole) noexcept;
  // A sole-slot claim that met a closer: ended as a skip record (by the
  // closer or here); the closer's status.
  Status settle_sole_claim(Segment* seg, std::byte* record, std::uint64_t seq, std::uint32_t length) noexcept;
  // Ends the open claim of `seq` at `record` in `seg` (its slot in claims_
  // is `slot`): committed with `word`, or (skip) written as a skip record
  // of `length` bytes. Not OK when close() or retire() took it back first
  // (it is a skip record then).
  Result<std::uint64_t> end_open_claim(Segment* seg, std::byte* record, std::uint64_t seq, std::uint32_t word,
                                       std::uint32_t slot, bool skip, bool nowait) noexcept;
  // close() and retire(), once no claim can start any more (the head's tail
  // is past its end): every open claim becomes a skip record, and its
  // owner's commit gets `why`. Readers waiting for it then move on.
  void take_back_claims(const Status& why) noexcept;
  // Called by a producer whose claim did not fit in `slot`'s segment.
  Status roll_past(AppendSlot* slot, std::uint64_t tail_before) noexcept;
  // roll_past()'s steps. close_crossed: the first claim to cross the end
  // of `seg` (its slot's tail read `tail_before`, an offset at most the
  // capacity) pads and seals it; needs no lock. retire() closes it so too.
  void close_crossed(Segment& seg, std::uint64_t tail_before) noexcept;
  // The head `slot` still takes claims (its tail has not crossed). mu_ held.
  bool head_open_locked(const AppendSlot& slot) const noexcept;
  // A memory-only ring is full: drops its oldest segment (kept as the
  // spare when nobody holds it) or waits for a holder to move, unlocking
  // `lk` meanwhile. Not OK: a bounded publish ran out of time.
  Status make_ring_room(std::unique_lock<std::mutex>& lk);
  // Starts the segment after the sealed head `seg` in the free slot `fresh`
  // and makes it the head; *settled = the segment whose pages can go (or unchanged).
  Status install_next_head_locked(AppendSlot* slot, AppendSlot* fresh, Segment* seg, std::shared_ptr<Segment>* settled);
  // Segment::make, with an index other processes can map when the topic has a claim block.
  Result<std::shared_ptr<Segment>> make_segment(std::unique_ptr<SegmentMemory> mem, std::uint64_t first_seq) const;
  // Dead publishers' claims (engine/topic_dead_claims.cpp). end_dead_claim:
  // one named claim of a process that is gone. skip_room: records
  // [i, i + count) of `seg`, from offset `at` to `end`: those committed keep
  // their place (their index entries set where missing), the rest become
  // skip records; returns how many did. A stall: the published watermark
  // stood at `p` from when the segment starting at `first` had its first
  // `n` records claimed, ending at offset `end` (stall_mark(), null when
  // that is not known); repair_stall(), unblock_timeout later, skips from
  // `p` to the next committed or named record, or to that mark: nothing
  // claimed after the stall began. stop_claims_wait: stop_claims()'s wait
  // for `end`, which also ends the claims of processes that died after the
  // control socket closed.
  struct Stall {
    std::uint64_t p = 0;
    std::uint64_t first = 0;
    std::uint64_t n = 0;
    std::size_t end = 0;
  };
  // `taken_back`: a held claim the topic's close or deletion took back
  // (take_back_held_claims), ended while deleted() too, and not warned of.
  void end_dead_claim(const PubClaim& c, bool taken_back = false) noexcept;
  // Close and delete: every claim an attached process holds open
  // (AttachedClaim, engine/pub_claims.h's kPubHeld) becomes a skip record,
  // its slot marked `as` (kPubClosedBack or kPubDeletedBack) so that its
  // commit fails as an in-process one's does. Called again while waiting
  // for the claims' end: a claim named after the first call is taken then.
  void take_back_held_claims(std::uint32_t as) noexcept;
  // What attached holders abandoned, as their slots count it (TopicStats::skipped).
  std::uint64_t pub_abandoned() const noexcept;
  std::uint64_t skip_room(Segment& seg, std::uint64_t i, std::size_t at, std::uint64_t count, std::size_t end) noexcept;
  std::optional<Stall> stall_mark(std::uint64_t p) const noexcept;
  void repair_stall(const Stall& m) noexcept;
  void stop_claims_wait(std::uint64_t end) noexcept;
  // Ends the claims that live publishers named after the owner revoked
  // them; true while one is still to be named (or was just ended).
  bool end_revoked_claims() noexcept;
  // Waits until published() reaches unblock_until_ (or `give_up`), calling
  // `now_and_then` when it stood still for unblock_timeout, then repairing.
  void wait_unblocked(std::uint64_t target, const std::function<bool()>& give_up,
                      const std::function<void()>& now_and_then) noexcept;
  // retire()'s refusal while subscribers or consumers are open. mu_ held.
  Status in_use_locked() const;
  // retire()'s step under the locks: refuses (closed, or open users), or
  // marks the topic deleted and pushes the head's tail past its end (*head:
  // that segment, sealed by us or by the producer that crossed first).
  Status mark_deleted(Segment** head);
  // A bounded publish found the ring full past its deadline: kBusy (no wait
  // allowed) or kTimedOut, naming the holder furthest behind. mu_ held.
  Status ring_full_locked(bool waited) const;
  bool droppable_locked(const Segment& oldest) const;
  // The hard cap may take the oldest segment (records below `end`) from every holder still holding it.
  bool cuttable_locked(std::uint64_t end) const;
  std::uint64_t advance_published_locked() const;  // scan_mu_ held
  std::uint64_t claimed_locked() const noexcept;
  // One past the last sequence claimed in `seg` (the head) when its slot's
  // tail read `tail`; waits for the crosser's seal if the tail crossed.
  std::uint64_t claims_end_of(const Segment& seg, std::uint64_t tail) const noexcept;
  AppendSlot* free_slot_locked();  // null: none free, and the claim block has no more
  // A slot for a new head: in the claim block (null when its kClaimSlots
  // are all in use), or on the heap. mu_ held.
  AppendSlot* new_slot_locked();
  void set_head_locked(AppendSlot* slot) noexcept;  // head_, and the claim block's head index
  // Shared indexes of segments nobody can claim in any more: their memfds closed. mu_ held.
  void close_done_index_fds_locked();
  // A segment for the roll: the spare one reused, else a new one.
  Result<std::shared_ptr<Segment>> next_segment_locked(std::uint64_t first_seq);
  void apply_retention_locked();
  // apply_retention_locked()'s report on stderr of what the hard cap took:
  // records [cut_from, cut_to), cut_lost of them not consumed yet, and by
  // open work group (open_lost).
  void report_cap_loss_locked(std::uint64_t cut_from, std::uint64_t cut_to, std::uint64_t cut_lost,
                              const std::map<std::string, std::uint64_t>& open_lost);
  std::uint64_t first_at_or_after_locked(std::int64_t time_ns) const;
  // settled_bytes() for a segment found under mu_.
  static std::size_t settled_bytes_of(const Segment& seg, std::uint64_t below);
  // The segment that starts at `first_seq`, or null; mu_ held.
  const std::shared_ptr<Segment>* find_segment_locked(std::uint64_t first_seq) const;

  std::string name_;
  TopicOptions options_;
  std::unique_ptr<TopicStorage> storage_;
  TopicShared* shared_;
  bool crc_;
  bool sync_;
  bool single_;                         // options_.single_producer, and membarrier(2) works here
  std::size_t ring_segments_;           // memory-only: segments kept; 0 = unbounded
  SharedParkingLot* remote_readers_;    // readers in other processes; null for memory-only and read-only topics
  Topic* handle_;                       // kept past this object (keep_forever), its core_ then null
  std::unique_ptr<DedupWindow> dedup_;  // set when options_.dedup is on; fixed after start
  // The claim block (persisted topics; null for memory-only ones, or when
  // it could not be made: then nobody else may publish). Fixed after the
  // constructor; its memfd stays open for attaching processes.
  int claim_fd_ = -1;
  ClaimBlock* claim_ = nullptr;  // after claim_fd_: its initializer sets claim_fd_
  PrivateLotWords local_lot_;    // the readers' lot words when there is no claim block
  Status read_only_;             // not OK: the log opened read-only (publish fails with it); fixed after start
  std::uint64_t claims_end_ = kNotSealed;  // set once by stop_claims(), under mu_
  std::uint64_t stop_tail_ = 0;            // the head's tail before stop_claims() pushed it; under mu_

  SoleProducer sole_;  // used when single_
  alignas(64) std::atomic<AppendSlot*> head_{nullptr};
  alignas(64) mutable std::atomic<std::uint64_t> published_{0};
  mutable std::atomic<std::uint64_t> published_bytes_{0};  // written under scan_mu_
  SharedParkingLot readers_;                               // readers waiting for records (words: claim_ or local_lot_)
  ParkingLot space_;                                       // producers waiting for ring space
  ParkingLot roll_;                                        // producers waiting for another producer's roll

  mutable std::mutex mu_;
  std::deque<std::shared_ptr<Segment>> segments_;        // guarded by mu_, oldest first
  std::vector<AppendSlot*> slots_;                       // guarded by mu_: in claim_, or in heap_slots_
  std::vector<std::unique_ptr<AppendSlot>> heap_slots_;  // guarded by mu_
  std::vector<RetentionHolder*> holders_;                // guarded by mu_
  // Interest retention: committed positions by key; guarded by mu_.
  std::map<std::string, std::uint64_t, std::less<>> interest_;
  std::map<std::string, std::uint64_t, std::less<>> rewound_;  // guarded by mu_; see take_rewound()
  std::uint64_t recovered_end_ = 0;                            // written by start(), before the topic is shared
  std::uint64_t cap_deletions_ = 0;                            // guarded by mu_
  std::uint64_t cap_lost_records_ = 0;                         // guarded by mu_
  std::uint64_t retention_deletions_ = 0;                      // guarded by mu_
  std::atomic<bool> deleted_{false};                           // set once, by retire(), under mu_
  struct User {
    HandleLife* life;
    const RetentionHolder* reader;  // the subscriber; null for a consumer
  };
  std::vector<User> users_;                               // guarded by mu_: open subscribers and consumers
  std::vector<const RetentionHolder*> attached_;          // guarded by mu_: list_attached()
  std::mutex commit_mu_;                                  // taken after groups_mu_, before mu_
  std::shared_ptr<Segment> spare_;                        // guarded by mu_: dropped from the ring, to reuse
  std::mutex groups_mu_;                                  // taken before mu_ when both are held
  std::vector<std::unique_ptr<class GroupCore>> groups_;  // guarded by groups_mu_

  // Claims (Topic::claim) not committed or abandoned yet, for close() and
  // retire() to take back (engine/claim_table.h).
  ClaimTable claims_;
  Status claims_refused_;                  // guarded by claims_.lock(): set once by take_back_claims()
  std::atomic<std::uint64_t> skipped_{0};  // claims turned into skip records (TopicStats::skipped)
  // A dead publisher's claim may be ended while a deleted topic's retire()
  // waits for it: end_dead_claim() counts itself in `dead_endings_` and
  // goes no further once `segments_dropped_` is set; retire() sets it and
  // waits for the count to reach zero before it drops the segments. Both
  // seq_cst: each sees the other's store, or the other sees its own.
  std::atomic<int> dead_endings_{0};
  std::atomic<bool> segments_dropped_{false};

  // Attached publishers' claim slots, by connection, with the peer's pid
  // (open_pub_claims). unblock_until_: while published() is below it an
  // unnamed claim of a dead publisher may hold readers up (a threshold:
  // relaxed loads and a compare-and-swap raise; it orders nothing).
  struct PubClaims {
    std::shared_ptr<PubClaimBlock> block;
    int pid;
  };
  mutable std::mutex pub_mu_;          // never held with another lock
  std::vector<PubClaims> pub_claims_;  // guarded by pub_mu_
  std::atomic<std::uint64_t> unblock_until_{0};

  mutable std::mutex scan_mu_;                 // taken after mu_ when both are held
  mutable std::shared_ptr<Segment> scan_seg_;  // guarded by scan_mu_
  mutable std::size_t scan_off_ = 0;           // guarded by scan_mu_
};

}  // namespace conduit::detail
