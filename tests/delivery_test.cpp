// Delivery semantics of work groups on a manual clock: nack delays, backoff,
// ack timeouts, attempts, dead letters, group stats, and the dispatcher's
// failure policy. Time moves only when a test advances it.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/manual_clock.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::ManualClock;

namespace {

struct Fixture {
  ManualClock clock;
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;

  explicit Fixture(std::size_t records = 1) {
    EngineOptions o;
    o.clock = clock.function();
    engine = Engine::open(o).value();
    topic = engine->create_topic("orders").value();
    for (std::size_t i = 0; i < records; ++i) {
      Header headers[] = {{"tenant", "acme"}};
      const std::string payload = "order " + std::to_string(i), id = "id-" + std::to_string(i);
      Message m;
      m.payload = payload;
      m.id = id;
      m.key = "customer-7";
      m.headers = headers;
      REQUIRE(topic->publish(m).ok());
    }
  }
  WorkGroup* group(WorkGroupOptions o = {}) { return topic->work_group("g", std::move(o)).value(); }
};

// One delivery, or none.
std::optional<Delivery> poll_one(Consumer& c) {
  Delivery d[1];
  if (c.try_poll(d).count == 0) return std::nullopt;
  return d[0];
}

SubscriberOptions from_start() {
  SubscriberOptions o;
  o.start = StartAt::earliest();
  return o;
}

// Waits (real time, at most 10 s) until the group's floor reaches `floor`.
bool floor_reaches(WorkGroup* g, std::uint64_t floor) {
  for (int i = 0; i < 10'000 && g->stats().ack_floor < floor; ++i) std::this_thread::sleep_for(1ms);
  return g->stats().ack_floor >= floor;
}

// Every record of a topic, from the start.
std::vector<RecordView> read_all(Subscriber& s) {
  std::vector<RecordView> all;
  RecordView v[64];
  for (PollResult r = s.try_poll(v); r.count != 0; r = s.try_poll(v)) all.insert(all.end(), v, v + r.count);
  return all;
}

}  // namespace

TEST_CASE("the injected clock stamps records published without a timestamp") {
  Fixture f(0);
  REQUIRE(f.topic->publish("x").ok());
  f.clock.advance(5s);
  REQUIRE(f.topic->publish("y").ok());
  auto sub = f.topic->subscribe(from_start()).value();
  RecordView v[2];
  REQUIRE(sub->try_poll(v).count == 2);
  CHECK(v[0].timestamp_ns() == ManualClock::kStart);
  CHECK(v[1].timestamp_ns() == ManualClock::kStart + 5'000'000'000);
}

TEST_CASE("a nack with a delay is delivered again only once the delay has passed") {
  Fixture f;
  auto c = f.group()->consumer().value();
  auto d = poll_one(*c);
  REQUIRE(d);
  CHECK(c->nack(*d, 2s));
  CHECK_FALSE(poll_one(*c));
  f.clock.advance(2s - 1ns);
  CHECK_FALSE(poll_one(*c));
  CHECK(f.group()->stats().pending_redelivery == 1);
  f.clock.advance(1ns);
  auto again = poll_one(*c);
  REQUIRE(again);
  CHECK(again->sequence == 0);
  CHECK(again->attempt == 2);
  CHECK(again->record.payload() == "order 0");
  CHECK(c->ack(*again));
  CHECK(f.group()->stats().ack_floor == 1);
}

TEST_CASE("backoff doubles from its base per failed attempt up to its max") {
  Fixture f;
  WorkGroupOptions o;
  o.backoff_base = 100ms;
  o.backoff_max = 400ms;
  auto c = f.group(o)->consumer().value();
  auto d = poll_one(*c);
  REQUIRE(d);
  for (auto wait : {100ms, 200ms, 400ms, 400ms, 400ms}) {
    CAPTURE(wait.count());
    const std::uint32_t attempt = d->attempt;
    CHECK(c->nack(*d));
    f.clock.advance(wait - 1ns);
    CHECK_FALSE(poll_one(*c));
    f.clock.advance(1ns);
    d = poll_one(*c);
    REQUIRE(d);
    CHECK(d->attempt == attempt + 1);
  }
}

TEST_CASE("jitter takes at most its fraction off the backoff") {
  Fixture f(50);
  WorkGroupOptions o;
  o.backoff_base = 1s;
  o.backoff_jitter = 0.5;
  auto c = f.group(o)->consumer().value();
  Delivery out[50];
  REQUIRE(c->try_poll(out).count == 50);
  for (const Delivery& d : out) CHECK(c->nack(d));
  f.clock.advance(500ms - 1ns);
  CHECK(c->try_poll(out).count == 0);  // none sooner than half the backoff
  f.clock.advance(500ms + 1ns);
  std::size_t back = 0;
  for (PollResult r = c->try_poll(out); r.count != 0; r = c->try_poll(out)) back += r.count;
  CHECK(back == 50);  // all of them by the full backoff
}

TEST_CASE("a delivery not acked within the ack timeout goes out again and its late ack is refused") {
  Fixture f;
  WorkGroupOptions o;
  o.ack_timeout = 10s;
  WorkGroup* g = f.group(o);
  auto slow = g->consumer().value();
  auto other = g->consumer().value();
  auto first = poll_one(*slow);
  REQUIRE(first);
  CHECK(g->stats().in_flight == 1);
  f.clock.advance(10s - 1ns);
  CHECK_FALSE(poll_one(*other));
  f.clock.advance(1ns);
  auto second = poll_one(*other);
  REQUIRE(second);
  CHECK(second->sequence == 0);
  CHECK(second->attempt == 2);
  CHECK(second->lease != first->lease);
  CHECK_FALSE(slow->ack(*first));  // too late: the record is the other consumer's now
  CHECK_FALSE(slow->nack(*first));
  CHECK(g->stats().ack_floor == 0);
  CHECK(other->ack(*second));
  CHECK_FALSE(other->ack(*second));  // once only
  const WorkGroupStats s = g->stats();
  CHECK(s.ack_floor == 1);
  CHECK(s.timed_out == 1);
  CHECK(s.stale == 3);
  CHECK(s.redelivered == 1);
  CHECK(s.in_flight == 0);
}

TEST_CASE("an ack timeout of zero never times a delivery out") {
  Fixture f;
  WorkGroupOptions o;
  o.ack_timeout = 0s;
  WorkGroup* g = f.group(o);
  auto c = g->consumer().value();
  auto d = poll_one(*c);
  REQUIRE(d);
  f.clock.advance(std::chrono::hours(24 * 365));
  CHECK_FALSE(poll_one(*c));
  CHECK(c->ack(*d));
}

TEST_CASE("after max_attempts failed deliveries the record goes to <topic>.dlq with its envelope and the failure") {
  Fixture f(2);
  WorkGroupOptions o;
  o.max_attempts = 3;
  o.ack_timeout = 10s;
  WorkGroup* g = f.group(o);
  auto c = g->consumer().value();
  auto d = poll_one(*c);  // sequence 0
  REQUIRE(d);
  REQUIRE(d->sequence == 0);
  const std::int64_t first_failure = f.clock.now() + 1'000;
  f.clock.advance(1us);
  CHECK(c->nack(*d));  // attempt 1: a nack
  d = poll_one(*c);
  REQUIRE(d);
  REQUIRE(d->sequence == 0);
  f.clock.advance(10s);  // attempt 2: times out
  d = poll_one(*c);
  REQUIRE(d);
  REQUIRE(d->sequence == 0);
  CHECK(d->attempt == 3);
  f.clock.advance(1s);
  const std::int64_t last_failure = f.clock.now();
  CHECK(c->nack(*d));  // attempt 3, the last: dead letter

  const WorkGroupStats s = g->stats();
  CHECK(s.dead_lettered == 1);
  CHECK(s.ack_floor == 1);  // a dead letter is done
  CHECK(s.pending_redelivery == 0);
  d = poll_one(*c);
  REQUIRE(d);
  CHECK(d->sequence == 1);  // 0 never comes back

  Topic* dlq = f.engine->topic("orders.dlq").value();
  auto sub = dlq->subscribe(from_start()).value();
  auto letters = read_all(*sub);
  REQUIRE(letters.size() == 1);
  const RecordView& v = letters[0];
  CHECK(v.payload() == "order 0");
  CHECK(v.id() == "id-0");
  CHECK(v.key() == "customer-7");
  CHECK(v.find_header("tenant") == "acme");
  CHECK(v.find_header(dlq_header::kReason) == "max-attempts");
  CHECK(v.find_header(dlq_header::kLastFailure) == "nack");
  CHECK_FALSE(v.find_header(dlq_header::kError));
  CHECK(v.find_header(dlq_header::kAttempts) == "3");
  CHECK(v.find_header(dlq_header::kTopic) == "orders");
  CHECK(v.find_header(dlq_header::kGroup) == "g");
  CHECK(v.find_header(dlq_header::kSequence) == "0");
  CHECK(v.find_header(dlq_header::kFirstFailure) == std::to_string(first_failure));
  CHECK(v.find_header(dlq_header::kLastFailureTime) == std::to_string(last_failure));
  CHECK(dlq->options().segment_bytes == f.topic->options().segment_bytes);  // the source topic's options
}

TEST_CASE("the last attempt timing out also sends the record to the dead-letter topic") {
  Fixture f;
  WorkGroupOptions o;
  o.max_attempts = 1;
  o.ack_timeout = 1s;
  WorkGroup* g = f.group(o);
  auto c = g->consumer().value();
  REQUIRE(poll_one(*c));
  f.clock.advance(1s);
  CHECK_FALSE(poll_one(*c));  // runs the timers: dead letter, nothing to deliver
  CHECK(g->stats().dead_lettered == 1);
  CHECK(g->stats().ack_floor == 1);
  auto sub = f.engine->topic("orders.dlq").value()->subscribe(from_start()).value();
  auto letters = read_all(*sub);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].find_header(dlq_header::kLastFailure) == "ack-timeout");
}

