// Inbound: a durable JetStream pull consumer into a conduit topic.
//
// Threads: the bridge thread fetches, publishes, waits for durability and
// acks; stats() reads the counters from any thread.
#include <algorithm>
#include <thread>

#include "bridge/envelope_headers.h"
#include "bridge/nats_link.h"
#include "common/log.h"
#include "bridge/pull_consumer.h"
#include "conduit/bridge.h"

namespace conduit::bridge {

using detail::Counters;
using detail::Delivery;

struct Inbound::State {
  InboundOptions options;
  Topic* topic = nullptr;
  std::unique_ptr<detail::NatsLink> link;
  std::unique_ptr<detail::PullConsumer> consumer;  // destroyed before `link`
  std::thread thread;
  // Set by stop(), read by the bridge thread between batches: relaxed is
  // enough, the join orders everything after it.
  std::atomic<bool> stopping{false};

  detail::Counters counters;  // written by the bridge thread

  void run();
  // Publishes the batch and makes it durable (sync topics); false when a
  // record could not be stored: nothing of the batch is acked then.
  bool store(std::vector<Delivery>& batch);
  // Acks the batch (true) or naks it; updates the counters.
  void settle(std::vector<Delivery>& batch, bool stored);
};

bool Inbound::State::store(std::vector<Delivery>& batch) {
  const bool sync = topic->options().durability == Durability::kSync;
  detail::Envelope env;
  std::uint64_t last = 0;
  for (Delivery& d : batch) {
    std::string fallback;
    if (d.meta) {
      // No Nats-Msg-Id: the stream position names the message for dedup.
      fallback = "jetstream:" + std::string(d.meta->stream) + ":" + std::to_string(d.meta->stream_seq);
      if (d.meta->delivered > 1) Counters::add(counters.duplicates, 1);
      Counters::set(counters.lag, d.meta->pending);
    }
    if (Status s = detail::from_nats(d.msg.get(), fallback, &env); !s.ok()) {
      // A message no decoder can read would come back forever: terminate it
      // so JetStream stops delivering it, and say so.
      link->set_error("inbound: message " + fallback + " dropped: " + s.to_string());
      (void)consumer->settle(d, detail::kTerm);
      continue;
    }
    Message msg = env.message();
    auto seq = sync ? topic->publish_nowait(msg) : topic->publish(msg);
    if (!seq.ok()) {
      link->set_error("conduit: publish to '" + options.topic + "': " + seq.status().to_string());
      return false;
    }
    last = std::max(last, seq.value() + 1);
  }
  if (sync && last != 0) {
    if (Status s = topic->await_durable(last - 1, std::chrono::seconds(30)); !s.ok()) {
      link->set_error("conduit: '" + options.topic + "' not durable: " + s.to_string());
      return false;
    }
  }
  return true;
}

void Inbound::State::settle(std::vector<Delivery>& batch, bool stored) {
  // Fire and forget: a lost ack means a redelivery, which the topic's dedup
  // window drops. Not stored: a nak asks JetStream to deliver the batch
  // again now rather than after ack_wait; the records already stored fall in
  // the dedup window. Terminated deliveries are settled already.
  for (Delivery& d : batch) {
    if (!stored) {
      (void)consumer->settle(d, detail::kNak);
      continue;
    }
    if (consumer->settle(d, detail::kAck) != NATS_OK) continue;
    Counters::add(counters.forwarded, 1);
    // The highest sequence acked: a redelivery of an older message (acked
    // after ack_wait, dropped by libnats as a slow consumer, or nacked)
    // comes after later ones were acked and must not move it back.
    // This thread alone writes it, so the load sees its own last store.
    if (d.meta && d.meta->stream_seq > Counters::get(counters.committed))
      Counters::set(counters.committed, d.meta->stream_seq);
  }
  if (!stored) Counters::add(counters.retries, 1);
}

void Inbound::State::run() {
  std::chrono::milliseconds backoff{0};
  std::vector<Delivery> batch;
  batch.reserve(options.batch);
  while (!stopping.load(std::memory_order_relaxed)) {  // see `stopping`
    const Status fetched = consumer->fetch(options.batch, options.fetch_wait, &batch);
    if (!fetched.ok()) link->set_error(fetched.message());
    bool stored = true;
    if (!batch.empty()) {
      Counters::set(counters.in_flight, batch.size());
      stored = store(batch);
      settle(batch, stored);
      Counters::set(counters.in_flight, 0);
      batch.clear();
    }
    if (fetched.ok() && stored) {
      backoff = std::chrono::milliseconds(0);
      continue;
    }
    backoff = std::clamp(backoff * 2, options.nats.reconnect_wait, options.nats.reconnect_wait_max);
    std::this_thread::sleep_for(backoff);
  }
}

Result<std::unique_ptr<Inbound>> Inbound::start(Engine& engine, InboundOptions options) {
  if (options.stream.empty() || options.durable.empty() || options.subject.empty())
    return Status::InvalidArgument("inbound bridge: stream, subject and durable consumer name are required");
  if (options.batch == 0 || options.batch > 65536)
    return Status::InvalidArgument("inbound bridge: batch must be 1..65536");
  auto topic = engine.topic(options.topic);
  if (!topic.ok()) return topic.status();
  if (topic.value()->options().dedup.max_ids == 0)
    return Status::InvalidArgument("inbound bridge: topic '" + options.topic +
                                   "' has no dedup window (TopicOptions::dedup); redeliveries would append twice");

  auto st = std::make_unique<State>();
  st->options = std::move(options);
  st->topic = topic.value();
  auto link = detail::NatsLink::connect(st->options.nats, nullptr);
  if (!link.ok()) return link.status();
  st->link = std::move(link).value();
  auto consumer = detail::PullConsumer::open(*st->link, st->options);
  if (!consumer.ok()) return consumer.status();
  st->consumer = std::move(consumer).value();

  State* raw = st.get();
  st->thread = conduit::detail::start_named_thread("conduit-inbound", conduit::detail::thread_hook_of(engine),
                                                   [raw] { raw->run(); });
  return std::unique_ptr<Inbound>(new Inbound(std::move(st)));
}

Inbound::Inbound(std::unique_ptr<State> state) : state_(std::move(state)) {}

Inbound::~Inbound() { (void)stop(); }

Status Inbound::stop() {
  if (!state_ || !state_->thread.joinable()) return Status::OK();
  state_->stopping.store(true, std::memory_order_relaxed);  // the join below orders the rest
  state_->thread.join();
  state_->link->close();
  return Status::OK();
}

BridgeStats Inbound::stats() const noexcept {
  BridgeStats b;
  state_->counters.fill(&b);
  state_->link->fill(&b);
  return b;
}

std::string Inbound::last_error() const { return state_->link->last_error(); }

}  // namespace conduit::bridge
