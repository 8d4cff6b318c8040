// conduit — using another process's engine: attach, and work groups across
// processes.
//
// The process whose Engine opened a data directory owns it (it holds
// DATA_DIR/LOCK) and listens on DATA_DIR/control.sock. Another process of
// the same user attaches to it and shares the work of the owner's work
// groups: each record goes to one consumer, whichever process it is in.
// The owner's group decides every delivery; the attached process reads the
// record's bytes in place from its own read-only mapping of the topic's
// segment files (zero-copy: a delivery crosses the socket as a sequence, an
// attempt and a lease). doc/ipc.md has the whole picture.
//
// What differs from in-process (conduit/engine.h):
//   - Work groups: only persisted topics (kAsync, kSync); work_group()
//     refuses a memory-only topic with kUnsupported. Publishing (topic())
//     and subscribing (subscribe()) take memory-only topics made with
//     TopicOptions::shared too: their segments are memfds the owner passes
//     (doc/ipc.md, "Shared memory-only topics"); other memory-only topics
//     are refused with kUnsupported.
//   - Each call is a request to the owner and its reply over the socket: a
//     round trip per poll and per ack (ack a span of deliveries to pay it
//     once for many).
//   - A consumer's process dying is seen by the owner at once (the kernel
//     closes its socket): the deliveries it held go out again, as if nacked
//     with no delay (attempt + 1), not after the ack timeout. A consumer
//     destroyed with deliveries out does the same.
//   - The owner dying (or destroying its engine) ends every attached
//     handle: each call then fails with kClosed, "the owner of DIR is gone"
//     (a poll: PollResult::closed and that status; ack/nack false, and
//     owner_status() says why). Whatever an ack that returned true acked
//     was journaled by the owner before it answered: it is never delivered
//     again once a new owner opens the directory, and nothing published is
//     lost. Attach again then.
//   - Record views stay readable until the delivery is acked, nacked, failed
//     or dead-lettered, or the consumer is destroyed, as in-process, and
//     also after the owner died (the mapping is this process's).
//   - The owner checked each record (CRC32C and the rest) before handing it
//     out; the attached process checks that the record it finds at the
//     place it was told is the one it was told (its sequence and length).
//   - Request-reply (conduit/request_reply.h): Requester::open(AttachedEngine&)
//     and publish_reply(AttachedEngine&, ...) work as in process (the reply
//     topic memory-only, made shared by the owner); the owner dying
//     finishes every request in flight with kClosed.
//
// Errors of attach(): kNotFound "no engine owns DIR" (no socket, or nobody
// listening on it: its owner died), kIOError naming DIR when it belongs to
// another user (or the owner refused this process's user), kUnsupported
// when the owner speaks another protocol version.
//
// Thread safety: AttachedEngine and AttachedWorkGroup are thread-safe.
// AttachedConsumer: one thread at a time, as Consumer; each consumer has
// its own connection, so consumers on different threads never wait for
// each other.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "conduit/attach_subscriber.h"
#include "conduit/export.h"
#include "conduit/engine.h"
#include "conduit/options.h"
#include "conduit/status.h"

namespace conduit {

namespace detail {
class AttachedConsumerCore;
class IpcConnection;
namespace ipc {
class Writer;
}
class AttachedTopicCore;
}  // namespace detail

class AttachedTopic;
class AttachedClaim;

class AttachedConsumer;
class AttachedWorkGroup;

// A connection to the engine of another process that owns a data directory.
class CONDUIT_EXPORT AttachedEngine {
 public:
  // Attaches to the engine that owns `data_dir` (see the top for errors).
  static Result<std::unique_ptr<AttachedEngine>> attach(std::string_view data_dir);
  ~AttachedEngine();
  AttachedEngine(const AttachedEngine&) = delete;
  AttachedEngine& operator=(const AttachedEngine&) = delete;

