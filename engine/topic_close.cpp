// The end of a topic: delete (retire) and the close that stops its claims.
#include <sched.h>

#include "engine/topic_core.h"
#include "engine/topic_core_internal.h"
#include "common/format.h"

namespace conduit::detail {

Status TopicCore::retire() {
  // A log opened read-only is left exactly as it is, deletion included.
  if (!read_only_.ok()) return read_only_;
  if (single_) {
    // The single producer is stopped before the locks (its claim in
    // progress may need mu_ to roll). Stopped, it claims with the locked
    // add for good, so a delete that open users refuse should not stop it:
    // look for them first (one opened in between still costs it that).
    // Its claim may also be waiting for ring space that a subscriber opened
    // meanwhile holds: the delete is refused then, without waiting for it.
    auto users_open = [this] {
      std::lock_guard lk(mu_);
      return !users_.empty();
    };
    if (users_open() || !stop_sole_producer(users_open)) {
      std::lock_guard lk(mu_);
      return in_use_locked();
    }
  }
  Segment* head = nullptr;
  if (Status s = mark_deleted(&head); !s.ok()) return s;
  // Claims still open would never be published: skip records now.
  take_back_claims(Status::NotFound(topic_error(name_, "was deleted")));
  // A producer that crossed before us seals it without any lock; producers
  // that claimed room before the seal finish their records without one.
  // Claims held open in attached processes end as skip records (a held
  // claim named late is taken on a later round).
  while (head->sealed_count() == kNotSealed) sched_yield();
  while (published() < head->end_seq()) {
    take_back_held_claims(kPubDeletedBack);
    sched_yield();
  }
  wake_all();
  // The final sync (a persisted topic): wakes sync publishers, lets go of the files.
  (void)storage_->close();
  // No dead publisher's claim is being ended in them from here on.
  segments_dropped_.store(true, std::memory_order_seq_cst);  // seq_cst: see topic_core.h
  while (dead_endings_.load(std::memory_order_seq_cst) != 0) sched_yield();
  std::deque<std::shared_ptr<Segment>> gone;  // freed after the locks
  std::shared_ptr<Segment> scanned, spare;
  {
    std::lock_guard lk(mu_);
    gone.swap(segments_);
    spare = std::move(spare_);
    interest_.clear();
    std::lock_guard sl(scan_mu_);
    scanned = std::move(scan_seg_);
  }
  return Status::OK();
}

Status TopicCore::in_use_locked() const {
  return Status::Busy(topic_error(name_, std::to_string(users_.size()) + " subscribers or consumers are still open"));
}

Status TopicCore::mark_deleted(Segment** head) {
  // In the documented order: groups_mu_, commit_mu_, mu_.
  std::lock_guard gl(groups_mu_);
  std::lock_guard cl(commit_mu_);
  std::lock_guard lk(mu_);
  // After stop_claims() the head is crossed but never sealed.
  if (claims_end_ != kNotSealed) return Status::Closed(topic_error(name_, "engine is closed"));
  if (!users_.empty()) return in_use_locked();
  // Release pairs with the acquire in deleted(): from here on roll_past()
  // refuses, add_user() refuses, and a group's commit writes nothing.
  deleted_.store(true, std::memory_order_release);
  // Seal the head so that every later claim crosses its end and lands in
  // roll_past(), which now refuses. Acquire: as a producer's claim.
  AppendSlot* slot = head_.load(std::memory_order_relaxed);  // head_ changes only under mu_
  *head = slot->segment.load(std::memory_order_relaxed);     // likewise
  const std::uint64_t capacity = options_.segment_bytes;
  const std::uint64_t t = slot->tail.fetch_add(capacity + 1, std::memory_order_acquire);
  // If we crossed first, close the segment as a crossing producer would.
  if ((t & kTailOffsetMask) <= capacity) close_crossed(**head, t);
  return Status::OK();
}

void TopicCore::stop_claims() noexcept {
  (void)stop_sole_producer({});  // before mu_: its claim in progress may need it to roll
  std::uint64_t end = 0;
  {
    std::lock_guard lk(mu_);
    if (claims_end_ != kNotSealed) return;
    if (segments_.empty()) {
      claims_end_ = published();  // deleted: retire() refused every later claim and waited for the rest
      return;
    }
    // Push the head's tail past its end, as retire() does but without
    // sealing the segment (the log on disk stays as it is): every later
    // claim crosses, lands in roll_past() and is refused there, because the
    // closed flag was set before this. Acquire: as a producer's claim.
    AppendSlot* slot = head_.load(std::memory_order_relaxed);       // head_ changes only under mu_
    Segment* head = slot->segment.load(std::memory_order_relaxed);  // likewise
    const std::uint64_t t = slot->tail.fetch_add(options_.segment_bytes + 1, std::memory_order_acquire);
    stop_tail_ = t;
    // If a producer crossed first, no roll follows its seal (roll_past()
    // refuses once closed).
    end = claims_end_of(*head, t);
    claims_end_ = end;
  }
  // Claims (Topic::claim) still open end as skip records; producers that
  // claimed before the push finish their records without any lock; the
  // final sync after this covers them.
  take_back_claims(Status::Closed(topic_error(name_, "engine is closed")));
  take_back_held_claims(kPubClosedBack);  // those of attached processes (AttachedClaim)
  stop_claims_wait(end);  // engine/topic_dead_claims.cpp
}

std::uint64_t TopicCore::claims_end() const noexcept {
  std::lock_guard lk(mu_);
  if (claims_end_ == kNotSealed && segments_.empty()) return published();  // deleted
  return claims_end_;
}

void TopicCore::wake_all() noexcept {
  readers_.wake_all();
  if (remote_readers_ != nullptr) remote_readers_->wake_all();
  space_.wake_all();
}

}  // namespace conduit::detail
