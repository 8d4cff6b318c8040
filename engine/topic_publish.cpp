// Publishing: the checks, the claim on the head's tail and the record
// writes, batches, dedup, and the single_producer claim.
#include <sched.h>

#include <new>

#include "engine/envelope.h"
#include "engine/topic_core.h"
#include "engine/topic_core_internal.h"
#include "engine/trace.h"
#include "common/format.h"

namespace conduit::detail {

Status TopicCore::await_durable(std::uint64_t seq, std::chrono::nanoseconds timeout) noexcept {
  return storage_->await_durable(seq, deadline_after(timeout));
}

Result<std::uint64_t> TopicCore::publish(const Message& m, bool nowait) noexcept {
  // A scope with an empty id hides outer ones and adds nothing.
  if (current_trace != nullptr && m.trace_id.empty() && !current_trace->empty()) [[unlikely]] {
    Message traced = m;
    traced.trace_id = *current_trace;
    return publish(traced, nowait);
  }
  if (dedup_ != nullptr && !m.id.empty()) [[unlikely]]
    return publish_once(m, nowait);
  return append(m, nowait);
}

Result<std::uint64_t> TopicCore::publish_once(const Message& m, bool nowait) noexcept {
  Message stamped = m;
  if (stamped.timestamp_ns == 0) stamped.timestamp_ns = shared_->now();
  std::uint64_t seq = 0;
  {
    // Held across the append: a racing publish of the same id waits here
    // and then finds this one's sequence. Only publishes with an id on a
    // topic with dedup on take it.
    std::lock_guard lk(dedup_->mutex());
    if (auto first = dedup_->find(stamped.id, stamped.timestamp_ns)) {
      seq = *first;
    } else {
      auto r = append(stamped, true);
      if (!r.ok()) return r;
      seq = *r;
      try {
        dedup_->remember(stamped.id, seq, stamped.timestamp_ns);
      } catch (const std::bad_alloc&) {
        // The record is published; only its id is missing from the window.
        try {
          shared_->say(LogLevel::kError, "topic '" + name_ + "': out of memory for the dedup window");
        } catch (const std::bad_alloc&) {  // no memory for the message either
        }
      }
    }
  }
  // A repeat completes like the first would have: durable on a kSync topic.
  if (sync_ && !nowait)
    if (Status s = storage_->await_durable(seq, std::chrono::steady_clock::time_point::max()); !s.ok()) return s;
  return seq;
}

Status batch_seqs_fit(const std::string& topic, std::size_t messages, std::size_t seqs) {
  if (seqs == 0 || seqs >= messages) return Status::OK();
  return Status::InvalidArgument(topic_error(
      topic, "publish_batch: " + std::to_string(seqs) + " sequences for " + std::to_string(messages) + " messages"));
}

Status unpublishable_message(const std::string& topic, const Message& m, std::size_t max_payload,
                             std::string_view which) {
  if (m.payload.size() > max_payload)
    return Status::TooLarge(topic_error(topic, std::string(which) + "payload of " + std::to_string(m.payload.size()) +
                                                   " bytes is over max_payload_bytes (" + std::to_string(max_payload) +
                                                   ")"));
  return Status::TooLarge(topic_error(topic, std::string(which) + envelope_too_large(m, kMaxEnvelopeBytes)));
}

inline bool TopicCore::publishable(const Message& m, std::size_t* length) const noexcept {
  return publishable_message(m, options_.max_payload_bytes, length);
}

Status TopicCore::unpublishable(const Message& m, std::string_view which) const {
  return unpublishable_message(name_, m, options_.max_payload_bytes, which);
}

// Defined before its two callers, which inline it: as a call, with the
// Result passed back through memory, it cost publish() about 2 ns.
template <std::size_t N, bool Sole, bool AllShort>
inline Result<std::uint64_t> TopicCore::claim_and_write_as(std::span<const Message, N> ms,
                                                           std::uint64_t bytes) noexcept {
  if (closed()) return Status::Closed(topic_error(name_, "engine is closed"));
  if (!read_only_.ok()) [[unlikely]]
    return read_only_;
  // One clock read for the claim: its records are published together.
  std::int64_t now = 0;
  for (const Message& m : ms)
    if (m.timestamp_ns == 0) {
      now = shared_->now();
      break;
    }
  const std::uint64_t capacity = options_.segment_bytes;
  for (;;) {
    // Acquire pairs with the release store of head_ when the topic rolls.
    AppendSlot* slot = head_.load(std::memory_order_acquire);
    // Acquire pairs with the release reset of the tail when the slot got its
    // segment, so `segment` below is the one this claim belongs to.
    const std::uint64_t add = kTailOneRecord * ms.size() + bytes;
    std::uint64_t t;
    if constexpr (Sole) {
      t = slot->tail.load(std::memory_order_acquire);
      // Relaxed: no other thread adds to this tail until it has stopped us
      // and waited for this claim (SoleProducer); readers of the tail
      // (claimed_locked, populate_head) take it as a count, and each
      // record's commit orders its bytes for them.
      slot->tail.store(t + add, std::memory_order_relaxed);
    } else {
      t = slot->tail.fetch_add(add, std::memory_order_acquire);
    }
    std::uint64_t off = t & kTailOffsetMask;
    if (off + bytes <= capacity) {
      // Relaxed: ordered by the acquire above (see the tail's comment).
      Segment* seg = slot->segment.load(std::memory_order_relaxed);
      const std::uint64_t idx = t >> kTailOffsetBits;
      const std::uint64_t seq = seg->first_seq() + idx;
      // The claim and the length word after it (see Segment::ensure_zeroed).
      seg->prepare_claim(off + bytes + sizeof(std::uint32_t), idx + ms.size());
      for (std::size_t i = 0; i < ms.size(); ++i) {
        const Message& m = ms[i];
        std::byte* dst = seg->base() + off;
        const std::int64_t stamp = m.timestamp_ns != 0 ? m.timestamp_ns : now;
        const std::uint32_t word = AllShort || format::short_form(m)
                                       ? format::encode_short(dst, m.payload, seq + i, stamp, crc_)
                                       : format::encode_record(dst, m, seq + i, stamp, crc_);
        format::commit_length(dst, word);
        seg->set_offset(idx + i, static_cast<std::uint32_t>(off));
        off += format::align_up(word & format::kLengthMask);
      }
      readers_.wake_if_parked();
      if (remote_readers_ != nullptr) remote_readers_->wake_if_parked();
      return seq;
    }
    if (Status s = roll_past(slot, t); !s.ok()) return s;
  }
}

template <std::size_t N, bool AllShort>
inline Result<std::uint64_t> TopicCore::claim_and_write(std::span<const Message, N> ms, std::uint64_t bytes) noexcept {
  // The single_producer path is its own function, so that the shared one
  // stays as it was (inlined, with no branch on the claim's kind).
  if (single_) [[unlikely]]
    return claim_sole<N, AllShort>(ms, bytes);
  return claim_and_write_as<N, false, AllShort>(ms, bytes);
}

template <std::size_t N, bool AllShort>
Result<std::uint64_t> TopicCore::claim_sole(std::span<const Message, N> ms, std::uint64_t bytes) noexcept {
  const SoleClaim how = enter_sole_claim();
  if (how == SoleClaim::kForeign) [[unlikely]]
    return Status::InvalidArgument(topic_error(name_, "single_producer: another thread publishes to it"));
  // A plain-store claim while nobody is stopping us (SoleProducer), else
  // the locked add, as every other topic.
  Result<std::uint64_t> r = how == SoleClaim::kSole ? claim_and_write_as<N, true, AllShort>(ms, bytes)
                                                    : claim_and_write_as<N, false, AllShort>(ms, bytes);
  // Release pairs with the acquire in stop_sole_producer(): the stopper sees
  // this claim's tail store and records before it adds to the tail.
  sole_.in_claim.store(0, std::memory_order_release);
  return r;
}

TopicCore::SoleClaim TopicCore::enter_sole_claim() noexcept {
  // Any per-thread address tells threads apart while they live.
  static thread_local char token;
  const auto me = reinterpret_cast<std::uintptr_t>(&token);
  // Relaxed: the owner is set once, and each thread only compares it with
  // its own token; the CAS alone decides which thread is first.
  std::uintptr_t owner = sole_.owner.load(std::memory_order_relaxed);
  if (owner != me && !(owner == 0 && sole_.owner.compare_exchange_strong(owner, me, std::memory_order_relaxed)))
    return SoleClaim::kForeign;
  // Relaxed, both: the stopper's membarrier orders them (SoleProducer).
  // The signal fence only keeps the compiler from swapping the two.
  sole_.in_claim.store(1, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return sole_.stopping.load(std::memory_order_relaxed) ? SoleClaim::kStopping : SoleClaim::kSole;
}

bool TopicCore::stop_sole_producer(const std::function<bool()>& give_up) {
  if (!single_) return true;
  // Seq_cst store, then the process-wide barrier: the publisher's next look
  // at the flag sees it, or its mark is visible to the wait below.
  sole_.stopping.store(true, std::memory_order_seq_cst);
  process_barrier();
  // Acquire pairs with the release that ends a claim. The claim finishes
  // without us: it takes mu_ at most to roll, which we do not hold.
  while (sole_.in_claim.load(std::memory_order_acquire) != 0) {
    if (give_up && give_up()) return false;
    sched_yield();
  }
  return true;
}

Result<std::uint64_t> TopicCore::append(const Message& m, bool nowait) noexcept {
  std::size_t length = 0;
  if (!publishable(m, &length)) [[unlikely]]
    return unpublishable(m, {});
  auto seq = claim_and_write(std::span<const Message, 1>(&m, 1), format::align_up(length));
  if (seq.ok() && sync_ && !nowait) {
    if (Status s = storage_->await_durable(*seq, std::chrono::steady_clock::time_point::max()); !s.ok()) return s;
  }
  return seq;
}

PublishBatchResult TopicCore::publish_batch(std::span<const Message> ms, std::span<std::uint64_t> seqs) noexcept {
  PublishBatchResult r;
  if (r.status = batch_seqs_fit(name_, ms.size(), seqs.size()); !r.status.ok()) return r;
  if (ms.empty()) return r;
  std::uint64_t last = 0;
  // Dedup and trace scopes look at each message: one at a time, as publish().
  if (dedup_ != nullptr || (current_trace != nullptr && !current_trace->empty())) {
    for (const Message& m : ms) {
      auto seq = publish(m, true);
      if (!seq.ok()) {
        r.status = seq.status();
        return r;
      }
      if (!seqs.empty()) seqs[r.published] = *seq;
      last = *seq;
      ++r.published;
    }
  } else {
    std::uint64_t total = 0;
    bool all_short = false;
    if (r.status = check_batch_messages(name_, ms, options_.max_payload_bytes, &total, &all_short); !r.status.ok())
      return r;
    // Claims of at most half a segment (less its header), so that one always
    // fits an empty segment; the largest single record does (make()).
    const std::uint64_t most = (options_.segment_bytes - format::kSegmentHeaderSize) / 2;
    last = claim_in_chunks(
        ms, seqs, most, total, r, [this, all_short](std::span<const Message> part, std::uint64_t bytes) {
          return all_short ? claim_and_write<std::dynamic_extent, true>(part, bytes) : claim_and_write(part, bytes);
        });
    if (!r.status.ok()) return r;
  }
  if (sync_) r.status = storage_->await_durable(last, std::chrono::steady_clock::time_point::max());
  return r;
}

}  // namespace conduit::detail
