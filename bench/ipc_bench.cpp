// One-way latency and throughput from a writer to a reader, three ways, in
// the same run:
//   BM_Ipc/raw_shm_ring       the baseline: two processes, a single-producer
//                             ring of 64-byte slots in shared memory written
//                             for this benchmark (a sequence word per slot)
//   BM_Ipc/conduit_in_process a writer thread publishing to a persisted
//                             (async) topic, a Subscriber on another thread
//   BM_Ipc/conduit_cross_process
//                             a writer process publishing to the same kind
//                             of topic, a LogReader in this process
//   BM_Ipc/conduit_attached   the same writer process, an AttachedSubscriber
//                             (conduit/attach_subscriber.h) in this process:
//                             the LogReader's path plus its connection
//   BM_IpcShm                 a memory-only topic (doc/ipc.md, "Shared
//                             memory-only topics"), in turns in one run:
//                             a writer thread and a Subscriber in one
//                             process (in_*), then the writer's process and
//                             an AttachedSubscriber in another (shm_*);
//                             ratio = shm / in-process throughput (medians
//                             of kShmRounds turns each), and each side's
//                             p50/p99/p99.9 when paced
//   BM_IpcGroup/in_process    a writer thread publishing to a persisted
//                             (async) topic, one work-group Consumer on
//                             another thread, acking each polled batch
//   BM_IpcGroup/cross_process the same group's consumer in another process,
//                             attached (conduit/attach.h): its ratio to
//                             in_process is what crossing processes costs
//   BM_IpcGroup/cross_process_ack_later
//                             the same, each batch's acks carried on the
//                             next poll (AttachedConsumer::ack_later): one
//                             round trip per batch instead of two
//   BM_IpcGroup/cross_process_prefetch
//                             the same as ack_later, and the next 256
//                             asked for before the current batch is
//                             processed (AttachedConsumer::prefetch): the
//                             owner's work and the consumer's overlap,
//                             and four polls of 64 share a round trip
// (bench/ipc_ping_bench.cpp has the round trip between two processes.)
// Each message is 64 bytes: a counter and the send time (CLOCK_MONOTONIC,
// one clock for both processes). Latency = receive time - send time.
//
// pace_ns: 0 sends as fast as possible (throughput: items_per_second; the
// work-group cases also cpu_ns_per_msg: the CPU time, user and system, of
// every thread of both processes from the first publish to the last ack,
// per message: what a loaded machine, with no idle core to hide the extra
// work on, pays);
// otherwise one message every pace_ns, each timed from when it was due, not
// from when it went out (no coordinated omission), and the counters p50_us,
// p99_us, p999_us, max_us are exact percentiles over all messages.
//
// Threads: a writer and a busy-spinning reader, one per core of a 2-core
// machine; the async topic's persistence thread wakes every few ms.
#include <benchmark/benchmark.h>
#include <conduit/conduit.h>
#include <conduit/attach.h>
#include <conduit/reader.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace conduit;
namespace fs = std::filesystem;

// Messages per run: 20,000, or CONDUIT_IPC_MESSAGES (inherited by the
// worker process). The default is a burst of a few milliseconds, most of
// it the set-up's page faults; 400,000 shows the steady state.
std::uint64_t messages_from_env() {
  const char* s = std::getenv("CONDUIT_IPC_MESSAGES");
  const std::uint64_t n = s != nullptr ? std::strtoull(s, nullptr, 10) : 0;
  return n != 0 ? n : 20000;
}
const std::uint64_t kMessages = messages_from_env();
constexpr const char* kTopic = "ipc";

std::int64_t mono_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Payload {
  std::uint64_t counter;
  std::int64_t due_ns;  // when it was meant to be sent
  char pad[48];
};
static_assert(sizeof(Payload) == 64);

// Sends kMessages through `send`, paced from `start_ns` (0: unpaced).
template <class Send>
void drive(std::int64_t pace_ns, Send&& send) {
  const std::int64_t start = mono_ns();
  Payload p{};
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    p.counter = i;
    if (pace_ns != 0) {
      p.due_ns = start + static_cast<std::int64_t>(i) * pace_ns;
      while (mono_ns() < p.due_ns) {}
    } else {
      p.due_ns = mono_ns();
    }
    send(p);
  }
}

