// Committed positions and the durable log (doc/durability.md): a commit
// makes the log durable up to the position first, so no committed position
// can outlive the records below it in a power cut; and a position that does
// point past the recovered end (a log an older build wrote, a disk that
// lost synced data) is set back to the end, and the reader is told exactly
// how far at its first poll.
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <conduit/reader.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/format.h"
#include "persistence/data_dir.h"
#include "persistence/segment_file.h"
#include "tests/support/helpers.h"

using namespace conduit;
namespace fs = std::filesystem;

namespace {

constexpr const char* kTopic = "ledger";

TopicOptions async_topic() {
  TopicOptions t;
  t.durability = Durability::kAsync;
  return t;
}

// No round on its own for a long while: only a commit can make the log durable.
EngineOptions slow_flush(const test::TempDir& dir) {
  EngineOptions o = test::engine_options(dir, false);
  o.flush_interval = std::chrono::milliseconds(60'000);
  o.flush_bytes = 0;
  return o;
}

std::vector<std::uint64_t> sequences(const PollResult& r, std::span<const RecordView> v) {
  std::vector<std::uint64_t> out;
  for (std::size_t i = 0; i < r.count; ++i) out.push_back(v[i].sequence());
  return out;
}

// Cuts the (single segment) log back to records [0, keep), as a power cut
// that lost the rest would: the bytes from record `keep` on are zeroed and
// the control file no longer says anything was durable.
void lose_records_from(const fs::path& data_dir, std::uint64_t keep) {
  const fs::path dir = data_dir / "topics" / kTopic;
  auto listed = persistence::list_segments(dir.string());
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  const std::string path = listed->front().second;
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::size_t off = format::kSegmentHeaderSize;
  for (std::uint64_t s = 0; s < keep; ++s)
    off += format::align_up(format::load<std::uint32_t>(reinterpret_cast<const std::byte*>(bytes.data()) + off) &
                            format::kLengthMask);
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(off), bytes.end(), '\0');
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  auto control = persistence::ControlFile::open(dir.string());
  REQUIRE(control.ok());
  (*control)->set_durable(0);
  (*control)->set_published(0);
  REQUIRE((*control)->mark_open().ok());
}

}  // namespace

TEST_CASE("a subscriber's commit makes the log durable up to the position first") {
  test::TempDir dir;
  auto engine = Engine::open(slow_flush(dir)).value();
  Topic* t = engine->create_topic(kTopic, async_topic()).value();
  auto sub = t->subscribe({.name = "audit", .start = StartAt::earliest()}).value();
  for (int i = 0; i < 50; ++i) REQUIRE(t->publish("r" + std::to_string(i)).ok());
  RecordView v[64];
  REQUIRE(sub->try_poll(v).count == 50);
  REQUIRE(t->durable() < 50);  // nothing synced it yet
  REQUIRE(sub->commit().ok());
  CHECK(t->durable() >= 50);
}

TEST_CASE("a work group's commit makes the log durable up to everything its state names") {
  test::TempDir dir;
  auto engine = Engine::open(slow_flush(dir)).value();
  Topic* t = engine->create_topic(kTopic, async_topic()).value();
  WorkGroup* g = t->work_group("billing").value();
  auto c = g->consumer().value();
  for (int i = 0; i < 30; ++i) REQUIRE(t->publish("r" + std::to_string(i)).ok());
  Delivery d[64];
  const PollResult r = c->try_poll(d);
  REQUIRE(r.count == 30);
  // Acks above the floor: the floor stays at 0 while 0 is not acked.
  for (std::size_t i = 1; i < r.count; ++i) REQUIRE(c->ack(d[i]));
  REQUIRE(t->durable() < 30);
  REQUIRE(g->commit().ok());
  CHECK(t->durable() >= 30);
}

