// Engine throughput: conduit's in-memory publish/poll path against a raw
// moodycamel::ConcurrentQueue, fan-out cost, and a work group. bench/README.md
// says what each benchmark measures and how to read the ratios;
// bench/run_engine_ratios.sh prints them.
//
// Every benchmark moves 64-byte payloads, each carrying a running counter in
// its first 8 bytes that the consumer checks (order, nothing lost). One
// iteration publishes kMessages messages from the benchmark thread and waits
// until the consumer side has received all of them, so items/s is end to end
// (published and delivered) and nothing is left in flight between
// iterations. Time is wall time (UseRealTime): the consumer runs on its own
// thread.
//
// Threads: the benchmark thread publishes; one more thread consumes. Both are
// busy most of the time, which is what a 2-core machine can hold. Fan-out
// subscribers and work-group consumers are all polled round-robin by that one
// thread, so adding subscribers measures the engine, not the scheduler. The
// one exception, two work-group consumer threads (3 threads in all), is only
// registered when CONDUIT_BENCH_OVERSUBSCRIBE=1.
//
// Each run opens its own engine and closes it at the end; closing ends the
// consumer thread (a poll returns `closed` once everything was read), which
// is then joined before the subscribers and the engine go away.
#include <benchmark/benchmark.h>
#include <concurrentqueue/concurrentqueue.h>
#include <conduit/conduit.h>

#include <pthread.h>
#include <time.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "claim_ring.h"
#include "spin.h"
#include "tests/support/full_envelope.h"  // every envelope field set, as the tests' records

namespace {

using namespace conduit;

constexpr std::uint64_t kMessages = 1u << 16;  // per iteration
constexpr std::size_t kPollBatch = 64;

struct Payload {
  std::array<unsigned char, 64> bytes{};
};
static_assert(sizeof(Payload) == 64);

using conduit::bench::cpu_relax;

void stamp(Payload& p, std::uint64_t counter) noexcept { std::memcpy(p.bytes.data(), &counter, sizeof counter); }

std::uint64_t counter_of(const void* bytes) noexcept {
  std::uint64_t c;
  std::memcpy(&c, bytes, sizeof c);
  return c;
}

std::string_view as_view(const Payload& p) noexcept {
  return {reinterpret_cast<const char*>(p.bytes.data()), p.bytes.size()};
}

// What the consumer thread tells the benchmark thread. One cache line each,
// so the producer's polling of `received` does not share a line with
// anything the consumer writes more often.
struct Progress {
  // Records received (or acked) by the consumer side; written by its
  // thread(s), once per poll.
  alignas(64) std::atomic<std::uint64_t> received{0};
  // Set by the consumer thread when a check fails; read after join().
  alignas(64) std::atomic<bool> bad{false};
  // Set by the benchmark thread to end a baseline consumer (conduit
  // consumers end on the engine's close instead).
  alignas(64) std::atomic<bool> stop{false};

  void add(std::uint64_t n) noexcept {
    // Release pairs with the acquire in wait_for(): whoever sees the count
    // also sees the work (checks, acks) that led to it. One RMW per poll.
    received.fetch_add(n, std::memory_order_release);
  }
  void wait_for(std::uint64_t target) const noexcept {
    // Acquire pairs with the release in add().
    while (received.load(std::memory_order_acquire) < target) cpu_relax();
  }
};

// Every record a subscriber sees must carry the next counter.
struct OrderCheck {
  std::uint64_t expected = 0;
  bool ok = true;
  void see(std::uint64_t c) noexcept {
    ok &= (c == expected);
    ++expected;
  }
};

Result<std::unique_ptr<Engine>> open_engine(const EngineOptions& eo = {}) { return Engine::open(eo); }

std::string numbered(std::string_view prefix, std::size_t i) {
  std::string name(prefix);
  name += std::to_string(i);
  return name;
}

void finish(benchmark::State& state, const Progress& progress) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kMessages));
  // Relaxed: read after join(), which orders it.
  if (progress.bad.load(std::memory_order_relaxed)) state.SkipWithError("consumer saw a record out of order");
}

