// conduit-demo: publishes through one persisted topic to two fan-out
// subscribers and a work group of two consumers, then makes a burst of sync
// (fdatasync'ed) publishes, and prints what each saw and the rates.
//
//   conduit-demo [--messages N] [--payload BYTES] [--data-dir DIR]
//
// The log lives in DIR (default ./conduit-data) and survives the run: a
// second run finds the first one's records there.
#include <conduit/conduit.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Args {
  std::uint64_t messages = 2'000'000;
  std::size_t payload = 64;
  std::string data_dir = "conduit-data";
};

bool parse(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--data-dir" && i + 1 < argc) {
      a->data_dir = argv[++i];
    } else if ((flag == "--messages" || flag == "--payload") && i + 1 < argc) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(argv[++i], &end, 10);
      if (*end != '\0' || v == 0) {
        std::fprintf(stderr, "conduit-demo: %s needs a positive number, got '%s'\n", flag.c_str(), argv[i]);
        return false;
      }
      (flag == "--messages" ? a->messages : a->payload) = v;
    } else {
      std::fprintf(stderr, "usage: conduit-demo [--messages N] [--payload BYTES] [--data-dir DIR]\n");
      return flag == "--help" ? (std::exit(0), true) : false;
    }
  }
  return true;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse(argc, argv, &args)) return 2;
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
    fanout.push_back(std::make_unique<conduit::Dispatcher>(std::move(sub).value(), [&checksum, i, base](const conduit::RecordView& r) {
      checksum[i].fetch_add(r.sequence() - base, std::memory_order_relaxed);  // relaxed: read after join
    }));
  }
  // One work group of two competing consumers: each record goes to one.
  conduit::WorkGroupOptions group_options;
  group_options.start = conduit::StartAt::at(base);
  auto group = (*topic)->work_group("billing-" + std::to_string(base), group_options);
  if (!group.ok()) return std::fprintf(stderr, "conduit-demo: %s\n", group.status().to_string().c_str()), 1;
  std::vector<std::unique_ptr<conduit::Dispatcher>> workers;
  for (int i = 0; i < 2; ++i) {
    auto consumer = (*group)->consumer();
    if (!consumer.ok()) return std::fprintf(stderr, "conduit-demo: %s\n", consumer.status().to_string().c_str()), 1;
    workers.push_back(std::make_unique<conduit::Dispatcher>(
        std::move(consumer).value(), [](const conduit::Delivery&) { return conduit::Outcome::kAck; }));
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
          if (!(*payments)->publish(payload).ok()) sync_failures.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
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
                static_cast<unsigned long long>(fanout[i]->handled()), static_cast<unsigned long long>(fanout[i]->lost()),
                checksum[i].load() == expected_sum ? "ok" : "WRONG");
  std::uint64_t acked = 0;
  for (int i = 0; i < 2; ++i) {
    std::printf("  work group 'billing' consumer %d: %llu acked\n", i, static_cast<unsigned long long>(workers[i]->handled()));
    acked += workers[i]->handled();
  }
  std::printf("  work group total: %llu acked (each record exactly once: %s), ack floor %llu\n",
              static_cast<unsigned long long>(acked), acked == args.messages ? "yes" : "NO",
              static_cast<unsigned long long>((*group)->stats().ack_floor));
  std::printf("  all readers done in %.3f s: %.2f M msg/s end to end\n", total_s, args.messages / total_s / 1e6);
  std::printf("  durable (fdatasync) %.3f s after the readers finished: %s\n", durable_s, durable.to_string().c_str());
  std::printf("topic 'demo.payments' (sync): %d threads x %d publishes, each acknowledged after fdatasync: %.0f publishes/s, %d failed\n",
              kSyncThreads, kSyncEach, kSyncThreads * kSyncEach / sync_s, sync_failures.load());
  std::printf("run conduit-demo again: the next run starts after these %llu records\n",
              static_cast<unsigned long long>(base + args.messages));
  const bool ok = acked == args.messages && checksum[0].load() == expected_sum && checksum[1].load() == expected_sum &&
                  durable.ok() && sync_failures.load() == 0;
  return ok ? 0 : 1;
}
