#include "engine/topic_core.h"

#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <new>

#include "engine/envelope.h"
#include "engine/topic_options.h"
#include "engine/trace.h"
#include "engine/work_group_core.h"
#include "persistence/format.h"
#include "persistence/log_reader.h"

namespace conduit::detail {
namespace {

constexpr std::size_t kMinSegmentBytes = 64u << 10;
constexpr std::size_t kMaxSegmentBytes = 512u << 20;  // keeps a segment's record count within 24 bits
constexpr std::size_t kMaxPayloadLimit = 256u << 20;
constexpr std::size_t kMaxEnvelopeBytes = 64u << 10;  // everything but the payload
constexpr std::size_t kPage = 4096;

std::string topic_error(const std::string& topic, const std::string& what) { return "topic '" + topic + "': " + what; }

}  // namespace

Result<std::unique_ptr<TopicCore>> TopicCore::make(std::string name, TopicOptions options,
                                                   std::unique_ptr<TopicStorage> storage, TopicShared* shared) {
  if (options.max_payload_bytes > kMaxPayloadLimit)
    return Status::InvalidArgument(topic_error(name, "max_payload_bytes above 256 MiB"));
  options = normalized_options(options);
  const std::size_t largest_record =
      format::align_up(format::kRecordHeaderSize + kMaxEnvelopeBytes + options.max_payload_bytes);
  if (options.dedup.max_ids > (1u << 24) || options.dedup.max_age.count() < 0)
    return Status::InvalidArgument(topic_error(name, "dedup.max_ids must be at most 2^24 and dedup.max_age not negative"));
  if (options.durability == Durability::kMemory && (options.retain_until_consumed || options.hard_cap_bytes != 0))
    return Status::InvalidArgument(topic_error(name, "retain_until_consumed and hard_cap_bytes need a persisted topic"));
  if (options.hard_cap_bytes != 0 && options.hard_cap_bytes < 2 * options.segment_bytes)
    return Status::InvalidArgument(topic_error(name, "hard_cap_bytes must be at least two segments (2 * segment_bytes)"));
  if (options.segment_bytes < kMinSegmentBytes || options.segment_bytes > kMaxSegmentBytes)
    return Status::InvalidArgument(topic_error(name, "segment_bytes must be within 64 KiB .. 512 MiB"));
  if (options.segment_bytes < format::kSegmentHeaderSize + 2 * largest_record)
    return Status::InvalidArgument(
        topic_error(name, "segment_bytes must hold two of the largest records (2 * (max_payload_bytes + 64 KiB))"));
  std::unique_ptr<TopicCore> t(new TopicCore(std::move(name), options, std::move(storage), shared));
  if (Status s = t->start(); !s.ok()) return s;
  return t;
}

TopicCore::TopicCore(std::string name, TopicOptions options, std::unique_ptr<TopicStorage> storage,
                     TopicShared* shared)
    : name_(std::move(name)),
      options_(options),
      storage_(std::move(storage)),
      shared_(shared),
      crc_(storage_->records_have_crc()),
      sync_(options.durability == Durability::kSync),
      single_(options.single_producer && process_barrier_available()),
      ring_segments_(options.durability == Durability::kMemory
                         ? std::max<std::size_t>(2, (options.ring_bytes + options.segment_bytes - 1) / options.segment_bytes)
                         : 0),
      remote_readers_(storage_->remote_readers()),
      handle_(new Topic(this, name_, options)),
      dedup_(options.dedup.max_ids != 0 ? std::make_unique<DedupWindow>(options.dedup) : nullptr) {}

TopicCore::~TopicCore() {
  // The storage's final sync reads our watermarks: run it while the segments
  // are still here (members declared after storage_ are destroyed first).
  // A no-op after close_storage(), which the engine calls on close.
  (void)storage_->close();
  // Topic* handles may outlive the engine: the shell answers kClosed.
  handle_->core_ = nullptr;
  keep_forever(handle_);
}

Status TopicCore::start() {
  auto recovered = storage_->recover();
  if (!recovered.ok()) return recovered.status();
  if (Status ro = storage_->recovery_stats().read_only; !ro.ok()) {
    read_only_ = Status::ReadOnly(topic_error(name_, "opened read-only: " + ro.message()));
    // Waking readers in other processes writes to the control file; a
    // read-only log has nothing new for them anyway.
    remote_readers_ = nullptr;
  }
  if (options_.retain_until_consumed) {
    // The interest that outlived the last engine: committed positions.
    auto positions = storage_->load_positions();
    if (!positions.ok()) return positions.status();
    std::lock_guard lk(mu_);
    for (auto& [key, seq] : *positions) interest_[key] = seq;
  }
  Status s = recovered->empty() ? start_empty() : start_from(std::move(recovered).value());
  if (!s.ok()) return s;
  storage_->attach(this);
  recovered_end_ = published();
  return read_only_.ok() ? set_back_positions() : Status::OK();
}

Status TopicCore::set_back_positions() {
  if (options_.durability == Durability::kMemory) return Status::OK();
  auto positions = storage_->load_positions();
  // A damaged position file is its reader's error, told when it opens
  // (subscribe(), work_group()): not a reason to refuse the topic.
  if (!positions.ok()) return positions.status().code() == Code::kCorruption ? Status::OK() : positions.status();
  for (auto& [key, seq] : *positions) {
    if (seq <= recovered_end_) continue;
    // Stored again at the end (durable: it is below it), and told to the
    // reader at its first poll (PollResult::rewound).
    if (Status s = storage_->store_position(key, recovered_end_); !s.ok()) return s;
    std::fprintf(stderr, "conduit: topic '%s': %s's committed position %llu was past the end of the log (%llu); set back\n",
                 name_.c_str(), key.c_str(), static_cast<unsigned long long>(seq),
                 static_cast<unsigned long long>(recovered_end_));
    std::lock_guard lk(mu_);
    rewound_[key] = seq - recovered_end_;
    if (auto it = interest_.find(key); it != interest_.end()) it->second = recovered_end_;
  }
  return Status::OK();
}

std::uint64_t TopicCore::take_rewound(const std::string& key) {
  std::lock_guard lk(mu_);
  auto it = rewound_.find(key);
  if (it == rewound_.end()) return 0;
  const std::uint64_t n = it->second;
  rewound_.erase(it);
  return n;
}

Status TopicCore::start_from(std::vector<RecoveredSegment> recovered) {
  std::lock_guard lk(mu_);
  for (auto& r : recovered) {
    auto seg = Segment::make(std::move(r.memory), r.first_seq);
    if (!seg.ok()) return seg.status();
    if (r.sealed) (*seg)->seal(r.records);
    if (!r.unchecked_path.empty()) (*seg)->mark_unchecked(std::move(r.unchecked_path), r.records, r.sealed);
    // The tail is indexed now; older segments when a reader first needs them.
    if (&r == &recovered.back()) (*seg)->build_index(r.records);
    else (*seg)->mark_unindexed();
    if (!segments_.empty()) segments_.back()->set_next(seg->get());
    segments_.push_back(std::move(seg).value());
  }
  rebuild_dedup_locked();
  RecoveredSegment& last = recovered.back();
  std::shared_ptr<Segment> tail = segments_.back();
  const bool writable = read_only_.ok();  // a read-only log is left exactly as it is
  if (writable && !last.sealed && tail->capacity() != options_.segment_bytes) {
    // Written with another segment_bytes: producers size their claims by
    // options_.segment_bytes, so close this tail with a padding record (as
    // a full segment ends) and continue in a new segment of the new size.
    if (last.end_offset < tail->capacity())
      format::commit_length(tail->base() + last.end_offset,
                            format::kPaddingFlag | static_cast<std::uint32_t>(tail->capacity() - last.end_offset));
    tail->seal(last.records);
    last.sealed = true;
  }
  {
    std::lock_guard sl(scan_mu_);
    scan_seg_ = tail;
    scan_off_ = last.sealed ? tail->capacity() : last.end_offset;
    // Relaxed: published by head_'s release below.
    published_.store(last.first_seq + last.records, std::memory_order_relaxed);
  }
  if (writable && last.sealed) {
    // The tail is full: start the next segment now.
    auto mem = storage_->create_segment(tail->end_seq(), options_.segment_bytes, shared_->now());
    if (!mem.ok()) return mem.status();
    auto next = Segment::make(std::move(mem).value(), tail->end_seq());
    if (!next.ok()) return next.status();
    tail->set_next(next->get());
    segments_.push_back(*next);
    tail = *next;
  }
  slots_.push_back(std::make_unique<AppendSlot>());
  AppendSlot* slot = slots_.back().get();
  slot->segment.store(tail.get(), std::memory_order_relaxed);  // published by head_ below
  const bool fresh = last.sealed && writable;  // the tail is the segment just created
  const std::uint64_t records = fresh ? 0 : last.records;
  const std::uint64_t offset = fresh ? format::kSegmentHeaderSize : last.sealed ? tail->capacity() : last.end_offset;
  slot->tail.store(records << kTailOffsetBits | offset, std::memory_order_relaxed);  // likewise
  // Release pairs with the acquire of head_ in publish().
  head_.store(slot, std::memory_order_release);
  if (writable) apply_retention_locked();
  return Status::OK();
}

Status TopicCore::start_empty() {
  auto mem = storage_->create_segment(0, options_.segment_bytes, shared_->now());
  if (!mem.ok()) return mem.status();
  auto seg = Segment::make(std::move(mem).value(), 0);
  if (!seg.ok()) return seg.status();
  std::lock_guard lk(mu_);
  segments_.push_back(*seg);
  slots_.push_back(std::make_unique<AppendSlot>());
  slots_.back()->segment.store(seg->get(), std::memory_order_relaxed);  // published by head_ below
  slots_.back()->tail.store(format::kSegmentHeaderSize, std::memory_order_relaxed);  // likewise
  {
    std::lock_guard sl(scan_mu_);
    scan_seg_ = *seg;
    scan_off_ = format::kSegmentHeaderSize;
  }
  // Release pairs with the acquire of head_ in publish().
  head_.store(slots_.back().get(), std::memory_order_release);
  return Status::OK();
}

Status TopicCore::await_durable(std::uint64_t seq, std::chrono::nanoseconds timeout) noexcept {
  return storage_->await_durable(seq, deadline_after(timeout));
}

void TopicCore::rebuild_dedup_locked() {
  if (!dedup_) return;
  // The window as the last publishes left it: every id in the log, oldest
  // first (remember() keeps the newest max_ids; find() checks ages). One
  // pass over the record headers, after recovery's CRC pass over the same
  // bytes (when it made one).
  for (const auto& seg : segments_) {
    const std::size_t cap = seg->capacity();
    std::size_t off = format::kSegmentHeaderSize;
    for (std::uint64_t seq = seg->first_seq(); off < cap; ++seq) {
      const std::uint32_t len = format::load_length(seg->base() + off);
      // A log taken from its clean-close record was not read at open: its
      // ids are read only where the record's framing holds, so that bad
      // lengths cannot send the walk astray (readers check the rest).
      if (persistence::check_record(seg->base(), cap, off, len, seq, false).kind != persistence::RecordCheck::kRecord)
        break;
      const RecordView r(seg->base() + off);
      if (!r.id().empty()) dedup_->remember(r.id(), r.sequence(), r.timestamp_ns());
      off += format::align_up(len & format::kLengthMask);
    }
  }
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
        std::fprintf(stderr, "conduit: topic '%s': out of memory for the dedup window\n", name_.c_str());
      }
    }
  }
  // A repeat completes like the first would have: durable on a kSync topic.
  if (sync_ && !nowait)
    if (Status s = storage_->await_durable(seq, std::chrono::steady_clock::time_point::max()); !s.ok()) return s;
  return seq;
}

