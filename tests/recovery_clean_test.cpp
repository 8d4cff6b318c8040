// Reopening after a clean close: the log is taken from the clean-close
// record its close wrote, and no record is read; after a crash, with a
// damaged or stale record, or with verify_on_open, every record is checked.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "common/format.h"
#include "persistence/clean_record.h"
#include "persistence/data_dir.h"
#include "persistence/segment_file.h"
#include "tests/support/helpers.h"
#include "tests/support/stamped_log.h"

using namespace conduit;
namespace fs = std::filesystem;

namespace {

using conduit::test::TempDir;

constexpr const char* kTopic = "orders";
constexpr std::uint64_t kRecords = 600;  // with 1 KiB payloads: four segments of 160 KiB
using namespace conduit::test::stamped;

// Reads the log from its earliest record; every record must be the one
// published. Returns one past the last.
std::uint64_t expect_records(Topic* t) {
  const auto got = test::collect(
      t, [](const RecordView& r) { return std::tuple(r.sequence(), std::string(r.payload()), r.timestamp_ns()); });
  std::uint64_t next = t->earliest();
  for (const auto& [seq, payload, ts] : got) {
    REQUIRE(seq == next);
    REQUIRE(payload == payload_for(seq));
    REQUIRE(ts == stamp_for(seq));
    ++next;
  }
  return next;
}

fs::path topic_dir(const fs::path& dir) { return dir / "topics" / kTopic; }
fs::path clean_path(const fs::path& dir) { return topic_dir(dir) / persistence::kCleanRecordName; }

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  REQUIRE(out);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A log of kRecords records over several segments, closed cleanly.
void make_log(const fs::path& dir) {
  auto engine = Engine::open(options_for(dir)).value();
  publish_range(engine->create_topic(kTopic, topic_options()).value(), 0, kRecords);
}

std::size_t segment_count(const fs::path& dir) {
  return persistence::list_segments(topic_dir(dir).string()).value().size();
}

// Opens the log, checks it holds exactly [0, records), and returns how it
// was opened. After a clean close every record is durable at once.
RecoveryStats reopen_and_check(const fs::path& dir, std::uint64_t records, bool verify = false) {
  auto engine = Engine::open(options_for(dir, verify)).value();
  auto topic = engine->create_topic(kTopic, topic_options());
  REQUIRE_MESSAGE(topic.ok(), topic.status().to_string());
  CHECK((*topic)->published() == records);
  CHECK(expect_records(*topic) == records);
  if ((*topic)->recovery_stats().clean) CHECK((*topic)->durable() == records);
  return (*topic)->recovery_stats();
}

}  // namespace

TEST_CASE("a reopen after a clean close reads no record, and a reopen after a crash checks every one") {
  TempDir dir;
  make_log(dir.path);
  const std::size_t segments = segment_count(dir.path);
  REQUIRE(segments >= 4);
  REQUIRE(fs::exists(clean_path(dir.path)));

  const RecoveryStats clean = reopen_and_check(dir.path, kRecords);
  CHECK(clean.clean);
  CHECK(clean.segments == segments);
  CHECK(clean.records_checked == 0);
  CHECK(clean.bytes_checked == 0);
  CHECK(clean.read_only.ok());

  // A process that dies without closing: no clean-close record, no clean flag.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto engine = Engine::open(options_for(dir.path));
    if (!engine.ok()) ::_exit(2);
    auto topic = (*engine)->create_topic(kTopic, topic_options());
    if (!topic.ok() || (*topic)->await_durable(kRecords - 1, std::chrono::seconds(10)).ok() == false) ::_exit(3);
    ::_exit(0);  // no destructors: the engine never closes
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK_FALSE(fs::exists(clean_path(dir.path)));

  const RecoveryStats crashed = reopen_and_check(dir.path, kRecords);
  CHECK_FALSE(crashed.clean);
  CHECK(crashed.records_checked == kRecords);
  CHECK(crashed.bytes_checked > kRecords * 1000);

  // That reopen closed cleanly again; verify_on_open checks every record anyway.
  const RecoveryStats verified = reopen_and_check(dir.path, kRecords, true);
  CHECK_FALSE(verified.clean);
  CHECK(verified.records_checked == kRecords);
}

