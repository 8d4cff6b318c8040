// Zero-copy publishing (conduit/claim.h): the claim takes its room and
// sequence as a publish does and writes the head; the payload is written in
// place by the caller; the commit seals the CRC and stores the length word,
// or the claim ends as a skip record (abandon, destruction, close, delete).
//
// Who ends a claim: its owner (commit, abandon) or close()/retire()
// (take_back_claims), never both: engine/claim_table.h says how they agree
// without a lock on the owner's side. A claim is listed after its room is
// taken: one that took room before close() pushed the tail past the head's
// end, but lists itself after the closer took the claims back, finds
// claims_refused_ set and writes its skip record itself, so no claim is
// left that nobody ends (the closer then waits for it).

#include "common/format.h"
#include "engine/envelope.h"
#include "engine/topic_core.h"
#include "engine/topic_core_internal.h"
#include "engine/trace.h"

namespace conduit {

Result<Claim> Topic::claim(std::size_t payload_bytes, const Message& envelope) noexcept {
  if (core_ == nullptr) [[unlikely]]
    return gone();
  return core_->claim(payload_bytes, envelope);
}

Result<std::uint64_t> Claim::commit() noexcept { return detail::TopicCore::end_claim(*this, true, false); }
Result<std::uint64_t> Claim::commit_nowait() noexcept { return detail::TopicCore::end_claim(*this, true, true); }
void Claim::abandon() noexcept {
  if (active()) (void)detail::TopicCore::end_claim(*this, false, true);
}

namespace detail {
namespace {

// A claim's index entry, the last of its writes: the published watermark
// counts a record once it is set, and no segment goes before that
// (engine/topic_scan.cpp).
void index_claim(Segment* seg, const std::byte* record, std::uint64_t seq) noexcept {
  seg->set_offset(seq - seg->first_seq(), static_cast<std::uint32_t>(record - seg->base()));
}

// A claim ended without its payload (refused, abandoned, taken back): a
// skip record in its room of `length` bytes, then its index entry.
void skip_claim(Segment* seg, std::byte* record, std::uint32_t length, std::uint64_t seq, bool crc) noexcept {
  format::write_skip(record, length, seq, crc);
  index_claim(seg, record, seq);
}

}  // namespace

Status claim_refusal(const std::string& topic, std::size_t payload_bytes, const Message& envelope,
                     std::size_t max_payload) {
  if (!envelope.payload.empty())
    return Status::InvalidArgument(
        topic_error(topic, "claim: the envelope's payload must be empty (the claim's payload is written in place)"));
  if (payload_bytes > max_payload)
    return Status::TooLarge(topic_error(topic, "claim: payload of " + std::to_string(payload_bytes) +
                                                   " bytes is over max_payload_bytes (" + std::to_string(max_payload) +
                                                   ")"));
  return Status::TooLarge(topic_error(topic, "claim: " + envelope_too_large(envelope, kMaxEnvelopeBytes)));
}

Result<Claim> TopicCore::claim(std::size_t payload_bytes, const Message& envelope) noexcept {
  // Checked again with the trace id below, when a TraceScope adds one.
  std::size_t length = 0;
  if (!claimable(payload_bytes, envelope, options_.max_payload_bytes, &length)) [[unlikely]]
    return claim_refusal(name_, payload_bytes, envelope, options_.max_payload_bytes);
  if (dedup_ != nullptr && !envelope.id.empty())
    return Status::InvalidArgument(topic_error(name_, "claim: a claim with an id cannot be deduplicated; publish it"));
  // A scope with an empty id hides outer ones and adds nothing (as publish()).
  if (current_trace != nullptr && envelope.trace_id.empty() && !current_trace->empty()) [[unlikely]] {
    Message traced = envelope;
    traced.trace_id = *current_trace;
    return claim(payload_bytes, traced);
  }
  if (!single_) return claim_room(payload_bytes, envelope, static_cast<std::uint32_t>(length), false);
  // A single_producer topic: its owner thread only, marked as in a claim
  // while it takes room (SoleProducer): with a plain store of the tail and
  // listed in the sole slot (ClaimTable::list_sole), no locked instruction,
  // unless a stopper came (then as every topic).
  const SoleClaim how = enter_sole_claim();
  if (how == SoleClaim::kForeign)
    return Status::InvalidArgument(topic_error(name_, "single_producer: another thread publishes to it"));
  Result<Claim> r = claim_room(payload_bytes, envelope, static_cast<std::uint32_t>(length), how == SoleClaim::kSole);
  // Release pairs with the acquire in stop_sole_producer() (as claim_sole()).
  sole_.in_claim.store(0, std::memory_order_release);
  return r;
}

Result<Claim> TopicCore::claim_room(std::size_t payload_bytes, const Message& envelope, std::uint32_t length,
                                    bool sole) noexcept {
  if (closed()) return Status::Closed(topic_error(name_, "engine is closed"));
  if (!read_only_.ok()) [[unlikely]]
    return read_only_;
  const std::int64_t stamp = envelope.timestamp_ns != 0 ? envelope.timestamp_ns : shared_->now();
  const std::uint64_t bytes = format::align_up(length);
  const std::uint64_t capacity = options_.segment_bytes;
  for (;;) {
    // Acquire, both: as in claim_and_write_as() (the head, then the slot's segment).
    AppendSlot* slot = head_.load(std::memory_order_acquire);
    std::uint64_t t;
    if (sole) {
      t = slot->tail.load(std::memory_order_acquire);
      // Relaxed: as claim_and_write_as<.., Sole>: nobody else adds to this
      // tail until it has stopped us and waited (SoleProducer).
      slot->tail.store(t + kTailOneRecord + bytes, std::memory_order_relaxed);
    } else {
      t = slot->tail.fetch_add(kTailOneRecord + bytes, std::memory_order_acquire);
    }
    const std::uint64_t off = t & kTailOffsetMask;
    if (off + bytes > capacity) {
      if (Status s = roll_past(slot, t); !s.ok()) return s;
      continue;
    }
    // Relaxed: ordered by the acquire above.
    Segment* seg = slot->segment.load(std::memory_order_relaxed);
    const std::uint64_t seq = seg->first_seq() + (t >> kTailOffsetBits);
    seg->prepare_claim(off + bytes + sizeof(std::uint32_t), (t >> kTailOffsetBits) + 1);
    std::byte* record = seg->base() + off;
    // Every locked instruction of the claim comes before its writes into
    // the log: a subscriber may be spinning on these bytes, and a locked
    // instruction after them would wait for them to reach it.
    // Listed, the claim keeps its segment (engine/claim_table.h); before,
    // the scanner cannot pass it either, so the segment is alive.
    format::Head head;
    std::uint32_t listed = ClaimTable::kNone;
    if (sole && claims_.sole_free()) {
      // The head first: once listed, a closer may write a skip record here.
      head = format::encode_head(record, envelope, payload_bytes, seq, stamp);
      if (!claims_.list_sole(seg, record, seq, length)) return settle_sole_claim(seg, record, seq, length);
      listed = ClaimTable::kSoleSlot;
    }
    if (listed == ClaimTable::kNone) {
      std::lock_guard lk(claims_.lock());
      if (claims_refused_.ok()) listed = claims_.add_locked(seg, record, seq, length);
      if (listed == ClaimTable::kNone) {
        // close() or retire() took the open claims before this one listed
        // itself (or too many are open): end it as they would have, and
        // wait for nothing.
        skip_claim(seg, record, length, seq, crc_);
        skipped_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        if (!claims_refused_.ok()) return claims_refused_;
        return Status::Busy(topic_error(name_, "claim: " + std::to_string(ClaimTable::kMaxOpen) +
                                                   " claims are open already (commit or abandon some)"));
      }
      // Under the lock: take_back_claims() never finds a listed claim
      // without its head, and never writes a skip record under ours.
      head = format::encode_head(record, envelope, payload_bytes, seq, stamp);
    }
    Claim c;
    c.topic_ = handle_;
    c.segment_ = seg;
    c.record_ = record;
    c.word_ = head.word;
    c.payload_offset_ = head.payload_offset;
    c.payload_size_ = static_cast<std::uint32_t>(payload_bytes);
    c.slot_ = listed;
    c.seq_ = seq;
    return c;
  }
}

Result<std::uint64_t> TopicCore::end_claim(Claim& c, bool commit, bool nowait) noexcept {
  if (!c.active()) return Status::InvalidArgument("claim: already committed or abandoned");
  Topic* topic = std::exchange(c.topic_, nullptr);
  TopicCore* core = topic->core_;
  if (core == nullptr) return topic->gone();  // the engine's close took it back before it went
  return core->end_open_claim(static_cast<Segment*>(c.segment_), c.record_, c.seq_, c.word_, c.slot_, !commit, nowait);
}

Result<std::uint64_t> TopicCore::end_open_claim(Segment* seg, std::byte* record, std::uint64_t seq, std::uint32_t word,
                                                std::uint32_t slot, bool skip, bool nowait) noexcept {
  if (!claims_.begin_end(slot)) [[unlikely]] {
    // A closer is taking claims back, or has: it holds the lock meanwhile,
    // and a skip record in our place says it ended ours.
    std::lock_guard lk(claims_.lock());
    if (format::load_length(record) != 0) {
      claims_.at(slot).kept.reset();  // the Claim ends: its segment may go
      claims_.end(slot);
      return claims_refused_;
    }
  }
  // Ours alone now: the length word is 0 and nobody else will store it.
  if (skip) {
    skip_claim(seg, record, word & format::kLengthMask, seq, crc_);
  } else {
    // The payload is in place: the CRC covers the bytes as they are.
    format::seal_crc(record, word, crc_);
    format::commit_length(record, word);
    index_claim(seg, record, seq);
  }
  claims_.end(slot);
  if (skip) skipped_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  readers_.wake_if_parked();
  if (remote_readers_ != nullptr) remote_readers_->wake_if_parked();
  if (!skip && sync_ && !nowait)
    if (Status s = storage_->await_durable(seq, std::chrono::steady_clock::time_point::max()); !s.ok()) return s;
  return seq;
}

Status TopicCore::settle_sole_claim(Segment* seg, std::byte* record, std::uint64_t seq, std::uint32_t length) noexcept {
  // A closer set closing_ while (or before) the claim was listed in the sole
  // slot; it holds the lock until it has taken back what it saw open.
  std::lock_guard lk(claims_.lock());
  ClaimTable::Slot& s = claims_.at(ClaimTable::kSoleSlot);
  // Relaxed: the closer's compare-and-swap was made under this lock.
  if (s.state.load(std::memory_order_relaxed) == ClaimTable::kTaken) {
    s.kept.reset();  // it wrote the skip record, and counted it
  } else {
    skip_claim(seg, record, length, seq, crc_);  // it came before the claim was listed
    skipped_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  }
  claims_.end(ClaimTable::kSoleSlot);
  return claims_refused_;
}

void TopicCore::take_back_claims(const Status& why) noexcept {
  std::size_t taken = 0;
  {
    std::lock_guard lk(claims_.lock());
    if (claims_refused_.ok()) claims_refused_ = why;
    claims_.take_back_locked([&](ClaimTable::Slot& o) {
      // Its owner may still write the payload: the segment stays until it ends.
      o.kept = o.seg->shared_from_this();
      skip_claim(o.seg, o.record, o.length, o.seq, crc_);
      ++taken;
    });
  }
  if (taken == 0) return;
  skipped_.fetch_add(taken, std::memory_order_relaxed);  // relaxed: a statistic
  readers_.wake_if_parked();
  if (remote_readers_ != nullptr) remote_readers_->wake_if_parked();
}

}  // namespace detail
}  // namespace conduit