TEST_CASE("dead_letter() sends a record at once to the group's named dead-letter topic") {
  Fixture f;
  WorkGroupOptions o;
  o.dead_letter_topic = "parked";
  auto c = f.group(o)->consumer().value();
  auto d = poll_one(*c);
  REQUIRE(d);
  CHECK(c->dead_letter(*d, "malformed order"));
  CHECK_FALSE(c->ack(*d));
  auto sub = f.engine->topic("parked").value()->subscribe(from_start()).value();
  auto letters = read_all(*sub);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].find_header(dlq_header::kReason) == "rejected");
  CHECK(letters[0].find_header(dlq_header::kAttempts) == "1");
  CHECK(letters[0].find_header(dlq_header::kError) == "malformed order");
  CHECK(f.engine->topic("orders.dlq").status().code() == Code::kNotFound);
}

TEST_CASE("a work group with bad delivery options is refused") {
  Fixture f(0);
  WorkGroupOptions o;
  o.backoff_jitter = 1.5;
  CHECK(f.topic->work_group("a", o).status().code() == Code::kInvalidArgument);
  o = {};
  o.ack_timeout = -1s;
  CHECK(f.topic->work_group("b", o).status().code() == Code::kInvalidArgument);
  o = {};
  o.dead_letter_topic = "no/slash";
  CHECK(f.topic->work_group("c", o).status().code() == Code::kInvalidArgument);
}

