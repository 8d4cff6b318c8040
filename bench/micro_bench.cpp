// Micro-benchmarks of the building blocks, public headers only: a record's
// encoding and its checked decoding (conduit/inspect.h, the functions the
// engine's log runs), CRC32C with the CPU's instruction and with the table
// fallback, the envelope with every field set, and the engine's two hot
// paths on one thread: claim+publish into a memory-only topic (and the
// slowest of those publishes), and a subscriber's poll of a batch.
//
// Every benchmark reports bytes/s and items/s (records, or CRC calls). One
// thread each; nothing runs beside the benchmark thread (the engine's own
// threads are idle for memory-only topics). bench/README.md says how the
// figures were taken.
#include <benchmark/benchmark.h>
#include <conduit/conduit.h>
#include <conduit/inspect.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/full_envelope.h"  // every envelope field set, as the tests' records

namespace {

using namespace conduit;
using conduit::test::full_envelope;

std::string payload_of(std::size_t n) { return std::string(n, 'p'); }

void set_rates(benchmark::State& state, std::size_t bytes_per_item) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes_per_item));
}

// ---------------------------------------------- records and envelope ---

// Encodes `m` again and again into one buffer.
void encode_loop(benchmark::State& state, const Message& m) {
  const std::size_t n = inspect::record_size(m);
  std::vector<std::byte> buf(inspect::padded_size(n));
  std::uint64_t seq = 0;
  for (auto _ : state) {
    auto r = inspect::encode_record(buf, m, seq++, 1'700'000'000'000'000'000, true);
    benchmark::DoNotOptimize(r);
    benchmark::ClobberMemory();
  }
  set_rates(state, n);
}

// Decodes (length, fields, CRC32C) the record of `m` again and again, and
// hands each view to `read`.
template <class Read>
void decode_loop(benchmark::State& state, const Message& m, Read read) {
  const std::size_t n = inspect::record_size(m);
  std::vector<std::byte> buf(inspect::padded_size(n));
  if (!inspect::encode_record(buf, m, 7, 1'700'000'000'000'000'000, true).ok()) {
    state.SkipWithError("encode failed");
    return;
  }
  for (auto _ : state) {
    auto v = inspect::decode_record(buf, true);
    if (!v.ok()) {
      state.SkipWithError("decode refused the record");
      return;
    }
    benchmark::DoNotOptimize(read(*v));
  }
  set_rates(state, n);
}

void BM_RecordEncode(benchmark::State& state) {
  const std::string payload = payload_of(static_cast<std::size_t>(state.range(0)));
  Message m;
  m.payload = payload;
  encode_loop(state, m);
}
BENCHMARK(BM_RecordEncode)->Arg(64)->Arg(1024)->Arg(16384);

void BM_RecordDecodeVerify(benchmark::State& state) {
  const std::string payload = payload_of(static_cast<std::size_t>(state.range(0)));
  Message m;
  m.payload = payload;
  decode_loop(state, m, [](const RecordView& v) { return v.payload().size(); });
}
BENCHMARK(BM_RecordDecodeVerify)->Arg(64)->Arg(1024)->Arg(16384);

void BM_EnvelopeEncode(benchmark::State& state) {
  const std::string payload = payload_of(64);
  encode_loop(state, full_envelope(payload));
}
BENCHMARK(BM_EnvelopeEncode);

// Checked decode, then every field read (RecordView decodes lazily).
void BM_EnvelopeDecode(benchmark::State& state) {
  const std::string payload = payload_of(64);
  decode_loop(state, full_envelope(payload), [](const RecordView& v) {
    std::size_t sum = v.payload().size() + v.id().size() + v.key().size() + v.correlation_id().size() +
                      v.reply_to().size() + v.trace_id().size() + v.content_type().size() + v.schema_version() +
                      static_cast<std::size_t>(v.sequence() + v.timestamp_ns());
    for (std::size_t i = 0; i < v.header_count(); ++i) sum += v.header(i).name.size() + v.header(i).value.size();
    return sum + v.find_header("priority").value_or("").size();
  });
}
BENCHMARK(BM_EnvelopeDecode);

