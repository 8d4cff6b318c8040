// Outbound: a named subscriber's records published to JetStream.
//
// Threads: the bridge thread polls the subscriber, publishes, resends and
// commits; libnats' thread runs on_ack, which only queues what it learnt
// (under mu) for the bridge thread. The window of records in flight, the
// subscriber and the retry list belong to the bridge thread alone.
//
// Lifetime: on_ack's closure is the State. Neither jsCtx_Destroy nor
// natsConnection_Destroy promises to wait for an ack handler that is
// running: it runs on the delivery thread of the context's reply
// subscription, which libnats detaches rather than joins (it keeps only the
// jsCtx alive, through that subscription's on-complete callback). libnats
// 3.4.1's natsConnection_Close was seen to return after the calls under way,
// but nothing says so. So stop() ends the handler's calls itself before
// anything is freed; see quiesce().
#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "bridge/envelope_headers.h"
#include "bridge/nats_link.h"
#include "common/log.h"
#include "conduit/bridge.h"

namespace conduit::bridge {

using detail::Counters;
using detail::nats_error;
using Clock = std::chrono::steady_clock;

struct Outbound::State {
  OutboundOptions options;
  Topic* topic = nullptr;
  std::unique_ptr<Subscriber> subscriber;
  std::unique_ptr<detail::NatsLink> link;
  std::thread thread;

  // Filled by on_ack (libnats' thread), drained by the bridge thread.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::uint64_t> acked;  // sequences JetStream stored
  std::vector<natsMsg*> failed;      // publishes to send again (owned)
  bool stopping = false;             // tells the bridge thread to finish

  // The bridge thread's own.
  struct Slot {
    std::uint64_t seq;
    bool acked;
  };
  std::deque<Slot> window;  // published, in sequence order, until the acked prefix leaves
  std::vector<natsMsg*> retry;
  Clock::time_point retry_at{};
  std::chrono::milliseconds backoff{0};
  Clock::time_point last_commit{};
  std::uint64_t committed_pos = 0;

  // in_flight is also the bridge thread's own count of the window's unacked
  // records; lag holds the ack floor here (stats() turns it into a lag).
  detail::Counters counters;

  // True once quiesce() proved that on_ack runs no more (or nothing was
  // ever published); until then the State must not be freed.
  bool quiesced = false;
  // The bridge thread handed libnats at least one publish. Until then the
  // context has no pending map, and js_PublishAsyncGetPendingList (3.4)
  // dereferences it anyway: quiesce() must not call it. Read by stop()
  // after joining the bridge thread.
  bool handed_any = false;

  // After stop() quiesced libnats, or before anything was published (a
  // start() that failed), on_ack cannot run.
  ~State() {
    link.reset();
    for (natsMsg* m : failed) natsMsg_Destroy(m);
    for (natsMsg* m : retry) natsMsg_Destroy(m);
  }

  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);
  void run();
  std::size_t quiesce();
  void drain(bool wait);
  void publish(natsMsg* msg);
  void commit_prefix(bool force);
  jsPubOptions pub_options() const;
};

std::atomic<std::uint32_t> detail::g_ack_handler_delay_us{0};

void Outbound::State::on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  // Relaxed: a test's setting, read on its own; it orders nothing.
  if (const std::uint32_t us = detail::g_ack_handler_delay_us.load(std::memory_order_relaxed); us != 0)
    std::this_thread::sleep_for(std::chrono::microseconds(us));
  auto* st = static_cast<State*>(closure);
  if (pa != nullptr) {
    const char* seq_text = nullptr;
    std::uint64_t seq = 0;
    if (natsMsgHeader_Get(msg, detail::hdr::kSequence, &seq_text) == NATS_OK)
      std::from_chars(seq_text, seq_text + std::strlen(seq_text), seq);
    if (pa->Duplicate) Counters::add(st->counters.duplicates, 1);
    natsMsg_Destroy(msg);
    std::lock_guard lock(st->mu);
    st->acked.push_back(seq);
  } else {
    std::string text = "nats: publish to '" + st->options.subject + "' failed: " + natsStatus_GetText(pae->Err);
    if (pae->ErrText != nullptr) text += std::string(" (") + pae->ErrText + ")";
    st->link->set_error(std::move(text));
    std::lock_guard lock(st->mu);
    st->failed.push_back(msg);  // kept: the handler does not destroy it, the bridge resends it
  }
  st->cv.notify_one();
}

