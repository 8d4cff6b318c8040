// Shared memory-only topics (doc/ipc.md, "Shared memory-only topics"):
// publisher and subscriber processes on a topic with no disk at all. Every
// record once, in order, across the ring's wrap-around and the reuse of its
// segments; a blocking attached subscriber holds the ring (publishers wait,
// in process and attached, and are woken as it reads on); a lose-oldest one is told exactly how many it
// lost; lag() counts what was published and not read; the owner's
// Engine::close ends its polls with closed; a killed subscriber's hold goes
// with its connection; Topic::readers() lists attached subscribers; no
// file is made for the topic.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/disk_names.h"
#include "tests/ipc/shm_topic.h"
#include "tests/ipc/worker.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using namespace conduit::test;

namespace {

// Polls `sub` until a poll says closed (30 s at most), checking that the
// records come in order from *read on; that last poll's result.
PollResult poll_until_closed(AttachedSubscriber& sub, std::span<RecordView> v, std::uint64_t* read) {
  PollResult r;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  do {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    r = sub.poll(v, 100ms);
    for (std::size_t k = 0; k < r.count; ++k) REQUIRE(v[k].sequence() == (*read)++);
  } while (!r.closed);
  return r;
}

}  // namespace

TEST_CASE("publisher processes to subscriber processes: every record once, in order, across ring wrap-around") {
  // 4 segments of 256 KiB; 2 x 20000 records of 48 bytes wrap it about twice,
  // so segments are reused while subscribers in three processes read.
  Owner owner(shared_memory(4));
  constexpr std::uint64_t kEach = 20000, kTotal = 2 * kEach;
  const std::string dir = owner.eo.data_dir;
  std::vector<std::unique_ptr<Worker>> subs;
  for (int k = 0; k < 2; ++k) {
    subs.push_back(
        std::make_unique<Worker>(std::vector<std::string>{"sub", dir, "m", "block", "-", std::to_string(kTotal)}));
    CHECK(expect_line(*subs.back(), "subscribed ") == "0");
  }
  // An in-process blocking subscriber too: the same ring, read in place.
  auto local = owner.topic->subscribe({.name = {}, .start = StartAt::earliest(), .slow = SlowPolicy::kBlock}).value();
  Worker p0({"pub", dir, "m", "p0", std::to_string(kEach)});
  Worker p1({"pub", dir, "m", "p1", std::to_string(kEach)});
  std::uint64_t seen = 0;
  RecordView views[256];
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (seen < kTotal) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    const PollResult r = local->poll(views, 100ms);
    REQUIRE(r.status.ok());
    REQUIRE(r.lost == 0);
    for (std::size_t k = 0; k < r.count; ++k, ++seen) REQUIRE(views[k].sequence() == seen);
  }
  expect_line(p0, "done ");
  expect_line(p1, "done ");
  for (auto& s : subs) CHECK(expect_line(*s, "ok ") == std::to_string(kTotal) + " 0");
  CHECK(p0.wait() == 0);
  CHECK(p1.wait() == 0);
  for (auto& s : subs) CHECK(s->wait() == 0);
  const TopicStats st = owner.topic->stats();
  CHECK(st.published == kTotal);
  CHECK(st.earliest > 0);  // the ring wrapped: the first records are gone
  // No disk at all: nothing was made for the topic in the data directory.
  CHECK_FALSE(std::filesystem::exists(disk::topic_dir(dir, "m")));
}

TEST_CASE("a blocking subscriber in another process holds the ring: publishers wait until it reads") {
  Owner owner(shared_memory(2));
  const std::string dir = owner.eo.data_dir, go = owner.go_file();
  Worker sub({"sub", dir, "m", "block", go, "30000"});
  CHECK(expect_line(sub, "subscribed ") == "0");
  // In process: the ring fills and then refuses, naming the holder.
  const std::uint64_t filled = fill(owner.topic);
  CHECK(filled > 0);
  CHECK(owner.topic->stats().published == filled);
  // An attached publisher waits too: its roll waits for ring space.
  Worker pub({"pub", dir, "m", "p", std::to_string(30000 - filled)});
  CHECK_FALSE(pub.line(300ms).has_value());
  CHECK(owner.topic->stats().published < 30000);
  // Once the subscriber reads, everyone goes on, and it lost nothing.
  touch(go);
  CHECK(expect_line(sub, "ok ") == "30000 0");
  expect_line(pub, "done ");
  CHECK(pub.wait() == 0);
  CHECK(sub.wait() == 0);
  std::filesystem::remove(go);
}

