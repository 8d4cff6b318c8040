// Bounded publishes from an attached process (AttachedTopic::try_publish,
// AttachedTopic::publish with a timeout) into a shared memory-only topic
// whose ring a blocking subscriber holds full, in the owner's process or in
// another: try_publish fails at once with kBusy naming the holder, a 50 ms
// publish with kTimedOut after its timeout, neither publishes anything nor
// leaves a sequence for readers to skip, and once the subscriber reads on
// both succeed with the next sequences. Without a full ring they publish
// as publish() does, across rolls. And they do not queue behind another
// publish of their process whose roll holds the engine's connection while
// it waits for ring room.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/ipc/shm_topic.h"
#include "tests/ipc/worker.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using namespace conduit::test;

namespace {

// A bounded publish's outcome, and how long it took.
struct Timed {
  Result<std::uint64_t> result{Status::InvalidArgument("not run")};
  std::chrono::nanoseconds took{};
  bool returned = false;  // within the watchdog's 10 s
};

// Runs `publish` on a thread of its own. One still waiting after 10 s (a
// bound not kept) is ended by closing the owner's engine (its roll gives
// up), so that the test fails instead of hanging.
Timed watched(Owner& owner, const std::function<Result<std::uint64_t>()>& publish) {
  Timed out;
  std::atomic<bool> done{false};
  const auto start = std::chrono::steady_clock::now();
  std::thread t([&] {
    out.result = publish();
    out.took = std::chrono::steady_clock::now() - start;
    done.store(true, std::memory_order_release);  // pairs with the acquire loads below
  });
  const auto limit = start + 10s;
  while (!done.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < limit)
    std::this_thread::sleep_for(1ms);
  out.returned = done.load(std::memory_order_acquire);
  if (!out.returned) owner.engine->close();
  t.join();
  return out;
}

// try_publish, then publish(m, 50ms), of `payload` into the full ring: each
// fails as the in-process one does, naming `holder`, and publishes nothing.
void refused_twice(Owner& owner, AttachedTopic* at, const std::string& payload, const std::string& holder) {
  const std::uint64_t published = owner.topic->stats().published;
  Timed tried = watched(owner, [&] { return at->try_publish(text(payload)); });
  REQUIRE_MESSAGE(tried.returned, "try_publish waited for ring room");
  REQUIRE_FALSE(tried.result.ok());
  CHECK(tried.result.status().code() == Code::kBusy);
  CHECK(tried.result.status().message().find("ring full") != std::string::npos);
  CHECK_MESSAGE(tried.result.status().message().find(holder) != std::string::npos, tried.result.status().message());
  CHECK(tried.took < 5s);
  Timed waited = watched(owner, [&] { return at->publish(text(payload), 50ms); });
  REQUIRE_MESSAGE(waited.returned, "publish(m, 50ms) waited past its timeout");
  REQUIRE_FALSE(waited.result.ok());
  CHECK(waited.result.status().code() == Code::kTimedOut);
  CHECK(waited.result.status().message().find("ring still full after the timeout") != std::string::npos);
  CHECK_MESSAGE(waited.result.status().message().find(holder) != std::string::npos, waited.result.status().message());
  CHECK(waited.took >= 50ms);
  CHECK(waited.took < 5s);
  CHECK(owner.topic->stats().published == published);
}

// Reads `held` from sequence 0: the `filled` records "fill I", then
// `after` (one record each), dense and whole, none skipped; then lets go of
// the last batch (its next poll), so the ring has room again.
void read_dense(Subscriber& held, std::uint64_t filled, const std::vector<std::string>& after = {}) {
  RecordView v[256];
  std::uint64_t read = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (read < filled + after.size()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    const PollResult r = held.poll(v, 100ms);
    REQUIRE(r.status.ok());
    REQUIRE(r.lost == 0);
    REQUIRE(r.skipped == 0);
    for (std::size_t k = 0; k < r.count; ++k, ++read) {
      REQUIRE(v[k].sequence() == read);
      REQUIRE(v[k].payload() == (read < filled ? "fill " + std::to_string(read) : after.at(read - filled)));
    }
  }
  CHECK(held.try_poll(v).count == 0);
}

}  // namespace

TEST_CASE("attached bounded publishes into a ring held full by a blocking subscriber in the owner's process") {
  Owner owner(shared_memory(2));
  auto held =
      owner.topic->subscribe({.name = "audit", .start = StartAt::earliest(), .slow = SlowPolicy::kBlock}).value();
  const std::uint64_t filled = fill(owner.topic, "subscriber 'audit'");
  REQUIRE(filled > 0);
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  // Twice: the first crosses the head's end (the owner seals it), the
  // second claims past the sealed end; neither takes a sequence.
  refused_twice(owner, at, "a 0", "subscriber 'audit' is " + std::to_string(filled) + " records behind");
  refused_twice(owner, at, "a 0", "subscriber 'audit'");
  // The subscriber reads everything, so the ring has room again.
  read_dense(*held, filled);
  // Both succeed now, with the next sequences: the failures took none.
  Timed tried = watched(owner, [&] { return at->try_publish(text("a 0")); });
  REQUIRE(tried.returned);
  REQUIRE_MESSAGE(tried.result.ok(), tried.result.status().to_string());
  CHECK(*tried.result == filled);
  Timed waited = watched(owner, [&] { return at->publish(text("a 1"), 50ms); });
  REQUIRE(waited.returned);
  REQUIRE_MESSAGE(waited.result.ok(), waited.result.status().to_string());
  CHECK(*waited.result == filled + 1);
  // The reader goes on at once to them: no hole, no skip record.
  RecordView v[4];
  const PollResult r = held->poll(v, 10s);
  REQUIRE(r.count == 2);
  CHECK(r.skipped == 0);
  CHECK(v[0].sequence() == filled);
  CHECK(v[0].payload() == "a 0");
  CHECK(v[1].sequence() == filled + 1);
  CHECK(v[1].payload() == "a 1");
  CHECK(owner.topic->stats().skipped == 0);
}

