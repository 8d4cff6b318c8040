// AttachedTopic (conduit/attach.h): publishing from an attached process
// straight into the topic's mapped log (doc/ipc.md, "Publishing from any
// process"). The claim block and each segment's index are memfds the owner
// passed over the control socket; the segment files are mapped here.
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <span>
#include <thread>

#include "common/disk_names.h"
#include "common/format.h"
#include "conduit/attach.h"
#include "engine/attached_topic_core.h"
#include "engine/envelope.h"
#include "engine/topic_core_internal.h"
#include "engine/wall_clock.h"

namespace conduit {
namespace detail {
namespace {

// Maps a memfd passed by the owner (and closes it: the mapping keeps the
// memory); at least `least` bytes, else kCorruption naming `what`.
Result<std::pair<std::byte*, std::size_t>> map_passed(int fd, std::size_t least, const std::string& what) {
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < least) {
    if (fd >= 0) ::close(fd);
    return Status::Corruption(what + ": the owner passed no descriptor, or a short one");
  }
  const auto bytes = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return Status::IOError("mmap " + what + ": " + std::strerror(errno));
  return std::make_pair(static_cast<std::byte*>(p), bytes);
}

}  // namespace

StopAt stop_at_from_env() {
  const char* e = std::getenv("CONDUIT_TEST_PUB_STOP");
  if (e == nullptr) return StopAt::kNone;
  const std::string_view v(e);
  if (v == "unnamed") return StopAt::kUnnamed;
  if (v == "named") return StopAt::kNamed;
  if (v == "crossed") return StopAt::kCrossed;
  if (v == "unindexed") return StopAt::kUnindexed;
  if (v == "crosser_late") return StopAt::kCrosserLate;
  if (v == "ending") return StopAt::kEnding;
  return StopAt::kNone;
}

std::size_t PubClaimSlots::try_take() noexcept {
  // Acquire pairs with the release in give().
  std::uint64_t held = held_.load(std::memory_order_acquire);
  while (held != ~std::uint64_t{0}) {
    const int i = __builtin_ctzll(~held);
    if (held_.compare_exchange_weak(held, held | (std::uint64_t{1} << i), std::memory_order_acquire,
                                    std::memory_order_acquire))
      return static_cast<std::size_t>(i);
  }
  return kPubClaimSlots;
}

std::size_t PubClaimSlots::take() noexcept {
  for (;;) {
    if (const std::size_t i = try_take(); i != kPubClaimSlots) return i;
    sched_yield();  // every slot held: as many threads of this process claiming at once
  }
}


Result<std::string> AttachedTopicCore::call(const ipc::Writer& request, std::span<int> fds) {
  std::unique_lock lk(conn_mu_, std::defer_lock);
  // open() runs with the lock held already (its caller's).
  if (block_ != nullptr) lk.lock();
  return call_locked(request, fds);
}

Result<std::string> AttachedTopicCore::call_locked(const ipc::Writer& request, std::span<int> fds) {
  for (int& fd : fds) fd = -1;
  auto reply = conn_.call_fds(request, fds);
  if (!reply.ok()) return reply.status();
  ipc::Reader r(*reply);
  if (Status s = r.status(); !s.ok()) {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
    return s;
  }
  return reply;
}

Result<std::unique_ptr<AttachedTopicCore>> AttachedTopicCore::open(const std::string& dir, const std::string& name,
                                                                   std::mutex& conn_mu, IpcConnection& conn) {
  std::unique_ptr<AttachedTopicCore> core(new AttachedTopicCore(name, disk::topic_dir(dir, name), conn_mu, conn));
  ipc::Writer req(ipc::Op::kPubOpen);
  req.str(name);
  int fd = -1;
  auto reply = core->call(req, std::span<int>(&fd, 1));
  if (!reply.ok()) return reply.status();
  ipc::Reader r(*reply);
  (void)r.status();
  core->info_ = r.get<ipc::PubTopicInfo>();
  core->memory_ = !r.at_end() && r.get<std::uint8_t>() != 0;
  const std::uint8_t flags = r.at_end() ? 0 : r.get<std::uint8_t>();
  core->bounded_rolls_ = (flags & ipc::kPubBoundedRolls) != 0;
  core->bounded_durable_ = (flags & ipc::kPubBoundedDurable) != 0;
  core->held_claims_ = (flags & ipc::kPubHeldClaims) != 0;
  ipc::Writer claims_req(ipc::Op::kPubClaims);
  claims_req.str(name);
  int claims_fd = -1;  // asked for before block_ is set: call() takes conn_mu_ from then on
  auto claims_reply = core->call(claims_req, std::span<int>(&claims_fd, 1));
  if (!claims_reply.ok()) {
    ::close(fd);
    return claims_reply.status();
  }
  auto claims = map_passed(claims_fd, sizeof(PubClaimBlock), "the claim slots of topic '" + name + "'");
  if (!claims.ok()) {
    ::close(fd);
    return claims.status();
  }
  core->pub_ = reinterpret_cast<PubClaimBlock*>(claims->first);
  core->pub_bytes_ = claims->second;
  if (core->pub_->magic != kPubClaimsMagic) {
    ::close(fd);
    return Status::Corruption("topic '" + name + "': the owner's claim slots are not ones this build knows");
  }
  auto block = map_passed(fd, sizeof(ClaimBlock), "the claim block of topic '" + name + "'");
  if (!block.ok()) return block.status();
  core->block_ = reinterpret_cast<ClaimBlock*>(block->first);
  core->block_bytes_ = block->second;
  if (!r.ok() || core->block_->magic != kClaimBlockMagic || core->block_->slots != kClaimSlots)
    return Status::Corruption("topic '" + name + "': the owner's claim block is not one this build knows");
  core->readers_ = std::make_unique<SharedParkingLot>(&core->block_->readers_epoch, &core->block_->readers_parked);
  if (core->memory_) return core;
  auto control = persistence::ControlFile::open_for_reader(core->topic_dir_);
  if (!control.ok()) return control.status();
  core->control_ = std::move(control).value();
  return core;
}

Result<std::shared_ptr<AttachedTopicCore::Mapped>> AttachedTopicCore::segment(std::uint64_t first) {
  std::lock_guard lk(seg_mu_);
  if (auto it = segs_.find(first); it != segs_.end()) return it->second;
  ipc::Writer req(ipc::Op::kPubSegment);
  req.str(name_).put(first);
  int fds[2] = {-1, -1};
  auto reply = call(req, fds);
  if (!reply.ok()) return reply.status();
  auto m = std::make_shared<Mapped>();
  if (memory_) {
    m->name = "topic '" + name_ + "': the memory segment from " + std::to_string(first);
    auto shm = shm_maps_.map(fds[0], fds[1], info_.segment_bytes, m->name);
    if (!shm.ok()) return shm.status();
    m->shm = std::move(shm).value();
    m->base = m->shm->base;
    m->capacity = m->shm->capacity;
    m->index_map = m->shm->index_map;
    m->index_bytes = m->shm->index_bytes;
  } else {
    if (fds[1] >= 0) ::close(fds[1]);
    const std::string path = disk::topic_file(topic_dir_, disk::segment_file_name(first));
    auto index = map_passed(fds[0], Segment::kIndexHeaderBytes, "the index of " + path);
    if (!index.ok()) return index.status();
    m->index_map = index->first;
    m->index_bytes = index->second;
    auto file = persistence::SegmentFile::open(path, true);
    if (!file.ok()) return file.status();
    if ((*file)->capacity() != info_.segment_bytes)
      return Status::Corruption(path + ": capacity " + std::to_string((*file)->capacity()) + ", the topic's is " +
                                std::to_string(info_.segment_bytes));
    m->file = std::move(file).value();
    m->name = path;
    m->base = m->file->base();
    m->capacity = m->file->capacity();
  }
  // Older segments take no more claims from here once this one is the
  // head; a claim still being written in one holds its shared_ptr.
  std::erase_if(segs_, [&](const auto& e) { return e.first < first; });
  segs_.emplace(first, m);
  return m;
}

Result<std::shared_ptr<AttachedTopicCore::Mapped>> AttachedTopicCore::room_of(std::uint64_t first, std::uint64_t t,
                                                                               std::uint64_t bytes,
                                                                               std::size_t records) {
  auto seg = segment(first);
  if (!seg.ok()) return seg.status();
  Mapped& s = **seg;
  const std::uint64_t off = t & kTailOffsetMask;
  const std::uint64_t idx = t >> kTailOffsetBits;
  const std::size_t cap = s.capacity;
  if ((idx + records) * sizeof(std::uint32_t) + Segment::kIndexHeaderBytes > s.index_bytes)
    return Status::Corruption(s.name + ": record " + std::to_string(idx) + " is past its index");
  // The claim and the length word after it are zeroed (Segment::ensure_zeroed);
  // the owner clears them when they are not yet. Acquire pairs with the
  // release in Segment::store_zeroed().
  const std::uint64_t end = std::min<std::uint64_t>(off + bytes + sizeof(std::uint32_t), cap);
  if (Segment::zeroed_mirror(s.index_map).load(std::memory_order_acquire) < end) {
    ipc::Writer req(ipc::Op::kPubZero);
    req.str(name_).put(first).put(end);
    if (auto r = call(req); !r.ok()) return r.status();
  }
  populate_for(s, end);
  return seg;
}

Status AttachedTopicCore::write(std::span<const Message> ms, std::uint64_t t, std::uint64_t bytes, std::int64_t now,
                                std::uint64_t first) {
  auto seg = room_of(first, t, bytes, ms.size());
  if (!seg.ok()) return seg.status();
  Mapped& s = **seg;
  const std::uint64_t off = t & kTailOffsetMask;
  const std::uint64_t idx = t >> kTailOffsetBits;
  auto* index = reinterpret_cast<std::atomic<std::uint32_t>*>(s.index_map + Segment::kIndexHeaderBytes);
  std::uint64_t at = off;
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const Message& m = ms[i];
    std::byte* dst = s.base + at;
    const std::uint32_t word =
        format::encode_record(dst, m, first + idx + i, m.timestamp_ns != 0 ? m.timestamp_ns : now, info_.crc != 0);
    // Over 0 only: a claim the owner took for a dead publisher's holds a
    // skip record (doc/ipc.md); the sequence and CRC this record wrote
    // over its own go back, and nothing more is written.
    std::uint32_t found = 0;
    if (!format::commit_length_if_empty(dst, word, &found)) [[unlikely]] {
      if (format::is_skip(found)) format::fill_skip(dst, first + idx + i, info_.crc != 0);
      return Status::TimedOut(topic_error(name_, "the owner skipped this claim (stalled past unblock_timeout)"));
    }
    if (i == 0 && stop_at_ == StopAt::kUnindexed) [[unlikely]]
      ::raise(SIGSTOP);
    // Release pairs with the acquire in Segment::offset_of() (in the owner).
    index[idx + i].store(static_cast<std::uint32_t>(at), std::memory_order_release);
    at += format::align_up(word & format::kLengthMask);
  }
  readers_->wake_if_parked();
  if (control_) control_->readers_lot().wake_if_parked();
  return Status::OK();
}