  // The owner's work group `group` of persisted topic `topic`: opened, or
  // created with `options` as Topic::work_group would in the owner's
  // process (which also opens the topic from the data directory when it
  // had not yet). The handle lives as long as this AttachedEngine.
  // Thread-safe.
  Result<AttachedWorkGroup*> work_group(std::string_view topic, std::string_view group, WorkGroupOptions options = {});
  const std::string& data_dir() const noexcept { return dir_; }  // as given to attach()
  // Publishing into the owner's topic `topic` (AttachedTopic,
  // below), opened from the data directory when the owner had not yet.
  // The handle lives as long as this AttachedEngine. Thread-safe.
  Result<AttachedTopic*> topic(std::string_view topic);

  // A subscriber of the owner's topic `topic` in this process, with a
  // connection of its own (conduit/attach_subscriber.h says what differs
  // from Topic::subscribe). Thread-safe.
  Result<std::unique_ptr<AttachedSubscriber>> subscribe(std::string_view topic, SubscriberOptions options = {});
  // Topic::stats of the owner's topic, fetched now (a round trip); the
  // topic is opened from the data directory if the owner had not yet.
  // kClosed once the owner is gone. Thread-safe.
  Result<TopicStats> topic_stats(std::string_view topic);

 private:
  friend class AttachedWorkGroup;
  friend class Requester;
  AttachedEngine(std::string dir, std::unique_ptr<detail::IpcConnection> conn);
  // Has the owner open its topic `name`, or create it with
  // reply_topic_options(durability) (conduit/request_reply.h).
  Status reply_topic(std::string_view name, Durability durability);
  // A request and its reply on conn_ (mu_ taken).
  Result<std::string> call(const detail::ipc::Writer& request);
  std::string dir_;
  std::mutex mu_;
  std::unique_ptr<detail::IpcConnection> conn_;                       // guarded by mu_
  std::map<std::string, std::unique_ptr<AttachedWorkGroup>> groups_;  // guarded by mu_; "topic/group"
  std::map<std::string, std::unique_ptr<AttachedTopic>> topics_;      // guarded by mu_
};

// A work group of the owner's, reached through an AttachedEngine.
class CONDUIT_EXPORT AttachedWorkGroup {
 public:
  const std::string& topic() const noexcept { return topic_; }  // the topic's name
  const std::string& name() const noexcept { return name_; }    // the group's name
  // A new competing consumer, with a connection of its own to the owner.
  // Thread-safe.
  Result<std::unique_ptr<AttachedConsumer>> consumer(ConsumerOptions options = {});
  // WorkGroup::stats of the owner's group, fetched now (a round trip on the
  // engine's connection). kClosed once the owner is gone. Thread-safe.
  Result<WorkGroupStats> stats();

 private:
  friend class AttachedEngine;
  AttachedEngine* engine_ = nullptr;  // which made it, and outlives it
  AttachedWorkGroup(std::string dir, std::string topic, std::string name, WorkGroupOptions options)
      : dir_(std::move(dir)), topic_(std::move(topic)), name_(std::move(name)), options_(std::move(options)) {}
  std::string dir_, topic_, name_;
  WorkGroupOptions options_;
};

// Consumer's calls, with the same meaning (conduit/engine.h), across
// processes (see the top for what differs).
class CONDUIT_EXPORT AttachedConsumer {
 public:
  ~AttachedConsumer();
  // As Consumer's calls of the same names.
  // @{
  PollResult try_poll(std::span<Delivery> out) noexcept;
  PollResult poll(std::span<Delivery> out, std::chrono::nanoseconds timeout) noexcept;
  bool ack(const Delivery& d) noexcept;
  std::size_t ack(std::span<const Delivery> deliveries) noexcept;
  bool nack(const Delivery& d) noexcept;
  bool nack(const Delivery& d, std::chrono::nanoseconds delay) noexcept;
  bool fail(const Delivery& d, std::string_view error) noexcept;
  bool dead_letter(const Delivery& d, std::string_view error = {}) noexcept;
  // @}
  // Acks `deliveries` on the next poll request this consumer sends (a
  // poll's or try_poll's; with prefetch, the one it sends ahead) rather
  // than on a round trip of their own: ack(span) returns once the owner
  // journaled the acks, this returns at once. The owner applies them as
  // ack(span) would, before that poll looks for records, so they never
  // wait on it.
  // Until then they are unacked and this consumer's: if this process or
  // the owner dies first they are delivered again (at least once, as any
  // unacked delivery), never lost. Their record views must not be read
  // after this call. A 1025th held ack sends the 1024 before it at once
  // (a round trip); the destructor sends what is held.
  void ack_later(std::span<const Delivery> deliveries) noexcept;
  // Sends the acks ack_later holds now, as ack(span) (a round trip; none
  // when it holds none), and returns how many the owner acked.
  std::size_t flush_acks() noexcept;
  // How many deliveries given to ack_later the owner has acked so far, as
  // its replies said (one not this consumer's any more is not counted).
  std::uint64_t acked_later() const noexcept;
  // 0 (the default): off. Otherwise a poll that returned deliveries and
  // has none left over asks the owner for up to `ahead` more (at most
  // 1024) before it returns: a try_poll on the owner's side, carrying the
  // acks ack_later holds. That batch is on its way while this one is
  // processed, and the next polls hand it out without a round trip until
  // it is used up (an `ahead` of several polls' worth saves that many
  // round trips). A poll that finds it empty asks again with its own
  // timeout, so no poll waits longer than it says. What is fetched ahead
  // is this consumer's from then on (its ack timeout runs): up to `ahead`
  // more out per consumer, and if the consumer goes (destroyed, or its
  // process dies) before handing it out, it goes back to the group as
  // redeliveries (attempt + 1).
  void prefetch(std::size_t ahead) noexcept;
  // OK while the owner answers; kClosed "the owner of DIR is gone" once it
  // does not (then every call fails), or the error that broke the
  // connection. Any thread.
  Status owner_status() const;
  // Its group's WorkGroup::stats, fetched now (a round trip on this
  // consumer's connection). kClosed once the owner is gone.
  Result<WorkGroupStats> stats() noexcept;

