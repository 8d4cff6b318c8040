// LogReader: a persisted topic read from another process through the mapped
// log. Start positions, segment rolls, retention gaps, named positions, and
// two real processes: a writer publishing (and killed at random points and
// restarted) while this process reads.
//
// fork() happens only while this process has no engine open, so the child
// starts from a single-threaded process (doctest runs cases on one thread).
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <conduit/reader.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/format.h"
#include "tests/support/temp_dir.h"

using namespace conduit;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using conduit::test::TempDir;

constexpr const char* kTopic = "ipc";

TopicOptions small_segments(Durability d = Durability::kAsync) {
  TopicOptions t;
  t.durability = d;
  t.max_payload_bytes = 1024;
  t.segment_bytes = 160u << 10;  // the smallest that holds two of the largest records
  return t;
}

std::unique_ptr<Engine> open_engine(const TempDir& dir) {
  EngineOptions o;
  o.data_dir = dir.path.string();
  return Engine::open(o).value();
}

std::string payload_of(std::uint64_t seq) {
  std::string s = std::to_string(seq);
  return "record-" + std::string(24 - s.size(), '0') + s;
}

// A record is whole when its CRC matches its bytes, and right when it is the
// one the writer published at its sequence.
bool intact(const RecordView& v, std::uint64_t seq) {
  const std::uint32_t crc = format::load<std::uint32_t>(v.data() + format::rec::kCrc);
  return v.sequence() == seq && v.payload() == payload_of(seq) && crc == format::record_crc(v.data(), v.size_bytes());
}

// Reads until `count` records came or `timeout` passes; checks each is the
// next in order and intact. Returns how many in-order intact records came.
std::uint64_t read_in_order(LogReader& reader, std::uint64_t first, std::uint64_t count,
                            std::chrono::milliseconds timeout = 10s) {
  std::vector<RecordView> out(64);
  std::uint64_t next = first;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (next < first + count && std::chrono::steady_clock::now() < deadline) {
    const std::size_t want = std::min<std::uint64_t>(out.size(), first + count - next);
    auto r = reader.poll(std::span<RecordView>(out.data(), want), 100ms);
    if (!r.ok() || r->lost != 0) {
      MESSAGE("poll: " << (r.ok() ? "lost " + std::to_string(r->lost) : r.status().message()));
      break;
    }
    for (std::size_t i = 0; i < r->count; ++i) {
      if (!intact(out[i], next)) {
        MESSAGE("record " << out[i].sequence() << " where " << next << " was expected, payload '" << out[i].payload()
                          << "'");
        return next - first;
      }
      ++next;
    }
  }
  return next - first;
}

LogReaderOptions start_at(StartAt s, WaitStrategy w = WaitStrategy::kAdaptive) {
  LogReaderOptions o;
  o.start = s;
  o.wait = w;
  return o;
}

}  // namespace

TEST_CASE("a reader starts at earliest, a sequence, latest or a time, and follows segment rolls") {
  TempDir dir;
  auto engine = open_engine(dir);
  Topic* topic = engine->create_topic(kTopic, small_segments()).value();
  constexpr std::uint64_t kCount = 10000;  // 56-byte records: about 3.4 segments of 160 KiB
  for (std::uint64_t i = 0; i < kCount; ++i) {
    const std::string payload = payload_of(i);  // Message holds views: keep the bytes alive
    Message m;
    m.payload = payload;
    m.timestamp_ns = static_cast<std::int64_t>(1'000'000 + i * 1000);
    REQUIRE(topic->publish(m).value() == i);
  }
  std::size_t segments = 0;
  for (const auto& e : fs::directory_iterator(dir.path / "topics" / kTopic)) segments += e.path().extension() == ".seg";
  REQUIRE(segments >= 3);

  auto earliest = LogReader::open(dir.path.string(), kTopic, start_at(StartAt::earliest())).value();
  CHECK(earliest->position() == 0);
  CHECK(read_in_order(*earliest, 0, kCount) == kCount);
  CHECK(earliest->lost() == 0);

  auto middle = LogReader::open(dir.path.string(), kTopic, start_at(StartAt::at(1234))).value();
  CHECK(read_in_order(*middle, 1234, kCount - 1234) == kCount - 1234);

  auto by_time = LogReader::open(dir.path.string(), kTopic, start_at(StartAt::time(1'000'000 + 2500 * 1000))).value();
  CHECK(by_time->position() == 2500);
  CHECK(read_in_order(*by_time, 2500, kCount - 2500) == kCount - 2500);

  auto latest = LogReader::open(dir.path.string(), kTopic, start_at(StartAt::latest())).value();
  CHECK(latest->position() == kCount);
  std::vector<RecordView> out(8);
  CHECK(latest->try_poll(out).value().count == 0);
  for (std::uint64_t i = kCount; i < kCount + 10; ++i) REQUIRE(topic->publish(payload_of(i)).value() == i);
  CHECK(read_in_order(*latest, kCount, 10) == 10);
  CHECK(read_in_order(*earliest, kCount, 10) == 10);  // the earliest reader follows on too

  CHECK_FALSE(earliest->writer_closed());
  engine->close();
  engine.reset();
  CHECK(earliest->writer_closed());
}