void AttachedTopicCore::populate_for(Mapped& s, std::uint64_t end) const noexcept {
  // Relaxed, on `populated`: a hint shared by this process's publishers;
  // losing the race (or a stale read) only populates a range twice or
  // leaves a page to a fault, as before. One of them wins the exchange.
  std::size_t mark = s.populated.load(std::memory_order_relaxed);
  // A shared memory-only topic's segments (no file) are reused lap after
  // lap: their pages stay mapped after the first.
  if (info_.sync != 0 || s.file == nullptr || end + kPopulateAhead / 2 <= mark) return;
  // Acquire pairs with the release in Segment::store_zeroed() (as in write()).
  const std::size_t cap =
      std::min<std::size_t>(s.file->capacity(), Segment::zeroed_mirror(s.index_map).load(std::memory_order_acquire));
  if (mark >= cap) return;
  const std::size_t page = 4096;
  const std::size_t from = std::max<std::size_t>(mark, end & ~(page - 1));
  const std::size_t to = std::min<std::size_t>(cap, (end + kPopulateAhead + page - 1) & ~(page - 1));
  if (s.populated.compare_exchange_strong(mark, to, std::memory_order_relaxed)) s.file->populate_range(from, to);
}

Status AttachedTopicCore::unpublishable(const Message& m) const {
  return unpublishable_message(name_, m, info_.max_payload_bytes, "");
}