TEST_CASE("positions past the recovered end are set back, and each reader is told exactly once") {
  test::TempDir dir;
  {
    auto engine = Engine::open(slow_flush(dir)).value();
    Topic* t = engine->create_topic(kTopic, async_topic()).value();
    auto sub = t->subscribe({.name = "audit", .start = StartAt::earliest()}).value();
    WorkGroup* g = t->work_group("billing").value();
    auto c = g->consumer().value();
    for (int i = 0; i < 20; ++i) REQUIRE(t->publish("old-" + std::to_string(i)).ok());
    RecordView v[64];
    REQUIRE(sub->try_poll(v).count == 20);
    REQUIRE(sub->commit().ok());
    Delivery d[64];
    const PollResult r = c->try_poll(d);
    REQUIRE(r.count == 20);
    for (std::size_t i = 0; i < r.count; ++i) REQUIRE(c->ack(d[i]));
    REQUIRE(g->commit().ok());
  }
  {
    // A named LogReader in another process read and committed all 20 too.
    auto reader = LogReader::open(dir.path.string(), kTopic, {.start = StartAt::earliest(), .name = "tail"}).value();
    RecordView v[64];
    REQUIRE(reader->try_poll(v)->count == 20);
    REQUIRE(reader->commit().ok());
  }
  lose_records_from(dir.path, 12);

  auto reader = LogReader::open(dir.path.string(), kTopic, {.name = "tail"}).value();
  const std::string err = test::stderr_of([&] {
    auto engine = Engine::open(slow_flush(dir)).value();
    Topic* t = engine->create_topic(kTopic, async_topic()).value();
    REQUIRE(t->published() == 12);
    auto sub = t->subscribe({.name = "audit"}).value();
    auto c = t->work_group("billing").value()->consumer().value();
    for (int i = 0; i < 3; ++i) REQUIRE(t->publish("new-" + std::to_string(i)).value() == 12u + i);
    RecordView v[64];
    PollResult r = sub->try_poll(v);
    CHECK(r.rewound == 8);
    CHECK(sequences(r, v) == std::vector<std::uint64_t>{12, 13, 14});  // the new records, none skipped
    CHECK(sub->try_poll(v).rewound == 0);                              // told once
    Delivery d[64];
    r = c->try_poll(d);
    CHECK(r.rewound == 8);
    REQUIRE(r.count == 3);  // the old acks of 12..19 do not make the new records done
    for (std::size_t i = 0; i < r.count; ++i) {
      CHECK(d[i].sequence == 12 + i);
      CHECK(c->ack(d[i]));
    }
    REQUIRE(t->await_durable(14, std::chrono::seconds(10)).ok());
  });
  CHECK(err.find("sub-audit's committed position 20 was past the end of the log (12)") != std::string::npos);
  RecordView v[64];
  auto r = reader->try_poll(v);
  REQUIRE(r.ok());
  CHECK(r->rewound == 8);
  CHECK(sequences(*r, v) == std::vector<std::uint64_t>{12, 13, 14});
}

TEST_CASE("a named LogReader commits no further than the durable watermark") {
  test::TempDir dir;
  auto engine = Engine::open(slow_flush(dir)).value();
  Topic* t = engine->create_topic(kTopic, async_topic()).value();
  for (int i = 0; i < 10; ++i) REQUIRE(t->publish("r" + std::to_string(i)).ok());
  REQUIRE(t->await_durable(9, std::chrono::seconds(10)).ok());
  for (int i = 10; i < 25; ++i) REQUIRE(t->publish("r" + std::to_string(i)).ok());
  REQUIRE(t->durable() < 25);
  const std::uint64_t durable = t->durable();
  {
    auto reader = LogReader::open(dir.path.string(), kTopic, {.start = StartAt::earliest(), .name = "tail"}).value();
    RecordView v[64];
    REQUIRE(reader->try_poll(v)->count == 25);
    REQUIRE(reader->commit().ok());
  }
  auto again = LogReader::open(dir.path.string(), kTopic, {.name = "tail"}).value();
  CHECK(again->position() == durable);
}