 private:
  friend class AttachedWorkGroup;
  explicit AttachedConsumer(std::unique_ptr<detail::AttachedConsumerCore> core);
  std::unique_ptr<detail::AttachedConsumerCore> core_;
};

// Topic::publish from an attached process: the record goes straight into
// the topic's log, never through the owner. The claim is the same one an
// in-process publisher makes (one atomic add on the head segment's tail, in
// a claim block every publishing process maps); the record is written into
// this process's own mapping of the segment file and committed by its
// length word, and the shared index entry makes it visible to the owner's
// subscribers, work groups and LogReaders at once (they are woken through
// shared futex words). Sequences are dense across processes, and each
// publisher's records keep their order.
//
// What differs from in-process (conduit/engine.h):
//   - Only topics that are not single_producer and have no dedup window:
//     topic() refuses others with kUnsupported. On a memory-only topic
//     (TopicOptions::shared; others are refused too) the
//     segments are memfds the owner passes (mapped once each: the ring
//     reuses them), and a claim that meets a full ring waits, in its roll
//     request, until the ring has room, as an in-process publish() does
//     (a blocking subscriber anywhere holds it). try_publish and
//     publish(message, timeout) bound that wait as in process: the owner
//     gives up the roll when told to, and nothing is published. The owner
//     re-checks the ring every EngineOptions::park_timeout while a
//     subscriber in another process holds it (its moves wake nobody in
//     the owner).
//   - No TraceScope: a record's trace id is the message's own.
//   - Timestamps come from this process's wall clock (an owner's injected
//     EngineOptions::clock is not seen here).
//   - A claim that crosses the end of a segment asks the owner to roll (a
//     round trip on this engine's connection); so does a kSync publish,
//     which returns once the owner's persistence thread made its record
//     durable.
//   - The owner dying: the next call that needs it (a roll, a kSync wait,
//     a new segment's first claim) fails with kClosed, "the owner of DIR is
//     gone"; records committed before stay in the log.
//   - This process dying mid-claim: the owner turns what it claimed and did
//     not commit into skip records when its connection closes (or, for a
//     claim it had not named yet, after EngineOptions::unblock_timeout), so
//     readers go on (doc/ipc.md, "A publisher that dies mid-claim"). A
//     publish stalled that long inside that window returns kTimedOut and
//     writes nothing.
//
// Thread safety: publish from any number of threads; calls that need the
// owner take turns on the engine's connection.
class CONDUIT_EXPORT AttachedTopic {
 public:
  ~AttachedTopic();
  const std::string& name() const noexcept { return name_; }  // the topic's name
  // Topic::publish from this process: the record's sequence, once it is
  // committed in the log (kSync: once durable). Errors as Topic::publish's,
  // and kClosed once the owner is gone (above).
  // @{
  Result<std::uint64_t> publish(const Message& message) noexcept;
  Result<std::uint64_t> publish(std::string_view payload) noexcept;
  // @}
  // Topic::try_publish from this process: never waits for ring room. When
  // the ring is full (a shared memory-only topic whose blocking subscriber
  // or work group, in any process, is a whole ring behind) it fails with
  // kBusy naming that reader and its lag, as in process ("topic 'm': ring
  // full (2 segments of 262144 bytes): subscriber 'audit' is 10922 records
  // behind (at 0, published 10922)"), and publishes nothing: no sequence
  // is taken, so none is left for readers to skip. The owner is asked (a
  // round trip) only when the claim does not fit the head segment, as for
  // publish(). On a kSync topic it does not wait for the disk either
  // (await_durable(seq) after, as in process).
  // kUnsupported on a memory-only topic whose owner's build cannot bound
  // the wait (an older one).
  Result<std::uint64_t> try_publish(const Message& message) noexcept;
  // Topic::publish with a timeout: waits at most `timeout` for ring room,
  // then fails as try_publish does but with kTimedOut ("ring still full
  // after the timeout ..."), publishing nothing. A kSync publish then
  // waits for its sync as publish() does. kUnsupported as try_publish.
  // Neither waits behind another thread of this process whose publish
  // holds this engine's connection in a roll request (waiting there for
  // ring room): they fail as above, saying so ("another publish of this
  // process holds the owner's connection in its roll request").
  Result<std::uint64_t> publish(const Message& message, std::chrono::nanoseconds timeout) noexcept;
  // Topic::publish_batch: one claim for many records (at most half a
  // segment each), written in their order with consecutive sequences.
  PublishBatchResult publish_batch(std::span<const Message> messages, std::span<std::uint64_t> seqs = {}) noexcept;
  // Topic::publish_nowait: publish() that never waits for the disk (on a
  // kSync topic its completion is await_durable(seq)).
  Result<std::uint64_t> publish_nowait(const Message& message) noexcept;
  // Topic::await_durable: waits until `seq` is durable, at most `timeout`
  // (kTimedOut then), as the owner's persistence thread says (a round trip
  // that holds the engine's connection meanwhile: other threads' calls
  // that need the owner wait behind it). kUnsupported on a memory-only
  // topic, and for a bounded wait (any `timeout` under a year) when the
  // owner's build cannot bound it (an older one); kClosed once the owner
  // is gone, or the sync's error. Unlike in process, a `seq` that no claim
  // has taken yet is refused at once (kInvalidArgument) rather than waited
  // for.
  Status await_durable(std::uint64_t seq, std::chrono::nanoseconds timeout) noexcept;
  // Topic::claim from this process: zero-copy publishing into the shared
  // mapping (AttachedClaim, below). Fails as Topic::claim does (kTooLarge,
  // kInvalidArgument for an envelope with a payload, kClosed once the
  // owner is gone), kBusy when this process holds 64 claims on the topic
  // already (publishes included), and kUnsupported when the owner's build
  // cannot end claims held open in another process (an older one).
  Result<AttachedClaim> claim(std::size_t payload_bytes, const Message& envelope = {}) noexcept;

