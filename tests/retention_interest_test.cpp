// Interest retention: a persisted topic keeps records until every named
// subscriber and work group has committed past them, bounded by a hard cap.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;
namespace fs = std::filesystem;

namespace {

using conduit::test::segment_files;
using conduit::test::TempDir;

constexpr std::size_t kSegment = 256 << 10;
const std::string kPayload(900, 'i');

EngineOptions engine_options(const TempDir& dir) {
  EngineOptions o;
  o.data_dir = dir.path.string();
  return o;
}

TopicOptions interest(std::size_t hard_cap = 0, std::size_t retain_bytes = 0) {
  TopicOptions t;
  t.durability = Durability::kAsync;
  t.segment_bytes = kSegment;
  t.max_payload_bytes = 1024;
  t.retain_until_consumed = true;
  t.hard_cap_bytes = hard_cap;
  t.retain_bytes = retain_bytes;
  return t;
}

void publish_n(Topic* t, int n) {
  for (int i = 0; i < n; ++i) REQUIRE(t->publish(kPayload).ok());
}

// Reads `n` records (the subscriber is expected to lose none).
void read_n(Subscriber& sub, std::uint64_t n) {
  std::vector<RecordView> views(64);
  std::uint64_t got = 0;
  while (got < n) {
    PollResult r = sub.try_poll(std::span(views.data(), std::min<std::size_t>(views.size(), n - got)));
    REQUIRE(r.lost == 0);
    REQUIRE(r.count > 0);
    got += r.count;
  }
}

// Takes and acks `n` records through a new consumer of `g`.
void ack_n(WorkGroup& g, std::uint64_t n) {
  auto c = g.consumer().value();
  std::vector<Delivery> d(100);
  std::uint64_t acked = 0;
  while (acked < n) {
    PollResult r = c->try_poll(std::span(d.data(), std::min<std::size_t>(d.size(), n - acked)));
    REQUIRE(r.count > 0);
    for (std::size_t i = 0; i < r.count; ++i) REQUIRE(c->ack(d[i]));
    acked += r.count;
  }
}

}  // namespace

TEST_CASE("interest retention keeps the segments a named subscriber has not committed past") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("orders", interest()).value();
  auto sub = t->subscribe({.name = "audit", .start = StartAt::earliest()}).value();
  publish_n(t, 1500);
  CHECK(t->earliest() == 0);
  CHECK(t->stats().segments >= 5);
  // Reading is not consuming: only the committed position counts.
  read_n(*sub, 800);
  publish_n(t, 300);
  CHECK(t->earliest() == 0);
  REQUIRE(sub->commit().ok());
  // Every segment wholly below 800 went at once; the one holding 800 stays.
  const std::uint64_t earliest = t->earliest();
  CHECK(earliest > 0);
  CHECK(earliest <= 800);
  CHECK(segment_files(dir.path / "topics" / "orders") == static_cast<int>(t->stats().segments));
  auto again = t->subscribe({.start = StartAt::at(800)}).value();
  RecordView v[1];
  PollResult r = again->try_poll(v);
  CHECK(r.lost == 0);
  REQUIRE(r.count == 1);
  CHECK(v[0].sequence() == 800);
  CHECK(t->stats().cap_deletions == 0);
}

TEST_CASE("interest retention does not count unnamed subscribers") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("ticks", interest()).value();
  auto anon = t->subscribe({.start = StartAt::earliest()}).value();
  publish_n(t, 1500);
  // Nobody named is interested: each consumed-by-everyone segment goes.
  CHECK(t->earliest() > 0);
  CHECK(t->stats().segments <= 2);
  RecordView v[4];
  CHECK(anon->try_poll(v).lost == t->earliest());
}

TEST_CASE("interest retention keeps what a work group has not committed, and lets it go once it commits") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("jobs", interest()).value();
  WorkGroup* g = t->work_group("billing").value();
  publish_n(t, 1500);
  ack_n(*g, 800);
  REQUIRE(g->stats().ack_floor == 800);
  publish_n(t, 300);
  CHECK(t->earliest() == 0);  // acked, not committed
  REQUIRE(g->commit().ok());
  CHECK(t->earliest() > 0);
  CHECK(t->earliest() <= 800);
}