// One iteration's publishes: kMessages payloads numbered from `sent` on,
// which counts those published. Stops at the first failure, which it reports.
void publish_singly(benchmark::State& state, Topic* t, std::uint64_t& sent) {
  Payload p;
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    stamp(p, sent);
    if (auto r = t->publish(as_view(p)); !r.ok()) {
      state.SkipWithError(r.status().to_string().c_str());
      return;
    }
    ++sent;
  }
}

// The same, `per_call` messages per Topic::publish_batch call.
void publish_in_batches(benchmark::State& state, Topic* t, std::uint64_t& sent, std::size_t per_call) {
  std::vector<Payload> payloads(per_call);
  std::vector<Message> batch(per_call);
  for (std::size_t i = 0; i < per_call; ++i) batch[i].payload = as_view(payloads[i]);
  for (std::uint64_t i = 0; i < kMessages; i += per_call) {
    for (std::size_t k = 0; k < per_call; ++k) stamp(payloads[k], sent + k);
    if (const PublishBatchResult r = t->publish_batch(batch); !r.ok()) {
      state.SkipWithError(r.status.to_string().c_str());
      return;
    }
    sent += per_call;
  }
}

// The same, each message a Message with every envelope field set (id, key,
// correlation id, reply-to, trace id, content type, schema version, three
// headers) around the 64-byte payload, one Topic::publish(Message) each.
void publish_enveloped(benchmark::State& state, Topic* t, std::uint64_t& sent) {
  Payload p;
  const Message m = conduit::test::full_envelope(as_view(p));
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    stamp(p, sent);
    if (auto r = t->publish(m); !r.ok()) return state.SkipWithError(r.status().to_string().c_str());
    ++sent;
  }
}

// The same, each message through Topic::claim: the counter and the rest of
// the payload written in place in the log, then commit() (zero copy).
void publish_claimed(benchmark::State& state, Topic* t, std::uint64_t& sent) {
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    auto c = t->claim(sizeof(Payload));
    if (!c.ok()) return state.SkipWithError(c.status().to_string().c_str());
    const std::span<std::byte> p = c->payload();
    if (p.size() != sizeof(Payload)) return state.SkipWithError("claim: payload of the wrong size");
    std::memcpy(p.data(), &sent, sizeof sent);
    std::memset(p.data() + sizeof sent, 0, p.size() - sizeof sent);  // as the copied payloads' zeros
    if (auto r = c->commit(); !r.ok()) return state.SkipWithError(r.status().to_string().c_str());
    ++sent;
  }
}

// ---------------------------------------------------------------- baseline ---
// Raw moodycamel 1 producer / 1 consumer: the producer enqueues `per_call`
// items at a time with its producer token (1: enqueue, as publish() takes
// one message at a time; more: enqueue_bulk); the consumer takes up to
// kPollBatch with try_dequeue_bulk and its consumer token. Both are the
// queue's fast paths.
void run_moodycamel(benchmark::State& state, std::size_t per_call) {
  moodycamel::ConcurrentQueue<Payload> queue;
  Progress progress;
  std::thread consumer([&] {
    moodycamel::ConsumerToken token(queue);
    std::array<Payload, kPollBatch> out;
    OrderCheck check;
    // Relaxed: the stop flag only ends the loop; the data comes through the queue.
    while (!progress.stop.load(std::memory_order_relaxed)) {
      const std::size_t n = queue.try_dequeue_bulk(token, out.begin(), out.size());
      if (n == 0) {
        cpu_relax();
        continue;
      }
      for (std::size_t i = 0; i < n; ++i) check.see(counter_of(out[i].bytes.data()));
      progress.add(n);
    }
    if (!check.ok) progress.bad.store(true, std::memory_order_relaxed);  // relaxed: read after join()
  });

  moodycamel::ProducerToken token(queue);
  std::vector<Payload> batch(per_call);
  std::uint64_t sent = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < kMessages; i += per_call) {
      for (Payload& p : batch) stamp(p, sent++);
      const bool ok =
          per_call == 1 ? queue.enqueue(token, batch[0]) : queue.enqueue_bulk(token, batch.begin(), batch.size());
      if (!ok) {
        state.SkipWithError("enqueue failed (out of memory)");
        break;
      }
    }
    progress.wait_for(sent);
  }
  progress.stop.store(true, std::memory_order_relaxed);  // relaxed: see the consumer loop
  consumer.join();
  finish(state, progress);
}
void BM_Moodycamel_1P1C(benchmark::State& state) { run_moodycamel(state, 1); }
BENCHMARK(BM_Moodycamel_1P1C)->UseRealTime();

