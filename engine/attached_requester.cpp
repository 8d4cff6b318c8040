// Request-reply from a process attached to the owner (conduit/request_reply.h,
// doc/ipc.md "Request-reply between processes"): the owner creates the reply
// topic, this process reads it with an AttachedSubscriber and publishes with
// AttachedTopic; the matching of replies to requests is Requester's own.
#include "conduit/attach.h"
#include "conduit/request_reply.h"
#include "engine/ipc_connection.h"
#include "engine/ipc_wire.h"
#include "engine/reply_source.h"
#include "engine/requester_internal.h"
#include "engine/wall_clock.h"

namespace conduit {

Status AttachedEngine::reply_topic(std::string_view name, Durability durability) {
  detail::ipc::Writer req(detail::ipc::Op::kReplyTopic);
  req.str(name).put(static_cast<std::uint8_t>(durability));
  auto reply = call(req);
  if (!reply.ok()) return reply.status();
  detail::ipc::Reader r(*reply);
  return r.status();
}

Result<std::unique_ptr<Requester>> Requester::open(AttachedEngine& engine, RequesterOptions options) {
  const std::uint64_t nonce = detail::fresh_nonce();
  if (options.reply_topic.empty()) options.reply_topic = detail::default_reply_topic(nonce);
  // Memory-only, as in process: the owner makes it a shared one
  // (TopicOptions::shared), which this process maps.
  if (!options.reply_durability) options.reply_durability = Durability::kMemory;
  if (Status s = engine.reply_topic(options.reply_topic, *options.reply_durability); !s.ok()) return s;
  SubscriberOptions so;
  so.start = StartAt::latest();
  // As in process: a requester that does not poll loses its oldest replies
  // (their requests time out) rather than hold up responders.
  so.slow = SlowPolicy::kLoseOldest;
  auto sub = engine.subscribe(options.reply_topic, so);
  if (!sub.ok()) return sub.status();
  // This process's clock, as its AttachedTopic stamps records with.
  if (!options.clock) options.clock = [] { return detail::wall_clock_ns(); };
  return std::unique_ptr<Requester>(new Requester(
      std::make_unique<detail::ReplySourceOf<AttachedSubscriber>>(std::move(sub).value()), std::move(options), nonce));
}

Result<std::uint64_t> Requester::send(AttachedTopic& topic, Message request, std::chrono::nanoseconds timeout) {
  std::string correlation;
  if (Status s = stamp(request, correlation, timeout); !s.ok()) return s;
  auto seq = topic.publish(request);
  if (!seq.ok()) return seq.status();
  return track(timeout);
}

Result<Reply> Requester::request(AttachedTopic& topic, Message message, std::chrono::nanoseconds timeout) {
  auto number = send(topic, std::move(message), timeout);
  if (!number.ok()) return number.status();
  return await(*number);
}

Result<Reply> Requester::request(AttachedTopic& topic, std::string_view payload, std::chrono::nanoseconds timeout) {
  Message m;
  m.payload = payload;
  return request(topic, std::move(m), timeout);
}

Result<std::uint64_t> publish_reply(AttachedEngine& engine, const RecordView& request, Message reply) {
  if (Status s = detail::as_reply(request, reply); !s.ok()) return s;
  auto topic = engine.topic(request.reply_to());
  if (!topic.ok()) return topic.status();
  return (*topic)->publish(reply);
}

}  // namespace conduit
