// conduit-log stat, run as another process: it reads the counters file of
// the engine in this process while a publisher runs (the counters move),
// as a table, JSON and Prometheus text, and says what is wrong with a data
// directory that has no counters file.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/support/conduit_log_tool.h"
#include "tests/support/helpers.h"

namespace conduit::test {
namespace {

using log_tool::run_tool;
using namespace std::chrono_literals;

// The JSON's topic "orders" published count, from the tool's one line.
std::int64_t published_of(const std::string& json) {
  const std::size_t at = json.find("{\"topic\":\"orders\"");
  REQUIRE(at != std::string::npos);
  return log_tool::json_int(json.substr(at), "published");
}

struct Workload {
  TempDir dir;
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  std::unique_ptr<Subscriber> sub;
  std::atomic<bool> stop{false};
  std::thread publisher;

  Workload() {
    EngineOptions o;
    o.data_dir = dir.path.string();
    o.counters_interval = 10ms;
    engine = Engine::open(o).value();
    topic = engine->create_topic("orders", small_async()).value();
    SubscriberOptions so;
    so.name = "audit";
    sub = topic->subscribe(so).value();  // never polls: its lag grows
    REQUIRE(topic->work_group("billing").ok());
    publisher = std::thread([this] {
      // Relaxed: a stop flag; the thread is joined.
      while (!stop.load(std::memory_order_relaxed)) {
        (void)topic->publish("payload");
        std::this_thread::sleep_for(50us);
      }
    });
  }
  ~Workload() {
    stop.store(true, std::memory_order_relaxed);  // relaxed: see the thread
    publisher.join();
  }
};

TEST_CASE("stat --json in another process sees the counters move while a publisher runs") {
  Workload w;
  const std::string dir = w.dir.path.string();
  std::int64_t first = -1, last = -1;
  // No time bound asserted: until two reads differ (the refresher runs every 10 ms).
  for (int i = 0; i < 500 && (first < 0 || last <= first); ++i) {
    const auto r = run_tool({"stat", dir, "--json"});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    (first < 0 ? first : last) = published_of(r.out);
    if (i == 0) {
      CHECK(log_tool::json_int(r.out, "writer_pid") == ::getpid());
      CHECK(r.out.find("\"writer_running\":true") != std::string::npos);
      CHECK(r.out.find("\"kind\":\"subscriber\",\"name\":\"audit\"") != std::string::npos);
      CHECK(r.out.find("\"kind\":\"work_group\",\"name\":\"billing\"") != std::string::npos);
      CHECK(r.out.find("\"disk_io\":\"" + w.engine->disk_io_description()) != std::string::npos);
    }
    std::this_thread::sleep_for(20ms);
  }
  CHECK(last > first);
  CHECK(first >= 0);
}

TEST_CASE("stat as a table, for one topic, and as Prometheus text") {
  Workload w;
  const std::string dir = w.dir.path.string();
  REQUIRE(w.engine->create_topic("other", small_async()).ok());
  REQUIRE(w.engine->refresh_counters().ok());
  auto r = run_tool({"stat", dir, "orders"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("TOPIC") != std::string::npos);
  CHECK(r.out.find("orders") != std::string::npos);
  CHECK(r.out.find("audit") != std::string::npos);
  CHECK(r.out.find("other") == std::string::npos);

  r = run_tool({"stat", dir, "--prometheus"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("# HELP conduit_topic_published_total ") != std::string::npos);
  CHECK(r.out.find("# TYPE conduit_topic_published_total counter\n") != std::string::npos);
  CHECK(r.out.find("conduit_topic_published_total{topic=\"orders\"} ") != std::string::npos);
  CHECK(r.out.find("conduit_topic_published_total{topic=\"other\"} 0\n") != std::string::npos);
  CHECK(r.out.find("conduit_reader_lag_records{topic=\"orders\",kind=\"subscriber\",name=\"audit\"} ") !=
        std::string::npos);
  CHECK(r.out.find("conduit_topic_sync_duration_seconds_bucket{topic=\"orders\",le=\"+Inf\"} ") != std::string::npos);
  // HELP and TYPE once per metric.
  std::size_t helps = 0;
  for (std::size_t p = 0; (p = r.out.find("# TYPE conduit_topic_published_total ", p)) != std::string::npos; ++p)
    ++helps;
  CHECK(helps == 1);
}

TEST_CASE("stat -w redraws until stopped") {
  Workload w;
  int fd = -1;
  const std::string err = (std::filesystem::temp_directory_path() / ("stat-w-" + std::to_string(::getpid()))).string();
  const pid_t pid = log_tool::spawn({"stat", w.dir.path.string(), "-w", "0.05"}, &fd, err);
  log_tool::KillOnExit guard{pid};
  log_tool::LineReader lines(fd);
  auto headers = [&] {
    int n = 0;
    for (const auto& l : lines.lines) n += l.rfind("TOPIC", 0) == 0 ? 1 : 0;
    return n;
  };
  lines.read_until([&] { return headers() >= 6; });  // two tables per redraw
  CHECK(headers() >= 6);
  ::close(fd);
  std::filesystem::remove(err);
}

TEST_CASE("stat without a counters file, and bad usage") {
  TempDir dir;
  auto r = run_tool({"stat", dir.path.string()});
  CHECK(r.code == 1);
  CHECK(r.err.find(dir.path.string() + "/counters") != std::string::npos);
  r = run_tool({"stat", dir.path.string(), "--json", "--prometheus"});
  CHECK(r.code == 2);
  r = run_tool({"stat", dir.path.string(), "-w", "soon"});
  CHECK(r.code == 2);
  CHECK(r.err.find("-w wants a number of seconds") != std::string::npos);
  r = run_tool({"stat", dir.path.string(), "--listen", "nowhere"});
  CHECK(r.code == 2);
}

}  // namespace
}  // namespace conduit::test
