// Round-trip latency: a ping-pong of an 8-byte payload between two threads,
// through two conduit topics (memory-only, busy-spinning subscribers),
// through two moodycamel queues, and over the hardware's floor: one atomic
// word each way, busy spin, nothing else. The three take turns in one
// process (kTurns turns of kTrips round trips each), so every ratio to the
// floor is a same-run ratio: on a VM the floor itself moves between runs as
// the host places the vCPUs. bench/README.md says how to read it.
//
// The pinger (the benchmark thread) stamps the clock, sends its counter,
// waits for the echo of that counter and stamps again; the echo thread
// sends back whatever it receives. With two cores or more they are pinned
// to CPUs 0 and 1. Printed: p50, p99, p99.9 and max of each, in ns, over
// all turns, and each one's ratio to the floor's; and the median over the
// turns of the per-turn p99.9 ratio (a tail moves more than a median).
#include <benchmark/benchmark.h>
#include <concurrentqueue/concurrentqueue.h>
#include <conduit/conduit.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "histogram.h"
#include "spin.h"


namespace {

using namespace conduit;
using Clock = std::chrono::steady_clock;

constexpr int kTurns = 5;
constexpr std::uint64_t kTrips = 50'000;  // per turn and kind
constexpr std::uint64_t kWarmup = 2'000;  // per turn and kind, not recorded

// Round trips per turn and kind: kTrips, or CONDUIT_PINGPONG_TRIPS (short
// runs: bench/results_table.py scales it with its --duration).
std::uint64_t trips() {
  static const std::uint64_t n = [] {
    const char* v = std::getenv("CONDUIT_PINGPONG_TRIPS");
    const unsigned long long parsed = v != nullptr ? std::strtoull(v, nullptr, 10) : 0;
    return parsed != 0 ? static_cast<std::uint64_t>(parsed) : kTrips;
  }();
  return n;
}

using conduit::bench::cpu_relax;
using conduit::bench::pin_to;

std::uint64_t ns_since(Clock::time_point t0) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
}

// One way of sending a counter each way. send_ping/recv_ping on the pinger
// side; the echo thread runs echo(n): receive, send back, n times.
struct PingPong {
  std::function<void(std::uint64_t)> send_ping;
  std::function<void(std::uint64_t)> await_pong;  // returns once the echo of that counter is in
  std::function<void(std::uint64_t)> echo;
};

// Runs kWarmup + trips() round trips, recording the last trips().
bool run_trips(const PingPong& pp, conduit::bench::Histogram& h) {
  const std::uint64_t n = kWarmup + trips();
  std::thread echo([&] {
    pin_to(1);
    pp.echo(n);
  });
  pin_to(0);
  for (std::uint64_t i = 1; i <= n; ++i) {
    const auto t0 = Clock::now();
    pp.send_ping(i);
    pp.await_pong(i);
    if (i > kWarmup) h.record(ns_since(t0));
  }
  echo.join();
  return true;
}

// The floor: one atomic word each way, on lines of their own.
struct Floor {
  alignas(64) std::atomic<std::uint64_t> ping{0};
  alignas(64) std::atomic<std::uint64_t> pong{0};
};

void floor_turn(conduit::bench::Histogram& h) {
  Floor f;
  PingPong pp;
  // Release stores pair with the acquire loads on the other side.
  pp.send_ping = [&](std::uint64_t i) { f.ping.store(i, std::memory_order_release); };
  pp.await_pong = [&](std::uint64_t i) {
    while (f.pong.load(std::memory_order_acquire) != i) cpu_relax();
  };
  pp.echo = [&](std::uint64_t n) {
    for (std::uint64_t i = 1; i <= n; ++i) {
      while (f.ping.load(std::memory_order_acquire) != i) cpu_relax();
      f.pong.store(i, std::memory_order_release);
    }
  };
  run_trips(pp, h);
}

std::string_view as_view(const std::uint64_t& v) { return {reinterpret_cast<const char*>(&v), sizeof v}; }

std::uint64_t counter_of(const RecordView& r) {
  std::uint64_t v = 0;
  std::memcpy(&v, r.payload().data(), sizeof v);
  return v;
}

// Two memory-only topics, a busy-spinning subscriber on each (try_poll in
// a loop: what poll() with kBusySpin does, without its timeout checks).
Status conduit_turn(conduit::bench::Histogram& h) {
  auto engine = Engine::open();
  if (!engine.ok()) return engine.status();
  auto ping = (*engine)->create_topic("ping");
  auto pong = (*engine)->create_topic("pong");
  if (!ping.ok()) return ping.status();
  if (!pong.ok()) return pong.status();
  SubscriberOptions so;
  so.wait = WaitStrategy::kBusySpin;
  auto ping_sub = (*ping)->subscribe(so);
  auto pong_sub = (*pong)->subscribe(so);
  if (!ping_sub.ok()) return ping_sub.status();
  if (!pong_sub.ok()) return pong_sub.status();
  Status failed;
  PingPong pp;
  pp.send_ping = [&](std::uint64_t i) { (void)(*ping)->publish(as_view(i)); };
  pp.await_pong = [&](std::uint64_t i) {
    RecordView v[1];
    for (;;) {
      if ((*pong_sub)->try_poll(v).count == 1) {
        if (counter_of(v[0]) != i) failed = Status::Corruption("pong out of order");
        return;
      }
      cpu_relax();
    }
  };
  pp.echo = [&](std::uint64_t n) {
    RecordView v[1];
    for (std::uint64_t i = 1; i <= n;) {
      if ((*ping_sub)->try_poll(v).count != 1) {
        cpu_relax();
        continue;
      }
      const std::uint64_t c = counter_of(v[0]);
      (void)(*pong)->publish(as_view(c));
      ++i;
    }
  };
  run_trips(pp, h);
  return failed;
}

