// Stress: randomized multi-threaded rounds against one engine each, with
// their invariants checked. In every round:
//   - producers publish stamped records (producer, counter) to a memory-only
//     topic, an async and a sync persisted topic, chosen at random;
//   - a blocking subscriber per topic reads everything;
//   - a churn thread subscribes (earliest, latest or a sequence; blocking or
//     lose-oldest), reads a while and leaves, again and again;
//   - a work group of two consumers per topic acks, and nacks at random;
//   - a thread creates new topics while another races it for the same names;
//   - a thread creates topics and deletes them again (same few names), with
//     a subscriber open for a while (deletion refused with kBusy then), while
//     another thread publishes into whichever of them exists;
//   - the engine is closed while the producers are still publishing.
// Invariants: a reader sees each topic's records in sequence order with no
// gap but a reported loss; each producer's records in its own order; what a
// blocking reader saw from a producer is exactly what that producer was told
// was published (a publish racing close either claims nothing or returns
// its sequence; on the sync topic close's last fdatasync makes it durable,
// so the publish returns it too); a work group
// acks every published sequence exactly once however often it was nacked;
// two creators of one topic name get the same topic; a re-created topic
// starts empty; a publish racing a deletion either returns a sequence that
// the deleted topic had published, or fails with kNotFound; after the
// deletion every publish fails with kNotFound.
//
// Short by default (CI runs it in Release, under TSan and under ASan). For a
// long run by hand: stress_engine_test --duration=SECONDS, or
// CONDUIT_STRESS_SECONDS=N. CONDUIT_STRESS_SEED=N replays one seed's choices
// (thread interleavings differ from run to run).
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace conduit;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr int kTopics = 3;  // 0 memory, 1 async, 2 sync
constexpr int kProducers = 2;
constexpr std::uint64_t kMaxPerProducer = 400'000;  // per topic and round
const char* const kTopicNames[kTopics] = {"mem", "async", "sync"};

// The first failure any thread saw; threads record, the test thread checks.
class Failures {
 public:
  void add(const std::string& what) {
    std::lock_guard lk(mu_);
    if (count_++ == 0) first_ = what;
  }
  int count() const {
    std::lock_guard lk(mu_);
    return count_;
  }
  std::string first() const {
    std::lock_guard lk(mu_);
    return first_;
  }

 private:
  mutable std::mutex mu_;
  int count_ = 0;
  std::string first_;
};

struct Totals {
  std::atomic<std::uint64_t> published{0}, read{0}, lost{0}, acks{0}, nacks{0}, subscriptions{0}, topics_created{0},
      rounds{0}, topics_deleted{0}, deletes_refused{0};
};

// Payload: "producer:counter:" and filler.
std::string stamp(int producer, std::uint64_t counter, std::size_t size) {
  std::string s = std::to_string(producer) + ":" + std::to_string(counter) + ":";
  s.resize(std::max(s.size(), size), 'x');
  return s;
}
bool parse(std::string_view p, int* producer, std::uint64_t* counter) {
  const auto a = p.find(':'), b = p.find(':', a + 1);
  if (a == std::string_view::npos || b == std::string_view::npos) return false;
  *producer = std::stoi(std::string(p.substr(0, a)));
  *counter = std::stoull(std::string(p.substr(a + 1, b - a - 1)));
  return *producer >= 0 && *producer < kProducers;
}