jsPubOptions Outbound::State::pub_options() const {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = options.ack_timeout.count();  // no ack within it: on_ack reports a timeout
  return po;
}

void Outbound::State::publish(natsMsg* msg) {
  jsPubOptions po = pub_options();
  natsStatus s = js_PublishMsgAsync(link->js(), &msg, &po);
  handed_any = true;  // even a failed call may have created the pending map
  if (s != NATS_OK) {
    // Not handed to libnats (e.g. a stall): keep it for the retry list.
    link->set_error(nats_error("publish to '" + options.subject + "'", s).message());
    retry.push_back(msg);
    backoff = std::clamp(backoff * 2, options.nats.reconnect_wait, options.nats.reconnect_wait_max);
    retry_at = Clock::now() + backoff;
  }
}

void Outbound::State::drain(bool wait) {
  std::vector<std::uint64_t> acks;
  std::vector<natsMsg*> fails;
  {
    std::unique_lock lock(mu);
    if (wait && acked.empty() && failed.empty() && !stopping) cv.wait_for(lock, std::chrono::milliseconds(20));
    acks.swap(acked);
    fails.swap(failed);
  }
  for (std::uint64_t seq : acks) {
    // The window is sorted by sequence; a sequence not in it was acked twice.
    auto it =
        std::lower_bound(window.begin(), window.end(), seq, [](const Slot& s, std::uint64_t v) { return s.seq < v; });
    if (it != window.end() && it->seq == seq && !it->acked) {
      it->acked = true;
      Counters::add(counters.forwarded, 1);
      Counters::set(counters.in_flight, Counters::get(counters.in_flight) - 1);  // this thread's own
    }
  }
  if (!acks.empty()) backoff = std::chrono::milliseconds(0);
  if (!fails.empty()) {
    Counters::add(counters.retries, fails.size());
    retry.insert(retry.end(), fails.begin(), fails.end());
    backoff = std::clamp(backoff * 2, options.nats.reconnect_wait, options.nats.reconnect_wait_max);
    retry_at = Clock::now() + backoff;
  }
  while (!window.empty() && window.front().acked) window.pop_front();
  const std::uint64_t floor = window.empty() ? subscriber->position() : window.front().seq;
  Counters::set(counters.lag, floor);
}

void Outbound::State::commit_prefix(bool force) {
  const std::uint64_t floor = window.empty() ? subscriber->position() : window.front().seq;
  if (floor == committed_pos) return;
  const auto now = Clock::now();
  if (!force && now - last_commit < options.commit_interval) return;
  if (Status s = subscriber->commit(floor); !s.ok()) {
    link->set_error("conduit: commit of '" + options.subscriber + "': " + s.to_string());
    return;
  }
  committed_pos = floor;
  last_commit = now;
  Counters::set(counters.committed, floor);
}