inline bool TopicCore::publishable(const Message& m, std::size_t* length) const noexcept {
  if (m.payload.size() > options_.max_payload_bytes) return false;
  *length = format::encoded_size(m);
  return *length != 0 && *length - m.payload.size() <= format::kRecordHeaderSize + kMaxEnvelopeBytes;
}

Status TopicCore::unpublishable(const Message& m, std::string_view which) const {
  if (m.payload.size() > options_.max_payload_bytes)
    return Status::TooLarge(topic_error(name_, std::string(which) + "payload of " + std::to_string(m.payload.size()) +
                                                   " bytes is over max_payload_bytes (" +
                                                   std::to_string(options_.max_payload_bytes) + ")"));
  return Status::TooLarge(topic_error(name_, std::string(which) + envelope_too_large(m, kMaxEnvelopeBytes)));
}

// Defined before its two callers, which inline it: as a call, with the
// Result passed back through memory, it cost publish() about 2 ns.
template <std::size_t N, bool Sole>
inline Result<std::uint64_t> TopicCore::claim_and_write_as(std::span<const Message, N> ms, std::uint64_t bytes) noexcept {
  if (closed()) return Status::Closed(topic_error(name_, "engine is closed"));
  if (!read_only_.ok()) [[unlikely]] return read_only_;
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
      seg->ensure_zeroed(std::min(off + bytes + sizeof(std::uint32_t), capacity));
      for (std::size_t i = 0; i < ms.size(); ++i) {
        const Message& m = ms[i];
        std::byte* dst = seg->base() + off;
        const std::uint32_t word =
            format::encode_record(dst, m, seq + i, m.timestamp_ns != 0 ? m.timestamp_ns : now, crc_);
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

template <std::size_t N>
inline Result<std::uint64_t> TopicCore::claim_and_write(std::span<const Message, N> ms, std::uint64_t bytes) noexcept {
  // The single_producer path is its own function, so that the shared one
  // stays as it was (inlined, with no branch on the claim's kind).
  if (single_) [[unlikely]] return claim_sole(ms, bytes);
  return claim_and_write_as<N, false>(ms, bytes);
}

template <std::size_t N>
Result<std::uint64_t> TopicCore::claim_sole(std::span<const Message, N> ms, std::uint64_t bytes) noexcept {
  const SoleClaim how = enter_sole_claim();
  if (how == SoleClaim::kForeign) [[unlikely]]
    return Status::InvalidArgument(topic_error(name_, "single_producer: another thread publishes to it"));
  // A plain-store claim while nobody is stopping us (SoleProducer), else
  // the locked add, as every other topic.
  Result<std::uint64_t> r =
      how == SoleClaim::kSole ? claim_and_write_as<N, true>(ms, bytes) : claim_and_write_as<N, false>(ms, bytes);
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
  if (!seqs.empty() && seqs.size() < ms.size()) {
    r.status = Status::InvalidArgument(topic_error(name_, "publish_batch: " + std::to_string(seqs.size()) +
                                                              " sequences for " + std::to_string(ms.size()) +
                                                              " messages"));
    return r;
  }
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
    // Every message is checked before any is claimed: a bad one publishes none.
    std::size_t length = 0;
    for (std::size_t i = 0; i < ms.size(); ++i)
      if (!publishable(ms[i], &length)) [[unlikely]] {
        r.status = unpublishable(ms[i], "message " + std::to_string(i) + " of the batch: ");
        return r;
      }
    // Claims of at most half a segment (less its header), so that one always
    // fits an empty segment; the largest single record does (make()).
    const std::uint64_t most = (options_.segment_bytes - format::kSegmentHeaderSize) / 2;
    while (r.published < ms.size()) {
      const std::size_t first = r.published;
      std::size_t end = first;
      std::uint64_t bytes = 0;
      while (end < ms.size() && end - first < kMaxClaimRecords) {
        const std::uint64_t need = format::align_up(format::encoded_size(ms[end]));
        if (end > first && bytes + need > most) break;
        bytes += need;
        ++end;
      }
      auto seq = claim_and_write(ms.subspan(first, end - first), bytes);
      if (!seq.ok()) {
        r.status = seq.status();
        return r;
      }
      for (std::size_t i = first; i < end && !seqs.empty(); ++i) seqs[i] = *seq + (i - first);
      last = *seq + (end - first - 1);
      r.published = end;
    }
  }
  if (sync_) r.status = storage_->await_durable(last, std::chrono::steady_clock::time_point::max());
  return r;
}

Status TopicCore::roll_past(AppendSlot* slot, std::uint64_t tail_before) noexcept {
  const std::uint64_t off = tail_before & kTailOffsetMask;
  const std::uint64_t capacity = options_.segment_bytes;
  if (off <= capacity) {
    // The crosser: the first claim that did not fit. It claimed on the head
    // (claims on a retired slot start past the end), and a head is retired
    // only once sealed, so the segment is alive and this producer's to seal.
    // It seals without mu_, so claimed_locked() may wait for the count.
    // Relaxed: ordered by the acquire fetch_add in publish().
    Segment* seg = slot->segment.load(std::memory_order_relaxed);
    if (off < capacity) {
      seg->ensure_zeroed(off + sizeof(std::uint32_t));  // no later clear may cover the padding
      format::commit_length(seg->base() + off, format::kPaddingFlag | static_cast<std::uint32_t>(capacity - off));
    }
    seg->seal(tail_before >> kTailOffsetBits);
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
      // Relaxed: the tail is reset only under mu_; a crossing claim not seen
      // yet only sends this producer round to claim again.
      if ((slot->tail.load(std::memory_order_relaxed) & kTailOffsetMask) <= capacity) break;  // open
      // Crossed but not sealed yet: its crosser is sealing it.
      lk.unlock();
      sched_yield();
      lk.lock();
      continue;
    }
    if (ring_segments_ != 0 && segments_.size() >= ring_segments_) {
      if (droppable_locked(*segments_.front())) {
        // Read by nobody (no reader's pin; pins are only taken under mu_)
        // and held by nobody else (the scanner passed it and never comes
        // back): keep it to reuse as the next segment, which spares the
        // kernel zeroing fresh pages and a mapping per roll.
        if (!segments_.front()->pinned() && segments_.front().use_count() == 1) spare_ = std::move(segments_.front());
        segments_.pop_front();
        continue;
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
      continue;
    }
    auto next = next_segment_locked(seg->end_seq());
    if (!next.ok()) return next.status();
    AppendSlot* fresh = free_slot_locked();
    slot->retired_end = seg->end_seq();
    fresh->retired_end = kNotSealed;
    fresh->segment.store(next->get(), std::memory_order_relaxed);  // ordered by the release below
    // Release pairs with the acquire fetch_add in publish() on this slot.
    fresh->tail.store(format::kSegmentHeaderSize, std::memory_order_release);
    segments_.push_back(*next);
    // The segment before the one just sealed is settled: its pages are let
    // go below, after the lock (see there).
    if (segments_.size() >= 3) settled = segments_[segments_.size() - 3];
    seg->set_next(next->get());
    // Release pairs with the acquire of head_ in publish().
    head_.store(fresh, std::memory_order_release);
    readers_.wake_if_parked();  // readers waiting at the padding record
    if (remote_readers_ != nullptr) remote_readers_->wake_if_parked();
    apply_retention_locked();
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

Result<std::shared_ptr<Segment>> TopicCore::next_segment_locked(std::uint64_t first_seq) {
  if (spare_ != nullptr && spare_->capacity() == options_.segment_bytes &&
      storage_->reuse_segment(spare_->memory(), first_seq)) {
    spare_->reuse(first_seq);
    return std::move(spare_);
  }
  spare_.reset();
  auto mem = storage_->create_segment(first_seq, options_.segment_bytes, shared_->now());
  if (!mem.ok()) return mem.status();
  return Segment::make(std::move(mem).value(), first_seq);
}

void TopicCore::apply_retention_locked() {
  const bool interest = options_.retain_until_consumed;
  if (!interest && options_.retain_bytes == 0 && options_.retain_age.count() == 0 && options_.hard_cap_bytes == 0)
    return;
  const std::int64_t now = shared_->now();
  const auto age_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.retain_age).count();
  // The oldest committed interest: every record below it is consumed.
  std::uint64_t consumed = ~std::uint64_t{0};
  for (const auto& [key, seq] : interest_) consumed = std::min(consumed, seq);
  std::uint64_t cut_from = 0, cut_to = 0, cut_lost = 0;  // what the hard cap took from the interest
  std::map<std::string, std::uint64_t> open_lost;        // what it took from open work groups, by holder
  while (segments_.size() > 1) {
    const std::shared_ptr<Segment>& oldest = segments_.front();
    const std::uint64_t first = oldest->first_seq(), end = oldest->end_seq();
    if (end == kNotSealed || published() < end) break;  // a producer may still be writing into it
    const std::size_t held = segments_.size() * options_.segment_bytes;
    const bool over_bytes = options_.retain_bytes != 0 && held > options_.retain_bytes;
    // Every record of a segment was published before the next one was
    // created, so the next one's creation time bounds the oldest's age.
    const auto next_created = format::load<std::int64_t>(segments_[1]->base() + format::seg::kCreated);
    const bool too_old = age_ns != 0 && next_created != 0 && now - next_created > age_ns;
    // With interest on and no byte/age rule, consumed is enough.
    const bool by_rule = over_bytes || too_old || (interest && options_.retain_bytes == 0 && age_ns == 0);
    const bool everyone_done = !interest || consumed >= end;
    const bool over_cap = options_.hard_cap_bytes != 0 && held > options_.hard_cap_bytes;
    const bool free_to_go = by_rule && everyone_done && droppable_locked(*oldest);
    if (!free_to_go && !(over_cap && cuttable_locked(end))) break;
    if (!free_to_go) {
      // The cap wins over interest and over open work groups: count what was
      // not consumed yet (per record once: the interest's range covers every
      // group's, as a group's committed floor is at most its ack floor).
      std::uint64_t lost = interest && consumed < end ? end - std::max(first, consumed) : 0;
      std::uint64_t lowest = interest && consumed < end ? std::max(first, consumed) : end;  // for the message
      for (RetentionHolder* h : holders_) {
        const std::uint64_t at = h->hold_position();
        if (at >= end) continue;
        lowest = std::min(lowest, std::max(first, at));
        const std::uint64_t n = h->cut(end, oldest);
        open_lost[h->describe()] += n;
        lost = std::max(lost, n);
      }
      if (lost != 0) {
        if (cut_lost == 0) cut_from = lowest;
        cut_to = end;
        cut_lost += lost;
      }
    }
    segments_.pop_front();
    storage_->segment_dropped(first);
  }
  if (cut_lost == 0) return;
  ++cap_deletions_;
  cap_lost_records_ += cut_lost;
  std::string behind;
  for (const auto& [key, seq] : interest_)
    if (seq < cut_to) behind += " " + key + "@" + std::to_string(seq);
  for (const auto& [who, n] : open_lost)
    behind += " " + who + " (open: " + std::to_string(n) + " not acked, lost to it)";
  std::fprintf(stderr,
               "conduit: topic '%s': hard_cap_bytes (%zu) deleted records %llu..%llu not yet consumed by:%s\n",
               name_.c_str(), options_.hard_cap_bytes, static_cast<unsigned long long>(cut_from),
               static_cast<unsigned long long>(cut_to - 1), behind.c_str());
}

bool TopicCore::cuttable_locked(std::uint64_t end) const {
  for (RetentionHolder* h : holders_)
    if (h->hold_position() < end && !h->cuttable()) return false;
  return true;
}

void TopicCore::note_committed(const std::string& key, std::uint64_t seq) {
  if (!options_.retain_until_consumed) return;
  std::lock_guard lk(mu_);
  interest_[key] = seq;
  apply_retention_locked();
}

TopicStats TopicCore::stats() const noexcept {
  TopicStats st;
  st.published = published();
  std::lock_guard lk(mu_);
  st.earliest = segments_.empty() ? st.published : segments_.front()->first_seq();
  st.segments = segments_.size();
  st.cap_deletions = cap_deletions_;
  st.cap_lost_records = cap_lost_records_;
  return st;
}

std::uint64_t TopicCore::first_at_or_after_locked(std::int64_t time_ns) const {
  auto record_ts = [](const Segment& s, std::uint64_t i) {
    return format::load<std::int64_t>(s.base() + s.offset_of(i) + format::rec::kTimestamp);
  };
  // A segment's first record sits right after its header: no index needed.
  auto first_ts = [](const Segment& s) {
    return format::load<std::int64_t>(s.base() + format::kSegmentHeaderSize + format::rec::kTimestamp);
  };
  auto committed = [&](const Segment& s) -> std::uint64_t {
    const std::uint64_t sealed = s.sealed_count();
    if (sealed != kNotSealed) return sealed;
    std::uint64_t n = 0;  // the head: count committed records from the index
    while (n < s.max_records() && s.offset_of(n) != 0) ++n;
    return n;
  };
  // The last segment whose first record is stamped before `time_ns`...
  std::size_t lo = 0, hi = segments_.size();
  while (hi - lo > 1) {
    const std::size_t mid = (lo + hi) / 2;
    if (committed(*segments_[mid]) != 0 && first_ts(*segments_[mid]) < time_ns) lo = mid;
    else hi = mid;
  }
  // ...then the first record in it stamped at or after. Only that segment
  // needs its index (a recovered one gets it now; an unchecked one as its
  // records are checked, all of them here). Only checked records' stamps
  // count: a bad record ends the search, and the reader starting there
  // gets its error.
  Segment& s = *segments_[lo];
  s.index_for_readers();
  const std::uint64_t good = s.check_all();
  std::uint64_t a = 0, b = std::min(committed(s), good);
  while (a < b) {
    const std::uint64_t mid = (a + b) / 2;
    if (record_ts(s, mid) < time_ns) a = mid + 1;
    else b = mid;
  }
  return s.first_seq() + a;
}

AppendSlot* TopicCore::free_slot_locked() {
  const std::uint64_t done = published();
  AppendSlot* head = head_.load(std::memory_order_relaxed);
  for (auto& s : slots_)
    if (s.get() != head && s->retired_end != kNotSealed && done >= s->retired_end) return s.get();
  slots_.push_back(std::make_unique<AppendSlot>());
  return slots_.back().get();
}

bool TopicCore::droppable_locked(const Segment& oldest) const {
  // Work groups hold persisted topics too (their records must stay until
  // acked); subscribers of persisted topics do not: they are told the gap.
  const std::uint64_t end = oldest.end_seq();
  if (end == kNotSealed || published() < end) return false;  // a producer may still be writing into it
  for (RetentionHolder* h : holders_)
    if (h->hold_position() < end) return false;
  return true;
}

std::uint64_t TopicCore::published() const noexcept {
  std::lock_guard lk(scan_mu_);
  return advance_published_locked();
}

std::uint64_t TopicCore::advance_published_locked() const {
  // Relaxed: only this function, under scan_mu_, stores published_.
  std::uint64_t seq = published_.load(std::memory_order_relaxed);
  if (!scan_seg_) return seq;  // deleted: the segments are gone
  for (;;) {
    const Segment& s = *scan_seg_;
    // A producer sets its record's index entry last, after the record's
    // length: count a record only once its entry is set, so no segment is
    // dropped (or reused) before its last producer is done with it. The walk
    // reads the index, not the records: 4 bytes per record, and a reused
    // memory-only segment has stale bytes past its last commit.
    std::uint64_t i = seq - s.first_seq();
    const std::uint64_t from = i;
    while (s.offset_of(i) != 0) ++i;
    if (i != from) {
      const std::uint32_t last = s.offset_of(i - 1);
      const std::size_t end = last + format::align_up(format::load_length(s.base() + last) & format::kLengthMask);
      // Relaxed: only this function, under scan_mu_, writes it; readers want a threshold.
      published_bytes_.fetch_add(end - scan_off_, std::memory_order_relaxed);
      scan_off_ = end;
      seq = s.first_seq() + i;
    }
    if (seq < s.end_seq()) break;  // open (kNotSealed), or a record not committed yet
    Segment* next = s.next();
    if (next == nullptr) break;
    // `next` is not dropped: the scanner has not passed it yet.
    scan_seg_ = next->shared_from_this();
    scan_off_ = format::kSegmentHeaderSize;
  }
  // Release pairs with acquire loads of published_ by other threads.
  published_.store(seq, std::memory_order_release);
  return seq;
}

std::uint64_t TopicCore::claimed() const noexcept {
  std::lock_guard lk(mu_);
  if (segments_.empty()) return published();  // deleted
  return claimed_locked();
}

std::uint64_t TopicCore::claimed_locked() const noexcept {
  if (claims_end_ != kNotSealed) return claims_end_;  // closed: the tail counts refused claims too
  AppendSlot* slot = head_.load(std::memory_order_relaxed);
  // Relaxed: a snapshot; claims in flight may or may not be counted.
  return claims_end_of(*slot->segment.load(std::memory_order_relaxed), slot->tail.load(std::memory_order_relaxed));
}

std::uint64_t TopicCore::claims_end_of(const Segment& seg, std::uint64_t tail) const noexcept {
  std::uint64_t sealed = seg.sealed_count();
  if (sealed == kNotSealed && (tail & kTailOffsetMask) <= options_.segment_bytes)
    return seg.first_seq() + (tail >> kTailOffsetBits);
  // Crossed: the tail also counts claims that did not fit; the crosser is
  // sealing the segment with the count that did (it does not need mu_).
  while ((sealed = seg.sealed_count()) == kNotSealed) sched_yield();
  return seg.first_seq() + sealed;
}

const std::shared_ptr<Segment>* TopicCore::find_segment_locked(std::uint64_t first_seq) const {
  auto it = std::lower_bound(segments_.begin(), segments_.end(), first_seq,
                             [](const std::shared_ptr<Segment>& g, std::uint64_t s) { return g->first_seq() < s; });
  if (it == segments_.end() || (*it)->first_seq() != first_seq) return nullptr;
  return &*it;
}

std::size_t TopicCore::settled_bytes(std::uint64_t first_seq, std::uint64_t below) const {
  std::lock_guard lk(mu_);
  const auto* seg = find_segment_locked(first_seq);
  return seg == nullptr ? 0 : settled_bytes_of(**seg, below);
}

std::size_t TopicCore::settled_bytes_of(const Segment& seg, std::uint64_t below) {
  if (below >= seg.end_seq()) return seg.capacity();  // sealed and wholly below: padding and all
  if (below <= seg.first_seq()) return format::kSegmentHeaderSize;
  auto record_end = [&](std::size_t off) {
    return off + format::align_up(format::load_length(seg.base() + off) & format::kLengthMask);
  };
  if (!seg.indexed()) {
    // A recovered segment nobody has read yet: walk the record lengths.
    std::size_t off = format::kSegmentHeaderSize;
    for (std::uint64_t s = seg.first_seq(); s < below; ++s) off = record_end(off);
    return off;
  }
  // Every record below `below` is committed, so the last one's index entry is set.
  return record_end(seg.offset_of(below - 1 - seg.first_seq()));
}

std::vector<SegmentExtent> TopicCore::segment_extents() const {
  std::lock_guard lk(mu_);
  std::lock_guard sl(scan_mu_);
  const std::uint64_t done = advance_published_locked();
  std::vector<SegmentExtent> out;
  for (const auto& s : segments_) {
    const std::uint64_t sealed = s->sealed_count();
    if (sealed != kNotSealed) {
      if (s->first_seq() + sealed > done) return {};  // sealed past the published watermark
      out.push_back({s->first_seq(), sealed, s->capacity(), s->capacity(), true});
      continue;
    }
    // The one open segment is the scanner's, the last, and holds nothing past it.
    if (s != scan_seg_ || s != segments_.back()) return {};
    if (scan_off_ < s->capacity() && format::load_length(s->base() + scan_off_) != 0) return {};
    out.push_back({s->first_seq(), done - s->first_seq(), scan_off_, s->capacity(), false});
  }
  return out;
}

std::size_t TopicCore::drop_settled_pages(std::uint64_t first_seq, std::uint64_t below, std::size_t from) {
  std::shared_ptr<Segment> seg;  // keeps the mapping alive once the lock is let go
  std::size_t to = 0;
  {
    std::lock_guard lk(mu_);
    const auto* found = find_segment_locked(first_seq);
    if (found == nullptr) return from;
    seg = *found;
    to = settled_bytes_of(*seg, below) & ~(kPage - 1);
  }
  if (to <= from) return from;
  seg->drop_resident_range(from, to);
  return to;
}

WatermarkSource::PopulatedMark TopicCore::populate_head(PopulatedMark last, std::size_t ahead) {
  std::shared_ptr<Segment> seg;  // keeps the mapping alive once the lock is let go
  std::size_t from = 0, to = 0;
  {
    std::lock_guard lk(mu_);
    if (segments_.empty()) return last;  // deleted
    AppendSlot* slot = head_.load(std::memory_order_relaxed);
    // Relaxed, both: a hint of where the producers are; a stale one only
    // maps pages a little early or late. Under mu_ no roll replaces the head.
    if (slot->segment.load(std::memory_order_relaxed) != segments_.back().get()) return last;
    seg = segments_.back();
    const std::uint64_t tail = slot->tail.load(std::memory_order_relaxed) & kTailOffsetMask;
    if (tail >= seg->capacity()) return last;  // crossed its end: the roll is coming
    from = tail & ~(kPage - 1);
    if (last.first_seq == seg->first_seq()) from = std::max(from, last.to);
    to = std::min(seg->capacity(), (tail + ahead + kPage - 1) & ~(kPage - 1));
  }
  if (to <= from) return {seg->first_seq(), from};
  seg->populate_range(from, to);
  return {seg->first_seq(), to};
}

ZeroAhead TopicCore::zero_head(std::size_t ahead, std::size_t step) {
  std::shared_ptr<Segment> seg;  // keeps the mapping alive once the lock is let go
  std::size_t until = 0;
  {
    std::lock_guard lk(mu_);
    if (segments_.empty()) return ZeroAhead::kDone;  // deleted
    AppendSlot* slot = head_.load(std::memory_order_relaxed);
    // Relaxed, both: a hint of where the producers are (as populate_head);
    // a producer that gets past the zeros writes its own (zero_to()).
    if (slot->segment.load(std::memory_order_relaxed) != segments_.back().get()) return ZeroAhead::kAhead;
    seg = segments_.back();
    const std::uint64_t tail = slot->tail.load(std::memory_order_relaxed) & kTailOffsetMask;
    // Crossed its end: nothing more is written there, and the next head
    // comes from a zeroed spare or a zeroed roll.
    if (tail >= seg->capacity()) return ZeroAhead::kDone;
    until = tail + ahead;
  }
  return seg->zero_ahead(until, step);
}

std::uint64_t TopicCore::earliest() const noexcept {
  std::lock_guard lk(mu_);
  if (segments_.empty()) return published();  // deleted
  return segments_.front()->first_seq();
}

std::shared_ptr<Segment> TopicCore::segment_for(std::uint64_t seq, std::uint64_t* lost) const {
  std::lock_guard lk(mu_);
  *lost = 0;
  const auto& front = segments_.front();
  if (seq < front->first_seq()) {
    *lost = front->first_seq() - seq;
    // A segment recovered at open is indexed when a reader first needs it,
    // on this path too: else the reader waits at its first record forever.
    front->index_for_readers();
    return Segment::pin(front);
  }
  auto it = std::upper_bound(segments_.begin(), segments_.end(), seq,
                             [](std::uint64_t s, const std::shared_ptr<Segment>& g) { return s < g->first_seq(); });
  const auto& s = *(it - 1);
  if (seq >= s->end_seq()) return nullptr;  // sealed, and the next one is not there yet
  s->index_for_readers();
  return Segment::pin(s);
}

std::uint64_t TopicCore::attach(StartAt at, RetentionHolder* h) {
  std::lock_guard lk(mu_);
  std::uint64_t start = at.sequence;
  if (at.kind == StartAt::Kind::kEarliest) start = segments_.front()->first_seq();
  if (at.kind == StartAt::Kind::kLatest) start = claimed_locked();
  if (at.kind == StartAt::Kind::kTime) start = first_at_or_after_locked(at.time_ns);
  if (h != nullptr) {
    h->start_at(start);
    holders_.push_back(h);
  }
  return start;
}

void TopicCore::remove_holder(RetentionHolder* h) {
  {
    std::lock_guard lk(mu_);
    std::erase(holders_, h);
  }
  space_.wake_all();
}

Status TopicCore::add_user(HandleLife* life, const RetentionHolder* reader) {
  std::lock_guard lk(mu_);
  if (deleted()) return Status::NotFound(topic_error(name_, "was deleted"));
  users_.push_back({life, reader});
  return Status::OK();
}

void TopicCore::remove_user(HandleLife* life) {
  std::lock_guard lk(mu_);
  std::erase_if(users_, [life](const User& u) { return u.life == life; });
}

Status TopicCore::retire() {
  // A log opened read-only is left exactly as it is, deletion included.
  if (!read_only_.ok()) return read_only_;
  auto in_use = [this] {  // mu_ held
    return Status::Busy(topic_error(name_, std::to_string(users_.size()) + " subscribers or consumers are still open"));
  };
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
      return in_use();
    }
  }
  Segment* head = nullptr;
  {
    // In the documented order: groups_mu_, commit_mu_, mu_.
    std::lock_guard gl(groups_mu_);
    std::lock_guard cl(commit_mu_);
    std::lock_guard lk(mu_);
    // After stop_claims() the head is crossed but never sealed.
    if (claims_end_ != kNotSealed) return Status::Closed(topic_error(name_, "engine is closed"));
    if (!users_.empty()) return in_use();
    // Release pairs with the acquire in deleted(): from here on roll_past()
    // refuses, add_user() refuses, and a group's commit writes nothing.
    deleted_.store(true, std::memory_order_release);
    // Seal the head so that every later claim crosses its end and lands in
    // roll_past(), which now refuses. Acquire: as a producer's claim.
    AppendSlot* slot = head_.load(std::memory_order_relaxed);  // head_ changes only under mu_
    head = slot->segment.load(std::memory_order_relaxed);       // likewise
    const std::uint64_t capacity = options_.segment_bytes;
    const std::uint64_t t = slot->tail.fetch_add(capacity + 1, std::memory_order_acquire);
    const std::uint64_t off = t & kTailOffsetMask;
    if (off <= capacity) {
      // We crossed first: close the segment as a crossing producer would.
      if (off < capacity) {
        head->ensure_zeroed(off + sizeof(std::uint32_t));  // as a crossing producer does
        format::commit_length(head->base() + off, format::kPaddingFlag | static_cast<std::uint32_t>(capacity - off));
      }
      head->seal(t >> kTailOffsetBits);
    }
  }
  // A producer that crossed before us seals it without any lock; producers
  // that claimed room before the seal finish their records without one.
  while (head->sealed_count() == kNotSealed) sched_yield();
  while (published() < head->end_seq()) sched_yield();
  wake_all();
  // The final sync (a persisted topic): wakes sync publishers, lets go of the files.
  (void)storage_->close();
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
    AppendSlot* slot = head_.load(std::memory_order_relaxed);  // head_ changes only under mu_
    Segment* head = slot->segment.load(std::memory_order_relaxed);  // likewise
    const std::uint64_t t = slot->tail.fetch_add(options_.segment_bytes + 1, std::memory_order_acquire);
    // If a producer crossed first, no roll follows its seal (roll_past()
    // refuses once closed).
    end = claims_end_of(*head, t);
    claims_end_ = end;
  }
  // Producers that claimed before the push finish their records without any
  // lock; the final sync after this covers them.
  while (published() < end) sched_yield();
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