TEST_CASE("group stats report depth, in flight, floor, redelivered and dead-lettered at any time") {
  Fixture f(10);
  WorkGroupOptions o;
  o.max_attempts = 2;
  WorkGroup* g = f.group(o);
  auto c = g->consumer().value();
  CHECK(g->stats().depth == 10);
  Delivery out[4];
  REQUIRE(c->try_poll(out).count == 4);  // 0..3
  WorkGroupStats s = g->stats();
  CHECK(s.depth == 6);
  CHECK(s.in_flight == 4);
  CHECK(c->ack(out[0]));
  CHECK(c->nack(out[1], 1s));
  CHECK(c->nack(out[2]));  // at once
  s = g->stats();
  CHECK(s.ack_floor == 1);
  CHECK(s.in_flight == 1);
  CHECK(s.pending_redelivery == 2);
  CHECK(s.depth == 8);
  Delivery again[1];
  REQUIRE(c->try_poll(again).count == 1);
  CHECK(again[0].sequence == 2);
  CHECK(c->nack(again[0]));  // second failure of 2: dead letter
  s = g->stats();
  CHECK(s.redelivered == 1);
  CHECK(s.dead_lettered == 1);
  CHECK(s.pending_redelivery == 1);
  CHECK(s.ack_floor == 1);  // 1 is still pending
}

