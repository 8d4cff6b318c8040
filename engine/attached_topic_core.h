// AttachedTopicCore: an AttachedTopic's workings (engine/attached_topic.cpp:
// publishing; engine/attached_claim.cpp: AttachedClaim), publishing from an
// attached process straight into the topic's mapped log (doc/ipc.md,
// "Publishing from any process").
//
// Thread safety: as AttachedTopic's (conduit/attach.h); each member says
// what guards it.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "conduit/attach.h"
#include "engine/ipc_connection.h"
#include "engine/pub_claims.h"
#include "engine/shm_segment.h"
#include "engine/topic_core.h"
#include "persistence/data_dir.h"
#include "persistence/segment_file.h"

namespace conduit::detail {

// A test hook (tests/ipc_dead_publisher_test.cpp): CONDUIT_TEST_PUB_STOP
// names a point of a claim where the publishing process stops itself
// (SIGSTOP) for the test to kill it there. Read once per topic handle.
// "crosser_late" (tests/ipc_roll_order_test.cpp) stops nothing: the claim
// that crossed the head's end waits, before its roll request, until
// another thread of its process is in one (at most 1 s). "ending": an
// AttachedClaim's commit, once it won its end and sealed the CRC, before
// its length word.
enum class StopAt { kNone, kUnnamed, kNamed, kCrossed, kUnindexed, kCrosserLate, kEnding };
StopAt stop_at_from_env();

// Shared by its AttachedTopic and the AttachedClaims it made (which may
// outlive the topic handle: detach()).
class AttachedTopicCore : public std::enable_shared_from_this<AttachedTopicCore> {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  // Called with `conn_mu` held (AttachedEngine::topic).
  static Result<std::unique_ptr<AttachedTopicCore>> open(const std::string& dir, const std::string& name,
                                                         std::mutex& conn_mu, IpcConnection& conn);
  ~AttachedTopicCore() {
    ::munmap(block_, block_bytes_);
    if (pub_ != nullptr) ::munmap(pub_, pub_bytes_);
  }
  // `until`: how long a roll that meets a full ring may wait for room
  // (max(): as long as it takes; min(): not at all, kBusy; else kTimedOut
  // then). `durable`: a kSync publish waits for its record's sync.
  Result<std::uint64_t> publish(const Message& m, Deadline until = Deadline::max(), bool durable = true) noexcept;
  PublishBatchResult publish_batch(std::span<const Message> ms, std::span<std::uint64_t> seqs) noexcept;
  // Topic::await_durable from this process: kPubDurable, bounded by
  // `until` unless max(). kUnsupported on a memory-only topic.
  Status await_durable(std::uint64_t seq, Deadline until = Deadline::max());
  // AttachedTopic::claim (engine/attached_claim.cpp).
  Result<AttachedClaim> claim(std::size_t payload_bytes, const Message& envelope) noexcept;
  // AttachedClaim's commit (`commit`; `nowait`: without the kSync wait) or abandon.
  static Result<std::uint64_t> end_claim(AttachedClaim& c, bool commit, bool nowait) noexcept;
  // The AttachedTopic goes (its AttachedEngine is being destroyed): claims
  // still open end without touching the log (the owner ends them when the
  // connection closes) and without the connection.
  void detach() noexcept {
    // Release pairs with the acquires in claim() and end_claim().
    detached_.store(true, std::memory_order_release);
  }