// -------------------------------------------------------------- CRC32C ---

template <std::uint32_t (*Crc)(std::span<const std::byte>, std::uint32_t) noexcept>
void crc_loop(benchmark::State& state) {
  std::vector<std::byte> buf(static_cast<std::size_t>(state.range(0)), std::byte{0x5a});
  std::uint32_t crc = 0;
  for (auto _ : state) {
    crc = Crc(buf, crc);
    benchmark::DoNotOptimize(crc);
  }
  set_rates(state, buf.size());
}

void BM_Crc32cHardware(benchmark::State& state) {
  if (!inspect::crc32c_hardware()) {
    state.SkipWithError("this CPU has no CRC32C instruction");
    return;
  }
  crc_loop<inspect::crc32c>(state);
}
BENCHMARK(BM_Crc32cHardware)->Arg(64)->Arg(1024)->Arg(16384);

void BM_Crc32cPortable(benchmark::State& state) { crc_loop<inspect::crc32c_portable>(state); }
BENCHMARK(BM_Crc32cPortable)->Arg(64)->Arg(1024)->Arg(16384);

// -------------------------------------------------------------- engine ---

// A memory-only engine with one topic (8 MiB segments, a 64 MiB ring).
struct MemoryTopic {
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  explicit MemoryTopic(const TopicOptions& options = {}) {
    engine = Engine::open().value();
    topic = engine->create_topic("bench", options).value();
  }
  ~MemoryTopic() { engine->close(); }
};

