// The roll: the producer whose claim did not fit seals the head, and a new
// segment (or the memory-only ring's spare) takes the claims from there.
#include <sched.h>

#include <algorithm>

#include "engine/topic_core.h"
#include "engine/topic_core_internal.h"
#include "common/format.h"

namespace conduit::detail {

Status TopicCore::roll_past(AppendSlot* slot, std::uint64_t tail_before) noexcept {
  if ((tail_before & kTailOffsetMask) <= options_.segment_bytes) {
    // The crosser: the first claim that did not fit. It claimed on the head
    // (claims on a retired slot start past the end), and a head is retired
    // only once sealed, so the segment is alive and this producer's to seal.
    // It seals without mu_, so claimed_locked() may wait for the count.
    // Relaxed: ordered by the acquire fetch_add in publish().
    close_crossed(*slot->segment.load(std::memory_order_relaxed), tail_before);
  }
  std::shared_ptr<Segment> settled;  // declared before lk: released after the unlock
  std::unique_lock lk(mu_);
  // Roll while `slot` is the head and its segment is sealed. Slots are
  // reused: after any unlock (or before the lock) `slot` may be the head
  // again with a newer segment than the claim's, so look at the head's
  // segment, never the claim's. A sealed head needs rolling; an open one
  // takes claims. head_ and a slot's segment change only under mu_ (relaxed).
  for (;;) {
    // First: once deleted, the slot's segment may be gone (retire()).
    if (deleted()) return Status::NotFound(topic_error(name_, "was deleted"));
    // Before the crossed-but-not-sealed wait: stop_claims() leaves the head
    // crossed and unsealed, and no claim past its end counts once closed.
    if (closed()) return Status::Closed(topic_error(name_, "engine is closed"));
    if (head_.load(std::memory_order_relaxed) != slot) break;  // someone else rolled
    Segment* seg = slot->segment.load(std::memory_order_relaxed);
    if (seg->sealed_count() == kNotSealed) {
      if (head_open_locked(*slot)) break;
      // Crossed but not sealed yet: its crosser is sealing it.
      lk.unlock();
      sched_yield();
      lk.lock();
      continue;
    }
    if (ring_segments_ != 0 && segments_.size() >= ring_segments_) {
      if (Status s = make_ring_room(lk); !s.ok()) return s;
      continue;
    }
    AppendSlot* fresh = free_slot_locked();
    if (fresh == nullptr) {
      // Every slot of the claim block still has claims being written in
      // its segment (a claim block has kClaimSlots): wait for them.
      lk.unlock();
      sched_yield();
      lk.lock();
      continue;
    }
    if (Status s = install_next_head_locked(slot, fresh, seg, &settled); !s.ok()) return s;
  }
  lk.unlock();
  // Let go of the settled segment's pages in this process (file mappings
  // only; readers fault them back in from the page cache), so resident
  // memory follows the head, not the length of the log. Outside the lock:
  // zapping a large mapping's page tables takes a while, and producers
  // rolling meanwhile need the lock. The shared_ptr keeps it mapped.
  if (settled) settled->drop_resident_pages();
  return Status::OK();
}

void TopicCore::close_crossed(Segment& seg, std::uint64_t tail_before) noexcept {
  const std::uint64_t off = tail_before & kTailOffsetMask;
  const std::uint64_t capacity = options_.segment_bytes;
  if (off < capacity) {
    seg.ensure_zeroed(off + sizeof(std::uint32_t));  // no later clear may cover the padding
    format::commit_length(seg.base() + off, format::kPaddingFlag | static_cast<std::uint32_t>(capacity - off));
  }
  seg.set_padded_at(std::min<std::uint64_t>(off, capacity));  // for a dead publisher's repair (topic_dead_claims.cpp)
  seg.seal(tail_before >> kTailOffsetBits);
}

bool TopicCore::head_open_locked(const AppendSlot& slot) const noexcept {
  // Relaxed: the tail is reset only under mu_; a crossing claim not seen
  // yet only sends this producer round to claim again.
  return (slot.tail.load(std::memory_order_relaxed) & kTailOffsetMask) <= options_.segment_bytes;
}

Status TopicCore::make_ring_room(std::unique_lock<std::mutex>& lk) {
  if (droppable_locked(*segments_.front())) {
    // Read by nobody (no reader's pin; pins are only taken under mu_)
    // and held by nobody else (the scanner passed it and never comes
    // back): keep it to reuse as the next segment, which spares the
    // kernel zeroing fresh pages and a mapping per roll.
    if (!segments_.front()->pinned() && segments_.front().use_count() == 1) spare_ = std::move(segments_.front());
    segments_.pop_front();
    return Status::OK();
  }
  // A blocking holder is a whole ring behind: wait for it to move, or
  // (a bounded publish) give up. Nothing is claimed: the seal is done.
  auto wait = park_timeout();
  if (const auto deadline = ring_wait_deadline; deadline != std::chrono::steady_clock::time_point::max()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return ring_full_locked(deadline != std::chrono::steady_clock::time_point::min());
    wait = std::min<std::chrono::nanoseconds>(wait, deadline - now);
  }
  const std::uint32_t ticket = space_.ticket();
  space_.announce();
  lk.unlock();
  space_.park(ticket, wait);
  space_.withdraw();
  lk.lock();
  return Status::OK();
}

Status TopicCore::install_next_head_locked(AppendSlot* slot, AppendSlot* fresh, Segment* seg,
                                           std::shared_ptr<Segment>* settled) {
  auto next = next_segment_locked(seg->end_seq());
  if (!next.ok()) return next.status();
  slot->retired_end = seg->end_seq();
  fresh->retired_end = kNotSealed;
  fresh->segment.store(next->get(), std::memory_order_relaxed);             // ordered by the release below
  fresh->first_seq.store((*next)->first_seq(), std::memory_order_relaxed);  // likewise
  // Release pairs with the acquire fetch_add in publish() on this slot.
  fresh->tail.store(format::kSegmentHeaderSize, std::memory_order_release);
  segments_.push_back(*next);
  // The segment before the one just sealed is settled: its pages are let
  // go after the lock (roll_past()).
  if (segments_.size() >= 3) *settled = segments_[segments_.size() - 3];
  seg->set_next(next->get());
  set_head_locked(fresh);
  if (claim_ != nullptr) close_done_index_fds_locked();
  readers_.wake_if_parked();  // readers waiting at the padding record
  if (remote_readers_ != nullptr) remote_readers_->wake_if_parked();
  apply_retention_locked();
  return Status::OK();
}

Result<std::shared_ptr<Segment>> TopicCore::next_segment_locked(std::uint64_t first_seq) {
  if (spare_ != nullptr && spare_->capacity() == options_.segment_bytes &&
      storage_->reuse_segment(spare_->memory(), first_seq)) {
    spare_->reuse(first_seq);
    return std::move(spare_);
  }
  spare_.reset();
  auto mem = storage_->create_segment(first_seq, options_.segment_bytes, shared_->now());
  if (!mem.ok()) return mem.status();
  return make_segment(std::move(mem).value(), first_seq);
}

Result<std::shared_ptr<Segment>> TopicCore::make_segment(std::unique_ptr<SegmentMemory> mem,
                                                         std::uint64_t first_seq) const {
  return Segment::make(std::move(mem), first_seq, claim_ != nullptr);
}

AppendSlot* TopicCore::free_slot_locked() {
  const std::uint64_t done = published();
  AppendSlot* head = head_.load(std::memory_order_relaxed);
  for (AppendSlot* s : slots_)
    if (s != head && s->retired_end != kNotSealed && done >= s->retired_end) return s;
  return new_slot_locked();
}

AppendSlot* TopicCore::new_slot_locked() {
  if (claim_ == nullptr) {
    heap_slots_.push_back(std::make_unique<AppendSlot>());
    slots_.push_back(heap_slots_.back().get());
  } else {
    if (slots_.size() == kClaimSlots) return nullptr;
    slots_.push_back(&claim_->slot[slots_.size()]);
  }
  return slots_.back();
}

void TopicCore::set_head_locked(AppendSlot* slot) noexcept {
  // Release pairs with the acquire of head_ in publish().
  head_.store(slot, std::memory_order_release);
  // Release pairs with the acquire of a publisher in another process
  // (engine/attached_topic.cpp): it then sees the slot's reset and segment.
  if (claim_ != nullptr) claim_->head.store(static_cast<std::uint32_t>(slot - claim_->slot), std::memory_order_release);
}

}  // namespace conduit::detail