 private:
  // One segment this process writes into: the file and its shared index,
  // or (memory-only) both memfds.
  struct Mapped {
    std::unique_ptr<persistence::SegmentFile> file;
    std::shared_ptr<ShmSegment> shm;
    std::string name;  // for errors: the file's path, or the memory segment's first sequence
    std::byte* base = nullptr;
    std::size_t capacity = 0;
    std::byte* index_map = nullptr;
    std::size_t index_bytes = 0;
    // How far this process's mapping of the file is populated (populate_for).
    std::atomic<std::size_t> populated{0};
    ~Mapped() {
      if (index_map != nullptr && !shm) ::munmap(index_map, index_bytes);
    }
  };
  AttachedTopicCore(std::string name, std::string topic_dir, std::mutex& conn_mu, IpcConnection& conn)
      : name_(std::move(name)), topic_dir_(std::move(topic_dir)), conn_mu_(conn_mu), conn_(conn) {}
  // A request to the owner: `fds` get the descriptors its reply carries
  // (-1 for each that did not come; the caller closes them). Not OK: the connection's error or the owner's refusal;
  // else the whole reply (its OK status first).
  Result<std::string> call(const ipc::Writer& request, std::span<int> fds = {});
  // call() with the connection's lock taken already (`lk`).
  Result<std::string> call_locked(const ipc::Writer& request, std::span<int> fds);
  Result<std::shared_ptr<Mapped>> segment(std::uint64_t first);
  // Claims room for `ms` (checked; `bytes` their aligned sizes, at most
  // half a segment) with one add and writes them; returns the first's
  // sequence. Asks the owner to roll when they do not fit (waiting for
  // ring room until `until`, as publish()).
  Result<std::uint64_t> claim_and_write(std::span<const Message> ms, std::uint64_t bytes,
                                        Deadline until = Deadline::max()) noexcept;
  // claim_and_write()'s claim: `records` records in `bytes`, their room in
  // one segment (rolling as needed), named in claim slot `k` as `named`
  // (kPubClaimed, or kPubHeld for an AttachedClaim). The slot stays taken
  // until free_slot(k). Not OK: nothing is claimed, the slot is free (or,
  // for a claim the owner revoked, the owner's).
  struct Room {
    std::size_t k = 0;
    std::uint64_t first = 0;  // its segment's first sequence
    std::uint64_t t = 0;      // the tail its add read
  };
  Result<Room> take_room(std::uint64_t records, std::uint64_t bytes, Deadline until, std::uint32_t named) noexcept;
  // The claim in slot `k` is written (or skipped): the slot is free again.
  void free_slot(std::size_t k) noexcept;
  // The segment of the room at tail `t` (from `first`) of `records` in
  // `bytes`, mapped, its index long enough, zeroed past the room (asking
  // the owner when not yet) and populated ahead.
  Result<std::shared_ptr<Mapped>> room_of(std::uint64_t first, std::uint64_t t, std::uint64_t bytes,
                                          std::size_t records);
  // Asks the owner to roll past the claim at tail `t` of append slot `h`
  // (kPubRoll), with `until` as its wait when bounded. `k`: the claim's
  // slot in pub_; `first`: its segment's first sequence.
  Status roll(std::size_t k, std::uint32_t h, std::uint64_t first, std::uint64_t t, Deadline until);
  // For a claim past the head's end that did not cross it (slot `k`, the
  // segment from `first`): waits, without the connection, while the claim
  // that crossed that end is one of this process's and has not finished
  // its roll. The owner holds a roll request past an unsealed end until
  // the seal, which that crosser asks for over the same connection: had
  // this thread sent its roll first, neither would go on. False: `until`
  // passed first.
  bool await_own_crosser(std::size_t k, std::uint64_t first, Deadline until) noexcept;
  // The test hook kCrosserLate: lets another thread's roll go first.
  void crosser_late() const noexcept;
  // The connection's lock for a bounded roll whose claim did not cross the
  // head's end (its crosser here, if any, rolled already): another thread of this
  // process may hold the connection in a roll that waits for ring room,
  // which this one must not wait for past `until`. kLocked: `lk` holds it;
  // kMoved: the head is not `h` any more (claim again, nothing to roll).
  enum class RollLock { kLocked, kMoved, kGaveUp };
  RollLock lock_for_bounded_roll(std::unique_lock<std::mutex>& lk, std::uint32_t h, Deadline until);
  Status write(std::span<const Message> ms, std::uint64_t t, std::uint64_t bytes, std::int64_t now,
               std::uint64_t first);
  // Whether `m` can be published; if so *length = its encoded size.
  bool publishable(const Message& m, std::size_t* length) const noexcept;
  Status unpublishable(const Message& m) const;
  // The owner's persistence thread maps the head segment's pages ahead of
  // its producers (FileTopicStorage::populate_ahead), but only in the
  // owner's page tables: left alone, this process would take a page fault
  // on every page it first writes (one publish in 64 for 64-byte records,
  // bench/results/2026-12-07-ipc-ping-pong.md). So the publisher whose
  // claim ends within kPopulateAhead / 2 of the populated mark maps the
  // next kPopulateAhead of this process's mapping (MADV_POPULATE_WRITE):
  // one call per 256 KiB written. Only below the segment's zeroed mark,
  // and not on kSync topics (whose files are zeroed ahead by the owner,
  // and written whole by the syscall fallback's syncs: populated pages
  // would be dirty zeros there).
  void populate_for(Mapped& s, std::uint64_t end) const noexcept;
  static constexpr std::size_t kPopulateAhead = 512u << 10;
  // Ends the claim in slot `pc` when the owner revoked it (pub_claims.h):
  // names it for the owner to skip, or asks for its roll; kTimedOut.
  Status revoked(PubClaim& pc, std::size_t k, std::uint32_t h, std::uint64_t first, std::uint64_t t,
                 std::uint64_t bytes, Deadline until);

  std::string name_;
  std::string topic_dir_;
  std::mutex& conn_mu_;
  IpcConnection& conn_;
  ipc::PubTopicInfo info_;
  bool memory_ = false;         // a memory-only topic: segments are memfds, no files
  bool bounded_rolls_ = false;  // the owner honours kPubRoll's wait (ipc::kPubBoundedRolls)
  bool bounded_durable_ = false;  // and kPubDurable's (ipc::kPubBoundedDurable)
  bool held_claims_ = false;      // and ends held claims (ipc::kPubHeldClaims)
  std::atomic<bool> detached_{false};  // detach()
  ClaimBlock* block_ = nullptr;
  std::size_t block_bytes_ = 0;
  std::unique_ptr<SharedParkingLot> readers_;          // the owner's readers (the claim block's words)
  std::unique_ptr<persistence::ControlFile> control_;  // LogReaders' lot; null for memory-only topics
  PubClaimBlock* pub_ = nullptr;                       // this connection's claim slots (pub_claims.h)
  std::size_t pub_bytes_ = 0;
  PubClaimSlots pub_slots_;
  // Roll requests of this process's threads on the connection now (roll()).
  std::atomic<std::uint32_t> rolling_{0};
  StopAt stop_at_ = stop_at_from_env();
  std::mutex seg_mu_;
  std::map<std::uint64_t, std::shared_ptr<Mapped>> segs_;  // guarded by seg_mu_; by first sequence
  ShmSegmentCache shm_maps_{true};                         // guarded by seg_mu_
};

}  // namespace conduit::detail
