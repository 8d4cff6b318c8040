// conduit-bench: what every scenario runner shares — the payload's header,
// the open-loop schedule, results, and the machine's counters.
//
// Payload: bytes [0, 8) hold (producer << 48 | per-producer-per-topic
// counter), bytes [8, 16) the intended send time (steady clock, ns). In
// closed loop the intended time is the moment just before the publish; in
// open loop it is the producer's schedule (start + i / rate), so a stall
// delays every message behind it and shows in their latencies (no
// coordinated omission).
//
// Thread safety: each atomic says which role writes it and what it pairs
// with; everything else in a result is written by one thread and read after
// join().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "../histogram.h"
#include "options.h"

namespace conduit::bench {

inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr int kProducerShift = 48;
constexpr std::uint64_t kCounterMask = (std::uint64_t{1} << kProducerShift) - 1;

inline void stamp_payload(char* p, int producer, std::uint64_t counter, std::int64_t intended) noexcept {
  const std::uint64_t w = (static_cast<std::uint64_t>(producer) << kProducerShift) | counter;
  std::memcpy(p, &w, 8);
  std::memcpy(p + 8, &intended, 8);
}

struct PayloadHeader {
  int producer;
  std::uint64_t counter;
  std::int64_t intended;
};

inline PayloadHeader read_payload(const char* p) noexcept {
  std::uint64_t w;
  std::int64_t t;
  std::memcpy(&w, p, 8);
  std::memcpy(&t, p + 8, 8);
  return {static_cast<int>(w >> kProducerShift), w & kCounterMask, t};
}

// A buffer of `n` payload bytes with a fixed pattern after the header.
inline std::vector<char> payload_buffer(std::size_t n) {
  std::vector<char> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<char>('a' + i % 26);
  return b;
}

// The open-loop schedule of one producer: message i is due at
// start + i * interval. interval 0: closed loop.
class Schedule {
 public:
  Schedule(std::int64_t start_ns, double rate_per_producer)
      : start_(start_ns), interval_(rate_per_producer > 0 ? 1e9 / rate_per_producer : 0) {}
  bool open_loop() const noexcept { return interval_ > 0; }
  std::int64_t due(std::uint64_t i) const noexcept {
    return start_ + static_cast<std::int64_t>(static_cast<double>(i) * interval_);
  }

 private:
  std::int64_t start_;
  double interval_;
};

// Waits until `t` (steady ns) or until `stop`; calls idle() while waiting.
// Sleeps while more than 200 us remain, then yields (the machine may have
// fewer cores than busy threads).
template <class Idle>
void wait_until(std::int64_t t, const std::atomic<bool>& stop, Idle&& idle) {
  for (;;) {
    const std::int64_t left = t - now_ns();
    // Relaxed: `stop` only ends the wait; the producer's results are read after join().
    if (left <= 0 || stop.load(std::memory_order_relaxed)) return;
    idle();
    if (left > 200'000) {
      struct timespec ts {
        0, left - 100'000
      };
      ::nanosleep(&ts, nullptr);
    } else {
      sched_yield();
    }
  }
}

// One progress slot per producer, one cache line each.
struct alignas(64) ProgressSlot {
  // Written by its producer (relaxed, every 1024 messages); read by the
  // progress line only, so no ordering is needed.
  std::atomic<std::uint64_t> published{0};
};

// One producer's loop: topics in turn from `p % topics`, each message at
// its scheduled time (open loop) or at once (closed loop), until `stop`.
// send(topic, counter, intended) publishes one message and returns false
// to end the loop; idle() runs while the producer waits for its schedule.
struct ProducerCounts {
  std::uint64_t published = 0;
  std::vector<std::uint64_t> per_topic;  // messages sent to each topic
  std::int64_t end_ns = 0;
};

template <class Send, class Idle>
ProducerCounts producer_loop(int p, const Config& cfg, std::int64_t start_ns, const std::atomic<bool>& stop,
                             ProgressSlot& slot, Send&& send, Idle&& idle) {
  const auto T = static_cast<std::size_t>(cfg.topics);
  ProducerCounts out;
  out.per_topic.assign(T, 0);
  const Schedule schedule(start_ns, cfg.rate / cfg.producers);
  std::size_t t = static_cast<std::size_t>(p) % T;
  std::uint64_t i = 0;
  // Relaxed: `stop` only ends the loop; results are read after join().
  while (!stop.load(std::memory_order_relaxed)) {
    std::int64_t intended;
    if (schedule.open_loop()) {
      intended = schedule.due(i);
      wait_until(intended, stop, idle);
      if (stop.load(std::memory_order_relaxed)) break;  // relaxed: as above
    } else {
      intended = now_ns();
    }
    if (!send(t, out.per_topic[t], intended)) break;
    ++out.per_topic[t];
    ++i;
    if ((i & 1023) == 0) slot.published.store(i, std::memory_order_relaxed);  // relaxed: progress only
    t = t + 1 == T ? 0 : t + 1;
  }
  out.end_ns = now_ns();
  out.published = i;
  slot.published.store(i, std::memory_order_relaxed);  // relaxed: progress only
  return out;
}

// Reader threads with several endpoints: spin a little, then yield.
void idle_backoff(unsigned& idle_rounds) noexcept;

// Pins the calling thread to core `index % cores`.
void pin_to_core(int index);

// What one reader thread saw, over all its endpoints.
struct ReaderTally {
  Histogram hist;  // intended send time -> receive
  std::uint64_t deliveries = 0, lost = 0, sink = 0;
  std::int64_t last_ns = 0;  // when it last received anything
  bool in_order = true;

