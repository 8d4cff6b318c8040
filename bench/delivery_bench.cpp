// Fire-and-forget publish with the delivery features (idempotent publish,
// trace scopes, request-reply, delayed delivery) unused, against the plain
// publish, in the same run of the same binary. bench/README.md says how to
// read it; the features must cost the unused path nothing.
//
// Every benchmark publishes 64-byte payloads, one publish() per iteration,
// from the benchmark thread to a memory-only topic with default options and
// no subscriber (the ring drops whole segments as it rolls, so the figure is
// the publish path alone: claim, stamp, encode, commit, index). Only the
// benchmarks named "used" turn a feature on.
//
// Built with -DCONDUIT_DELIVERY_BENCH_PLAIN_ONLY it registers the two
// BM_Publish_Plain* benchmarks only, and compiles against a conduit without
// these features: that is how the A/B against the commit before them in
// bench/results/2026-11-23-delivery-and-bridge.md was taken.
#include <benchmark/benchmark.h>
#include <conduit/conduit.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace {

using namespace conduit;

struct Bench {
  std::unique_ptr<Engine> engine = Engine::open().value();
  Topic* topic = nullptr;
  std::array<char, 64> payload{};

  explicit Bench(TopicOptions options = {}) { topic = engine->create_topic("bench", options).value(); }

  void run(benchmark::State& state, Message m) {
    std::uint64_t n = 0;
    for (auto _ : state) {
      std::memcpy(payload.data(), &n, sizeof n);
      m.payload = std::string_view(payload.data(), payload.size());
      auto r = topic->publish(m);
      if (!r.ok()) {
        state.SkipWithError(r.status().to_string().c_str());
        break;
      }
      ++n;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(n));
  }
};

void BM_Publish_Plain(benchmark::State& state) {
  Bench b;
  b.run(state, Message{});
}
BENCHMARK(BM_Publish_Plain);

// The same with an id (18 bytes more per record) on a topic without a dedup
// window: ids unused. Compare with the plain one of the same size in an A/B.
void BM_Publish_PlainWithId(benchmark::State& state) {
  Bench b;
  Message m;
  m.id = "same-id-every-time";
  b.run(state, m);
}
BENCHMARK(BM_Publish_PlainWithId);

#ifndef CONDUIT_DELIVERY_BENCH_PLAIN_ONLY

TopicOptions with_dedup() {
  TopicOptions o;
  o.dedup.max_ids = 4096;
  return o;
}

// Unused: the topic has a dedup window, but the messages carry no id.
void BM_Publish_Unused_DedupOnNoId(benchmark::State& state) {
  Bench b(with_dedup());
  b.run(state, Message{});
}
BENCHMARK(BM_Publish_Unused_DedupOnNoId);

// Unused: a DelayPump on the topic and a Requester on the engine exist,
// idle; the publish is the plain one.
void BM_Publish_Unused_PumpAndRequesterIdle(benchmark::State& state) {
  Bench b;
  auto pump = DelayPump::open(*b.engine, *b.topic).value();
  auto requester = Requester::open(*b.engine).value();
  b.run(state, Message{});
}
BENCHMARK(BM_Publish_Unused_PumpAndRequesterIdle);

// Used: a fresh id per publish on a topic with a 4096-id window (the lock,
// the lookup, and the window's bookkeeping).
void BM_Publish_Used_DedupFreshIds(benchmark::State& state) {
  Bench b(with_dedup());
  std::uint64_t n = 0;
  char id[24];
  for (auto _ : state) {
    const int len = std::snprintf(id, sizeof id, "%llu", static_cast<unsigned long long>(n));
    Message m;
    m.id = std::string_view(id, static_cast<std::size_t>(len));
    m.payload = std::string_view(b.payload.data(), b.payload.size());
    auto r = b.topic->publish(m);
    if (!r.ok()) {
      state.SkipWithError(r.status().to_string().c_str());
      break;
    }
    ++n;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
}
BENCHMARK(BM_Publish_Used_DedupFreshIds);

// Used: every publish inside a TraceScope (the message copy with the id).
void BM_Publish_Used_TraceScope(benchmark::State& state) {
  Bench b;
  TraceScope scope("0af7651916cd43dd8448eb211c80319c");
  b.run(state, Message{});
}
BENCHMARK(BM_Publish_Used_TraceScope);

#endif  // CONDUIT_DELIVERY_BENCH_PLAIN_ONLY

}  // namespace
