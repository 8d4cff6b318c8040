// A record that went bad on disk is never handed out, also when the open
// read no record: after a clean close the log is taken from its clean-close
// record, and every record is checked (CRC32C, length, sequence, fields)
// before a subscriber, a work group, a replay or a LogReader hands it out.
// A bad one is kCorruption naming the file and offset, every reader stops
// at it, and the records before it are delivered.
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <conduit/inspect.h>
#include <conduit/reader.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/support/helpers.h"
#include "tests/support/stamped_log.h"

using namespace conduit;

namespace {

using conduit::test::TempDir;
using namespace conduit::test::stamped;

constexpr const char* kTopic = "ledger";
// 1 KiB payloads in 160 KiB segments: 158 records a segment, four segments,
// the last one the open tail.
constexpr std::uint64_t kRecords = 600;
constexpr std::uint64_t kPerSegment = 158;
constexpr std::uint64_t kBad = 200;        // in the second segment, not its first record
constexpr std::uint64_t kBadInTail = 520;  // in the open tail

Place place_of(const TempDir& dir, std::uint64_t seq) { return test::stamped::place_of(dir.path, kTopic, seq); }

void zero_word(const std::string& file, std::size_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  f.seekp(static_cast<std::streamoff>(offset));
  const char zeros[4] = {};
  f.write(zeros, sizeof zeros);
  REQUIRE(f.flush());
}

// Which byte of the record goes bad.
enum class Flip { kPayload, kTimestamp, kLength };

const char* name_of(Flip f) {
  switch (f) {
    case Flip::kPayload: return "a payload byte";
    case Flip::kTimestamp: return "a header field (the timestamp)";
    case Flip::kLength: return "the length word";
  }
  return "";
}

// A log of kRecords records, a named subscriber committed at bad - 4, closed
// cleanly; then one byte of record `bad` flipped on disk. Returns where the
// record lies.
Place make_damaged_log(const TempDir& dir, std::uint64_t bad, Flip flip) {
  {
    auto engine = Engine::open(options_for(dir.path)).value();
    Topic* t = engine->create_topic(kTopic, topic_options()).value();
    publish_range(t, 0, kRecords);
    auto named = t->subscribe({.name = "resumer", .start = StartAt::at(bad - 4)}).value();
    REQUIRE(named->commit().ok());
  }
  const Place p = place_of(dir, bad);
  switch (flip) {
    case Flip::kPayload: xor_byte(p.file, p.offset + p.size - 100, 0x01); break;
    case Flip::kTimestamp: xor_byte(p.file, p.offset + 16, 0x01); break;
    case Flip::kLength: xor_byte(p.file, p.offset, 0x08); break;  // 8 bytes longer or shorter
  }
  return p;
}

// The error must be kCorruption naming the file and the offset.
void check_names(const Status& s, const std::string& file, std::size_t offset) {
  INFO(s.to_string());
  CHECK(s.code() == Code::kCorruption);
  CHECK(s.message().find(file) != std::string::npos);
  CHECK(s.message().find(" offset " + std::to_string(offset) + ": ") != std::string::npos);
}

// Polls `sub` until it reports an error; every record handed out must be the
// one published, in order from `from`. Returns the sequence after the last
// record and the error.
std::pair<std::uint64_t, Status> read_to_error(Subscriber& sub, std::uint64_t from) {
  RecordView views[64];
  std::uint64_t next = from;
  for (int polls = 0; polls < 100'000; ++polls) {
    PollResult r = sub.try_poll(views);
    REQUIRE(r.lost == 0);
    for (std::size_t i = 0; i < r.count; ++i, ++next) {
      REQUIRE(views[i].sequence() == next);
      REQUIRE_MESSAGE((views[i].payload() == payload_for(next)), "record " << next << " is not the one published");
    }
    if (!r.status.ok()) {
      CHECK(r.count == 0);
      return {next, r.status};
    }
    REQUIRE_MESSAGE(r.count != 0, "the subscriber stopped at " << next << " with no error");
  }
  FAIL("no error after 100000 polls");
  return {next, Status::OK()};
}

// The subscriber stays at the bad record: the next polls (waiting or not)
// hand out nothing and say the same.
void check_stays(Subscriber& sub, std::uint64_t bad, const Status& first) {
  RecordView views[8];
  const PollResult again = sub.try_poll(views);
  CHECK(again.count == 0);
  CHECK(again.status.message() == first.message());
  const PollResult waited = sub.poll(views, std::chrono::seconds(10));
  CHECK(waited.count == 0);
  CHECK(waited.status.message() == first.message());
  CHECK(sub.position() == bad);
}

// Runs `check(dir, topic, place, bad)` on a fresh log for every damage:
// a flipped payload byte, header field or length word, in a full segment
// and in the open tail; the topic is reopened after the clean close.
template <class Check>
void for_each_damage(Check check) {
  for (const std::uint64_t bad : {kBad, kBadInTail}) {
    for (const Flip flip : {Flip::kPayload, Flip::kTimestamp, Flip::kLength}) {
      CAPTURE(bad);
      const std::string what = name_of(flip);
      CAPTURE(what);
      TempDir dir;
      const Place p = make_damaged_log(dir, bad, flip);
      auto engine = Engine::open(options_for(dir.path)).value();
      Topic* topic = engine->create_topic(kTopic, topic_options()).value();
      REQUIRE(topic->recovery_stats().clean);  // the open read no record
      REQUIRE(topic->published() == kRecords);
      check(dir, engine, topic, p, bad);
    }
  }
}

}  // namespace

