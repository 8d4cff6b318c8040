// A work group: competing consumers sharing one cursor over a topic.
//
// Thread safety
//   Consumers (any number, each on its own thread) claim sequences with a
//   CAS on next_, ack/nack them, and take ready redeliveries from
//   redeliver_ first. Timers (nack delays, backoff, ack timeouts) are run by
//   whichever consumer polls once one is due (one at a time: timers_mu_).
//   stats() from any thread.
//   Each window slot i = s % window has a lease word: (lease << 2 | state),
//   state idle/done, out (held by the consumer with that lease), waiting
//   (nacked or timed out, due for redelivery) or busy (one thread is ending
//   a failed hand-out or redelivering it: a few stores, no lock, no wait).
//   Invariants:
//   - A sequence is handed out once by the CAS (next_ s -> s+1), and again
//     only from redeliver_, where it is at most once, while it is waiting:
//     the redelivery wins the slot by the CAS waiting -> busy, after checking
//     that the slot still holds that sequence (seq_).
//   - Only the CAS out(l) -> done(l) or out(l) -> waiting(l) ends a
//     hand-out; a late ack or nack with lease l (the record was handed out
//     again as l+1) finds another word and is refused. Leases of a slot only
//     grow, so a stale lease never matches again.
//   - acked_[s % window] == s + 1 once s is done (acked, dead-lettered or
//     lost to the hard cap);
//     floor_ only moves over done sequences, so every sequence below floor_
//     is done.
//   - next_ < floor_ + window: the slot of s is reused only after s - window
//     was done and passed, so a slot never holds two live sequences. (cut()
//     breaks this for a moment under the topic's lock: see there.)
//   - The hard cap (cut(), under the topic's lock) ends every record below
//     its cut that is not done: out by the CAS out -> idle (a late answer is
//     refused, and a zombie keeps the segment for its view), waiting by the
//     CAS waiting -> idle (a queued or scheduled entry for it is dropped when
//     it comes up: its slot no longer waits with that sequence). A busy
//     slot, or one claimed and not handed out yet, it waits out (a few
//     stores away, none under a lock the cut holds).
//   - A slot's attempts, deadline and first-failure time are written by the
//     thread that moves it to out or waiting, before the word (release), and
//     read by the thread that next wins it (acquire).
//   - floor_ holds the ring (RetentionHolder): an unacked record stays in
//     memory, and a delivered view stays valid until its ack or nack
//     (persisted topics: the hard cap may take the record; the view stays).
//   - Record views outlive the ack timeout (the rule for views): a
//     hand-out that timed out becomes a "zombie" (seq, lease, consumer)
//     that owns a reference to the record's segment, taken while the floor
//     still held it. Retention and the ring may drop the segment from the
//     topic after the record was redelivered and acked elsewhere (nobody
//     waits for a zombie), but its memory stays mapped until the zombie
//     ends: when its consumer acks, nacks or fails that delivery (refused
//     as stale) or is destroyed. zombies_ is guarded by zombies_mu_.
//   - Persisted topics (journal_ set): every ack, failure and dead letter
//     appends one journal entry after its change to the slots; commit()
//     rotates the journal, then snapshots, then retires the old
//     generations, so an entry retired is always in the stored state. On a
//     kSync topic ack/nack/fail/dead_letter return only once their entry is
//     durable; ack timeouts append without waiting (synced within the
//     flush interval).
#pragma once

#include <concurrentqueue/concurrentqueue.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conduit/engine.h"
#include "engine/group_state.h"
#include "engine/topic_core.h"

namespace conduit::detail {

// Whether a group with these options may dead-letter without being asked
// (max_attempts, on_failure kDeadLetter, or a dead_letter_topic named).
bool dead_letters_possible(const WorkGroupOptions& o) noexcept;
// The group's dead-letter topic, created with the source's options if it
// does not exist (an existing one is used as it is).
Result<Topic*> open_dead_letter_topic(TopicCore& source, const WorkGroupOptions& o);

class GroupCore final : public MiAllocated, public RetentionHolder {
 public:
  // Why a delivery failed; the dead-letter header names the last one.
  enum class Failure : std::uint8_t { kNack, kAckTimeout, kError, kRejected };