// A bare claim ring (claim_ring.h), 1 producer / 1 consumer: the producer
// claims a slot, writes the counter and zeros as publish_claimed() does, and
// commits; the consumer checks each slot in place, up to kPollBatch at a
// time, and then hands them back. 2^14 slots (1 MiB: the ring stays in the
// caches; a memory-only topic's default ring is 64 MiB, which made this
// ring slower, not faster: CONDUIT_RING_SLOTS, a power of two, sets another
// size).
// per_claim 1: BM_ClaimRing_1P1C; kPublishBatch: BM_ClaimRingBatch_1P1C,
// one fetch_add for 64 slots (as publish_batch claims once per batch), each
// slot's sequence still stored on its own.
void run_claim_ring(benchmark::State& state, std::uint64_t per_claim) {
  std::size_t slots = std::size_t{1} << 14;
  if (const char* env = std::getenv("CONDUIT_RING_SLOTS")) slots = std::strtoull(env, nullptr, 10);
  if (slots == 0 || (slots & (slots - 1)) != 0) return state.SkipWithError("CONDUIT_RING_SLOTS: not a power of two");
  auto ring = std::make_unique<conduit::bench::ClaimRing>(slots);
  Progress progress;
  std::thread consumer([&] {
    OrderCheck check;
    std::uint64_t next = 0;
    // Relaxed: the stop flag only ends the loop; the data comes through the ring.
    while (!progress.stop.load(std::memory_order_relaxed)) {
      std::uint64_t n = 0;
      while (n < kPollBatch && ring->ready(next + n)) check.see(counter_of(ring->read(next + n))), ++n;
      if (n == 0) {
        cpu_relax();
        continue;
      }
      next += n;
      ring->done(next);
      progress.add(n);
    }
    if (!check.ok) progress.bad.store(true, std::memory_order_relaxed);  // relaxed: read after join()
  });
  std::uint64_t sent = 0;
  std::uint64_t seen = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < kMessages; i += per_claim) {
      const std::uint64_t first = ring->claim(seen, per_claim);
      for (std::uint64_t n = first; n < first + per_claim; ++n) {
        unsigned char* p = ring->bytes(n);
        std::memcpy(p, &sent, sizeof sent);
        std::memset(p + sizeof sent, 0, sizeof(Payload) - sizeof sent);
        ring->commit(n);
        ++sent;
      }
    }
    progress.wait_for(sent);
  }
  progress.stop.store(true, std::memory_order_relaxed);  // relaxed: see the consumer loop
  consumer.join();
  finish(state, progress);
}
void BM_ClaimRing_1P1C(benchmark::State& state) { run_claim_ring(state, 1); }
BENCHMARK(BM_ClaimRing_1P1C)->UseRealTime();

