// Round-trip latency between two processes: a ping-pong of an 8-byte
// payload through two persisted (kAsync) topics, the pinger in the owner's
// process (publishes "ping", busy-spins on a Subscriber of "pong") and the
// echo in an attached process (busy-spins on an AttachedSubscriber of
// "ping", publishes each counter on "pong" through an AttachedTopic).
// The baseline is the same ping-pong through the same kind of topics with
// the echo on a thread of the owner's process. The two take turns in one
// run (kTurns turns of kTrips round trips each, after kWarmup not
// recorded), so the ratio is a same-run ratio.
//
// The pinger is pinned to CPU 0 and the echo (thread or process) to CPU 1
// when there are two CPUs or more. Printed: p50, p99, p99.9 and max of each
// in ns over all turns, the cross-process / in-process ratio of each, and
// the median over the turns of the per-turn p50 and p99.9 ratios.
// BM_IpcPingPong/async uses persisted (kAsync) topics, BM_IpcPingPong/shared
// shared memory-only ones (TopicOptions::shared; doc/ipc.md), each with its
// own in-process baseline over the same kind of topic.
// bench/ipc_bench.cpp has the one-way figures.
#include <benchmark/benchmark.h>
#include <conduit/attach.h>
#include <conduit/conduit.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <thread>
#include <vector>

#include "histogram.h"
#include "spin.h"

namespace {

using namespace conduit;
using conduit::bench::cpu_relax;
using conduit::bench::Histogram;
using conduit::bench::pin_to;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr int kTurns = 5;
constexpr std::uint64_t kTrips = 200'000;  // per turn and kind
constexpr std::uint64_t kWarmup = 2'000;   // per turn and kind, not recorded
constexpr std::uint64_t kAll = kWarmup + kTrips;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/conduit-ping-bench-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

// The two kinds of topic the round trip goes through.
enum class Kind { kAsync, kShared };

// kShared: a shared memory-only topic with a small ring (4 x 1 MiB),
// as bench/ipc_bench.cpp's BM_IpcShm.
TopicOptions topic_options(Kind k) {
  TopicOptions t;
  t.durability = k == Kind::kAsync ? Durability::kAsync : Durability::kMemory;
  t.shared = k == Kind::kShared;
  if (t.shared) {
    t.segment_bytes = 1u << 20;
    t.ring_bytes = 4u << 20;
    t.max_payload_bytes = 1024;
  }
  return t;
}

// A memory-only ring goes round once before the round trips (no
// subscriber yet), so that they meet its segments backed and reused, as a
// long-lived topic has them, rather than first touches of memfd pages.
void warm(Topic* topic, Kind k) {
  if (k != Kind::kShared) return;
  const TopicOptions t = topic_options(k);
  const std::string p(64, 'w');
  for (std::uint64_t i = 0; i < (t.ring_bytes + t.segment_bytes) / p.size(); ++i) (void)topic->publish(p);
}

SubscriberOptions busy_latest() {
  SubscriberOptions so;
  so.start = StartAt::latest();
  so.wait = WaitStrategy::kBusySpin;
  return so;
}

std::string_view as_view(const std::uint64_t& v) { return {reinterpret_cast<const char*>(&v), sizeof v}; }

// Busy-spins on `sub` (a Subscriber or an AttachedSubscriber: try_poll in a
// loop, what poll() with kBusySpin does without its timeout checks) for the
// next record; its counter.
template <class Sub>
std::uint64_t next_counter(Sub& sub) {
  RecordView v[1];
  while (sub.try_poll(v).count != 1) cpu_relax();
  std::uint64_t c = 0;
  std::memcpy(&c, v[0].payload().data(), sizeof c);
  return c;
}

// The echo: kAll pings in, each counter back out on `pong`.
template <class Sub, class Pub>
void echo(Sub& ping_sub, Pub& pong) {
  for (std::uint64_t i = 0; i < kAll; ++i) {
    const std::uint64_t c = next_counter(ping_sub);
    (void)pong.publish(as_view(c));
  }
}

// The pinger: kAll round trips, the last kTrips recorded. false: an echo
// out of order.
bool pinger(Topic& ping, Subscriber& pong_sub, Histogram& h) {
  pin_to(0);
  for (std::uint64_t i = 1; i <= kAll; ++i) {
    const auto t0 = Clock::now();
    (void)ping.publish(as_view(i));
    if (next_counter(pong_sub) != i) return false;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    if (i > kWarmup) h.record(static_cast<std::uint64_t>(ns));
  }
  return true;
}

// The owner's engine on `dir` with topics "ping" and "pong" and a busy
// subscriber of "pong".
struct Owner {
  std::unique_ptr<Engine> engine;
  Topic* ping = nullptr;
  Topic* pong = nullptr;
  std::unique_ptr<Subscriber> pong_sub;
  Owner(const TempDir& dir, Kind k) {
    EngineOptions eo;
    eo.data_dir = dir.path.string();
    engine = Engine::open(eo).value();
    ping = engine->create_topic("ping", topic_options(k)).value();
    pong = engine->create_topic("pong", topic_options(k)).value();
    warm(ping, k);
    warm(pong, k);
    pong_sub = pong->subscribe(busy_latest()).value();
  }
};

bool in_process_turn(Kind k, Histogram& h) {
  TempDir dir;
  Owner o(dir, k);
  auto ping_sub = o.ping->subscribe(busy_latest()).value();
  std::thread e([&] {
    pin_to(1);
    echo(*ping_sub, *o.pong);
  });
  const bool ok = pinger(*o.ping, *o.pong_sub, h);
  e.join();
  return ok;
}

// The echo process: attaches once told to, says when it is subscribed.
[[noreturn]] void echo_process(const std::string& dir, int go, int back) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  char c = 0;
  if (read(go, &c, 1) != 1) _exit(1);
  auto attached = AttachedEngine::attach(dir);
  if (!attached.ok()) _exit(2);
  auto ping_sub = (*attached)->subscribe("ping", busy_latest());
  auto pong = (*attached)->topic("pong");
  if (!ping_sub.ok() || !pong.ok() || write(back, &c, 1) != 1) _exit(3);
  pin_to(1);
  echo(**ping_sub, **pong);
  _exit(0);
}

