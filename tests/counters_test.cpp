// The live counters file (DATA_DIR/counters, common/counters.h): its values
// against the in-process stats() under a running workload, lag in time on a
// manual clock, rows freed when readers go, and its header's checks.
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <conduit/reader.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <chrono>
#include <fstream>
#include <optional>
#include <thread>

#include "common/counters.h"
#include "common/disk_names.h"
#include "tests/support/helpers.h"
#include "tests/support/manual_clock.h"

namespace conduit::test {
namespace {

namespace ct = counters;
using namespace std::chrono_literals;

std::vector<ct::Row> file_rows(const TempDir& dir) {
  std::string error;
  auto f = ct::CountersFile::open(dir.path.string(), &error);
  REQUIRE_MESSAGE(f.is_open(), error);
  return f.rows();
}

std::optional<ct::Row> find_row(const std::vector<ct::Row>& rows, ct::RowKind kind, const std::string& topic,
                                const std::string& name = "") {
  for (const auto& r : rows)
    if (r.kind == kind && r.topic == topic && r.name == name) return r;
  return std::nullopt;
}

// Engine options with the refresher's own timer out of the way: the test
// refreshes when it wants (a timer that also ran would not change the
// bounds the test checks, only make a failure harder to read).
EngineOptions options_for(const TempDir& dir) {
  EngineOptions o;
  o.data_dir = dir.path.string();
  o.counters_interval = std::chrono::hours(1);
  return o;
}

TEST_CASE("the counters file is 0600, with its header, and names the engine's disk I/O path") {
  TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  struct stat st {};
  REQUIRE(::stat(disk::counters_path(dir.path.string()).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const auto rows = file_rows(dir);
  REQUIRE(!rows.empty());
  CHECK(rows[0].kind == ct::RowKind::kEngine);
  CHECK(rows[0].name == engine->disk_io_description());
  CHECK(rows[0].values[ct::kRefreshes] >= 1);
}

TEST_CASE("the file's values match stats() while a publisher runs") {
  TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  Topic* topic = engine->create_topic("orders", small_async()).value();
  SubscriberOptions so;
  so.name = "audit";
  so.start = StartAt::earliest();
  auto sub = topic->subscribe(so).value();
  WorkGroup* group = topic->work_group("billing").value();
  auto consumer = group->consumer().value();

  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::thread publisher([&] {
    // Relaxed: a stop flag and a count, both read after the join.
    while (!stop.load(std::memory_order_relaxed))
      if (!topic->publish("some payload bytes").ok()) failed.fetch_add(1, std::memory_order_relaxed);
  });
  std::array<RecordView, 64> views;
  std::array<Delivery, 16> deliveries;
  for (int round = 0; round < 20; ++round) {
    // Readers move between rounds; the publisher never stops.
    (void)sub->poll(views, 10ms);
    const PollResult got = consumer->poll(deliveries, 10ms);
    for (std::size_t i = 0; i < got.count; ++i)
      if (i % 2 == 0) consumer->ack(deliveries[i]);  // the rest stay in flight
    const TopicStats before = topic->stats();
    const std::uint64_t durable_before = topic->durable();
    const WorkGroupStats group_before = group->stats();
    REQUIRE(engine->refresh_counters().ok());
    const TopicStats after = topic->stats();
    const std::uint64_t durable_after = topic->durable();
    const std::uint64_t claimed_after = topic->claimed();
    const WorkGroupStats group_after = group->stats();
    const auto rows = file_rows(dir);

    const auto t = find_row(rows, ct::RowKind::kTopic, "orders");
    REQUIRE(t);
    CHECK(t->values[ct::kPublished] >= before.published);
    CHECK(t->values[ct::kPublished] <= after.published);
    CHECK(t->values[ct::kDurable] >= durable_before);
    CHECK(t->values[ct::kDurable] <= durable_after);
    CHECK(t->values[ct::kClaimed] >= t->values[ct::kPublished]);
    CHECK(t->values[ct::kClaimed] <= claimed_after);
    CHECK(t->values[ct::kSegments] >= before.segments);
    CHECK(t->values[ct::kSegments] <= after.segments);
    CHECK(t->values[ct::kBytes] == t->values[ct::kSegments] * topic->options().segment_bytes);

    const auto s = find_row(rows, ct::RowKind::kSubscriber, "orders", "audit");
    REQUIRE(s);
    // This thread alone moves the subscriber: its position is exact.
    CHECK(s->values[ct::kPosition] == sub->position());
    CHECK(s->values[ct::kLagRecords] >= before.published - sub->position());
    CHECK(s->values[ct::kLagRecords] <= after.published - sub->position());
    CHECK(s->values[ct::kLost] == sub->lost());
    // Lag against the topic row's own published count: one refresh, one watermark.
    const std::uint64_t row_published = t->values[ct::kPublished], at = s->values[ct::kPosition];
    CHECK(s->values[ct::kLagRecords] == (row_published > at ? row_published - at : 0));

    const auto g = find_row(rows, ct::RowKind::kWorkGroup, "orders", "billing");
    REQUIRE(g);
    // This thread alone acks: floor, in flight and the rest are exact.
    CHECK(g->values[ct::kPosition] == group_after.ack_floor);
    CHECK(g->values[ct::kPosition] == group_before.ack_floor);
    CHECK(g->values[ct::kInFlight] == group_after.in_flight);
    CHECK(g->values[ct::kRedelivered] == group_after.redelivered);
    CHECK(g->values[ct::kDeadLettered] == group_after.dead_lettered);
    CHECK(g->values[ct::kTimedOut] == group_after.timed_out);
    CHECK(g->values[ct::kLost] == group_after.lost);
    CHECK(g->values[ct::kLagRecords] >= before.published - group_before.ack_floor);
    CHECK(g->values[ct::kLagRecords] <= after.published - group_after.ack_floor);
  }
  stop.store(true, std::memory_order_relaxed);  // relaxed: see the loop
  publisher.join();
  CHECK(failed.load(std::memory_order_relaxed) == 0);  // relaxed: after the join
  // The sync rounds the persistence thread ran are counted, each in one
  // bucket (at least the one that makes the last record durable).
  REQUIRE(topic->await_durable(topic->published() - 1, 30s).ok());
  REQUIRE(engine->refresh_counters().ok());
  const auto t = find_row(file_rows(dir), ct::RowKind::kTopic, "orders");
  REQUIRE(t);
  std::uint64_t bucketed = 0;
  for (std::size_t i = 0; i < ct::kLatencyBuckets; ++i) bucketed += t->values[ct::kSyncLatency + i];
  CHECK(t->values[ct::kSyncRounds] > 0);
  CHECK(bucketed == t->values[ct::kSyncRounds]);
  CHECK(t->values[ct::kSyncFailures] == 0);
  CHECK(file_rows(dir)[0].values[ct::kPersistenceRounds] > 0);
}

// An engine on a manual clock with one persisted topic "t".
struct ClockedTopic {
  TempDir dir;
  ManualClock clock;
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  ClockedTopic() {
    EngineOptions o = options_for(dir);
    o.clock = clock.function();
    engine = Engine::open(o).value();
    topic = engine->create_topic("t", small_async()).value();
  }
};

TEST_CASE("lag in time is the engine clock now minus the oldest unread record's timestamp") {
  ClockedTopic f;
  auto& [dir, clock, engine, topic] = f;
  SubscriberOptions so;
  so.name = "slow";
  so.start = StartAt::earliest();
  auto sub = topic->subscribe(so).value();
  REQUIRE(topic->work_group("g").ok());

  const std::int64_t t0 = clock.now();
  REQUIRE(topic->publish("a").ok());  // stamped t0
  clock.advance(3s);
  REQUIRE(topic->publish("b").ok());  // stamped t0 + 3 s
  clock.advance(4s);                  // now t0 + 7 s

  REQUIRE(engine->refresh_counters().ok());
  auto rows = file_rows(dir);
  auto s = find_row(rows, ct::RowKind::kSubscriber, "t", "slow");
  auto g = find_row(rows, ct::RowKind::kWorkGroup, "t", "g");
  REQUIRE(s);
  REQUIRE(g);
  CHECK(s->values[ct::kLagKnown] == 1);
  CHECK(s->values[ct::kLagNs] == static_cast<std::uint64_t>(clock.now() - t0));
  CHECK(s->values[ct::kLagNs] == 7'000'000'000u);
  CHECK(s->values[ct::kLagRecords] == 2);
  CHECK(g->values[ct::kLagNs] == 7'000'000'000u);

  // One read: the oldest unread record is now "b", stamped 3 s after "a".
  std::array<RecordView, 1> one;
  REQUIRE(sub->poll(one, 1s).count == 1);
  clock.advance(1s);
  REQUIRE(engine->refresh_counters().ok());
  s = find_row(file_rows(dir), ct::RowKind::kSubscriber, "t", "slow");
  REQUIRE(s);
  CHECK(s->values[ct::kPosition] == 1);
  CHECK(s->values[ct::kLagNs] == 5'000'000'000u);  // (t0 + 8 s) - (t0 + 3 s)

  // Caught up: no lag at all.
  REQUIRE(sub->poll(one, 1s).count == 1);
  REQUIRE(engine->refresh_counters().ok());
  s = find_row(file_rows(dir), ct::RowKind::kSubscriber, "t", "slow");
  REQUIRE(s);
  CHECK(s->values[ct::kLagRecords] == 0);
  CHECK(s->values[ct::kLagNs] == 0);
  CHECK(s->values[ct::kLagKnown] == 1);
}

TEST_CASE("a named LogReader's committed position is a row of its own") {
  ClockedTopic f;
  auto& [dir, clock, engine, topic] = f;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(topic->publish("x").ok());
    clock.advance(1s);
  }
  REQUIRE(topic->await_durable(4, 10s).ok());
  LogReaderOptions ro;
  ro.name = "exporter";
  ro.start = StartAt::earliest();
  auto reader = LogReader::open(dir.path.string(), "t", ro).value();
  std::array<RecordView, 2> two;
  REQUIRE(reader->poll(two, 1s).value().count == 2);
  REQUIRE(reader->commit().ok());
  REQUIRE(engine->refresh_counters().ok());
  const auto r = find_row(file_rows(dir), ct::RowKind::kLogReader, "t", "exporter");
  REQUIRE(r);
  CHECK(r->values[ct::kPosition] == 2);
  CHECK(r->values[ct::kLagRecords] == 3);
  // Record 2 was stamped at t0 + 2 s; the clock is at t0 + 5 s.
  CHECK(r->values[ct::kLagNs] == 3'000'000'000u);
}

TEST_CASE("rows are freed when their reader goes, and reused") {
  TempDir dir;
  auto engine = Engine::open(options_for(dir)).value();
  Topic* topic = engine->create_topic("t", small_async()).value();
  auto a = topic->subscribe().value();  // unnamed: still a row
  REQUIRE(engine->refresh_counters().ok());
  auto rows = file_rows(dir);
  auto unnamed = find_row(rows, ct::RowKind::kSubscriber, "t", "");
  REQUIRE(unnamed);
  const std::size_t index = unnamed->index;
  a.reset();
  REQUIRE(engine->refresh_counters().ok());
  CHECK_FALSE(find_row(file_rows(dir), ct::RowKind::kSubscriber, "t", ""));
  // The freed row is read as free, not as a stale subscriber.
  {
    std::string error;
    auto f = ct::CountersFile::open(dir.path.string(), &error);
    REQUIRE(f.is_open());
    for (const auto& r : f.rows()) CHECK(r.index != index);
  }
  SubscriberOptions so;
  so.name = "b";
  auto b = topic->subscribe(so).value();
  REQUIRE(engine->refresh_counters().ok());
  const auto named = find_row(file_rows(dir), ct::RowKind::kSubscriber, "t", "b");
  REQUIRE(named);
  CHECK(named->index == index);  // lowest free row first
  // A deleted topic's rows go too.
  b.reset();
  REQUIRE(engine->delete_topic("t").ok());
  REQUIRE(engine->refresh_counters().ok());
  CHECK(file_rows(dir).size() == 1);  // the engine row
}

TEST_CASE("no counters file: a memory-only engine, or counters_interval 0") {
  auto memory = Engine::open().value();
  CHECK(memory->refresh_counters().code() == Code::kUnsupported);
  TempDir dir;
  EngineOptions o;
  o.data_dir = dir.path.string();
  o.counters_interval = std::chrono::milliseconds(0);
  auto engine = Engine::open(o).value();
  CHECK(engine->refresh_counters().code() == Code::kUnsupported);
  CHECK_FALSE(std::filesystem::exists(disk::counters_path(dir.path.string())));
}

TEST_CASE("an engine that cannot make the counters file says so and runs without it") {
  TempDir dir;
  // A directory where the file's temporary name goes: open(O_CREAT) fails.
  std::filesystem::create_directory(disk::tmp_path(disk::counters_path(dir.path.string())));
  std::unique_ptr<Engine> engine;
  const std::string said = stderr_of([&] { engine = Engine::open(options_for(dir)).value(); });
  CHECK(said.find("no live counters file") != std::string::npos);
  CHECK(said.find("counters.tmp") != std::string::npos);
  CHECK(engine->refresh_counters().code() == Code::kUnsupported);
  CHECK(engine->create_topic("t", small_async()).ok());
}

TEST_CASE("the refresher's own timer updates the file") {
  TempDir dir;
  EngineOptions o;
  o.data_dir = dir.path.string();
  o.counters_interval = std::chrono::milliseconds(5);
  auto engine = Engine::open(o).value();
  Topic* topic = engine->create_topic("t", small_async()).value();
  REQUIRE(topic->publish("x").ok());
  // No forced refresh: wait (no time bound asserted) until the timer ran.
  std::optional<ct::Row> t;
  for (int i = 0; i < 2000 && !(t && t->values[ct::kPublished] == 1); ++i) {
    std::this_thread::sleep_for(5ms);
    t = find_row(file_rows(dir), ct::RowKind::kTopic, "t");
  }
  REQUIRE(t);
  CHECK(t->values[ct::kPublished] == 1);
}

TEST_CASE("a counters file that is not one is refused, naming the file and offset") {
  TempDir dir;
  const std::string path = disk::counters_path(dir.path.string());
  std::string error;
  CHECK_FALSE(ct::CountersFile::open(dir.path.string(), &error).is_open());
  CHECK(error.find(path) != std::string::npos);
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(2048, 'x');
  }
  error.clear();
  CHECK_FALSE(ct::CountersFile::open(dir.path.string(), &error).is_open());
  CHECK(error.find(path + ": offset 0: magic") != std::string::npos);
  {
    std::ofstream out(path, std::ios::binary);
    out << "short";
  }
  error.clear();
  CHECK_FALSE(ct::CountersFile::open(dir.path.string(), &error).is_open());
  CHECK(error.find("shorter than") != std::string::npos);
}

}  // namespace
}  // namespace conduit::test