TEST_CASE("interest retention keeps retain_bytes of consumed records when that is set") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("history", interest(0, 4 * kSegment)).value();
  auto sub = t->subscribe({.name = "reader", .start = StartAt::earliest()}).value();
  publish_n(t, 2000);
  CHECK(t->earliest() == 0);  // over retain_bytes, but not consumed
  read_n(*sub, 2000);
  REQUIRE(sub->commit().ok());
  CHECK(t->earliest() > 0);
  CHECK(t->stats().segments == 4);  // consumed, and cut down to retain_bytes
}

TEST_CASE("the hard cap wins over interest, is counted, and the lagging subscriber is told the exact gap") {
  TempDir dir;
  std::uint64_t earliest = 0;
  {
    auto engine = Engine::open(engine_options(dir)).value();
    Topic* t = engine->create_topic("firehose", interest(3 * kSegment)).value();
    auto slow = t->subscribe({.name = "slow", .start = StartAt::earliest()}).value();
    publish_n(t, 3000);
    earliest = t->earliest();
    REQUIRE(earliest > 0);
    CHECK(t->stats().segments <= 3);
    const TopicStats st = t->stats();
    CHECK(st.cap_deletions >= 1);
    CHECK(st.cap_lost_records == earliest);  // every deleted record was unconsumed by "slow"
    RecordView v[8];
    PollResult r = slow->try_poll(v);
    CHECK(r.lost == earliest);
    REQUIRE(r.count > 0);
    CHECK(v[0].sequence() == earliest);
    CHECK(slow->lost() == earliest);
  }
  // Reopened, the committed position of "slow" (0) is behind the cap's cut:
  // it is told the same gap.
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("firehose", interest(3 * kSegment)).value();
  CHECK(t->earliest() == earliest);
  auto slow = t->subscribe({.name = "slow", .start = StartAt::earliest()}).value();
  RecordView v[8];
  PollResult r = slow->try_poll(v);
  CHECK(r.lost == earliest);
  REQUIRE(r.count > 0);
  CHECK(v[0].sequence() == earliest);
}

TEST_CASE("interest retention holds across a reopen: the interest comes from committed positions on disk") {
  TempDir dir;
  {
    auto engine = Engine::open(engine_options(dir)).value();
    Topic* t = engine->create_topic("ledger", interest()).value();
    auto sub = t->subscribe({.name = "audit", .start = StartAt::earliest()}).value();
    WorkGroup* g = t->work_group("billing").value();
    (void)g;
    publish_n(t, 1500);
  }
  {
    // Neither the subscriber nor the group is open now: their committed
    // positions (0) still keep every segment, through more rolls.
    auto engine = Engine::open(engine_options(dir)).value();
    Topic* t = engine->create_topic("ledger", interest()).value();
    publish_n(t, 1000);
    CHECK(t->earliest() == 0);
    auto sub = t->subscribe({.name = "audit", .start = StartAt::latest()}).value();
    CHECK(sub->position() == 0);
    read_n(*sub, 2000);
    REQUIRE(sub->commit().ok());
    CHECK(t->earliest() == 0);  // the group has consumed nothing
  }
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("ledger", interest()).value();
  CHECK(t->earliest() == 0);
  WorkGroup* g = t->work_group("billing").value();
  ack_n(*g, 1200);
  REQUIRE(g->commit().ok());
  CHECK(t->earliest() > 0);
  CHECK(t->earliest() <= 1200);
}

TEST_CASE("interest retention and a hard cap are refused where they cannot work") {
  auto mem = Engine::open().value();
  TopicOptions o;
  o.retain_until_consumed = true;
  CHECK(mem->create_topic("m", o).status().code() == Code::kInvalidArgument);
  TempDir dir;
  auto engine = Engine::open(engine_options(dir)).value();
  CHECK(engine->create_topic("small-cap", interest(kSegment)).status().code() == Code::kInvalidArgument);
}
