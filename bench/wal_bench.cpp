// Write-ahead log: conduit's persisted topics against raw disk baselines
// measured in the same run, on the same disk (the same directory).
//
//   BM_SyncPublish/publishers:N N threads each do blocking publish of 64 B
//       to a kSync topic; a latency sample is one blocking call (publish to
//       durable). The raw baseline is one thread doing pwrite(64 B) +
//       fdatasync into a preallocated file. Raw, 1 publisher and N
//       publishers take turns, 4 slices of 0.5 s each, so that all three
//       see the same disk. group_commit_vs_1 = N-publisher throughput ÷
//       1-publisher throughput (goal >= 8 at 16); p99_vs_raw = p99 ÷ raw
//       p99 (goal <= 3). reopened:1 runs the same on a topic that was
//       closed (after 1000 records) and opened again: its tail segment is
//       the one recovery hands back, not a new one.
//   BM_RawSyncMapping/bytes:N   no conduit: the raw sync loop writing N
//       bytes per fdatasync with pwrite (pwrite_), the same loop storing
//       them into a shared mapping of its file (mapped_, as conduit's
//       producers write), and that with MADV_RANDOM on the mapping (random_,
//       as conduit maps a segment it appends to), taking turns in the same
//       slices. 88 = one 64 B record, 1408 = the sixteen of a 16-publisher
//       round (112 and 1792 before the short record form). *_kib_per_sync:
//       KiB the loop dirtied per sync (/proc/thread-self/io write_bytes,
//       which counts whole folios);
//       *_p99_vs_pwrite: that way's p99 ÷ the pwrite loop's.
//   BM_SyncAck/per_call:N       a work group on a kSync topic, one consumer
//       taking 64 deliveries at a time and acking them one by one (N = 1:
//       a journal sync wait each) or in one Consumer::ack(span) (N = 64).
//   BM_AsyncPublish/payload:N/batch:B   one thread publishes N-byte payloads
//       into a kAsync topic (64 MiB segments), one publish() each (B = 1) or
//       B per publish_batch(), and ends with await_durable(last);
//       the raw side writes the same payload bytes with sequential io_uring
//       WRITEs of 1 MiB batches (kRawDepth in flight) into a preallocated
//       file and ends with one fdatasync. Both sides end with one sync.
//       The goal (conduit at 0.8 of raw writes of the same bytes) counts
//       payload bytes: the raw side writes exactly records x payload
//       bytes, no framing.
//       Raw and conduit take turns CONDUIT_BENCH_ASYNC_PAIRS times (default
//       3); rates are medians, ratio_vs_raw the median of the pairs' ratios
//       (ratio_min, ratio_max beside it).
//       ratio_vs_raw = conduit payload bytes/s ÷ raw bytes/s (goal >= 0.8).
//       log_ratio_vs_raw counts conduit's on-disk record bytes instead
//       (a bare 64 B payload is a short-form record, 24-byte header: 88 log
//       bytes; 112 with the full 48-byte header): the machinery alone.
//       publisher_faults_per_MiB: page faults of the publishing thread
//       itself per MiB of log.
//   BM_AsyncMappedCeiling/payload:N   no conduit: BM_AsyncPublish's raw loop
//       against the same payloads stored through a shared mapping of a
//       preallocated file (then one fdatasync): packed (mapped_packed_),
//       packed with pages mapped ahead by a second thread (mapped_packed_
//       ahead_), and that at the stride of conduit's short records
//       (mapped_framed_ahead_); payload bytes/s ratios to the raw loop,
//       medians of CONDUIT_BENCH_ASYNC_PAIRS turns: the ceiling a log
//       written through a mapping has on this machine.
//   BM_CatchUp                  publishes ~10M 64 B records into a kAsync
//       topic, then a subscriber from earliest reads them all from the
//       mapped segments; GB/s of record bytes, against a raw scan of the
//       same bytes through a read-only mmap of the same files (populated
//       before its clock starts); RSS before, midway and after
//       (/proc/self/statm).
//   BM_CatchUpReopened          the same log closed cleanly and reopened,
//       read from the start: with each record checked before it is handed
//       out (opened from the clean-close record) against the same read
//       with the check done at open instead (verify_on_open), alternating;
//       check_cost = checked / prechecked reading time (median of pairs,
//       with the pairs' min and max);
//       then a LogReader's catch-up over the same files (it checks every
//       record), once, with no engine open.
//
// Every benchmark runs once (Iterations(1)) for a bounded time; the whole
// program took 47 s on a 2-core VM on 2026-12-06 (three times that with 3
// repetitions), about 7 s more since BM_AsyncMappedCeiling and 15 to 25 s
// more since BM_CatchUpReopened. The time
// column is conduit's (BM_AsyncMappedCeiling's: the raw loop's). Sync runs first, before the async runs have
// pushed gigabytes through the disk, and each timed loop, raw or conduit,
// runs on a thread of its own, so that none inherits another's dirty-page
// throttling (balance_dirty_pages keeps per-thread state). On a shared VM
// disk the fdatasync latency still drifts (0.25 ms to 4 ms p50 from one
// minute to the next): compare figures within one row, and run with
// --benchmark_repetitions=3 for medians.
//
// Data lives under $CONDUIT_BENCH_DIR (default ./conduit-bench-data), each
// run in its own directory, removed when it ends; the filesystem type is in
// the context block and in each label. CONDUIT_BENCH_ASYNC_MIB (payload MiB
// per async side, default 256) and CONDUIT_BENCH_CATCHUP_RECORDS (default
// 10000000) set the sizes (CONDUIT_BENCH_CATCHUP_PAIRS, default 3, the
// reopened catch-up's pairs); the catch-up scales itself down when the disk
// has less than 3x its log. CONDUIT_BENCH_FLUSH_MS / CONDUIT_BENCH_FLUSH_BYTES
// override the engine's flush_interval / flush_bytes (diagnostics: huge
// values leave an async run with its final sync only).
//
// Threads: a publisher plus conduit's persistence thread (and io_uring's
// worker), except the sync benchmark's 4 and 16 publishers, which spend
// their time asleep waiting for fdatasync.
#include <benchmark/benchmark.h>
#include <conduit/conduit.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "disk_baselines.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace conduit;
using namespace conduit::bench;
namespace fs = std::filesystem;