 private:
  friend class AttachedEngine;
  AttachedTopic(std::string name, std::unique_ptr<detail::AttachedTopicCore> core);
  std::string name_;
  std::shared_ptr<detail::AttachedTopicCore> core_;  // its claims share it
};

// Claim (conduit/claim.h) from an attached process: AttachedTopic::claim
// takes the record's sequence and its room in the topic's log as a publish
// from this process does (one add on the shared tail, the claim named in
// this connection's claim slots), writes the header and the envelope, and
// hands out the payload's bytes in this process's shared mapping of the
// segment: written in place, nothing copied, nothing sent to the owner. A
// claim that does not fit the head segment asks the owner to roll (a round
// trip) and claims again, as a publish does. commit() seals the CRC over
// the bytes as they are and stores the length word: the owner's
// subscribers, work groups and LogReaders see the record at once. A claim
// not committed becomes a skip record, kept in the sequence and stepped
// over and counted by every reader (PollResult::skipped,
// WorkGroupStats::skipped; TopicStats::skipped counts it too), never a
// hole: abandon(), the destructor, the owner's close or delete_topic()
// (commit() then fails with kClosed or kNotFound, as in process), or this
// process dying (the owner ends it when the connection closes). Readers
// wait behind an open claim, in every process: hold one for as long as it
// takes to fill it, not longer.
//
// What differs from in-process:
//   - kSync: commit() returns once the owner's persistence thread made
//     the record durable (a round trip on the engine's connection);
//     commit_nowait() does not wait (AttachedTopic::await_durable after).
//   - A claim ended after its AttachedEngine was destroyed touches nothing
//     and fails with kClosed: the owner made it a skip record when the
//     engine's connection closed.
//   - The owner dying (not closing) with a claim open: its commit() still
//     lands in the file, as a publish in flight then does, for the next
//     owner's recovery; a claim still open when a next owner has started
//     may write into room that owner reuses. End open claims once a call
//     says the owner is gone (kClosed).
//   - Timestamps come from this process's wall clock; no TraceScope.
//   - At most 64 claims of this process open on one topic at once
//     (AttachedTopic::claim's kBusy), in-flight publishes included; in
//     process the bound is 4096.
//   - The owner's own log says "a publisher in another process died
//     mid-claim" for a claim it ended because this process (or its
//     AttachedEngine) went.
//
// Thread safety: as Claim, an AttachedClaim is one thread's at a time
// (move it to hand it over); many threads may hold claims on one topic,
// sharing its 64 claim slots with this process's publishes (a publish()
// waits for a free one while 64 claims are open). claim() takes a short
// lock of this process (its table of mapped segments), as a publish does,
// and the engine's connection when it needs the owner (a roll, a
// segment's first claim); commit() and abandon() take none, except the
// connection for a kSync commit()'s wait.
class CONDUIT_EXPORT AttachedClaim {
 public:
  AttachedClaim() noexcept = default;
  AttachedClaim(AttachedClaim&& other) noexcept = default;  // `other` is left empty
  // Abandons the claim held, then takes `other`'s (left empty).
  AttachedClaim& operator=(AttachedClaim&& other) noexcept;
  AttachedClaim(const AttachedClaim&) = delete;
  AttachedClaim& operator=(const AttachedClaim&) = delete;
  // An uncommitted claim is abandoned.
  ~AttachedClaim();

