// The JetStream bridges against JetStream's own rates, measured in the same
// run on the same nats-server (started by this program on a free loopback
// port, its store in a temporary directory, JetStream file storage).
//
//   BM_Outbound   N 64-byte records already in a kAsync topic, forwarded by
//       an Outbound bridge (max_in_flight 1024) until JetStream acked them
//       all; beside it, the raw rate: the same N messages published with
//       js_PublishMsgAsync until js_PublishAsyncComplete, once before and
//       once after the bridge (the mean). ratio_vs_raw = bridge msgs/s ÷ raw
//       msgs/s. /send_asap:1 sets NatsOptions::send_asap.
//   BM_Inbound    N messages already in a stream, pulled by an Inbound
//       bridge into a kAsync topic with its dedup window on, until all are
//       acked; raw: the same N fetched (batch 256) and acked by a plain pull
//       subscriber, once before and once after the bridge (the mean).
//   BM_Latency    one message at a time. Raw: js_Publish, which returns with
//       JetStream's ack. Bridge: Topic::publish into a kAsync topic, then
//       spin until the Outbound bridge counts JetStream's ack. added_p50_us
//       = bridge p50 - raw p50: what the bridge adds to a JetStream publish.
//       /send_asap:0 leaves publishes to libnats' flusher, which batches
//       them (about 1 ms); /send_asap:1 writes each at once.
//
// CONDUIT_BENCH_BRIDGE_RECORDS sets N (default 50000). nats-server is
// $NATS_SERVER, /usr/sbin/nats-server or the one on PATH, started as the
// bridge tests start it (tests/support/nats_server.h). Each benchmark runs
// once (Iterations(1)); the time column is the bridge's.
#include <benchmark/benchmark.h>
#include <conduit/bridge.h>
#include <conduit/conduit.h>
#include <nats/nats.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "histogram.h"
// The server and the stream set-up, without the tests' doctest checks.
#define CONDUIT_NATS_SERVER_NO_CHECKS
#include "tests/support/nats_server.h"

