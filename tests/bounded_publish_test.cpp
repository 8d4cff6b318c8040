// A reader that never polls must not hang producers for ever: try_publish
// and publish(m, timeout) fail naming it, and Topic::readers() shows it.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;

namespace {

// try_publish until the ring is full; returns how many went in.
std::uint64_t fill(Topic* t, Status* refused) {
  const std::string payload(512, 'p');
  Message m;
  m.payload = payload;
  for (std::uint64_t n = 0;; ++n) {
    auto r = t->try_publish(m);
    if (!r.ok()) {
      *refused = r.status();
      return n;
    }
  }
}

}  // namespace

TEST_CASE("a blocking subscriber that never polls: try_publish is kBusy naming it and its lag") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("orders", test::small_ring()).value();
  SubscriberOptions so;
  so.name = "audit";
  so.start = StartAt::earliest();
  auto stuck = t->subscribe(so).value();
  Status refused;
  const std::uint64_t n = fill(t, &refused);
  REQUIRE(n > 0);
  CHECK(refused.code() == Code::kBusy);
  const std::string lag = std::to_string(t->published());
  CHECK(refused.message() == "topic 'orders': ring full (2 segments of 163840 bytes): subscriber 'audit' is " + lag +
                                 " records behind (at 0, published " + lag + ")");
  CHECK(t->claimed() == n);  // the refused publish claimed nothing
  // A timed publish waits, then says the same with kTimedOut.
  Message m;
  m.payload = "late";
  const auto start = std::chrono::steady_clock::now();
  Status timed = t->publish(m, 20ms).status();
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);
  CHECK(timed.code() == Code::kTimedOut);
  CHECK(timed.message().starts_with("topic 'orders': ring still full after the timeout (2 segments"));
  CHECK(timed.message().find("subscriber 'audit' is " + lag + " records behind") != std::string::npos);
  // The reader moves: publishing goes on, and the sequences stay dense.
  RecordView views[256];
  std::uint64_t read = 0;
  for (PollResult r = stuck->try_poll(views); r.count != 0; r = stuck->try_poll(views)) read += r.count;
  CHECK(read == n);
  auto seq = t->try_publish(m);
  REQUIRE(seq.ok());
  CHECK(*seq == n);
  REQUIRE(stuck->try_poll(views).count == 1);
  CHECK(views[0].payload() == "late");
}

TEST_CASE("a publish blocked on a full ring with a timeout returns once the reader catches up") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("t", test::small_ring()).value();
  SubscriberOptions so;
  so.start = StartAt::earliest();
  auto sub = t->subscribe(so).value();
  Status refused;
  const std::uint64_t n = fill(t, &refused);
  CHECK(refused.message().find("an unnamed subscriber is") != std::string::npos);
  std::thread reader([&] {
    std::this_thread::sleep_for(20ms);
    RecordView views[256];
    while (sub->try_poll(views).count != 0) {}
  });
  auto seq = t->publish(test::text("after"), 10s);
  reader.join();
  REQUIRE(seq.ok());
  CHECK(*seq == n);
}

TEST_CASE("a work group that does not ack holds the ring, and the error names it") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("jobs", test::small_ring()).value();
  REQUIRE(t->work_group("billing").ok());
  Status refused;
  fill(t, &refused);
  CHECK(refused.code() == Code::kBusy);
  CHECK(refused.message().find(": work group 'billing' is ") != std::string::npos);
}

TEST_CASE("Topic::readers lists subscribers and work groups with position, lag and whether they hold the ring") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("t", test::small_ring()).value();
  SubscriberOptions blocking;
  blocking.name = "slow";
  blocking.start = StartAt::earliest();
  auto slow = t->subscribe(blocking).value();
  SubscriberOptions losing;
  losing.slow = SlowPolicy::kLoseOldest;
  auto fast = t->subscribe(losing).value();
  REQUIRE(t->work_group("g").ok());
  for (int i = 0; i < 10; ++i) REQUIRE(t->publish("x").ok());
  RecordView views[4];
  REQUIRE(slow->try_poll(views).count == 4);
  const std::vector<ReaderInfo> rs = t->readers();
  REQUIRE(rs.size() == 3);
  CHECK(rs[0].kind == ReaderInfo::Kind::kSubscriber);
  CHECK(rs[0].name == "slow");
  CHECK(rs[0].position == 4);
  CHECK(rs[0].lag == 6);
  CHECK(rs[0].holds_ring);
  CHECK(rs[1].name.empty());
  CHECK(rs[1].position == 0);  // subscribed at latest before the publishes, never polled
  CHECK(rs[1].lag == 10);
  CHECK_FALSE(rs[1].holds_ring);
  CHECK(rs[2].kind == ReaderInfo::Kind::kWorkGroup);
  CHECK(rs[2].name == "g");
  CHECK(rs[2].lag == 10);
  CHECK(rs[2].holds_ring);
  fast.reset();
  CHECK(t->readers().size() == 2);
}

TEST_CASE("on a persisted topic nobody holds a ring; readers() still lists them") {
  test::TempDir dir;
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* t = engine->create_topic("p", test::small_async()).value();
  SubscriberOptions so;
  so.name = "s";
  auto sub = t->subscribe(so).value();
  REQUIRE(t->work_group("g").ok());
  REQUIRE(t->try_publish(test::text("x")).ok());
  for (const ReaderInfo& r : t->readers()) CHECK_FALSE(r.holds_ring);
}