  // One delivered payload, received at `now`.
  PayloadHeader take(std::string_view p, std::int64_t now) noexcept {
    const PayloadHeader h = read_payload(p.data());
    hist.record_signed(now - h.intended);
    sink += static_cast<unsigned char>(p.back());  // reads the payload's far end
    ++deliveries;
    return h;
  }
  // A fan-out reader sees each producer's records on a topic in order, none missing.
  void check_next(std::vector<std::uint64_t>& expect, const PayloadHeader& h) noexcept {
    const auto p = static_cast<std::size_t>(h.producer);
    if (p >= expect.size() || h.counter != expect[p]) {
      in_order = false;
      return;
    }
    ++expect[p];
  }
};

// Set by the SIGINT handler: the current run stops early and no further
// run starts. Lock-free, so a relaxed store from the handler is safe;
// nothing else is ordered by it.
extern std::atomic<bool> g_interrupted;

// The main thread while producers run: sleeps for the scenario's duration
// (or until g_interrupted), printing a progress line on stderr when `show`.
// Returns when it is time to stop.
void run_clock(const Config& cfg, const std::vector<ProgressSlot>& slots, const char* label, bool show);

struct LatencyStats {
  bool present = false;
  Histogram hist;
};

// One run of one system (conduit or a baseline).
struct RunResult {
  std::string system;       // "conduit", "moodycamel", "raw_fdatasync", "raw_io_uring"
  std::string description;  // what exactly ran
  std::string error;        // empty: ok
  bool verified = true;     // every record arrived, in order, exactly once
  std::string verify_note;
  double seconds = 0;          // start to last delivery (or last durable)
  double publish_seconds = 0;  // start to the producers' stop
  std::uint64_t published = 0;
  std::uint64_t deliveries = 0;  // records handed to readers (fan-out counts each)
  std::uint64_t lost = 0;
  LatencyStats receive;  // publish (intended) -> receive, every delivery
  LatencyStats durable;  // publish (intended) -> durable watermark seen
  // Memory, measured when the producers stop (before the drain).
  double rss_mib = 0, rss_anon_mib = 0, rss_file_mib = 0, peak_rss_mib = 0;
  bool peak_rss_own = false;        // the peak is this run's (else the process's so far)
  std::uint64_t log_bytes = 0;      // bytes the data directory takes on disk
  std::uint64_t stalled_lag = 0;    // records behind, of a stalled subscriber
  std::string disk_io;              // conduit's description of its disk path
  std::uint64_t payload_bytes = 0;  // payload size
};

// Runs the scenario through conduit. `data_dir` is empty for memory topics.
RunResult run_conduit(const Config& cfg, const std::string& data_dir);
// The memory baseline: the same producers and readers over moodycamel queues.
RunResult run_queue(const Config& cfg);
// The sync baseline: one thread, pwrite + fdatasync per payload, for the
// scenario's duration.
RunResult run_raw_sync(const Config& cfg, const std::string& dir);
// The async baseline: the same number of payloads as conduit published,
// written through io_uring, then one fdatasync.
RunResult run_raw_async(const Config& cfg, const std::string& dir, std::uint64_t records);

// Adds the readers' tallies to `r`: deliveries, losses, order, latency;
// r.seconds runs from `start` to the last delivery or `last`, the later.
void add_tallies(RunResult& r, const std::vector<ReaderTally>& tallies, std::int64_t start, std::int64_t last);

// Starts the run's peak RSS at the current RSS (when the kernel allows).
void reset_peak_rss(RunResult& r);
// Resident memory now: total, anonymous, file-backed and shared memory
// (MiB), and the peak (VmHWM), all from one read of /proc/self/status.
void measure_rss(RunResult& r);
// Bytes the files under `dir` take on disk.
std::uint64_t disk_usage(const std::string& dir);

}  // namespace conduit::bench