TEST_CASE("a dispatcher whose handler throws dead-letters at once under that policy, with the exception text") {
  Fixture f(3);
  WorkGroupOptions o;
  o.on_failure = WorkGroupOptions::OnFailure::kDeadLetter;
  WorkGroup* g = f.group(o);
  auto sub = f.engine->create_topic("orders.dlq").value()->subscribe(from_start()).value();
  {
    Dispatcher dispatcher(g->consumer().value(), [](const Delivery& d) -> Outcome {
      if (d.sequence == 1) throw std::runtime_error("cannot parse order 1");
      return Outcome::kAck;
    });
    CHECK(floor_reaches(g, 3));  // dead letters need an open engine
    f.engine->close();
    dispatcher.join();
    CHECK(dispatcher.failed() == 1);
    CHECK(dispatcher.handled() == 2);
  }
  CHECK(g->stats().ack_floor == 3);
  CHECK(g->stats().dead_lettered == 1);
  auto letters = read_all(*sub);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].find_header(dlq_header::kSequence) == "1");
  CHECK(letters[0].find_header(dlq_header::kReason) == "rejected");
  CHECK(letters[0].find_header(dlq_header::kLastFailure) == "error");
  CHECK(letters[0].find_header(dlq_header::kError) == "cannot parse order 1");
}

TEST_CASE("a dispatcher whose handler always throws redelivers up to max_attempts, then dead-letters and carries on") {
  Fixture f(5);
  WorkGroupOptions o;
  o.max_attempts = 3;
  WorkGroup* g = f.group(o);
  auto sub = f.engine->create_topic("orders.dlq").value()->subscribe(from_start()).value();
  std::map<std::uint64_t, std::uint32_t> attempts;  // the dispatcher's thread only, until join()
  {
    Dispatcher dispatcher(g->consumer().value(), [&](const Delivery& d) -> Outcome {
      attempts[d.sequence] = d.attempt;
      if (d.sequence % 2 == 0) throw std::runtime_error("even " + std::to_string(d.sequence));
      return Outcome::kAck;
    });
    CHECK(floor_reaches(g, 5));
    f.engine->close();
    dispatcher.join();
    CHECK(dispatcher.handled() == 2);
    CHECK(dispatcher.failed() == 9);
  }
  CHECK(attempts == std::map<std::uint64_t, std::uint32_t>{{0, 3}, {1, 1}, {2, 3}, {3, 1}, {4, 3}});
  CHECK(g->stats().ack_floor == 5);
  CHECK(g->stats().dead_lettered == 3);
  auto letters = read_all(*sub);
  REQUIRE(letters.size() == 3);
  for (const RecordView& v : letters) {
    CHECK(v.find_header(dlq_header::kReason) == "max-attempts");
    CHECK(v.find_header(dlq_header::kAttempts) == "3");
    CHECK(v.find_header(dlq_header::kError) == "even " + std::string(*v.find_header(dlq_header::kSequence)));
  }
}
