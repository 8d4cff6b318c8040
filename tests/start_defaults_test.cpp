// Where readers start by default, as the README's first example and
// options.h say: a subscriber at the latest record, a work group at the
// earliest. The example itself is compiled and run by consumer_project.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

using namespace conduit;

TEST_CASE("by default a subscriber starts at the latest record and a work group at the earliest") {
  CHECK(SubscriberOptions{}.start.kind == StartAt::Kind::kLatest);
  CHECK(WorkGroupOptions{}.start.kind == StartAt::Kind::kEarliest);
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("t").value();
  REQUIRE(t->publish("before").ok());
  auto sub = t->subscribe().value();
  auto consumer = t->work_group("g").value()->consumer().value();
  REQUIRE(t->publish("after").ok());
  RecordView views[4];
  const PollResult r = sub->try_poll(views);
  REQUIRE(r.count == 1);
  CHECK(views[0].payload() == "after");
  Delivery d[4];
  REQUIRE(consumer->try_poll(d).count == 2);
  CHECK(d[0].record.payload() == "before");
  CHECK(d[1].record.payload() == "after");
}
