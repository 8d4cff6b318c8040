// conduit — bridges between conduit topics and NATS JetStream
// (library conduit::bridge; the core library knows nothing of NATS).
//
// Outbound forwards a persisted topic to a JetStream subject through a named
// subscriber: records are published asynchronously, at most max_in_flight
// unacknowledged, and the subscriber commits only the prefix of records
// JetStream acknowledged. Each record's id is its Nats-Msg-Id, so records
// sent again after a restart fall in JetStream's duplicate window.
// Inbound pulls from a durable JetStream consumer into a topic whose dedup
// window is on, and acks each message only once its record is durable (sync
// topics) or written (async and memory topics). doc/bridge.md has the header
// mapping, the commit rule and the failure behaviour.
//
// Thread safety
//   start() runs the bridge on its own thread; stats() and last_error() may
//   be called from any thread; stop() and the destructor from one thread.
//   The Engine must outlive the bridge.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conduit/engine.h"
#include "conduit/options.h"
#include "conduit/status.h"

namespace conduit::bridge {

// The connection to nats-server.
struct NatsOptions {
  std::string url = "nats://127.0.0.1:4222";        // comma-separated for several servers
  std::string name = "conduit-bridge";              // connection name the server shows
  std::chrono::milliseconds connect_timeout{2000};  // one connection attempt waits at most this
  // After a lost connection, attempt n waits reconnect_wait * 2^(n-1), at
  // most reconnect_wait_max; -1 max_reconnects: try forever.
  std::chrono::milliseconds reconnect_wait{50};
  std::chrono::milliseconds reconnect_wait_max{2000};  // see reconnect_wait
  int max_reconnects = -1;                             // see reconnect_wait
  // JetStream API requests (stream and consumer look-ups) wait this long.
  std::chrono::milliseconds request_timeout{5000};
  // Write each publish to the socket at once (lower latency, one write per
  // message) instead of letting libnats' flusher batch them (more throughput).
  bool send_asap = false;
};

// What Outbound forwards, and how.
struct OutboundOptions {
  NatsOptions nats;                     // the connection
  std::string topic;                    // a persisted conduit topic (it must exist)
  std::string subscriber;               // the named subscriber whose position is the bridge's
  StartAt start = StartAt::earliest();  // first run only; then the committed position
  bool durable_only = false;            // forward only records below the durable watermark
  std::string stream;                   // JetStream stream
  std::string subject;                  // subject the records are published to
  // Create the stream (file storage, this subject) when it does not exist.
  bool create_stream = true;
  // Records published and not yet acknowledged by JetStream, at most. 1..65536.
  std::uint32_t max_in_flight = 1024;
  // A publish not acknowledged within this is sent again (same Nats-Msg-Id).
  std::chrono::milliseconds ack_timeout{2000};
  // The subscriber's position is committed at most this often (and on stop).
  std::chrono::milliseconds commit_interval{50};
};

// What Inbound pulls into a topic, and how.
struct InboundOptions {
  NatsOptions nats;           // the connection
  std::string stream;         // JetStream stream (it must exist)
  std::string subject;        // the consumer's filter subject
  std::string durable;        // durable pull consumer, created when missing
  std::string topic;          // conduit topic (it must exist, with TopicOptions::dedup on)
  std::uint32_t batch = 256;  // messages per fetch, 1..65536
  // JetStream delivers a message again when it is not acked within this.
  std::chrono::milliseconds ack_wait{30000};
  std::uint32_t max_ack_pending = 8192;       // the consumer's limit of unacked messages
  std::chrono::milliseconds fetch_wait{100};  // one fetch waits at most this
};

// A snapshot of a bridge's counters; read one by one, so they need not add
// up exactly while the bridge runs. Any thread.
struct BridgeStats {
  // Outbound: records JetStream acknowledged. Inbound: messages acked to
  // JetStream (their records are in the topic), once per delivery acked:
  // JetStream delivers again a message not acked within ack_wait, so once
  // all of N messages are acked this is between N and N + duplicates.
  std::uint64_t forwarded = 0;
  // Outbound: acknowledgements JetStream flagged as duplicates (records sent
  // again after a restart or a timeout). Inbound: messages delivered again
  // by JetStream (NumDelivered > 1).
  std::uint64_t duplicates = 0;
  // Outbound: published, not yet acknowledged. Inbound: fetched, not yet acked.
  std::uint64_t in_flight = 0;
  // Outbound: records of the topic not yet acknowledged (published - the
  // committable position). Inbound: messages in the stream the consumer has
  // not been handed yet (JetStream's NumPending at the last fetch).
  std::uint64_t lag = 0;
  // Outbound: the subscriber's last committed position. Inbound: the highest
  // stream sequence acked (a redelivered older message does not lower it).
  std::uint64_t committed = 0;
  std::uint64_t retries = 0;      // outbound publishes sent again; inbound failed batches
  std::uint64_t disconnects = 0;  // connections to nats-server lost
  std::uint64_t reconnects = 0;   // connections to nats-server made again
  bool connected = false;         // connected to nats-server now
};

// Forwards a persisted topic to a JetStream subject (conduit/bridge.h).
class Outbound {
 public:
  // Connects, looks up (or creates) the stream, subscribes to the topic and
  // starts forwarding. kIOError naming the URL when nats-server cannot be
  // reached; kNotFound for a missing topic or stream; kInvalidArgument for
  // bad options or a memory-only topic.
  static Result<std::unique_ptr<Outbound>> start(Engine& engine, OutboundOptions options);
  // stop().
  ~Outbound();
  // Stops polling the topic, waits up to ack_timeout for the records in
  // flight, and commits the acknowledged prefix. The publishes still
  // unacknowledged are taken back from libnats (their records were not
  // committed: the next start sends them again, same Nats-Msg-Id); when it
  // returns, libnats calls into the bridge no more. kTimedOut when records
  // were left unacknowledged. Idempotent. Not concurrent with itself.
  Status stop();
  BridgeStats stats() const noexcept;  // counters, read from any thread
  std::string last_error() const;      // the latest NATS or conduit error; empty if none

