// Handles that outlive their engine (engine.h, "Handles that outlive the
// engine"): every call after the engine's destruction fails with kClosed
// (or closed / false / 0), views handed out stay readable, and destroying
// the handles afterwards is fine. Run under ASan+UBSan by CI, which is what
// turns a use of freed memory here into a failure.
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <conduit/delay.h>
#include <conduit/dispatcher.h>
#include <conduit/reader.h>
#include <conduit/request_reply.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;

using test::text;

TEST_CASE("a Subscriber outliving its engine: polls say closed, commit is kClosed, views stay readable") {
  for (const bool on_disk : {false, true}) {
    CAPTURE(on_disk);
    test::TempDir dir;
    auto engine = Engine::open(on_disk ? test::engine_options(dir, false) : EngineOptions{}).value();
    Topic* t = engine->create_topic("t", on_disk ? test::small_async() : TopicOptions{}).value();
    SubscriberOptions so;
    so.name = "reader";
    so.start = StartAt::earliest();
    so.wait = WaitStrategy::kPark;
    auto sub = t->subscribe(so).value();
    REQUIRE(t->publish("one").ok());
    REQUIRE(t->publish("two").ok());
    RecordView views[1];
    REQUIRE(sub->try_poll(views).count == 1);
    engine.reset();
    CHECK(views[0].payload() == "one");  // the segment is the subscriber's until it goes
    PollResult r = sub->try_poll(views);
    CHECK(r.closed);
    CHECK(r.count == 0);
    r = sub->poll(views, 10s);  // returns at once
    CHECK(r.closed);
    CHECK(sub->commit().code() == Code::kClosed);
    CHECK(sub->commit().message() == "subscriber 'reader': its engine was destroyed");
    CHECK(sub->lag() == 0);
    CHECK(sub->position() == 1);
    sub.reset();
  }
}

TEST_CASE("Topic* and WorkGroup* outliving their engine answer kClosed and keep their names") {
  test::TempDir dir;
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* t = engine->create_topic("orders", test::small_async()).value();
  WorkGroup* g = t->work_group("billing").value();
  Topic* deleted = engine->create_topic("gone").value();
  REQUIRE(engine->delete_topic("gone").ok());
  REQUIRE(t->publish("x").ok());
  engine.reset();

  CHECK(t->name() == "orders");
  CHECK(t->options().durability == Durability::kAsync);
  Status s = t->publish("y").status();
  CHECK(s.code() == Code::kClosed);
  CHECK(s.message() == "topic 'orders': its engine was destroyed");
  CHECK(t->publish(text("y")).status().code() == Code::kClosed);
  CHECK(t->publish_nowait(text("y")).status().code() == Code::kClosed);
  const Message batch[] = {text("a"), text("b")};
  PublishBatchResult b = t->publish_batch(batch);
  CHECK(b.status.code() == Code::kClosed);
  CHECK(b.published == 0);
  CHECK(t->await_durable(0, 1s).code() == Code::kClosed);
  CHECK(t->subscribe().status().code() == Code::kClosed);
  CHECK(t->work_group("other").status().code() == Code::kClosed);
  CHECK(t->published() == 0);
  CHECK(t->durable() == 0);
  CHECK(t->stats().published == 0);
  CHECK(deleted->publish("z").status().code() == Code::kClosed);

  CHECK(g->name() == "billing");
  CHECK(g->consumer().status().code() == Code::kClosed);
  CHECK(g->commit().code() == Code::kClosed);
  CHECK(g->stats().next == 0);
  CHECK(g->lag() == 0);
}

TEST_CASE("a Consumer outliving its engine: polls say closed, answers are refused, views stay readable") {
  test::TempDir dir;
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* t = engine->create_topic("jobs", test::small_async()).value();
  auto consumer = t->work_group("workers").value()->consumer().value();
  for (const char* p : {"a", "b", "c"}) REQUIRE(t->publish(p).ok());
  Delivery d[3];
  REQUIRE(consumer->poll(d, 1s).count == 3);
  REQUIRE(consumer->ack(d[0]));
  engine.reset();
  CHECK(d[1].record.payload() == "b");
  CHECK(d[2].record.payload() == "c");
  CHECK_FALSE(consumer->ack(d[1]));
  CHECK(consumer->ack(std::span<const Delivery>(d + 1, 2)) == 0);
  CHECK_FALSE(consumer->nack(d[1]));
  CHECK_FALSE(consumer->nack(d[1], 1ms));
  CHECK_FALSE(consumer->fail(d[2], "boom"));
  CHECK_FALSE(consumer->dead_letter(d[2], "no"));
  PollResult r = consumer->try_poll(d);
  CHECK(r.closed);
  CHECK(r.count == 0);
  CHECK(consumer->poll(d, 10s).closed);
  consumer.reset();
}

