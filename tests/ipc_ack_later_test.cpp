// An attached consumer's round trips saved (conduit/attach.h): ack_later
// carries acks on the next poll, prefetch asks for the next batch before
// the caller processes this one. Neither may lose, repeat or reorder a
// delivery, or make a poll wait past its timeout for records that exist.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::TempDir;

namespace {

// An engine owning a directory: kAsync topic "t" of `n` records ("record
// I"), group "g" (ack timeout an hour: no redelivery here comes from it,
// window 64), and an attached consumer of it.
struct Setup {
  TempDir tmp;
  EngineOptions eo;
  WorkGroupOptions wo;
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  WorkGroup* group = nullptr;
  std::unique_ptr<AttachedEngine> attached;
  std::unique_ptr<AttachedConsumer> c;
  explicit Setup(int n) {
    eo.data_dir = tmp.path.string();
    engine = Engine::open(eo).value();
    topic = engine->create_topic("t", test::small_async()).value();
    wo.ack_timeout = 1h;
    wo.max_in_flight = 64;
    group = topic->work_group("g", wo).value();
    for (int i = 0; i < n; ++i) REQUIRE(topic->publish("record " + std::to_string(i)).ok());
    attached = AttachedEngine::attach(tmp.path.string()).value();
    c = attached->work_group("t", "g").value()->consumer().value();
  }
};

}  // namespace

TEST_CASE("ack_later: the acks ride on the next poll, applied before it takes records, each once") {
  Setup s(84);
  auto& c = s.c;
  std::vector<Delivery> first(64), next(16);
  REQUIRE(c->try_poll(first).count == 64);
  Delivery none[1];
  CHECK(c->try_poll(none).count == 0);  // the window is full
  c->ack_later(first);
  CHECK(s.group->stats().ack_floor == 0);  // held in this process, not sent
  CHECK(s.group->stats().in_flight == 64);
  CHECK(c->acked_later() == 0);

  // It carries them, and finds room only if they were applied first.
  PollResult r = c->try_poll(next);
  REQUIRE(r.count == 16);
  CHECK(next[0].sequence == 64);
  CHECK(next[0].record.payload() == "record 64");
  CHECK(c->acked_later() == 64);
  CHECK(s.group->stats().ack_floor == 64);

  // Already acked ones again: not this consumer's any more, not counted.
  c->ack_later(std::span<const Delivery>(first).first(4));
  c->ack_later(std::span<const Delivery>(next).first(2));
  CHECK(c->flush_acks() == 2);
  CHECK(c->flush_acks() == 0);  // nothing held
  CHECK(c->acked_later() == 66);
  CHECK(s.group->stats().ack_floor == 66);

  // The destructor sends what is held.
  c->ack_later(std::span<const Delivery>(next).subspan(2));
  c.reset();
  CHECK(s.group->stats().ack_floor == 80);
  CHECK(s.group->stats().in_flight == 0);
  CHECK(s.group->stats().redelivered == 0);

  // Journaled once: after a restart only the four never handed out come.
  s.attached.reset();
  s.engine.reset();
  s.engine = Engine::open(s.eo).value();
  auto again = s.engine->topic("t").value()->work_group("g", s.wo).value()->consumer().value();
  Delivery rest[8];
  REQUIRE(again->try_poll(rest).count == 4);
  CHECK(rest[0].sequence == 80);
  CHECK(rest[0].attempt == 1);
}

TEST_CASE("ack_later past one message's worth sends the first 1024 at once") {
  Setup s(1025);
  s.group = s.topic
                ->work_group("wide",
                             [] {
                               WorkGroupOptions w;
                               w.ack_timeout = 1h;
                               return w;
                             }())
                .value();
  auto c = s.attached->work_group("t", "wide").value()->consumer().value();
  std::vector<Delivery> out(1025);
  std::size_t got = 0;
  while (got < out.size()) {
    PollResult r = c->try_poll(std::span<Delivery>(out).subspan(got));
    REQUIRE(r.count != 0);
    got += r.count;
  }
  c->ack_later(out);
  CHECK(c->acked_later() == 1024);
  CHECK(s.group->stats().ack_floor == 1024);
  CHECK(c->flush_acks() == 1);
  CHECK(s.group->stats().ack_floor == 1025);
}

