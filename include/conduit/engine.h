// conduit — the engine, its topics, subscribers and work groups.
//
// Thread safety
//   Engine: open/create_topic/topic/close are thread-safe.
//   Topic: publish is thread-safe (any number of producers, lock-free).
//   Subscriber, Consumer: one thread at a time each (a cursor has one
//     reader); different subscribers/consumers run on different threads.
//     position()/lag()/lost() may be read from any thread.
//   WorkGroup: consumer() is thread-safe; stats from any thread.
//   close() wakes every waiter; afterwards publish fails with kClosed and
//   polls return closed once they have read what was published before.
//
// Handles that outlive the engine
//   Every handle may outlive its Engine and be used or destroyed after it:
//   Topic* and WorkGroup* stay valid pointers for the rest of the process
//   (a small shell of each, with its name and options, is kept), and
//   through them, and through a Subscriber, Consumer, Dispatcher, Requester
//   or DelayPump, every call fails with kClosed (a poll returns
//   PollResult::closed, ack/nack false, counters 0). Destroying the engine
//   waits for a Subscriber's or Consumer's call in progress (a Dispatcher's
//   poll and the handlers of its batch) to end first. Record views a
//   Subscriber or Consumer handed out stay readable until it is destroyed.
//   Not covered: another thread calling the Engine, or a Topic or
//   WorkGroup, while the Engine is being destroyed (outside a Dispatcher's
//   handler): stop such threads first.
#pragma once

#include "conduit/export.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conduit/claim.h"
#include "conduit/message.h"
#include "conduit/options.h"
#include "conduit/status.h"

