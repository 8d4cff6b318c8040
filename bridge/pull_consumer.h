// A durable JetStream pull consumer read through the core NATS API. Pull
// requests n = 1, 2, ... carry reply subjects <inbox>.<n>, all read through
// one subscription to <inbox>.* that lives as long as the consumer: libnats
// 3.4.1 can crash when a subscription is destroyed while its reader thread
// still delivers a message to it (nats.c issue 637, fixed in 3.6), which a
// subscription per fetch did whenever a request was answered late.
// A delivery for an earlier request, one answered after its fetch gave up,
// stays queued and is taken by the next fetch; a status message (404, 408,
// 409, ...) is sent to its request's own reply subject, so one for an
// earlier request is told apart and ignored.
// libnats 3.4.1's natsSubscription_Fetch is not used: all its pull requests
// share one reply subject, and when deliveries of an earlier request are
// already queued it writes past the array of `batch` messages it allocated.
// Its natsMsg_Ack/Nak/Term crash on messages of a plain subscription, so the
// ack bodies are published here, to the delivery's reply subject.
//
// Thread safety: one thread (the inbound bridge's) calls everything.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/ack_subject.h"
#include "conduit/bridge.h"
#include "conduit/status.h"

namespace conduit::bridge::detail {

class NatsLink;

struct MsgDeleter {
  void operator()(natsMsg* m) const noexcept { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

// One message as JetStream delivered it.
struct Delivery {
  MsgPtr msg;
  std::optional<AckSubject> meta;  // read from msg's reply subject; nullopt if not JetStream's
  bool settled = false;            // acked, nacked or terminated: nothing more to send
};

class PullConsumer {
 public:
  // Creates the durable consumer `o.durable` on `o.stream` (explicit acks,
  // the whole stream, filter `o.subject`, o.ack_wait, o.max_ack_pending), or
  // binds to it when it exists so configured. kNotFound for a missing
  // stream; kInvalidArgument when the consumer exists configured otherwise;
  // kIOError with libnats' text else. `link` must outlive the consumer.
  static Result<std::unique_ptr<PullConsumer>> open(NatsLink& link, const InboundOptions& o);
  // Closes the connection (if still open) before it destroys the
  // subscription, so that libnats' reader thread is gone: see above.
  ~PullConsumer();
  PullConsumer(const PullConsumer&) = delete;
  PullConsumer& operator=(const PullConsumer&) = delete;

  // Asks for up to `batch` messages and collects deliveries into `out`
  // (cleared first, never more than `batch`), waiting at most `wait`:
  // first those still queued from earlier requests, then this request's.
  // OK when the server had fewer (or none); an error when no request could
  // be sent (disconnected), the subscription failed, or the
  // server refused the request (409, 503): `out` keeps what came before.
  Status fetch(std::size_t batch, std::chrono::milliseconds wait, std::vector<Delivery>* out);

  // Publishes `body` (kAck, kNak, kTerm) to the delivery's reply subject and
  // marks it settled: fire and forget, the server does not answer.
  // NATS_ILLEGAL_STATE, nothing sent, for a delivery already settled.
  natsStatus settle(Delivery& d, std::string_view body);

 private:
  struct SubscriptionDeleter {
    void operator()(natsSubscription* sub) const noexcept { natsSubscription_Destroy(sub); }
  };

  PullConsumer() = default;

  natsConnection* nc_ = nullptr;
  std::string inbox_;  // request n's reply subject is <inbox_>.<n>
  std::unique_ptr<natsSubscription, SubscriptionDeleter> sub_;  // to <inbox_>.*
  std::string durable_;
  std::string next_subject_;    // where pull requests go
  std::uint64_t requests_ = 0;  // pull requests sent
};

}  // namespace conduit::bridge::detail