// What the reader side records: latencies, and whether everything came in order.
// This process's CPU time so far, all threads, user and system.
std::int64_t cpu_ns() noexcept {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto ns = [](const timeval& t) { return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_usec * 1000; };
  return ns(u.ru_utime) + ns(u.ru_stime);
}

struct Received {
  std::int64_t cpu_ns = 0;  // work-group cases: what the run cost, both processes
  std::vector<std::int64_t> latency_ns;
  bool in_order = true;
  std::int64_t first_ns = 0, last_ns = 0;
  void take(std::string_view bytes) {
    Payload p;
    std::memcpy(&p, bytes.data(), std::min(bytes.size(), sizeof p));
    const std::int64_t now = mono_ns();
    if (latency_ns.empty()) first_ns = now;
    last_ns = now;
    if (p.counter != latency_ns.size()) in_order = false;
    latency_ns.push_back(now - p.due_ns);
  }
};

void report(benchmark::State& state, Received& r, std::int64_t pace_ns) {
  if (!r.in_order || r.latency_ns.size() != kMessages) {
    state.SkipWithError("messages lost or out of order");
    return;
  }
  if (pace_ns == 0) {
    const double secs = static_cast<double>(r.last_ns - r.first_ns) / 1e9;
    state.counters["items_per_second"] = secs > 0 ? static_cast<double>(kMessages) / secs : 0;
    if (r.cpu_ns != 0) state.counters["cpu_ns_per_msg"] = static_cast<double>(r.cpu_ns) / kMessages;
    return;
  }
  std::sort(r.latency_ns.begin(), r.latency_ns.end());
  auto pct = [&](double q) {
    const auto idx = static_cast<std::size_t>(q * static_cast<double>(r.latency_ns.size() - 1));
    return static_cast<double>(r.latency_ns[idx]) / 1000.0;
  };
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
  state.counters["p999_us"] = pct(0.999);
  state.counters["max_us"] = static_cast<double>(r.latency_ns.back()) / 1000.0;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/conduit-ipc-bench-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

// A memory-only topic here is always a shared one (TopicOptions::shared):
// in process too, so that both sides of BM_IpcShm's ratio use the same
// kind. Its ring is small (4 x 1 MiB) and warmed (warm()) before a run.
TopicOptions topic_options(Durability d = Durability::kAsync) {
  TopicOptions t;
  t.durability = d;
  t.shared = d == Durability::kMemory;
  if (t.shared) {
    t.segment_bytes = 1u << 20;
    t.ring_bytes = 4u << 20;
    t.max_payload_bytes = 1024;
  }
  return t;
}

// A memory-only ring goes round once before a run, so that the run
// measures the ring as a long-lived topic has it (its segments' memory
// backed and reused) rather than the first touch of fresh memfd pages,
// which faults a page at a time where shared memory has no huge pages.
void warm(Topic* topic, Durability d) {
  if (d != Durability::kMemory) return;
  const Payload p{};
  const std::uint64_t records = (topic_options(d).ring_bytes + topic_options(d).segment_bytes) / sizeof(Payload);
  for (std::uint64_t i = 0; i < records; ++i)
    (void)topic->publish(std::string_view(reinterpret_cast<const char*>(&p), sizeof p));
}

// ------------------------------------------------------------ raw baseline ---

struct alignas(64) Slot {
  std::atomic<std::uint64_t> seq;  // counter + 1 once the payload is in
  Payload payload;
};
constexpr std::size_t kSlots = 4096;

void BM_Ipc_RawShmRing(benchmark::State& state) {
  const std::int64_t pace = state.range(0);
  for (auto _ : state) {
    void* mem = mmap(nullptr, sizeof(Slot) * kSlots + 64, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
      state.SkipWithError("mmap failed");
      return;
    }
    auto* slots = new (mem) Slot[kSlots]();
    auto* consumed = new (static_cast<char*>(mem) + sizeof(Slot) * kSlots) std::atomic<std::uint64_t>(0);
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      drive(pace, [&](const Payload& p) {
        // Acquire pairs with the reader's release of `consumed`: wait for room.
        while (p.counter >= consumed->load(std::memory_order_acquire) + kSlots) {}
        Slot& s = slots[p.counter % kSlots];
        s.payload = p;
        // Release pairs with the reader's acquire: the payload is in.
        s.seq.store(p.counter + 1, std::memory_order_release);
      });
      _exit(0);
    }
    Received r;
    r.latency_ns.reserve(kMessages);
    for (std::uint64_t i = 0; i < kMessages; ++i) {
      Slot& s = slots[i % kSlots];
      // Acquire pairs with the writer's release of seq.
      while (s.seq.load(std::memory_order_acquire) != i + 1) {}
      r.take(std::string_view(reinterpret_cast<const char*>(&s.payload), sizeof(Payload)));
      // Release pairs with the writer's acquire: the slot may be reused.
      consumed->store(i + 1, std::memory_order_release);
    }
    waitpid(pid, nullptr, 0);
    munmap(mem, sizeof(Slot) * kSlots + 64);
    report(state, r, pace);
  }
}

