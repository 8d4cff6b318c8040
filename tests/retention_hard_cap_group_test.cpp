// The hard cap (TopicOptions::hard_cap_bytes) wins over an open work group
// too: a consumer that never acks does not keep the log growing. What the
// cap takes unacked is lost to the group, exactly: reported once by a poll,
// counted in the group's and the topic's stats, never delivered again (nor
// after a reopen); what is past the cut is delivered once. A delivery still
// held into a deleted segment stays readable (CI runs this under ASan) and
// its late ack is refused.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;
namespace fs = std::filesystem;

namespace {

using conduit::test::segment_files;
using conduit::test::stderr_of;
using conduit::test::TempDir;

constexpr std::size_t kSegment = 256 << 10;  // about 250 records of ~1 KB
constexpr std::size_t kCapSegments = 3;

std::string payload_of(std::uint64_t i) { return "record " + std::to_string(i) + std::string(900, 'c'); }

TopicOptions capped(bool interest) {
  TopicOptions t;
  t.durability = Durability::kAsync;
  t.segment_bytes = kSegment;
  t.max_payload_bytes = 1024;
  t.retain_until_consumed = interest;
  t.hard_cap_bytes = kCapSegments * kSegment;
  return t;
}

// No ack timeouts; a window of `window` records in flight.
WorkGroupOptions never_times_out(std::uint32_t window = 128) {
  WorkGroupOptions g;
  g.max_in_flight = window;
  g.ack_timeout = std::chrono::nanoseconds(0);
  return g;
}

struct Fixture {
  TempDir dir;
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  WorkGroup* group = nullptr;
  std::uint64_t published = 0;