// ------------------------------------------------------------ conduit 1P/1S ---
// The same payloads through Topic::publish (per_call 1) or publish_batch
// (more; 0: one Topic::claim and commit each, publish_claimed;
// kFullEnvelope: publish_enveloped) to one
// blocking subscriber that polls (with its wait strategy) in
// batches of kPollBatch on a second thread. `linger`:
// SubscriberOptions::linger with min_batch kPollBatch (0: off, the
// default): the subscriber waits up to that long for a full batch.
constexpr std::size_t kFullEnvelope = ~std::size_t{0};
void run_conduit_1p1s(benchmark::State& state, WaitStrategy wait, std::chrono::microseconds linger,
                      std::size_t per_call, bool single_producer = false, const EngineOptions& eo = {},
                      Durability durability = Durability::kMemory, const std::function<void()>& before_close = {}) {
  auto engine = open_engine(eo);
  if (!engine.ok()) return state.SkipWithError(engine.status().to_string().c_str());
  TopicOptions to;
  to.durability = durability;
  to.single_producer = single_producer;
  auto topic = (*engine)->create_topic("bench", to);
  if (!topic.ok()) return state.SkipWithError(topic.status().to_string().c_str());
  auto sub = (*topic)->subscribe({.name = "s0",
                                  .start = StartAt::earliest(),
                                  .slow = SlowPolicy::kBlock,
                                  .wait = wait,
                                  .min_batch = linger.count() != 0 ? kPollBatch : 0,
                                  .linger = linger});
  if (!sub.ok()) return state.SkipWithError(sub.status().to_string().c_str());

  Progress progress;
  std::thread consumer([&] {
    std::array<RecordView, kPollBatch> out;
    OrderCheck check;
    for (;;) {
      const PollResult r = (*sub)->poll(out, std::chrono::seconds(1));
      if (r.closed) break;
      if (r.lost != 0) check.ok = false;
      for (std::size_t i = 0; i < r.count; ++i) check.see(counter_of(out[i].payload().data()));
      if (r.count != 0) progress.add(r.count);
    }
    if (!check.ok) progress.bad.store(true, std::memory_order_relaxed);  // relaxed: read after join()
  });

  Topic* t = *topic;
  std::uint64_t sent = 0;
  for (auto _ : state) {
    if (per_call == 0) {
      publish_claimed(state, t, sent);
    } else if (per_call == kFullEnvelope) {
      publish_enveloped(state, t, sent);
    } else if (per_call == 1) {
      publish_singly(state, t, sent);
    } else {
      publish_in_batches(state, t, sent, per_call);
    }
    progress.wait_for(sent);
  }
  if (before_close) before_close();
  (*engine)->close();
  consumer.join();
  finish(state, progress);
}
void BM_Conduit_1P1S(benchmark::State& state, WaitStrategy wait, std::chrono::microseconds linger) {
  run_conduit_1p1s(state, wait, linger, 1);
}
BENCHMARK_CAPTURE(BM_Conduit_1P1S, busy_spin, WaitStrategy::kBusySpin, std::chrono::microseconds(0))->UseRealTime();
BENCHMARK_CAPTURE(BM_Conduit_1P1S, adaptive, WaitStrategy::kAdaptive, std::chrono::microseconds(0))->UseRealTime();
BENCHMARK_CAPTURE(BM_Conduit_1P1S, busy_spin_linger_20us, WaitStrategy::kBusySpin, std::chrono::microseconds(20))
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Conduit_1P1S, busy_spin_linger_100us, WaitStrategy::kBusySpin, std::chrono::microseconds(100))
    ->UseRealTime();

// The live counters file (EngineOptions::counters_interval) on and off, in
// one run: an engine with a data directory (on /dev/shm, so that the disk
// does not drown the difference) whose refresher rewrites DATA_DIR/counters
// every 100 ms (on) or that keeps none (off). The publish path writes no
// counter either way; the refresher's reads (published(), claimed(), the
// subscriber's position) are what on costs. Compare on/off round by round
// with bench/paired_ratio.py (bench/README.md).
// `interval_ms` 0: off; 1: a hundred times the default rate, to make the
// refresher's cost visible above the noise of a shared machine; an hour:
// the file and the thread are there, but no refresh runs.
// Counter `refresher_cpu_share`: the refresher thread's CPU time over its
// life (its thread CPU clock, taken by EngineOptions::on_thread_start on
// that thread), as a share of one core: the most `on` can take from the
// two busy threads, short of what its wakeups disturb.
void BM_Conduit_1P1S_Counters(benchmark::State& state, Durability durability, int interval_ms) {
  char dir[] = "/dev/shm/conduit-bench-counters-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return state.SkipWithError("mkdtemp /dev/shm failed");
  struct Refresher {
    std::atomic<bool> seen{false};
    clockid_t clock{};
    std::chrono::steady_clock::time_point started;
  } refresher;
  EngineOptions eo;
  eo.data_dir = dir;
  eo.counters_interval = std::chrono::milliseconds(interval_ms);
  eo.on_thread_start = [&refresher](std::string_view name) {
    if (name != "conduit-counter" || ::pthread_getcpuclockid(::pthread_self(), &refresher.clock) != 0) return;
    refresher.started = std::chrono::steady_clock::now();
    // Release pairs with the acquire below: the clock and the start are set.
    refresher.seen.store(true, std::memory_order_release);
  };
  auto share = [&] {
    // Acquire pairs with the release in the hook. Read before close: the
    // clock goes with the thread.
    if (!refresher.seen.load(std::memory_order_acquire)) return;
    timespec cpu{};
    if (::clock_gettime(refresher.clock, &cpu) != 0) return;
    const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - refresher.started;
    state.counters["refresher_cpu_share"] = (static_cast<double>(cpu.tv_sec) + cpu.tv_nsec * 1e-9) / wall.count();
  };
  run_conduit_1p1s(state, WaitStrategy::kAdaptive, std::chrono::microseconds(0), 1, false, eo, durability, share);
  std::filesystem::remove_all(dir);
}
BENCHMARK_CAPTURE(BM_Conduit_1P1S_Counters, memory_on, Durability::kMemory, 100)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conduit_1P1S_Counters, memory_on_1ms, Durability::kMemory, 1)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conduit_1P1S_Counters, memory_idle, Durability::kMemory, 3'600'000)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conduit_1P1S_Counters, memory_off, Durability::kMemory, 0)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conduit_1P1S_Counters, async_on, Durability::kAsync, 100)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conduit_1P1S_Counters, async_off, Durability::kAsync, 0)->UseRealTime();