// ------------------------------------------------------------- in process ---

// A writer thread and a busy-spinning Subscriber of a topic of `d`.
Received in_process(std::int64_t pace, Durability d) {
  TempDir dir;
  EngineOptions eo;
  eo.data_dir = dir.path.string();
  auto engine = Engine::open(eo).value();
  Topic* topic = engine->create_topic(kTopic, topic_options(d)).value();
  warm(topic, d);
  SubscriberOptions so;
  so.start = StartAt::latest();
  so.wait = WaitStrategy::kBusySpin;
  auto sub = topic->subscribe(so).value();
  std::thread writer([&] {
    drive(pace, [&](const Payload& p) {
      (void)topic->publish(std::string_view(reinterpret_cast<const char*>(&p), sizeof p));
    });
  });
  Received r;
  r.latency_ns.reserve(kMessages);
  std::vector<RecordView> out(64);
  while (r.latency_ns.size() < kMessages) {
    PollResult pr = sub->poll(out, std::chrono::seconds(10));
    if (pr.count == 0) break;
    for (std::size_t i = 0; i < pr.count; ++i) r.take(out[i].payload());
  }
  writer.join();
  return r;
}

void BM_Ipc_ConduitInProcess(benchmark::State& state) {
  const std::int64_t pace = state.range(0);
  for (auto _ : state) {
    Received r = in_process(pace, Durability::kAsync);
    report(state, r, pace);
  }
}

// ---------------------------------------------------------- cross process ---