TEST_CASE("opening a reader: bad names, a missing topic, a memory-only topic") {
  TempDir dir;
  auto engine = open_engine(dir);
  REQUIRE(engine->create_topic("mem", TopicOptions{}).ok());
  CHECK(LogReader::open(dir.path.string(), "nope").status().code() == Code::kNotFound);
  CHECK(LogReader::open(dir.path.string(), "mem").status().code() == Code::kNotFound);
  CHECK(LogReader::open(dir.path.string(), "../etc").status().code() == Code::kInvalidArgument);
  REQUIRE(engine->create_topic(kTopic, small_segments()).ok());
  LogReaderOptions bad;
  bad.name = "a/b";
  CHECK(LogReader::open(dir.path.string(), kTopic, bad).status().code() == Code::kInvalidArgument);
}

TEST_CASE("retention deletes segments a reader has not read: it is told exactly how many it lost") {
  TempDir dir;
  auto engine = open_engine(dir);
  TopicOptions o = small_segments();
  o.retain_bytes = 2 * o.segment_bytes;
  Topic* topic = engine->create_topic(kTopic, o).value();
  for (std::uint64_t i = 0; i < 100; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  auto reader = LogReader::open(dir.path.string(), kTopic, start_at(StartAt::earliest())).value();
  REQUIRE(read_in_order(*reader, 0, 10) == 10);
  // Enough for several segments: the one the reader is in and those after
  // it are deleted (the reader keeps its mapping of the current one).
  constexpr std::uint64_t kTotal = 12000;  // about four segments
  for (std::uint64_t i = 100; i < kTotal; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  const std::uint64_t earliest = topic->earliest();
  REQUIRE(earliest > 2000);

  std::vector<RecordView> out(64);
  std::uint64_t next = 10, lost = 0, after_gap = 0;
  while (next < kTotal) {
    auto r = reader->poll(out, 1s);
    REQUIRE(r.ok());
    if (r->count == 0 && r->lost == 0) break;
    if (r->lost != 0) {
      CHECK(r->count == 0);
      CHECK(lost == 0);  // one gap: from the segment it had mapped to the oldest retained
      lost += r->lost;
      next += r->lost;
      after_gap = next;
    }
    for (std::size_t i = 0; i < r->count; ++i) {
      REQUIRE(intact(out[i], next));
      ++next;
    }
  }
  CHECK(next == kTotal);
  CHECK(lost > 0);
  CHECK(reader->lost() == lost);
  // The reader read to the end of the segment it had mapped, then lost
  // exactly the records up to the oldest retained one, and read on from it.
  CHECK(after_gap == earliest);
}

TEST_CASE("a named reader commits its position to its own file and resumes there") {
  TempDir dir;
  auto engine = open_engine(dir);
  Topic* topic = engine->create_topic(kTopic, small_segments()).value();
  for (std::uint64_t i = 0; i < 300; ++i) REQUIRE(topic->publish(payload_of(i)).ok());
  LogReaderOptions o = start_at(StartAt::earliest());
  o.name = "audit";
  {
    auto reader = LogReader::open(dir.path.string(), kTopic, o).value();
    REQUIRE(read_in_order(*reader, 0, 120) == 120);
    // A reader commits no further than the durable watermark (recovery_positions_test).
    REQUIRE(topic->await_durable(119, std::chrono::seconds(10)).ok());
    REQUIRE(reader->commit().ok());
  }
  CHECK(fs::exists(dir.path / "readers" / kTopic / "audit"));
  auto again = LogReader::open(dir.path.string(), kTopic, o).value();
  CHECK(again->position() == 120);
  CHECK(read_in_order(*again, 120, 180) == 180);

  // A position file that is not one is an error, not a silent restart.
  {
    std::FILE* f = std::fopen((dir.path / "readers" / kTopic / "audit").c_str(), "w");
    std::fputs("twelve", f);
    std::fclose(f);
  }
  CHECK(LogReader::open(dir.path.string(), kTopic, o).status().code() == Code::kCorruption);
  LogReaderOptions anonymous = start_at(StartAt::earliest());
  CHECK(LogReader::open(dir.path.string(), kTopic, anonymous).value()->commit().code() == Code::kInvalidArgument);
}

namespace {

// The writer child: opens the engine (recovering what an earlier child left),
// publishes payload_of(seq) with one thread until killed or `count` are done.
// Every `pause_every` records it sleeps a little, so a parked reader must be
// woken. Exits 0 after closing when it finishes.
[[noreturn]] void writer_child(const TempDir& dir, std::uint64_t count, std::uint64_t pause_every) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  auto engine = Engine::open([&] {
    EngineOptions o;
    o.data_dir = dir.path.string();
    return o;
  }());
  if (!engine.ok()) ::_exit(10);
  auto topic = (*engine)->create_topic(kTopic, small_segments());
  if (!topic.ok()) ::_exit(11);
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t seq = (*topic)->claimed();  // one publisher: the next sequence
    auto r = (*topic)->publish(payload_of(seq));
    if (!r.ok() || *r != seq) ::_exit(12);
    if (pause_every != 0 && i % pause_every == pause_every - 1) std::this_thread::sleep_for(2ms);
  }
  (*engine)->close();
  ::_exit(0);
}

std::unique_ptr<LogReader> open_when_there(const TempDir& dir, LogReaderOptions o) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto r = LogReader::open(dir.path.string(), kTopic, o);
    if (r.ok()) return std::move(r).value();
    if (std::chrono::steady_clock::now() > deadline) FAIL("no reader: " << r.status().message());
    std::this_thread::sleep_for(1ms);
  }
}

}  // namespace