TEST_CASE("after a clean close a subscriber from the start stops at a damaged record with kCorruption, never past it") {
  for_each_damage([](const TempDir&, std::unique_ptr<Engine>&, Topic* topic, const Place& p, std::uint64_t bad) {
    auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
    const auto [next, error] = read_to_error(*sub, 0);
    CHECK(next == bad);
    check_names(error, p.file, p.offset);
    check_stays(*sub, bad, error);
  });
}

TEST_CASE("after a clean close a replay (from a sequence, a time, a committed position) stops at a damaged record") {
  for_each_damage([](const TempDir&, std::unique_ptr<Engine>&, Topic* topic, const Place& p, std::uint64_t bad) {
    auto at = topic->subscribe({.name = {}, .start = StartAt::at(bad - 5)}).value();
    auto [next, error] = read_to_error(*at, bad - 5);
    CHECK(next == bad);
    check_names(error, p.file, p.offset);

    auto by_time = topic->subscribe({.name = {}, .start = StartAt::time(stamp_for(bad - 7))}).value();
    std::tie(next, error) = read_to_error(*by_time, bad - 7);
    CHECK(next == bad);
    check_names(error, p.file, p.offset);

    auto named = topic->subscribe({.name = "resumer"}).value();
    REQUIRE(named->position() == bad - 4);
    std::tie(next, error) = read_to_error(*named, bad - 4);
    CHECK(next == bad);
    check_names(error, p.file, p.offset);
    check_stays(*named, bad, error);

    // One asking for the bad record itself gets nothing else.
    auto exact = topic->subscribe({.name = {}, .start = StartAt::at(bad)}).value();
    std::tie(next, error) = read_to_error(*exact, bad);
    CHECK(next == bad);
    check_names(error, p.file, p.offset);
  });
}

TEST_CASE("after a clean close a work group stops at a damaged record with kCorruption, for every consumer") {
  for_each_damage([](const TempDir&, std::unique_ptr<Engine>&, Topic* topic, const Place& p, std::uint64_t bad) {
    WorkGroup* group = topic->work_group("workers").value();
    auto consumer = group->consumer().value();
    Delivery ds[32];
    std::uint64_t next = 0;
    Status error;
    for (int polls = 0; polls < 100'000 && error.ok(); ++polls) {
      PollResult r = consumer->try_poll(ds);
      for (std::size_t i = 0; i < r.count; ++i, ++next) {
        REQUIRE(ds[i].sequence == next);
        REQUIRE_MESSAGE((ds[i].record.payload() == payload_for(next)),
                        "record " << next << " is not the one published");
        REQUIRE(consumer->ack(ds[i]));
      }
      if (!r.status.ok()) {
        CHECK(r.count == 0);
        error = r.status;
      } else {
        REQUIRE_MESSAGE(r.count != 0, "the group stopped at " << next << " with no error");
      }
    }
    CHECK(next == bad);
    check_names(error, p.file, p.offset);
    // Every consumer of the group stops there, waiting or not.
    auto other = group->consumer().value();
    const PollResult again = other->poll(ds, std::chrono::seconds(10));
    CHECK(again.count == 0);
    CHECK(again.status.message() == error.message());
    CHECK(group->stats().next == bad);
    CHECK(group->stats().in_flight == 0);
  });
}

TEST_CASE("after a clean close a dispatcher ends at a damaged record with the error, every record before it handled") {
  for_each_damage([](const TempDir&, std::unique_ptr<Engine>&, Topic* topic, const Place& p, std::uint64_t bad) {
    std::atomic<std::uint64_t> expected{0};
    std::atomic<bool> wrong{false};
    Dispatcher d(topic->subscribe({.name = {}, .start = StartAt::earliest()}).value(), [&](const RecordView& r) {
      // Relaxed, both: only the dispatcher's thread writes them; read after join().
      const std::uint64_t want = expected.load(std::memory_order_relaxed);
      if (r.sequence() != want || r.payload() != payload_for(want)) wrong.store(true, std::memory_order_relaxed);
      expected.store(want + 1, std::memory_order_relaxed);
    });
    // It ends by itself at the bad record (a bound, so that a dispatcher
    // that never stops fails here rather than hanging).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (d.error().ok() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    d.stop();
    CHECK_FALSE(wrong.load(std::memory_order_relaxed));
    CHECK(d.handled() == bad);
    check_names(d.error(), p.file, p.offset);
  });
}