// Checks what one reader sees of one topic: dense sequences (but for reported
// losses) and each producer's counters in order. `dense_from_zero`: a reader
// from the start that may not lose anything (counters must be 0, 1, 2, ...).
class ReaderCheck {
 public:
  ReaderCheck(const char* who, Failures& f, bool dense_from_zero) : who_(who), f_(f), dense_(dense_from_zero) {}
  void start(std::uint64_t seq) { next_seq_ = seq; }
  void lost(std::uint64_t n) {
    if (dense_ && n != 0) f_.add(std::string(who_) + ": a blocking reader lost records");
    next_seq_ += n;
  }
  void record(const RecordView& v) {
    if (v.sequence() != next_seq_)
      f_.add(std::string(who_) + ": sequence " + std::to_string(v.sequence()) + " where " + std::to_string(next_seq_) +
             " was next");
    next_seq_ = v.sequence() + 1;
    int p = 0;
    std::uint64_t c = 0;
    if (!parse(v.payload(), &p, &c)) return f_.add(std::string(who_) + ": a record with a bad stamp");
    auto it = seen_.find(p);
    if (dense_ && c != (it == seen_.end() ? 0 : it->second + 1))
      f_.add(std::string(who_) + ": producer " + std::to_string(p) + " counter " + std::to_string(c) + " out of order");
    if (!dense_ && it != seen_.end() && c <= it->second)
      f_.add(std::string(who_) + ": producer " + std::to_string(p) + " counter went back");
    seen_[p] = c;
  }
  // Records seen from `producer` (dense readers: its counter + 1).
  std::uint64_t seen_from(int producer) const {
    auto it = seen_.find(producer);
    return it == seen_.end() ? 0 : it->second + 1;
  }

 private:
  const char* who_;
  Failures& f_;
  bool dense_;
  std::uint64_t next_seq_ = 0;
  std::map<int, std::uint64_t> seen_;
};

TopicOptions topic_options(int t) {
  TopicOptions o;
  o.max_payload_bytes = 2048;
  o.segment_bytes = 160u << 10;
  o.ring_bytes = 2 * o.segment_bytes;
  o.durability = t == 0 ? Durability::kMemory : t == 1 ? Durability::kAsync : Durability::kSync;
  return o;
}