TEST_CASE("prefetch: the next batch is fetched ahead, handed out in order, each once, acks carried on it") {
  Setup s(100);
  auto& c = s.c;
  c->prefetch(10);
  std::vector<Delivery> out(10);
  PollResult r = c->poll(out, 5s);
  REQUIRE(r.count == 10);
  // stats() goes on the consumer's own connection, after the prefetch.
  CHECK(c->stats().value().in_flight == 20);  // ten handed out, ten on their way
  std::uint64_t want = 0;
  for (std::size_t k = 0; k < r.count; ++k) CHECK(out[k].sequence == want++);
  c->ack_later(std::span<const Delivery>(out).first(r.count));
  while (want < 100) {
    r = c->poll(out, 5s);
    REQUIRE(r.count != 0);
    for (std::size_t k = 0; k < r.count; ++k) {
      CHECK(out[k].sequence == want++);
      CHECK(out[k].attempt == 1);
      CHECK(out[k].record.payload() == "record " + std::to_string(out[k].sequence));
    }
    c->ack_later(std::span<const Delivery>(out).first(r.count));
  }
  const WorkGroupStats st = c->stats().value();
  CHECK(st.ack_floor == 90);  // the last batch's acks wait for the next poll
  CHECK(st.in_flight == 10);

  // The batch fetched ahead was empty: the poll asks again, with its own
  // timeout, and gets a record published meanwhile.
  std::thread late([&] {
    std::this_thread::sleep_for(100ms);
    REQUIRE(s.topic->publish("record 100").ok());
  });
  r = c->poll(out, 10s);
  late.join();
  REQUIRE(r.count == 1);
  CHECK(out[0].sequence == 100);
  c->ack_later(std::span<const Delivery>(out).first(1));
  c.reset();
  CHECK(s.group->stats().ack_floor == 101);
  CHECK(s.group->stats().redelivered == 0);
  CHECK(s.group->stats().in_flight == 0);
}

TEST_CASE("prefetch: a consumer destroyed with a batch fetched ahead gives it back, none lost") {
  Setup s(20);
  s.c->prefetch(10);
  std::vector<Delivery> out(10);
  REQUIRE(s.c->poll(out, 5s).count == 10);
  CHECK(s.c->ack(out) == 10);  // takes the batch on its way first
  s.c.reset();
  auto other = s.attached->work_group("t", "g").value()->consumer().value();
  std::vector<Delivery> rest(16);
  PollResult r = other->poll(rest, 5s);
  REQUIRE(r.count == 10);
  for (std::size_t k = 0; k < r.count; ++k) {
    CHECK(rest[k].sequence == 10 + k);
    CHECK(rest[k].attempt == 2);  // out once, to the prefetch
  }
  CHECK(other->ack(std::span<const Delivery>(rest).first(r.count)) == 10);
  CHECK(s.group->stats().ack_floor == 20);
  CHECK(s.group->stats().redelivered == 10);
}

TEST_CASE("prefetch ahead of several polls: they hand it out in order without asking again") {
  Setup s(100);
  auto& c = s.c;
  c->prefetch(40);
  std::vector<Delivery> out(10);
  std::uint64_t want = 0;
  for (int poll = 1; poll <= 5; ++poll) {
    PollResult r = c->poll(out, 5s);
    REQUIRE(r.count == 10);
    for (std::size_t k = 0; k < r.count; ++k) CHECK(out[k].sequence == want++);
    // Ten asked for, forty ahead; polls 2 to 5 take from those.
    if (poll < 5) CHECK(c->stats().value().in_flight == 50);
  }
  // The forty used up: the fifth asked again, and the window (64) let 14 go.
  CHECK(c->stats().value().in_flight == 64);
  PollResult r = c->poll(out, 5s);
  REQUIRE(r.count == 10);
  CHECK(out[0].sequence == 50);
}