TEST_CASE("a LogReader stops at a damaged record with kCorruption, with an engine appending and with none") {
  for_each_damage([](const TempDir& dir, std::unique_ptr<Engine>& engine, Topic* topic, const Place& p,
                     std::uint64_t bad) {
    publish_range(topic, kRecords, kRecords + 10);
    for (const bool writer : {true, false}) {
      CAPTURE(writer);
      if (!writer) engine.reset();  // closed cleanly again: the damage stays
      LogReaderOptions from_start;
      from_start.start = StartAt::earliest();
      auto reader = LogReader::open(dir.path.string(), kTopic, from_start).value();
      RecordView views[64];
      std::uint64_t next = 0;
      Status error;
      for (int polls = 0; polls < 100'000; ++polls) {
        auto r = reader->try_poll(views);
        if (!r.ok()) {
          error = r.status();
          break;
        }
        for (std::size_t i = 0; i < r->count; ++i, ++next) {
          REQUIRE(views[i].sequence() == next);
          REQUIRE_MESSAGE((views[i].payload() == payload_for(next)), "record " << next << " is not the one published");
        }
        REQUIRE_MESSAGE(r->count != 0, "the LogReader stopped at " << next << " with no error");
      }
      CHECK(next == bad);
      check_names(error, p.file, p.offset);
      auto again = reader->poll(views, std::chrono::seconds(10));
      REQUIRE_FALSE(again.ok());
      CHECK(again.status().message() == error.message());
      CHECK(reader->position() == bad);
    }
  });
}

TEST_CASE("a record damaged in one segment does not stop a reader of a later segment, nor this process's new records") {
  TempDir dir;
  const Place p = make_damaged_log(dir, kBad, Flip::kPayload);
  auto engine = Engine::open(options_for(dir.path)).value();
  Topic* topic = engine->create_topic(kTopic, topic_options()).value();
  REQUIRE(topic->recovery_stats().clean);
  publish_range(topic, kRecords, kRecords + 20);  // into the open tail, after its unchecked records

  // The third segment onwards: every record, none lost, no error.
  const std::uint64_t third = 2 * kPerSegment;
  auto later = topic->subscribe({.name = {}, .start = StartAt::at(third)}).value();
  RecordView views[64];
  std::uint64_t next = third;
  for (PollResult r; (r = later->try_poll(views)).count != 0;) {
    REQUIRE(r.status.ok());
    for (std::size_t i = 0; i < r.count; ++i, ++next)
      REQUIRE_MESSAGE((views[i].payload() == payload_for(next)), "record " << next << " is not the one published");
  }
  CHECK(next == kRecords + 20);
  CHECK(later->try_poll(views).status.ok());

  // A reader from the latest record sees only records this process wrote.
  auto latest = topic->subscribe({.name = {}, .start = StartAt::latest()}).value();
  publish_range(topic, kRecords + 20, kRecords + 25);
  PollResult r = latest->try_poll(views);
  REQUIRE(r.status.ok());
  REQUIRE(r.count == 5);
  CHECK(views[0].sequence() == kRecords + 20);

  // The damaged segment still stops a reader of it.
  auto early = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  const auto [stopped_at, error] = read_to_error(*early, 0);
  CHECK(stopped_at == kBad);
  check_names(error, p.file, p.offset);
}

TEST_CASE("after a clean close a full segment whose padding went bad stops its readers at its end with kCorruption") {
  TempDir dir;
  {
    auto engine = Engine::open(options_for(dir.path)).value();
    publish_range(engine->create_topic(kTopic, topic_options()).value(), 0, kRecords);
  }
  // The word after the first segment's last record: its padding.
  const Place last = place_of(dir, kPerSegment - 1);
  REQUIRE(place_of(dir, kPerSegment).file != last.file);
  const std::size_t padding = last.offset + ((last.size + 7) & ~std::size_t{7});
  zero_word(last.file, padding);

  auto engine = Engine::open(options_for(dir.path)).value();
  Topic* topic = engine->create_topic(kTopic, topic_options()).value();
  REQUIRE(topic->recovery_stats().clean);
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  const auto [next, error] = read_to_error(*sub, 0);
  CHECK(next == kPerSegment);
  check_names(error, last.file, padding);
}

TEST_CASE("with verify_on_open the same damage is found at open, naming the file and offset") {
  TempDir dir;
  const Place p = make_damaged_log(dir, kBad, Flip::kTimestamp);
  auto engine = Engine::open(options_for(dir.path, /*verify=*/true)).value();
  auto topic = engine->create_topic(kTopic, topic_options());
  REQUIRE_FALSE(topic.ok());
  check_names(topic.status(), p.file, p.offset);
}
