#include "bridge/nats_link.h"

#include <algorithm>

#include "bridge/envelope_headers.h"

namespace conduit::bridge::detail {

Result<std::unique_ptr<NatsLink>> NatsLink::connect(const NatsOptions& options, jsOptions* js_options) {
  if (options.url.empty()) return Status::InvalidArgument("nats: the server URL is empty");
  std::unique_ptr<NatsLink> link(new NatsLink(options));
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, options.url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts, options.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, options.connect_timeout.count());
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, options.send_asap);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, options.max_reconnects);
  if (s == NATS_OK) s = natsOptions_SetCustomReconnectDelay(opts, &NatsLink::reconnect_delay, link.get());
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, &NatsLink::on_disconnected, link.get());
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, &NatsLink::on_reconnected, link.get());
  // Publishes made while disconnected wait in this buffer (bounded by the
  // bridge's in-flight limit, so 8 MiB is plenty for the usual records).
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 64 << 20);
  if (s != NATS_OK) {
    natsOptions_Destroy(opts);
    return nats_error("options", s);
  }
  s = natsConnection_Connect(&link->nc_, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return nats_error("cannot connect to " + options.url, s);
  link->connected_.store(true, std::memory_order_relaxed);  // a flag for stats only

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

void NatsLink::on_disconnected(natsConnection*, void* self) {
  auto* link = static_cast<NatsLink*>(self);
  link->connected_.store(false, std::memory_order_relaxed);      // stats only
  link->disconnects_.fetch_add(1, std::memory_order_relaxed);  // stats only
  link->set_error("nats: disconnected from " + link->options_.url + "; reconnecting");
}

void NatsLink::on_reconnected(natsConnection*, void* self) {
  auto* link = static_cast<NatsLink*>(self);
  link->connected_.store(true, std::memory_order_relaxed);     // stats only
  link->reconnects_.fetch_add(1, std::memory_order_relaxed);  // stats only
}

int64_t NatsLink::reconnect_delay(natsConnection*, int attempts, void* self) {
  const auto* link = static_cast<const NatsLink*>(self);
  const int64_t base = std::max<int64_t>(1, link->options_.reconnect_wait.count());
  const int shift = std::clamp(attempts - 1, 0, 20);
  return std::min<int64_t>(base << shift, link->options_.reconnect_wait_max.count());
}

void NatsLink::set_error(std::string text) {
  std::lock_guard lock(error_mu_);
  last_error_ = std::move(text);
}

std::string NatsLink::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

void NatsLink::fill(BridgeStats* stats) const noexcept {
  stats->disconnects = disconnects_.load(std::memory_order_relaxed);  // stats only
  stats->reconnects = reconnects_.load(std::memory_order_relaxed);
  stats->connected = connected_.load(std::memory_order_relaxed);
}

}  // namespace conduit::bridge::detail
