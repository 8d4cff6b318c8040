// Death across processes (doc/ipc.md): a consumer process killed with
// deliveries out has them delivered to another process at once, not after
// the ack timeout; the owner killed ends every attached call with kClosed,
// and after a new owner opens the directory nothing acked comes again and
// nothing is lost.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/ipc/worker.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::TempDir;
using conduit::test::Worker;

TEST_CASE("SIGKILL of a consumer process holding deliveries: they go to another process long before the ack timeout") {
  TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path.string();
  auto engine = Engine::open(eo).value();
  TopicOptions to;
  to.durability = Durability::kAsync;
  Topic* topic = engine->create_topic("t", to).value();
  WorkGroupOptions wo;
  wo.ack_timeout = 1h;  // only the death of the holder can explain a redelivery
  WorkGroup* group = topic->work_group("g", wo).value();
  constexpr std::uint64_t kRecords = 200;
  for (std::uint64_t i = 0; i < kRecords; ++i) REQUIRE(topic->publish("record " + std::to_string(i)).ok());

  std::set<std::uint64_t> held;
  {
    Worker holder({"hold", eo.data_dir, "t", "g", "10"});
    for (;;) {
      const auto l = holder.line();
      REQUIRE(l.has_value());
      if (*l == "ready") break;
      REQUIRE(l->starts_with("held "));
      held.insert(std::stoull(l->substr(5)));
    }
    REQUIRE(held.size() == 10);
    CHECK(group->stats().in_flight == 10);
    holder.kill();
  }
  Worker taker({"consume", eo.data_dir, "t", "g"});
  REQUIRE(group->wait_drained(60s).ok());
  engine->close();
  std::map<std::uint64_t, std::uint32_t> acked;
  for (const std::string& l : taker.lines()) {
    std::istringstream in(l);
    std::uint64_t seq = 0;
    std::uint32_t attempt = 0;
    REQUIRE((in >> seq >> attempt));
    CHECK(acked.emplace(seq, attempt).second);
  }
  CHECK(taker.wait() == 0);
  REQUIRE(acked.size() == kRecords);
  for (std::uint64_t s : held) CHECK_MESSAGE(acked[s] == 2, "sequence " << s);  // a redelivery each
  CHECK(group->stats().redelivered == held.size());
  CHECK(group->stats().timed_out == 0);
}

TEST_CASE(
    "the owner killed: attached calls fail with kClosed; after a new owner, nothing acked comes again, nothing is "
    "lost") {
  TempDir tmp;
  const std::string dir = tmp.path.string();
  constexpr std::uint64_t kRecords = 500;
  std::set<std::uint64_t> acked;
  {
    Worker owner({"own", dir, "t", std::to_string(kRecords)});
    REQUIRE(owner.line() == "ready");
    auto attached = AttachedEngine::attach(dir).value();
    WorkGroupOptions wo;
    wo.ack_timeout = 1h;
    auto c = attached->work_group("t", "g", wo).value()->consumer().value();
    std::vector<Delivery> out(50);
    while (acked.size() < 200) {
      PollResult r = c->poll(out, 5s);
      REQUIRE(r.count != 0);
      for (std::size_t k = 0; k < r.count; ++k)
        if (c->ack(out[k])) acked.insert(out[k].sequence);
    }
    PollResult unanswered = c->poll(out, 5s);  // out when the owner dies
    REQUIRE(unanswered.count != 0);
    owner.kill();

    PollResult r = c->poll(out, 1s);
    CHECK(r.closed);
    CHECK(r.status.code() == Code::kClosed);
    CHECK(r.status.message().find("the owner of " + dir + " is gone") != std::string::npos);
    CHECK_FALSE(c->ack(out[0]));
    CHECK(c->owner_status().code() == Code::kClosed);
    CHECK(out[0].record.payload() == "record " + std::to_string(out[0].sequence));  // still readable
    CHECK(AttachedEngine::attach(dir).status().code() == Code::kNotFound);
  }
  Worker owner({"own", dir, "t", std::to_string(kRecords)});
  REQUIRE(owner.line() == "ready");
  auto attached = AttachedEngine::attach(dir).value();
  auto c = attached->work_group("t", "g").value()->consumer().value();
  std::set<std::uint64_t> after;
  std::vector<Delivery> out(64);
  while (acked.size() + after.size() < kRecords) {
    PollResult r = c->poll(out, 10s);
    REQUIRE_MESSAGE(r.count != 0, r.status.to_string());
    for (std::size_t k = 0; k < r.count; ++k) {
      CHECK_MESSAGE(acked.count(out[k].sequence) == 0, "acked before, delivered again: " << out[k].sequence);
      CHECK(after.insert(out[k].sequence).second);
      CHECK(c->ack(out[k]));
    }
  }
  CHECK(c->try_poll(out).count == 0);
  CHECK(acked.size() + after.size() == kRecords);
}