TEST_CASE("attached bounded publishes into a ring held full by a blocking subscriber in another process") {
  Owner owner(shared_memory(2));
  const std::string dir = owner.eo.data_dir, go = owner.go_file();
  // Reads every record until 30000, each in order and once (its checks:
  // tests/ipc/ipc_shm_worker.cpp), once the go file is there.
  constexpr std::uint64_t kTotal = 30000;
  Worker sub({"sub", dir, "m", "block", go, std::to_string(kTotal)});
  CHECK(expect_line(sub, "subscribed ") == "0");
  const std::uint64_t filled = fill(owner.topic);
  REQUIRE(filled < kTotal - 2);
  auto attached = AttachedEngine::attach(dir).value();
  AttachedTopic* at = attached->topic("m").value();
  refused_twice(owner, at, "a 0", "attached subscriber");
  touch(go);
  // As it reads on: a bounded wait that ends in room, then (the new head
  // segment empty) a try_publish, then the rest; dense sequences.
  Timed first = watched(owner, [&] { return at->publish(text("a 0"), 30s); });
  REQUIRE(first.returned);
  REQUIRE_MESSAGE(first.result.ok(), first.result.status().to_string());
  CHECK(*first.result == filled);
  auto second = at->try_publish(text("a 1"));
  REQUIRE_MESSAGE(second.ok(), second.status().to_string());
  CHECK(*second == filled + 1);
  for (std::uint64_t i = 2; filled + i < kTotal; ++i) {
    auto seq = at->publish(text("a " + std::to_string(i)), 30s);
    REQUIRE_MESSAGE(seq.ok(), seq.status().to_string());
    REQUIRE(*seq == filled + i);
  }
  CHECK(expect_line(sub, "ok ") == std::to_string(kTotal) + " 0");
  CHECK(sub.wait() == 0);
  CHECK(owner.topic->stats().skipped == 0);
  std::filesystem::remove(go);
}

TEST_CASE("attached bounded publishes with ring room publish as publish() does, across rolls") {
  // No blocking reader: the ring never fills. 20000 records of 48 bytes go
  // round a ring of 4 segments of 256 KiB about once.
  Owner owner(shared_memory(4));
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  for (std::uint64_t i = 0; i < 20000; ++i) {
    const std::string payload = "a " + std::to_string(i);
    const Message m = text(payload);  // a view of payload
    auto seq = i % 2 == 0 ? at->try_publish(m) : at->publish(m, 10s);
    REQUIRE_MESSAGE(seq.ok(), seq.status().to_string());
    REQUIRE(*seq == i);
  }
  const TopicStats st = owner.topic->stats();
  CHECK(st.published == 20000);
  CHECK(st.skipped == 0);
  CHECK(st.earliest > 0);  // went round: the rolls took the bound too
}

TEST_CASE("an attached bounded publish does not wait behind a publish of its process that waits for ring room") {
  Owner owner(shared_memory(2));
  auto held =
      owner.topic->subscribe({.name = "audit", .start = StartAt::earliest(), .slow = SlowPolicy::kBlock}).value();
  const std::uint64_t filled = fill(owner.topic, "subscriber 'audit'");
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  // An unbounded publish on another thread: its roll request waits in the
  // owner for ring room, holding this engine's connection.
  std::atomic<bool> done{false};
  Result<std::uint64_t> first{Status::InvalidArgument("not run")};
  // Joined on the way out too (a failed check): the engine's close ends its wait.
  std::jthread waiter([&] {
    first = at->publish(text("w 0"));
    done.store(true, std::memory_order_release);  // pairs with the acquire loads below
  });
  // Until its roll request is on the connection (before it, a bounded one
  // goes to the owner itself, which refuses it naming the subscriber).
  const auto in_roll = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    Timed s = watched(owner, [&] { return at->try_publish(text("a 0")); });
    REQUIRE_MESSAGE(s.returned, "try_publish waited for the connection");
    REQUIRE_FALSE(s.result.ok());
    REQUIRE(s.result.status().code() == Code::kBusy);
    if (s.result.status().message().find("another publish of this process") != std::string::npos) break;
    REQUIRE(std::chrono::steady_clock::now() < in_roll);
    std::this_thread::sleep_for(1ms);
  }
  CHECK_FALSE(done.load(std::memory_order_acquire));
  // The bounded ones do not queue behind it for the connection.
  refused_twice(owner, at, "a 0", "another publish of this process");
  // The subscriber reads on: the waiting publish gets the next sequence.
  read_dense(*held, filled, {"w 0"});
  waiter.join();
  REQUIRE_MESSAGE(first.ok(), first.status().to_string());
  CHECK(*first == filled);
  auto after = at->try_publish(text("a 0"));
  REQUIRE_MESSAGE(after.ok(), after.status().to_string());
  CHECK(*after == filled + 1);
}
