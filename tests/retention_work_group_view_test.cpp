// A delivery's record view outlives its ack timeout: the segment's memory
// stays while the consumer that got it has not answered, even after the
// record went out again, was acked elsewhere and retention (or the ring)
// dropped the segment from the topic. Nobody waits for the slow handler:
// the topic moves on. A freed segment is unmapped, so without the rule the
// reads below fault (or read another segment's bytes); CI also runs this
// under ASan.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <string>

#include "tests/support/helpers.h"
#include "tests/support/manual_clock.h"
#include "tests/support/temp_dir.h"

using namespace conduit;
using namespace std::chrono_literals;

namespace {

std::string payload_of(std::uint64_t i) { return "record " + std::to_string(i) + std::string(900, 'x'); }

struct Fixture {
  conduit::test::TempDir dir;
  conduit::test::ManualClock clock;
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  WorkGroup* group = nullptr;
  std::uint64_t published = 0;

  explicit Fixture(Durability d) {
    EngineOptions o;
    if (d != Durability::kMemory) o.data_dir = dir.path.string();
    o.clock = clock.function();
    engine = Engine::open(o).value();
    TopicOptions t;
    t.durability = d;
    t.segment_bytes = 256 << 10;  // about 250 records of ~1 KB
    t.max_payload_bytes = 1024;
    t.retain_bytes = 256 << 10;  // persisted: keep one segment besides the one being written
    t.ring_bytes = 512 << 10;    // memory-only: two segments
    topic = engine->create_topic("jobs", t).value();
    WorkGroupOptions go;
    go.ack_timeout = 1s;
    group = topic->work_group("workers", go).value();
  }
  void publish(std::uint64_t n) {
    for (std::uint64_t k = 0; k < n; ++k) REQUIRE(topic->publish(payload_of(published++)).ok());
  }
};

// Polls `c` and acks everything until nothing is left.
std::uint64_t ack_all(Consumer& c) {
  std::uint64_t n = 0;
  Delivery out[64];
  for (PollResult r = c.try_poll(out); r.count != 0; r = c.try_poll(out))
    for (std::size_t k = 0; k < r.count; ++k) n += c.ack(out[k]) ? 1 : 0;
  return n;
}

// Mappings of segment 0's file, deleted from the topic directory.
int deleted_first_segment_maps() { return conduit::test::deleted_segment_maps("00000000000000000000.seg"); }

// `slow` takes the first record (published now) and times out; `other`
// gets it again and acks it. Returns what `slow` still holds.
Delivery time_out_first(Fixture& f, Consumer& slow, Consumer& other) {
  f.publish(1);
  Delivery held[1];
  REQUIRE(slow.try_poll(held).count == 1);
  REQUIRE(held[0].sequence == 0);
  f.clock.advance(2s);  // the slow handler's ack timeout passes
  Delivery again[1];
  REQUIRE(other.try_poll(again).count == 1);
  CHECK(again[0].sequence == 0);
  CHECK(again[0].attempt == 2);
  CHECK(other.ack(again[0]));
  CHECK(f.group->stats().ack_floor == 1);
  return held[0];
}

}  // namespace

TEST_CASE("a handler past its ack timeout still reads its record after it was acked elsewhere and dropped") {
  Fixture f(Durability::kAsync);
  auto slow = f.group->consumer().value();
  auto other = f.group->consumer().value();
  const Delivery held = time_out_first(f, *slow, *other);

  // Many segments' worth, acked by both consumers: the slow one moves its
  // own cached segment on, so only the timed-out delivery keeps segment 0.
  for (int round = 0; round < 8; ++round) {
    f.publish(200);
    ack_all(*slow);
    ack_all(*other);
  }
  CHECK(f.group->stats().ack_floor == f.published);
  CHECK(f.topic->earliest() > 0);  // retention went on: nobody waits for the slow handler
  CHECK(deleted_first_segment_maps() == 1);
  CHECK(held.record.payload() == payload_of(0));

  // Its late answer is refused and lets the segment's memory go.
  CHECK_FALSE(slow->ack(held));
  CHECK(deleted_first_segment_maps() == 0);
}

TEST_CASE("a late nack lets go of the record too, and a destroyed consumer's timed-out deliveries hold nothing") {
  Fixture f(Durability::kAsync);
  auto slow = f.group->consumer().value();
  auto other = f.group->consumer().value();
  const Delivery held = time_out_first(f, *slow, *other);
  for (int round = 0; round < 4; ++round) {
    f.publish(200);
    ack_all(*other);
  }
  CHECK(f.topic->earliest() > 0);
  CHECK(held.record.payload() == payload_of(0));
  CHECK_FALSE(slow->nack(held));
  // The slow consumer still caches segment 0 for new records: only its
  // destruction lets go of that.
  CHECK(deleted_first_segment_maps() == 1);
  slow.reset();
  CHECK(deleted_first_segment_maps() == 0);

  // A delivery that times out after its consumer is gone pins nothing.
  auto gone = f.group->consumer().value();
  f.publish(1);
  Delivery d[1];
  REQUIRE(gone->try_poll(d).count == 1);
  gone.reset();
  f.clock.advance(2s);
  CHECK(ack_all(*other) == 1);  // timed out, redelivered, acked
}

TEST_CASE("on a memory-only topic the ring moves past a timed-out delivery whose view stays valid") {
  Fixture f(Durability::kMemory);
  auto slow = f.group->consumer().value();
  auto other = f.group->consumer().value();
  const Delivery held = time_out_first(f, *slow, *other);
  // The ring holds two segments; rounds small enough that the records not
  // acked yet fit in it, many rounds so it drops segment 0.
  for (int round = 0; round < 6; ++round) {
    f.publish(150);
    CHECK(ack_all(*other) + ack_all(*slow) == 150);
  }
  CHECK(f.topic->earliest() > 0);
  CHECK(held.record.payload() == payload_of(0));
  CHECK_FALSE(slow->ack(held));
}
