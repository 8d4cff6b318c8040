// What an operator sees of a running engine: the names of the threads it
// starts (and EngineOptions::on_thread_start running on each first), and
// its messages going through EngineOptions::log with a level, not stderr.
#include "tests/support/segment_probe.h"  // first: see its note on <linux/fs.h>
#include "tests/support/helpers.h"

#include <conduit/dispatcher.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace conduit;
using conduit::test::TempDir;

namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// What on_thread_start saw: each name, with the name the kernel gave the
// calling thread at that moment.
struct ThreadLog {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> started;  // guarded by mu

  std::function<void(std::string_view)> hook() {
    return [this](std::string_view name) {
      const std::string comm = read_text("/proc/thread-self/comm");
      std::lock_guard lk(mu);
      started.emplace_back(std::string(name), comm);
    };
  }
  std::multiset<std::string> names() {
    std::lock_guard lk(mu);
    std::multiset<std::string> out;
    for (const auto& entry : started) {  // no structured binding: clang 14's CHECK lambda cannot name one
      const std::string& name = entry.first;
      const std::string& comm = entry.second;
      CHECK_MESSAGE(comm == name, "thread " << name << " ran its hook as '" << comm << "'");
      out.insert(name);
    }
    return out;
  }
};

// The names of this process's threads now (/proc/self/task/*/comm).
std::multiset<std::string> task_names() {
  std::multiset<std::string> out;
  std::error_code ec;  // a thread may end while it is listed
  for (auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) out.insert(read_text(e.path() / "comm"));
  return out;
}