constexpr std::size_t kSegmentBytes = 64u << 20;
constexpr int kSyncSlices = 4;  // sync: turns each side takes
constexpr auto kSyncSlice = std::chrono::milliseconds(500);
constexpr auto kDurableTimeout = std::chrono::minutes(2);

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  return end != v && n > 0 ? n : fallback;
}

// ------------------------------------------------------- data directory ---

// The directory every benchmark works under; created on first use and
// removed at exit if this program created it.
class BenchRoot {
 public:
  static BenchRoot& get() {
    static BenchRoot root;
    return root;
  }
  const fs::path& path() const { return path_; }
  const std::string& fs_name() const { return fs_name_; }
  ~BenchRoot() {
    std::error_code ec;
    if (created_) fs::remove_all(path_, ec);
  }

 private:
  BenchRoot() {
    const char* env = std::getenv("CONDUIT_BENCH_DIR");
    path_ = fs::absolute(env != nullptr && *env != '\0' ? fs::path(env) : fs::path("conduit-bench-data"));
    std::error_code ec;
    created_ = fs::create_directories(path_, ec);
    struct statfs sf {};
    char hex[32];
    if (::statfs(path_.c_str(), &sf) == 0) {
      std::snprintf(hex, sizeof hex, " (f_type 0x%lx)", static_cast<unsigned long>(sf.f_type));
      fs_name_ = std::string(fs_type_name(sf.f_type)) + hex;
    } else {
      fs_name_ = "unknown (statfs: " + errno_text() + ")";
    }
  }
  fs::path path_;
  std::string fs_name_;
  bool created_ = false;
};

// One benchmark's directory: empty at start, removed at the end.
class Scratch {
 public:
  explicit Scratch(const std::string& name) : path_(BenchRoot::get().path() / name) {
    std::error_code ec;
    fs::remove_all(path_, ec);
    fs::create_directories(path_);
    settle();
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  // Lets earlier benchmarks' writeback finish before the next measurement.
  void settle() const {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::syncfs(fd);
      ::close(fd);
    }
  }

 private:
  fs::path path_;
};

// Context printed once above the table.
const bool kContextAdded = [] {
  utsname u{};
  ::uname(&u);
  benchmark::AddCustomContext("wal_data_dir", BenchRoot::get().path().string());
  benchmark::AddCustomContext("wal_filesystem", BenchRoot::get().fs_name());
  benchmark::AddCustomContext("kernel", u.release);
  benchmark::AddCustomContext("nproc", std::to_string(std::thread::hardware_concurrency()));
  return true;
}();

struct Opened {
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  std::string error;
};

Opened open_topic(const Scratch& dir, Durability durability, bool single_producer = false,
                  bool verify_on_open = false) {
  Opened o;
  EngineOptions eo;
  eo.data_dir = (dir.path() / "engine").string();
  eo.verify_on_open = verify_on_open;
  // Diagnostics only: how much of the async cost is the sync rounds that
  // run while the producer writes (see the header comment).
  eo.flush_interval = std::chrono::milliseconds(env_u64("CONDUIT_BENCH_FLUSH_MS", eo.flush_interval.count()));
  eo.flush_bytes = env_u64("CONDUIT_BENCH_FLUSH_BYTES", eo.flush_bytes);
  auto engine = Engine::open(eo);
  if (!engine.ok()) {
    o.error = engine.status().to_string();
    return o;
  }
  o.engine = std::move(engine).value();
  TopicOptions to;
  to.durability = durability;
  to.segment_bytes = kSegmentBytes;
  to.single_producer = single_producer;
  auto topic = o.engine->create_topic("wal", to);
  if (!topic.ok()) {
    o.error = topic.status().to_string();
    return o;
  }
  o.topic = *topic;
  return o;
}

void label(benchmark::State& state, const Opened& o) {
  state.SetLabel(BenchRoot::get().fs_name() + ", " + o.engine->disk_io_description());
}

// ------------------------------------------------------------ sync publish ---

// Latency samples (microseconds) and the time they were taken over.
struct Samples {
  std::vector<double> us;
  double seconds = 0;
  std::string error;
};