  // `window`: the group's max_in_flight. A small one fills up behind a
  // record never acked, so records not handed out yet are lost too.
  explicit Fixture(bool interest, std::uint32_t window = 128) {
    EngineOptions o;
    o.data_dir = dir.path.string();
    engine = Engine::open(o).value();
    topic = engine->create_topic("jobs", capped(interest)).value();
    group = topic->work_group("lazy", never_times_out(window)).value();
  }
  void publish(std::uint64_t n) {
    for (std::uint64_t k = 0; k < n; ++k) REQUIRE(topic->publish(payload_of(published++)).ok());
  }
  int files() const { return segment_files(dir.path / "topics" / "jobs"); }
};

// Everything a consumer was handed, and the gaps its polls reported.
struct Taken {
  std::vector<Delivery> deliveries;
  std::uint64_t lost = 0;
};

// Polls `c` until it gets nothing; keeps every delivery, answers none.
void take_all(Consumer& c, Taken* t) {
  Delivery out[32];
  for (;;) {
    PollResult r = c.try_poll(out);
    t->lost += r.lost;
    if (r.count == 0 && r.lost == 0) return;
    for (std::size_t k = 0; k < r.count; ++k) t->deliveries.push_back(out[k]);
  }
}

// Polls `c` and acks as it goes until it gets nothing; requires every ack
// to hold and no gap. Returns the sequences it acked.
std::vector<std::uint64_t> ack_all(Consumer& c) {
  std::vector<std::uint64_t> acked;
  Delivery out[32];
  for (PollResult r = c.try_poll(out); r.count != 0; r = c.try_poll(out)) {
    CHECK(r.lost == 0);
    for (std::size_t k = 0; k < r.count; ++k) {
      CHECK(c.ack(out[k]));
      acked.push_back(out[k].sequence);
    }
  }
  return acked;
}

// `rounds` times: publishes 200 records, and `c` takes and acks all it
// can (none of them sequence 0). Returns the gaps its polls reported.
std::uint64_t publish_and_ack(Fixture& f, Consumer& c, int rounds) {
  std::uint64_t lost = 0;
  Delivery out[32];
  for (int round = 0; round < rounds; ++round) {
    f.publish(200);
    for (PollResult r = c.try_poll(out); r.count != 0 || r.lost != 0; r = c.try_poll(out)) {
      lost += r.lost;
      for (std::size_t k = 0; k < r.count; ++k) {
        CHECK(out[k].sequence != 0);
        CHECK(c.ack(out[k]));
      }
    }
  }
  return lost;
}

int deleted_first_segment_maps() { return conduit::test::deleted_segment_maps("00000000000000000000.seg"); }

// A consumer that never acks, on a capped topic, while producers go on.
void never_acking_consumer_is_capped(bool interest) {
  Fixture f(interest);
  auto lazy = f.group->consumer().value();
  Taken taken;
  std::string said = stderr_of([&] {
    for (int round = 0; round < 24; ++round) {
      f.publish(100);
      take_all(*lazy, &taken);
      // The files on disk stay within the cap, every round.
      REQUIRE(f.files() <= static_cast<int>(kCapSegments));
    }
  });
  CHECK(said.find("work group 'lazy'") != std::string::npos);
  CHECK(said.find("not acked") != std::string::npos);

  const WorkGroupStats gs = f.group->stats();
  const TopicStats ts = f.topic->stats();
  REQUIRE(ts.earliest > 0);
  CHECK(ts.cap_deletions >= 1);
  // Nothing was acked: the floor moved only by the cap's cuts, to the
  // oldest record kept, and every record below it is lost.
  CHECK(gs.ack_floor == ts.earliest);
  CHECK(gs.lost == gs.ack_floor);
  CHECK(taken.lost == gs.lost);  // the polls reported exactly that
  CHECK(ts.cap_lost_records == gs.lost);

  // Handed out once each, in order, never again after the loss.
  std::set<std::uint64_t> seen;
  for (const Delivery& d : taken.deliveries) {
    CHECK(d.attempt == 1);
    CHECK(seen.insert(d.sequence).second);
  }
  CHECK(gs.redelivered == 0);

  // The lazy consumer answers at last: the records the cap took are
  // refused, those past the cut still count.
  std::uint64_t refused = 0, acked = 0;
  std::set<std::uint64_t> done;
  for (const Delivery& d : taken.deliveries) {
    const bool ok = lazy->ack(d);
    CHECK(ok == (d.sequence >= gs.ack_floor));
    if (ok) done.insert(d.sequence);
    (ok ? acked : refused) += 1;
  }
  CHECK(refused > 0);
  CHECK(f.group->stats().stale == refused);
  // Another consumer gets the rest: every record past the cut exactly once.
  auto worker = f.group->consumer().value();
  for (std::uint64_t s : ack_all(*worker)) {
    CHECK(s >= gs.ack_floor);
    CHECK(done.insert(s).second);
  }
  CHECK(done.size() == f.published - gs.ack_floor);
  CHECK(f.group->stats().ack_floor == f.published);
  CHECK(f.group->stats().lost == gs.lost);
}

}  // namespace

TEST_CASE("the hard cap takes the records a never-acking consumer holds: the log stays within the cap") {
  never_acking_consumer_is_capped(false);
}

TEST_CASE("with interest retention, the hard cap also wins over an open work group's unacked records") {
  never_acking_consumer_is_capped(true);
}