void run_round(std::uint64_t seed, std::chrono::milliseconds length, Totals& totals, Failures& f) {
  std::string tmpl =
      ((fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path()) / "conduit-stress-XXXXXX")
          .string();
  const fs::path dir = mkdtemp(tmpl.data());
  EngineOptions eo;
  eo.data_dir = dir.string();
  eo.flush_interval = 2ms;
  auto engine = Engine::open(eo).value();
  Topic* topics[kTopics];
  for (int t = 0; t < kTopics; ++t) topics[t] = engine->create_topic(kTopicNames[t], topic_options(t)).value();

  // Subscribed before any publish: they see everything.
  std::vector<std::unique_ptr<Subscriber>> full;
  SubscriberOptions from_start;
  from_start.start = StartAt::earliest();
  for (int t = 0; t < kTopics; ++t) full.push_back(topics[t]->subscribe(from_start).value());
  std::vector<WorkGroup*> groups;
  for (int t = 0; t < kTopics; ++t) {
    WorkGroupOptions wo;
    wo.max_in_flight = 256;
    groups.push_back(topics[t]->work_group("workers", wo).value());
  }

  std::atomic<bool> stop_churn{false};
  std::vector<std::thread> threads;

  // Producers: until close. acked[p][t]: publishes that returned a sequence.
  std::uint64_t acked[kProducers][kTopics] = {};
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937_64 rng(seed * 31 + p);
      std::uint64_t counter[kTopics] = {};
      for (;;) {
        const int t = static_cast<int>(rng() % kTopics);
        if (counter[t] >= kMaxPerProducer) {  // the work group's table is full for this topic
          if (engine->closed()) return;
          std::this_thread::yield();
          continue;
        }
        const std::size_t size = rng() % 8 == 0 ? 1024 + rng() % 1024 : rng() % 100;
        auto r = topics[t]->publish(stamp(p, counter[t], size));
        if (r.ok()) {
          ++acked[p][t];
          ++counter[t];
          totals.published.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
          continue;
        }
        if (r.status().code() != Code::kClosed) f.add("publish: " + r.status().to_string());
        if (engine->closed()) return;
      }
    });
  }

  // The full readers, one thread each: read until closed.
  std::vector<ReaderCheck> full_checks;
  for (int t = 0; t < kTopics; ++t) full_checks.emplace_back(kTopicNames[t], f, true);
  for (int t = 0; t < kTopics; ++t) {
    threads.emplace_back([&, t] {
      std::vector<RecordView> views(64);
      for (;;) {
        const PollResult r = full[t]->poll(views, 50ms);
        full_checks[t].lost(r.lost);
        for (std::size_t i = 0; i < r.count; ++i) full_checks[t].record(views[i]);
        totals.read.fetch_add(r.count, std::memory_order_relaxed);  // relaxed: a statistic
        if (r.closed) return;
      }
    });
  }

  // A consumer still polling 10 s after close is stuck: say where the group is.
  std::atomic<std::int64_t> closed_at_ns{0};
  auto drained_by = [&](int t, std::chrono::steady_clock::time_point now) {
    const std::int64_t at = closed_at_ns.load(std::memory_order_acquire);  // pairs with the release after close()
    if (at == 0 || now.time_since_epoch().count() - at < std::int64_t{10'000'000'000}) return false;
    const WorkGroupStats st = groups[t]->stats();
    f.add(std::string("work group on ") + kTopicNames[t] + " never reported closed: next " + std::to_string(st.next) +
          ", ack floor " + std::to_string(st.ack_floor) + ", pending redelivery " +
          std::to_string(st.pending_redelivery) + ", published " + std::to_string(topics[t]->published()));
    return true;
  };
  // Work group consumers: two per topic, nack ~1 in 8, until closed and drained.
  std::vector<std::vector<std::atomic<std::uint8_t>>> acks_of(kTopics);
  for (auto& v : acks_of) v = std::vector<std::atomic<std::uint8_t>>(1u << 20);
  for (int t = 0; t < kTopics; ++t) {
    for (int c = 0; c < 2; ++c) {
      threads.emplace_back([&, t, c] {
        auto consumer = groups[t]->consumer().value();
        std::mt19937_64 rng(seed * 131 + t * 2 + c);
        Delivery d[16];
        for (;;) {
          const PollResult r = consumer->poll(d, 50ms);
          for (std::size_t i = 0; i < r.count; ++i) {
            if (rng() % 8 == 0) {
              consumer->nack(d[i]);
              totals.nacks.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
              continue;
            }
            if (d[i].sequence >= acks_of[t].size()) {
              f.add("work group: sequence beyond the test's table");
              return;
            }
            // Relaxed: the test thread reads the table after join().
            if (acks_of[t][d[i].sequence].fetch_add(1, std::memory_order_relaxed) != 0)
              f.add(std::string("work group on ") + kTopicNames[t] + ": sequence " + std::to_string(d[i].sequence) +
                    " acked twice");
            consumer->ack(d[i]);
            totals.acks.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
          }
          if (r.closed) return;
          if (engine->closed() && drained_by(t, std::chrono::steady_clock::now())) return;
        }
      });
    }
  }

  // Churn: subscribers join, read a little, and leave.
  threads.emplace_back([&] {
    std::mt19937_64 rng(seed * 7 + 3);
    while (!stop_churn.load(std::memory_order_acquire)) {  // acquire: pairs with the release below
      const int t = static_cast<int>(rng() % kTopics);
      SubscriberOptions o;
      const int start = static_cast<int>(rng() % 3);
      o.start = start == 0   ? StartAt::earliest()
                : start == 1 ? StartAt::latest()
                             : StartAt::at(topics[t]->published() / 2);
      o.slow = rng() % 2 ? SlowPolicy::kBlock : SlowPolicy::kLoseOldest;
      auto sub = topics[t]->subscribe(o);
      if (!sub.ok()) {
        if (sub.status().code() != Code::kClosed) f.add("subscribe: " + sub.status().to_string());
        return;
      }
      totals.subscriptions.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
      ReaderCheck check("churn", f, false);
      check.start((*sub)->position());
      std::vector<RecordView> views(32);
      for (int polls = static_cast<int>(rng() % 50); polls > 0; --polls) {
        const PollResult r = (*sub)->poll(views, 5ms);
        check.lost(r.lost);
        totals.lost.fetch_add(r.lost, std::memory_order_relaxed);  // relaxed: a statistic
        for (std::size_t i = 0; i < r.count; ++i) check.record(views[i]);
        if (r.closed) break;
      }
    }
  });

  // Topic creators racing for the same names.
  std::vector<Topic*> created[2];
  for (int k = 0; k < 2; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 6 && !engine->closed(); ++i) {
        TopicOptions o = topic_options(i % 2);
        auto r = engine->create_topic("dyn-" + std::to_string(seed) + "-" + std::to_string(i), o);
        if (!r.ok()) {
          if (r.status().code() != Code::kClosed) f.add("create_topic: " + r.status().to_string());
          break;
        }
        created[k].push_back(*r);
        if (!(*r)->publish("x").ok() && !engine->closed()) f.add("publish to a new topic failed");
        totals.topics_created.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        std::this_thread::sleep_for(length / 8);
      }
    });
  }

  // Topics created and deleted while a publisher races the deletion.
  std::atomic<Topic*> doomed{nullptr};
  std::atomic<bool> stop_doomed{false};
  threads.emplace_back([&] {
    std::uint64_t ok = 0;
    Topic* last = nullptr;
    std::uint64_t last_seq = 0;  // one past the largest sequence published to `last`
    // Acquire pairs with the release store below.
    while (!stop_doomed.load(std::memory_order_acquire)) {
      Topic* t = doomed.load(std::memory_order_acquire);  // pairs with the deleter's release store
      if (t == nullptr) {
        std::this_thread::yield();
        continue;
      }
      if (t != last) last = t, last_seq = 0;
      std::this_thread::yield();  // leave the cores to the round's producers
      auto r = t->publish(stamp(0, ok, 16));
      if (r.ok()) {
        ++ok;
        last_seq = *r + 1;
        // A sequence the topic published; a deleted topic keeps its count.
        if (t->published() < last_seq) f.add("a publish returned a sequence its topic never published");
      } else if (r.status().code() != Code::kNotFound && r.status().code() != Code::kClosed) {
        f.add("publish racing delete_topic: " + r.status().to_string());
      }
    }
    totals.published.fetch_add(ok, std::memory_order_relaxed);  // relaxed: a statistic
  });
  threads.emplace_back([&] {
    std::mt19937_64 rng(seed * 131 + 7);
    for (int i = 0; !engine->closed(); ++i) {
      const std::string name = "doomed-" + std::to_string(i % 3);
      auto r = engine->create_topic(name, topic_options(static_cast<int>(rng() % 2)));
      if (!r.ok()) {
        if (r.status().code() != Code::kClosed) f.add("create_topic " + name + ": " + r.status().to_string());
        break;
      }
      Topic* t = *r;
      if (t->published() != 0) f.add(name + " created again did not start empty");
      doomed.store(t, std::memory_order_release);                     // pairs with the publisher's acquire
      totals.topics_created.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
      if (rng() % 2 == 0) {
        auto sub = t->subscribe({.slow = SlowPolicy::kLoseOldest});
        if (sub.ok()) {
          std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
          const Status busy = engine->delete_topic(name);
          if (busy.code() == Code::kBusy)
            totals.deletes_refused.fetch_add(1, std::memory_order_relaxed);  // a statistic
          else if (busy.code() != Code::kClosed)
            f.add("delete_topic with a subscriber open: " + busy.to_string());
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
      const Status s = engine->delete_topic(name);
      if (!s.ok()) {
        if (s.code() != Code::kClosed) f.add("delete_topic " + name + ": " + s.to_string());
        break;
      }
      totals.topics_deleted.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
      const Code late = t->publish("late").status().code();
      if (late != Code::kNotFound && !(late == Code::kClosed && engine->closed()))
        f.add("a publish after delete_topic did not fail with kNotFound");
    }
  });

  std::this_thread::sleep_for(length);
  engine->close();                                     // while the producers publish
  stop_doomed.store(true, std::memory_order_release);  // pairs with the racing publisher's acquire
  // Release pairs with the acquire in drained_by().
  closed_at_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_release);
  stop_churn.store(true, std::memory_order_release);  // release: pairs with the churn thread's acquire
  for (auto& th : threads) th.join();

  for (std::size_t i = 0; i < std::min(created[0].size(), created[1].size()); ++i)
    if (created[0][i] != created[1][i]) f.add("two creators of one topic name got different topics");
  for (int t = 0; t < kTopics; ++t) {
    const std::uint64_t published = topics[t]->published();
    std::uint64_t acked_total = 0;
    for (int p = 0; p < kProducers; ++p) {
      acked_total += acked[p][t];
      const std::uint64_t seen = full_checks[t].seen_from(p);
      if (seen != acked[p][t])
        f.add(std::string(kTopicNames[t]) + ": the full reader saw " + std::to_string(seen) + " records of producer " +
              std::to_string(p) + ", which was told " + std::to_string(acked[p][t]));
    }
    if (published != acked_total)
      f.add(std::string(kTopicNames[t]) + ": published " + std::to_string(published) + ", acknowledged " +
            std::to_string(acked_total));
    // Every published record acked exactly once by the group, nothing beyond.
    for (std::uint64_t s = 0; s < acks_of[t].size(); ++s) {
      const unsigned n = acks_of[t][s].load(std::memory_order_relaxed);  // relaxed: after join()
      if ((s < published && n != 1) || (s >= published && n != 0)) {
        f.add(std::string("work group on ") + kTopicNames[t] + ": sequence " + std::to_string(s) + " acked " +
              std::to_string(n) + " times (published " + std::to_string(published) + ")");
        break;
      }
    }
  }
  full.clear();
  engine.reset();
  fs::remove_all(dir);
  totals.rounds.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
}

