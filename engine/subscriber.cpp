// Subscribers: one cursor each, reading records in place.
#include <chrono>
#include <utility>

#include "common/disk_names.h"
#include "common/format.h"
#include "engine/topic_core.h"

namespace conduit {
namespace detail {

class SubscriberCore final : public MiAllocated, public RetentionHolder {
 public:
  SubscriberCore(TopicCore* topic, SubscriberOptions options) : topic_(topic), options_(std::move(options)) {}
  ~SubscriberCore() override {
    // Once orphaned, the topic is gone (engine/handle_life.h).
    if (!counted_ || life_.orphaned()) return;
    if (options_.slow == SlowPolicy::kBlock) topic_->remove_holder(this);
    topic_->remove_user(&life_);
  }

  std::uint64_t hold_position() const noexcept override {
    // Acquire pairs with the release store in try_poll().
    return pos_.load(std::memory_order_acquire);
  }
  void start_at(std::uint64_t seq) noexcept override { set_start(seq); }
  std::string describe() const override {
    return options_.name.empty() ? "an unnamed subscriber" : "subscriber '" + options_.name + "'";
  }
  std::uint64_t lost_count() const noexcept override {
    return lost_.load(std::memory_order_relaxed);  // relaxed: a counter
  }
  ReaderInfo reader_info() const override {
    // kBlock only where it holds the ring (subscribe() made the rest lose-oldest).
    return {.kind = ReaderInfo::Kind::kSubscriber,
            .name = options_.name,
            .position = hold_position(),
            .lag = 0,
            .holds_ring = options_.slow == SlowPolicy::kBlock};
  }
  void set_start(std::uint64_t seq) noexcept {
    next_ = seq;
    // Relaxed: published to other threads by the topic's lock (attach()).
    pos_.store(seq, std::memory_order_relaxed);
  }

  // Reads into out[have, out.size()) after a poll that returned `have`
  // records from the current segment: stops at the segment's end or a loss,
  // so that the earlier views stay pinned (have > 0), and counts from there.
  PollResult try_poll(std::span<RecordView> out, std::size_t have = 0) noexcept;
  // try_poll()'s common case: the committed, checked records from off_ in
  // seg_ (off_ known), into out[count, ...), advancing count, seq and off_; stops before
  // anything else (the end of what is there, a skip, padding) for try_poll
  // to handle. The segment's fields in locals: each record's acquire load
  // would otherwise make the compiler load them again.
  // Whether it read any.
  bool read_run(std::span<RecordView> out, std::size_t& count, std::uint64_t& seq, std::uint64_t limit) noexcept;
  // poll()'s batching (SubscriberOptions::min_batch and linger).
  void linger(std::span<RecordView> out, PollResult& r) noexcept;

  bool ready() const noexcept;
  // Whether the next record is past the segment being read (or no segment is).
  bool at_segment_end() const noexcept {
    if (!seg_ || off_ == 0 || off_ >= seg_->capacity()) return true;
    return (format::load_length(seg_->base() + off_) & format::kPaddingFlag) != 0;
  }