  // The payload's room in the log: exactly the bytes asked for. Empty once
  // the claim is committed or abandoned.
  std::span<std::byte> payload() const noexcept {
    return active() ? std::span<std::byte>(record_ + payload_offset_, payload_size_) : std::span<std::byte>();
  }
  std::uint64_t sequence() const noexcept { return seq_; }  // fixed at the claim
  bool active() const noexcept { return core_ != nullptr; }  // not committed or abandoned yet

  // As Claim's: visible to readers (kSync: once durable); its sequence.
  // kInvalidArgument when not active().
  Result<std::uint64_t> commit() noexcept;
  // commit() that does not wait for the disk: AttachedTopic::await_durable after.
  Result<std::uint64_t> commit_nowait() noexcept;
  // Turns the claim into a skip record now. Nothing when not active().
  void abandon() noexcept;

 private:
  friend class detail::AttachedTopicCore;
  std::shared_ptr<detail::AttachedTopicCore> core_;  // null: not active
  std::shared_ptr<void> segment_;                    // this process's mapping of its segment
  std::byte* record_ = nullptr;
  std::uint32_t word_ = 0;  // the length word to commit
  std::uint32_t payload_offset_ = 0;
  std::uint32_t payload_size_ = 0;
  std::uint32_t slot_ = 0;   // its claim slot (engine/pub_claims.h)
  std::uint32_t index_ = 0;  // its entry in the segment's index
  std::uint64_t seq_ = 0;
};

}  // namespace conduit
