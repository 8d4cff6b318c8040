#include "bridge/pull_consumer.h"

#include <algorithm>
#include <cstring>

#include "bridge/envelope_headers.h"
#include "bridge/nats_link.h"

namespace conduit::bridge::detail {

namespace {

struct ConsumerInfoDeleter {
  void operator()(jsConsumerInfo* ci) const noexcept { jsConsumerInfo_Destroy(ci); }
};

std::string ms(std::int64_t ns) { return std::to_string(ns / 1'000'000) + "ms"; }

// How an existing consumer differs from what the options ask; empty if not.
// Zero options are the server's defaults and match anything.
std::string differs(const jsConsumerConfig& c, const InboundOptions& o) {
  if (c.DeliverSubject != nullptr && *c.DeliverSubject != '\0') return "it is a push consumer";
  const char* filter = c.FilterSubject != nullptr ? c.FilterSubject : "";
  if (o.subject != filter) return "its filter subject is '" + std::string(filter) + "', not '" + o.subject + "'";
  if (c.AckPolicy != js_AckExplicit) return "it does not ack explicitly";
  const std::int64_t ack_wait = std::chrono::nanoseconds(o.ack_wait).count();
  if (ack_wait != 0 && c.AckWait != ack_wait) return "its ack wait is " + ms(c.AckWait) + ", not " + ms(ack_wait);
  if (o.max_ack_pending != 0 && c.MaxAckPending != o.max_ack_pending)
    return "its max ack pending is " + std::to_string(c.MaxAckPending) + ", not " + std::to_string(o.max_ack_pending);
  return {};
}

}  // namespace

Result<std::unique_ptr<PullConsumer>> PullConsumer::open(NatsLink& link, const InboundOptions& o) {
  const std::string what = "pull consumer '" + o.durable + "' on stream '" + o.stream + "'";
  jsConsumerInfo* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(&raw, link.js(), o.stream.c_str(), o.durable.c_str(), nullptr, &jerr);
  if (s == NATS_NOT_FOUND && jerr == JSConsumerNotFoundErr) {
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = o.durable.c_str();
    cc.FilterSubject = o.subject.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckWait = std::chrono::nanoseconds(o.ack_wait).count();
    cc.MaxAckPending = o.max_ack_pending;
    jerr = static_cast<jsErrCode>(0);
    s = js_AddConsumer(&raw, link.js(), o.stream.c_str(), &cc, nullptr, &jerr);
  }
  std::unique_ptr<jsConsumerInfo, ConsumerInfoDeleter> ci(raw);
  if (jerr == JSStreamNotFoundErr) return Status::NotFound("nats: stream '" + o.stream + "' does not exist");
  if (s != NATS_OK) return nats_error(what, s);
  if (std::string d = differs(*ci->Config, o); !d.empty())
    return Status::InvalidArgument("nats: " + what + " exists and " + d + "; delete it or change the options");

  std::unique_ptr<PullConsumer> c(new PullConsumer());
  c->nc_ = link.connection();
  c->durable_ = o.durable;
  // NatsLink's JetStream context has the default API prefix, no domain.
  c->next_subject_ = "$JS.API.CONSUMER.MSG.NEXT." + o.stream + "." + o.durable;
  natsInbox* inbox = nullptr;
  s = natsInbox_Create(&inbox);
  if (s != NATS_OK) return nats_error("creating an inbox", s);
  c->inbox_ = inbox;
  natsInbox_Destroy(inbox);
  natsSubscription* sub = nullptr;
  s = natsConnection_SubscribeSync(&sub, c->nc_, (c->inbox_ + ".*").c_str());
  if (s != NATS_OK) return nats_error("subscribing to the replies of '" + o.durable + "'", s);
  c->sub_.reset(sub);
  return c;
}

PullConsumer::~PullConsumer() {
  // Destroying a subscription of an open connection races libnats 3.4.1's
  // reader thread (see the header); a closed connection delivers nothing.
  if (sub_ != nullptr) natsConnection_Close(nc_);
}

Status PullConsumer::fetch(std::size_t batch, std::chrono::milliseconds wait, std::vector<Delivery>* out) {
  using Clock = std::chrono::steady_clock;
  out->clear();
  // A request sent now would wait in libnats' reconnect buffer and be
  // answered after the reconnect, when no fetch waits for it any more.
  if (natsConnection_Status(nc_) != NATS_CONN_STATUS_CONNECTED)
    return Status::IOError("nats: no pull request for '" + durable_ + "' while disconnected");
  // Deliveries of an earlier request still queued count against this one,
  // so that they do not pile up.
  int queued = 0;
  if (natsSubscription_GetPending(sub_.get(), &queued, nullptr) != NATS_OK || queued < 0) queued = 0;
  const std::size_t ask = batch - std::min(batch - 1, static_cast<std::size_t>(queued));
  const std::string reply = inbox_ + "." + std::to_string(++requests_);
  // The server ends the request (408) well before the fetch stops waiting,
  // so its deliveries normally all arrive in time.
  const std::int64_t expires = std::chrono::nanoseconds(wait).count() / 4 * 3;
  const std::string body = "{\"batch\":" + std::to_string(ask) + ",\"expires\":" + std::to_string(expires) + "}";
  natsStatus s = natsConnection_PublishRequest(nc_, next_subject_.c_str(), reply.c_str(), body.data(),
                                               static_cast<int>(body.size()));
  if (s != NATS_OK) return nats_error("pull request for '" + durable_ + "'", s);

  const Clock::time_point deadline = Clock::now() + wait;
  while (out->size() < batch) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    natsMsg* raw = nullptr;
    s = natsSubscription_NextMsg(&raw, sub_.get(), left.count());
    if (s == NATS_TIMEOUT) break;
    if (s == NATS_SLOW_CONSUMER) continue;  // libnats dropped some; JetStream sends them again after ack_wait
    if (s != NATS_OK) return nats_error("pulling from '" + durable_ + "'", s);
    MsgPtr m(raw);
    // A status message (no data, a Status header) ends a request: 404 or 408
    // when the server had fewer messages than asked, 409 or 503 when it
    // refused the request. It comes under the reply subject of the request
    // it ends; one for an earlier request ends nothing now.
    const char* status = nullptr;
    const bool is_status = natsMsg_GetDataLength(raw) == 0 && natsMsgHeader_Get(raw, "Status", &status) == NATS_OK;
    if (!is_status) {
      const char* ack = natsMsg_GetReply(raw);
      Delivery d{std::move(m), std::nullopt};
      if (ack != nullptr)
        if (auto meta = parse_ack_subject(ack); meta.ok()) d.meta = *meta;
      out->push_back(std::move(d));
      continue;
    }
    if (std::strcmp(status, "100") == 0) continue;  // a heartbeat; none are asked for
    if (reply != natsMsg_GetSubject(raw)) continue;
    if (std::strcmp(status, "404") == 0 || std::strcmp(status, "408") == 0) break;
    const char* text = nullptr;
    if (natsMsgHeader_Get(raw, "Description", &text) != NATS_OK) text = "";
    return Status::IOError("nats: pull request for '" + durable_ + "' refused: " + status + " " + text);
  }
  return Status::OK();
}

natsStatus PullConsumer::settle(Delivery& d, std::string_view body) {
  if (d.settled) return NATS_ILLEGAL_STATE;
  const char* reply = natsMsg_GetReply(d.msg.get());
  if (reply == nullptr || *reply == '\0') return NATS_INVALID_ARG;
  const natsStatus s = natsConnection_Publish(nc_, reply, body.data(), static_cast<int>(body.size()));
  d.settled = s == NATS_OK;
  return s;
}

}  // namespace conduit::bridge::detail
