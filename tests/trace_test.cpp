// Trace id propagation: TraceScope and publish.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;

namespace {

std::vector<std::string> traces(Topic* t) {
  return test::collect(t, [](const RecordView& r) { return std::string(r.trace_id()); });
}

}  // namespace

TEST_CASE("a publish inside a trace scope carries its trace id, unless the message sets its own") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("t").value();
  REQUIRE(t->publish("before").ok());
  {
    TraceScope scope("abc");
    CHECK(TraceScope::current() == "abc");
    REQUIRE(t->publish("inside").ok());
    Message own;
    own.payload = "own";
    own.trace_id = "mine";
    REQUIRE(t->publish(own).ok());
  }
  CHECK(TraceScope::current().empty());
  REQUIRE(t->publish("after").ok());
  CHECK(traces(t) == std::vector<std::string>{"", "abc", "mine", ""});
}

TEST_CASE("scopes nest: the innermost wins, an empty one hides the outer, and leaving restores it") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("t").value();
  TraceScope outer("outer");
  {
    TraceScope inner("inner");
    REQUIRE(t->publish("1").ok());
    {
      TraceScope none("");
      REQUIRE(t->publish("2").ok());
    }
    REQUIRE(t->publish("3").ok());
  }
  REQUIRE(t->publish("4").ok());
  CHECK(traces(t) == std::vector<std::string>{"inner", "", "inner", "outer"});
}

TEST_CASE("a scope is per thread: another thread's publishes do not see it") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("t").value();
  TraceScope scope("here");
  std::thread([&] { REQUIRE(t->publish("there").ok()); }).join();
  CHECK(traces(t) == std::vector<std::string>{""});
}

TEST_CASE("records published while handling a consumed record carry that record's trace id") {
  auto engine = Engine::open().value();
  Topic* in = engine->create_topic("in").value();
  Topic* out = engine->create_topic("out").value();
  auto sub = in->subscribe(SubscriberOptions{.name = {}, .start = StartAt::earliest()}).value();
  for (std::string id : {"t-1", "t-2"}) {
    Message m;
    m.payload = "work";
    m.trace_id = id;
    REQUIRE(in->publish(m).ok());
  }
  RecordView views[8];
  const PollResult r = sub->try_poll(views);
  REQUIRE(r.count == 2);
  for (std::size_t i = 0; i < r.count; ++i) {
    TraceScope scope(views[i]);
    REQUIRE(out->publish("step a").ok());
    REQUIRE(out->publish("step b").ok());
  }
  CHECK(traces(out) == std::vector<std::string>{"t-1", "t-1", "t-2", "t-2"});
}
