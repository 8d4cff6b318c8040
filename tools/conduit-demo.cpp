// conduit-demo: publishes through one persisted topic to two fan-out
// subscribers and a work group of two consumers, then makes a burst of sync
// (fdatasync'ed) publishes, and prints what each saw and the rates.
//
//   conduit-demo [--messages N] [--payload BYTES] [--data-dir DIR]
//
// The log lives in DIR (default ./conduit-data) and survives the run: a
// second run finds the first one's records there, and the work group
// 'billing' resumes from the position it committed.
#include <conduit/conduit.h>
#include <conduit/inspect.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "conduit-demo/args.h"

namespace {

// What the work group's acks add up to: acks[i] is how often sequence
// (resumed position + i) was acked in this run; the first `earlier` of them
// an earlier run published.
struct GroupCheck {
  bool new_once = true;              // this run's records: each acked exactly once
  bool earlier_at_most_once = true;  // an earlier run's: none acked twice
  std::uint64_t earlier_acked = 0;
};

GroupCheck check_group(const std::vector<std::atomic<std::uint32_t>>& acks, std::uint64_t earlier) {
  GroupCheck c;
  for (std::uint64_t i = 0; i < acks.size(); ++i) {
    const std::uint32_t n = acks[i].load(std::memory_order_relaxed);  // relaxed: the workers were joined
    if (i >= earlier)
      c.new_once &= n == 1;
    else
      c.earlier_at_most_once &= n <= 1, c.earlier_acked += n;
  }
  return c;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  conduit_demo::Args args;
  if (const int rc = conduit_demo::parse_args(argc, argv, &args, stdout, stderr); rc >= 0) return rc;
  conduit::EngineOptions engine_options;
  engine_options.data_dir = args.data_dir;
  auto engine = conduit::Engine::open(engine_options);
  if (!engine.ok()) {
    std::fprintf(stderr, "conduit-demo: %s\n", engine.status().to_string().c_str());
    return 1;
  }
  conduit::TopicOptions topic_options;
  topic_options.durability = conduit::Durability::kAsync;
  topic_options.segment_bytes = 64u << 20;
  topic_options.retain_bytes = 512u << 20;  // the demo's log stays under ~512 MiB across runs
  topic_options.max_payload_bytes = std::max<std::size_t>(args.payload, 1024);
  auto topic = (*engine)->create_topic("demo.orders", topic_options);
  if (!topic.ok()) {
    std::fprintf(stderr, "conduit-demo: %s\n", topic.status().to_string().c_str());
    return 1;
  }

  const std::uint64_t base = (*topic)->published();  // records left by earlier runs
  std::printf("conduit-demo: data directory %s (write-ahead log via %s); %llu records already in the log\n",
              args.data_dir.c_str(), (*engine)->disk_io_description().c_str(), static_cast<unsigned long long>(base));

  // Two fan-out subscribers: each sees every record published from now on.
  std::atomic<std::uint64_t> checksum[2] = {0, 0};
  std::vector<std::unique_ptr<conduit::Dispatcher>> fanout;
  for (int i = 0; i < 2; ++i) {
    conduit::SubscriberOptions so;
    so.name = "audit-" + std::to_string(i);
    so.start = conduit::StartAt::at(base);
    auto sub = (*topic)->subscribe(so);
    if (!sub.ok()) return std::fprintf(stderr, "conduit-demo: %s\n", sub.status().to_string().c_str()), 1;
    fanout.push_back(std::make_unique<conduit::Dispatcher>(
        std::move(sub).value(), [&checksum, i, base](const conduit::RecordView& r) {
          checksum[i].fetch_add(r.sequence() - base, std::memory_order_relaxed);  // relaxed: read after join
        }));
  }
  // One work group of two competing consumers: each record goes to one.
  // New, it starts with this run's records; made by an earlier run, it
  // resumes from the ack floor that run committed (at its close), so what
  // that run left unacked (it was killed, say) comes first.
  bool resumed = false;  // a committed position on disk, from an earlier run
  if (auto summary = conduit::inspect::summarize_topic(args.data_dir, "demo.orders"); summary.ok())
    for (const auto& p : summary->positions) resumed |= p.kind == "work group" && p.name == "billing";
  conduit::WorkGroupOptions group_options;
  group_options.start = conduit::StartAt::at(base);
  auto group = (*topic)->work_group("billing", group_options);
  if (!group.ok()) return std::fprintf(stderr, "conduit-demo: %s\n", group.status().to_string().c_str()), 1;
  const std::uint64_t resumed_at = std::min((*group)->stats().ack_floor, base);  // before any consumer polls
  // Acks per sequence from resumed_at on. Above its floor an earlier run may
  // have acked some records already (the group's journal keeps them): those
  // do not come again, so only "none twice" can be checked for them.
  std::vector<std::atomic<std::uint32_t>> acks(base + args.messages - resumed_at);
  std::vector<std::unique_ptr<conduit::Dispatcher>> workers;
  for (int i = 0; i < 2; ++i) {
    auto consumer = (*group)->consumer();
    if (!consumer.ok()) return std::fprintf(stderr, "conduit-demo: %s\n", consumer.status().to_string().c_str()), 1;
    workers.push_back(std::make_unique<conduit::Dispatcher>(
        std::move(consumer).value(), [&acks, resumed_at](const conduit::Delivery& d) {
          if (d.sequence >= resumed_at && d.sequence - resumed_at < acks.size())
            acks[d.sequence - resumed_at].fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
          return conduit::Outcome::kAck;
        }));
  }

  std::string payload(args.payload, 'x');
  conduit::Header headers[] = {{"source", "demo"}};
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < args.messages; ++i) {
    conduit::Message m;
    m.payload = payload;
    m.key = (i & 1) ? "odd" : "even";
    m.headers = headers;
    auto seq = (*topic)->publish(m);
    if (!seq.ok()) return std::fprintf(stderr, "conduit-demo: %s\n", seq.status().to_string().c_str()), 1;
  }
  const double publish_s = seconds_since(t0);
  // Let every reader finish, then close: the dispatchers end by themselves.
  while ((*group)->stats().ack_floor < base + args.messages || fanout[0]->handled() < args.messages ||
         fanout[1]->handled() < args.messages) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double total_s = seconds_since(t0);
  const conduit::WorkGroupStats group_stats = (*group)->stats();
  const auto d0 = std::chrono::steady_clock::now();
  const conduit::Status durable = (*topic)->await_durable(base + args.messages - 1, std::chrono::seconds(30));
  const double durable_s = seconds_since(d0);