struct LatencyRun {
  double ops_per_s = 0, p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};

// Nearest-rank percentile of a sorted vector.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

LatencyRun summarize(Samples s) {
  std::sort(s.us.begin(), s.us.end());
  LatencyRun r;
  r.ops_per_s = s.seconds > 0 ? static_cast<double>(s.us.size()) / s.seconds : 0;
  r.p50_us = percentile(s.us, 0.50);
  r.p90_us = percentile(s.us, 0.90);
  r.p99_us = percentile(s.us, 0.99);
  r.max_us = s.us.empty() ? 0 : s.us.back();
  return r;
}

// ops_per_s, p50_us, p90_us and p99_us of `r`, each name after `prefix`.
void latency_counters(benchmark::State& state, const std::string& prefix, const LatencyRun& r) {
  state.counters[prefix + "ops_per_s"] = r.ops_per_s;
  state.counters[prefix + "p50_us"] = r.p50_us;
  state.counters[prefix + "p90_us"] = r.p90_us;
  state.counters[prefix + "p99_us"] = r.p99_us;
}

// A RawSyncLog::run_for callback that keeps each latency in `s`, in µs.
auto keep_latency(Samples& s) {
  return [&s](Clock::duration lat) { s.us.push_back(std::chrono::duration<double, std::micro>(lat).count()); };
}

double micros_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// `publishers` threads doing blocking publish of 64 B into a kSync topic
// for `d`; each call's time is one latency sample.
void conduit_sync_run_for(Topic* topic, int publishers, Clock::duration d, Samples& into) {
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(publishers));
  std::vector<std::string> errors(static_cast<std::size_t>(publishers));
  std::atomic<bool> go{false}, stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < publishers; ++t) {
    threads.emplace_back([&, t] {
      auto& mine = lat[static_cast<std::size_t>(t)];
      mine.reserve(1u << 14);
      PayloadBuffer src(64);
      // Acquire pairs with the release store of `go`: start together.
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      // Relaxed: `stop` only ends the loop; join() orders the results.
      for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const auto s = Clock::now();
        auto r = topic->publish(src.stamp(i));
        if (!r.ok()) {
          errors[static_cast<std::size_t>(t)] = r.status().to_string();
          break;
        }
        mine.push_back(micros_since(s));
      }
    });
  }
  const auto t0 = Clock::now();
  go.store(true, std::memory_order_release);  // pairs with the threads' acquire
  std::this_thread::sleep_for(d);
  stop.store(true, std::memory_order_relaxed);  // relaxed: see the loop
  for (auto& th : threads) th.join();
  into.seconds += seconds_since(t0);
  for (auto& e : errors)
    if (!e.empty()) into.error = e;
  for (auto& v : lat) into.us.insert(into.us.end(), v.begin(), v.end());
}

// The disk's fsync latency drifts with whatever else the host does, so the
// raw loop, 1 publisher and N publishers take turns in kSyncSlices slices
// and each figure is the sum of its slices.
void BM_SyncPublish(benchmark::State& state) {
  const int publishers = static_cast<int>(state.range(0));
  const bool reopened = state.range(1) != 0;
  for (auto _ : state) {
    Scratch dir("sync");
    RawSyncLog raw_log(dir.path() / "raw.log", 64, kSegmentBytes);
    if (!raw_log.error().empty()) return state.SkipWithError(raw_log.error().c_str());
    Opened o = open_topic(dir, Durability::kSync);
    if (o.topic == nullptr) return state.SkipWithError(o.error.c_str());
    if (reopened) {
      // A log that was closed and opened again: the slices append to the
      // tail segment recovery hands back.
      PayloadBuffer payload(64);
      Message m;
      for (int i = 0; i < 1000; ++i) {
        m.payload = payload.stamp(static_cast<std::uint64_t>(i));
        if (auto p = o.topic->publish_nowait(m); !p.ok()) return state.SkipWithError(p.status().to_string().c_str());
      }
      o = Opened{};
      o = open_topic(dir, Durability::kSync);
      if (o.topic == nullptr) return state.SkipWithError(o.error.c_str());
    }
    label(state, o);
    Samples raw, one, many;
    for (int slice = 0; slice < kSyncSlices; ++slice) {
      raw.seconds += raw_log.run_for(kSyncSlice, keep_latency(raw));
      if (!raw_log.error().empty()) raw.error = raw_log.error();
      conduit_sync_run_for(o.topic, 1, kSyncSlice, one);
      if (publishers != 1) conduit_sync_run_for(o.topic, publishers, kSyncSlice, many);
    }
    for (const Samples* s : {&raw, &one, &many})
      if (!s->error.empty()) return state.SkipWithError(s->error.c_str());
    const LatencyRun r = summarize(std::move(raw));
    const LatencyRun c1 = summarize(std::move(one));
    const LatencyRun cn = publishers == 1 ? c1 : summarize(std::move(many));
    state.SetIterationTime(kSyncSlices * std::chrono::duration<double>(kSyncSlice).count());
    latency_counters(state, "", cn);
    state.counters["max_us"] = cn.max_us;
    latency_counters(state, "raw_", r);
    state.counters["p99_vs_raw"] = r.p99_us > 0 ? cn.p99_us / r.p99_us : 0;
    state.counters["one_ops_per_s"] = c1.ops_per_s;
    state.counters["group_commit_vs_1"] = c1.ops_per_s > 0 ? cn.ops_per_s / c1.ops_per_s : 0;
  }
}
BENCHMARK(BM_SyncPublish)
    ->ArgNames({"publishers", "reopened"})
    ->Args({1, 0})
    ->Args({4, 0})
    ->Args({16, 0})
    ->Args({16, 1})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// -------------------------------------------------- raw sync, three ways ---
