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

namespace {

constexpr std::uint64_t kOwned = 200;

// An engine owning a directory with kAsync topic "t" of kOwned records
// and group "g", whose ack timeout is an hour: only the death of a holder
// can explain a redelivery.
struct Owner {
  TempDir tmp;
  std::string dir = tmp.path.string();
  std::unique_ptr<Engine> engine;
  WorkGroup* group = nullptr;
  Owner() {
    EngineOptions eo;
    eo.data_dir = dir;
    engine = Engine::open(eo).value();
    TopicOptions to;
    to.durability = Durability::kAsync;
    Topic* topic = engine->create_topic("t", to).value();
    WorkGroupOptions wo;
    wo.ack_timeout = 1h;
    group = topic->work_group("g", wo).value();
    for (std::uint64_t i = 0; i < kOwned; ++i) REQUIRE(topic->publish("record " + std::to_string(i)).ok());
  }
  // A "consume" worker takes everything left; then the engine closes.
  // What it acked: sequence -> attempt, each once.
  std::map<std::uint64_t, std::uint32_t> drain() {
    Worker taker({"consume", dir, "t", "g"});
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
    return acked;
  }
};

}  // namespace

TEST_CASE("SIGKILL of a consumer process holding deliveries: they go to another process long before the ack timeout") {
  Owner o;
  std::set<std::uint64_t> held;
  {
    Worker holder({"hold", o.dir, "t", "g", "10"});
    for (;;) {
      const auto l = holder.line();
      REQUIRE(l.has_value());
      if (*l == "ready") break;
      REQUIRE(l->starts_with("held "));
      held.insert(std::stoull(l->substr(5)));
    }
    REQUIRE(held.size() == 10);
    CHECK(o.group->stats().in_flight == 10);
    holder.kill();
  }
  auto acked = o.drain();
  REQUIRE(acked.size() == kOwned);
  for (std::uint64_t s : held) CHECK_MESSAGE(acked[s] == 2, "sequence " << s);  // a redelivery each
  CHECK(o.group->stats().redelivered == held.size());
  CHECK(o.group->stats().timed_out == 0);
}

TEST_CASE("SIGKILL of a consumer process with acks held by ack_later: those go out again, the carried ones never") {
  Owner o;
  std::set<std::uint64_t> acked_before, held;
  {
    Worker holder({"hold-later", o.dir, "t", "g", "10"});
    for (;;) {
      const auto l = holder.line();
      REQUIRE(l.has_value());
      if (*l == "ready") break;
      if (l->starts_with("acked "))
        acked_before.insert(std::stoull(l->substr(6)));
      else if (l->starts_with("held "))
        held.insert(std::stoull(l->substr(5)));
      else
        FAIL("unexpected line: " << *l);
    }
    REQUIRE(acked_before.size() == 10);
    REQUIRE(held.size() == 10);
    // The held acks never left the process: the owner still has them out.
    CHECK(o.group->stats().in_flight == 10);
    CHECK(o.group->stats().ack_floor == 10);
    holder.kill();
  }
  auto acked = o.drain();
  for (std::uint64_t s : acked_before) CHECK_MESSAGE(acked.count(s) == 0, "carried ack, delivered again: " << s);
  CHECK(acked.size() + acked_before.size() == kOwned);
  for (std::uint64_t s : held) CHECK_MESSAGE(acked[s] == 2, "sequence " << s);  // a redelivery each
  CHECK(o.group->stats().redelivered == held.size());
  CHECK(o.group->stats().timed_out == 0);
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