namespace conduit {

namespace detail {
class TopicCore;
class SubscriberCore;
class GroupCore;
class ConsumerCore;
struct EngineState;
}  // namespace detail

class Engine;
class Topic;
class Subscriber;
class WorkGroup;
class Consumer;

namespace detail {
class HandleLife;
// The engine's clock as a function that stays valid after the engine (for
// a DelayPump that outlives it).
CONDUIT_EXPORT std::function<std::int64_t()> clock_of(const Engine& e);
// EngineOptions::on_thread_start, for threads started beside the engine (the bridge's).
CONDUIT_EXPORT std::function<void(std::string_view)> thread_hook_of(const Engine& e);
// A Dispatcher runs its handlers inside its subscriber's or consumer's call
// (engine/handle_life.h).
CONDUIT_EXPORT HandleLife& life_of(Subscriber& s) noexcept;
CONDUIT_EXPORT HandleLife& life_of(Consumer& c) noexcept;
}  // namespace detail

// What a poll returned. Records are in out[0, count).
struct PollResult {
  std::size_t count = 0;  // records (or deliveries) written to out
  // Records this reader lost just before out[0] (lose-oldest policy or
  // retention); 0 when nothing was lost.
  std::uint64_t lost = 0;
  // Told once, at the first poll after the engine opened the log: the
  // committed position this reader (named subscriber, work group, named
  // LogReader) resumed from was past the end of the recovered log, and was
  // set back to that end by this many sequences. Records published from
  // there on are new ones. Cannot happen to positions this build committed
  // (commit() makes the log durable up to the position first); a log
  // written by an older build, or a disk that lost synced data, can show it.
  std::uint64_t rewound = 0;
  // Skip records (abandoned claims, Topic::claim) this poll stepped over:
  // their sequences are used, nothing of them is handed out (Subscriber,
  // LogReader; a work group counts them in WorkGroupStats::skipped).
  std::uint64_t skipped = 0;
  // The engine is closed and everything published before was read.
  bool closed = false;
  // OK, or why the next record cannot be handed out (Subscriber, Consumer;
  // a LogReader returns its errors as the Result's status instead):
  // kCorruption naming the file and offset of a record that failed its
  // check (CRC32C, length, sequence, field lengths). count is 0 then;
  // every record before the bad one was handed out, and every later poll
  // stops at it with the same error. Only records read from disk can fail:
  // the README's "Guarantees" says when they are checked.
  Status status;
};

// How a persisted topic's log was opened (Topic::recovery_stats). All zero
// for a memory-only topic and for a new log.
struct RecoveryStats {
  // The log was taken from its clean-close record: no record was read.
  // Each is checked instead the first time a reader reaches it, before it
  // is handed out (PollResult::status).
  bool clean = false;
  std::uint64_t segments = 0;         // segment files opened
  std::uint64_t records_checked = 0;  // records whose length, CRC32C, sequence and fields were checked
  std::uint64_t bytes_checked = 0;    // the bytes of those records
  // OK, or why the topic is read-only (EngineOptions::read_only_on_corruption):
  // kReadOnly naming the damaged file and offset.
  Status read_only;
};

// A topic's counters. A snapshot: each field is read on its own. Any thread.
struct TopicStats {
  std::uint64_t earliest = 0;   // oldest sequence still held
  std::uint64_t published = 0;  // every record below it is complete
  std::uint64_t segments = 0;   // segments held (in memory or as files)
  // Interest retention: deletions by hard_cap_bytes of records that some
  // named subscriber or work group had not consumed (committed), and how
  // many such records they took (counted once per record).
  // @{
  std::uint64_t cap_deletions = 0;
  std::uint64_t cap_lost_records = 0;
  // @}
  // Claims this engine turned into skip records (Topic::claim): abandoned,
  // or taken back by close() or delete_topic() before their commit; and
  // records a publisher process died holding (doc/ipc.md, one per record).
  std::uint64_t skipped = 0;
  // Segments retention deleted by its rules (retain_bytes, retain_age,
  // retain_until_consumed), not counting hard-cap deletions.
  std::uint64_t retention_deletions = 0;
};

// Owns the topics, and with a data directory their logs (conduit/engine.h).
class CONDUIT_EXPORT Engine {
 public:
  // An engine; with options.data_dir set, persisted topics live there and
  // the directory is locked for this engine until it is destroyed.
  static Result<std::unique_ptr<Engine>> open(EngineOptions options = {});
  // How the write-ahead log reaches the disk: "io_uring", or the syscall
  // fallback with the reason it was chosen. Empty for a memory-only engine.
  std::string disk_io_description() const;
  // Rewrites DATA_DIR/counters now (EngineOptions::counters_interval).
  // kUnsupported when the engine keeps no counters file. Thread-safe.
  Status refresh_counters();
  // Closes, waits for calls in progress on its subscribers and consumers,
  // and frees every topic; handles left open then answer kClosed (top).
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Creates the topic, or returns the existing one when its options match.
  // Every option is compared (ring_bytes only for a memory-only topic;
  // segment_bytes as the topic keeps it: 0 is the default, and it is
  // rounded up to 4 KiB): kAlreadyExists naming the first that differs
  // ("retain_bytes is 0, not 1048576": the topic's, then the one asked
  // for). A persisted topic stores its options with it
  // (DATA_DIR/topics/NAME/options, written whole, CRC-checked): one that
  // exists in the data directory is held to them even before this engine
  // opened it, and a topic of that name asked for memory-only is refused
  // too. A topic directory of an older build, without that file, is opened
  // with `options`, which are stored then. Names: 1..200 characters of
  // [A-Za-z0-9._-], not starting with '.'. Thread-safe.
  Result<Topic*> create_topic(std::string_view name, TopicOptions options = {});
  // The topic: one this engine has, or a persisted one in the data
  // directory, opened with its stored options (so after a restart
  // topic(name) finds it without create_topic). kNotFound when there is
  // none, or when its directory has no stored options (an older build's:
  // create_topic opens it). Thread-safe.
  Result<Topic*> topic(std::string_view name);
  // The names of every topic: those this engine has open and those its data
  // directory holds, sorted. Thread-safe.
  Result<std::vector<std::string>> topics() const;
  // Deletes the topic: its records, and for a persisted topic its directory
  // (segments, control file, stored options, committed positions,
  // work-group state), so a topic created again under the name starts
  // empty; a persisted topic this engine has not opened yet is found as
  // topic() finds it. kNotFound: no such topic. kBusy: subscribers or consumers of it are still open (destroy
  // them first; nothing is deleted). Publishes already under way complete;
  // later ones, and every other call through its Topic* and WorkGroup*
  // handles that needs its records, fail with kNotFound. The handles stay
  // valid (after the engine too: see the top); so does a LogReader in another
  // process, whose polls then fail with kNotFound. Thread-safe.
  Status delete_topic(std::string_view name);