bool AttachedTopicCore::publishable(const Message& m, std::size_t* length) const noexcept {
  return publishable_message(m, info_.max_payload_bytes, length);
}

Status AttachedTopicCore::await_durable(std::uint64_t seq, Deadline until) {
  if (memory_) return Status::Unsupported(topic_error(name_, "a memory-only topic has no durable watermark"));
  if (until != Deadline::max() && !bounded_durable_)
    return Status::Unsupported(
        topic_error(name_, "the owner's build has no bounded durability wait (it would wait as long as it takes)"));
  ipc::Writer req(ipc::Op::kPubDurable);
  req.str(name_).put(seq);
  if (until != Deadline::max()) {
    // What is left of the wait, from now (as roll()'s).
    const auto left = std::max<std::chrono::nanoseconds>(until - std::chrono::steady_clock::now(), {});
    req.put(static_cast<std::int64_t>(left.count()));
  }
  auto r = call(req);
  return r.ok() ? Status::OK() : r.status();
}

Status AttachedTopicCore::roll(std::size_t k, std::uint32_t h, std::uint64_t first, std::uint64_t t, Deadline until) {
  std::unique_lock lk(conn_mu_, std::defer_lock);
  const bool crosser = (t & kTailOffsetMask) <= info_.segment_bytes;
  if (!crosser) {
    if (!await_own_crosser(k, first, until)) {
      const std::string why = "another publish of this process crossed the head's end and has not rolled yet";
      if (until == Deadline::min()) return Status::Busy(topic_error(name_, "ring full, or being rolled: " + why));
      return Status::TimedOut(topic_error(name_, "ring still full after the timeout: " + why));
    }
    // Acquire pairs with the owner's release store of the head index
    // (TopicCore::set_head_locked); relaxed, the slot's first sequence:
    // stored before it. Rolled already (most often by that crosser): claim
    // again, nothing to ask.
    if (block_->head.load(std::memory_order_acquire) != h ||
        block_->slot[h].first_seq.load(std::memory_order_relaxed) != first)
      return Status::OK();
  }
  // The crosser's roll seals the head: it must go (nobody waits for ring
  // room on a head not sealed yet). A claim past a sealed head does not
  // queue past its bound behind another thread's roll.
  if (until == Deadline::max() || crosser) {
    lk.lock();
  } else {
    switch (lock_for_bounded_roll(lk, h, until)) {
      case RollLock::kLocked: break;
      case RollLock::kMoved: return Status::OK();
      case RollLock::kGaveUp: {
        const std::string why = "another publish of this process holds the owner's connection in its roll request";
        if (until == Deadline::min()) return Status::Busy(topic_error(name_, "ring full, or being rolled: " + why));
        return Status::TimedOut(topic_error(name_, "ring still full after the timeout: " + why));
      }
    }
  }
  ipc::Writer req(ipc::Op::kPubRoll);
  req.str(name_).put(h).put(t);
  if (until == Deadline::min()) {
    req.put(std::int64_t{-1});
  } else if (until != Deadline::max()) {
    // What is left of the wait, from now: the owner counts it from when the
    // request comes (both ends read the same monotonic clock; a late
    // request only shortens it).
    const auto left = std::max<std::chrono::nanoseconds>(until - std::chrono::steady_clock::now(), {});
    req.put(static_cast<std::int64_t>(left.count()));
  }
  // Relaxed, both, pairing with nothing: lock_for_bounded_roll() reads the
  // count as a hint only (a stale one makes it look once more, or give up
  // a bound that had run out anyway); the lock orders the request itself.
  rolling_.fetch_add(1, std::memory_order_relaxed);
  auto r = call_locked(req, {});
  rolling_.fetch_sub(1, std::memory_order_relaxed);
  return r.ok() ? Status::OK() : r.status();
}