  TopicCore* topic_;
  SubscriberOptions options_;
  std::shared_ptr<Segment> seg_;  // the segment being read; nullptr: look it up
  std::uint32_t off_ = 0;         // offset of next_ in seg_; 0: not known yet
  std::uint64_t next_ = 0;        // reader-local copy of pos_
  alignas(64) std::atomic<std::uint64_t> pos_{0};
  std::atomic<std::uint64_t> lost_{0};
  std::uint64_t rewound_ = 0;  // reader-local: told at the next poll (PollResult::rewound)
  HandleLife life_;
  bool counted_ = false;  // among the topic's users (add_user() succeeded)
  StreamGap gap_;  // reader-local: SubscriberOptions::stream_gap
};

bool SubscriberCore::read_run(std::span<RecordView> out, std::size_t& count, std::uint64_t& seq,
                              std::uint64_t limit) noexcept {
  const std::byte* const base = seg_->base();
  const std::size_t capacity = seg_->capacity();
  const std::uint64_t first = seg_->first_seq();
  const std::uint64_t checked = seg_->checked_count();  // one acquire load for the run
  const std::size_t had = count;
  std::uint32_t off = off_;
  while (count < out.size() && seq < limit && seq - first < checked && off < capacity) {
    // Acquire pairs with commit_length()'s release: the record's bytes are there.
    const std::uint32_t len = format::load_length(base + off);
    if (len == 0 || (len & (format::kPaddingFlag | format::kSkipFlag)) != 0) break;  // try_poll's cases
    out[count++] = RecordView(base + off);
    off += static_cast<std::uint32_t>(format::align_up(len & format::kLengthMask));
    ++seq;
  }
  off_ = off;
  return count != had;
}

PollResult SubscriberCore::try_poll(std::span<RecordView> out, std::size_t have) noexcept {
  PollResult r;
  r.count = have;
  r.rewound = std::exchange(rewound_, 0);
  std::uint64_t seq = next_;
  // Durable-only readers stop at the durable watermark; so does every reader
  // of a read-only log (it ends there, at the damage: the bytes after the
  // last intact record are not zero).
  const bool bounded = options_.durable_only || topic_->read_only();
  const std::uint64_t limit = bounded ? topic_->durable() : ~std::uint64_t{0};
  while (r.count < out.size() && seq < limit) {
    if (!seg_) {
      std::uint64_t lost = 0;
      auto s = topic_->segment_for(seq, &lost);
      if (!s) break;
      if (lost != 0) {
        if (r.count != 0) break;  // report the loss before the records after it, on the next poll
        seq += lost;
        r.lost += lost;
      }
      seg_ = std::move(s);
      off_ = 0;
    }
    // A record read from disk goes out only once checked (CRC32C and the
    // rest; Segment::check_through), and only then is its index entry
    // sure to be set (Segment::index_for_readers); a zero or padding word
    // where such a record should be is not taken for the segment's end.
    if (const std::uint64_t i = seq - seg_->first_seq(); !seg_->checked(i)) [[unlikely]] {
      Status s = seg_->check_through(i);
      if (!s.ok()) {
        if (r.count == 0 && r.lost == 0) r.status = std::move(s);  // else first what came before it
        break;
      }
    }
    if (off_ == 0) {
      off_ = seg_->offset_of(seq - seg_->first_seq());
      if (off_ == 0) {
        if (seq < seg_->end_seq()) break;  // not published yet
        // seg_ was the open head when we found it, and it was sealed before
        // `seq` fit: that record is the next segment's first.
        seg_.reset();
        continue;
      }
    }
    // The common case; where it stops, the next turn looks again, and the
    // code below handles what it stopped at.
    if (read_run(out, r.count, seq, limit)) continue;
    const std::byte* p = seg_->base() + off_;
    const std::uint32_t len = off_ < seg_->capacity() ? format::load_length(p) : format::kPaddingFlag;
    if (len == 0) break;
    // One test for both flags: the common record pays nothing for skips.
    if (len & (format::kPaddingFlag | format::kSkipFlag)) [[unlikely]] {
      if (format::is_skip(len)) {
        // An abandoned claim: its sequence is used, nothing goes out.
        off_ += static_cast<std::uint32_t>(format::align_up(len & format::kLengthMask));
        ++seq;
        ++r.skipped;
        continue;
      }
      // One poll reads from one segment, so its views stay pinned by seg_.
      if (r.count != 0) break;
      // Read to its end: its pages need not stay resident for us (a no-op
      // for memory-only topics; other readers fault them back if they need).
      seg_->drop_resident_pages();
      seg_.reset();
      if (options_.slow == SlowPolicy::kBlock) {
        // Release pairs with hold_position(): producers may drop what we left.
        pos_.store(seq, std::memory_order_release);
        topic_->notify_progress();
      }
      continue;
    }
    out[r.count++] = RecordView(p);
    off_ += static_cast<std::uint32_t>(format::align_up(len & format::kLengthMask));
    ++seq;
  }
  next_ = seq;
  // Release pairs with hold_position() and lag readers.
  pos_.store(seq, std::memory_order_release);
  if (r.lost != 0) lost_.fetch_add(r.lost, std::memory_order_relaxed);  // relaxed: a counter
  // Closed only once no publish can still succeed: one that claimed its
  // sequence before close() stopped claims returns OK, and its record must
  // be read (claims_end() stays kNotSealed until then).
  if (r.count == 0 && r.lost == 0 && topic_->closed()) r.closed = !ready() && seq >= topic_->claims_end();
  return r;
}

void SubscriberCore::linger(std::span<RecordView> out, PollResult& r) noexcept {
  const std::size_t want = std::min(options_.min_batch, out.size());
  if (r.count >= want || options_.linger.count() <= 0) return;
  // A few looks over the linger: each one at the head costs the producer a
  // cache-line transfer, so look rarely, but often enough to return soon
  // after the batch is there.
  constexpr int kLooks = 4;
  const auto step = options_.linger / kLooks;
  auto next = std::chrono::steady_clock::now();  // real time: this thread's pause (wait.h, deadline_after)
  for (int look = 0; look < kLooks && r.count < want; ++look) {
    next += step;
    while (std::chrono::steady_clock::now() < next) {
      if (topic_->closed()) return;  // hand over what we have; the next poll sees the close
      if (options_.wait == WaitStrategy::kBusySpin) {
        for (int i = 0; i < 16; ++i) backoff_cpu_relax();
      } else {
        backoff_yield();
      }
    }
    const PollResult more = try_poll(out, r.count);
    r.skipped += more.skipped;
    if (more.count == r.count) {
      // Nothing new: at a segment's end (the rest would need the next
      // segment, which this batch cannot span) the batch is done.
      if (at_segment_end()) return;
      continue;
    }
    r.count = more.count;
  }
}

// Whether a poll could return something now (a cheap check for waiting).
bool SubscriberCore::ready() const noexcept {
  if ((options_.durable_only || topic_->read_only()) && next_ >= topic_->durable()) return false;
  // No segment: past a sealed one whose successor is not there yet (the
  // producer that rolls wakes readers), or a durable-only reader that stopped
  // at the durable watermark before looking one up (let try_poll look).
  if (!seg_) return options_.durable_only;
  // Waiting for the record at next_, whose offset is not known yet (or
  // whose check is still to be done).
  if (off_ == 0) {
    const std::uint64_t i = next_ - seg_->first_seq();
    return next_ >= seg_->end_seq() || seg_->offset_of(i) != 0 || seg_->unchecked_record(i);
  }
  if (off_ >= seg_->capacity()) return true;  // at the end: let try_poll move on
  return format::load_length(seg_->base() + off_) != 0;
}

}  // namespace detail

detail::HandleLife& detail::life_of(Subscriber& s) noexcept { return s.core_->life_; }

Subscriber::Subscriber(std::unique_ptr<detail::SubscriberCore> core) : core_(std::move(core)) {}
Subscriber::~Subscriber() = default;

PollResult Subscriber::try_poll(std::span<RecordView> out) noexcept {
  detail::HandleCall call(core_->life_);
  if (!call) return detail::engine_gone();
  return core_->try_poll(out);
}

PollResult Subscriber::poll(std::span<RecordView> out, std::chrono::nanoseconds timeout) noexcept {
  detail::HandleCall call(core_->life_);
  if (!call) return detail::engine_gone();
  core_->gap_.wait();
  PollResult r = core_->try_poll(out);
  core_->gap_.note(r.count, out.size(), core_->options_.stream_gap);
  if (r.count != 0) core_->linger(out, r);
  if (r.count != 0 || r.lost != 0 || r.rewound != 0 || r.closed || !r.status.ok()) return r;
  detail::TopicCore* topic = core_->topic_;
  detail::Backoff backoff(core_->options_.wait, topic->readers_lot(), topic->park_timeout(),
                          detail::deadline_after(timeout));
  auto ready = [&] { return topic->closed() || core_->ready(); };
  std::uint64_t skipped = r.skipped;  // polls that only stepped over skip records wait on
  while (backoff.idle(ready)) {
    r = core_->try_poll(out);
    r.skipped = skipped += r.skipped;
    if (r.count != 0) core_->linger(out, r);
    if (r.count != 0 || r.lost != 0 || r.rewound != 0 || r.closed || !r.status.ok()) return r;
  }
  return r;
}

std::uint64_t Subscriber::position() const noexcept { return core_->hold_position(); }
std::uint64_t Subscriber::lag() const noexcept {
  if (core_->life_.orphaned()) return 0;
  const std::uint64_t published = core_->topic_->published();
  const std::uint64_t pos = position();
  return published > pos ? published - pos : 0;
}
std::uint64_t Subscriber::lost() const noexcept {
  return core_->lost_.load(std::memory_order_relaxed);
}  // relaxed: a counter
const SubscriberOptions& Subscriber::options() const noexcept { return core_->options_; }

Status Subscriber::commit() { return commit(position()); }

Status Subscriber::commit(std::uint64_t seq) {
  detail::HandleCall call(core_->life_);
  if (!call)
    return Status::Closed(core_->options_.name.empty()
                              ? "subscriber: its engine was destroyed"
                              : "subscriber '" + core_->options_.name + "': its engine was destroyed");
  if (core_->options_.name.empty()) return Status::InvalidArgument("only a named subscriber can commit its position");
  if (seq > position())
    return Status::InvalidArgument("subscriber '" + core_->options_.name + "' cannot commit " + std::to_string(seq) +
                                   ", past its position " + std::to_string(position()));
  const std::string key = disk::subscriber_key(core_->options_.name);
  if (Status s = core_->topic_->storage().store_position(key, seq); !s.ok()) return s;
  core_->topic_->note_committed(key, seq);
  return Status::OK();
}

Result<std::unique_ptr<Subscriber>> Topic::subscribe(SubscriberOptions options) {
  if (core_ == nullptr) return gone();
  if (core_->closed()) return Status::Closed("topic '" + core_->name() + "': engine is closed");
  bool stored_position = false;
  if (!options.name.empty()) {
    if (Status s = validate_topic_name(options.name); !s.ok())
      return Status::InvalidArgument("subscriber name: " + s.message());
    if (core_->options().durability != Durability::kMemory) {
      auto stored = core_->storage().load_position(disk::subscriber_key(options.name));
      if (!stored.ok()) return stored.status();
      stored_position = stored->has_value();
      if (stored_position) options.start = StartAt::at(**stored);
    }
  }
  if (options.durable_only && core_->options().durability == Durability::kMemory)
    return Status::InvalidArgument("topic '" + core_->name() + "': durable_only needs a persisted topic");
  auto core = std::make_unique<detail::SubscriberCore>(core_, std::move(options));
  if (!core->options_.name.empty()) core->life_.key = disk::subscriber_key(core->options_.name);
  // Only blocking subscribers of memory-only topics hold the ring. Settled
  // before add_user(): from then on the counters' refresher reads the
  // options (reader_info(), under the topic's lock, which this write would
  // not hold).
  const bool holds = core->options_.slow == SlowPolicy::kBlock && core_->options().durability == Durability::kMemory;
  if (!holds) core->options_.slow = SlowPolicy::kLoseOldest;
  if (Status s = core_->add_user(&core->life_, core.get()); !s.ok()) return s;
  core->counted_ = true;
  if (stored_position) core->rewound_ = core_->take_rewound(disk::subscriber_key(core->options_.name));
  core->set_start(core_->attach(core->options_.start, holds ? core.get() : nullptr));
  std::unique_ptr<Subscriber> sub(new Subscriber(std::move(core)));
  if (core_->options().retain_until_consumed && !sub->options().name.empty() && !stored_position) {
    // Interest retention: a new named subscriber counts from its start on.
    if (Status s = sub->commit(); !s.ok()) return s;
  }
  return sub;
}

}  // namespace conduit