// No conduit: the raw sync loop with `bytes` per fdatasync, writing them
// with pwrite, storing them into a shared mapping of the file, and the same
// with MADV_RANDOM on the mapping, taking turns in kSyncSlices slices. 88
// bytes is one 64 B record; 1408 is sixteen, what a round of 16 sync
// publishers writes. The ratios say what writing through the mapping (as
// conduit's producers do) costs the sync.
void BM_RawSyncMapping(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    Scratch dir("rawmap");
    struct Way {
      const char* name;
      RawSyncLog log;
      Samples samples;
    };
    Way ways[] = {{"pwrite_", {dir.path() / "pwrite.log", bytes, kSegmentBytes, RawWrite::kPwrite}, {}},
                  {"mapped_", {dir.path() / "mapped.log", bytes, kSegmentBytes, RawWrite::kMapped}, {}},
                  {"random_", {dir.path() / "random.log", bytes, kSegmentBytes, RawWrite::kMappedRandom}, {}}};
    for (const Way& w : ways)
      if (!w.log.error().empty()) return state.SkipWithError(w.log.error().c_str());
    for (int slice = 0; slice < kSyncSlices; ++slice)
      for (Way& w : ways) w.samples.seconds += w.log.run_for(kSyncSlice, keep_latency(w.samples));
    double p99[3] = {};
    for (int i = 0; i < 3; ++i) {
      Way& w = ways[i];
      if (!w.log.error().empty()) return state.SkipWithError(w.log.error().c_str());
      const std::size_t syncs = w.samples.us.size();
      const LatencyRun r = summarize(std::move(w.samples));
      latency_counters(state, w.name, r);
      p99[i] = r.p99_us;
      state.counters[std::string(w.name) + "kib_per_sync"] =
          syncs > 0 ? static_cast<double>(w.log.dirtied_bytes()) / 1024.0 / static_cast<double>(syncs) : 0;
    }
    state.SetIterationTime(3 * kSyncSlices * std::chrono::duration<double>(kSyncSlice).count());
    state.counters["mapped_p99_vs_pwrite"] = p99[0] > 0 ? p99[1] / p99[0] : 0;
    state.counters["random_p99_vs_pwrite"] = p99[0] > 0 ? p99[2] / p99[0] : 0;
  }
}
BENCHMARK(BM_RawSyncMapping)
    ->ArgName("bytes")
    ->Arg(88)
    ->Arg(1408)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// ------------------------------------------------------------- sync acks ---
// A work group on a kSync topic: one consumer takes 64 deliveries at a time
// and acks them one by one (per_call 1: each ack waits for its journal entry
// to be durable) or with one Consumer::ack(span) (per_call 64: one wait).
// Acks per second over kSyncSlice, after the records were published.
void BM_SyncAck(benchmark::State& state) {
  const auto per_call = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t kTake = 64;
  for (auto _ : state) {
    Scratch dir("sync-ack");
    Opened o = open_topic(dir, Durability::kSync);
    if (o.topic == nullptr) return state.SkipWithError(o.error.c_str());
    label(state, o);
    // Acks/s over the slice, or until these run out, whichever comes first.
    std::vector<std::string> payloads(200000, std::string(64, 'a'));
    std::vector<Message> batch(payloads.size());
    for (std::size_t i = 0; i < payloads.size(); ++i) batch[i].payload = payloads[i];
    if (const PublishBatchResult r = o.topic->publish_batch(batch); !r.ok())
      return state.SkipWithError(r.status.to_string().c_str());
    auto group = o.topic->work_group("g");
    if (!group.ok()) return state.SkipWithError(group.status().to_string().c_str());
    auto consumer = (*group)->consumer();
    if (!consumer.ok()) return state.SkipWithError(consumer.status().to_string().c_str());
    std::array<Delivery, kTake> out;
    std::uint64_t acked = 0;
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < kSyncSlice) {
      const PollResult r = (*consumer)->try_poll(out);
      if (r.count == 0) break;  // all acked
      if (per_call == 1) {
        for (std::size_t k = 0; k < r.count; ++k) acked += (*consumer)->ack(out[k]) ? 1 : 0;
      } else {
        acked += (*consumer)->ack(std::span<const Delivery>(out.data(), r.count));
      }
    }
    const double secs = seconds_since(t0);
    state.SetIterationTime(secs);
    state.counters["acks_per_s"] = static_cast<double>(acked) / secs;
  }
}
BENCHMARK(BM_SyncAck)
    ->ArgName("per_call")
    ->Arg(1)
    ->Arg(64)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// ----------------------------------------------------------- async publish ---

