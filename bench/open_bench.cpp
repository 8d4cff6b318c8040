// Opening a large persisted log: after a clean close against after a crash.
//
//   BM_Open/clean        the topic was closed cleanly: the open trusts the
//       clean-close record and reads no record.
//   BM_Open/crash        a child process opened the topic and died without
//       closing it (_exit): the open checks every record (CRC32C pass).
//   BM_Open/verify       closed cleanly, opened with verify_on_open: the
//       same full check without the child.
//   each also /cold:     every segment file's pages are dropped from the
//       page cache (posix_fadvise DONTNEED) before the open, so the check
//       reads from the disk.
//   BM_CreateTopic/durability:N  create_topic of a new topic (1 = async,
//       2 = sync, whose first segment is written with zeros first).
//
// The time is Engine::open + create_topic (the recovery) only; the close,
// the child and the cache drop are outside the clock. Counters: records
// and bytes checked at open (Topic::recovery_stats), GiB/s of log checked.
//
// One log of CONDUIT_OPEN_BENCH_MIB MiB (default 1024) of 1 KiB records in
// 64 MiB segments is written once under $CONDUIT_BENCH_DIR (default
// ./conduit-bench-data) and removed at exit. Public headers only.
#include <benchmark/benchmark.h>
#include <conduit/conduit.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

namespace fs = std::filesystem;
constexpr const char* kTopic = "big";

std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

conduit::TopicOptions topic_options() {
  conduit::TopicOptions t;
  t.durability = conduit::Durability::kAsync;
  t.segment_bytes = 64u << 20;
  return t;
}

conduit::EngineOptions engine_options(const fs::path& dir, bool verify) {
  conduit::EngineOptions o;
  o.data_dir = dir.string();
  o.verify_on_open = verify;
  return o;
}

// The log, written on first use and removed at exit.
struct BigLog {
  fs::path dir;
  std::uint64_t records = 0;
  BigLog() {
    const char* base = std::getenv("CONDUIT_BENCH_DIR");
    dir = fs::absolute(base != nullptr ? base : "conduit-bench-data") / ("open-" + std::to_string(::getpid()));
    const std::size_t bytes = env_size("CONDUIT_OPEN_BENCH_MIB", 1024) << 20;
    auto engine = conduit::Engine::open(engine_options(dir, false)).value();
    conduit::Topic* t = engine->create_topic(kTopic, topic_options()).value();
    const std::string payload(1024 - 48, 'p');  // 1 KiB on disk with its header
    for (std::size_t written = 0; written < bytes; written += 1024)
      if (!t->publish(payload).ok()) std::abort();
    records = t->published();
  }
  ~BigLog() { fs::remove_all(dir); }
};

BigLog& big_log() {
  static BigLog log;
  return log;
}

// As a crash leaves it: a process opened the log and died without closing.
void crash_once(const fs::path& dir) {
  const pid_t child = ::fork();
  if (child == 0) {
    auto engine = conduit::Engine::open(engine_options(dir, false));
    ::_exit(engine.ok() && (*engine)->create_topic(kTopic, topic_options()).ok() ? 0 : 1);
  }
  int status = 0;
  if (child < 0 || ::waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    std::abort();
}

void drop_page_cache(const fs::path& dir) {
  for (auto& e : fs::directory_iterator(dir / "topics" / kTopic)) {
    if (e.path().extension() != ".seg") continue;
    const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

enum Mode { kClean, kCrash, kVerify };

void BM_Open(benchmark::State& state) {
  const auto mode = static_cast<Mode>(state.range(0));
  const bool cold = state.range(1) != 0;
  BigLog& log = big_log();
  conduit::RecoveryStats stats;
  for (auto _ : state) {
    if (mode == kCrash) crash_once(log.dir);
    if (cold) drop_page_cache(log.dir);
    const auto start = std::chrono::steady_clock::now();
    auto engine = conduit::Engine::open(engine_options(log.dir, mode == kVerify)).value();
    conduit::Topic* t = engine->create_topic(kTopic, topic_options()).value();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    state.SetIterationTime(took.count());
    stats = t->recovery_stats();
    if (t->published() != log.records || stats.clean != (mode == kClean)) std::abort();
  }
  state.counters["records_checked"] = static_cast<double>(stats.records_checked);
  state.counters["GiB_checked"] = static_cast<double>(stats.bytes_checked) / (1u << 30);
  state.counters["segments"] = static_cast<double>(stats.segments);
  state.counters["GiB_per_s"] = benchmark::Counter(static_cast<double>(stats.bytes_checked) / (1u << 30),
                                                   benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(mode == kClean   ? "clean"
                             : mode == kCrash ? "crash"
                                              : "verify") +
                 (cold ? ", cold cache" : ", warm cache"));
}

BENCHMARK(BM_Open)
    ->ArgNames({"mode", "cold"})
    ->ArgsProduct({{kClean, kCrash, kVerify}, {0, 1}})
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Creating a new topic, per durability: a kSync topic's first segment is
// written with zeros and synced before create_topic returns (its later
// segments are zeroed ahead by the persistence thread). Each iteration
// creates one more topic in a fresh engine's directory; the time is
// create_topic alone. Not the big log: no BigLog is written for this row.
void BM_CreateTopic(benchmark::State& state) {
  const auto durability = static_cast<conduit::Durability>(state.range(0));
  const char* base = std::getenv("CONDUIT_BENCH_DIR");
  const fs::path dir =
      fs::absolute(base != nullptr ? base : "conduit-bench-data") / ("create-" + std::to_string(::getpid()));
  {
    auto engine = conduit::Engine::open(engine_options(dir, false)).value();
    conduit::TopicOptions t = topic_options();
    t.durability = durability;
    int n = 0;
    for (auto _ : state) {
      const auto start = std::chrono::steady_clock::now();
      auto topic = engine->create_topic("t" + std::to_string(n++), t);
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      if (!topic.ok()) std::abort();
      state.SetIterationTime(took.count());
    }
  }
  fs::remove_all(dir);
  state.SetLabel(durability == conduit::Durability::kSync ? "sync, 64 MiB segments" : "async, 64 MiB segments");
}

BENCHMARK(BM_CreateTopic)
    ->ArgName("durability")
    ->Arg(static_cast<int>(conduit::Durability::kAsync))
    ->Arg(static_cast<int>(conduit::Durability::kSync))
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