// The reader in this process: a LogReader, or (attached) an
// AttachedSubscriber of the writer process's engine; the topic of `d`.
// Not OK: what failed (the Received is then empty).
Status cross_process_once(std::int64_t pace, bool attached, Durability d, Received* got) {
  {
    TempDir dir;
    int ready[2], go[2];
    if (pipe(ready) != 0 || pipe(go) != 0) return Status::IOError("pipe failed");
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      EngineOptions eo;
      eo.data_dir = dir.path.string();
      auto engine = Engine::open(eo);
      if (!engine.ok()) _exit(1);
      auto topic = (*engine)->create_topic(kTopic, topic_options(d));
      if (!topic.ok()) _exit(2);
      warm(*topic, d);
      char c = 1;
      if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) _exit(3);
      drive(pace, [&](const Payload& p) {
        (void)(*topic)->publish(std::string_view(reinterpret_cast<const char*>(&p), sizeof p));
      });
      // Until the reader is done: a memory-only topic's reader in another
      // process reaches segments through this engine (it asks for each).
      (void)!read(go[0], &c, 1);
      (*engine)->close();
      _exit(0);
    }
    char c = 0;
    if (read(ready[0], &c, 1) != 1) return Status::IOError("writer process did not start");
    std::unique_ptr<LogReader> reader;
    std::unique_ptr<AttachedEngine> app;
    std::unique_ptr<AttachedSubscriber> sub;
    Status opened;
    if (attached) {
      SubscriberOptions so;
      so.start = StartAt::latest();
      so.wait = WaitStrategy::kBusySpin;
      auto a = AttachedEngine::attach(dir.path.string());
      auto s = a.ok() ? a.value()->subscribe(kTopic, so) : Result<std::unique_ptr<AttachedSubscriber>>(a.status());
      if (a.ok()) app = std::move(a).value();
      if (s.ok()) sub = std::move(s).value();
      opened = s.status();
    } else {
      LogReaderOptions ro;
      ro.start = StartAt::latest();
      ro.wait = WaitStrategy::kBusySpin;
      auto l = LogReader::open(dir.path.string(), kTopic, ro);
      if (l.ok()) reader = std::move(l).value();
      opened = l.status();
    }
    if (!opened.ok() || write(go[1], &c, 1) != 1) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return opened.ok() ? Status::IOError("pipe failed") : opened;
    }
    auto poll = [&](std::span<RecordView> out) -> std::size_t {
      if (sub) return sub->poll(out, std::chrono::seconds(10)).count;
      auto pr = reader->poll(out, std::chrono::seconds(10));
      return pr.ok() ? pr->count : 0;
    };
    Received& r = *got;
    r.latency_ns.reserve(kMessages);
    std::vector<RecordView> out(64);
    while (r.latency_ns.size() < kMessages) {
      const std::size_t n = poll(out);
      if (n == 0) break;
      for (std::size_t i = 0; i < n; ++i) r.take(out[i].payload());
    }
    (void)!write(go[1], &c, 1);  // done: the writer may close its engine
    waitpid(pid, nullptr, 0);
    for (int fd : {ready[0], ready[1], go[0], go[1]}) close(fd);
  }
  return Status::OK();
}

void cross_process(benchmark::State& state, bool attached) {
  const std::int64_t pace = state.range(0);
  for (auto _ : state) {
    Received r;
    if (Status s = cross_process_once(pace, attached, Durability::kAsync, &r); !s.ok()) {
      state.SkipWithError(s.message().c_str());
      return;
    }
    report(state, r, pace);
  }
}

void BM_Ipc_ConduitCrossProcess(benchmark::State& state) { cross_process(state, false); }
void BM_Ipc_ConduitAttached(benchmark::State& state) { cross_process(state, true); }

// ------------------------------------------------ shared memory-only topic ---

constexpr int kShmRounds = 7;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The in-process and the cross-process runs in turns; the ratio of their
// median throughputs (pace 0), or each side's percentiles over all its
// messages (paced).
void BM_IpcShm(benchmark::State& state) {
  const std::int64_t pace = state.range(0);
  for (auto _ : state) {
    std::vector<double> in_rate, shm_rate;
    Received in_all, shm_all;
    for (int round = 0; round < kShmRounds; ++round) {
      Received in = in_process(pace, Durability::kMemory), shm;
      if (Status s = cross_process_once(pace, true, Durability::kMemory, &shm); !s.ok()) {
        state.SkipWithError(s.message().c_str());
        return;
      }
      for (Received* r : {&in, &shm}) {
        if (!r->in_order || r->latency_ns.size() != kMessages) {
          state.SkipWithError("messages lost or out of order");
          return;
        }
      }
      auto rate = [](const Received& r) {
        return static_cast<double>(kMessages) / (static_cast<double>(r.last_ns - r.first_ns) / 1e9);
      };
      in_rate.push_back(rate(in));
      shm_rate.push_back(rate(shm));
      in_all.latency_ns.insert(in_all.latency_ns.end(), in.latency_ns.begin(), in.latency_ns.end());
      shm_all.latency_ns.insert(shm_all.latency_ns.end(), shm.latency_ns.begin(), shm.latency_ns.end());
    }
    if (pace == 0) {
      state.counters["in_items_per_second"] = median(in_rate);
      state.counters["shm_items_per_second"] = median(shm_rate);
      state.counters["ratio"] = median(shm_rate) / median(in_rate);
      continue;
    }
    for (auto& [name, r] : {std::pair<const char*, Received*>{"in", &in_all}, {"shm", &shm_all}}) {
      std::sort(r->latency_ns.begin(), r->latency_ns.end());
      auto pct = [&](double q) {
        const auto idx = static_cast<std::size_t>(q * static_cast<double>(r->latency_ns.size() - 1));
        return static_cast<double>(r->latency_ns[idx]) / 1000.0;
      };
      const std::string n(name);
      state.counters[n + "_p50_us"] = pct(0.50);
      state.counters[n + "_p99_us"] = pct(0.99);
      state.counters[n + "_p999_us"] = pct(0.999);
    }
  }
}