// One Engine::refresh_counters() of an engine with one async topic, a
// subscriber, a work group and records behind both: the refresher's work
// per interval (its share of a core is this time / counters_interval).
void BM_RefreshCounters(benchmark::State& state) {
  char dir[] = "/dev/shm/conduit-bench-refresh-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return state.SkipWithError("mkdtemp /dev/shm failed");
  {
    EngineOptions eo;
    eo.data_dir = dir;
    eo.counters_interval = std::chrono::hours(1);
    auto engine = Engine::open(eo).value();
    TopicOptions to;
    to.durability = Durability::kAsync;
    Topic* t = engine->create_topic("bench", to).value();
    SubscriberOptions so;
    so.name = "s";
    so.start = StartAt::earliest();
    auto sub = t->subscribe(so).value();
    (void)t->work_group("g").value();
    for (int i = 0; i < 1000; ++i) (void)t->publish("x");
    for (auto _ : state) (void)engine->refresh_counters();
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_RefreshCounters);

// The same with TopicOptions::single_producer: the publishing thread claims
// with a plain store instead of a locked add.
void BM_Conduit_1P1S_SingleProducer(benchmark::State& state, WaitStrategy wait) {
  run_conduit_1p1s(state, wait, std::chrono::microseconds(0), 1, true);
}
BENCHMARK_CAPTURE(BM_Conduit_1P1S_SingleProducer, busy_spin, WaitStrategy::kBusySpin)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conduit_1P1S_SingleProducer, adaptive, WaitStrategy::kAdaptive)->UseRealTime();

// The zero-copy path: Topic::claim, the payload written in the log, commit.
void BM_ConduitClaim_1P1S(benchmark::State& state, WaitStrategy wait) {
  run_conduit_1p1s(state, wait, std::chrono::microseconds(0), 0);
}
BENCHMARK_CAPTURE(BM_ConduitClaim_1P1S, busy_spin, WaitStrategy::kBusySpin)->UseRealTime();
BENCHMARK_CAPTURE(BM_ConduitClaim_1P1S, adaptive, WaitStrategy::kAdaptive)->UseRealTime();
// The same on a single_producer topic: the claim takes no locked
// instruction (a plain store of the tail, the producer's own claim slot).
void BM_ConduitClaim_1P1S_SingleProducer(benchmark::State& state, WaitStrategy wait) {
  run_conduit_1p1s(state, wait, std::chrono::microseconds(0), 0, true);
}
BENCHMARK_CAPTURE(BM_ConduitClaim_1P1S_SingleProducer, busy_spin, WaitStrategy::kBusySpin)->UseRealTime();

// One Topic::publish(Message) at a time with the full envelope (issue 22's
// "publish(Message) with the full envelope" against moodycamel 1P/1C).
void BM_ConduitEnvelope_1P1S(benchmark::State& state, WaitStrategy wait) {
  run_conduit_1p1s(state, wait, std::chrono::microseconds(0), kFullEnvelope);
}
BENCHMARK_CAPTURE(BM_ConduitEnvelope_1P1S, busy_spin, WaitStrategy::kBusySpin)->UseRealTime();