struct ConduitAsyncResult {
  double seconds = 0;
  double final_sync_seconds = 0;
  std::uint64_t faults = 0;
  std::uint64_t publisher_faults = 0;  // the publishing thread's own
  std::string error;
};

// Publishes `records` payloads of `payload` bytes, then waits until the last
// one is durable. Timed from the first publish to that.
// `batch` > 1: publish_batch calls of that many messages (a shorter last one).
ConduitAsyncResult conduit_async_publish(Topic* topic, std::size_t payload, std::uint64_t records,
                                         std::size_t batch = 1) {
  ConduitAsyncResult r;
  std::vector<PayloadBuffer> src(batch, PayloadBuffer(payload));
  std::vector<Message> messages(batch);
  std::vector<std::uint64_t> seqs(batch);
  std::uint64_t last = 0;
  const std::uint64_t faults0 = minor_faults(), own0 = thread_minor_faults();
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < records;) {
    if (batch == 1) {
      auto p = topic->publish(src[0].stamp(i));
      if (!p.ok()) {
        r.error = p.status().to_string();
        return r;
      }
      last = *p;
      ++i;
      continue;
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(batch, records - i));
    for (std::size_t k = 0; k < n; ++k) messages[k].payload = src[k].stamp(i + k);
    const PublishBatchResult p = topic->publish_batch(std::span(messages).first(n), seqs);
    if (!p.ok()) {
      r.error = p.status.to_string();
      return r;
    }
    last = seqs[n - 1];
    i += n;
  }
  const auto sync0 = Clock::now();
  if (Status s = topic->await_durable(last, kDurableTimeout); !s.ok()) r.error = s.to_string();
  r.seconds = seconds_since(t0);
  r.final_sync_seconds = seconds_since(sync0);
  r.faults = minor_faults() - faults0;
  r.publisher_faults = thread_minor_faults() - own0;
  return r;
}

// Nearest-rank median (the middle one of the default 3 pairs).
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return percentile(v, 0.50);
}

void BM_AsyncPublish(benchmark::State& state) {
  const auto payload = static_cast<std::size_t>(state.range(0));
  const auto batch = static_cast<std::size_t>(state.range(1));
  const bool single_producer = state.range(2) != 0;
  const std::uint64_t total = env_u64("CONDUIT_BENCH_ASYNC_MIB", 256) << 20;
  const std::uint64_t pairs = env_u64("CONDUIT_BENCH_ASYNC_PAIRS", 3);
  const std::uint64_t records = total / payload;
  const double bytes = static_cast<double>(records * payload);
  for (auto _ : state) {
    // Raw and conduit take turns, `pairs` times, each in a directory of its
    // own removed before the next starts: the shared disk's speed drifts
    // from one second to the next, and each pair sees about the same disk.
    std::vector<double> raw_s, conduit_s, ratios;
    RawAsyncResult raw;
    ConduitAsyncResult c;
    double log_bytes = 0;
    for (std::uint64_t pair = 0; pair < pairs; ++pair) {
      {
        Scratch dir("async-raw");
        raw = on_fresh_thread([&] { return raw_async_write(dir.path() / "raw.log", payload, records); });
      }
      if (!raw.error.empty()) return state.SkipWithError(raw.error.c_str());

      Scratch dir("async-conduit");
      Opened o = open_topic(dir, Durability::kAsync, single_producer);
      if (o.topic == nullptr) return state.SkipWithError(o.error.c_str());
      label(state, o);
      c = on_fresh_thread([&] { return conduit_async_publish(o.topic, payload, records, batch); });
      if (!c.error.empty()) return state.SkipWithError(c.error.c_str());
      raw_s.push_back(raw.seconds);
      conduit_s.push_back(c.seconds);
      ratios.push_back(raw.seconds / c.seconds);

      // Bytes one record takes in the log, read back from the log itself.
      SubscriberOptions from_start;
      from_start.start = StartAt::earliest();
      auto sub = o.topic->subscribe(from_start);
      std::array<RecordView, 1> first;
      if (!sub.ok() || (*sub)->try_poll(first).count != 1) return state.SkipWithError("could not read the log back");
      log_bytes = static_cast<double>(records) * ((first[0].size_bytes() + 7) / 8 * 8);
    }
    // Medians over the pairs; the ratio is the median of each pair's ratio.
    const double seconds = median(conduit_s), raw_seconds = median(raw_s);
    state.SetIterationTime(seconds);
    state.counters["pairs"] = static_cast<double>(pairs);
    state.counters["records_per_s"] = static_cast<double>(records) / seconds;
    state.counters["bytes_per_s"] = bytes / seconds;
    state.counters["log_bytes_per_s"] = log_bytes / seconds;
    state.counters["raw_records_per_s"] = static_cast<double>(records) / raw_seconds;
    state.counters["raw_bytes_per_s"] = bytes / raw_seconds;
    state.counters["ratio_vs_raw"] = median(ratios);
    state.counters["ratio_min"] = *std::min_element(ratios.begin(), ratios.end());
    state.counters["ratio_max"] = *std::max_element(ratios.begin(), ratios.end());
    state.counters["log_ratio_vs_raw"] = median(ratios) * log_bytes / bytes;
    // Where the time goes (the last pair): the final sync's share, and page
    // faults per MiB of log (one fault per 4 KiB page is 256 per MiB), all
    // threads and the publisher alone (the persistence thread populating
    // pages ahead of it takes faults too).
    state.counters["final_sync_ms"] = c.final_sync_seconds * 1e3;
    state.counters["raw_final_sync_ms"] = raw.final_sync_seconds * 1e3;
    state.counters["faults_per_MiB"] = static_cast<double>(c.faults) / (log_bytes / (1 << 20));
    state.counters["publisher_faults_per_MiB"] = static_cast<double>(c.publisher_faults) / (log_bytes / (1 << 20));
    state.counters["raw_faults_per_MiB"] = static_cast<double>(raw.faults) / (bytes / (1 << 20));
  }
}
BENCHMARK(BM_AsyncPublish)
    ->ArgNames({"payload", "batch", "single_producer"})
    ->Args({64, 1, 0})
    ->Args({1024, 1, 0})
    ->Args({16384, 1, 0})
    ->Args({64, 64, 0})
    ->Args({1024, 64, 0})
    ->Args({64, 1, 1})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// ------------------------------------------------- the mapping's ceiling ---
