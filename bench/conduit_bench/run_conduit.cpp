// conduit-bench: a scenario through conduit's public API.
//
// Producers publish to the topics in turn; every fan-out subscriber has a
// cursor on every topic; every group consumer has a consumer in each topic's
// work group "g" and acks what it gets. Reader threads poll their endpoints:
// one endpoint per thread waits inside poll() with the chosen strategy,
// several are polled round-robin with try_poll. When the producers stop (and,
// on a persisted topic, saw their last record durable), the engine is closed
// and the readers drain what was published before they see `closed`.
#include <conduit/conduit.h>

#include <deque>
#include <memory>
#include <thread>

#include "harness.h"

namespace conduit::bench {
namespace {

constexpr std::size_t kBatch = 64;
constexpr auto kDurableTimeout = std::chrono::minutes(2);

struct Endpoint {
  Subscriber* sub = nullptr;
  Consumer* consumer = nullptr;
  int topic = 0;
  std::vector<std::uint64_t> expect;  // per producer: next counter (subscribers)
  std::uint64_t received = 0;
  bool closed = false;
};

struct ProducerOut {
  std::uint64_t published = 0;
  std::vector<std::uint64_t> per_topic;
  Histogram durable;
  std::int64_t end_ns = 0, durable_ns = 0;
  std::string error;
};

struct Pending {
  std::uint64_t seq;
  std::int64_t intended;
};

void produce(int p, const Config& cfg, const std::vector<Topic*>& topics, std::int64_t start_ns,
             const std::atomic<bool>& stop, ProgressSlot& slot, ProducerOut& out) {
  if (cfg.pin) pin_to_core(p);
  const auto T = topics.size();
  const bool persisted = cfg.durability != Durability::kMemory;
  std::vector<char> buf = payload_buffer(cfg.payload);
  const std::string_view view(buf.data(), buf.size());
  std::vector<std::deque<Pending>> pending(persisted ? T : 0);
  std::vector<std::int64_t> last_seq(T, -1);

  // Records whose durability the watermark now covers: their latency ends here.
  auto settle = [&](std::size_t t) {
    auto& q = pending[t];
    if (q.empty()) return;
    const std::uint64_t durable = topics[t]->durable();
    if (q.front().seq >= durable) return;
    const std::int64_t now = now_ns();
    while (!q.empty() && q.front().seq < durable) {
      out.durable.record_signed(now - q.front().intended);
      q.pop_front();
    }
  };
  std::size_t settle_next = 0;
  auto settle_some = [&] {
    if (!persisted) return;
    settle(settle_next);
    settle_next = settle_next + 1 == T ? 0 : settle_next + 1;
  };

  const ProducerCounts counts = producer_loop(
      p, cfg, start_ns, stop, slot,
      [&](std::size_t t, std::uint64_t counter, std::int64_t intended) {
        stamp_payload(buf.data(), p, counter, intended);
        auto r = topics[t]->publish(view);
        if (!r.ok()) {
          out.error = "publish to " + topics[t]->name() + ": " + r.status().to_string();
          return false;
        }
        last_seq[t] = static_cast<std::int64_t>(*r);
        if (persisted) {
          pending[t].push_back({*r, intended});
          settle(t);
        }
        return true;
      },
      settle_some);
  out.end_ns = counts.end_ns;
  out.published = counts.published;
  out.per_topic = counts.per_topic;
  if (!persisted) return;
  for (std::size_t k = 0; k < T; ++k) {
    if (last_seq[k] < 0) continue;
    if (Status s = topics[k]->await_durable(static_cast<std::uint64_t>(last_seq[k]), kDurableTimeout); !s.ok()) {
      if (out.error.empty()) out.error = "await_durable on " + topics[k]->name() + ": " + s.to_string();
      return;
    }
    settle(k);
  }
  out.durable_ns = now_ns();
}

void read(int index, const Config& cfg, std::vector<Endpoint>& eps, ReaderTally& tally) {
  if (cfg.pin) pin_to_core(cfg.producers + index);
  std::vector<RecordView> views(kBatch);
  std::vector<Delivery> deliveries(kBatch);
  const bool single = eps.size() == 1;
  const auto wait = std::chrono::milliseconds(10);
  std::size_t open = eps.size();
  unsigned idle = 0;
  while (open != 0) {
    std::uint64_t round = 0;
    for (Endpoint& e : eps) {
      if (e.closed) continue;
      PollResult r;
      if (e.sub != nullptr) {
        r = single ? e.sub->poll(views, wait) : e.sub->try_poll(views);
        const std::int64_t now = now_ns();
        if (r.lost != 0) {
          tally.lost += r.lost;
          tally.in_order = false;
        }
        for (std::size_t k = 0; k < r.count; ++k) tally.check_next(e.expect, tally.take(views[k].payload(), now));
        if (r.count != 0) tally.last_ns = now;
      } else {
        r = single ? e.consumer->poll(deliveries, wait) : e.consumer->try_poll(deliveries);
        const std::int64_t now = now_ns();
        for (std::size_t k = 0; k < r.count; ++k) {
          tally.take(deliveries[k].record.payload(), now);
          if (deliveries[k].attempt != 1) tally.in_order = false;  // nothing is nacked: no redelivery expected
          e.consumer->ack(deliveries[k]);
        }
        if (r.count != 0) tally.last_ns = now;
      }
      e.received += r.count;
      round += r.count;
      if (r.closed) {
        e.closed = true;
        --open;
      }
    }
    if (round == 0 && !single) {
      idle_backoff(idle);
    } else {
      idle = 0;
    }
  }
}

}  // namespace

RunResult run_conduit(const Config& cfg, const std::string& data_dir) {
  RunResult res;
  res.system = "conduit";
  res.payload_bytes = cfg.payload;
  reset_peak_rss(res);
  EngineOptions eo;
  eo.data_dir = data_dir;
  auto engine = Engine::open(eo);
  if (!engine.ok()) {
    res.error = "Engine::open: " + engine.status().to_string();
    return res;
  }
  res.disk_io = (*engine)->disk_io_description();
  TopicOptions to;
  to.durability = cfg.durability;
  to.segment_bytes = cfg.segment_bytes;
  to.ring_bytes = cfg.ring_bytes;
  to.max_payload_bytes = cfg.payload;
  to.retain_bytes = cfg.retain_bytes;
  std::vector<Topic*> topics;
  for (int t = 0; t < cfg.topics; ++t) {
    std::string name = "t";
    name += std::to_string(t);
    auto topic = (*engine)->create_topic(name, to);
    if (!topic.ok()) {
      res.error = "create_topic: " + topic.status().to_string();
      return res;
    }
    topics.push_back(*topic);
  }

  // Endpoints: subscriber s (all its cursors) and group consumer g go to
  // reader threads in turn.
  const int R = cfg.effective_reader_threads(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::vector<Endpoint>> per_thread(static_cast<std::size_t>(R));
  std::vector<std::unique_ptr<Subscriber>> subs;
  std::vector<std::unique_ptr<Consumer>> consumers;
  for (int s = 0; s < cfg.subscribers; ++s) {
    for (int t = 0; t < cfg.topics; ++t) {
      SubscriberOptions so;
      so.start = StartAt::earliest();
      so.slow = SlowPolicy::kBlock;
      so.wait = cfg.wait;
      auto sub = topics[static_cast<std::size_t>(t)]->subscribe(so);
      if (!sub.ok()) {
        res.error = "subscribe: " + sub.status().to_string();
        return res;
      }
      Endpoint e;
      e.sub = sub->get();
      e.topic = t;
      e.expect.assign(static_cast<std::size_t>(cfg.producers), 0);
      per_thread[static_cast<std::size_t>(s % R)].push_back(std::move(e));
      subs.push_back(std::move(sub).value());
    }
  }
  for (int g = 0; g < cfg.group_consumers; ++g) {
    for (int t = 0; t < cfg.topics; ++t) {
      auto group = topics[static_cast<std::size_t>(t)]->work_group("g");
      ConsumerOptions co;
      co.wait = cfg.wait;
      auto c = group.ok() ? (*group)->consumer(co) : Result<std::unique_ptr<Consumer>>(group.status());
      if (!c.ok()) {
        res.error = "work group consumer: " + c.status().to_string();
        return res;
      }
      Endpoint e;
      e.consumer = c->get();
      e.topic = t;
      per_thread[static_cast<std::size_t>((cfg.subscribers + g) % R)].push_back(std::move(e));
      consumers.push_back(std::move(c).value());
    }
  }
  // Stalled subscribers on topic 0: they never read. On a memory topic they
  // lose the oldest records instead of blocking the producers.
  std::vector<std::unique_ptr<Subscriber>> stalled;
  for (int s = 0; s < cfg.stalled; ++s) {
    SubscriberOptions so;
    so.start = StartAt::earliest();
    so.slow = SlowPolicy::kLoseOldest;
    auto sub = topics[0]->subscribe(so);
    if (!sub.ok()) {
      res.error = "subscribe (stalled): " + sub.status().to_string();
      return res;
    }
    stalled.push_back(std::move(sub).value());
  }

  std::vector<ReaderTally> tallies(static_cast<std::size_t>(R));
  std::vector<std::thread> readers;
  for (int r = 0; r < R; ++r)
    readers.emplace_back(read, r, std::cref(cfg), std::ref(per_thread[static_cast<std::size_t>(r)]),
                         std::ref(tallies[static_cast<std::size_t>(r)]));

  std::atomic<bool> stop{false};
  std::vector<ProgressSlot> slots(static_cast<std::size_t>(cfg.producers));
  std::vector<ProducerOut> outs(static_cast<std::size_t>(cfg.producers));
  const std::int64_t start = now_ns() + 1'000'000;  // 1 ms for the threads to start
  std::vector<std::thread> producers;
  for (int p = 0; p < cfg.producers; ++p)
    producers.emplace_back(produce, p, std::cref(cfg), std::cref(topics), start, std::cref(stop),
                           std::ref(slots[static_cast<std::size_t>(p)]), std::ref(outs[static_cast<std::size_t>(p)]));
  run_clock(cfg, slots, "conduit", cfg.progress == 1);
  stop.store(true, std::memory_order_relaxed);  // relaxed: see produce()
  for (auto& th : producers) th.join();

  measure_rss(res);
  if (!data_dir.empty()) res.log_bytes = disk_usage(data_dir);
  if (!stalled.empty()) res.stalled_lag = stalled[0]->lag();

  (*engine)->close();
  for (auto& th : readers) th.join();

  std::vector<std::uint64_t> per_topic(static_cast<std::size_t>(cfg.topics), 0);
  std::int64_t end = start, durable_end = start;
  for (const ProducerOut& o : outs) {
    if (!o.error.empty() && res.error.empty()) res.error = o.error;
    res.published += o.published;
    for (std::size_t t = 0; t < o.per_topic.size(); ++t) per_topic[t] += o.per_topic[t];
    end = std::max(end, o.end_ns);
    durable_end = std::max(durable_end, o.durable_ns);
    if (o.durable.count() != 0) {
      res.durable.present = true;
      res.durable.hist.merge(o.durable);
    }
  }
  res.publish_seconds = static_cast<double>(end - start) / 1e9;
  add_tallies(res, tallies, start, std::max(end, durable_end));
  if (!res.verified) res.verify_note = "a subscriber saw a record out of order, lost or redelivered";

  // Every subscriber cursor got every record of its topic; each work group all of its topic's.
  std::vector<std::uint64_t> group_got(static_cast<std::size_t>(cfg.topics), 0);
  for (auto& eps : per_thread)
    for (const Endpoint& e : eps) {
      if (e.sub != nullptr && e.received != per_topic[static_cast<std::size_t>(e.topic)]) {
        res.verified = false;
        res.verify_note = "a subscriber received " + std::to_string(e.received) + " of " +
                          std::to_string(per_topic[static_cast<std::size_t>(e.topic)]) + " records";
      }
      if (e.consumer != nullptr) group_got[static_cast<std::size_t>(e.topic)] += e.received;
    }
  if (cfg.group_consumers > 0)
    for (std::size_t t = 0; t < group_got.size(); ++t)
      if (group_got[t] != per_topic[t]) {
        res.verified = false;
        res.verify_note = "work group on t" + std::to_string(t) + " delivered " + std::to_string(group_got[t]) +
                          " of " + std::to_string(per_topic[t]) + " records";
      }

  res.description = std::to_string(cfg.producers) + " producer(s), " + std::to_string(cfg.subscribers) +
                    " subscriber(s), " + std::to_string(cfg.group_consumers) + " group consumer(s) on " +
                    std::to_string(R) + " reader thread(s), " + std::to_string(cfg.topics) + " topic(s), " +
                    durability_name(cfg.durability) + ", wait " + wait_name(cfg.wait);
  return res;
}

}  // namespace conduit::bench