TEST_CASE("a blocking subscriber in another process that frees ring space wakes a publisher waiting for it") {
  // A park_timeout far longer than the test: the publisher is woken, it
  // does not merely look again at the end of it.
  Owner owner(shared_memory(2), std::chrono::minutes(2));
  const std::string dir = owner.eo.data_dir, go = owner.go_file();
  // It reads everything there will be and waits for more: alive, so its
  // connection's end (which lets every waiter go) is not what wakes anyone.
  Worker sub({"sub", dir, "m", "block", go, "1000000"});
  CHECK(expect_line(sub, "subscribed ") == "0");
  const std::uint64_t filled = fill(owner.topic);
  std::atomic<bool> done{false};
  Status published;
  std::thread publisher([&] {
    published = owner.topic->publish(text("after 0")).status();
    done.store(true, std::memory_order_release);  // pairs with the acquire loads below
  });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(done.load(std::memory_order_acquire));  // the ring is full: it waits
  touch(go);
  const auto limit = std::chrono::steady_clock::now() + 60s;  // half the park_timeout
  while (!done.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < limit)
    std::this_thread::sleep_for(1ms);
  const bool woken = done.load(std::memory_order_acquire);
  if (!woken) owner.engine->close();  // ends its wait, so that it can be joined
  publisher.join();
  CHECK(woken);
  CHECK(published.ok());
  CHECK(owner.topic->stats().published == filled + 1);
  CHECK_FALSE(sub.line(0ms).has_value());  // still reading, not failed
  sub.kill();
  std::filesystem::remove(go);
}

TEST_CASE("a lose-oldest subscriber in another process holds nothing and is told exactly how many it lost") {
  Owner owner(shared_memory(2));
  const std::string dir = owner.eo.data_dir, go = owner.go_file();
  // Starts at 0 and reads nothing until the ring has gone round a few times.
  constexpr std::uint64_t kTotal = 30000;
  Worker sub({"sub", dir, "m", "lose", go, std::to_string(kTotal)});
  CHECK(expect_line(sub, "subscribed ") == "0");
  for (std::uint64_t i = 0; i < kTotal; ++i) REQUIRE(owner.topic->try_publish(text("p " + std::to_string(i))).ok());
  const std::uint64_t earliest = owner.topic->stats().earliest;
  REQUIRE(earliest > 0);
  touch(go);
  // Everything before the oldest record the ring still has is lost, and
  // told; the rest read in order.
  CHECK(expect_line(sub, "ok ") == std::to_string(kTotal - earliest) + " " + std::to_string(earliest));
  CHECK(sub.wait() == 0);
  std::filesystem::remove(go);
}

TEST_CASE("a killed subscriber process lets go of the ring: the publisher goes on") {
  Owner owner(shared_memory(2));
  const std::string dir = owner.eo.data_dir;
  Worker sub({"sub", dir, "m", "block", owner.go_file(), "1"});
  CHECK(expect_line(sub, "subscribed ") == "0");
  const std::uint64_t filled = fill(owner.topic);
  sub.kill();
  // Its connection ends with it, and with that its hold: a publish that
  // waits for ring space gets it, and the ring goes round freely again.
  REQUIRE(owner.topic->publish(text("after"), 30s).ok());
  for (std::uint64_t i = 0; i < 3 * filled; ++i)
    REQUIRE(owner.topic->try_publish(text("more " + std::to_string(i))).ok());
}

TEST_CASE("a memory-only topic: shared only with TopicOptions::shared; what its attached subscriber refuses") {
  Owner owner(shared_memory(2));
  TopicOptions local = shared_memory(2);
  local.shared = false;
  REQUIRE(owner.engine->create_topic("local", local).ok());
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  for (const Status& s : {attached->subscribe("local").status(), attached->topic("local").status()}) {
    CHECK(s.code() == Code::kUnsupported);
    CHECK(s.message().find("TopicOptions::shared") != std::string::npos);
  }
  // The option is the topic's: opening it again without it is refused.
  const auto again = owner.engine->create_topic("m", local);
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().message().find("shared") != std::string::npos);
  auto sub = attached->subscribe("m", {.name = "n", .start = StartAt::earliest()}).value();
  // No positions on a memory-only topic, as in process.
  CHECK(sub->commit().code() == Code::kUnsupported);
  REQUIRE(owner.topic->publish("one").ok());
  RecordView v[4];
  const PollResult r = sub->poll(v, 10s);
  REQUIRE(r.count == 1);
  CHECK(v[0].payload() == "one");
}