  // `restored`: the state a persisted group committed (empty otherwise).
  // `journal`: where acks and failures go between commits (null: none).
  GroupCore(TopicCore* topic, std::string name, WorkGroupOptions options, GroupState restored,
            std::shared_ptr<StateJournal> journal = {});
  ~GroupCore() override;

  std::uint64_t hold_position() const noexcept override {
    // Acquire pairs with the release CAS in advance_floor().
    return floor_.load(std::memory_order_acquire);
  }
  void start_at(std::uint64_t seq) noexcept override;
  // After attach, before any consumer exists: a start below `earliest` (a
  // committed floor older than retention, or an explicit sequence) moves up
  // to it, and the next poll of any consumer reports the gap once.
  void skip_to(std::uint64_t earliest) noexcept;

  // Hands out up to out.size() deliveries; `seg` is the consumer's cached
  // segment for new sequences. Runs due timers first.
  // `owner` names the consumer (for abandon()). *error: why the next
  // record cannot go out (it failed its check; Segment::check_through),
  // set only when nothing was handed out.
  std::size_t claim(std::span<Delivery> out, std::shared_ptr<Segment>& seg, const void* owner, Status* error) noexcept;
  bool maybe_ready(const std::shared_ptr<Segment>& seg) const noexcept;
  // Consumer::ack, of one delivery or many: each in turn, then (kSync) one
  // wait for the journal. Returns how many were acked.
  std::size_t ack(std::span<const Delivery> ds) noexcept;
  // Ends the hand-out `d` as failed: delivered again after `delay_ns`
  // (negative: the group's backoff), or dead-lettered when `why` is
  // kRejected or the attempts are used up. false: `d` was stale.
  bool fail(const Delivery& d, Failure why, std::int64_t delay_ns, std::string_view error) noexcept;
  // A consumer `owner` came (adopt) or went (abandon): once gone, its
  // timed-out deliveries no longer hold segments.
  void adopt(const void* owner);
  void abandon(const void* owner) noexcept;
  // A consumer `owner` is going: each delivery it still holds goes back to
  // the group at once, as a nack with no delay (attempt + 1, counted as a
  // redelivery when it goes out again), rather than after its ack timeout.
  // Another process's consumer that died is one (engine/ipc_server.cpp).
  void release(const void* owner) noexcept;
  // Records skipped by skip_to() or cut() and not yet reported (then 0).
  std::uint64_t take_lost() noexcept;
  // Before any consumer: the stored floor was set back by `n` (PollResult::rewound).
  void set_rewound(std::uint64_t n) noexcept {
    rewound_.store(n, std::memory_order_relaxed);
  }  // relaxed: before sharing
  // The set-back not yet reported (then 0): one poll takes it.
  std::uint64_t take_rewound() noexcept {
    // Relaxed check first: almost always 0. acq_rel exchange: one poll takes it.
    if (rewound_.load(std::memory_order_relaxed) == 0) return 0;
    return rewound_.exchange(0, std::memory_order_acq_rel);
  }
  // RetentionHolder: the hard cap may take records from the group.
  bool cuttable() const noexcept override { return true; }
  std::uint64_t cut(std::uint64_t end, const std::shared_ptr<Segment>& seg) noexcept override;
  std::string describe() const override { return "work group '" + name_ + "'"; }
  ReaderInfo reader_info() const override {
    return {.kind = ReaderInfo::Kind::kWorkGroup,
            .name = name_,
            .position = hold_position(),
            .lag = 0,
            .holds_ring = topic_->options().durability == Durability::kMemory};
  }
  // After a cut, the next poll stores the group's state (persisted topics),
  // so that a reopen does not report the gap again. Any consumer thread.
  void commit_after_cut() noexcept;
  WorkGroupStats stats() const noexcept;
  // The state to persist: floor, and done/failed records above it. Acks
  // that return after it started may be missing (they come again).
  GroupState snapshot() const;
  Status commit();

  TopicCore* topic() const noexcept { return topic_; }
  const std::string& name() const noexcept { return name_; }
  const WorkGroupOptions& options() const noexcept { return options_; }
  WorkGroup* handle() noexcept { return handle_; }
  // The segments timed-out deliveries still hold (TopicCore::held_segments).
  void zombie_segments(std::vector<std::shared_ptr<Segment>>* out);