// --duration=N or --duration N on the command line, else CONDUIT_STRESS_SECONDS.
double duration_seconds(double fallback) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string a; std::getline(in, a, '\0');) args.push_back(a);
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--duration=", 0) == 0) return std::stod(args[i].substr(11));
    if (args[i] == "--duration" && i + 1 < args.size()) return std::stod(args[i + 1]);
  }
  if (const char* v = std::getenv("CONDUIT_STRESS_SECONDS")) return std::stod(v);
  return fallback;
}

}  // namespace

TEST_CASE(
    "randomized rounds of producers, churning subscribers, nacking work groups, new topics and close keep every "
    "invariant") {
  const double seconds = duration_seconds(3.0);
  const char* one = std::getenv("CONDUIT_STRESS_SEED");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  Totals totals;
  Failures f;
  std::uint64_t seed = one ? std::strtoull(one, nullptr, 10) : 1;
  do {
    std::mt19937_64 rng(seed);
    const auto length = std::chrono::milliseconds(100 + rng() % 400);
    run_round(seed, length, totals, f);
    if (f.count() != 0) break;
    ++seed;
  } while (!one && std::chrono::steady_clock::now() < deadline);
  MESSAGE("stress: " << totals.rounds.load() << " rounds in " << seconds << " s: " << totals.published.load()
                     << " publishes, " << totals.read.load() << " records read by full readers, " << totals.acks.load()
                     << " acks, " << totals.nacks.load() << " nacks, " << totals.subscriptions.load()
                     << " churn subscriptions (" << totals.lost.load() << " records reported lost), "
                     << totals.topics_created.load() << " topics created, " << totals.topics_deleted.load()
                     << " deleted (" << totals.deletes_refused.load() << " refused while in use)");
  INFO("seed " << seed << " (CONDUIT_STRESS_SEED=" << seed << "): " << f.count()
               << " failures, the first: " << f.first());
  CHECK(f.count() == 0);
  CHECK(totals.published.load() > 0);
  CHECK(totals.nacks.load() > 0);
  CHECK(totals.topics_deleted.load() > 0);
}