TEST_CASE("an attached subscriber's lag: the records published that it has not read, across segments") {
  Owner owner(shared_memory(4));
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  auto sub = attached->subscribe("m", {.name = {}, .start = StartAt::earliest()}).value();
  CHECK(sub->lag() == 0);
  for (std::uint64_t i = 0; i < 10; ++i) REQUIRE(owner.topic->publish(text("r " + std::to_string(i))).ok());
  CHECK(sub->lag() == 10);
  RecordView v[64];
  REQUIRE(sub->poll(std::span(v, 4), 10s).count == 4);
  CHECK(sub->lag() == 6);
  // 6000 more of 48 bytes fill the first segment (256 KiB) and go on in the next.
  for (std::uint64_t i = 10; i < 6010; ++i) REQUIRE(owner.topic->publish(text("r " + std::to_string(i))).ok());
  REQUIRE(owner.topic->stats().segments >= 2);
  CHECK(sub->lag() == 6006);
  std::uint64_t read = 4;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (read < 6010) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    read += sub->poll(v, 100ms).count;
    CHECK(sub->lag() == 6010 - read);
  }
  CHECK(sub->lag() == 0);
}

TEST_CASE("the owner gone: an attached subscriber reads what its segment holds, then is told closed") {
  auto owner = std::make_unique<Owner>(shared_memory(4));
  auto attached = AttachedEngine::attach(owner->eo.data_dir).value();
  auto sub = attached->subscribe("m", {.name = {}, .start = StartAt::earliest()}).value();
  // 6000 records of 48 bytes: the first segment (256 KiB) and some of the next.
  constexpr std::uint64_t kTotal = 6000;
  for (std::uint64_t i = 0; i < kTotal; ++i) REQUIRE(owner->topic->publish(text("r " + std::to_string(i))).ok());
  RecordView v[16];
  std::uint64_t read = sub->poll(v, 10s).count;
  REQUIRE(read != 0);  // it is in the first segment now
  owner.reset();
  const PollResult r = poll_until_closed(*sub, v, &read);
  // The rest of the first segment came; the next one would have come from the owner.
  CHECK(read > 16);
  CHECK(read < kTotal);
  CHECK(r.status.code() == Code::kClosed);
  CHECK(sub->owner_status().code() == Code::kClosed);
}

TEST_CASE("Engine::close in the owner: an attached subscriber reads what was published, then closed") {
  Owner owner(shared_memory(4));
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  auto sub = attached->subscribe("m", {.name = {}, .start = StartAt::earliest()}).value();
  // 6000 records of 48 bytes: the first segment (256 KiB) and some of the next.
  constexpr std::uint64_t kTotal = 6000;
  for (std::uint64_t i = 0; i < kTotal; ++i) REQUIRE(owner.topic->publish(text("r " + std::to_string(i))).ok());
  // Caught up in the head segment when the close comes: its poll waits there.
  auto idle = attached->subscribe("m", {.name = {}, .start = StartAt::latest()}).value();
  RecordView v[256], w[4];
  PollResult waited;
  std::thread waiter([&] { waited = idle->poll(w, 20s); });
  std::this_thread::sleep_for(50ms);  // most likely parked by now; either way it must end closed
  owner.engine->close();
  waiter.join();
  CHECK(waited.count == 0);
  CHECK(waited.closed);
  CHECK(waited.status.ok());  // closed, as in process: the owner is still there
  CHECK(idle->owner_status().ok());
  std::uint64_t read = 0;
  const PollResult r = poll_until_closed(*sub, v, &read);
  // Every record published before the close, then closed, and closed after.
  CHECK(read == kTotal);
  CHECK(r.count == 0);
  CHECK(r.status.ok());
  CHECK(sub->lag() == 0);
  CHECK(sub->try_poll(v).closed);
  // Its engine destroyed next: closed, now saying the owner is gone.
  owner.engine.reset();
  const PollResult gone = sub->poll(v, 5s);
  CHECK(gone.closed);
  CHECK(gone.status.code() == Code::kClosed);
}