// Claim, encode, commit and publish of one record, no subscriber: what a
// producer pays per message on a memory-only topic. Second argument 0: the
// message carries its timestamp, so the clock is not measured; 1: the
// engine stamps it (a wall-clock read per publish, as by default).
void publish_loop(benchmark::State& state, const Message& m) {
  MemoryTopic t;
  for (auto _ : state) {
    auto seq = t.topic->publish(m);
    if (!seq.ok()) {
      state.SkipWithError(seq.status().to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(*seq);
  }
  set_rates(state, inspect::record_size(m));
}
void BM_ClaimPublish(benchmark::State& state) {
  const std::string payload = payload_of(static_cast<std::size_t>(state.range(0)));
  Message m;
  m.payload = payload;
  if (state.range(1) == 0) m.timestamp_ns = 1'700'000'000'000'000'000;
  publish_loop(state, m);
}
BENCHMARK(BM_ClaimPublish)->ArgNames({"payload", "clock"})->Args({64, 0})->Args({1024, 0})->Args({64, 1});

// Topic::claim, the 64-byte payload written in place, commit(), no
// subscriber: the zero-copy path's own cost per message, beside
// BM_ClaimPublish's copy (same arguments: payload size, clock read or not;
// third: 1 on a single_producer topic, whose claims take no locked
// instruction).
void BM_ClaimCommit(benchmark::State& state) {
  TopicOptions options;
  options.single_producer = state.range(2) != 0;
  MemoryTopic t(options);
  const std::string payload = payload_of(static_cast<std::size_t>(state.range(0)));
  Message envelope;
  if (state.range(1) == 0) envelope.timestamp_ns = 1'700'000'000'000'000'000;
  for (auto _ : state) {
    auto c = t.topic->claim(payload.size(), envelope);
    if (!c.ok()) return state.SkipWithError(c.status().to_string().c_str());
    std::memcpy(c->payload().data(), payload.data(), payload.size());
    auto seq = c->commit();
    if (!seq.ok()) return state.SkipWithError(seq.status().to_string().c_str());
    benchmark::DoNotOptimize(*seq);
  }
  Message m = envelope;
  m.payload = payload;
  set_rates(state, inspect::record_size(m));
}
BENCHMARK(BM_ClaimCommit)
    ->ArgNames({"payload", "clock", "single"})
    ->Args({64, 0, 0})
    ->Args({64, 1, 0})
    ->Args({64, 0, 1})
    ->Args({64, 1, 1});

// The same with every envelope field set around a 64 B payload, the clock
// not measured: the publisher's own work for engine_bench's
// BM_ConduitEnvelope_1P1S, without the other core's cache traffic there.
void BM_EnvelopePublish(benchmark::State& state) {
  const std::string payload = payload_of(64);
  Message m = full_envelope(payload);
  m.timestamp_ns = 1'700'000'000'000'000'000;
  publish_loop(state, m);
}
BENCHMARK(BM_EnvelopePublish);

// The same publishes, each one timed (steady_clock around it, so every
// figure includes two clock reads), into a ring of two 8 MiB segments that
// has already come round: every 8 MiB of records the topic rolls into its
// oldest segment again, which must be cleared of the last lap's bytes.
// Counters over all iterations: over_100us (publishes that took longer),
// rolls (segments the timed publishes started), max_us, p99_99_ns.
void BM_PublishWorstCase(benchmark::State& state) {
  constexpr std::size_t kPerIteration = 1u << 20;  // 64 B payloads: 88 MiB of records, 11 rolls
  auto engine = Engine::open().value();
  TopicOptions o;
  o.segment_bytes = 8u << 20;
  o.ring_bytes = 2 * o.segment_bytes;
  Topic* topic = engine->create_topic("bench", o).value();
  const std::string payload = payload_of(64);
  Message m;
  m.payload = payload;
  m.timestamp_ns = 1'700'000'000'000'000'000;
  for (std::size_t i = 0; i < kPerIteration / 2; ++i) (void)topic->publish(m);  // round the ring once, untimed
  std::vector<std::uint32_t> ns(kPerIteration);
  std::uint64_t over = 0, first = topic->published();
  double p9999 = 0, max_us = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kPerIteration; ++i) {
      const auto start = std::chrono::steady_clock::now();
      auto seq = topic->publish(m);
      const auto took = std::chrono::steady_clock::now() - start;
      if (!seq.ok()) {
        state.SkipWithError(seq.status().to_string().c_str());
        return;
      }
      ns[i] = static_cast<std::uint32_t>(
          std::min<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count(), UINT32_MAX));
    }
    over +=
        static_cast<std::uint64_t>(std::count_if(ns.begin(), ns.end(), [](std::uint32_t n) { return n > 100'000; }));
    std::sort(ns.begin(), ns.end());
    p9999 = std::max(p9999, static_cast<double>(ns[ns.size() - ns.size() / 10000 - 1]));
    max_us = std::max(max_us, ns.back() / 1e3);
  }
  const std::uint64_t records_per_segment =
      (o.segment_bytes - inspect::kSegmentHeaderBytes) / inspect::padded_size(inspect::record_size(m));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPerIteration));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPerIteration * inspect::record_size(m)));
  state.counters["over_100us"] = static_cast<double>(over);
  state.counters["rolls"] = static_cast<double>((topic->published() - first) / records_per_segment);
  state.counters["p99_99_ns"] = p9999;
  state.counters["max_us"] = max_us;
  engine->close();
}
BENCHMARK(BM_PublishWorstCase)->Iterations(3)->Unit(benchmark::kMillisecond);

// publish_batch of 64 messages of 64 B into a memory-only topic (its ring
// reused lap after lap, no subscriber), against its floor in the same run:
// BM_CopyBatch stores the same 64 payloads at the same 88-byte stride into
// a 64 MiB buffer (the ring's size) taken round the same way: the bytes a
// batch must write, and nothing else. Items are messages. Run the two in
// turns: --benchmark_filter='Batch' --benchmark_repetitions=5
// --benchmark_enable_random_interleaving=true.
constexpr std::size_t kPublishBatch = 64;

void BM_PublishBatch(benchmark::State& state) {
  MemoryTopic t;
  const std::string payload = payload_of(64);
  std::vector<Message> ms(kPublishBatch);
  for (Message& m : ms) m.payload = payload;
  for (auto _ : state) {
    const PublishBatchResult r = t.topic->publish_batch(ms);
    if (!r.ok()) return state.SkipWithError(r.status.to_string().c_str());
  }
  set_rates(state, kPublishBatch * payload.size());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPublishBatch));
}
BENCHMARK(BM_PublishBatch);