  // The engine's clock, ns since the Unix epoch: EngineOptions::clock, or
  // the wall clock. Every timestamp, timer and retention age reads it
  // (EngineOptions::clock says which).
  std::int64_t now_ns() const;

  // Wakes every waiter and refuses new publishes. A publish racing close()
  // either fails with kClosed and claims nothing, or returns its sequence,
  // in which case its record is complete before close() returns (in the
  // final sync of a persisted topic) and every subscriber reading to the
  // close sees it; on a kSync topic close()'s last fdatasync covers it, and
  // the publish returns once it is durable (or fails with that sync's
  // error, its record claimed, as one interrupted by a crash). Idempotent.
  // Thread-safe.
  void close();
  bool closed() const noexcept;  // close() was called. Thread-safe.

 private:
  friend std::function<std::int64_t()> detail::clock_of(const Engine& e);
  friend std::function<void(std::string_view)> detail::thread_hook_of(const Engine& e);
  explicit Engine(std::unique_ptr<detail::EngineState> state);
  std::unique_ptr<detail::EngineState> state_;
};

// One reader of a topic (Topic::readers): an open subscriber or a work group.
struct ReaderInfo {
  // An open subscriber, or a work group.
  enum class Kind : std::uint8_t { kSubscriber, kWorkGroup };
  Kind kind = Kind::kSubscriber;  // this one's kind
  std::string name;               // empty: an unnamed subscriber
  std::uint64_t position = 0;     // a subscriber's next sequence; a group's ack floor
  std::uint64_t lag = 0;          // published() - position
  // It can make producers wait: a blocking (kBlock) subscriber or a work
  // group of a memory-only topic, which a whole ring behind holds the ring.
  bool holds_ring = false;
  // A subscriber in another process (AttachedEngine::subscribe), of a
  // persisted or a shared memory-only topic, listed until its connection
  // ends (destroyed, or its process died); its position is where it has
  // read to, as it stored it after its last poll (at most one poll
  // behind; not its last commit). doc/ipc.md, "Topic::readers() across
  // processes".
  bool attached = false;
};

// Checks a topic name against the rules above; OK or kInvalidArgument.
CONDUIT_EXPORT Status validate_topic_name(std::string_view name);

// What Topic::publish_batch did: messages [0, published) were appended, in
// order; `status` is OK when all were, else why the rest were not.
struct PublishBatchResult {
  std::size_t published = 0;                        // messages appended, from the first
  Status status;                                    // OK, or why message `published` was not
  bool ok() const noexcept { return status.ok(); }  // all were published
};

// A named, ordered log of records: published to by any thread, read by
// subscribers, work groups and log readers (conduit/engine.h).
class CONDUIT_EXPORT Topic {
 public:
  const std::string& name() const noexcept;      // the topic's name
  const TopicOptions& options() const noexcept;  // as created (or stored)