TEST_CASE("Engine::close in the owner while the ring is full: a subscriber at the sealed head is told closed") {
  Owner owner(shared_memory(2));
  // An in-process blocking subscriber that never reads holds the ring: the
  // head is sealed and no next segment comes.
  auto held = owner.topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  (void)held;
  const std::uint64_t filled = fill(owner.topic, "subscriber");
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  auto sub = attached->subscribe("m", {.name = {}, .start = StartAt::at(filled - 1)}).value();
  RecordView v[4];
  PollResult r = sub->poll(v, 10s);
  REQUIRE(r.count == 1);
  CHECK(v[0].sequence() == filled - 1);
  CHECK_FALSE(sub->poll(v, 50ms).closed);  // nothing more, and not the end
  owner.engine->close();
  r = sub->poll(v, 20s);
  CHECK(r.count == 0);
  CHECK(r.closed);
  CHECK(r.status.ok());
}

TEST_CASE("the owner's engine destroyed while an attached publisher waits for ring space") {
  auto owner = std::make_unique<Owner>(shared_memory(2));
  // An in-process blocking subscriber that never reads holds the ring.
  auto held = owner->topic->subscribe({.name = {}, .start = StartAt::earliest(), .slow = SlowPolicy::kBlock}).value();
  (void)held;
  const std::uint64_t filled = fill(owner->topic, "subscriber");
  Worker pub({"pub", owner->eo.data_dir, "m", "p", std::to_string(filled)});
  CHECK_FALSE(pub.line(300ms).has_value());  // its roll waits in the owner
  // The destruction ends the connection: the wait gives up, nothing hangs.
  owner.reset();
  const std::string said = expect_line(pub, "error ");
  CHECK(said.find("publish 0") != std::string::npos);
  CHECK(pub.wait() == 1);
}

TEST_CASE("Topic::readers() lists attached subscribers of a shared memory-only topic until they go") {
  Owner owner(shared_memory(4));
  auto local = owner.topic->subscribe({.name = "local", .start = StartAt::earliest()}).value();
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  auto blocking =
      attached->subscribe("m", {.name = "far", .start = StartAt::earliest(), .slow = SlowPolicy::kBlock}).value();
  auto losing =
      attached->subscribe("m", {.name = {}, .start = StartAt::earliest(), .slow = SlowPolicy::kLoseOldest}).value();
  for (std::uint64_t i = 0; i < 10; ++i) REQUIRE(owner.topic->publish(text("r " + std::to_string(i))).ok());
  RecordView v[4];
  REQUIRE(blocking->poll(v, 10s).count == 4);
  auto readers = owner.topic->readers();
  REQUIRE(readers.size() == 3);
  // The in-process subscriber first, then the attached ones in the order they came.
  CHECK(readers[0].name == "local");
  CHECK_FALSE(readers[0].attached);
  CHECK(readers[1].name == "far");
  CHECK(readers[1].attached);
  CHECK(readers[1].kind == ReaderInfo::Kind::kSubscriber);
  CHECK(readers[1].holds_ring);
  CHECK(readers[1].position == 4);
  CHECK(readers[1].lag == 6);
  CHECK(readers[2].name.empty());
  CHECK(readers[2].attached);
  CHECK_FALSE(readers[2].holds_ring);
  CHECK(readers[2].position == 0);
  CHECK(readers[2].lag == 10);
  // Gone with its connection (the owner's connection thread ends it).
  blocking.reset();
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (owner.topic->readers().size() != 2) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(1ms);
  }
  readers = owner.topic->readers();
  CHECK(readers[0].name == "local");
  CHECK(readers[1].name.empty());
  CHECK(readers[1].attached);
}

TEST_CASE("an attached subscriber keeps SubscriberOptions::stream_gap as an in-process one does") {
  Owner owner(shared_memory(4));
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  SubscriberOptions o{.name = {}, .start = StartAt::earliest(), .wait = WaitStrategy::kBusySpin};
  o.stream_gap = 1s;
  auto sub = attached->subscribe("m", o).value();
  for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(owner.topic->publish(text("r " + std::to_string(i))).ok());
  RecordView v[8];
  // Found at once, 3 of 8: it streams and sets the gap (from a time after `streamed`).
  const auto streamed = std::chrono::steady_clock::now();
  REQUIRE(sub->poll(v, 10s).count == 3);
  REQUIRE(owner.topic->publish(text("r 3")).ok());
  // try_poll never waits; the poll after it waits out the gap although its record is there.
  REQUIRE(sub->try_poll(std::span(v, 0)).count == 0);
  REQUIRE(owner.topic->publish(text("r 4")).ok());
  REQUIRE(sub->poll(v, 10s).count == 2);
  CHECK(std::chrono::steady_clock::now() - streamed >= 1s);
}