 private:
  static constexpr std::uint64_t kIdle = 0, kOut = 1, kWaiting = 2, kBusy = 3, kStateMask = 3;
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
  struct Timer {
    std::int64_t due;
    std::uint64_t seq;
    bool operator>(const Timer& o) const noexcept { return due > o.due; }
  };

  // A failed hand-out, decided (settle_failure) and not carried out yet.
  struct Failed {
    std::uint64_t seq = 0;
    std::uint64_t word = 0;  // the waiting word the failure left in the slot
    Failure why = Failure::kNack;
    bool dead_letter = false;
    const char* reason = "";
    std::uint32_t attempt = 0;
    std::int64_t first_failure = 0, due = 0, now = 0;
  };
  struct Zombie {
    std::uint64_t seq, lease;
    const void* owner;
    std::shared_ptr<Segment> segment;  // keeps the record's memory
  };
  // Fills `d` with record `seq` of `seg`. false: not published yet, or
  // (*error set) a record read from disk that failed its check.
  bool deliver(std::uint64_t seq, const std::shared_ptr<Segment>& seg, std::uint32_t attempt, Delivery* d,
               Status* error) noexcept;
  // Marks the slot out for `d` (a new lease), with its attempts and deadline.
  void hand_out(std::size_t i, std::int64_t deadline, const void* owner, Delivery* d) noexcept;
  // claim()'s steps. prepare_claim: runs the timers that are due and a
  // pending purge; returns the deadline of what this claim hands out.
  std::int64_t prepare_claim() noexcept;
  // Waiting records whose time came, into `out`; how many.
  std::size_t claim_redeliveries(std::span<Delivery> out, std::int64_t deadline, const void* owner,
                                 Status* error) noexcept;
  // New sequences from next_, into `out`, within the in-flight window; how many.
  std::size_t claim_next(std::span<Delivery> out, std::shared_ptr<Segment>& seg, std::int64_t deadline,
                         const void* owner, Status* error) noexcept;
  // Points `seg` at the segment holding `seq`. false: not there yet, or
  // `seq` is stale (the ring dropped it; `seg` then null).
  bool segment_holding(std::uint64_t seq, std::shared_ptr<Segment>& seg) const noexcept;
  // `seq` (slot `i`), claimed below restored_end_: sets `d`'s attempt from
  // the restored state. false: it does not go out now (done, or waiting).
  bool resume_restored(std::uint64_t seq, std::size_t i, Delivery* d) noexcept;
  void add_zombie(Zombie z) noexcept;
  // Ends the zombies `match` picks.
  template <class Match>
  void end_zombies(Match match) noexcept;
  // A restored failed record not due before `not_before`: waits in the slot.
  void restore_waiting(std::uint64_t seq, const GroupState::Entry& e, std::int64_t now) noexcept;
  // Appends `e` to the journal; waits for it to be durable when `wait`.
  void journal(const GroupState::Entry& e, bool wait) noexcept;
  // The two halves: the append (its ticket; nullopt when it failed, which
  // is said once on stderr) and the wait for a ticket to be durable.
  std::optional<std::uint64_t> journal_append(const GroupState::Entry& e) noexcept;
  void journal_wait(std::uint64_t ticket) noexcept;
  void say_not_durable(const Status& s) noexcept;  // once per group, on stderr
  Status commit_locked();                          // commit_mu_ held
  // The CAS out(d.lease) -> state(d.lease); false (counted stale) when `d`
  // no longer holds the slot.
  bool end_hand_out(const Delivery& d, std::uint64_t state) noexcept;
  // After the CAS out -> busy: decides (dead letter, or when to deliver
  // again), writes the slot's fields and lets the slot go (waiting). No lock.
  Failed settle_failure(std::uint64_t seq, Failure why, std::int64_t delay_ns, std::int64_t now) noexcept;
  // Then: dead-letters the record or schedules it, and journals that.
  // `by_caller`: a consumer's nack/fail (waits for the journal on kSync).
  void carry_out(const Failed& f, std::string_view error, bool by_caller) noexcept;
  // cut(): ends the hand-out or wait of `seq` (below the cut). true: it was
  // not done (lost); false: it was done already.
  bool cut_slot(std::uint64_t seq, const std::shared_ptr<Segment>& seg) noexcept;
  // Drops the timers of records the hard cap took (after a cut).
  void purge_cut_timers() noexcept;
  void schedule(std::uint64_t seq, std::int64_t due, std::int64_t now) noexcept;
  std::int64_t backoff_ns(std::uint32_t failed_attempt) const noexcept;
  void run_timers(std::int64_t now) noexcept;
  // Done (acked or dead-lettered): the floor may move.
  void finish(std::uint64_t seq) noexcept;
  void advance_floor() noexcept;
  // Publishes the record of `seq` to the dead-letter topic with the
  // conduit.dlq.* headers; false (said once on stderr) when that failed.
  bool send_dead_letter(const Failed& f, std::string_view error) noexcept;
  Topic* dead_letter_topic() noexcept;
  // A restored record at `seq` (seq < restored_end_): nullptr when none.
  const GroupState::Entry* restored(std::uint64_t seq) const noexcept;
  std::int64_t now() const { return topic_->shared().now(); }