TEST_CASE("a reader in this process follows a writer process, parked between bursts") {
  TempDir dir;
  constexpr std::uint64_t kCount = 20000;
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) writer_child(dir, kCount, 500);
  auto reader = open_when_there(dir, start_at(StartAt::earliest(), WaitStrategy::kPark));
  CHECK(read_in_order(*reader, 0, kCount, 30s) == kCount);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(reader->writer_closed());
}

TEST_CASE("a writer killed at random points and restarted: the reader sees a prefix, never a torn record") {
  TempDir dir;
  const std::uint64_t seed = std::getenv("CONDUIT_TEST_SEED")
                                 ? std::strtoull(std::getenv("CONDUIT_TEST_SEED"), nullptr, 10)
                                 : std::random_device{}();
  INFO("seed " << seed << " (CONDUIT_TEST_SEED replays it)");
  std::mt19937_64 rng(seed);
  constexpr int kCycles = 8;
  std::unique_ptr<LogReader> reader;
  std::vector<RecordView> out(64);
  std::uint64_t next = 0;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) writer_child(dir, ~std::uint64_t{0}, 0);
    if (!reader) reader = open_when_there(dir, start_at(StartAt::earliest()));
    // Read while the writer runs, then kill it at a random moment.
    const auto kill_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(5 + rng() % 40);
    while (std::chrono::steady_clock::now() < kill_at) {
      auto r = reader->poll(out, 1ms);
      REQUIRE(r.ok());
      REQUIRE(r->lost == 0);
      for (std::size_t i = 0; i < r->count; ++i) {
        REQUIRE(intact(out[i], next));
        ++next;
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));
  }
  // A last engine recovers the log and closes it: the reader reads to its end.
  std::uint64_t end = 0;
  // Kills can land before a child opened the log, so only the last open is
  // known to count.
  const std::uint64_t restarts_before = reader->writer_restarts();
  {
    auto engine = open_engine(dir);
    Topic* topic = engine->create_topic(kTopic, small_segments()).value();
    end = topic->published();
  }
  CHECK(end >= next);
  CHECK(read_in_order(*reader, next, end - next) == end - next);
  CHECK(reader->writer_restarts() == restarts_before + 1);
  CHECK(reader->writer_closed());
}