  // A burst of sync publishes from 4 threads: each returns once fdatasync
  // covers its record; concurrent publishers share one fdatasync.
  conduit::TopicOptions sync_options;
  sync_options.durability = conduit::Durability::kSync;
  sync_options.retain_bytes = 64u << 20;
  auto payments = (*engine)->create_topic("demo.payments", sync_options);
  if (!payments.ok()) return std::fprintf(stderr, "conduit-demo: %s\n", payments.status().to_string().c_str()), 1;
  constexpr int kSyncThreads = 4, kSyncEach = 250;
  std::atomic<int> sync_failures{0};
  const auto s0 = std::chrono::steady_clock::now();
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kSyncThreads; ++t)
      threads.emplace_back([&] {
        for (int i = 0; i < kSyncEach; ++i)
          if (!(*payments)->publish(payload).ok())
            sync_failures.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
      });
    for (auto& t : threads) t.join();
  }
  const double sync_s = seconds_since(s0);

  (*engine)->close();
  for (auto& d : fanout) d->join();
  for (auto& d : workers) d->join();

  const std::uint64_t expected_sum = args.messages * (args.messages - 1) / 2;
  std::printf("topic 'demo.orders' (async): %llu messages of %zu bytes, 1 producer, %u cores\n",
              static_cast<unsigned long long>(args.messages), args.payload, std::thread::hardware_concurrency());
  std::printf("  published in %.3f s: %.2f M msg/s\n", publish_s, args.messages / publish_s / 1e6);
  for (int i = 0; i < 2; ++i)
    std::printf("  subscriber audit-%d: %llu records, lost %llu, sequence sum %s\n", i,
                static_cast<unsigned long long>(fanout[i]->handled()),
                static_cast<unsigned long long>(fanout[i]->lost()),
                checksum[i].load() == expected_sum ? "ok" : "WRONG");
  const GroupCheck group_check = check_group(acks, base - resumed_at);
  std::uint64_t acked = 0;
  for (int i = 0; i < 2; ++i) {
    std::printf("  work group 'billing' consumer %d: %llu acked\n", i,
                static_cast<unsigned long long>(workers[i]->handled()));
    acked += workers[i]->handled();
  }
  std::printf(
      "  work group 'billing': %s %llu; %llu acked, ack floor now %llu; this run's records each exactly once: %s\n",
      resumed ? "resumed at" : "new, from", static_cast<unsigned long long>(resumed_at),
      static_cast<unsigned long long>(acked), static_cast<unsigned long long>(group_stats.ack_floor),
      group_check.new_once ? "yes" : "NO");
  if (resumed_at < base) {
    std::printf("  before them, %llu of the %llu records an earlier run left past its committed floor, none twice: %s",
                static_cast<unsigned long long>(group_check.earlier_acked),
                static_cast<unsigned long long>(base - resumed_at), group_check.earlier_at_most_once ? "yes" : "NO");
    std::printf(" (it had acked the rest%s)\n", group_stats.lost == 0 ? "" : ", or retention deleted them first");
  }
  std::printf("  all readers done in %.3f s: %.2f M msg/s end to end\n", total_s, args.messages / total_s / 1e6);
  std::printf("  durable (fdatasync) %.3f s after the readers finished: %s\n", durable_s, durable.to_string().c_str());
  std::printf(
      "topic 'demo.payments' (sync): %d threads x %d publishes, each acknowledged after fdatasync: %.0f publishes/s, "
      "%d failed\n",
      kSyncThreads, kSyncEach, kSyncThreads * kSyncEach / sync_s, sync_failures.load());
  std::printf("run conduit-demo again: the next run starts after these %llu records\n",
              static_cast<unsigned long long>(base + args.messages));
  const bool ok = group_check.new_once && group_check.earlier_at_most_once &&
                  group_stats.ack_floor >= base + args.messages && checksum[0].load() == expected_sum &&
                  checksum[1].load() == expected_sum && durable.ok() && sync_failures.load() == 0;
  return ok ? 0 : 1;
}
