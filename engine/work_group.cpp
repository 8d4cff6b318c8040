#include <sched.h>

#include <algorithm>
#include <functional>
#include <thread>

#include "common/disk_names.h"
#include "common/format.h"
#include "common/wait.h"
#include "engine/work_group_core.h"

namespace conduit {
namespace detail {
namespace {

// Jitter only needs a cheap, thread-local uniform source.
double uniform01() noexcept {
  static std::atomic<std::uint64_t> seeds{0x9e3779b97f4a7c15ull};
  // Relaxed: any distinct value will do as a seed.
  thread_local std::uint64_t x = seeds.fetch_add(0x9e3779b97f4a7c15ull, std::memory_order_relaxed);
  x += 0x9e3779b97f4a7c15ull;  // splitmix64
  std::uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

}  // namespace

GroupCore::GroupCore(TopicCore* topic, std::string name, WorkGroupOptions options, GroupState restored,
                     std::shared_ptr<StateJournal> journal)
    : topic_(topic),
      name_(std::move(name)),
      options_(std::move(options)),
      mask_(options_.max_in_flight - 1),
      handle_(new WorkGroup(this, name_)),
      restored_(std::move(restored)),
      // Value-initialized to 0; published by the topic's lock in attach().
      acked_(options_.max_in_flight),
      word_(options_.max_in_flight),
      seq_(options_.max_in_flight),
      attempts_(options_.max_in_flight),
      deadline_(options_.max_in_flight),
      first_failure_(options_.max_in_flight),
      owner_(options_.max_in_flight),
      journal_(std::move(journal)),
      journal_waits_(topic->options().durability == Durability::kSync) {
  if (!restored_.entries.empty()) restored_end_ = restored_.entries.back().seq + 1;
  if (options_.ack_timeout.count() > 0) {
    // Ack deadlines are checked every ack_timeout at least (run_timers()).
    next_scan_ = due_after(now(), options_.ack_timeout.count());
    // Relaxed: published by the topic's lock in attach(), like the slots.
    next_due_.store(next_scan_, std::memory_order_relaxed);
  }
}

GroupCore::~GroupCore() {
  // WorkGroup* handles may outlive the engine: the shell answers kClosed.
  handle_->core_ = nullptr;
  keep_forever(handle_);
}

void GroupCore::zombie_segments(std::vector<std::shared_ptr<Segment>>* out) {
  std::lock_guard lk(zombies_mu_);
  for (const Zombie& z : zombies_) out->push_back(z.segment);
}

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
  lost_total_.store(earliest - start, std::memory_order_relaxed);
}

std::uint64_t GroupCore::take_lost() noexcept {
  // Relaxed check first: almost always 0. acq_rel exchange: one poll takes it.
  if (lost_.load(std::memory_order_relaxed) == 0) return 0;
  return lost_.exchange(0, std::memory_order_acq_rel);
}

std::uint64_t GroupCore::cut(std::uint64_t end, const std::shared_ptr<Segment>& seg) noexcept {
  // 1. No new claim below `end`: next_ jumps there. Claims made before are
  //    the slots of [floor, claimed), distinct (claimed <= floor + window).
  //    acq_rel: acquire pairs with the consumers' claim CASes (their slots'
  //    hand-outs are then visible below, or come after); release: as theirs.
  std::uint64_t claimed = next_.load(std::memory_order_acquire);
  while (claimed < end &&
         !next_.compare_exchange_weak(claimed, end, std::memory_order_acq_rel, std::memory_order_acquire)) {}
  // 2. End each claimed record below `end`. Acquire pairs with the release
  //    CAS in advance_floor(): everything below `from` is done.
  const std::uint64_t from = floor_.load(std::memory_order_acquire);
  std::uint64_t lost = 0;
  for (std::uint64_t s = from; s < std::min(claimed, end); ++s) lost += cut_slot(s, seg) ? 1 : 0;
  // 3. Move the floor: over [from, claimed) (each slot now done or ended)...
  advance_floor();
  if (claimed < end) {
    // ...then over [claimed, end), never handed out: all lost. The floor
    // stopped at `claimed` (its slot holds an older sequence), and only
    // this thread moves it past. Until this store next_ may be more than a
    // window above the floor: claims wait (window full), and the scans
    // (timers, stats, snapshot) look at one window from the floor only.
    lost += end - claimed;
    std::uint64_t f = claimed;
    // Release pairs with the acquire loads of floor_ (claim(), hold_position()).
    floor_.compare_exchange_strong(f, end, std::memory_order_release, std::memory_order_relaxed);
    advance_floor();
    topic_->notify_progress();
    topic_->readers_lot().wake_if_parked();  // consumers waiting on a full window
  }
  if (lost == 0) return 0;
  // Relaxed: counters; the poll that takes lost_ reports it.
  lost_.fetch_add(lost, std::memory_order_relaxed);
  lost_total_.fetch_add(lost, std::memory_order_relaxed);
  // Relaxed: hints read by claim() and try_poll(); their work is locked.
  purge_timers_.store(true, std::memory_order_relaxed);
  commit_wanted_.store(true, std::memory_order_relaxed);
  return lost;
}

bool GroupCore::cut_slot(std::uint64_t seq, const std::shared_ptr<Segment>& seg) noexcept {
  const std::size_t i = seq & mask_;
  for (;;) {
    // Acquire pairs with finish()'s release: done (acked, dead-lettered).
    if (acked_[i].load(std::memory_order_acquire) == seq + 1) return false;
    // Acquire pairs with the releases that moved the slot to out/waiting.
    std::uint64_t w = word_[i].load(std::memory_order_acquire);
    const std::uint64_t state = w & kStateMask;
    if (state == kOut) {
      // Its consumer may still read the record: a zombie keeps `seg` mapped
      // until it answers (refused) or goes, as for an ack timeout.
      // Relaxed: ordered after the word's acquire; the CAS validates it.
      const void* owner = owner_[i].load(std::memory_order_relaxed);
      add_zombie({seq, w >> 2, owner, Segment::pin(seg)});
    }
    if (state == kOut || state == kWaiting) {
      // acq_rel: acquire as an ack's CAS (the slot is ours now); release
      // orders the end before acked_ below and the floor's move.
      if (word_[i].compare_exchange_strong(w, (w & ~kStateMask) | kIdle, std::memory_order_acq_rel,
                                           std::memory_order_relaxed)) {
        // Release pairs with the acquire load in advance_floor().
        acked_[i].store(seq + 1, std::memory_order_release);
        return true;
      }
      if (state == kOut) end_zombies([&](const Zombie& z) { return z.seq == seq && z.lease == (w >> 2); });
      continue;  // answered meanwhile: look again
    }
    // Busy (a failure or a redelivery under way), or claimed and not handed
    // out yet, or acked with finish() to come: a few stores away, by a
    // thread that takes no lock we hold. Wait for it.
    sched_yield();
  }
}

void GroupCore::purge_cut_timers() noexcept {
  std::unique_lock lk(timers_mu_, std::try_to_lock);
  if (!lk.owns_lock()) return;  // another consumer runs the timers; this poll or the next comes back
  // acq_rel: one purge per flag; acquire pairs with nothing in particular
  // beyond the slots' own acquire loads below.
  if (!purge_timers_.exchange(false, std::memory_order_acq_rel)) return;
  std::erase_if(timers_, [&](const Timer& t) {
    const std::size_t i = t.seq & mask_;
    // Acquire pairs with cut()'s CAS; relaxed seq_: as in the redelivery.
    const std::uint64_t w = word_[i].load(std::memory_order_acquire);
    return (w & kStateMask) != kWaiting || seq_[i].load(std::memory_order_relaxed) != t.seq;
  });
  std::make_heap(timers_.begin(), timers_.end(), std::greater<>{});
  scheduled_.store(timers_.size(), std::memory_order_relaxed);  // relaxed: a statistic, written under timers_mu_
  const std::int64_t heap_due = timers_.empty() ? kNever : timers_.front().due;
  // Relaxed: a hint (see schedule()).
  next_due_.store(std::min(heap_due, next_scan_), std::memory_order_relaxed);
}

void GroupCore::commit_after_cut() noexcept {
  // Relaxed check first: almost always false. acq_rel exchange: one poll commits.
  if (!commit_wanted_.load(std::memory_order_relaxed) || !commit_wanted_.exchange(false, std::memory_order_acq_rel))
    return;
  if (!journal_) return;  // not persisted
  if (Status s = commit(); !s.ok() && s.code() != Code::kNotFound)
    topic_->shared().say(LogLevel::kError, "work group '" + name_ + "' of topic '" + topic_->name() +
                                               "': storing its state after the hard cap's cut: " + s.to_string());
}

bool GroupCore::deliver(std::uint64_t seq, const std::shared_ptr<Segment>& seg, std::uint32_t attempt, Delivery* d,
                        Status* error) noexcept {
  const std::uint64_t i = seq - seg->first_seq();
  // A record read from disk goes out only once checked (CRC32C and the rest).
  if (!seg->checked(i)) [[unlikely]] {
    if (Status s = seg->check_through(i); !s.ok()) {
      *error = std::move(s);
      return false;
    }
  }
  // Every record's producer sets its index entry after committing it.
  const std::uint32_t off = seg->offset_of(i);
  if (off == 0) return false;
  d->record = RecordView(seg->base() + off);
  d->sequence = seq;
  d->attempt = attempt;
  return true;
}

void GroupCore::hand_out(std::size_t i, std::int64_t deadline, const void* owner, Delivery* d) noexcept {
  // Relaxed stores: published by the release store of the word below.
  seq_[i].store(d->sequence, std::memory_order_relaxed);
  owner_[i].store(owner, std::memory_order_relaxed);
  attempts_[i].store(d->attempt, std::memory_order_relaxed);
  deadline_[i].store(deadline, std::memory_order_relaxed);
  // Relaxed: nobody else writes an idle or waiting word; this thread won the
  // slot by the claim CAS or by dequeuing it.
  const std::uint64_t lease = (word_[i].load(std::memory_order_relaxed) >> 2) + 1;
  d->lease = lease;
  // Release pairs with the acquire CAS in ack()/fail() and the scan in run_timers().
  word_[i].store(lease << 2 | kOut, std::memory_order_release);
}

const GroupState::Entry* GroupCore::restored(std::uint64_t seq) const noexcept {
  auto it = std::lower_bound(restored_.entries.begin(), restored_.entries.end(), seq,
                             [](const GroupState::Entry& e, std::uint64_t s) { return e.seq < s; });
  return it != restored_.entries.end() && it->seq == seq ? &*it : nullptr;
}

std::size_t GroupCore::claim(std::span<Delivery> out, std::shared_ptr<Segment>& seg, const void* owner,
                             Status* error) noexcept {
  const std::int64_t deadline = prepare_claim();
  std::size_t n = claim_redeliveries(out, deadline, owner, error);
  n += claim_next(out.subspan(n), seg, deadline, owner, error);
  if (n != 0) *error = Status::OK();  // those first; the bad record stops the next poll
  return n;
}

std::int64_t GroupCore::prepare_claim() noexcept {
  // Relaxed: a hint; run_timers() works under timers_mu_.
  const std::int64_t due = next_due_.load(std::memory_order_relaxed);
  const bool timeouts = options_.ack_timeout.count() > 0;
  std::int64_t t = 0;
  if (timeouts || due != kNever) {
    t = now();
    if (t >= due) run_timers(t);
  }
  // Relaxed: a hint; the purge works under timers_mu_.
  if (purge_timers_.load(std::memory_order_relaxed)) [[unlikely]]
    purge_cut_timers();
  return timeouts ? due_after(t, options_.ack_timeout.count()) : kNever;
}

std::size_t GroupCore::claim_redeliveries(std::span<Delivery> out, std::int64_t deadline, const void* owner,
                                          Status* error) noexcept {
  std::size_t n = 0;
  std::uint64_t seq = 0;
  // Redeliveries first. Their records are held by the floor, so their
  // segment is still in the topic, unless the hard cap took them.
  while (n < out.size() && redeliver_.try_dequeue(seq)) {
    std::uint64_t lost = 0;
    auto s = topic_->segment_for(seq, &lost);
    if (lost != 0) continue;  // the hard cap took it: cut() ended its slot, and counted it
    const std::size_t i = seq & mask_;
    // Acquire pairs with the release that left the slot waiting
    // (settle_failure(), restore_waiting()) and with cut()'s CAS.
    std::uint64_t w = word_[i].load(std::memory_order_acquire);
    // Relaxed: written before that release; the CAS below checks the word
    // did not change since, so seq_ is this wait's. Another sequence in the
    // slot, or no wait: the hard cap took `seq` (and the floor moved on).
    if ((w & kStateMask) != kWaiting || seq_[i].load(std::memory_order_relaxed) != seq) continue;
    // Acquire: this thread now owns the slot's fields (see the invariants).
    if (!word_[i].compare_exchange_strong(w, (w & ~kStateMask) | kBusy, std::memory_order_acquire,
                                          std::memory_order_relaxed))
      continue;  // cut() took it meanwhile
    // Relaxed: ordered by the CAS's acquire.
    const std::uint32_t attempt = attempts_[i].load(std::memory_order_relaxed) + 1;
    if (!s || !deliver(seq, s, attempt, &out[n], error)) {
      // Cannot happen while the slot waits (its record was delivered
      // before); never drop a record: put it back.
      word_[i].store(w, std::memory_order_release);  // release: as settle_failure()'s
      redeliver_.enqueue(seq);
      break;
    }
    hand_out(i, deadline, owner, &out[n]);
    ++n;
    // Relaxed: a statistic.
    redelivered_.fetch_add(1, std::memory_order_relaxed);
  }
  return n;
}

std::size_t GroupCore::claim_next(std::span<Delivery> out, std::shared_ptr<Segment>& seg, std::int64_t deadline,
                                  const void* owner, Status* error) noexcept {
  std::size_t n = 0;
  while (n < out.size()) {
    // Acquire pairs with the release CAS below by other consumers.
    std::uint64_t seq = next_.load(std::memory_order_acquire);
    // Acquire pairs with the release CAS in advance_floor().
    if (seq >= floor_.load(std::memory_order_acquire) + options_.max_in_flight) break;  // window full
    if (!segment_holding(seq, seg)) break;
    Delivery d;
    if (!deliver(seq, seg, 1, &d, error)) break;  // not published yet, or a bad record (next_ stays on it)
    // acq_rel: acquire pairs with other consumers' releases; release makes
    // the claim visible before this consumer reads the record.
    if (!next_.compare_exchange_weak(seq, seq + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) continue;
    if (format::is_skip(format::load_length(d.record.data()))) [[unlikely]] {
      // An abandoned claim: done as if acked, never handed out. Relaxed: a statistic.
      skipped_.fetch_add(1, std::memory_order_relaxed);
      finish(seq);
      continue;
    }
    const std::size_t i = seq & mask_;
    if (seq < restored_end_) [[unlikely]] {
      if (!resume_restored(seq, i, &d)) continue;  // done, or waiting again
    }
    hand_out(i, deadline, owner, &d);
    out[n++] = d;
  }
  return n;
}

bool GroupCore::segment_holding(std::uint64_t seq, std::shared_ptr<Segment>& seg) const noexcept {
  if (seg && seq >= seg->first_seq() && seq < seg->end_seq()) return true;
  std::uint64_t lost = 0;
  seg = topic_->segment_for(seq, &lost);
  if (!seg) return false;
  if (lost != 0) {
    // `seq` is stale: since we read it, other consumers claimed and
    // acked past it and the ring dropped it. The next poll reads next_ again.
    seg.reset();
    return false;
  }
  return true;
}

bool GroupCore::resume_restored(std::uint64_t seq, std::size_t i, Delivery* d) noexcept {
  // Catching up after a reopen: done records never go out again; failed
  // ones keep their attempts.
  const GroupState::Entry* e = restored(seq);
  if (e == nullptr) return true;
  if (e->done) {
    finish(seq);
    return false;
  }
  // Relaxed: published by hand_out's (or restore_waiting's) release.
  first_failure_[i].store(e->first_failure_ns, std::memory_order_relaxed);
  if (e->not_before_ns != 0) {
    // A nack delay or backoff that was pending at the crash or close.
    const std::int64_t at = now();
    if (e->not_before_ns > at) {
      restore_waiting(seq, *e, at);
      return false;
    }
  }
  d->attempt = e->failed_attempts + 1;
  return true;
}

void GroupCore::restore_waiting(std::uint64_t seq, const GroupState::Entry& e, std::int64_t now) noexcept {
  const std::size_t i = seq & mask_;
  // Relaxed: published by the release store of the word; the redelivery
  // that reads them dequeues after the timer's enqueue.
  seq_[i].store(seq, std::memory_order_relaxed);
  attempts_[i].store(e.failed_attempts, std::memory_order_relaxed);
  deadline_[i].store(e.not_before_ns, std::memory_order_relaxed);
  // Relaxed load: this thread won `seq` by the claim CAS; nobody else
  // writes its idle word. Release pairs with the acquire in snapshot().
  const std::uint64_t w = word_[i].load(std::memory_order_relaxed);
  word_[i].store((w & ~kStateMask) | kWaiting, std::memory_order_release);
  schedule(seq, e.not_before_ns, now);
}

bool GroupCore::maybe_ready(const std::shared_ptr<Segment>& cached) const noexcept {
  if (redeliver_.size_approx() != 0) return true;
  // Relaxed: a hint; claim() runs the timers under their lock.
  const std::int64_t due = next_due_.load(std::memory_order_relaxed);
  if (due != kNever && now() >= due) return true;
  // Relaxed: a hint; claim() re-checks with acquire.
  const std::uint64_t seq = next_.load(std::memory_order_relaxed);
  // Window full: nothing new goes out until an ack moves the floor, and
  // advance_floor() wakes parked consumers then. Without this a consumer
  // polling a full window would never park, and spin until its timeout.
  // Relaxed: a hint, as above.
  if (seq >= floor_.load(std::memory_order_relaxed) + options_.max_in_flight) return false;
  std::shared_ptr<Segment> seg = cached;
  if (!seg || seq < seg->first_seq() || seq >= seg->end_seq()) {
    // Not in the consumer's segment: look it up. No segment (past a sealed
    // one whose successor never came: close refused the roll) means
    // nothing to read, so that a closed group can report closed.
    std::uint64_t lost = 0;
    seg = topic_->segment_for(seq, &lost);
    if (!seg || lost != 0) return lost != 0;
  }
  const std::uint64_t i = seq - seg->first_seq();
  return seg->offset_of(i) != 0 || seg->unchecked_record(i);  // the latter: there, its entry set once checked
}

bool GroupCore::end_hand_out(const Delivery& d, std::uint64_t state) noexcept {
  std::uint64_t w = d.lease << 2 | kOut;
  // Acquire pairs with hand_out's release: this thread now owns the slot's
  // attempts and first-failure time. Release orders the end of the hand-out
  // before the slot's reuse (via acked_ and the floor) or its redelivery.
  // Acquire on failure too: see the zombie below.
  if (word_[d.sequence & mask_].compare_exchange_strong(w, d.lease << 2 | state, std::memory_order_acq_rel,
                                                        std::memory_order_acquire))
    return true;
  stale_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  // A late answer to a timed-out hand-out: its view no longer needs its
  // segment. Its zombie was added before the timeout's CAS, which the
  // failed CAS above read (acquire), so it is in the list now.
  end_zombies([&](const Zombie& z) { return z.seq == d.sequence && z.lease == d.lease; });
  return false;
}

void GroupCore::add_zombie(Zombie z) noexcept {
  // While the hand-out is out the floor holds z.seq, so the topic still
  // has its segment (if it was answered meanwhile, the caller's CAS fails
  // and ends this zombie again).
  if (!z.segment) {  // cut() passes the segment it drops (it holds the topic's lock)
    std::uint64_t lost = 0;
    z.segment = topic_->segment_for(z.seq, &lost);
    if (lost != 0) return;  // answered and dropped already: the CAS will fail
  }
  std::lock_guard lk(zombies_mu_);
  // A consumer destroyed meanwhile holds no view any more.
  if (std::find(consumers_.begin(), consumers_.end(), z.owner) == consumers_.end()) return;
  zombies_.push_back(std::move(z));
}

template <class Match>
void GroupCore::end_zombies(Match match) noexcept {
  std::vector<Zombie, MiAllocator<Zombie>> gone;  // segments let go outside the lock
  std::lock_guard lk(zombies_mu_);
  for (auto it = zombies_.begin(); it != zombies_.end();) {
    if (match(*it)) {
      gone.push_back(std::move(*it));
      it = zombies_.erase(it);
    } else {
      ++it;
    }
  }
}

void GroupCore::adopt(const void* owner) {
  std::lock_guard lk(zombies_mu_);
  consumers_.push_back(owner);
}

void GroupCore::abandon(const void* owner) noexcept {
  std::vector<Zombie, MiAllocator<Zombie>> gone;  // segments let go outside the lock
  std::lock_guard lk(zombies_mu_);
  std::erase(consumers_, owner);
  for (Zombie& z : zombies_)
    if (z.owner == owner) gone.push_back(std::move(z));
  std::erase_if(zombies_, [&](const Zombie& z) { return z.owner == owner; });
}

void GroupCore::release(const void* owner) noexcept {
  // After close the final commit has run: a reopen delivers them again anyway.
  if (topic_->closed()) return;
  std::vector<Failed, MiAllocator<Failed>> released;
  const std::int64_t t = now();
  // The slots of [floor, next), as the ack-timeout scan in run_timers():
  // the CAS below validates the sequence and owner read after the word.
  // Acquire pairs with the release CASes on floor_ and next_.
  const std::uint64_t end = next_.load(std::memory_order_acquire);
  const std::uint64_t from = floor_.load(std::memory_order_acquire);
  for (std::uint64_t s = from; s < end && s < from + options_.max_in_flight; ++s) {
    const std::size_t i = s & mask_;
    // Acquire pairs with hand_out's release.
    std::uint64_t w = word_[i].load(std::memory_order_acquire);
    // Relaxed: ordered after the word's acquire; the CAS validates them.
    if ((w & kStateMask) != kOut || owner_[i].load(std::memory_order_relaxed) != owner) continue;
    const std::uint64_t held = seq_[i].load(std::memory_order_relaxed);
    // acq_rel as in fail(): the hand-out is now ours to redeliver. A CAS
    // that fails lost to an ack timeout or the hard cap, which end it.
    if (word_[i].compare_exchange_strong(w, (w & ~kStateMask) | kBusy, std::memory_order_acq_rel,
                                         std::memory_order_relaxed))
      released.push_back(settle_failure(held, Failure::kNack, 0, t));
  }
  for (const Failed& f : released) carry_out(f, {}, false);
}

std::optional<std::uint64_t> GroupCore::journal_append(const GroupState::Entry& e) noexcept {
  std::byte entry[StateJournal::kEntryBytes];
  GroupState::encode_entry(e, entry);
  auto ticket = journal_->append(entry);
  Status s = ticket.status();
  if (ticket.ok() && journal_->wants_compaction()) {
    // A journal file filled up: store the state so the old ones can go.
    // One compaction at a time; a busy lock means one is under way.
    std::unique_lock lk(commit_mu_, std::try_to_lock);
    if (lk.owns_lock()) s = commit_locked();
  }
  if (!s.ok()) {
    say_not_durable(s);
    return std::nullopt;
  }
  return *ticket;
}

void GroupCore::journal_wait(std::uint64_t ticket) noexcept {
  if (Status s = journal_->await_durable(ticket); !s.ok()) say_not_durable(s);
}

void GroupCore::say_not_durable(const Status& s) noexcept {
  // acq_rel: one thread says it.
  if (!journal_said_.exchange(true, std::memory_order_acq_rel))
    topic_->shared().say(LogLevel::kError, "work group '" + name_ + "' of topic '" + topic_->name() +
                                               "': an ack or failure is not durable: " + s.to_string());
}

void GroupCore::journal(const GroupState::Entry& e, bool wait) noexcept {
  const auto ticket = journal_append(e);
  if (ticket && wait) journal_wait(*ticket);
}

std::size_t GroupCore::ack(std::span<const Delivery> ds) noexcept {
  std::size_t acked = 0;
  std::optional<std::uint64_t> last;  // the journal ticket to wait for
  for (const Delivery& d : ds) {
    if (!end_hand_out(d, kIdle)) continue;
    finish(d.sequence);
    ++acked;
    if (journal_) [[unlikely]] {
      GroupState::Entry e;
      e.seq = d.sequence;
      e.done = true;
      if (auto t = journal_append(e)) last = t;
    }
  }
  // Tickets are durable in order: waiting for the last covers every one.
  if (last && journal_waits_) journal_wait(*last);
  return acked;
}

bool GroupCore::fail(const Delivery& d, Failure why, std::int64_t delay_ns, std::string_view error) noexcept {
  if (!end_hand_out(d, kBusy)) return false;
  const std::int64_t t = now();
  carry_out(settle_failure(d.sequence, why, delay_ns, t), error, true);
  return true;
}

GroupCore::Failed GroupCore::settle_failure(std::uint64_t seq, Failure why, std::int64_t delay_ns,
                                            std::int64_t now) noexcept {
  const std::size_t i = seq & mask_;
  Failed f;
  f.seq = seq;
  f.why = why;
  f.now = now;
  // Relaxed: this thread owns the busy slot (see end_hand_out()).
  f.attempt = attempts_[i].load(std::memory_order_relaxed);
  if (f.attempt <= 1) first_failure_[i].store(now, std::memory_order_relaxed);
  f.first_failure = first_failure_[i].load(std::memory_order_relaxed);
  const bool used_up = options_.max_attempts != 0 && f.attempt >= options_.max_attempts;
  const bool at_once = why == Failure::kRejected ||
                       (why == Failure::kError && options_.on_failure == WorkGroupOptions::OnFailure::kDeadLetter);
  f.dead_letter = at_once || used_up;
  f.reason = used_up && !at_once ? "max-attempts" : "rejected";
  f.due = due_after(now, delay_ns >= 0 ? delay_ns : backoff_ns(f.attempt));
  if (!f.dead_letter) deadline_[i].store(f.due, std::memory_order_relaxed);  // relaxed: as above
  // Relaxed load: the busy word is this thread's. Release pairs with the
  // acquire of the word by the redelivery, cut() and snapshot().
  f.word = (word_[i].load(std::memory_order_relaxed) & ~kStateMask) | kWaiting;
  word_[i].store(f.word, std::memory_order_release);
  return f;
}

void GroupCore::carry_out(const Failed& f, std::string_view error, bool by_caller) noexcept {
  const std::size_t i = f.seq & mask_;
  std::int64_t due = f.due;
  if (f.dead_letter) {
    if (send_dead_letter(f, error)) {
      // acq_rel: as an ack's CAS. It fails when the hard cap took the
      // record while it was sent (cut() counted it lost; it is in the
      // dead-letter topic all the same).
      std::uint64_t w = f.word;
      if (word_[i].compare_exchange_strong(w, (w & ~kStateMask) | kIdle, std::memory_order_acq_rel,
                                           std::memory_order_relaxed)) {
        finish(f.seq);
        if (journal_) {
          GroupState::Entry e;
          e.seq = f.seq;
          e.done = true;
          journal(e, by_caller && journal_waits_);
        }
      }
      return;
    }
    // The dead-letter topic refused it (send_dead_letter said why): the
    // record stays in the group and goes out again later. Win the slot
    // back to write its deadline; acquire: as the redelivery's CAS.
    std::uint64_t w = f.word;
    if (!word_[i].compare_exchange_strong(w, (w & ~kStateMask) | kBusy, std::memory_order_acquire,
                                          std::memory_order_relaxed))
      return;  // the hard cap took it meanwhile
    due = due_after(f.now, std::max<std::int64_t>(options_.backoff_max.count(), 1'000'000'000));
    deadline_[i].store(due, std::memory_order_relaxed);  // relaxed: published by the release below
    word_[i].store(f.word, std::memory_order_release);   // release: as settle_failure()'s
  }
  if (journal_) {
    // Before schedule(): once queued the slot may go out again at once.
    GroupState::Entry e;
    e.seq = f.seq;
    e.failed_attempts = f.attempt;
    e.first_failure_ns = f.first_failure;
    e.not_before_ns = due;
    journal(e, by_caller && journal_waits_);
  }
  schedule(f.seq, due, f.now);
}

std::int64_t GroupCore::backoff_ns(std::uint32_t failed_attempt) const noexcept {
  const std::int64_t base = options_.backoff_base.count(), most = options_.backoff_max.count();
  if (base <= 0) return 0;
  std::int64_t b = base;
  for (std::uint32_t k = 1; k < failed_attempt && b < most; ++k) b = b > most / 2 ? most : 2 * b;
  b = std::min(b, most);
  const double jitter = std::clamp(options_.backoff_jitter, 0.0, 1.0);
  if (jitter > 0) b -= static_cast<std::int64_t>(static_cast<double>(b) * jitter * uniform01());
  return b;
}

void GroupCore::schedule(std::uint64_t seq, std::int64_t due, std::int64_t now) noexcept {
  if (due <= now) {
    redeliver_.enqueue(seq);
    topic_->readers_lot().wake_if_parked();
    return;
  }
  std::lock_guard lk(timers_mu_);
  timers_.push_back({due, seq});
  std::push_heap(timers_.begin(), timers_.end(), std::greater<>{});
  scheduled_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  // Relaxed: a hint read by claim(); the timer itself is guarded by timers_mu_.
  if (due < next_due_.load(std::memory_order_relaxed)) next_due_.store(due, std::memory_order_relaxed);
}

void GroupCore::run_timers(std::int64_t now) noexcept {
  std::vector<Failed, MiAllocator<Failed>> expired;
  bool queued = false;
  {
    std::unique_lock lk(timers_mu_, std::try_to_lock);
    if (!lk.owns_lock()) return;  // another consumer runs them
    while (!timers_.empty() && timers_.front().due <= now) {
      std::pop_heap(timers_.begin(), timers_.end(), std::greater<>{});
      redeliver_.enqueue(timers_.back().seq);
      timers_.pop_back();
      scheduled_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: a statistic
      queued = true;
    }
    if (options_.ack_timeout.count() > 0 && now >= next_scan_) {
      // Ack deadlines: the slots of [floor, next). While we scan, the floor
      // may pass a slot and a later sequence take it, so the sequence comes
      // from the slot, read after the word: if the CAS below succeeds, no
      // hand-out came in between, so seq_ and deadline_ are this lease's.
      std::int64_t earliest = due_after(now, options_.ack_timeout.count());
      // Acquire pairs with the release CASes on floor_ and next_.
      const std::uint64_t end = next_.load(std::memory_order_acquire);
      const std::uint64_t from = floor_.load(std::memory_order_acquire);
      for (std::uint64_t s = from; s < end && s < from + options_.max_in_flight; ++s) {
        const std::size_t i = s & mask_;
        // Acquire pairs with hand_out's release.
        std::uint64_t w = word_[i].load(std::memory_order_acquire);
        if ((w & kStateMask) != kOut) continue;
        // Relaxed: ordered after the word's acquire; the CAS validates them.
        const std::int64_t dl = deadline_[i].load(std::memory_order_relaxed);
        const std::uint64_t held = seq_[i].load(std::memory_order_relaxed);
        const void* owner = owner_[i].load(std::memory_order_relaxed);
        if (dl > now) {
          earliest = std::min(earliest, dl);
          continue;
        }
        // Its consumer may still read the record: its zombie holds the
        // segment from before the CAS, so a late answer (whose CAS fails
        // after this one) always finds it. Rare: only timeouts get here.
        const std::uint64_t lease = w >> 2;
        add_zombie({held, lease, owner, nullptr});
        // acq_rel as in fail(): the timed-out hand-out is now ours to
        // redeliver. Settled at once (no lock), so that cut() never waits
        // for this scan, which takes the topic's lock in add_zombie().
        if (word_[i].compare_exchange_strong(w, (w & ~kStateMask) | kBusy, std::memory_order_acq_rel,
                                             std::memory_order_relaxed))
          expired.push_back(settle_failure(held, Failure::kAckTimeout, -1, now));
        else
          end_zombies([&](const Zombie& z) { return z.seq == held && z.lease == lease; });
      }
      next_scan_ = earliest;
    }
    const std::int64_t heap_due = timers_.empty() ? kNever : timers_.front().due;
    // Relaxed: a hint (see schedule()).
    next_due_.store(std::min(heap_due, next_scan_), std::memory_order_relaxed);
  }
  if (queued) topic_->readers_lot().wake_if_parked();
  for (const Failed& f : expired) {
    timed_out_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    carry_out(f, {}, false);
  }
}

void GroupCore::finish(std::uint64_t seq) noexcept {
  // Release pairs with the acquire load in advance_floor().
  acked_[seq & mask_].store(seq + 1, std::memory_order_release);
  // Two consumers finishing neighbours must not both miss the other's store
  // when they read the floor's slots (store-load order): this fence pairs
  // with the same fence in every other finish().
  std::atomic_thread_fence(std::memory_order_seq_cst);
  advance_floor();
}

void GroupCore::advance_floor() noexcept {
  // Acquire pairs with the release CAS below by other threads.
  std::uint64_t f = floor_.load(std::memory_order_acquire);
  const std::uint64_t before = f;
  // Acquire pairs with the release store in finish().
  while (acked_[f & mask_].load(std::memory_order_acquire) == f + 1) {
    // Release pairs with the acquire loads of floor_ (claim(), hold_position()).
    if (floor_.compare_exchange_weak(f, f + 1, std::memory_order_release, std::memory_order_acquire)) ++f;
  }
  if (f != before) {
    topic_->notify_progress();
    topic_->readers_lot().wake_if_parked();  // consumers waiting on a full window
  }
}

WorkGroupStats GroupCore::stats() const noexcept {
  WorkGroupStats s;
  // Relaxed loads: a snapshot for monitoring.
  s.ack_floor = floor_.load(std::memory_order_relaxed);
  s.next = next_.load(std::memory_order_relaxed);
  s.redelivered = redelivered_.load(std::memory_order_relaxed);
  s.dead_lettered = dead_lettered_.load(std::memory_order_relaxed);
  s.timed_out = timed_out_.load(std::memory_order_relaxed);
  s.stale = stale_.load(std::memory_order_relaxed);
  s.pending_redelivery = redeliver_.size_approx() + scheduled_.load(std::memory_order_relaxed);
  s.lost = lost_total_.load(std::memory_order_relaxed);
  s.skipped = skipped_.load(std::memory_order_relaxed);
  // One window at most (cut() may leave next_ further ahead for a moment).
  for (std::uint64_t q = s.ack_floor; q < std::min(s.next, s.ack_floor + options_.max_in_flight); ++q)
    if ((word_[q & mask_].load(std::memory_order_relaxed) & kStateMask) == kOut) ++s.in_flight;
  const std::uint64_t published = topic_->published();
  s.depth = (published > s.next ? published - s.next : 0) + s.pending_redelivery;
  return s;
}

GroupState GroupCore::snapshot() const {
  GroupState g;
  // Acquire pairs with the release CASes on next_ and floor_.
  const std::uint64_t end = next_.load(std::memory_order_acquire);
  const std::uint64_t from = floor_.load(std::memory_order_acquire);
  // One window at most: cut() may leave next_ further ahead for a moment,
  // over sequences never handed out.
  for (std::uint64_t s = from; s < std::min(end, from + options_.max_in_flight); ++s) {
    const std::size_t i = s & mask_;
    GroupState::Entry e;
    e.seq = s;
    // Acquire pairs with finish()'s release / hand_out's release.
    e.done = acked_[i].load(std::memory_order_acquire) == s + 1;
    if (!e.done) {
      const std::uint64_t state = word_[i].load(std::memory_order_acquire) & kStateMask;
      // Relaxed: ordered by the word's acquire above.
      const std::uint32_t attempts = attempts_[i].load(std::memory_order_relaxed);
      // Busy (a failure or a redelivery under way): its attempts so far
      // count as failed, due at once (the failure journals its own entry).
      const bool failed = state == kWaiting || state == kBusy;
      e.failed_attempts = failed ? attempts : state == kOut && attempts > 0 ? attempts - 1 : 0;
      e.first_failure_ns = first_failure_[i].load(std::memory_order_relaxed);
      if (state == kWaiting) e.not_before_ns = deadline_[i].load(std::memory_order_relaxed);
      if (e.failed_attempts == 0) continue;
    }
    g.entries.push_back(e);
  }
  // Restored entries not reached yet carry over.
  for (const GroupState::Entry& e : restored_.entries)
    if (e.seq >= end) g.entries.push_back(e);
  // Every sequence below the floor read now is done; a slot at or above it
  // cannot have been reused while we read it (its reuse needs the floor past it).
  g.floor = floor_.load(std::memory_order_acquire);  // acquire: as above
  std::erase_if(g.entries, [&](const GroupState::Entry& e) { return e.seq < g.floor; });
  return g;
}

Status GroupCore::commit() {
  // Under the topic's commit mutex: a deleted topic's directory is not
  // written again (nor made again by the write).
  std::lock_guard tl(topic_->commit_mutex());
  if (topic_->deleted())
    return Status::NotFound("work group '" + name_ + "': topic '" + topic_->name() + "' was deleted");
  std::lock_guard lk(commit_mu_);
  return commit_locked();
}

Status GroupCore::commit_locked() {
  TopicStorage& storage = topic_->storage();
  // Every entry appended before the rotation is for a change made before
  // it, which the snapshot below sees.
  std::uint64_t generation = 0;
  if (journal_) {
    auto r = journal_->rotate();
    if (!r.ok()) return r.status();
    generation = *r;
  }
  const GroupState g = snapshot();
  // No state names a record past what is durable (doc/durability.md): the
  // floor, and every entry above it, are durable first.
  const std::uint64_t named_end = g.entries.empty() ? g.floor : std::max(g.floor, g.entries.back().seq + 1);
  if (Status s = storage.make_durable_below(named_end); !s.ok()) return s;
  if (Status s = storage.store_state(disk::state_file_name(disk::group_key(name_)), g.encode()); !s.ok()) return s;
  if (journal_) journal_->retire(generation);
  // The plain floor too, for readers of the position files.
  if (Status s = storage.store_position(disk::group_key(name_), g.floor); !s.ok()) return s;
  topic_->note_committed(disk::group_key(name_), g.floor);
  return Status::OK();
}

// One consumer: its cached segment and its wait strategy.
class ConsumerCore : public MiAllocated {
 public:
  ConsumerCore(GroupCore* g, ConsumerOptions o) : group_(g), options_(std::move(o)) {
    life_.keeps_segments = true;
    group_->adopt(this);
  }
  ~ConsumerCore() {
    // Once orphaned, the group and topic are gone (engine/handle_life.h).
    if (life_.orphaned()) return;
    group_->release(this);
    group_->abandon(this);
    if (counted_) group_->topic()->remove_user(&life_);
  }
  ConsumerCore(const ConsumerCore&) = delete;
  ConsumerCore& operator=(const ConsumerCore&) = delete;
  GroupCore* group_;
  ConsumerOptions options_;
  std::shared_ptr<Segment> seg_;
  HandleLife life_;
  bool counted_ = false;  // among the topic's users (add_user() succeeded)
};

}  // namespace detail

detail::HandleLife& detail::life_of(Consumer& c) noexcept { return c.core_->life_; }

const std::string& WorkGroup::name() const noexcept { return name_; }
WorkGroupStats WorkGroup::stats() const noexcept { return core_ == nullptr ? WorkGroupStats{} : core_->stats(); }
std::uint64_t WorkGroup::lag() const noexcept {
  if (core_ == nullptr) return 0;
  const std::uint64_t published = core_->topic()->published();
  const std::uint64_t floor = core_->hold_position();
  return published > floor ? published - floor : 0;
}

namespace {
Status group_gone(const std::string& name) {
  return Status::Closed("work group '" + name + "': its engine was destroyed");
}
}  // namespace

Status WorkGroup::commit() { return core_ == nullptr ? group_gone(name_) : core_->commit(); }

Status WorkGroup::wait_drained(std::chrono::nanoseconds timeout) {
  if (core_ == nullptr) return group_gone(name_);
  detail::TopicCore* topic = core_->topic();
  const std::uint64_t target = topic->published();
  const auto deadline = detail::deadline_after(timeout);
  // Consumers move the floor; nobody wakes this watcher: it looks every
  // 100 us, then every millisecond.
  for (int looks = 0;; ++looks) {
    const std::uint64_t floor = core_->hold_position();
    if (floor >= target) return Status::OK();
    const std::string where = "work group '" + name_ + "' of topic '" + topic->name() + "': ";
    if (topic->deleted()) return Status::NotFound(where + "the topic was deleted");
    if (topic->closed()) return Status::Closed(where + "engine is closed");
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      return Status::TimedOut(where + "not drained: " + std::to_string(target - floor) +
                              " of the records published before " + std::to_string(target) +
                              " are not acked or dead-lettered (ack floor " + std::to_string(floor) + ")");
    const auto pause = looks < 100 ? std::chrono::microseconds(100) : std::chrono::microseconds(1000);
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(pause, deadline - now));
  }
}

Result<std::unique_ptr<Consumer>> WorkGroup::consumer(ConsumerOptions options) {
  if (core_ == nullptr) return group_gone(name_);
  if (core_->topic()->closed()) return Status::Closed("work group '" + core_->name() + "': engine is closed");
  auto core = std::make_unique<detail::ConsumerCore>(core_, std::move(options));
  if (Status s = core_->topic()->add_user(&core->life_); !s.ok()) return s;
  core->counted_ = true;
  return std::unique_ptr<Consumer>(new Consumer(std::move(core)));
}

Consumer::Consumer(std::unique_ptr<detail::ConsumerCore> core) : core_(std::move(core)) {}
Consumer::~Consumer() = default;

PollResult Consumer::try_poll(std::span<Delivery> out) noexcept {
  detail::HandleCall call(core_->life_);
  if (!call) return detail::engine_gone();
  PollResult r;
  core_->group_->commit_after_cut();
  r.lost = core_->group_->take_lost();
  r.rewound = core_->group_->take_rewound();
  r.count = core_->group_->claim(out, core_->seg_, core_.get(), &r.status);
  // Closed only once no publish is still in flight (see Subscriber::try_poll).
  if (r.count == 0 && core_->group_->topic()->closed())
    r.closed =
        !core_->group_->maybe_ready(core_->seg_) && core_->group_->stats().next >= core_->group_->topic()->claims_end();
  return r;
}

PollResult Consumer::poll(std::span<Delivery> out, std::chrono::nanoseconds timeout) noexcept {
  detail::HandleCall call(core_->life_);
  if (!call) return detail::engine_gone();
  PollResult r = try_poll(out);
  if (r.count != 0 || r.lost != 0 || r.rewound != 0 || r.closed || !r.status.ok()) return r;
  detail::TopicCore* topic = core_->group_->topic();
  detail::Backoff backoff(core_->options_.wait, topic->readers_lot(), topic->park_timeout(),
                          detail::deadline_after(timeout));
  auto ready = [&] { return topic->closed() || core_->group_->maybe_ready(core_->seg_); };
  while (backoff.idle(ready)) {
    r = try_poll(out);
    if (r.count != 0 || r.closed || !r.status.ok()) return r;
  }
  return r;
}

using Failure = detail::GroupCore::Failure;

bool Consumer::ack(const Delivery& d) noexcept { return ack(std::span<const Delivery>(&d, 1)) == 1; }
std::size_t Consumer::ack(std::span<const Delivery> deliveries) noexcept {
  detail::HandleCall call(core_->life_);
  return call ? core_->group_->ack(deliveries) : 0;
}
namespace {
// nack, fail and dead_letter: a failure of `d`, once inside the consumer's call.
bool end_delivery(detail::ConsumerCore& c, const Delivery& d, Failure why, std::int64_t delay_ns,
                  std::string_view error) noexcept {
  detail::HandleCall call(c.life_);
  return call && c.group_->fail(d, why, delay_ns, error);
}
}  // namespace

bool Consumer::nack(const Delivery& d) noexcept { return end_delivery(*core_, d, Failure::kNack, -1, {}); }
bool Consumer::nack(const Delivery& d, std::chrono::nanoseconds delay) noexcept {
  return end_delivery(*core_, d, Failure::kNack, std::max<std::int64_t>(delay.count(), 0), {});
}
bool Consumer::fail(const Delivery& d, std::string_view error) noexcept {
  return end_delivery(*core_, d, Failure::kError, -1, error);
}
bool Consumer::dead_letter(const Delivery& d, std::string_view error) noexcept {
  return end_delivery(*core_, d, Failure::kRejected, -1, error);
}

}  // namespace conduit