  // Appends the message; returns its sequence. Fails with kTooLarge (the
  // payload over max_payload_bytes, or an envelope field over its limit, see
  // Message; the message names the field and its size) or kClosed, and then
  // publishes nothing. On a memory-only topic with a
  // blocking subscriber a ring behind, waits for it. Thread-safe, lock-free
  // except while the topic rolls to a new segment.
  // On a kSync topic, returns once the record is durable (fdatasync), and
  // fails with the sync's error if it could not be made durable.
  Result<std::uint64_t> publish(const Message& message) noexcept;
  // publish() of a message with only this payload.
  Result<std::uint64_t> publish(std::string_view payload) noexcept;
  // publish() that never waits: when the ring is full (a memory-only topic
  // whose blocking subscriber or work group is a whole ring behind) it fails
  // with kBusy naming that reader and its lag ("topic 't': ring full:
  // subscriber 'audit' is 131072 records behind (at 0, published 131072)"),
  // and publishes nothing. On a kSync topic it does not wait for the disk
  // either: as publish_nowait, the completion is await_durable(seq).
  // Thread-safe.
  Result<std::uint64_t> try_publish(const Message& message) noexcept;
  // publish() that waits at most `timeout` for ring space, then fails as
  // try_publish does but with kTimedOut. (A kSync publish then waits for
  // its fdatasync as publish() does; publish_nowait + await_durable bound
  // that too.) Thread-safe.
  Result<std::uint64_t> publish(const Message& message, std::chrono::nanoseconds timeout) noexcept;
  // Appends the messages in order, as one claim per run of them that fits
  // half a segment: one atomic operation and at most one clock read per
  // claim instead of per message (the records of a claim share the
  // timestamp, unless a message carries its own). The records of one claim
  // have consecutive sequences; other producers' records may fall between
  // claims. When `sequences` is given (at least messages.size() long),
  // sequences[i] is message i's. Every message is checked first: one too
  // large or malformed fails the batch with its index in the error and
  // nothing is published. A later failure (kClosed, a disk error) leaves
  // the first `published` appended. On a dedup topic, or inside a
  // TraceScope, messages go one at a time, as publish(). On a kSync topic,
  // returns once the last is durable. Thread-safe, as publish().
  PublishBatchResult publish_batch(std::span<const Message> messages, std::span<std::uint64_t> sequences = {}) noexcept;
  // Like publish, but never waits for the disk: the completion is
  // await_durable(seq). One thread may keep many sync publishes in flight.
  Result<std::uint64_t> publish_nowait(const Message& message) noexcept;
  // Zero-copy publish (conduit/claim.h): takes the next sequence and room
  // for a record with a payload of `payload_bytes`, written with every
  // field of `envelope` but the payload (which must be empty); the caller
  // writes the payload in place and commits, or abandons (a skip record
  // that readers step over). Fails as publish() does, and publishes
  // nothing then. Thread-safe (conduit/claim.h says which lock it takes).
  Result<Claim> claim(std::size_t payload_bytes, const Message& envelope = {}) noexcept;
  // Waits until `seq` is durable; kTimedOut, kClosed, or the sync's error.
  // kUnsupported on a memory-only topic. Thread-safe.
  Status await_durable(std::uint64_t seq, std::chrono::nanoseconds timeout) noexcept;
  // Watermark: every record below it is durable (persisted topics).
  std::uint64_t durable() const noexcept;

  // Watermark: every record below it is complete. Thread-safe.
  std::uint64_t published() const noexcept;
  // Next sequence a producer will claim (>= published()). Thread-safe.
  std::uint64_t claimed() const noexcept;
  // Oldest sequence still held (memory ring or retention). Thread-safe.
  std::uint64_t earliest() const noexcept;
  // How the log was opened; fixed once the topic exists. Thread-safe.
  RecoveryStats recovery_stats() const;
  // Counters (retention among them). Thread-safe.
  TopicStats stats() const noexcept;
  // Every open subscriber and every work group, with its position and lag,
  // subscribers first (in the order they subscribed; then subscribers in
  // other processes, persisted topic or shared memory-only, in the order
  // they subscribed, ReaderInfo::attached): which reader keeps producers
  // waiting is the one with holds_ring and a lag of a ring. Thread-safe.
  std::vector<ReaderInfo> readers() const;