TEST_CASE("records published after a clean reopen come back after a second clean close") {
  TempDir dir;
  make_log(dir.path);
  {
    auto engine = Engine::open(options_for(dir.path)).value();
    Topic* t = engine->create_topic(kTopic, topic_options()).value();
    REQUIRE(t->recovery_stats().clean);
    // More than a segment: the producers roll past the recovered tail.
    publish_range(t, kRecords, 2 * kRecords);
  }
  const RecoveryStats second = reopen_and_check(dir.path, 2 * kRecords);
  CHECK(second.clean);
  CHECK(second.records_checked == 0);
  // And once more, with the whole log checked: the records on disk are the ones trusted.
  CHECK(reopen_and_check(dir.path, 2 * kRecords, true).records_checked == 2 * kRecords);
}

TEST_CASE("a damaged, stale or lying clean-close record is not trusted: the open checks every record") {
  TempDir dir;
  make_log(dir.path);
  const std::string good = read_bytes(clean_path(dir.path));
  std::string damaged = good;
  SUBCASE("one byte flipped") {
    damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 0x10);
    write_bytes(clean_path(dir.path), damaged);
  }
  SUBCASE("cut short") { write_bytes(clean_path(dir.path), good.substr(0, good.size() - 9)); }
  SUBCASE("from an earlier close") {
    // Open and close once more (clean, the same records): the generation moves on.
    {
      auto engine = Engine::open(options_for(dir.path)).value();
      (void)engine->create_topic(kTopic, topic_options()).value();
    }
    write_bytes(clean_path(dir.path), good);
  }
  SUBCASE("intact, but its tail ends before the last record") {
    auto rec = persistence::decode_clean_record(good, "clean").value();
    auto& tail = rec.segments.back();
    REQUIRE(tail.records > 1);
    // As if the last record were not there, the control file agreeing.
    tail.records -= 1;
    tail.end_offset -= format::align_up(format::kRecordHeaderSize + payload_for(kRecords - 1).size());
    rec.durable -= 1;
    write_bytes(clean_path(dir.path), persistence::encode_clean_record(rec));
    auto control = persistence::ControlFile::open(topic_dir(dir.path).string()).value();
    REQUIRE(control->mark_clean(kRecords - 1).ok());
  }
  SUBCASE("intact, but naming a segment file that is gone") {
    auto rec = persistence::decode_clean_record(good, "clean").value();
    rec.segments.push_back(rec.segments.back());
    rec.segments.back().first_seq += 1'000'000;
    write_bytes(clean_path(dir.path), persistence::encode_clean_record(rec));
  }
  const RecoveryStats s = reopen_and_check(dir.path, kRecords);
  CHECK_FALSE(s.clean);
  CHECK(s.records_checked == kRecords);
}

TEST_CASE("after a clean reopen, replay by time and retention are exactly as after a full check") {
  // One log closed cleanly, copied: one copy opens from its clean-close
  // record, the other checks every record. Both must answer alike.
  TempDir a, b;
  TopicOptions retained = topic_options();
  retained.retain_bytes = 3 * retained.segment_bytes;
  {
    auto engine = Engine::open(options_for(a.path)).value();
    publish_range(engine->create_topic(kTopic, retained).value(), 0, kRecords);
  }
  fs::copy(a.path, b.path, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  auto ea = Engine::open(options_for(a.path)).value();
  auto eb = Engine::open(options_for(b.path, true)).value();
  Topic* ta = ea->create_topic(kTopic, retained).value();
  Topic* tb = eb->create_topic(kTopic, retained).value();
  REQUIRE(ta->recovery_stats().clean);
  REQUIRE_FALSE(tb->recovery_stats().clean);
  REQUIRE(ta->earliest() > 0);  // retention has dropped segments already
  CHECK(ta->earliest() == tb->earliest());
  CHECK(ta->published() == tb->published());

  auto first_at = [](Topic* t, std::int64_t ns) {
    auto sub = t->subscribe({.name = {}, .start = StartAt::time(ns)}).value();
    return sub->position();
  };
  for (std::uint64_t seq = ta->earliest(); seq < kRecords; seq += 37) {
    CAPTURE(seq);
    CHECK(first_at(ta, stamp_for(seq)) == seq);
    CHECK(first_at(ta, stamp_for(seq) - kStampStep / 2) == seq);  // between two stamps
    CHECK(first_at(tb, stamp_for(seq)) == seq);
  }
  CHECK(expect_records(ta) == kRecords);

  // Publishing on: retention drops the same whole segments on both.
  publish_range(ta, kRecords, kRecords + 400);
  publish_range(tb, kRecords, kRecords + 400);
  CHECK(ta->earliest() == tb->earliest());
  CHECK(expect_records(ta) == kRecords + 400);
}