TEST_CASE("a delivery held into a segment the cap deleted stays readable, and its ack is refused") {
  Fixture f(false, 4096);  // a window wider than the log: only the held records are lost
  auto slow = f.group->consumer().value();
  f.publish(2);
  Delivery held[2];
  REQUIRE(slow->try_poll(held).count == 2);
  REQUIRE(held[0].sequence == 0);
  // Another consumer takes and acks what comes next; only the two held
  // deliveries keep the group's floor at 0, until the cap takes them.
  auto other = f.group->consumer().value();
  const std::uint64_t lost = publish_and_ack(f, *other, 6);
  CHECK(f.files() <= static_cast<int>(kCapSegments));
  CHECK(f.topic->earliest() > 0);
  CHECK(lost == 2);  // exactly the two held ones
  CHECK(f.group->stats().lost == 2);
  CHECK(f.topic->stats().cap_lost_records == 2);
  // Segment 0's file is gone from the directory; its memory is not.
  CHECK(deleted_first_segment_maps() >= 1);
  CHECK(held[0].record.payload() == payload_of(0));
  CHECK(held[1].record.payload() == payload_of(1));

  // A poll moves the slow consumer's own cached segment on (it gets nothing
  // here: the other consumer took everything).
  Delivery none[4];
  CHECK(slow->try_poll(none).count == 0);
  CHECK(deleted_first_segment_maps() >= 1);  // the two held views keep it
  CHECK_FALSE(slow->nack(held[1]));
  CHECK(held[0].record.payload() == payload_of(0));
  CHECK_FALSE(slow->ack(held[0]));
  CHECK(deleted_first_segment_maps() == 0);  // answered: its memory goes
  CHECK(f.group->stats().stale == 2);
  CHECK(f.group->stats().pending_redelivery == 0);  // the refused nack queued nothing
  CHECK(f.group->stats().ack_floor == f.published);
}

TEST_CASE("a nacked record the cap takes is not delivered again, and its timer goes") {
  Fixture f(false, 4096);
  auto c = f.group->consumer().value();
  f.publish(1);
  Delivery d[1];
  REQUIRE(c->try_poll(d).count == 1);
  REQUIRE(c->nack(d[0], std::chrono::hours(1)));  // waits in the timers
  CHECK(f.group->stats().pending_redelivery == 1);
  auto other = f.group->consumer().value();
  CHECK(publish_and_ack(f, *other, 6) == 1);
  CHECK(f.group->stats().lost == 1);
  CHECK(f.group->stats().pending_redelivery == 0);  // purged by the polls after the cut
  CHECK(f.group->stats().ack_floor == f.published);
}

TEST_CASE("after a reopen, no record the cap took comes again and the gap is not reported twice") {
  Fixture f(true);
  std::uint64_t floor = 0;
  std::set<std::uint64_t> held;
  {
    auto lazy = f.group->consumer().value();
    Taken taken;
    for (int round = 0; round < 12; ++round) {
      f.publish(100);
      take_all(*lazy, &taken);
    }
    floor = f.group->stats().ack_floor;
    REQUIRE(floor > 0);
    CHECK(taken.lost == floor);
    for (const Delivery& d : taken.deliveries)
      if (d.sequence >= floor) held.insert(d.sequence);
    // The poll after the last cut stored the group's state: a copy of the
    // directory now is what a crash would leave.
    Delivery none[1];
    (void)lazy->try_poll(none);
  }
  const fs::path crashed = f.dir.path.string() + "-crashed";
  // topics/ is what a crash leaves that matters (the owner's control.sock,
  // a socket, cannot be copied; the next owner replaces it anyway).
  fs::create_directory(crashed);
  fs::copy(f.dir.path / "topics", crashed / "topics", fs::copy_options::recursive);
  f.engine.reset();

  for (const fs::path& where : {f.dir.path, crashed}) {
    CAPTURE(where.string());
    EngineOptions o;
    o.data_dir = where.string();
    auto engine = Engine::open(o).value();
    Topic* t = engine->create_topic("jobs", capped(true)).value();
    WorkGroup* g = t->work_group("lazy", never_times_out()).value();
    CHECK(g->stats().ack_floor == floor);
    auto c = g->consumer().value();
    // No gap: it was reported before the reopen already (ack_all checks).
    std::set<std::uint64_t> got;
    for (std::uint64_t s : ack_all(*c)) {
      CHECK(s >= floor);  // nothing the cap took
      CHECK(got.insert(s).second);
    }
    // Past the cut, everything not acked comes again (the held ones too).
    CHECK(got.size() == f.published - floor);
    for (std::uint64_t s : held) CHECK(got.count(s) == 1);
  }
  fs::remove_all(crashed);
}