  // A new subscriber with its own cursor. By default it starts at the
  // LATEST record: it sees only what is published after this call
  // (SubscriberOptions::start; StartAt::earliest() for what the topic
  // holds). Thread-safe.
  Result<std::unique_ptr<Subscriber>> subscribe(SubscriberOptions options = {});
  // The work group of that name, created on first use. By default a new
  // group starts at the EARLIEST record the topic holds, unlike a
  // subscriber (WorkGroupOptions::start). Thread-safe.
  Result<WorkGroup*> work_group(std::string_view name, WorkGroupOptions options = {});
  // The readers whose stored position remove_reader() forgets.
  enum class ReaderKind : std::uint8_t { kSubscriber, kWorkGroup, kLogReader };
  // Forgets a named reader that is gone for good, so that it holds the log
  // no longer (TopicOptions::retain_until_consumed): a subscriber's or
  // work group's committed position (and a group's state and journals), or
  // a LogReader's position file (DATA_DIR/readers/TOPIC/NAME). Retention
  // runs again at once. kBusy while a subscriber of that name is open on
  // this topic, or once this engine has opened the group (a group stays
  // open until the engine closes); a LogReader in another process cannot
  // be seen: one that commits again is back. kNotFound when there is no
  // such position; kUnsupported on a memory-only topic. Thread-safe.
  Status remove_reader(ReaderKind kind, std::string_view name);

  Topic(const Topic&) = delete;
  Topic& operator=(const Topic&) = delete;

 private:
  friend class detail::TopicCore;
  Topic(detail::TopicCore* core, std::string name, const TopicOptions& options)
      : core_(core), name_(std::move(name)), options_(options) {}
  Status gone() const;  // kClosed: the engine was destroyed
  // Null once the engine is destroyed (the shell stays; see the top).
  detail::TopicCore* core_;
  std::string name_;
  TopicOptions options_;
};

// One reader of a topic with a cursor of its own: it reads the records in
// order, at its own pace (fan-out), and is told what it lost (PollResult::lost).
class CONDUIT_EXPORT Subscriber {
 public:
  ~Subscriber();

  // Up to out.size() records, in order, without waiting. The views stay valid
  // until the next poll on this subscriber or its destruction. One thread.
  PollResult try_poll(std::span<RecordView> out) noexcept;
  // Like try_poll, but waits (with the subscriber's strategy) up to `timeout`
  // for at least one record, a loss to report, or close. One thread.
  PollResult poll(std::span<RecordView> out, std::chrono::nanoseconds timeout) noexcept;

  // Next sequence this subscriber will read. Any thread.
  std::uint64_t position() const noexcept;
  // published() - position(). Any thread.
  std::uint64_t lag() const noexcept;
  // Records lost in total (lose-oldest or retention). Any thread.
  std::uint64_t lost() const noexcept;
  const SubscriberOptions& options() const noexcept;  // as subscribed with
  // Stores position() durably for a named subscriber of a persisted topic,
  // which resumes from it after a reopen. The log is made durable up to the
  // position first (on a kAsync topic this waits for a sync round), so a
  // committed position never points past what survives a power cut.
  // kInvalidArgument without a name, kUnsupported on a memory-only topic.
  // The poll thread.
  Status commit();
  // Stores `seq` instead of position(), for a reader that finished records
  // out of order: it commits the oldest one it has not finished.
  // kInvalidArgument when `seq` > position(). The poll thread.
  Status commit(std::uint64_t seq);

