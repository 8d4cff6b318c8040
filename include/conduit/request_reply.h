// conduit — request-reply over topics.
//
// A Requester owns a reply topic and one subscriber on it. send() publishes
// a request with a fresh correlation id and reply_to set to that topic;
// poll() hands back each request once, as a Reply: with the first reply that
// carries its correlation id (status OK, the reply's whole envelope), or
// with status kTimedOut once its timeout passed (kClosed when the engine
// closed first). request() is send() and a wait for that one Reply, in the
// same model: its Result fails only when the request could not be sent; a
// timeout is the Reply's status. Many requests may be in flight from one
// thread. A reply whose correlation id matches no
// request in flight (unknown, already answered, or expired) is counted and
// dropped, never handed to another request: correlation ids are the
// requester's random nonce plus a number it never reuses.
//
// The responder side reads requests like any record and answers with
// publish_reply(), which copies the correlation id and trace id.
//
// Across processes: Requester::open(AttachedEngine&) makes a requester in a
// process attached to the owner (conduit/attach.h); it sends through an
// AttachedTopic and reads its replies with an AttachedSubscriber. A
// responder in an attached process answers with publish_reply(AttachedEngine&,
// ...). Any mix works (requester and responder each in the owner or in an
// attached process) as long as other processes can map the reply topic: an
// attached requester's is memory-only and shared (the owner creates it with
// TopicOptions::shared); a requester in the owner whose responders are
// attached names a reply topic created with shared = true, or sets
// RequesterOptions::reply_durability kAsync. What differs for an attached
// requester: its clock is this process's wall clock, and the owner dying
// finishes every request in flight with kClosed "the owner of DIR is gone"
// (as the engine closing does in process).
// doc/ipc.md, "Request-reply between processes".
//
// Thread safety: a Requester is used by one thread at a time; counters may
// be read from any thread. publish_reply is thread-safe. A Requester may
// outlive its Engine: its calls then fail with kClosed (engine.h).
#pragma once

#include "conduit/export.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "conduit/engine.h"

namespace conduit {

class AttachedEngine;
class AttachedTopic;
namespace detail {
class ReplySource;
}

// A Requester's options (Requester::open).
struct RequesterOptions {
  // The topic replies come to; created as reply_durability says if it does
  // not exist.
  // Empty: "conduit.replies.<16 hex digits>", a fresh name per requester.
  // Its subscriber loses the oldest replies rather than block responders
  // when the requester does not poll; a lost reply's request times out.
  // The topic stays in the engine after the requester is destroyed, until
  // Engine::delete_topic(name) removes it: make requesters long-lived (or
  // give several, one after another, the same name), not one per request,
  // or delete each one's reply topic once it is destroyed.
  std::string reply_topic;
  // What the reply topic is when this requester creates it. kMemory (the
  // default): memory-only; shared with other processes when the owner makes
  // it for open(AttachedEngine&), not when open(Engine&) does. kAsync or
  // kSync: persisted, with reply_topic_options() (a responder in another
  // process can answer).
  std::optional<Durability> reply_durability;
  // The clock timeouts are measured on, ns since the Unix epoch; empty: the
  // engine's clock (Engine::now_ns(): EngineOptions::clock, else the wall
  // clock), so a test clock injected into the engine drives them too.
  std::function<std::int64_t()> clock;
};

// One finished request: its outcome, and the reply's envelope, copied (it
// outlives the reply topic's ring).
struct Reply {
  std::uint64_t request = 0;  // what send() returned
  // OK with the reply below; kTimedOut (no reply in time) or kClosed (the
  // engine closed, or was destroyed, first) with the fields empty.
  Status status;
  std::uint64_t sequence = 0;  // the reply record's sequence on the reply topic
  // The reply's envelope, as Message names the fields.
  // @{
  std::int64_t timestamp_ns = 0;
  std::string payload;
  std::string id;
  std::string key;
  std::string correlation_id;
  std::string trace_id;
  std::string content_type;
  std::uint32_t schema_version = 0;
  // @}
  std::vector<std::pair<std::string, std::string>> headers;  // name, value; in order
};

// Sends requests and matches their replies (conduit/request_reply.h).
class CONDUIT_EXPORT Requester {
 public:
  // Creates (or opens) the reply topic and subscribes to it. Fails as
  // Engine::create_topic and Topic::subscribe do.
  static Result<std::unique_ptr<Requester>> open(Engine& engine, RequesterOptions options = {});
  // The same in a process attached to the owner: the owner creates the
  // reply topic (persisted: see reply_durability) and this process
  // subscribes to it (AttachedEngine::subscribe); no clock given: this
  // process's wall clock. Send with the AttachedTopic calls below. The
  // requester must not outlive `engine`.
  static Result<std::unique_ptr<Requester>> open(AttachedEngine& engine, RequesterOptions options = {});
  ~Requester();
  Requester(const Requester&) = delete;
  Requester& operator=(const Requester&) = delete;