bool cross_process_turn(Kind k, Histogram& h) {
  TempDir dir;
  int go[2], back[2];
  if (pipe(go) != 0 || pipe(back) != 0) return false;
  // Forked before this process opens an engine (and starts its threads).
  const pid_t pid = fork();
  if (pid == 0) echo_process(dir.path.string(), go[0], back[1]);
  bool ok = false;
  {
    Owner o(dir, k);
    char c = 1;
    if (write(go[1], &c, 1) == 1 && read(back[0], &c, 1) == 1) ok = pinger(*o.ping, *o.pong_sub, h);
    if (!ok) kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  for (int fd : {go[0], go[1], back[0], back[1]}) close(fd);
  return ok;
}

double ratio(std::uint64_t a, std::uint64_t b) { return b == 0 ? 0 : static_cast<double>(a) / static_cast<double>(b); }
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void BM_IpcPingPong(benchmark::State& state, Kind k) {
  for (auto _ : state) {
    Histogram in_all, ipc_all;
    std::vector<double> p50_ratio, tail_ratio;
    for (int t = 0; t < kTurns; ++t) {
      Histogram in, ipc;
      // Alternating which goes first, so neither always runs on a warmer machine.
      const bool ok =
          t % 2 == 0 ? in_process_turn(k, in) && cross_process_turn(k, ipc)
                     : cross_process_turn(k, ipc) && in_process_turn(k, in);
      if (!ok) {
        state.SkipWithError("a ping-pong failed (echo out of order, or the echo process did not attach)");
        return;
      }
      p50_ratio.push_back(ratio(ipc.percentile(0.5), in.percentile(0.5)));
      tail_ratio.push_back(ratio(ipc.percentile(0.999), in.percentile(0.999)));
      in_all.merge(in);
      ipc_all.merge(ipc);
    }
    std::printf("\nround trip, 8 B, %s topics, %d turns x %llu trips each, %u hardware threads\n",
                k == Kind::kAsync ? "kAsync" : "shared memory-only", kTurns,
                static_cast<unsigned long long>(kTrips), std::thread::hardware_concurrency());
    std::printf("%-16s %9s %9s %9s %10s\n", "", "p50 ns", "p99 ns", "p99.9 ns", "max ns");
    for (auto [name, h] : {std::pair{"in process", &in_all}, std::pair{"two processes", &ipc_all}})
      std::printf("%-16s %9llu %9llu %9llu %10llu\n", name, static_cast<unsigned long long>(h->percentile(0.5)),
                  static_cast<unsigned long long>(h->percentile(0.99)),
                  static_cast<unsigned long long>(h->percentile(0.999)), static_cast<unsigned long long>(h->max()));
    std::printf(
        "two processes / in process: p50 %.2f, p99 %.2f, p99.9 %.2f; median over turns: p50 %.2f, p99.9 %.2f\n\n",
        ratio(ipc_all.percentile(0.5), in_all.percentile(0.5)),
        ratio(ipc_all.percentile(0.99), in_all.percentile(0.99)),
        ratio(ipc_all.percentile(0.999), in_all.percentile(0.999)), median(p50_ratio), median(tail_ratio));
    state.counters["in_p50"] = static_cast<double>(in_all.percentile(0.5));
    state.counters["ipc_p50"] = static_cast<double>(ipc_all.percentile(0.5));
    state.counters["ratio_p50"] = ratio(ipc_all.percentile(0.5), in_all.percentile(0.5));
    state.counters["ratio_p99"] = ratio(ipc_all.percentile(0.99), in_all.percentile(0.99));
    state.counters["ratio_p999"] = ratio(ipc_all.percentile(0.999), in_all.percentile(0.999));
    state.counters["turns_p50_ratio"] = median(p50_ratio);
    state.counters["turns_p999_ratio"] = median(tail_ratio);
  }
}
BENCHMARK_CAPTURE(BM_IpcPingPong, async, Kind::kAsync)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_IpcPingPong, shared, Kind::kShared)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
