#include <algorithm>

#include "engine/work_group_core.h"
#include "persistence/format.h"

namespace conduit {
namespace detail {

GroupCore::GroupCore(TopicCore* topic, std::string name, WorkGroupOptions options)
    : topic_(topic),
      name_(std::move(name)),
      options_(options),
      mask_(options.max_in_flight - 1),
      handle_(this),
      acked_(options.max_in_flight),  // value-initialized to 0; published by the topic's lock in attach()
      attempts_(options.max_in_flight) {}

GroupCore::~GroupCore() = default;

void GroupCore::start_at(std::uint64_t seq) noexcept {
  // Relaxed: called under the topic's lock before any consumer exists.
  next_.store(seq, std::memory_order_relaxed);
  floor_.store(seq, std::memory_order_relaxed);
}

void GroupCore::skip_to(std::uint64_t earliest) noexcept {
  // Relaxed: no consumer exists yet; the group is published to them by the
  // topic's groups mutex, as in start_at().
  const std::uint64_t start = floor_.load(std::memory_order_relaxed);
  if (start >= earliest) return;
  next_.store(earliest, std::memory_order_relaxed);
  floor_.store(earliest, std::memory_order_relaxed);
  lost_.store(earliest - start, std::memory_order_relaxed);
}

std::uint64_t GroupCore::take_lost() noexcept {
  // Relaxed check first: almost always 0. acq_rel exchange: one poll takes it.
  if (lost_.load(std::memory_order_relaxed) == 0) return 0;
  return lost_.exchange(0, std::memory_order_acq_rel);
}

bool GroupCore::deliver(std::uint64_t seq, const std::shared_ptr<Segment>& seg, std::uint32_t attempt,
                        Delivery* d) noexcept {
  // Every record's producer sets its index entry after committing it.
  const std::uint32_t off = seg->offset_of(seq - seg->first_seq());
  if (off == 0) return false;
  d->record = RecordView(seg->base() + off);
  d->sequence = seq;
  d->attempt = attempt;
  return true;
}

std::size_t GroupCore::claim(std::span<Delivery> out, std::shared_ptr<Segment>& seg) noexcept {
  std::size_t n = 0;
  std::uint64_t seq = 0;
  // Redeliveries first. Their records are held by the floor, so their
  // segment is still in the topic.
  while (n < out.size() && redeliver_.try_dequeue(seq)) {
    std::uint64_t lost = 0;
    auto s = topic_->segment_for(seq, &lost);
    // Relaxed: the attempt count is only touched by the consumer that holds the sequence.
    const std::uint32_t attempt = attempts_[seq & mask_].load(std::memory_order_relaxed) + 1;
    if (!s || lost != 0 || !deliver(seq, s, attempt, &out[n])) {
      redeliver_.enqueue(seq);  // cannot happen while the floor holds it; never drop a record
      break;
    }
    attempts_[seq & mask_].store(attempt, std::memory_order_relaxed);
    ++n;
    // Relaxed: a statistic.
    redelivered_.fetch_add(1, std::memory_order_relaxed);
  }
  while (n < out.size()) {
    // Acquire pairs with the release CAS below by other consumers.
    seq = next_.load(std::memory_order_acquire);
    // Acquire pairs with the release CAS in advance_floor().
    if (seq >= floor_.load(std::memory_order_acquire) + options_.max_in_flight) break;  // window full
    if (!seg || seq < seg->first_seq() || seq >= seg->end_seq()) {
      std::uint64_t lost = 0;
      seg = topic_->segment_for(seq, &lost);
      if (!seg) break;
      if (lost != 0) {
        // `seq` is stale: since we read it, other consumers claimed and
        // acked past it and the ring dropped it. The next poll reads next_ again.
        seg.reset();
        break;
      }
    }
    Delivery d;
    if (!deliver(seq, seg, 1, &d)) break;  // not published yet
    // acq_rel: acquire pairs with other consumers' releases; release makes
    // the claim visible before this consumer reads the record.
    if (next_.compare_exchange_weak(seq, seq + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      // Relaxed: only the holder of `seq` touches its attempt count.
      attempts_[seq & mask_].store(1, std::memory_order_relaxed);
      out[n++] = d;
    }
  }
  return n;
}

bool GroupCore::maybe_ready(const std::shared_ptr<Segment>& cached) const noexcept {
  if (redeliver_.size_approx() != 0) return true;
  // Relaxed: a hint; claim() re-checks with acquire.
  const std::uint64_t seq = next_.load(std::memory_order_relaxed);
  std::shared_ptr<Segment> seg = cached;
  if (!seg || seq < seg->first_seq() || seq >= seg->end_seq()) {
    // Not in the consumer's segment: look it up. No segment (past a sealed
    // one whose successor never came: close refused the roll) means
    // nothing to read, so that a closed group can report closed.
    std::uint64_t lost = 0;
    seg = topic_->segment_for(seq, &lost);
    if (!seg || lost != 0) return lost != 0;
  }
  return seg->offset_of(seq - seg->first_seq()) != 0;
}

void GroupCore::ack(std::uint64_t seq) noexcept {
  // Release pairs with the acquire load in advance_floor().
  acked_[seq & mask_].store(seq + 1, std::memory_order_release);
  // Two consumers acking neighbours must not both miss the other's store
  // when they read the floor's slots (store-load order): this fence pairs
  // with the same fence in every other ack().
  std::atomic_thread_fence(std::memory_order_seq_cst);
  advance_floor();
}

void GroupCore::nack(std::uint64_t seq) noexcept {
  redeliver_.enqueue(seq);
  topic_->readers_lot().wake_if_parked();
}

void GroupCore::advance_floor() noexcept {
  // Acquire pairs with the release CAS below by other threads.
  std::uint64_t f = floor_.load(std::memory_order_acquire);
  const std::uint64_t before = f;
  // Acquire pairs with the release store in ack().
  while (acked_[f & mask_].load(std::memory_order_acquire) == f + 1) {
    // Release pairs with the acquire loads of floor_ (claim(), hold_position()).
    if (floor_.compare_exchange_weak(f, f + 1, std::memory_order_release, std::memory_order_acquire)) ++f;
  }
  if (f != before) topic_->notify_progress();
}

WorkGroupStats GroupCore::stats() const noexcept {
  WorkGroupStats s;
  // Relaxed loads: a snapshot for monitoring.
  s.next = next_.load(std::memory_order_relaxed);
  s.ack_floor = floor_.load(std::memory_order_relaxed);
  s.redelivered = redelivered_.load(std::memory_order_relaxed);
  s.pending_redelivery = redeliver_.size_approx();
  return s;
}

// One consumer: its cached segment and its wait strategy.
class ConsumerCore : public MiAllocated {
 public:
  ConsumerCore(GroupCore* g, ConsumerOptions o) : group_(g), options_(std::move(o)) {}
  GroupCore* group_;
  ConsumerOptions options_;
  std::shared_ptr<Segment> seg_;
};

}  // namespace detail

const std::string& WorkGroup::name() const noexcept { return core_->name(); }
WorkGroupStats WorkGroup::stats() const noexcept { return core_->stats(); }
std::uint64_t WorkGroup::lag() const noexcept {
  const std::uint64_t published = core_->topic()->published();
  const std::uint64_t floor = core_->hold_position();
  return published > floor ? published - floor : 0;
}

Status WorkGroup::commit() {
  return core_->topic()->storage().store_position("group-" + core_->name(), core_->hold_position());
}

Result<std::unique_ptr<Consumer>> WorkGroup::consumer(ConsumerOptions options) {
  if (core_->topic()->closed()) return Status::Closed("work group '" + core_->name() + "': engine is closed");
  return std::unique_ptr<Consumer>(new Consumer(std::make_unique<detail::ConsumerCore>(core_, std::move(options))));
}

Consumer::Consumer(std::unique_ptr<detail::ConsumerCore> core) : core_(std::move(core)) {}
Consumer::~Consumer() = default;

PollResult Consumer::try_poll(std::span<Delivery> out) noexcept {
  PollResult r;
  r.lost = core_->group_->take_lost();
  r.count = core_->group_->claim(out, core_->seg_);
  // Closed only once no publish is still in flight (see Subscriber::try_poll).
  if (r.count == 0 && core_->group_->topic()->closed())
    r.closed = !core_->group_->maybe_ready(core_->seg_) && core_->group_->stats().next >= core_->group_->topic()->claimed();
  return r;
}

PollResult Consumer::poll(std::span<Delivery> out, std::chrono::nanoseconds timeout) noexcept {
  PollResult r = try_poll(out);
  if (r.count != 0 || r.lost != 0 || r.closed) return r;
  detail::TopicCore* topic = core_->group_->topic();
  detail::Backoff backoff(core_->options_.wait, topic->readers_lot(), topic->park_timeout(),
                          detail::deadline_after(timeout));
  auto ready = [&] { return topic->closed() || core_->group_->maybe_ready(core_->seg_); };
  while (backoff.idle(ready)) {
    r = try_poll(out);
    if (r.count != 0 || r.closed) return r;
  }
  return r;
}

void Consumer::ack(const Delivery& d) noexcept { core_->group_->ack(d.sequence); }
void Consumer::nack(const Delivery& d) noexcept { core_->group_->nack(d.sequence); }

}  // namespace conduit