  struct State;

 private:
  explicit Outbound(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Pulls a JetStream stream into a topic (conduit/bridge.h).
class Inbound {
 public:
  // Connects, creates (or binds to) the durable consumer and starts pulling.
  // kIOError when nats-server cannot be reached; kNotFound for a missing
  // topic or stream; kInvalidArgument when the topic's dedup window is off.
  static Result<std::unique_ptr<Inbound>> start(Engine& engine, InboundOptions options);
  ~Inbound();
  // Finishes the batch at hand (records published and acked) and stops.
  Status stop();
  BridgeStats stats() const noexcept;  // counters, read from any thread
  std::string last_error() const;      // the latest NATS or conduit error; empty if none

  struct State;

 private:
  explicit Inbound(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The command-line tool's configuration file, parsed by a library function so
// that tests can reach it. Format: `key = value` lines, `#` comments, and one
// `[outbound NAME]` or `[inbound NAME]` section per bridge; keys before the
// first section are global. doc/bridge.md lists the keys.
struct TopicSpec {
  std::string name;                           // the topic's name
  Durability durability = Durability::kSync;  // its durability when created
  std::size_t dedup_ids = 0;                  // 0: the bridge's default (65536 for inbound)
};

// A parsed configuration file: the engine, its topics and the bridges.
struct Config {
  std::string data_dir;                         // the engine's directory (required)
  std::vector<OutboundOptions> outbound;        // one per [outbound NAME] section
  std::vector<InboundOptions> inbound;          // one per [inbound NAME] section
  std::vector<TopicSpec> topics;                // created (or checked) before the bridges start
  std::chrono::milliseconds stats_interval{0};  // 0: no periodic stats line
};

// kInvalidArgument naming the line for an unknown key, a bad value or a
// missing required key.
Result<Config> parse_config(std::string_view text);
// The config as text parse_config reads back to the same Config: every key
// written out, defaults included, and each bridge's url in its section.
std::string format_config(const Config& config);

}  // namespace conduit::bridge