// ------------------------------------------------------------ work group ---

constexpr const char* kGroup = "g";

// Polls and acks a batch at a time until every message came: the same code
// for a Consumer and an AttachedConsumer (the same signatures). `later`:
// an AttachedConsumer's acks go with its next poll (ack_later).
template <class C>
void consume_group(C& consumer, Received& r, bool later = false) {
  r.latency_ns.reserve(kMessages);
  std::vector<Delivery> out(64);
  while (r.latency_ns.size() < kMessages) {
    PollResult pr = consumer.poll(out, std::chrono::seconds(10));
    if (pr.count == 0) break;
    // Taken in sequence order: one consumer, so the group hands them out in order.
    for (std::size_t i = 0; i < pr.count; ++i) r.take(out[i].record.payload());
    const std::span<const Delivery> done(out.data(), pr.count);
    if constexpr (requires { consumer.ack_later(done); }) {
      if (later) {
        consumer.ack_later(done);
        continue;
      }
    }
    (void)consumer.ack(done);
  }
}

void BM_IpcGroup_InProcess(benchmark::State& state) {
  const std::int64_t pace = state.range(0);
  for (auto _ : state) {
    TempDir dir;
    EngineOptions eo;
    eo.data_dir = dir.path.string();
    auto engine = Engine::open(eo).value();
    Topic* topic = engine->create_topic(kTopic, topic_options()).value();
    ConsumerOptions co;
    co.wait = WaitStrategy::kBusySpin;
    auto consumer = topic->work_group(kGroup).value()->consumer(co).value();
    const std::int64_t cpu0 = cpu_ns();
    std::thread writer([&] {
      drive(pace, [&](const Payload& p) {
        (void)topic->publish(std::string_view(reinterpret_cast<const char*>(&p), sizeof p));
      });
    });
    Received r;
    consume_group(*consumer, r);
    writer.join();
    r.cpu_ns = cpu_ns() - cpu0;
    report(state, r, pace);
  }
}

