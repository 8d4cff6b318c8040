// AttachedTopic::publish_nowait and AttachedTopic::await_durable (an
// attached engine in this process, as ipc_roll_order_test's): on a kSync
// topic a publish_nowait's record becomes durable and await_durable(seq)
// says so, the owner's durable() then past it; a bounded wait for a record
// that cannot become durable yet (an in-process claim open before it holds
// the published watermark) fails with kTimedOut, as in process, and
// succeeds once that claim is committed; a sequence no claim has taken is
// refused at once; a memory-only topic says kUnsupported; once the owner
// is gone, kClosed.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <chrono>
#include <string>

#include "tests/ipc/returns.h"
#include "tests/ipc/shm_topic.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using namespace conduit::test;

TEST_CASE("attached publish_nowait then await_durable on a kSync topic") {
  Owner owner(small_sync());
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  // Several in flight from one thread, then the last one's completion.
  std::uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    auto seq = at->publish_nowait(text("nowait " + std::to_string(i)));
    REQUIRE(seq.ok());
    CHECK(*seq == static_cast<std::uint64_t>(i));
    last = *seq;
  }
  REQUIRE(at->await_durable(last, 30s).ok());
  CHECK(owner.topic->durable() > last);
  // Already durable: at once, as in process.
  CHECK(at->await_durable(0, 0ns).ok());
  // An unbounded wait (the request without its wait, as publish() sends).
  auto more = at->publish_nowait(text("unbounded"));
  REQUIRE(more.ok());
  REQUIRE(at->await_durable(*more, std::chrono::nanoseconds::max()).ok());
  CHECK(owner.topic->durable() > *more);
  CHECK(payloads(owner.topic) ==
        std::vector<std::string>{"nowait 0", "nowait 1", "nowait 2", "nowait 3", "nowait 4", "unbounded"});
}

TEST_CASE("attached await_durable: kTimedOut while an open claim holds the record back, then durable") {
  Owner owner(small_sync());
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  Claim held = owner.topic->claim(8).value();  // sequence 0, open
  // publish_nowait returns although its record cannot become durable yet
  // (a kSync publish() would wait for that).
  Result<std::uint64_t> seq = Status::InvalidArgument("not run");
  const bool published = returns(
      [&] {
        seq = at->publish_nowait(text("after the claim"));
        return seq.status();
      },
      [&] { REQUIRE(held.commit_nowait().ok()); }, nullptr);
  REQUIRE_MESSAGE(published, "publish_nowait waited for the disk");
  REQUIRE(seq.ok());
  REQUIRE(*seq == 1);
  // Record 1 is committed but not published (0 is open): it cannot be
  // durable, whatever the disk does. In process the same wait times out.
  CHECK(owner.topic->await_durable(*seq, 1ms).code() == Code::kTimedOut);
  Status got;
  const bool in_time = returns([&] { return at->await_durable(*seq, 1ms); },
                               [&] { REQUIRE(held.commit_nowait().ok()); }, &got);
  REQUIRE_MESSAGE(in_time, "await_durable(seq, 1ms) waited past its timeout");
  CHECK_MESSAGE(got.code() == Code::kTimedOut, got.to_string());
  CHECK(owner.topic->durable() <= *seq);
  // Once the claim is committed, the same wait succeeds.
  REQUIRE(held.commit_nowait().ok());
  REQUIRE(at->await_durable(*seq, 30s).ok());
  CHECK(owner.topic->durable() > *seq);
}

TEST_CASE("attached await_durable of a sequence no claim has taken is refused at once") {
  Owner owner(small_sync());
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  REQUIRE(at->publish_nowait(text("one")).ok());
  // In process this would wait out its timeout; the owner refuses a wait
  // for what nobody claimed (a peer could hold its connection with one).
  const Status s = at->await_durable(1000, 5s);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK_MESSAGE(s.message().find("no claim has taken") != std::string::npos, s.to_string());
}

TEST_CASE("attached await_durable on a memory-only topic is unsupported; publish_nowait publishes") {
  Owner owner(shared_memory(2));
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  auto seq = at->publish_nowait(text("mem"));
  REQUIRE(seq.ok());
  CHECK(owner.topic->await_durable(*seq, 1ms).code() == Code::kUnsupported);
  CHECK(at->await_durable(*seq, 1s).code() == Code::kUnsupported);
  CHECK(payloads(owner.topic) == std::vector<std::string>{"mem"});
}

TEST_CASE("attached await_durable once the owner is gone: kClosed") {
  Owner owner(small_sync());
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  auto seq = at->publish_nowait(text("last"));
  REQUIRE(seq.ok());
  owner.engine.reset();
  const Status s = at->await_durable(*seq, 1s);
  CHECK_MESSAGE(s.code() == Code::kClosed, s.to_string());
  CHECK(at->publish_nowait(text("after")).status().code() == Code::kClosed);
}