void Outbound::State::run() {
  std::vector<RecordView> views(std::min<std::uint32_t>(options.max_in_flight, 256));
  while (true) {
    {
      std::lock_guard lock(mu);
      if (stopping) break;
    }
    const bool full = Counters::get(counters.in_flight) >= options.max_in_flight;  // own counter
    drain(/*wait=*/full || !retry.empty());

    if (!retry.empty() && Clock::now() >= retry_at) {
      std::vector<natsMsg*> again;
      again.swap(retry);
      for (natsMsg* m : again) publish(m);
    }

    const std::uint64_t room =
        options.max_in_flight -
        std::min<std::uint64_t>(options.max_in_flight, Counters::get(counters.in_flight));  // own counter
    if (room > 0 && retry.empty()) {
      std::span<RecordView> out(views.data(), std::min<std::size_t>(views.size(), room));
      const PollResult r =
          window.empty() ? subscriber->poll(out, std::chrono::milliseconds(20)) : subscriber->try_poll(out);
      if (!r.status.ok()) {
        // A record that failed its check stays where it is, and so does the
        // bridge: said on the link, looked at again no more than a poll's
        // wait later.
        link->set_error("conduit: '" + options.topic + "': " + r.status.to_string());
        if (window.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (r.lost != 0)
        link->set_error("conduit: '" + options.topic + "' lost " + std::to_string(r.lost) +
                        " records before the bridge read them (retention)");
      for (std::size_t i = 0; i < r.count; ++i) {
        // In the window first: a record that could not be made into a
        // message stays unacked there, so the commit never passes it.
        window.push_back(Slot{views[i].sequence(), false});
        Counters::add(counters.in_flight, 1);
        auto msg = detail::to_nats(views[i], options.topic, options.subject.c_str());
        if (!msg.ok()) {
          link->set_error(msg.status().to_string());  // out of memory, short of a libnats bug
          continue;
        }
        publish(msg.value());
      }
      if (r.closed) link->set_error("conduit: the engine was closed; nothing more to forward");
      if (r.count == 0 && (r.closed || !window.empty())) drain(/*wait=*/true);
    }
    commit_prefix(false);
  }

  // Stopping: the records in flight get up to ack_timeout to be acked.
  const auto deadline = Clock::now() + options.ack_timeout;
  while (Counters::get(counters.in_flight) > 0 && Clock::now() < deadline) drain(true);
  commit_prefix(true);
}

// Called once the bridge thread has ended, so nothing publishes any more.
// Takes back from libnats the publishes still awaiting an ack and returns
// their number; afterwards libnats calls on_ack no more. Why, from libnats'
// js.c (3.4; the same in later releases): the reply handler takes the
// message out of the context's pending map under the context's lock, calls
// on_ack without the lock, then decrements the pending count under the lock
// and wakes js_PublishAsyncComplete's waiters at zero; a reply (or a
// MaxWait timeout) whose message is no longer in the map is dropped without
// a call. js_PublishAsyncGetPendingList empties the map and takes its
// messages off the count under the same lock. So after it, no call can
// start, the count is the number of calls under way, and
// js_PublishAsyncComplete returning NATS_OK means each of them has returned
// (and the context's mutex orders their writes before ours).
//
// The records taken back were not committed (the window keeps them
// unacked): the next start publishes them again under the same
// Nats-Msg-Id, and JetStream drops any that did arrive.
std::size_t Outbound::State::quiesce() {
  std::size_t taken = 0;
  if (!handed_any) {  // nothing was published: on_ack never runs
    quiesced = true;
    return 0;
  }
  natsMsgList pending{};
  if (js_PublishAsyncGetPendingList(&pending, link->js()) == NATS_OK) {
    taken = static_cast<std::size_t>(pending.Count);
    natsMsgList_Destroy(&pending);  // destroys the messages too
  }
  // on_ack takes two short locks and returns: seconds are far beyond need.
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 10000;
  const natsStatus s = js_PublishAsyncComplete(link->js(), &po);
  if (s == NATS_OK)
    quiesced = true;
  else
    link->set_error(nats_error("outbound bridge: waiting for libnats' ack handler to return", s).message());
  return taken;
}

Result<std::unique_ptr<Outbound>> Outbound::start(Engine& engine, OutboundOptions options) {
  if (options.subject.empty() || options.stream.empty())
    return Status::InvalidArgument("outbound bridge: stream and subject are required");
  if (options.subscriber.empty())
    return Status::InvalidArgument("outbound bridge: a subscriber name is required (its position is the bridge's)");
  if (options.max_in_flight == 0 || options.max_in_flight > 65536)
    return Status::InvalidArgument("outbound bridge: max_in_flight must be 1..65536");
  auto topic = engine.topic(options.topic);
  if (!topic.ok()) return topic.status();
  if (topic.value()->options().durability == Durability::kMemory)
    return Status::InvalidArgument("outbound bridge: topic '" + options.topic +
                                   "' is memory-only; a bridge needs a persisted topic to resume from");

  auto st = std::make_unique<State>();
  st->options = std::move(options);
  st->topic = topic.value();
  const OutboundOptions& o = st->options;

  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = o.max_in_flight;
  jo.PublishAsync.AckHandler = &State::on_ack;
  jo.PublishAsync.AckHandlerClosure = st.get();
  auto link = detail::NatsLink::connect(o.nats, &jo);
  if (!link.ok()) return link.status();
  st->link = std::move(link).value();

  // The stream: found, or created for the subject.
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, st->link->js(), o.stream.c_str(), nullptr, &jerr);
  if (s == NATS_NOT_FOUND && o.create_stream) {
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char* subjects[] = {o.subject.c_str()};
    sc.Name = o.stream.c_str();
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    s = js_AddStream(&si, st->link->js(), &sc, nullptr, &jerr);
  }
  if (si != nullptr) jsStreamInfo_Destroy(si);
  if (s == NATS_NOT_FOUND) return Status::NotFound("nats: stream '" + o.stream + "' does not exist");
  if (s != NATS_OK) return nats_error("stream '" + o.stream + "'", s);

  SubscriberOptions so;
  so.name = o.subscriber;
  so.start = o.start;
  so.durable_only = o.durable_only;
  so.wait = WaitStrategy::kPark;
  auto sub = st->topic->subscribe(so);
  if (!sub.ok()) return sub.status();
  st->subscriber = std::move(sub).value();
  st->committed_pos = st->subscriber->position();
  Counters::set(st->counters.committed, st->committed_pos);  // the thread's start orders these
  Counters::set(st->counters.lag, st->committed_pos);

  State* raw = st.get();
  st->thread = conduit::detail::start_named_thread("conduit-outbnd", conduit::detail::thread_hook_of(engine),
                                                   [raw] { raw->run(); });
  return std::unique_ptr<Outbound>(new Outbound(std::move(st)));
}

Outbound::Outbound(std::unique_ptr<State> state) : state_(std::move(state)) {}

Outbound::~Outbound() {
  (void)stop();
  // Not proven quiet (quiesce() timed out; on_ack never blocks for long, so
  // this should not happen): a State that on_ack may still use is leaked
  // rather than freed under it.
  if (state_ && !state_->quiesced) (void)state_.release();
}

Status Outbound::stop() {
  if (!state_ || !state_->thread.joinable()) return Status::OK();
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_one();
  state_->thread.join();
  const std::size_t taken = state_->quiesce();
  if (!state_->quiesced) return Status::IOError(state_->link->last_error());
  state_->link->close();
  for (natsMsg* m : state_->failed) natsMsg_Destroy(m);  // on_ack runs no more: no lock needed
  state_->failed.clear();
  for (natsMsg* m : state_->retry) natsMsg_Destroy(m);
  state_->retry.clear();
  const std::uint64_t left = Counters::get(state_->counters.in_flight);
  if (left != 0)
    return Status::TimedOut("outbound bridge: " + std::to_string(left) + " records were not acknowledged in time (" +
                            std::to_string(taken) + " still awaiting an ack); they will be sent again on restart");
  return Status::OK();
}

BridgeStats Outbound::stats() const noexcept {
  BridgeStats b;
  state_->counters.fill(&b);
  const std::uint64_t published = state_->topic->published();
  const std::uint64_t floor = b.lag;  // the ack floor, see `counters`
  b.lag = published > floor ? published - floor : 0;
  state_->link->fill(&b);
  return b;
}

std::string Outbound::last_error() const { return state_->link->last_error(); }

}  // namespace conduit::bridge