 private:
  friend class Topic;
  friend detail::HandleLife& detail::life_of(Subscriber& s) noexcept;
  explicit Subscriber(std::unique_ptr<detail::SubscriberCore> core);
  std::unique_ptr<detail::SubscriberCore> core_;
};

// One record handed to one consumer of a work group.
struct Delivery {
  RecordView record;           // valid until this delivery is answered
  std::uint64_t sequence = 0;  // the record's sequence
  std::uint32_t attempt = 1;   // 1 on first delivery, +1 per redelivery
  // Names this hand-out of the record: an ack or nack of an older one (its
  // ack timeout passed and the record went out again) is refused.
  std::uint64_t lease = 0;
};

// Headers a dead letter carries besides the original envelope (payload, id,
// key, correlation id, reply-to, trace id, content type, schema version and
// user headers). Numbers are decimal; times are ns since the Unix epoch on
// EngineOptions::clock.
namespace dlq_header {
inline constexpr std::string_view kReason = "conduit.dlq.reason";             // "max-attempts" or "rejected"
inline constexpr std::string_view kLastFailure = "conduit.dlq.last-failure";  // nack, ack-timeout, error, rejected
inline constexpr std::string_view kError = "conduit.dlq.error";               // the failure's text, when one was given
inline constexpr std::string_view kAttempts = "conduit.dlq.attempts";         // deliveries made
inline constexpr std::string_view kTopic = "conduit.dlq.topic";               // original topic
inline constexpr std::string_view kGroup = "conduit.dlq.group";               // work group
inline constexpr std::string_view kSequence = "conduit.dlq.sequence";         // original sequence
inline constexpr std::string_view kFirstFailure = "conduit.dlq.first-failure-ns";    // time of the first failure
inline constexpr std::string_view kLastFailureTime = "conduit.dlq.last-failure-ns";  // time of the last failure
}  // namespace dlq_header

// A snapshot; the fields are read one by one, so under concurrent consumers
// they need not add up exactly. Any thread.
struct WorkGroupStats {
  std::uint64_t next = 0;                // next sequence to hand out
  std::uint64_t ack_floor = 0;           // every sequence below it is acked or dead-lettered
  std::uint64_t redelivered = 0;         // deliveries that were redeliveries
  std::uint64_t pending_redelivery = 0;  // nacked or timed out, waiting to go out again
  std::uint64_t depth = 0;               // published, not yet handed out: (published - next) + pending_redelivery
  std::uint64_t in_flight = 0;           // handed out, neither acked nor nacked yet
  std::uint64_t dead_lettered = 0;       // records sent to the dead-letter topic
  std::uint64_t timed_out = 0;           // deliveries whose ack timeout passed
  std::uint64_t stale = 0;               // acks/nacks refused: the delivery had timed out or was done
  // Records the group lost without acking them: retention had deleted them
  // before the group was opened (reported at once), or the topic's
  // hard_cap_bytes took them from the open group. Each is reported once in
  // PollResult::lost of some consumer's poll and never delivered again.
  std::uint64_t lost = 0;
  // Skip records (abandoned claims) the group stepped over: never handed
  // out, done as if acked.
  std::uint64_t skipped = 0;
};

// Competing consumers of a topic: each record goes to one of them, and is
// acked, redelivered or dead-lettered (conduit/engine.h).
class CONDUIT_EXPORT WorkGroup {
 public:
  const std::string& name() const noexcept;  // the group's name
  // A new competing consumer. Thread-safe.
  Result<std::unique_ptr<Consumer>> consumer(ConsumerOptions options = {});
  WorkGroupStats stats() const noexcept;  // any thread
  // published() - ack floor. Any thread.
  std::uint64_t lag() const noexcept;
  // Stores the group's state durably (persisted topics): the ack floor, the
  // records acked or dead-lettered above it, and the attempts of those that
  // failed with when each is due again (a nack delay holds across a reopen,
  // on EngineOptions::clock). A reopened group resumes from it and from the
  // journal of what happened since (see Consumer::ack): records not done are
  // delivered again, done ones never. Folds that journal into the state
  // file. Like Subscriber::commit, makes the log durable up to every record
  // the state names first. Engine close commits every persisted group.
  // Thread-safe.
  Status commit();
  // Waits until the group is drained: every record published to the topic
  // before this call is acked or dead-lettered (the ack floor reached the
  // published watermark read at the call). kTimedOut after `timeout`,
  // saying how many are left; kClosed once the engine is closed; kNotFound
  // when the topic was deleted. It only watches: consumers do the work.
  // Any thread.
  Status wait_drained(std::chrono::nanoseconds timeout);