TEST_CASE("Dispatchers running while their engine is destroyed end by themselves; handlers that publish are safe") {
  auto engine = Engine::open().value();
  Topic* in = engine->create_topic("in").value();
  Topic* out = engine->create_topic("out").value();
  SubscriberOptions so;
  so.start = StartAt::earliest();
  std::atomic<int> records{0}, deliveries{0};
  std::atomic<int> refused{0};
  Dispatcher by_record(in->subscribe(so).value(), [&](const RecordView&) {
    if (!out->publish("forwarded").ok()) refused.fetch_add(1);  // relaxed enough: read after join
    records.fetch_add(1);
  });
  Dispatcher by_delivery(in->work_group("g").value()->consumer().value(), [&](const Delivery&) {
    deliveries.fetch_add(1);
    std::this_thread::sleep_for(1ms);  // a handler still running when the engine goes
    return Outcome::kAck;
  });
  // Publishers keep the dispatchers busy until the engine is destroyed.
  for (int i = 0; i < 200; ++i) REQUIRE(in->publish("x").ok());
  while (deliveries.load() < 5) std::this_thread::yield();
  engine.reset();
  by_record.join();  // ended by itself
  by_delivery.join();
  CHECK(records.load() <= 200);
  CHECK(deliveries.load() <= 200);
  CHECK(in->publish("late").status().code() == Code::kClosed);
}

TEST_CASE("a Dispatcher created after its engine was destroyed, then destroyed, is fine") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("t").value();
  auto sub = t->subscribe().value();
  auto consumer = t->work_group("g").value()->consumer().value();
  engine.reset();
  int calls = 0;
  Dispatcher a(std::move(sub), [&](const RecordView&) { ++calls; });
  Dispatcher b(std::move(consumer), [&](const Delivery&) {
    ++calls;
    return Outcome::kAck;
  });
  a.join();
  b.join();
  CHECK(calls == 0);
}

TEST_CASE("a Requester and a DelayPump outliving their engine fail with kClosed") {
  auto engine = Engine::open().value();
  Topic* requests = engine->create_topic("requests").value();
  Topic* target = engine->create_topic("target").value();
  auto requester = Requester::open(*engine).value();
  auto pump = DelayPump::open(*engine, *target).value();
  REQUIRE(pump->publish_after(text("later"), 0ns).ok());
  REQUIRE(requester->send(*requests, text("q"), 1h).ok());
  engine.reset();
  CHECK(requester->send(*requests, text("q"), 1s).status().code() == Code::kClosed);
  CHECK(requester->request(*requests, "q", 1s).status().code() == Code::kClosed);
  Reply replies[2];
  REQUIRE(requester->poll(replies) == 1);  // the request in flight ends: its engine is gone
  CHECK(replies[0].status.code() == Code::kClosed);
  CHECK(pump->publish_after(text("later"), 0ns).status().code() == Code::kClosed);
  auto pumped = pump->pump();
  CHECK((!pumped.ok() || *pumped == 0));
  CHECK(pump->delay_topic().name() == "target.delay");
  requester.reset();
  pump.reset();
}

TEST_CASE("a LogReader on the data directory reads on after the engine in this process is destroyed") {
  test::TempDir dir;
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* t = engine->create_topic("log", test::small_async()).value();
  LogReaderOptions lo;
  lo.start = StartAt::earliest();
  auto reader = LogReader::open(dir.path.string(), "log", lo).value();
  for (const char* p : {"a", "b"}) REQUIRE(t->publish(p).ok());
  engine.reset();
  RecordView views[4];
  auto r = reader->poll(views, 1s);
  REQUIRE(r.ok());
  REQUIRE(r->count == 2);
  CHECK(views[1].payload() == "b");
  CHECK(reader->writer_closed());
  reader.reset();
}