namespace {

using Clock = std::chrono::steady_clock;
using conduit::bench::Histogram;

std::uint64_t records() {
  const char* v = std::getenv("CONDUIT_BENCH_BRIDGE_RECORDS");
  return v != nullptr ? std::strtoull(v, nullptr, 10) : 50000;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// nats-server on a free loopback port (tests/support/nats_server.h), and a
// plain client of it, for the whole program.
class Server {
 public:
  Server() {
    if (!process_.start() || natsConnection_ConnectTo(&nc_, url().c_str()) != NATS_OK ||
        natsConnection_JetStream(&js_, nc_, nullptr) != NATS_OK) {
      std::fprintf(stderr, "bridge_bench: nats-server did not start (set NATS_SERVER?); see %s\n",
                   process_.log().c_str());
      std::exit(1);
    }
  }
  ~Server() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
    process_.stop(SIGTERM);
  }
  std::string url() const { return process_.url(); }
  const std::filesystem::path& dir() const { return process_.dir(); }
  jsCtx* js() const { return js_; }

  void add_stream(const std::string& name, const std::string& subject) {
    if (conduit::test::add_stream(js_, name, subject) != NATS_OK) std::abort();
  }
  // Publishes n 64-byte messages asynchronously, 1024 in flight; seconds taken.
  double publish(const std::string& subject, std::uint64_t n, const std::string& id_prefix) {
    const std::string payload(64, 'x');
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < n; ++i) {
      natsMsg* m = nullptr;
      natsMsg_Create(&m, subject.c_str(), nullptr, payload.data(), static_cast<int>(payload.size()));
      natsMsgHeader_Set(m, "Nats-Msg-Id", (id_prefix + std::to_string(i)).c_str());
      if (js_PublishMsgAsync(js_, &m, nullptr) != NATS_OK) std::abort();
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    if (js_PublishAsyncComplete(js_, &po) != NATS_OK) std::abort();
    return seconds_since(t0);
  }

 private:
  conduit::test::NatsServerProcess process_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

Server& server() {
  static Server s;
  return s;
}

std::unique_ptr<conduit::Engine> engine(const std::string& name) {
  conduit::EngineOptions eo;
  eo.data_dir = (server().dir() / name).string();
  return conduit::Engine::open(std::move(eo)).value();
}

conduit::TopicOptions async_topic(std::size_t dedup = 0) {
  conduit::TopicOptions t;
  t.durability = conduit::Durability::kAsync;
  t.dedup.max_ids = dedup;
  return t;
}

void BM_Outbound(benchmark::State& state) {
  const std::uint64_t n = records();
  for (auto _ : state) {
    const std::string tag = std::to_string(state.range(0));
    server().add_stream("RAWOUT" + tag, "raw" + tag + ".out");
    // Raw before and after the bridge: the mean of both is the baseline.
    const double raw_before_s = server().publish("raw" + tag + ".out", n, "raw-a-");

    auto eng = engine("outbound" + tag);
    conduit::Topic* t = eng->create_topic("src", async_topic()).value();
    const std::string payload(64, 'x');
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::string id = "rec-" + std::to_string(i);
      conduit::Message m;
      m.id = id;
      m.payload = payload;
      (void)t->publish(m);
    }
    conduit::bridge::OutboundOptions o;
    o.nats.url = server().url();
    o.topic = "src";
    o.subscriber = "bench";
    o.stream = "BRIDGEOUT" + tag;
    o.subject = "bridge" + tag + ".out";
    o.nats.send_asap = state.range(0) != 0;
    const auto t0 = Clock::now();
    auto out = conduit::bridge::Outbound::start(*eng, o).value();
    while (out->stats().forwarded < n) std::this_thread::sleep_for(std::chrono::microseconds(200));
    const double bridge_s = seconds_since(t0);
    (void)out->stop();
    const double raw_s = (raw_before_s + server().publish("raw" + tag + ".out", n, "raw-b-")) / 2;
    state.SetIterationTime(bridge_s);
    state.counters["msgs_per_s"] = static_cast<double>(n) / bridge_s;
    state.counters["raw_msgs_per_s"] = static_cast<double>(n) / raw_s;
    state.counters["ratio_vs_raw"] = raw_s / bridge_s;
  }
}

void BM_Inbound(benchmark::State& state) {
  const std::uint64_t n = records();
  for (auto _ : state) {
    server().add_stream("IN", "in.>");
    server().publish("in.x", n, "in-");

    // Raw: a plain pull subscriber fetches and acks them all, before and
    // after the bridge (each a consumer of its own); the mean is the baseline.
    auto raw_pull = [&](const char* durable) {
      jsSubOptions so;
      jsSubOptions_Init(&so);
      so.Stream = "IN";
      so.Config.AckPolicy = js_AckExplicit;
      natsSubscription* sub = nullptr;
      if (js_PullSubscribe(&sub, server().js(), "in.>", durable, nullptr, &so, nullptr) != NATS_OK) std::abort();
      const auto t0 = Clock::now();
      for (std::uint64_t got = 0; got < n;) {
        natsMsgList list{};
        if (natsSubscription_Fetch(&list, sub, 256, 5000, nullptr) != NATS_OK) std::abort();
        for (int i = 0; i < list.Count; ++i) natsMsg_Ack(list.Msgs[i], nullptr);
        got += static_cast<std::uint64_t>(list.Count);
        natsMsgList_Destroy(&list);
      }
      const double s = seconds_since(t0);
      natsSubscription_Destroy(sub);
      return s;
    };
    const double raw_before_s = raw_pull("raw-before");

    auto eng = engine("inbound");
    conduit::Topic* t = eng->create_topic("dst", async_topic(1u << 17)).value();
    conduit::bridge::InboundOptions o;
    o.nats.url = server().url();
    o.stream = "IN";
    o.subject = "in.>";
    o.durable = "bridge";
    o.topic = "dst";
    const auto t0 = Clock::now();
    auto in = conduit::bridge::Inbound::start(*eng, o).value();
    while (in->stats().forwarded < n) std::this_thread::sleep_for(std::chrono::microseconds(200));
    const double bridge_s = seconds_since(t0);
    (void)in->stop();
    const double raw_s = (raw_before_s + raw_pull("raw-after")) / 2;
    if (t->published() != n) state.SkipWithError("the topic does not hold every message");
    state.SetIterationTime(bridge_s);
    state.counters["msgs_per_s"] = static_cast<double>(n) / bridge_s;
    state.counters["raw_msgs_per_s"] = static_cast<double>(n) / raw_s;
    state.counters["ratio_vs_raw"] = raw_s / bridge_s;
  }
}

void BM_Latency(benchmark::State& state) {
  constexpr int kSamples = 2000;
  for (auto _ : state) {
    server().add_stream("LAT" + std::to_string(state.range(0)), "lat" + std::to_string(state.range(0)) + ".>");
    const std::string raw_subject = "lat" + std::to_string(state.range(0)) + ".raw";
    const std::string payload(64, 'x');
    Histogram raw, bridged;
    for (int i = 0; i < kSamples; ++i) {
      jsPubOptions po;
      jsPubOptions_Init(&po);
      const std::string id = "raw-" + std::to_string(i);
      po.MsgId = id.c_str();
      jsPubAck* pa = nullptr;
      const auto t0 = Clock::now();
      if (js_Publish(&pa, server().js(), raw_subject.c_str(), payload.data(), 64, &po, nullptr) != NATS_OK)
        std::abort();
      raw.record(static_cast<std::uint64_t>((Clock::now() - t0).count()));
      jsPubAck_Destroy(pa);
    }

    auto eng = engine("latency");
    conduit::Topic* t = eng->create_topic("src", async_topic()).value();
    conduit::bridge::OutboundOptions o;
    o.nats.url = server().url();
    o.topic = "src";
    o.subscriber = "bench";
    o.stream = "LAT" + std::to_string(state.range(0));
    o.nats.send_asap = state.range(0) != 0;
    o.subject = "lat" + std::to_string(state.range(0)) + ".bridge";
    auto out = conduit::bridge::Outbound::start(*eng, o).value();
    const auto begin = Clock::now();
    for (int i = 0; i < kSamples; ++i) {
      const std::string id = "rec-" + std::to_string(i);
      conduit::Message m;
      m.id = id;
      m.payload = payload;
      const auto t0 = Clock::now();
      (void)t->publish(m);
      while (out->stats().forwarded < static_cast<std::uint64_t>(i + 1)) std::this_thread::yield();
      bridged.record(static_cast<std::uint64_t>((Clock::now() - t0).count()));
    }
    state.SetIterationTime(seconds_since(begin));
    (void)out->stop();
    state.counters["p50_us"] = static_cast<double>(bridged.percentile(0.50)) / 1e3;
    state.counters["p99_us"] = static_cast<double>(bridged.percentile(0.99)) / 1e3;
    state.counters["raw_p50_us"] = static_cast<double>(raw.percentile(0.50)) / 1e3;
    state.counters["raw_p99_us"] = static_cast<double>(raw.percentile(0.99)) / 1e3;
    state.counters["added_p50_us"] =
        (static_cast<double>(bridged.percentile(0.50)) - static_cast<double>(raw.percentile(0.50))) / 1e3;
  }
}

BENCHMARK(BM_Outbound)
    ->ArgName("send_asap")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Inbound)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Latency)
    ->ArgName("send_asap")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