// ------------------------------------------------------------ batches 1P/1S ---
// The same traffic published kPublishBatch at a time: moodycamel's
// enqueue_bulk against Topic::publish_batch (one claim and one clock read
// per call), with the consumers above. Neither is the 1P/1S goal's figure
// (one message per call, against moodycamel 1P/1C).
constexpr std::size_t kPublishBatch = kPollBatch;
static_assert(kMessages % kPublishBatch == 0);

void BM_MoodycamelBulk_1P1C(benchmark::State& state) { run_moodycamel(state, kPublishBatch); }
BENCHMARK(BM_MoodycamelBulk_1P1C)->UseRealTime();
void BM_ClaimRingBatch_1P1C(benchmark::State& state) { run_claim_ring(state, kPublishBatch); }
BENCHMARK(BM_ClaimRingBatch_1P1C)->UseRealTime();

void BM_ConduitBatch_1P1S(benchmark::State& state, WaitStrategy wait) {
  run_conduit_1p1s(state, wait, std::chrono::microseconds(0), kPublishBatch);
}
BENCHMARK_CAPTURE(BM_ConduitBatch_1P1S, busy_spin, WaitStrategy::kBusySpin)->UseRealTime();
BENCHMARK_CAPTURE(BM_ConduitBatch_1P1S, adaptive, WaitStrategy::kAdaptive)->UseRealTime();