  WorkGroup(const WorkGroup&) = delete;
  WorkGroup& operator=(const WorkGroup&) = delete;

 private:
  friend class detail::GroupCore;
  WorkGroup(detail::GroupCore* core, std::string name) : core_(core), name_(std::move(name)) {}
  // Null once the engine is destroyed (the shell stays; see the top).
  detail::GroupCore* core_;
  std::string name_;
};

// One competing consumer of a work group.
class CONDUIT_EXPORT Consumer {
 public:
  // Deliveries this consumer still holds go back to the group at once, as
  // if nacked with no delay (attempt + 1, counted as redeliveries; with
  // max_attempts they may be dead-lettered), not after their ack timeout.
  // After Engine::close() nothing is handed back: a reopen redelivers them.
  ~Consumer();

  // Up to out.size() deliveries (redeliveries first), without waiting. Each
  // delivery's record stays valid until this consumer acks, nacks, fails or
  // dead-letters it, even past its ack timeout (the answer is then refused,
  // but the record was kept for it), or until the consumer is destroyed. A
  // timed-out delivery never answered, or one whose record the topic's
  // hard_cap_bytes took, keeps its segment's memory (and, when persisted,
  // its deleted file's space) but no producer or retention waits for it.
  // PollResult::lost counts the group's records the hard cap took before
  // they were acked (reported once, to one consumer). Also runs the
  // group's due timers (nack delays, backoff, ack timeouts). One thread.
  PollResult try_poll(std::span<Delivery> out) noexcept;
  // Like try_poll, but waits up to `timeout` for at least one delivery or
  // close. One thread.
  PollResult poll(std::span<Delivery> out, std::chrono::nanoseconds timeout) noexcept;

  // Done with it: it will not be delivered again. false: the delivery was no
  // longer this consumer's (its ack timeout passed, or it was acked or
  // nacked already, or the topic's hard_cap_bytes took its record: then the
  // record was counted lost, WorkGroupStats::lost and a poll's
  // PollResult::lost, and is never delivered again); nothing changed, and
  // the view stays readable until this call. On a persisted topic the ack is
  // journaled (DATA_DIR/.../cursors/group-NAME.journal-*): on a kSync topic
  // ack, nack, fail and dead_letter return only once that is durable (a
  // failed sync is said once (EngineOptions::log); the ack still holds in memory); on
  // kAsync it is synced within the flush interval. After a crash, an ack
  // made durable is never delivered again. One thread (the consumer's).
  bool ack(const Delivery& d) noexcept;
  // ack() of each delivery in turn, but on a kSync topic one wait for the
  // journal at the end instead of one per delivery (the entries are made
  // durable together). Returns how many were this consumer's and are acked
  // now; the rest changed nothing, as when ack() returns false. One thread
  // (the consumer's).
  std::size_t ack(std::span<const Delivery> deliveries) noexcept;
  // Not done: it goes back to the group and is delivered again (perhaps to
  // another consumer) after the group's backoff, or after `delay` when one
  // is given. Once max_attempts deliveries failed, the record goes to the
  // dead-letter topic instead. false as for ack. One thread (the consumer's).
  // @{
  bool nack(const Delivery& d) noexcept;
  bool nack(const Delivery& d, std::chrono::nanoseconds delay) noexcept;
  // @}
  // A failure with a reason (e.g. an exception's text): handled by the
  // group's on_failure policy, a nack or a dead letter at once; `error` goes
  // into the dead-letter headers. false as for ack. One thread.
  bool fail(const Delivery& d, std::string_view error) noexcept;
  // Sends the record to the dead-letter topic at once (reason "rejected").
  // false as for ack. One thread.
  bool dead_letter(const Delivery& d, std::string_view error = {}) noexcept;

 private:
  friend class WorkGroup;
  friend detail::HandleLife& detail::life_of(Consumer& c) noexcept;
  explicit Consumer(std::unique_ptr<detail::ConsumerCore> core);
  std::unique_ptr<detail::ConsumerCore> core_;
};

}  // namespace conduit
