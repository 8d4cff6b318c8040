#include "bridge/nats_link.h"

#include <algorithm>

#include "bridge/envelope_headers.h"

namespace conduit::bridge::detail {

Result<std::unique_ptr<NatsLink>> NatsLink::connect(const NatsOptions& options, jsOptions* js_options) {
  if (options.url.empty()) return Status::InvalidArgument("nats: the server URL is empty");
  std::unique_ptr<NatsLink> link(new NatsLink());
  link->shared_ = std::make_shared<Shared>();
  Shared* shared = link->shared_.get();
  shared->options = options;
  shared->self = link->shared_;
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, options.url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts, options.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, options.connect_timeout.count());
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, options.send_asap);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, options.max_reconnects);
  if (s == NATS_OK) s = natsOptions_SetCustomReconnectDelay(opts, &NatsLink::reconnect_delay, shared);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, &NatsLink::on_disconnected, shared);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, &NatsLink::on_reconnected, shared);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, &NatsLink::on_closed, shared);
  // Publishes made while disconnected wait in this buffer (bounded by the
  // bridge's in-flight limit, so 8 MiB is plenty for the usual records).
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 64 << 20);
  if (s != NATS_OK) {
    natsOptions_Destroy(opts);
    shared->self.reset();
    return nats_error("options", s);
  }
  s = natsConnection_Connect(&link->nc_, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    shared->self.reset();  // no connection, so no callback will come
    return nats_error("cannot connect to " + options.url, s);
  }
  shared->connected.store(true, std::memory_order_relaxed);  // a flag for stats only

  jsOptions defaults;
  if (js_options == nullptr) {
    jsOptions_Init(&defaults);
    js_options = &defaults;
  }
  js_options->Wait = options.request_timeout.count();
  s = natsConnection_JetStream(&link->js_, link->nc_, js_options);
  if (s != NATS_OK) return nats_error("JetStream context on " + options.url, s);
  return link;
}

NatsLink::~NatsLink() {
  close();
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (nc_ != nullptr) natsConnection_Destroy(nc_);
}

void NatsLink::close() noexcept {
  if (nc_ != nullptr) natsConnection_Close(nc_);
}

void NatsLink::on_disconnected(natsConnection*, void* p) {
  auto* s = static_cast<Shared*>(p);
  s->connected.store(false, std::memory_order_relaxed);    // stats only
  s->disconnects.fetch_add(1, std::memory_order_relaxed);  // stats only
  s->set_error("nats: disconnected from " + s->options.url + "; reconnecting");
}

void NatsLink::on_reconnected(natsConnection*, void* p) {
  auto* s = static_cast<Shared*>(p);
  s->connected.store(true, std::memory_order_relaxed);    // stats only
  s->reconnects.fetch_add(1, std::memory_order_relaxed);  // stats only
}

void NatsLink::on_closed(natsConnection*, void* p) {
  auto* s = static_cast<Shared*>(p);
  s->connected.store(false, std::memory_order_relaxed);  // stats only
  // The last callback: drop the callbacks' reference when it returns.
  std::shared_ptr<Shared> last = std::move(s->self);
}

int64_t NatsLink::reconnect_delay(natsConnection*, int attempts, void* p) {
  const auto* s = static_cast<const Shared*>(p);
  const int64_t base = std::max<int64_t>(1, s->options.reconnect_wait.count());
  const int shift = std::clamp(attempts - 1, 0, 20);
  return std::min<int64_t>(base << shift, s->options.reconnect_wait_max.count());
}

void NatsLink::Shared::set_error(std::string text) {
  std::lock_guard lock(error_mu);
  last_error = std::move(text);
}

void NatsLink::set_error(std::string text) { shared_->set_error(std::move(text)); }

std::string NatsLink::last_error() const {
  std::lock_guard lock(shared_->error_mu);
  return shared_->last_error;
}

void NatsLink::fill(BridgeStats* stats) const noexcept {
  stats->disconnects = shared_->disconnects.load(std::memory_order_relaxed);  // stats only
  stats->reconnects = shared_->reconnects.load(std::memory_order_relaxed);
  stats->connected = shared_->connected.load(std::memory_order_relaxed);
}

}  // namespace conduit::bridge::detail
