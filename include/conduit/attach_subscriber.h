// conduit — a subscriber in another process than the topic's owner
// (AttachedEngine::subscribe, conduit/attach.h).
//
// An AttachedSubscriber follows a topic of the engine it attached to, with
// Subscriber's calls and their meaning (conduit/engine.h). It reads the
// records in place from its own read-only mapping of the topic's segment
// files, the way a LogReader does (conduit/reader.h), or, on a memory-only
// topic, of the segments' memfds the owner passes (below): a record is
// there for it as soon as its publisher commits it, and a poll that waits
// parks on the topic's shared futex, which the owner's publishers wake. No
// record and no poll goes through the owner; the connection to it carries
// the subscribe (where to start), commit and stats, and it is how each side
// learns that the other is gone.
//
// What differs from an in-process Subscriber:
//   - durable_only is refused with kUnsupported. min_batch and linger are
//     not used (each poll returns what there is).
//   - Every record of a persisted topic is checked before it is handed out
//     (CRC32C, length, sequence, field lengths), as a LogReader checks it:
//     this process wrote none of them. A memory-only topic's records carry
//     no CRC; their length and sequence are checked.
//   - A memory-only topic made with TopicOptions::shared (others are
//     refused with kUnsupported; doc/ipc.md, "Shared memory-only topics"):
//     no file at all. Each segment's memory and index are memfds the owner
//     hands over when the subscriber reaches it (a round trip per segment,
//     none per record); SlowPolicy is honoured as in process. kBlock: the
//     position lives in a reader slot the owner reads as a holder of the
//     ring, so publishers in every process wait for this subscriber (they
//     are woken when it leaves a segment: its request for the next one
//     is where the owner wakes them). kLoseOldest: it holds nothing (but the
//     segment it is reading, as in process) and is told exactly how many
//     records the ring dropped before it (PollResult::lost). When its
//     process dies or it is destroyed, its connection closes and the
//     owner lets go of its slot at once: a publisher it held goes on.
//     commit() fails with kUnsupported, as in process (no positions);
//     a name only names it. lag() counts from the claims in the topic's
//     claim block, live: a record still being written counts, and so do
//     those of a claim waiting for ring space past the head segment. The
//     owner's Engine::close: as below (a poll looks for it every 10 ms
//     while it finds nothing, a round trip only once the head segment's
//     claims look stopped). The owner dying (or its engine destroyed):
//     polls return what the segment being read holds, then closed with
//     kClosed (the next segment would come from the owner).
//   - An error (kCorruption naming the file and offset, a segment file that
//     cannot be opened, kNotFound once the topic was deleted) comes in
//     PollResult::status, as for a Subscriber, once the records before it
//     were returned.
//   - The owner dying (or destroying its engine): polls first return every
//     record it had published, then PollResult::closed with kClosed "the
//     owner of DIR is gone"; commit() and topic_stats() fail with that
//     status, and owner_status() says it. While a poll waits, it looks at
//     the connection every 10 ms. Attach again once a new owner is there.
//   - The owner's Engine::close (its engine not yet destroyed): polls return
//     closed with OK once everything was read, as in process; commit()
//     fails with kClosed.
//   - lag() on a persisted topic counts from the published watermark as of
//     the owner's last sync round (the topic's control file), not from the
//     live one.
//   - A named subscriber's position is the in-process named subscriber's of
//     that name (one namespace: either kind resumes from what the other
//     committed). commit() is a round trip: the owner makes the log durable
//     up to the position, stores it and tells retention, exactly as
//     Subscriber::commit does. With TopicOptions::retain_until_consumed the
//     committed position holds records as an in-process named subscriber's
//     does, from subscribe() on (a new named subscriber's start is
//     committed then). When the process dies, that committed position
//     stays (and keeps holding records, as a destroyed in-process named
//     subscriber's does) until a subscriber of that name commits past it
//     or Topic::remove_reader removes it; what it read after its last
//     commit is read again by the next one of that name. An unnamed
//     attached subscriber holds nothing, alive or dead.
//   - Topic::readers() in the owner lists it (ReaderInfo::attached) at the
//     position it stored after its last poll, until it is destroyed or
//     its process dies (doc/ipc.md, "Topic::readers() across processes").
//     The owner does not count it among the topic's open handles:
//     delete_topic() is not refused for it (its polls then return
//     kNotFound, "topic was deleted").
//   - (As in process:) a subscriber that fell behind retention is told how many
//     records it lost, exactly (PollResult::lost, before the records after
//     the gap).
//
// Thread safety: as Subscriber: polls and commits from one thread;
// position(), lag(), lost() and options() from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>

#include "conduit/engine.h"
#include "conduit/export.h"
#include "conduit/message.h"
#include "conduit/options.h"
#include "conduit/status.h"

namespace conduit {

namespace detail {
class AttachedSubscriberCore;
}

// A subscriber of the owner's topic in this process, made by
// AttachedEngine::subscribe: reads in place in this process's own mapping
// (the top of this file says what differs from Subscriber).
class CONDUIT_EXPORT AttachedSubscriber {
 public:
  ~AttachedSubscriber();
  AttachedSubscriber(const AttachedSubscriber&) = delete;
  AttachedSubscriber& operator=(const AttachedSubscriber&) = delete;

  // Up to out.size() records, in order, without waiting. The views stay
  // valid until the next poll on this subscriber or its destruction.
  PollResult try_poll(std::span<RecordView> out) noexcept;
  // Like try_poll, but waits up to `timeout` for at least one record, a
  // loss to report, or the owner's end.
  PollResult poll(std::span<RecordView> out, std::chrono::nanoseconds timeout) noexcept;

  // Next sequence this subscriber will read. Any thread.
  std::uint64_t position() const noexcept;
  // published() - position(), published as of the owner's last sync round
  // (a memory-only topic: claimed now; see the top); 0 when that is behind
  // position(). Any thread.
  std::uint64_t lag() const noexcept;
  // Records lost in total (retention). Any thread.
  std::uint64_t lost() const noexcept;
  // The options it was made with. Any thread.
  const SubscriberOptions& options() const noexcept;
  // Subscriber::commit across processes (see the top): stores position(),
  // or `seq` (kInvalidArgument past position()). kInvalidArgument without
  // a name; kClosed once the owner is gone. The poll thread.
  // @{
  Status commit();
  Status commit(std::uint64_t seq);
  // @}
  // The topic's stats (Topic::stats) as the owner has them now: a round
  // trip. The poll thread.
  Result<TopicStats> topic_stats();
  // OK while the owner is there; kClosed "the owner of DIR is gone" once a
  // call or a poll found it gone. The poll thread.
  Status owner_status() const;

 private:
  friend class AttachedEngine;
  explicit AttachedSubscriber(std::unique_ptr<detail::AttachedSubscriberCore> core);
  std::unique_ptr<detail::AttachedSubscriberCore> core_;
};

}  // namespace conduit