void BM_CopyBatch(benchmark::State& state) {
  constexpr std::size_t kRing = std::size_t{64} << 20, kStride = 88;
  std::vector<std::byte> ring(kRing);
  const std::string payload = payload_of(64);
  std::size_t off = 0;
  for (auto _ : state) {
    if (off + kPublishBatch * kStride > kRing) off = 0;
    for (std::size_t i = 0; i < kPublishBatch; ++i, off += kStride)
      std::memcpy(&ring[off], payload.data(), payload.size());
    benchmark::ClobberMemory();
  }
  set_rates(state, kPublishBatch * payload.size());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPublishBatch));
}
BENCHMARK(BM_CopyBatch);

// The first lap of a fresh memory-only topic: every page of the log and of
// its index is touched for the first time, as in the latency bench's
// ping-pong. Each publish is timed (two clock reads, as above); counters:
// over_1us (publishes that took longer: page faults, and preemptions on a
// busy machine), p99_9_ns and max_us. 64 B payloads, 1 Mi publishes per
// iteration into a new engine (88 MiB: one lap of the 64 MiB ring and more).
void BM_PublishFreshRing(benchmark::State& state) {
  constexpr std::size_t kPerIteration = 1u << 20;
  const std::string payload = payload_of(64);
  Message m;
  m.payload = payload;
  m.timestamp_ns = 1'700'000'000'000'000'000;
  std::vector<std::uint32_t> ns(kPerIteration);
  std::uint64_t over = 0;
  double p999 = 0, max_us = 0;
  for (auto _ : state) {
    MemoryTopic t;
    for (std::size_t i = 0; i < kPerIteration; ++i) {
      const auto start = std::chrono::steady_clock::now();
      auto seq = t.topic->publish(m);
      const auto took = std::chrono::steady_clock::now() - start;
      if (!seq.ok()) return state.SkipWithError(seq.status().to_string().c_str());
      ns[i] = static_cast<std::uint32_t>(
          std::min<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count(), UINT32_MAX));
    }
    over += static_cast<std::uint64_t>(std::count_if(ns.begin(), ns.end(), [](std::uint32_t n) { return n > 1'000; }));
    std::sort(ns.begin(), ns.end());
    p999 = std::max(p999, static_cast<double>(ns[ns.size() - ns.size() / 1000 - 1]));
    max_us = std::max(max_us, ns.back() / 1e3);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPerIteration));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kPerIteration * inspect::record_size(m)));
  state.counters["over_1us"] = static_cast<double>(over);
  state.counters["p99_9_ns"] = p999;
  state.counters["max_us"] = max_us;
}
BENCHMARK(BM_PublishFreshRing)->Iterations(3)->Unit(benchmark::kMillisecond);

// A subscriber's try_poll of a batch of 64 (or 256) records already in the
// ring, each record's payload touched. Items are records; when the
// subscriber reaches the end, a new one starts from the earliest (not timed).
void BM_CursorPollBatch(benchmark::State& state) {
  const auto kBatch = static_cast<std::size_t>(state.range(0));
  constexpr std::uint64_t kRecords = 1u << 17;  // 64 B payloads: about 14 MiB of the 64 MiB ring
  MemoryTopic t;
  const std::string payload = payload_of(64);
  for (std::uint64_t i = 0; i < kRecords; ++i)
    if (!t.topic->publish(payload).ok()) {
      state.SkipWithError("publish failed");
      return;
    }
  SubscriberOptions o;
  o.start = StartAt::earliest();
  auto sub = t.topic->subscribe(o).value();
  std::vector<RecordView> out(kBatch);
  std::uint64_t records = 0, bytes = 0;
  for (auto _ : state) {
    PollResult r = sub->try_poll(out);
    if (r.count == 0) {
      state.PauseTiming();
      sub.reset();
      sub = t.topic->subscribe(o).value();
      state.ResumeTiming();
      continue;
    }
    for (std::size_t i = 0; i < r.count; ++i) {
      bytes += out[i].size_bytes();
      benchmark::DoNotOptimize(out[i].payload().data());
    }
    records += r.count;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_CursorPollBatch)->Arg(64)->Arg(256);

}  // namespace