  // Publishes `request` on `topic` with a fresh correlation id and reply_to
  // set (the message's own are replaced); returns the request's number,
  // which its Reply carries. `timeout` must be positive. Fails like
  // Topic::publish, and then nothing is in flight. One thread.
  Result<std::uint64_t> send(Topic& topic, Message request, std::chrono::nanoseconds timeout);
  // The same through a topic of the owner's, from an attached process.
  Result<std::uint64_t> send(AttachedTopic& topic, Message request, std::chrono::nanoseconds timeout);
  // Up to out.size() finished requests, oldest first; waits up to `wait`
  // for one when none is ready. One thread.
  std::size_t poll(std::span<Reply> out, std::chrono::nanoseconds wait = {});
  // send() and wait (on the requester's clock) for that request's Reply:
  // its status says whether a reply came (OK), the timeout passed
  // (kTimedOut) or the engine closed (kClosed), as from poll(). The Result
  // fails only as send() does (nothing is in flight then). Other requests
  // that finish meanwhile are kept for poll(). One thread.
  // @{
  Result<Reply> request(Topic& topic, Message request, std::chrono::nanoseconds timeout);
  Result<Reply> request(Topic& topic, std::string_view payload, std::chrono::nanoseconds timeout);
  Result<Reply> request(AttachedTopic& topic, Message request, std::chrono::nanoseconds timeout);
  Result<Reply> request(AttachedTopic& topic, std::string_view payload, std::chrono::nanoseconds timeout);
  // @}

  std::size_t in_flight() const noexcept { return deadlines_.size(); }  // sent and not yet finished
  // Replies dropped: no request in flight had their correlation id (never
  // sent by this requester, already answered, or already timed out). Any thread.
  std::uint64_t dropped_replies() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }                                                                                 // relaxed: a counter
  const std::string& reply_topic() const noexcept { return options_.reply_topic; }  // the name replies go to

 private:
  Requester(std::unique_ptr<detail::ReplySource> replies, RequesterOptions options, std::uint64_t nonce);
  std::int64_t now() const;
  // send(): checks the timeout and stamps the request (reply_to, and its
  // correlation id, kept in `correlation`); then, once it is published,
  // tracks it.
  Status stamp(Message& request, std::string& correlation, std::chrono::nanoseconds timeout) const;
  std::uint64_t track(std::chrono::nanoseconds timeout);
  // request(): waits for request `number`'s Reply.
  Reply await(std::uint64_t number);
  void take(std::span<const RecordView> views);  // matches replies to requests
  void drain_replies();                          // takes every reply there is
  void wait_for_replies(std::chrono::nanoseconds wait);
  void expire(std::int64_t now);
  // Every request in flight finishes with `why` (the replies' topic closed).
  void finish_all(const Status& why);

  using Deadline = std::pair<std::int64_t, std::uint64_t>;  // ns on the clock, request
  std::unique_ptr<detail::ReplySource> replies_;            // a Subscriber or an AttachedSubscriber
  RequesterOptions options_;
  std::string prefix_;  // "<nonce hex>-": every correlation id starts with it
  std::uint64_t next_ = 1;
  std::unordered_map<std::uint64_t, std::int64_t> deadlines_;                         // in flight
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> by_deadline_;  // may hold answered ones
  std::deque<Reply> done_;                                                            // finished, not yet handed out
  std::atomic<std::uint64_t> dropped_{0};
};

// Answers `request` (a record read from a request topic): publishes `reply`
// on the request's reply_to topic with its correlation id, and its trace id
// unless `reply` has one. kInvalidArgument when the request has no reply_to
// or no correlation id; kNotFound when the reply topic does not exist; else
// as Topic::publish. Thread-safe.
CONDUIT_EXPORT Result<std::uint64_t> publish_reply(Engine& engine, const RecordView& request, Message reply);
// The same from an attached process (the request read with an
// AttachedSubscriber or AttachedConsumer, or anyhow): publishes through
// engine.topic(reply_to), so the reply topic must be persisted; a
// memory-only one is refused with kUnsupported. Thread-safe.
CONDUIT_EXPORT Result<std::uint64_t> publish_reply(AttachedEngine& engine, const RecordView& request, Message reply);

// The options of a persisted reply topic a requester creates (durability
// kAsync or kSync): 1 MiB segments, payloads up to 256 KiB, and retention
// of 4 MiB, so that a long-lived requester's replies take a few MiB of disk
// at most (a reply the requester has not read when its segment goes is
// lost, and its request times out).
CONDUIT_EXPORT TopicOptions reply_topic_options(Durability durability);

}  // namespace conduit