bool read_all(int fd, void* to, std::size_t n) {
  auto* p = static_cast<char*>(to);
  while (n != 0) {
    const ssize_t k = read(fd, p, n);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}
bool write_all(int fd, const void* from, std::size_t n) {
  const auto* p = static_cast<const char*>(from);
  while (n != 0) {
    const ssize_t k = write(fd, p, n);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

// The attached consumer's process: attaches once told the owner is up,
// says when its consumer exists, consumes, and sends back what it measured.
// How the attached consumer acks: ack(span) per batch; ack_later; ack_later
// with prefetch on.
enum class Acks { kEach, kLater, kPrefetch };
// Four polls' worth fetched ahead: one round trip per 256 deliveries.
constexpr std::size_t kPrefetchAhead = 256;

[[noreturn]] void group_child(const std::string& dir, int go, int back, Acks acks) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  char c = 0;
  if (read(go, &c, 1) != 1) _exit(1);
  auto attached = AttachedEngine::attach(dir);
  if (!attached.ok()) _exit(2);
  auto group = (*attached)->work_group(kTopic, kGroup);
  if (!group.ok()) _exit(3);
  ConsumerOptions co;
  co.wait = WaitStrategy::kBusySpin;
  auto consumer = (*group)->consumer(co);
  if (!consumer.ok() || write(back, &c, 1) != 1) _exit(4);
  (*consumer)->prefetch(acks == Acks::kPrefetch ? kPrefetchAhead : 0);
  Received r;
  const std::int64_t cpu0 = cpu_ns();
  consume_group(**consumer, r, acks != Acks::kEach);
  const std::int64_t cpu = cpu_ns() - cpu0;
  const std::uint64_t n = r.latency_ns.size();
  const std::int64_t head[4] = {r.in_order ? 1 : 0, r.first_ns, r.last_ns, cpu};
  if (!write_all(back, &n, sizeof n) || !write_all(back, head, sizeof head) ||
      !write_all(back, r.latency_ns.data(), n * sizeof(std::int64_t)))
    _exit(5);
  _exit(0);
}

void cross_process_group(benchmark::State& state, Acks acks) {
  const std::int64_t pace = state.range(0);
  for (auto _ : state) {
    TempDir dir;
    int go[2], back[2];
    if (pipe(go) != 0 || pipe(back) != 0) {
      state.SkipWithError("pipe failed");
      return;
    }
    // Forked before this process opens an engine (and starts its threads).
    const pid_t pid = fork();
    if (pid == 0) group_child(dir.path.string(), go[0], back[1], acks);
    EngineOptions eo;
    eo.data_dir = dir.path.string();
    auto engine = Engine::open(eo).value();
    Topic* topic = engine->create_topic(kTopic, topic_options()).value();
    (void)topic->work_group(kGroup).value();
    char c = 1;
    if (write(go[1], &c, 1) != 1 || read(back[0], &c, 1) != 1) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      state.SkipWithError("the consumer process did not attach");
      return;
    }
    const std::int64_t cpu0 = cpu_ns();  // the owner's side: writer, connection thread, engine
    std::thread writer([&] {
      drive(pace, [&](const Payload& p) {
        (void)topic->publish(std::string_view(reinterpret_cast<const char*>(&p), sizeof p));
      });
    });
    Received r;
    std::uint64_t n = 0;
    std::int64_t head[4] = {};
    bool ok = read_all(back[0], &n, sizeof n) && read_all(back[0], head, sizeof head);
    if (ok && n <= kMessages) {
      r.latency_ns.resize(n);
      ok = read_all(back[0], r.latency_ns.data(), n * sizeof(std::int64_t));
    }
    r.in_order = head[0] == 1;
    r.first_ns = head[1];
    r.last_ns = head[2];
    r.cpu_ns = head[3];
    writer.join();
    r.cpu_ns += cpu_ns() - cpu0;
    waitpid(pid, nullptr, 0);
    for (int fd : {go[0], go[1], back[0], back[1]}) close(fd);
    if (!ok) {
      state.SkipWithError("no results from the consumer process");
      return;
    }
    report(state, r, pace);
  }
}

void BM_IpcGroup_CrossProcess(benchmark::State& state) { cross_process_group(state, Acks::kEach); }
void BM_IpcGroup_CrossProcessAckLater(benchmark::State& state) { cross_process_group(state, Acks::kLater); }
void BM_IpcGroup_CrossProcessPrefetch(benchmark::State& state) { cross_process_group(state, Acks::kPrefetch); }

void args(benchmark::internal::Benchmark* b) {
  b->ArgName("pace_ns")->Arg(0)->Arg(10000)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK(BM_Ipc_RawShmRing)->Apply(args);
BENCHMARK(BM_Ipc_ConduitInProcess)->Apply(args);
BENCHMARK(BM_Ipc_ConduitCrossProcess)->Apply(args);
BENCHMARK(BM_Ipc_ConduitAttached)->Apply(args);
BENCHMARK(BM_IpcShm)->Apply(args);
BENCHMARK(BM_IpcGroup_InProcess)->Apply(args);
BENCHMARK(BM_IpcGroup_CrossProcess)->Apply(args);
BENCHMARK(BM_IpcGroup_CrossProcessAckLater)->Apply(args);
BENCHMARK(BM_IpcGroup_CrossProcessPrefetch)->Apply(args);

}  // namespace
