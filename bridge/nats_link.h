// One connection to nats-server and its JetStream context, shared by the
// outbound and inbound bridges: exponential reconnect backoff, connection
// counters, and the latest error for BridgeStats / last_error().
//
// Thread safety: the counters and last error are written from libnats'
// callback threads and the bridge's thread, read from any thread.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "conduit/bridge.h"
#include "conduit/status.h"

namespace conduit::bridge::detail {

// A bridge's own counters for BridgeStats. Each is written by one thread
// (the bridge's, or libnats' for outbound duplicates) and read by stats() on
// any thread; relaxed throughout: each is a number on its own and orders
// nothing else.
struct Counters {
  std::atomic<std::uint64_t> forwarded{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> lag{0};
  std::atomic<std::uint64_t> committed{0};
  std::atomic<std::uint64_t> retries{0};

  static void add(std::atomic<std::uint64_t>& c, std::uint64_t n) { c.fetch_add(n, std::memory_order_relaxed); }
  static void set(std::atomic<std::uint64_t>& c, std::uint64_t v) { c.store(v, std::memory_order_relaxed); }
  static std::uint64_t get(const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); }
  void fill(BridgeStats* b) const noexcept {
    b->forwarded = get(forwarded);
    b->duplicates = get(duplicates);
    b->in_flight = get(in_flight);
    b->lag = get(lag);
    b->committed = get(committed);
    b->retries = get(retries);
  }
};

// Tests only: the outbound ack handler sleeps this many microseconds before
// it touches its bridge, which holds it open across a bridge's destruction
// (tests/concurrency_bridge_outbound_test.cpp). 0, and one relaxed load per
// ack, otherwise.
extern std::atomic<std::uint32_t> g_ack_handler_delay_us;

class NatsLink {
 public:
  // Connects to options.url; `js_options` (may be null) configures the
  // JetStream context. kIOError naming the URL when no server answers.
  static Result<std::unique_ptr<NatsLink>> connect(const NatsOptions& options, jsOptions* js_options);
  ~NatsLink();  // closes the connection
  NatsLink(const NatsLink&) = delete;
  NatsLink& operator=(const NatsLink&) = delete;

  natsConnection* connection() const noexcept { return nc_; }
  jsCtx* js() const noexcept { return js_; }
  // Closes the connection early (callbacks stop); the destructor frees it.
  void close() noexcept;

  void set_error(std::string text);
  std::string last_error() const;
  void fill(BridgeStats* stats) const noexcept;

 private:
  // What libnats' connection callbacks touch. They run on libnats' own
  // thread and may still run after natsConnection_Destroy returns, so it
  // keeps itself alive (`self`) until the closed callback, the last one.
  struct Shared {
    NatsOptions options;
    // Written by the callback thread, read by stats(); relaxed: each is a
    // number on its own and orders nothing else.
    std::atomic<std::uint64_t> disconnects{0};
    std::atomic<std::uint64_t> reconnects{0};
    std::atomic<bool> connected{false};
    mutable std::mutex error_mu;
    std::string last_error;
    std::shared_ptr<Shared> self;  // released by on_closed
    void set_error(std::string text);
  };

  NatsLink() = default;
  static void on_disconnected(natsConnection* nc, void* shared);
  static void on_reconnected(natsConnection* nc, void* shared);
  static void on_closed(natsConnection* nc, void* shared);
  static int64_t reconnect_delay(natsConnection* nc, int attempts, void* shared);

  std::shared_ptr<Shared> shared_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace conduit::bridge::detail