// Whether /proc/self/task shows `n` threads named `name` within 10 s: a
// joined thread's entry can outlive the join for a moment.
bool tasks_named(const std::string& name, std::size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (task_names().count(name) != n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// What EngineOptions::log was told.
struct Said {
  std::mutex mu;
  std::vector<std::pair<LogLevel, std::string>> lines;  // guarded by mu

  std::function<void(LogLevel, std::string_view)> sink() {
    return [this](LogLevel level, std::string_view message) {
      std::lock_guard lk(mu);
      lines.emplace_back(level, std::string(message));
    };
  }
  // The level of the first line containing `text`; nullopt: none.
  std::optional<LogLevel> level_of(std::string_view text) {
    std::lock_guard lk(mu);
    for (auto& [level, line] : lines)
      if (line.find(text) != std::string::npos) return level;
    return std::nullopt;
  }
};

// A named subscriber that reads nothing, on a topic whose hard cap then
// deletes what it has not consumed: the engine warns about it.
void overrun_hard_cap(Engine& engine) {
  TopicOptions o = test::small_async();
  o.retain_until_consumed = true;
  o.hard_cap_bytes = 2 * o.segment_bytes;
  Topic* t = engine.create_topic("capped", o).value();
  SubscriberOptions so;
  so.name = "idle";
  auto idle = t->subscribe(so).value();
  const std::string body(900, 'x');
  for (int i = 0; i < 1000; ++i) REQUIRE(t->publish(body).ok());
  REQUIRE(t->stats().cap_deletions >= 1);
}

}  // namespace

TEST_CASE("every thread the engine starts carries its name, and on_thread_start runs on it first") {
  TempDir dir;
  ThreadLog threads;
  EngineOptions eo = test::engine_options(dir, false);
  eo.on_thread_start = threads.hook();
  TopicOptions async = test::small_async();
  async.segment_bytes = 16u << 20;
  const std::string seg0 = (dir.path / "topics" / "t" / persistence::segment_file_name(0)).string();
  {
    auto engine = Engine::open(eo).value();
    Topic* t = engine->create_topic("t", async).value();
    for (int i = 0; i < 10; ++i) REQUIRE(t->publish("old").ok());
  }
  // An engine with a data directory: the persistence thread, the live
  // counters' refresher and the thread that lets other processes attach.
  CHECK(threads.names() == std::multiset<std::string>{"conduit-persist", "conduit-counter", "conduit-ipc"});
  // Reopened as a sync topic, the async tail's unwritten extents get zeros
  // from a thread of their own.
  const auto unwritten = test::unwritten_extents(seg0);
  std::multiset<std::string> expected = {"conduit-persist", "conduit-persist", "conduit-counter", "conduit-counter",
                                         "conduit-ipc",     "conduit-ipc",     "conduit-handler", "conduit-handler"};
  if (unwritten && *unwritten > 0)
    expected.insert("conduit-zero");
  else
    MESSAGE("no unwritten extents here (FIEMAP): the zero thread is not started");
  TopicOptions sync = async;
  sync.durability = Durability::kSync;
  test::forget_stored_options(dir, "t");
  auto engine = Engine::open(eo).value();
  Topic* t = engine->create_topic("t", sync).value();
  SubscriberOptions so;
  so.start = StartAt::earliest();
  Dispatcher records(t->subscribe(so).value(), [](const RecordView&) {});
  Dispatcher deliveries(t->work_group("g").value()->consumer().value(), [](const Delivery&) { return Decision(); });
  REQUIRE(t->publish("new").ok());
  CHECK(tasks_named("conduit-persist", 1));
  CHECK(tasks_named("conduit-handler", 2));
  records.stop();
  deliveries.stop();
  engine.reset();
  CHECK(threads.names() == expected);
  CHECK(tasks_named("conduit-persist", 0));  // joined
}

TEST_CASE("a dispatcher whose engine is gone starts its thread without the hook") {
  ThreadLog threads;
  EngineOptions eo;
  eo.on_thread_start = threads.hook();
  auto engine = Engine::open(eo).value();
  auto sub = engine->create_topic("m").value()->subscribe().value();
  engine.reset();
  Dispatcher d(std::move(sub), [](const RecordView&) {});
  d.join();  // ends at once: the engine is gone
  CHECK(threads.names().empty());
}

TEST_CASE("the engine's messages go to EngineOptions::log with a level, and nothing to stderr") {
  TempDir dir;
  Said said;
  const std::string err = test::stderr_of([&] {
    EngineOptions eo = test::engine_options(dir, true);
    eo.log = said.sink();
    auto engine = Engine::open(eo).value();
    overrun_hard_cap(*engine);
  });
  CHECK(err.empty());
  // The fallback was asked for: news, not a warning.
  CHECK(said.level_of("write-ahead log uses syscalls") == LogLevel::kInfo);
  CHECK(said.level_of("hard_cap_bytes (") == LogLevel::kWarning);
  CHECK(said.level_of("idle") == LogLevel::kWarning);
}

TEST_CASE("without a log callback a message goes to stderr as 'conduit: <level>: ...'") {
  TempDir dir;
  const std::string err = test::stderr_of([&] {
    auto engine = Engine::open(test::engine_options(dir, false)).value();
    overrun_hard_cap(*engine);
  });
  CHECK(err.find("conduit: warning: topic 'capped': hard_cap_bytes (") != std::string::npos);
}

TEST_CASE("recovery's notice of a torn tail moved aside comes through EngineOptions::log") {
  TempDir dir;
  const std::filesystem::path seg0 = dir.path / "topics" / "t" / persistence::segment_file_name(0);
  // A child publishes and exits without closing: the next open scans the log.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto engine = Engine::open(test::engine_options(dir, false));
    if (!engine.ok()) ::_exit(1);
    auto t = (*engine)->create_topic("t", test::small_async());
    if (!t.ok()) ::_exit(1);
    std::uint64_t last = 0;
    for (int i = 0; i < 5; ++i) last = (*t)->publish("record").value();
    ::_exit((*t)->await_durable(last, std::chrono::seconds(10)).ok() ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  {
    // Bytes after the last record, as a write that never became durable leaves.
    std::fstream f(seg0, std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const std::size_t end = (bytes.find_last_not_of('\0') / 64 + 1) * 64;
    f.seekp(static_cast<std::streamoff>(end));
    f.write(std::string(100, '\x5a').data(), 100);
  }
  Said said;
  const std::string err = test::stderr_of([&] {
    EngineOptions eo = test::engine_options(dir, false);
    eo.log = said.sink();
    auto engine = Engine::open(eo).value();
    REQUIRE(engine->create_topic("t", test::small_async()).value()->published() == 5);
  });
  CHECK(said.level_of("moved aside") == LogLevel::kWarning);
  CHECK(err.empty());
}