void moodycamel_turn(conduit::bench::Histogram& h) {
  moodycamel::ConcurrentQueue<std::uint64_t> ping, pong;
  moodycamel::ProducerToken ping_token(ping), pong_token(pong);
  moodycamel::ConsumerToken ping_reader(ping), pong_reader(pong);
  PingPong pp;
  pp.send_ping = [&](std::uint64_t i) { ping.enqueue(ping_token, i); };
  pp.await_pong = [&](std::uint64_t) {
    std::uint64_t v = 0;
    while (!pong.try_dequeue(pong_reader, v)) cpu_relax();
  };
  pp.echo = [&](std::uint64_t n) {
    std::uint64_t v = 0;
    for (std::uint64_t i = 1; i <= n; ++i) {
      while (!ping.try_dequeue(ping_reader, v)) cpu_relax();
      pong.enqueue(pong_token, v);
    }
  };
  run_trips(pp, h);
}

double ratio(std::uint64_t a, std::uint64_t b) { return b == 0 ? 0 : static_cast<double>(a) / static_cast<double>(b); }

void BM_PingPong(benchmark::State& state) {
  using conduit::bench::Histogram;
  Histogram floor_all, conduit_all, mc_all;
  std::vector<double> conduit_tail_ratio, mc_tail_ratio;
  for (auto _ : state) {
    for (int turn = 0; turn < kTurns; ++turn) {
      Histogram f, c, m;
      floor_turn(f);
      if (Status s = conduit_turn(c); !s.ok()) return state.SkipWithError(s.to_string().c_str());
      moodycamel_turn(m);
      conduit_tail_ratio.push_back(ratio(c.percentile(0.999), f.percentile(0.999)));
      mc_tail_ratio.push_back(ratio(m.percentile(0.999), f.percentile(0.999)));
      floor_all.merge(f);
      conduit_all.merge(c);
      mc_all.merge(m);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  std::printf("\nround trip, 8 B, %d turns x %llu trips each, %u hardware threads\n", kTurns,
              static_cast<unsigned long long>(trips()), std::thread::hardware_concurrency());
  std::printf("%-22s %9s %9s %9s %10s   %s\n", "", "p50 ns", "p99 ns", "p99.9 ns", "max ns", "ratio to the floor");
  const struct {
    const char* name;
    const Histogram* h;
  } rows[] = {{"bare atomic (floor)", &floor_all}, {"conduit, 2 topics", &conduit_all}, {"moodycamel", &mc_all}};
  for (const auto& r : rows) {
    std::printf("%-22s %9llu %9llu %9llu %10llu   p50 %.2f, p99 %.2f, p99.9 %.2f\n", r.name,
                static_cast<unsigned long long>(r.h->percentile(0.5)),
                static_cast<unsigned long long>(r.h->percentile(0.99)),
                static_cast<unsigned long long>(r.h->percentile(0.999)), static_cast<unsigned long long>(r.h->max()),
                ratio(r.h->percentile(0.5), floor_all.percentile(0.5)),
                ratio(r.h->percentile(0.99), floor_all.percentile(0.99)),
                ratio(r.h->percentile(0.999), floor_all.percentile(0.999)));
  }
  std::printf("median over the turns of p99.9 / the floor's p99.9: conduit %.2f, moodycamel %.2f\n\n",
              median(conduit_tail_ratio), median(mc_tail_ratio));
  state.counters["floor_p50"] = static_cast<double>(floor_all.percentile(0.5));
  state.counters["floor_p999"] = static_cast<double>(floor_all.percentile(0.999));
  state.counters["conduit_p50"] = static_cast<double>(conduit_all.percentile(0.5));
  state.counters["conduit_p999"] = static_cast<double>(conduit_all.percentile(0.999));
  state.counters["mc_p50"] = static_cast<double>(mc_all.percentile(0.5));
  state.counters["mc_p999"] = static_cast<double>(mc_all.percentile(0.999));
  state.counters["conduit_p50_ratio"] = ratio(conduit_all.percentile(0.5), floor_all.percentile(0.5));
  state.counters["conduit_p999_ratio_median"] = median(conduit_tail_ratio);
}
BENCHMARK(BM_PingPong)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
