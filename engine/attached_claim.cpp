// AttachedClaim (conduit/attach.h): zero-copy publishing from an attached
// process. The claim is a publish's (AttachedTopicCore::take_room, named
// kPubHeld in this connection's claim slots, engine/pub_claims.h); its end
// is the holder's or the owner's (close, delete), decided by one
// compare-and-swap on the slot's state; a dead holder's is the owner's too.
#include <signal.h>

#include <new>

#include "common/format.h"
#include "engine/attached_topic_core.h"
#include "engine/topic_core_internal.h"
#include "engine/wall_clock.h"

namespace conduit {
namespace detail {

Result<AttachedClaim> AttachedTopicCore::claim(std::size_t payload_bytes, const Message& envelope) noexcept {
  std::size_t length = 0;
  if (!claimable(payload_bytes, envelope, info_.max_payload_bytes, &length)) [[unlikely]]
    return claim_refusal(name_, payload_bytes, envelope, info_.max_payload_bytes);
  if (!held_claims_)
    return Status::Unsupported(topic_error(
        name_, "claim: the owner's build does not end claims held open in another process (an older one)"));
  // Acquire pairs with the release in detach().
  if (detached_.load(std::memory_order_acquire))
    return Status::Closed(topic_error(name_, "claim: its AttachedEngine is being destroyed"));
  const std::int64_t stamp = envelope.timestamp_ns != 0 ? envelope.timestamp_ns : wall_clock_ns();
  const std::uint64_t bytes = format::align_up(length);
  auto room = take_room(1, bytes, Deadline::max(), kPubHeld);
  if (!room.ok()) return room.status();
  try {
    // Not mapped (the owner gone, no memory): the claim stays named, and
    // the owner ends it when this connection closes, as a publish's.
    auto seg = room_of(room->first, room->t, bytes, 1);
    if (!seg.ok()) return seg.status();
    const std::uint64_t off = room->t & kTailOffsetMask;
    const std::uint64_t idx = room->t >> kTailOffsetBits;
    std::byte* record = (*seg)->base + off;
    const format::Head head = format::encode_head(record, envelope, payload_bytes, room->first + idx, stamp);
    AttachedClaim c;
    c.core_ = shared_from_this();
    c.segment_ = std::move(seg).value();
    c.record_ = record;
    c.word_ = head.word;
    c.payload_offset_ = head.payload_offset;
    c.payload_size_ = static_cast<std::uint32_t>(payload_bytes);
    c.slot_ = static_cast<std::uint32_t>(room->k);
    c.index_ = static_cast<std::uint32_t>(idx);
    c.seq_ = room->first + idx;
    return c;
  } catch (const std::bad_alloc&) {
    return Status::IOError(topic_error(name_, "out of memory for a segment's mapping"));
  }
}

Result<std::uint64_t> AttachedTopicCore::end_claim(AttachedClaim& c, bool commit, bool nowait) noexcept {
  if (!c.active()) return Status::InvalidArgument("claim: already committed or abandoned");
  const std::shared_ptr<AttachedTopicCore> core = std::move(c.core_);
  const std::shared_ptr<Mapped> seg = std::static_pointer_cast<Mapped>(std::move(c.segment_));
  AttachedTopicCore& t = *core;
  // Acquire pairs with the release in detach(): the connection is closing,
  // and the owner ends the claim when it has (it is still named kPubHeld).
  if (t.detached_.load(std::memory_order_acquire))
    return Status::Closed(topic_error(t.name_, "claim: its AttachedEngine was destroyed first (a skip record)"));
  PubClaim& pc = t.pub_->slot[c.slot_];
  std::uint32_t state = kPubHeld;
  // Acq_rel pairs with the owner's compare-and-swap in
  // TopicCore::take_back_held_claims(): whichever wins ends the claim.
  if (!pc.state.compare_exchange_strong(state, kPubEnding, std::memory_order_acq_rel, std::memory_order_acquire)) {
    // Taken back: the owner wrote its skip record and reads the slot no
    // more. Relaxed: nobody else reads it until this process takes it again.
    pc.state.store(kPubFree, std::memory_order_relaxed);
    t.pub_slots_.give(c.slot_);
    if (state == kPubDeletedBack) return Status::NotFound(topic_error(t.name_, "was deleted"));
    return Status::Closed(topic_error(t.name_, "the owner's engine is closed"));
  }
  const bool crc = t.info_.crc != 0;
  std::uint32_t word = c.word_;
  if (commit) {
    format::seal_crc(c.record_, word, crc);  // over the payload as it is
  } else {
    format::fill_skip(c.record_, c.seq_, crc);
    word = format::kSkipFlag | (word & format::kLengthMask);
  }
  if (t.stop_at_ == StopAt::kEnding) [[unlikely]]
    ::raise(SIGSTOP);
  // Over 0 only, as write(): the owner writes here only for a holder that
  // died, so this never fails while this process lives.
  std::uint32_t found = 0;
  if (!format::commit_length_if_empty(c.record_, word, &found)) [[unlikely]] {
    if (format::is_skip(found)) format::fill_skip(c.record_, c.seq_, crc);
    t.free_slot(c.slot_);
    return Status::Closed(topic_error(t.name_, "the owner skipped this claim"));
  }
  auto* index = reinterpret_cast<std::atomic<std::uint32_t>*>(seg->index_map + Segment::kIndexHeaderBytes);
  // Release pairs with the acquire in Segment::offset_of() (in the owner).
  index[c.index_].store(static_cast<std::uint32_t>(c.record_ - seg->base), std::memory_order_release);
  // Relaxed: a statistic (TopicCore::pub_abandoned()).
  if (!commit) pc.abandoned.fetch_add(1, std::memory_order_relaxed);
  t.free_slot(c.slot_);
  t.readers_->wake_if_parked();
  if (t.control_) t.control_->readers_lot().wake_if_parked();
  if (commit && !nowait && t.info_.sync != 0)
    if (Status s = t.await_durable(c.seq_); !s.ok()) return s;
  return c.seq_;
}

}  // namespace detail

Result<AttachedClaim> AttachedTopic::claim(std::size_t payload_bytes, const Message& envelope) noexcept {
  return core_->claim(payload_bytes, envelope);
}

AttachedClaim& AttachedClaim::operator=(AttachedClaim&& other) noexcept {
  if (this != &other) {
    abandon();
    core_ = std::move(other.core_);
    segment_ = std::move(other.segment_);
    record_ = other.record_;
    word_ = other.word_;
    payload_offset_ = other.payload_offset_;
    payload_size_ = other.payload_size_;
    slot_ = other.slot_;
    index_ = other.index_;
    seq_ = other.seq_;
  }
  return *this;
}
AttachedClaim::~AttachedClaim() {
  if (active()) abandon();
}
Result<std::uint64_t> AttachedClaim::commit() noexcept { return detail::AttachedTopicCore::end_claim(*this, true, false); }
Result<std::uint64_t> AttachedClaim::commit_nowait() noexcept {
  return detail::AttachedTopicCore::end_claim(*this, true, true);
}
void AttachedClaim::abandon() noexcept {
  if (active()) (void)detail::AttachedTopicCore::end_claim(*this, false, true);
}

}  // namespace conduit
