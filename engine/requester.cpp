// Request-reply: correlation ids, deadlines, and the responder's helper.
#include <charconv>
#include <cstdio>
#include <limits>
#include <random>
#include <thread>

#include "conduit/request_reply.h"
#include "engine/reply_source.h"
#include "engine/requester_internal.h"

namespace conduit {
namespace {

constexpr std::size_t kReplyBatch = 64;
constexpr std::chrono::milliseconds kWaitSlice{1};

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

namespace detail {

std::uint64_t fresh_nonce() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

std::string default_reply_topic(std::uint64_t nonce) { return "conduit.replies." + hex64(nonce); }

Status as_reply(const RecordView& request, Message& reply) {
  if (request.reply_to().empty() || request.correlation_id().empty())
    return Status::InvalidArgument("record " + std::to_string(request.sequence()) +
                                   " is not a request: it needs a reply_to and a correlation id");
  reply.correlation_id = request.correlation_id();
  if (reply.trace_id.empty()) reply.trace_id = request.trace_id();
  return Status::OK();
}

}  // namespace detail

TopicOptions reply_topic_options(Durability durability) {
  TopicOptions o;
  o.durability = durability;
  if (durability == Durability::kMemory) return o;
  // 1 MiB holds two of the largest records (2 * (48 + 64 KiB + 256 KiB)).
  o.segment_bytes = 1u << 20;
  o.max_payload_bytes = 256u << 10;
  o.retain_bytes = 4u << 20;
  return o;
}

Result<std::unique_ptr<Requester>> Requester::open(Engine& engine, RequesterOptions options) {
  const std::uint64_t nonce = detail::fresh_nonce();
  if (options.reply_topic.empty()) options.reply_topic = detail::default_reply_topic(nonce);
  auto topic = engine.topic(options.reply_topic);
  if (!topic.ok() && topic.status().code() == Code::kNotFound)
    topic = engine.create_topic(options.reply_topic,
                                reply_topic_options(options.reply_durability.value_or(Durability::kMemory)));
  if (!topic.ok()) return topic.status();
  SubscriberOptions so;
  so.start = StartAt::latest();
  so.slow = SlowPolicy::kLoseOldest;
  auto sub = (*topic)->subscribe(so);
  if (!sub.ok()) return sub.status();
  // No clock of its own: the engine's. A copy, not the engine: a requester
  // may outlive it (engine.h).
  if (!options.clock) options.clock = detail::clock_of(engine);
  return std::unique_ptr<Requester>(new Requester(
      std::make_unique<detail::ReplySourceOf<Subscriber>>(std::move(sub).value()), std::move(options), nonce));
}

Requester::Requester(std::unique_ptr<detail::ReplySource> replies, RequesterOptions options, std::uint64_t nonce)
    : replies_(std::move(replies)), options_(std::move(options)), prefix_(hex64(nonce) + "-") {}

Requester::~Requester() = default;

std::int64_t Requester::now() const { return options_.clock(); }  // never empty: open() fills it in

Status Requester::stamp(Message& request, std::string& correlation, std::chrono::nanoseconds timeout) const {
  if (timeout <= std::chrono::nanoseconds::zero()) return Status::InvalidArgument("request timeout must be positive");
  correlation = prefix_ + std::to_string(next_);
  request.correlation_id = correlation;
  request.reply_to = options_.reply_topic;
  return Status::OK();
}

Result<std::uint64_t> Requester::send(Topic& topic, Message request, std::chrono::nanoseconds timeout) {
  std::string correlation;
  if (Status s = stamp(request, correlation, timeout); !s.ok()) return s;
  auto seq = topic.publish(request);
  if (!seq.ok()) return seq.status();
  return track(timeout);
}

std::uint64_t Requester::track(std::chrono::nanoseconds timeout) {
  const std::uint64_t number = next_++;  // only a published request uses up its number
  const std::int64_t t = now();
  // Saturated: a timeout past the clock's range never expires.
  const std::int64_t deadline = timeout.count() > std::numeric_limits<std::int64_t>::max() - t
                                    ? std::numeric_limits<std::int64_t>::max()
                                    : t + timeout.count();
  deadlines_.emplace(number, deadline);
  by_deadline_.emplace(deadline, number);
  return number;
}

void Requester::take(std::span<const RecordView> views) {
  for (const RecordView& v : views) {
    const std::string_view corr = v.correlation_id();
    std::uint64_t number = 0;
    bool ours = corr.starts_with(prefix_);
    if (ours) {
      const char* end = corr.data() + corr.size();
      const auto parsed = std::from_chars(corr.data() + prefix_.size(), end, number);
      ours = parsed.ec == std::errc{} && parsed.ptr == end;
    }
    auto it = ours ? deadlines_.find(number) : deadlines_.end();
    if (it == deadlines_.end()) {
      dropped_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
      continue;
    }
    deadlines_.erase(it);  // its by_deadline_ entry is skipped when it comes up
    Reply reply;
    reply.request = number;
    reply.sequence = v.sequence();
    reply.timestamp_ns = v.timestamp_ns();
    reply.payload = v.payload();
    reply.id = v.id();
    reply.key = v.key();
    reply.correlation_id = corr;
    reply.trace_id = v.trace_id();
    reply.content_type = v.content_type();
    reply.schema_version = v.schema_version();
    reply.headers.reserve(v.header_count());
    for (std::size_t h = 0; h < v.header_count(); ++h) reply.headers.emplace_back(v.header(h).name, v.header(h).value);
    done_.push_back(std::move(reply));
  }
}

namespace {

// Why requests in flight end when the reply topic's subscriber is closed:
// an attached one says the owner is gone; else the engine closed.
Status closed_why(const PollResult& r, const std::string& topic) {
  if (r.status.code() == Code::kClosed) return r.status;
  return Status::Closed("reply topic '" + topic + "': engine is closed");
}

}  // namespace

void Requester::drain_replies() {
  RecordView views[kReplyBatch];
  for (;;) {
    const PollResult r = replies_->try_poll(views);
    take(std::span<const RecordView>(views, r.count));
    if (r.closed) finish_all(closed_why(r, options_.reply_topic));
    if (r.count == 0 && r.lost == 0) return;
  }
}

void Requester::wait_for_replies(std::chrono::nanoseconds wait) {
  RecordView views[kReplyBatch];
  const PollResult r = replies_->poll(views, wait);
  take(std::span<const RecordView>(views, r.count));
  if (r.closed) {
    finish_all(closed_why(r, options_.reply_topic));
    return;
  }
  // A reply record that failed its check stops the reply subscriber there:
  // the requests still waiting time out. Wait as asked, not in a hot loop.
  if (!r.status.ok()) std::this_thread::sleep_for(wait);
}

void Requester::finish_all(const Status& why) {
  for (const auto& [number, deadline] : deadlines_) {
    Reply reply;
    reply.request = number;
    reply.status = why;
    done_.push_back(std::move(reply));
  }
  deadlines_.clear();  // their by_deadline_ entries are skipped when they come up
}

void Requester::expire(std::int64_t t) {
  while (!by_deadline_.empty() && by_deadline_.top().first <= t) {
    const auto [deadline, number] = by_deadline_.top();
    by_deadline_.pop();
    auto it = deadlines_.find(number);
    if (it == deadlines_.end() || it->second != deadline) continue;  // answered already
    deadlines_.erase(it);
    Reply reply;
    reply.request = number;
    reply.status = Status::TimedOut("request " + std::to_string(number) + " to reply topic '" + options_.reply_topic +
                                    "': no reply in time");
    done_.push_back(std::move(reply));
  }
}

std::size_t Requester::poll(std::span<Reply> out, std::chrono::nanoseconds wait) {
  // Replies first: a reply that arrived before the deadline was checked wins.
  drain_replies();
  expire(now());
  if (done_.empty() && wait > std::chrono::nanoseconds::zero() && !deadlines_.empty()) {
    wait_for_replies(wait);
    drain_replies();
    expire(now());
  }
  std::size_t n = 0;
  while (n < out.size() && !done_.empty()) {
    out[n++] = std::move(done_.front());
    done_.pop_front();
  }
  return n;
}

Result<Reply> Requester::request(Topic& topic, std::string_view payload, std::chrono::nanoseconds timeout) {
  Message m;
  m.payload = payload;
  return request(topic, m, timeout);
}

Result<Reply> Requester::request(Topic& topic, Message message, std::chrono::nanoseconds timeout) {
  auto number = send(topic, std::move(message), timeout);
  if (!number.ok()) return number.status();
  return await(*number);
}

Reply Requester::await(std::uint64_t number) {
  for (;;) {
    drain_replies();
    expire(now());
    for (auto it = done_.begin(); it != done_.end(); ++it)
      if (it->request == number) {
        Reply r = std::move(*it);
        done_.erase(it);
        return r;  // a timeout or close too: in its status, as poll() gives it
      }
    // Real time, a slice at a time: the deadline is on the requester's clock.
    wait_for_replies(kWaitSlice);
  }
}

Result<std::uint64_t> publish_reply(Engine& engine, const RecordView& request, Message reply) {
  if (Status s = detail::as_reply(request, reply); !s.ok()) return s;
  auto topic = engine.topic(request.reply_to());
  if (!topic.ok()) return topic.status();
  return (*topic)->publish(reply);
}

}  // namespace conduit