// No conduit: the raw io_uring loop of BM_AsyncPublish against the same
// payloads stored through a shared mapping (raw_async_mapped): packed
// (payload bytes only), packed with a second thread mapping the pages ahead
// of the stores (as conduit's persistence thread does), and that at the
// stride of conduit's records (a bare payload's short record: a 24-byte
// header and 8-byte alignment); all taking turns CONDUIT_BENCH_ASYNC_PAIRS
// times. Each ratio is payload bytes/s over
// the raw loop's, the median of the turns': what a log written through a
// mapping can reach on this machine, whatever its code.
void BM_AsyncMappedCeiling(benchmark::State& state) {
  const auto payload = static_cast<std::size_t>(state.range(0));
  const std::size_t stride = inspect::padded_size(inspect::kShortRecordHeaderBytes + payload);
  const std::uint64_t total = env_u64("CONDUIT_BENCH_ASYNC_MIB", 256) << 20;
  const std::uint64_t pairs = env_u64("CONDUIT_BENCH_ASYNC_PAIRS", 3);
  const std::uint64_t records = total / payload;
  for (auto _ : state) {
    std::vector<double> packed, packed_ahead, framed_ahead, raw_s;
    for (std::uint64_t pair = 0; pair < pairs; ++pair) {
      RawAsyncResult raw, p, pa, fa;
      {
        Scratch dir("ceiling-raw");
        raw = on_fresh_thread([&] { return raw_async_write(dir.path() / "raw.log", payload, records); });
      }
      {
        Scratch dir("ceiling-packed");
        p = on_fresh_thread([&] { return raw_async_mapped(dir.path() / "packed.log", payload, records, payload); });
      }
      {
        Scratch dir("ceiling-packed-ahead");
        pa = on_fresh_thread(
            [&] { return raw_async_mapped(dir.path() / "packed.log", payload, records, payload, true); });
      }
      {
        Scratch dir("ceiling-framed-ahead");
        fa = on_fresh_thread(
            [&] { return raw_async_mapped(dir.path() / "framed.log", payload, records, stride, true); });
      }
      for (const RawAsyncResult* x : {&raw, &p, &pa, &fa})
        if (!x->error.empty()) return state.SkipWithError(x->error.c_str());
      raw_s.push_back(raw.seconds);
      packed.push_back(raw.seconds / p.seconds);
      packed_ahead.push_back(raw.seconds / pa.seconds);
      framed_ahead.push_back(raw.seconds / fa.seconds);
    }
    state.SetIterationTime(median(raw_s));
    state.counters["pairs"] = static_cast<double>(pairs);
    state.counters["raw_bytes_per_s"] = static_cast<double>(records * payload) / median(raw_s);
    state.counters["mapped_packed_vs_raw"] = median(packed);
    state.counters["mapped_packed_ahead_vs_raw"] = median(packed_ahead);
    state.counters["mapped_framed_ahead_vs_raw"] = median(framed_ahead);
    state.counters["framed_stride"] = static_cast<double>(stride);
  }
}
BENCHMARK(BM_AsyncMappedCeiling)
    ->ArgName("payload")
    ->Arg(64)
    ->Arg(1024)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------- catch-up ---

struct Rss {
  double resident_mib = 0;  // all resident pages
  double file_mib = 0;      // resident file-backed (the mapped segments) and shared pages
};

Rss rss_now() {
  std::ifstream in("/proc/self/statm");
  std::uint64_t size = 0, resident = 0, shared = 0;
  in >> size >> resident >> shared;
  const double page_mib = static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1 << 20);
  return {static_cast<double>(resident) * page_mib, static_cast<double>(shared) * page_mib};
}

void rss_counters(benchmark::State& state, const char* when, Rss r) {
  state.counters[std::string("rss_MiB_") + when] = r.resident_mib;
  state.counters[std::string("rss_anon_MiB_") + when] = r.resident_mib - r.file_mib;
}