// ---------------------------------------------------------------- fan-out ---
// One publisher, state.range(0) blocking subscribers, all polled round-robin
// (try_poll, kPollBatch each) by one thread. An iteration ends when every
// subscriber has received every message: blocking subscribers pace the
// publisher, so in steady state this is also the publish throughput.
void BM_Conduit_FanOut(benchmark::State& state) {
  const auto fan = static_cast<std::size_t>(state.range(0));
  auto engine = open_engine();
  if (!engine.ok()) return state.SkipWithError(engine.status().to_string().c_str());
  auto topic = (*engine)->create_topic("bench");
  if (!topic.ok()) return state.SkipWithError(topic.status().to_string().c_str());
  std::vector<std::unique_ptr<Subscriber>> subs;
  for (std::size_t i = 0; i < fan; ++i) {
    auto sub = (*topic)->subscribe({.name = numbered("s", i),
                                    .start = StartAt::earliest(),
                                    .slow = SlowPolicy::kBlock,
                                    .wait = WaitStrategy::kBusySpin});
    if (!sub.ok()) return state.SkipWithError(sub.status().to_string().c_str());
    subs.push_back(std::move(sub).value());
  }

  Progress progress;
  std::thread poller([&] {
    std::array<RecordView, kPollBatch> out;
    std::vector<OrderCheck> checks(fan);
    std::vector<bool> closed(fan, false);
    std::size_t open = fan;
    while (open != 0) {
      std::uint64_t round = 0;
      for (std::size_t s = 0; s < fan; ++s) {
        if (closed[s]) continue;
        const PollResult r = subs[s]->try_poll(out);
        if (r.closed) {
          closed[s] = true;
          --open;
          continue;
        }
        if (r.lost != 0) checks[s].ok = false;
        for (std::size_t i = 0; i < r.count; ++i) checks[s].see(counter_of(out[i].payload().data()));
        round += r.count;
      }
      if (round == 0) {
        cpu_relax();
        continue;
      }
      progress.add(round);
    }
    for (const OrderCheck& c : checks)
      if (!c.ok) progress.bad.store(true, std::memory_order_relaxed);  // relaxed: read after join()
  });

  Topic* t = *topic;
  std::uint64_t sent = 0;
  for (auto _ : state) {
    publish_singly(state, t, sent);
    progress.wait_for(sent * fan);
  }
  (*engine)->close();
  poller.join();
  finish(state, progress);
  // Deliveries (records x subscribers) per second, for the poller's side.
  state.counters["deliveries_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kMessages * fan), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Conduit_FanOut)->ArgName("subscribers")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->UseRealTime();

// ------------------------------------------------------------- work group ---
// A work group of 2 consumers; each delivery is acked. The iteration ends
// when the group's ack floor covers everything published.
//
// threads == 1 (the default): both consumers are polled round-robin by one
// thread, so the figure is the group's claim/ack cost, not the scheduler's.
// threads == 2 (only with CONDUIT_BENCH_OVERSUBSCRIBE=1): each consumer on its
// own thread with the adaptive strategy, 3 busy threads on 2 cores: shows that
// competing consumers on an oversubscribed machine do not collapse.
void BM_Conduit_WorkGroup2(benchmark::State& state) {
  const bool two_threads = state.range(0) == 2;
  auto engine = open_engine();
  if (!engine.ok()) return state.SkipWithError(engine.status().to_string().c_str());
  auto topic = (*engine)->create_topic("bench");
  if (!topic.ok()) return state.SkipWithError(topic.status().to_string().c_str());
  auto group = (*topic)->work_group("workers");
  if (!group.ok()) return state.SkipWithError(group.status().to_string().c_str());
  const WaitStrategy wait = two_threads ? WaitStrategy::kAdaptive : WaitStrategy::kBusySpin;
  std::vector<std::unique_ptr<Consumer>> consumers;
  for (std::size_t i = 0; i < 2; ++i) {
    auto c = (*group)->consumer({.name = numbered("c", i), .wait = wait});
    if (!c.ok()) return state.SkipWithError(c.status().to_string().c_str());
    consumers.push_back(std::move(c).value());
  }

  // The consumer thread(s) count what they acked in `progress`; the
  // benchmark thread waits on that rather than on the group's ack floor, so
  // it does not pull the floor's cache line away from the acking thread on
  // every ack.
  Progress progress;
  std::vector<std::thread> threads;
  auto drain_round_robin = [&](std::vector<Consumer*> mine) {
    std::array<Delivery, kPollBatch> out;
    std::vector<bool> closed(mine.size(), false);
    std::size_t open = mine.size();
    while (open != 0) {
      std::size_t round = 0;
      for (std::size_t c = 0; c < mine.size(); ++c) {
        if (closed[c]) continue;
        const PollResult r = two_threads ? mine[c]->poll(out, std::chrono::seconds(1)) : mine[c]->try_poll(out);
        if (r.closed) {
          closed[c] = true;
          --open;
          continue;
        }
        for (std::size_t i = 0; i < r.count; ++i) {
          benchmark::DoNotOptimize(counter_of(out[i].record.payload().data()));
          mine[c]->ack(out[i]);
        }
        round += r.count;
      }
      if (round == 0) {
        cpu_relax();
        continue;
      }
      progress.add(round);
    }
  };
  if (two_threads) {
    threads.emplace_back(drain_round_robin, std::vector<Consumer*>{consumers[0].get()});
    threads.emplace_back(drain_round_robin, std::vector<Consumer*>{consumers[1].get()});
  } else {
    threads.emplace_back(drain_round_robin, std::vector<Consumer*>{consumers[0].get(), consumers[1].get()});
  }

  Topic* t = *topic;
  WorkGroup* g = *group;
  std::uint64_t sent = 0;
  for (auto _ : state) {
    publish_singly(state, t, sent);
    // With 2 consumer threads the publisher has no core of its own: it
    // yields while it waits rather than spin.
    if (two_threads) {
      // Acquire pairs with the release in Progress::add().
      while (progress.received.load(std::memory_order_acquire) < sent) std::this_thread::yield();
    } else {
      progress.wait_for(sent);
    }
  }
  (*engine)->close();
  for (std::thread& th : threads) th.join();
  // Every record handed out exactly once and acked.
  const WorkGroupStats s = g->stats();
  // Relaxed: read after join(), which orders it.
  if (s.next != sent || s.redelivered != 0 || progress.received.load(std::memory_order_relaxed) != sent)
    state.SkipWithError("work group lost or redelivered records");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kMessages));
}
BENCHMARK(BM_Conduit_WorkGroup2)->ArgName("threads")->Arg(1)->UseRealTime();

// 3 busy threads on a 2-core machine: opt-in (see above).
const bool kOversubscribedRegistered = [] {
  const char* v = std::getenv("CONDUIT_BENCH_OVERSUBSCRIBE");
  if (v != nullptr && std::string_view(v) == "1")
    benchmark::RegisterBenchmark("BM_Conduit_WorkGroup2", BM_Conduit_WorkGroup2)
        ->ArgName("threads")
        ->Arg(2)
        ->UseRealTime();
  return true;
}();

}  // namespace
