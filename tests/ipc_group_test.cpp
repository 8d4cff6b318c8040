// Work groups across processes (conduit/attach.h): consumers in other
// processes share the owner's group, each record goes to one of them, and
// ack, nack and dead letters mean what they mean in process.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/ipc/worker.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::TempDir;
using conduit::test::Worker;

namespace {

struct Owner {
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  WorkGroup* group = nullptr;
};

// An engine owning `tmp` with a kAsync topic "t" of `n` records and group
// "g", whose ack timeout is an hour: no redelivery in these tests comes from it.
Owner own(const TempDir& tmp, std::uint64_t n) {
  Owner o;
  EngineOptions eo;
  eo.data_dir = tmp.path.string();
  o.engine = Engine::open(eo).value();
  // 256 KiB segments: several, and the attached side maps each.
  o.topic = o.engine->create_topic("t", test::small_async()).value();
  WorkGroupOptions wo;
  wo.ack_timeout = 1h;
  o.group = o.topic->work_group("g", wo).value();
  for (std::uint64_t i = 0; i < n; ++i) REQUIRE(o.topic->publish("record " + std::to_string(i)).ok());
  return o;
}

}  // namespace

TEST_CASE("a work group across three consumer processes: each record to one consumer, acked once, none missing") {
  TempDir tmp;
  constexpr std::uint64_t kRecords = 20000;
  Owner o = own(tmp, kRecords);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < 3; ++i)
    workers.push_back(std::make_unique<Worker>(std::vector<std::string>{"consume", tmp.path.string(), "t", "g"}));
  // Their output is read meanwhile: 20,000 lines are more than the pipes
  // hold, and a worker blocked on a full pipe would stop consuming.
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (!o.group->wait_drained(20ms).ok()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    for (auto& w : workers) w->pump();
  }
  o.engine->close();  // their polls then say closed, and they end
  std::map<std::uint64_t, int> acked;
  for (auto& w : workers) {
    std::size_t mine = 0;
    for (const std::string& l : w->lines()) {
      std::istringstream in(l);
      std::uint64_t seq = 0;
      std::uint32_t attempt = 0;
      REQUIRE((in >> seq >> attempt));
      CHECK(attempt == 1);
      ++acked[seq];
      ++mine;
    }
    CHECK(w->wait() == 0);
    MESSAGE("a consumer process acked " << mine);
  }
  REQUIRE(acked.size() == kRecords);
  CHECK(acked.begin()->first == 0);
  CHECK(acked.rbegin()->first == kRecords - 1);
  for (const auto& entry : acked)  // no structured binding: clang 14's CHECK lambda cannot name one
    CHECK_MESSAGE(entry.second == 1, "sequence " << entry.first);
  CHECK(o.group->stats().redelivered == 0);
}

TEST_CASE("an attached consumer's ack, nack, nack with delay and dead letter mean what a Consumer's do") {
  TempDir tmp;
  Owner o = own(tmp, 3);
  auto attached = AttachedEngine::attach(tmp.path.string()).value();
  AttachedWorkGroup* g = attached->work_group("t", "g").value();
  CHECK(attached->work_group("t", "g").value() == g);
  auto c = g->consumer().value();
  Delivery out[8];
  PollResult r = c->try_poll(out);
  REQUIRE(r.count == 3);
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(out[k].sequence == k);
    CHECK(out[k].attempt == 1);
    CHECK(out[k].record.sequence() == k);
    CHECK(out[k].record.payload() == "record " + std::to_string(k));
  }
  CHECK(c->ack(out[0]));
  CHECK_FALSE(c->ack(out[0]));  // not this consumer's any more
  CHECK(c->nack(out[1]));
  CHECK(c->dead_letter(out[2], "bad input"));
  r = c->poll(out, 5s);
  REQUIRE(r.count == 1);
  CHECK(out[0].sequence == 1);
  CHECK(out[0].attempt == 2);
  CHECK(c->nack(out[0], 1h));  // not again within this test
  CHECK(c->try_poll(out).count == 0);
  CHECK(o.group->stats().dead_lettered == 1);
  CHECK(o.group->stats().ack_floor == 1);
  CHECK(c->owner_status().ok());

  // The dead letter is in the owner's dead-letter topic, with its reason.
  SubscriberOptions so;
  so.start = StartAt::earliest();
  auto dlq = o.engine->topic("t.dlq").value()->subscribe(so).value();
  RecordView rv[1];
  REQUIRE(dlq->poll(rv, 5s).count == 1);
  CHECK(rv[0].payload() == "record 2");
  CHECK(rv[0].find_header(dlq_header::kError) == "bad input");
}