// Reads `bytes` of the topic's segment files, in order, past each 64-byte
// segment header, as 8-byte words through read-only mappings populated
// before the clock starts: the memory bandwidth a reader of mapped log
// bytes can have, with no records to walk. 0 on failure.
double raw_mmap_read(const fs::path& topic_dir, std::uint64_t bytes, std::uint64_t* checksum) {
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(topic_dir))
    if (e.path().extension() == ".seg") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  struct Mapped {
    const void* base;
    std::size_t size;
  };
  std::vector<Mapped> maps;
  double secs = 0;
  std::uint64_t sum = 0, left = bytes;
  for (auto& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) break;
    const auto size = static_cast<std::size_t>(st.st_size);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) break;
    maps.push_back({p, size});
  }
  if (maps.size() == files.size()) {
    const auto t0 = Clock::now();
    for (const Mapped& m : maps) {
      if (left == 0) break;
      const std::uint64_t n = std::min<std::uint64_t>(left, m.size - 64) / 8 * 8;
      const auto* w = reinterpret_cast<const std::uint64_t*>(static_cast<const char*>(m.base) + 64);
      for (std::uint64_t i = 0; i < n / 8; ++i) sum += w[i];
      left -= std::min(left, n);
    }
    secs = seconds_since(t0);
  }
  for (const Mapped& m : maps) ::munmap(const_cast<void*>(m.base), m.size);
  *checksum = sum;
  return secs;
}

constexpr std::size_t kCatchUpPayload = 64;
constexpr std::size_t kCatchUpLogRecord = inspect::padded_size(inspect::kShortRecordHeaderBytes + kCatchUpPayload);

// CONDUIT_BENCH_CATCHUP_RECORDS, scaled down when the disk under `dir`
// cannot hold three times their log.
std::uint64_t catchup_records(const Scratch& dir) {
  std::uint64_t records = env_u64("CONDUIT_BENCH_CATCHUP_RECORDS", 10'000'000);
  struct statvfs sv {};
  if (::statvfs(dir.path().c_str(), &sv) == 0) {
    const std::uint64_t free_bytes = static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize;
    const std::uint64_t fit = free_bytes / 3 / kCatchUpLogRecord;
    if (fit < records) {
      std::fprintf(stderr, "wal_bench: catch-up scaled down from %llu to %llu records (%llu MiB free)\n",
                   static_cast<unsigned long long>(records), static_cast<unsigned long long>(fit),
                   static_cast<unsigned long long>(free_bytes >> 20));
      records = fit;
    }
  }
  return records;
}

struct CatchUpRead {
  double seconds = 0;
  std::uint64_t record_bytes = 0;
  Rss midway;
  std::string error;
};

// A subscriber from the earliest record reads all `records` (the 64 B
// payloads conduit_async_publish wrote), touching each payload's first and
// last bytes; timed from its first poll to its last.
CatchUpRead read_from_start(Topic* topic, std::uint64_t records) {
  CatchUpRead c;
  SubscriberOptions from_start;
  from_start.start = StartAt::earliest();
  auto sub = topic->subscribe(from_start);
  if (!sub.ok()) {
    c.error = sub.status().to_string();
    return c;
  }
  std::array<RecordView, 1024> out;
  std::uint64_t seen = 0, sum = 0;
  bool in_order = true;
  const auto t0 = Clock::now();
  while (seen < records) {
    const PollResult r = (*sub)->try_poll(out);
    if (!r.status.ok()) {
      c.error = r.status.to_string();
      return c;
    }
    if (r.count == 0 && r.lost == 0) {
      c.error = "the subscriber stopped before the end of the log";
      return c;
    }
    for (std::size_t i = 0; i < r.count; ++i) {
      const std::string_view p = out[i].payload();
      std::uint64_t n;
      std::memcpy(&n, p.data(), sizeof n);
      in_order &= n == seen + i && out[i].sequence() == seen + i;
      sum += static_cast<unsigned char>(p.back());
      c.record_bytes += out[i].size_bytes();
    }
    if (seen < records / 2 && seen + r.count >= records / 2) c.midway = rss_now();
    seen += r.count;
  }
  c.seconds = seconds_since(t0);
  benchmark::DoNotOptimize(sum);
  if (!in_order)
    c.error = "the subscriber read records out of order";
  else if (c.record_bytes != records * kCatchUpLogRecord)
    c.error = "64 B records are not short-form records (88 log bytes)";
  return c;
}

void BM_CatchUp(benchmark::State& state) {
  for (auto _ : state) {
    Scratch dir("catchup");
    const std::uint64_t records = catchup_records(dir);
    state.counters["records"] = static_cast<double>(records);
    const Rss before = rss_now();
    Opened o = open_topic(dir, Durability::kAsync);
    if (o.topic == nullptr) return state.SkipWithError(o.error.c_str());
    label(state, o);

    const ConduitAsyncResult pub =
        on_fresh_thread([&] { return conduit_async_publish(o.topic, kCatchUpPayload, records); });
    if (!pub.error.empty()) return state.SkipWithError(pub.error.c_str());
    state.counters["publish_records_per_s"] = static_cast<double>(records) / pub.seconds;
    const Rss published = rss_now();

    const CatchUpRead c = read_from_start(o.topic, records);
    if (!c.error.empty()) return state.SkipWithError(c.error.c_str());
    const Rss after = rss_now();
    state.SetIterationTime(c.seconds);

    std::uint64_t raw_sum = 0;
    const double raw_secs = raw_mmap_read(dir.path() / "engine" / "topics" / "wal", c.record_bytes, &raw_sum);
    benchmark::DoNotOptimize(raw_sum);
    if (raw_secs <= 0) return state.SkipWithError("raw mmap read of the segment files failed");

    const double gb = static_cast<double>(c.record_bytes) / 1e9;
    state.counters["GB_per_s"] = gb / c.seconds;
    state.counters["records_per_s"] = static_cast<double>(records) / c.seconds;
    state.counters["raw_mmap_GB_per_s"] = gb / raw_secs;
    state.counters["ratio_vs_raw"] = raw_secs / c.seconds;
    rss_counters(state, "0_before", before);
    rss_counters(state, "1_published", published);
    rss_counters(state, "2_midway", c.midway);
    rss_counters(state, "3_after", after);
  }
}
BENCHMARK(BM_CatchUp)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