  TopicCore* topic_;
  std::string name_;
  WorkGroupOptions options_;
  std::uint64_t mask_;
  WorkGroup* handle_;               // kept past this object (keep_forever), its core_ then null
  GroupState restored_;             // immutable after construction
  std::uint64_t restored_end_ = 0;  // one past the last restored entry
  alignas(64) std::atomic<std::uint64_t> next_{0};
  alignas(64) std::atomic<std::uint64_t> floor_{0};
  // kNever, or the time a timer is due: a nack delay, or the next check of
  // ack deadlines. Written under timers_mu_.
  alignas(64) std::atomic<std::int64_t> next_due_{kNever};
  // Statistics; relaxed counters.
  alignas(64) std::atomic<std::uint64_t> redelivered_{0};
  std::atomic<std::uint64_t> lost_{0};        // added to by skip_to() and cut(), taken by one poll
  std::atomic<std::uint64_t> lost_total_{0};  // every record lost (stats)
  std::atomic<std::uint64_t> skipped_{0};     // skip records stepped over (stats)
  std::atomic<std::uint64_t> rewound_{0};     // see set_rewound()
  std::atomic<bool> purge_timers_{false};     // cut() left timers of records it took
  std::atomic<bool> commit_wanted_{false};    // cut() moved the floor: store the state
  std::atomic<std::uint64_t> acked_count_{0};
  std::atomic<std::uint64_t> dead_lettered_{0};
  std::atomic<std::uint64_t> timed_out_{0};
  std::atomic<std::uint64_t> stale_{0};
  std::atomic<std::uint64_t> scheduled_{0};  // waiting in timers_

  template <class T>
  using Slots = std::vector<std::atomic<T>, MiAllocator<std::atomic<T>>>;
  Slots<std::uint64_t> acked_;
  Slots<std::uint64_t> word_;          // lease << 2 | state
  Slots<std::uint64_t> seq_;           // the sequence of the slot's current hand-out
  Slots<std::uint32_t> attempts_;      // deliveries so far of the slot's record
  Slots<std::int64_t> deadline_;       // out: when the hand-out times out; waiting: when it is due again
  Slots<std::int64_t> first_failure_;  // 0: no failure yet
  Slots<const void*> owner_;           // the consumer of the current hand-out
  moodycamel::ConcurrentQueue<std::uint64_t, MiQueueTraits> redeliver_;

  std::mutex timers_mu_;
  std::vector<Timer, MiAllocator<Timer>> timers_;  // guarded by timers_mu_: a min-heap on due
  std::int64_t next_scan_ = kNever;                // guarded by timers_mu_

  std::shared_ptr<StateJournal> journal_;  // fixed after construction
  bool journal_waits_ = false;             // kSync topic: acks wait for their entry to be durable
  std::atomic<bool> journal_said_{false};  // a journal failure was reported on stderr
  std::mutex commit_mu_;                   // one commit at a time

  std::mutex zombies_mu_;
  std::vector<Zombie, MiAllocator<Zombie>> zombies_;              // guarded by zombies_mu_
  std::vector<const void*, MiAllocator<const void*>> consumers_;  // live consumers; guarded by zombies_mu_

  std::mutex dlq_mu_;
  Topic* dlq_ = nullptr;   // guarded by dlq_mu_
  bool dlq_said_ = false;  // guarded by dlq_mu_: a failure was reported on stderr
};

}  // namespace conduit::detail