bool AttachedTopicCore::await_own_crosser(std::size_t k, std::uint64_t first, Deadline until) noexcept {
  // This claim's add came after the crosser's (its tail was past the end).
  // If that crosser is a thread of this process, its slot was marked
  // kPubClaiming (seq_cst) before its add, and this thread's add read that
  // add's value (or a later one of the same segment): the mark happens
  // before the loads below, which see it or a later state of that slot.
  for (std::size_t i = 0; i < kPubClaimSlots; ++i) {
    if (i == k) continue;
    const PubClaim& c = pub_->slot[i];
    for (unsigned round = 0;; ++round) {
      // Acquire pairs with the claimer's release compare-and-swap to
      // kPubClaimed or kPubHeld (its tail, add and first_seq are the
      // claim's) and its seq_cst mark.
      const std::uint32_t state = c.state.load(std::memory_order_acquire);
      bool waits = state == kPubRevoked;  // the owner revoked it unnamed: a crosser may still roll
      // A held claim (AttachedClaim) that crossed is in its roll too: it is
      // named kPubHeld from its claim on.
      if (state == kPubClaimed || state == kPubHeld) {
        // Relaxed: ordered by the acquire above.
        const std::uint64_t ct = c.tail.load(std::memory_order_relaxed) & kTailOffsetMask;
        const std::uint64_t bytes = c.add.load(std::memory_order_relaxed) & kTailOffsetMask;
        waits = c.first_seq.load(std::memory_order_relaxed) == first && ct <= info_.segment_bytes &&
                ct + bytes > info_.segment_bytes;
      } else if (state == kPubClaiming) {
        // Between its mark and its name (a few instructions): look again.
        sched_yield();
        continue;
      }
      if (!waits) break;
      if (std::chrono::steady_clock::now() >= until) return false;
      // Its roll is a round trip, or more (a new segment file, ring room).
      if (round < 64)
        sched_yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  return true;
}

void AttachedTopicCore::crosser_late() const noexcept {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  // Relaxed: a hint, as in lock_for_bounded_roll().
  while (rolling_.load(std::memory_order_relaxed) == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
}

AttachedTopicCore::RollLock AttachedTopicCore::lock_for_bounded_roll(std::unique_lock<std::mutex>& lk, std::uint32_t h,
                                                                     Deadline until) {
  for (;;) {
    if (lk.try_lock()) return RollLock::kLocked;
    // Acquire pairs with the owner's release store of the head index
    // (TopicCore::set_head_locked): someone rolled, claim on the new head.
    if (block_->head.load(std::memory_order_acquire) != h) return RollLock::kMoved;
    // Relaxed, pairing with nothing (see roll()). With no roll in flight a
    // short call holds the connection, and is waited for; a roll may wait
    // for ring room. Rare (two rolls at once): a sleep rather than a spin.
    if (rolling_.load(std::memory_order_relaxed) != 0 && std::chrono::steady_clock::now() >= until)
      return RollLock::kGaveUp;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

Status AttachedTopicCore::revoked(PubClaim& pc, std::size_t k, std::uint32_t h, std::uint64_t first, std::uint64_t t,
                                  std::uint64_t bytes, Deadline until) {
  const Status timed_out = Status::TimedOut(
      topic_error(name_, "this publish stalled past the owner's unblock_timeout between its claim and naming it"));
  if ((t & kTailOffsetMask) + bytes > info_.segment_bytes) {
    // Not in the segment: nothing to skip. The crosser's roll (padding and
    // seal) is still ours to ask for; a claim wholly past the end asks for
    // none (the crosser rolls, or the next claim if its roll failed), so
    // no revoked claim waits in await_own_crosser().
    if ((t & kTailOffsetMask) <= info_.segment_bytes)
      if (Status s = roll(k, h, first, t, until); !s.ok()) return s;
    // Relaxed: the owner reads nothing more of this slot.
    pc.state.store(kPubFree, std::memory_order_relaxed);
    return timed_out;
  }
  // Named now, for the owner to skip (pub_claims.h); the slot stays its.
  // Release pairs with the owner's acquire (TopicCore::end_revoked_claims).
  pc.state.store(kPubRevokedNamed, std::memory_order_release);
  return timed_out;
}

void AttachedTopicCore::free_slot(std::size_t k) noexcept {
  // Release pairs with the owner's acquire of the state: the records and
  // their index entries come before.
  pub_->slot[k].state.store(kPubFree, std::memory_order_release);
  pub_slots_.give(k);
}

Result<AttachedTopicCore::Room> AttachedTopicCore::take_room(std::uint64_t records, std::uint64_t bytes,
                                                             Deadline until, std::uint32_t named) noexcept {
  const std::uint64_t add = kTailOneRecord * records + bytes;
  // A claim slot for this claim, named to the owner (pub_claims.h): if this
  // process dies before the claim is written, the owner ends it. A held
  // claim does not wait for one (kBusy, as too many open in-process claims).
  const std::size_t k = named == kPubHeld ? pub_slots_.try_take() : pub_slots_.take();
  if (k == kPubClaimSlots)
    return Status::Busy(topic_error(name_, "claim: " + std::to_string(kPubClaimSlots) +
                                               " claims of this process are open already (commit or abandon some)"));
  PubClaim& pc = pub_->slot[k];
  bool keep_slot = false;  // a revoked claim's slot stays the owner's
  bool taken = false;      // the room is the caller's, and so is the slot
  struct Give {
    AttachedTopicCore& core;
    std::size_t k;
    const bool& keep;
    const bool& taken;
    ~Give() {
      if (!keep && !taken) core.free_slot(k);
    }
  } give{*this, k, keep_slot, taken};
  for (;;) {
    // Acquire pairs with the owner's release store of the head index
    // (TopicCore::set_head_locked).
    const std::uint32_t h = block_->head.load(std::memory_order_acquire);
    if (h >= kClaimSlots) return Status::Corruption(topic_error(name_, "the claim block names no head slot"));
    AppendSlot& slot = block_->slot[h];
    // Relaxed: read by the owner only after this process died, or after
    // the release below.
    pc.head.store(h, std::memory_order_relaxed);
    pc.add.store(add, std::memory_order_relaxed);
    // Seq_cst, the mark and the add: see pub_claims.h (the owner's snapshot
    // of the tail and its revoking compare-and-swap).
    pc.state.store(kPubClaiming, std::memory_order_seq_cst);
    // The claim, as in-process (TopicCore::claim_and_write_as). Its acquire
    // half pairs with the owner's release reset of the tail: first_seq
    // below is the segment's this claim belongs to.
    const std::uint64_t t = slot.tail.fetch_add(add, std::memory_order_seq_cst);
    if (stop_at_ == StopAt::kUnnamed) [[unlikely]]
      ::raise(SIGSTOP);
    // Relaxed: ordered by the acquire above.
    const std::uint64_t first = slot.first_seq.load(std::memory_order_relaxed);
    // Relaxed: published by the release below.
    pc.tail.store(t, std::memory_order_relaxed);
    pc.first_seq.store(first, std::memory_order_relaxed);
    std::uint32_t expected = kPubClaiming;
    // Release pairs with the owner's acquire of the state. Fails only when
    // the owner revoked the claim (this thread stalled here past
    // unblock_timeout after a publisher died).
    if (!pc.state.compare_exchange_strong(expected, named, std::memory_order_release, std::memory_order_relaxed))
        [[unlikely]] {
      keep_slot = (t & kTailOffsetMask) + bytes <= info_.segment_bytes;
      return revoked(pc, k, h, first, t, bytes, until);
    }
    if ((t & kTailOffsetMask) + bytes <= info_.segment_bytes) {
      if (stop_at_ == StopAt::kNamed) [[unlikely]]
        ::raise(SIGSTOP);
      taken = true;
      return Room{k, first, t};
    }
    if (stop_at_ == StopAt::kCrossed) [[unlikely]]
      ::raise(SIGSTOP);
    if (stop_at_ == StopAt::kCrosserLate && (t & kTailOffsetMask) <= info_.segment_bytes) [[unlikely]]
      crosser_late();
    // Did not fit: the owner rolls (and, for the crosser, pads and seals).
    // A roll that fails (a bounded one meeting a full ring, the owner gone)
    // leaves nothing of this claim: past the end it took no sequence, and
    // the crosser's seal is done. The slot is freed on the way out.
    if (Status s = roll(k, h, first, t, until); !s.ok()) return s;
    // Rolled: nothing of this claim is left open. Relaxed: the next mark
    // (seq_cst) orders it.
    pc.state.store(kPubFree, std::memory_order_relaxed);
  }
}

Result<std::uint64_t> AttachedTopicCore::claim_and_write(std::span<const Message> ms, std::uint64_t bytes,
                                                         Deadline until) noexcept {
  // One clock read for the claim: its records are published together.
  const std::int64_t now = wall_clock_ns();
  auto room = take_room(ms.size(), bytes, until, kPubClaimed);
  if (!room.ok()) return room.status();
  // A claim not written stays named, its slot kept: the owner ends it when
  // this connection closes.
  try {
    if (Status s = write(ms, room->t, bytes, now, room->first); !s.ok()) return s;
  } catch (const std::bad_alloc&) {
    return Status::IOError(topic_error(name_, "out of memory for a segment's mapping"));
  }
  free_slot(room->k);
  return room->first + (room->t >> kTailOffsetBits);
}

Result<std::uint64_t> AttachedTopicCore::publish(const Message& m, Deadline until, bool durable) noexcept {
  std::size_t length = 0;
  if (!publishable(m, &length)) [[unlikely]]
    return unpublishable(m);
  // Only a memory-only topic's roll waits for ring room; an older owner
  // would wait as long as it takes whatever the request said.
  if (until != Deadline::max() && memory_ && !bounded_rolls_) [[unlikely]]
    return Status::Unsupported(
        topic_error(name_, "the owner's build has no bounded attached publish (it would wait for ring room)"));
  auto seq = claim_and_write(std::span<const Message>(&m, 1), format::align_up(length), until);
  if (seq.ok() && info_.sync != 0 && durable)
    if (Status s = await_durable(*seq); !s.ok()) return s;
  return seq;
}

PublishBatchResult AttachedTopicCore::publish_batch(std::span<const Message> ms,
                                                    std::span<std::uint64_t> seqs) noexcept {
  PublishBatchResult r;
  if (r.status = batch_seqs_fit(name_, ms.size(), seqs.size()); !r.status.ok()) return r;
  std::uint64_t total = 0;
  if (r.status = check_batch_messages(name_, ms, info_.max_payload_bytes, &total); !r.status.ok()) return r;
  // Claims of at most half a segment, as in-process (TopicCore::publish_batch).
  const std::uint64_t most = (info_.segment_bytes - format::kSegmentHeaderSize) / 2;
  const std::uint64_t last = claim_in_chunks(
      ms, seqs, most, total, r,
      [this](std::span<const Message> part, std::uint64_t bytes) { return claim_and_write(part, bytes); });
  if (r.status.ok() && r.published != 0 && info_.sync != 0) r.status = await_durable(last);
  return r;
}

}  // namespace detail

Result<AttachedTopic*> AttachedEngine::topic(std::string_view topic) {
  std::lock_guard lk(mu_);
  const std::string name(topic);
  if (auto it = topics_.find(name); it != topics_.end()) return it->second.get();
  auto core = detail::AttachedTopicCore::open(dir_, name, mu_, *conn_);
  if (!core.ok()) return core.status();
  auto t = std::unique_ptr<AttachedTopic>(new AttachedTopic(name, std::move(core).value()));
  AttachedTopic* handle = t.get();
  topics_.emplace(name, std::move(t));
  return handle;
}

AttachedTopic::AttachedTopic(std::string name, std::unique_ptr<detail::AttachedTopicCore> core)
    : name_(std::move(name)), core_(std::move(core)) {}
AttachedTopic::~AttachedTopic() { core_->detach(); }

Result<std::uint64_t> AttachedTopic::publish(const Message& message) noexcept { return core_->publish(message); }
Result<std::uint64_t> AttachedTopic::try_publish(const Message& message) noexcept {
  return core_->publish(message, detail::AttachedTopicCore::Deadline::min(), /*durable=*/false);
}
Result<std::uint64_t> AttachedTopic::publish(const Message& message, std::chrono::nanoseconds timeout) noexcept {
  return core_->publish(message, detail::deadline_after(timeout));
}
PublishBatchResult AttachedTopic::publish_batch(std::span<const Message> messages,
                                                std::span<std::uint64_t> seqs) noexcept {
  return core_->publish_batch(messages, seqs);
}
Result<std::uint64_t> AttachedTopic::publish_nowait(const Message& message) noexcept {
  return core_->publish(message, detail::AttachedTopicCore::Deadline::max(), /*durable=*/false);
}
Status AttachedTopic::await_durable(std::uint64_t seq, std::chrono::nanoseconds timeout) noexcept {
  return core_->await_durable(seq, detail::deadline_after(timeout));
}
Result<std::uint64_t> AttachedTopic::publish(std::string_view payload) noexcept {
  Message m;
  m.payload = payload;
  return core_->publish(m);
}

}  // namespace conduit