// The catch-up of a log this process did not write: published, closed
// cleanly, reopened. Opened from its clean-close record, no record is read
// at open and the subscriber checks each one before it hands it out
// (Segment::check_through): "checked". Opened with verify_on_open, the
// open checks every record and the subscriber none: "prechecked", the
// same read with the check off. Each is the read as it happens: the
// checked one sets a segment's index entries as it checks the records, the
// prechecked one walks the segment for its index first (as every reopened
// log was read before). The two alternate, CONDUIT_BENCH_CATCHUP_PAIRS
// times (default 3), each on a fresh engine over the same files;
// check_cost is the median of checked over prechecked reading time (1.10:
// 10% slower), the time column the checked reads' median.
void BM_CatchUpReopened(benchmark::State& state) {
  const int pairs = static_cast<int>(env_u64("CONDUIT_BENCH_CATCHUP_PAIRS", 3));
  for (auto _ : state) {
    Scratch dir("catchup-reopened");
    const std::uint64_t records = catchup_records(dir);
    state.counters["records"] = static_cast<double>(records);
    {
      Opened o = open_topic(dir, Durability::kAsync);
      if (o.topic == nullptr) return state.SkipWithError(o.error.c_str());
      label(state, o);
      const ConduitAsyncResult pub =
          on_fresh_thread([&] { return conduit_async_publish(o.topic, kCatchUpPayload, records); });
      if (!pub.error.empty()) return state.SkipWithError(pub.error.c_str());
    }  // a clean close
    std::vector<double> checked, prechecked, verify_open, ratio;
    std::uint64_t record_bytes = 0;
    for (int pair = 0; pair < pairs; ++pair) {
      for (const bool verify : {false, true}) {
        const auto t0 = Clock::now();
        Opened o = open_topic(dir, Durability::kAsync, false, verify);
        const double open_secs = seconds_since(t0);
        if (o.topic == nullptr) return state.SkipWithError(o.error.c_str());
        const RecoveryStats rs = o.topic->recovery_stats();
        if (rs.clean == verify || (verify && rs.records_checked != records))
          return state.SkipWithError("the reopen did not go the way asked for (clean-close record, or full check)");
        const CatchUpRead c = on_fresh_thread([&] { return read_from_start(o.topic, records); });
        if (!c.error.empty()) return state.SkipWithError(c.error.c_str());
        record_bytes = c.record_bytes;
        (verify ? prechecked : checked).push_back(c.seconds);
        if (verify) verify_open.push_back(open_secs);
      }
      ratio.push_back(checked.back() / prechecked.back());
    }
    // For comparison, no engine open: a LogReader (a reader in another
    // process, which checks every record it returns) over the same files.
    LogReaderOptions lo;
    lo.start = StartAt::earliest();
    auto reader = LogReader::open((dir.path() / "engine").string(), "wal", lo);
    if (!reader.ok()) return state.SkipWithError(reader.status().to_string().c_str());
    std::array<RecordView, 1024> views;
    std::uint64_t seen = 0, sum = 0;
    const auto t0 = Clock::now();
    while (seen < records) {
      auto r = (*reader)->try_poll(views);
      if (!r.ok()) return state.SkipWithError(r.status().to_string().c_str());
      if (r->count == 0 && r->lost == 0) return state.SkipWithError("the LogReader stopped before the end of the log");
      for (std::size_t i = 0; i < r->count; ++i) sum += static_cast<unsigned char>(views[i].payload().back());
      seen += r->count;
    }
    const double log_reader_secs = seconds_since(t0);
    benchmark::DoNotOptimize(sum);
    state.SetIterationTime(median(checked));
    const double gb = static_cast<double>(record_bytes) / 1e9;
    state.counters["pairs"] = pairs;
    state.counters["checked_GB_per_s"] = gb / median(checked);
    state.counters["prechecked_GB_per_s"] = gb / median(prechecked);
    state.counters["check_cost"] = median(ratio);
    state.counters["check_cost_min"] = *std::min_element(ratio.begin(), ratio.end());
    state.counters["check_cost_max"] = *std::max_element(ratio.begin(), ratio.end());
    state.counters["verify_open_s"] = median(verify_open);
    state.counters["log_reader_GB_per_s"] = gb / log_reader_secs;
  }
}
BENCHMARK(BM_CatchUpReopened)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
