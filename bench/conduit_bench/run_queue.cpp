// conduit-bench: the memory baseline. The same producers, schedule, reader
// threads and checks as run_conduit.cpp, over raw moodycamel queues:
//   - fan-out: one queue per (topic, subscriber); the producer copies the
//     payload into each (what a program without conduit does for fan-out);
//   - work group: one queue per topic that the group's consumers share.
// An item is a fixed-size array of the payload's size class (16 B, then x4
// up to 64 KiB) of which the payload's bytes are copied in; the queue moves
// whole items, so up to 4x the payload moves on dequeue. Each queue is
// bounded like a memory topic's ring (ring_bytes of items): a producer
// waits while size_approx() is at the bound, checked every 32 enqueues.
// Producers use a ProducerToken per queue and readers a ConsumerToken per
// queue, and readers take up to 64 items per try_dequeue_bulk: the queue's
// fast paths.
#include <concurrentqueue/concurrentqueue.h>

#include <array>
#include <memory>
#include <thread>

#include "harness.h"

namespace conduit::bench {
namespace {

constexpr std::size_t kBatch = 64;
constexpr unsigned kBoundCheckEvery = 32;
constexpr auto kDrainTimeout = std::chrono::seconds(60);

template <std::size_t N>
struct Item {
  std::array<char, N> bytes;
};

template <std::size_t N>
using Queue = moodycamel::ConcurrentQueue<Item<N>>;

template <std::size_t N>
struct Endpoint {
  Queue<N>* queue = nullptr;
  std::unique_ptr<moodycamel::ConsumerToken> token;
  int topic = 0;
  bool group = false;
  std::vector<std::uint64_t> expect;
  std::uint64_t received = 0;
  bool done = false;
};

// Shared by the producers (write) and the readers (read).
struct Shared {
  std::atomic<bool> stop{false};
  // Release-stored by the main thread after it wrote `target`; readers
  // acquire it before reading `target`.
  std::atomic<bool> producers_done{false};
  std::vector<std::uint64_t> target;  // records published per topic
  // Records taken from each topic's group queue, by all its consumers.
  // Relaxed adds: a reader compares it with `target` only to stop, and the
  // items themselves come through the queue.
  std::unique_ptr<std::atomic<std::uint64_t>[]> group_taken;
};

template <std::size_t N>
struct Queues {
  std::vector<std::unique_ptr<Queue<N>>> fanout;  // [topic * S + s]
  std::vector<std::unique_ptr<Queue<N>>> group;   // [topic]
  std::size_t bound = 0;                          // items per queue
};

struct ProducerOut {
  std::uint64_t published = 0;
  std::vector<std::uint64_t> per_topic;
  std::int64_t end_ns = 0;
  std::string error;
};

template <std::size_t N>
void produce(int p, const Config& cfg, Queues<N>& qs, std::int64_t start_ns, Shared& sh, ProgressSlot& slot,
             ProducerOut& out) {
  if (cfg.pin) pin_to_core(p);
  const auto T = static_cast<std::size_t>(cfg.topics);
  const auto S = static_cast<std::size_t>(cfg.subscribers);
  std::vector<char> buf = payload_buffer(cfg.payload);
  Item<N> item{};
  // One token and one bound countdown per queue this producer writes.
  struct Target {
    Queue<N>* q;
    std::unique_ptr<moodycamel::ProducerToken> token;
    unsigned until_check = 0;
  };
  std::vector<std::vector<Target>> targets(T);
  for (std::size_t t = 0; t < T; ++t) {
    for (std::size_t s = 0; s < S; ++s) {
      Queue<N>* q = qs.fanout[t * S + s].get();
      targets[t].push_back({q, std::make_unique<moodycamel::ProducerToken>(*q)});
    }
    if (!qs.group.empty())
      targets[t].push_back({qs.group[t].get(), std::make_unique<moodycamel::ProducerToken>(*qs.group[t])});
  }
  const ProducerCounts counts = producer_loop(
      p, cfg, start_ns, sh.stop, slot,
      [&](std::size_t t, std::uint64_t counter, std::int64_t intended) {
        stamp_payload(buf.data(), p, counter, intended);
        for (Target& tg : targets[t]) {
          if (tg.until_check-- == 0) {
            tg.until_check = kBoundCheckEvery;
            while (tg.q->size_approx() >= qs.bound) {
              // Relaxed: `stop` only ends the wait. A message stopped here
              // reached only some of its queues; it is not counted, and the
              // readers stop at the counted ones.
              if (sh.stop.load(std::memory_order_relaxed)) return false;
              sched_yield();
            }
          }
          std::memcpy(item.bytes.data(), buf.data(), cfg.payload);  // the payload copy a publish makes
          if (!tg.q->enqueue(*tg.token, item)) {
            out.error = "moodycamel enqueue failed (out of memory)";
            return false;
          }
        }
        return true;
      },
      [] {});
  out.end_ns = counts.end_ns;
  out.published = counts.published;
  out.per_topic = counts.per_topic;
}

template <std::size_t N>
void read(int index, const Config& cfg, std::vector<Endpoint<N>>& eps, Shared& sh, ReaderTally& tally,
          std::string& error) {
  if (cfg.pin) pin_to_core(cfg.producers + index);
  std::vector<Item<N>> items(kBatch);
  std::size_t open = eps.size();
  unsigned idle = 0;
  std::int64_t drain_deadline = 0;
  while (open != 0) {
    std::uint64_t round = 0;
    // Acquire pairs with the main thread's release store after it wrote `target`.
    const bool done = sh.producers_done.load(std::memory_order_acquire);
    for (Endpoint<N>& e : eps) {
      if (e.done) continue;
      const std::size_t n = e.queue->try_dequeue_bulk(*e.token, items.begin(), kBatch);
      if (n != 0) {
        const std::int64_t now = now_ns();
        for (std::size_t k = 0; k < n; ++k) {
          const PayloadHeader h = tally.take({items[k].bytes.data(), cfg.payload}, now);
          if (!e.group) tally.check_next(e.expect, h);
        }
        tally.last_ns = now;
        e.received += n;
        round += n;
        if (e.group) sh.group_taken[static_cast<std::size_t>(e.topic)].fetch_add(n, std::memory_order_relaxed);
      }
      if (done) {
        const std::uint64_t target = sh.target[static_cast<std::size_t>(e.topic)];
        // Relaxed: see Shared::group_taken.
        const std::uint64_t got =
            e.group ? sh.group_taken[static_cast<std::size_t>(e.topic)].load(std::memory_order_relaxed) : e.received;
        if (got >= target) {
          e.done = true;
          --open;
        }
      }
    }
    if (round == 0) {
      idle_backoff(idle);
      if (done && drain_deadline == 0) drain_deadline = now_ns() + std::chrono::nanoseconds(kDrainTimeout).count();
      if (done && now_ns() > drain_deadline) {
        error = "baseline readers did not receive every record within 60 s";
        return;
      }
    } else {
      idle = 0;
      drain_deadline = 0;
    }
  }
}

template <std::size_t N>
RunResult run_sized(const Config& cfg) {
  RunResult res;
  res.system = "moodycamel";
  res.payload_bytes = cfg.payload;
  reset_peak_rss(res);
  const auto T = static_cast<std::size_t>(cfg.topics);
  const auto S = static_cast<std::size_t>(cfg.subscribers);
  Queues<N> qs;
  qs.bound = std::max<std::size_t>(1024, cfg.ring_bytes / sizeof(Item<N>));
  const std::size_t initial = std::min<std::size_t>(qs.bound, 1024);
  for (std::size_t i = 0; i < T * S; ++i) qs.fanout.push_back(std::make_unique<Queue<N>>(initial));
  if (cfg.group_consumers > 0)
    for (std::size_t t = 0; t < T; ++t) qs.group.push_back(std::make_unique<Queue<N>>(initial));

  const int R = cfg.effective_reader_threads(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::vector<Endpoint<N>>> per_thread(static_cast<std::size_t>(R));
  for (std::size_t s = 0; s < S; ++s)
    for (std::size_t t = 0; t < T; ++t) {
      Endpoint<N> e;
      e.queue = qs.fanout[t * S + s].get();
      e.token = std::make_unique<moodycamel::ConsumerToken>(*e.queue);
      e.topic = static_cast<int>(t);
      e.expect.assign(static_cast<std::size_t>(cfg.producers), 0);
      per_thread[s % static_cast<std::size_t>(R)].push_back(std::move(e));
    }
  for (int g = 0; g < cfg.group_consumers; ++g)
    for (std::size_t t = 0; t < T; ++t) {
      Endpoint<N> e;
      e.queue = qs.group[t].get();
      e.token = std::make_unique<moodycamel::ConsumerToken>(*e.queue);
      e.topic = static_cast<int>(t);
      e.group = true;
      per_thread[static_cast<std::size_t>(cfg.subscribers + g) % static_cast<std::size_t>(R)].push_back(std::move(e));
    }

  Shared sh;
  sh.target.assign(T, 0);
  sh.group_taken = std::make_unique<std::atomic<std::uint64_t>[]>(T);
  std::vector<ReaderTally> tallies(static_cast<std::size_t>(R));
  std::vector<std::string> reader_errors(static_cast<std::size_t>(R));
  std::vector<std::thread> readers;
  for (int r = 0; r < R; ++r)
    readers.emplace_back(read<N>, r, std::cref(cfg), std::ref(per_thread[static_cast<std::size_t>(r)]), std::ref(sh),
                         std::ref(tallies[static_cast<std::size_t>(r)]),
                         std::ref(reader_errors[static_cast<std::size_t>(r)]));

  std::vector<ProgressSlot> slots(static_cast<std::size_t>(cfg.producers));
  std::vector<ProducerOut> outs(static_cast<std::size_t>(cfg.producers));
  const std::int64_t start = now_ns() + 1'000'000;
  std::vector<std::thread> producers;
  for (int p = 0; p < cfg.producers; ++p)
    producers.emplace_back(produce<N>, p, std::cref(cfg), std::ref(qs), start, std::ref(sh),
                           std::ref(slots[static_cast<std::size_t>(p)]), std::ref(outs[static_cast<std::size_t>(p)]));
  run_clock(cfg, slots, "moodycamel", cfg.progress == 1);
  sh.stop.store(true, std::memory_order_relaxed);  // relaxed: see produce()
  for (auto& th : producers) th.join();
  measure_rss(res);

  std::int64_t end = start;
  for (const ProducerOut& o : outs) {
    if (!o.error.empty() && res.error.empty()) res.error = o.error;
    res.published += o.published;
    for (std::size_t t = 0; t < T; ++t) sh.target[t] += o.per_topic[t];
    end = std::max(end, o.end_ns);
  }
  // A producer stopped mid-message (between two fan-out queues) left items
  // that no target counts: readers stop at `target` whatever else is queued.
  sh.producers_done.store(true, std::memory_order_release);  // pairs with the readers' acquire
  for (auto& th : readers) th.join();

  res.publish_seconds = static_cast<double>(end - start) / 1e9;
  for (const std::string& e : reader_errors)
    if (!e.empty() && res.error.empty()) res.error = e;
  add_tallies(res, tallies, start, end);
  if (!res.verified) res.verify_note = "a baseline reader saw a record out of order";
  res.description = std::to_string(cfg.producers) + " producer(s), " + std::to_string(S * T) + " fan-out queue(s), " +
                    std::to_string(qs.group.size()) + " shared group queue(s), " + std::to_string(R) +
                    " reader thread(s), " + std::to_string(sizeof(Item<N>)) + "-byte items";
  return res;
}

}  // namespace

RunResult run_queue(const Config& cfg) {
  const std::size_t n = cfg.payload;
  if (n <= 16) return run_sized<16>(cfg);
  if (n <= 64) return run_sized<64>(cfg);
  if (n <= 256) return run_sized<256>(cfg);
  if (n <= 1024) return run_sized<1024>(cfg);
  if (n <= 4096) return run_sized<4096>(cfg);
  if (n <= 16384) return run_sized<16384>(cfg);
  if (n <= 65536) return run_sized<65536>(cfg);
  RunResult res;
  res.system = "moodycamel";
  res.error = "the moodycamel baseline takes payloads up to 64 KiB";
  return res;
}

}  // namespace conduit::bench
