// Inbound: a durable JetStream pull consumer into a conduit topic.
//
// Threads: the bridge thread fetches, publishes, waits for durability and
// acks; stats() reads the counters from any thread.
#include <algorithm>
#include <thread>

#include "bridge/envelope_headers.h"
#include "bridge/nats_link.h"
#include "conduit/bridge.h"

namespace conduit::bridge {

using detail::Counters;
using detail::nats_error;

struct Inbound::State {
  InboundOptions options;
  Topic* topic = nullptr;
  std::unique_ptr<detail::NatsLink> link;
  natsSubscription* sub = nullptr;
  std::thread thread;
  // Set by stop(), read by the bridge thread between batches: relaxed is
  // enough, the join orders everything after it.
  std::atomic<bool> stopping{false};

  detail::Counters counters;  // written by the bridge thread

  ~State() {
    if (sub != nullptr) natsSubscription_Destroy(sub);
  }
  void run();
  // Publishes the batch and makes it durable (sync topics); false when a
  // record could not be stored: nothing of the batch is acked then.
  bool store(natsMsgList& list, int count);
  // How many of a fetch's messages to use: list.Count, but never more than
  // the batch asked for. Under a server restart libnats 3.4.1 was seen (ASan,
  // bridge_roundtrip_test) returning a Count past the batch-sized array it
  // allocated; reading further would take garbage for messages.
  int usable(const natsMsgList& list) const { return std::min(list.Count, static_cast<int>(options.batch)); }
};

bool Inbound::State::store(natsMsgList& list, int count) {
  const bool sync = topic->options().durability == Durability::kSync;
  detail::Envelope env;
  std::uint64_t last = 0;
  for (int i = 0; i < count; ++i) {
    natsMsg* m = list.Msgs[i];
    jsMsgMetaData* meta = nullptr;
    std::string fallback;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
      // No Nats-Msg-Id: the stream position names the message for dedup.
      fallback = "jetstream:" + std::string(meta->Stream) + ":" + std::to_string(meta->Sequence.Stream);
      if (meta->NumDelivered > 1) Counters::add(counters.duplicates, 1);
      Counters::set(counters.lag, meta->NumPending);
      jsMsgMetaData_Destroy(meta);
    }
    if (Status s = detail::from_nats(m, fallback, &env); !s.ok()) {
      // A message no decoder can read would come back forever: terminate it
      // so JetStream stops delivering it, and say so.
      link->set_error("inbound: message " + fallback + " dropped: " + s.to_string());
      natsMsg_Term(m, nullptr);
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

void Inbound::State::run() {
  std::chrono::milliseconds backoff{0};
  while (!stopping.load(std::memory_order_relaxed)) {  // see `stopping`
    natsMsgList list{};
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = natsSubscription_Fetch(&list, sub, static_cast<int>(options.batch),
                                          options.fetch_wait.count(), &jerr);
    if (s == NATS_TIMEOUT) continue;  // nothing to fetch
    if (s != NATS_OK) {
      link->set_error(nats_error("fetch from '" + options.durable + "'", s).message());
      natsMsgList_Destroy(&list);
      backoff = std::clamp(backoff * 2, options.nats.reconnect_wait, options.nats.reconnect_wait_max);
      std::this_thread::sleep_for(backoff);
      continue;
    }
    backoff = std::chrono::milliseconds(0);
    const int count = usable(list);
    Counters::set(counters.in_flight, static_cast<std::uint64_t>(count));
    if (store(list, count)) {
      for (int i = 0; i < count; ++i) {
        jsMsgMetaData* meta = nullptr;
        if (natsMsg_GetMetaData(&meta, list.Msgs[i]) == NATS_OK) {
          Counters::set(counters.committed, meta->Sequence.Stream);
          jsMsgMetaData_Destroy(meta);
        }
        // Fire and forget: a lost ack means a redelivery, which the topic's
        // dedup window drops.
        if (natsMsg_Ack(list.Msgs[i], nullptr) == NATS_OK)
          Counters::add(counters.forwarded, 1);
      }
    } else {
      // Not acked: JetStream delivers them again after ack_wait. Nak asks
      // for it now; the records already stored fall in the dedup window.
      Counters::add(counters.retries, 1);
      for (int i = 0; i < count; ++i) (void)natsMsg_Nak(list.Msgs[i], nullptr);
      backoff = std::clamp(backoff * 2, options.nats.reconnect_wait, options.nats.reconnect_wait_max);
      std::this_thread::sleep_for(backoff);
    }
    Counters::set(counters.in_flight, 0);
    natsMsgList_Destroy(&list);
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
  const InboundOptions& o = st->options;
  auto link = detail::NatsLink::connect(o.nats, nullptr);
  if (!link.ok()) return link.status();
  st->link = std::move(link).value();

  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = o.stream.c_str();
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.DeliverPolicy = js_DeliverAll;
  so.Config.AckWait = std::chrono::nanoseconds(o.ack_wait).count();
  so.Config.MaxAckPending = o.max_ack_pending;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_PullSubscribe(&st->sub, st->link->js(), o.subject.c_str(),
                                  o.durable.c_str(), nullptr, &so, &jerr);
  if (s == NATS_NOT_FOUND) return Status::NotFound("nats: stream '" + o.stream + "' does not exist");
  if (s != NATS_OK) return nats_error("pull consumer '" + o.durable + "' on stream '" + o.stream + "'", s);

  State* raw = st.get();
  st->thread = std::thread([raw] { raw->run(); });
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
