// Two threads of one attached process publish across rolls (doc/ipc.md,
// "Rolls"). The one whose claim crossed the head's end is made late to ask
// for its roll (CONDUIT_TEST_PUB_STOP=crosser_late: it waits until another
// thread of its process is in a roll request, at most 1 s), so the other,
// whose claim lies wholly past that end, reaches the engine's one
// connection first. That one must not hold the connection in a roll the
// owner answers only after the seal, which the crosser asks for over the
// same connection: both threads go on, with publish() and with
// publish(m, timeout), and every record is there once, dense, in each
// thread's order. A hang cannot be ended from here (the owner's own
// threads then wait under the topic's lock for that seal, so even its
// close waits): after 20 s the test says so and exits the process with 1,
// so it fails instead of hanging.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/ipc/shm_topic.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using namespace conduit::test;

namespace {

// Records of about 1000 bytes: 2 x 400 of them fill three 256 KiB segments
// and more, so the threads meet at three rolls or so.
constexpr std::uint64_t kEach = 400;

std::string payload(char id, std::uint64_t i) {
  std::string p = std::string(1, id) + " " + std::to_string(i) + " ";
  p.resize(1000, 'x');
  return p;
}

// Publishes kEach records from each of two threads of this process into
// the owner's topic "m" (attached), with `publish`; exits the process with
// 1 when they did not both end within 20 s.
void publish_from_two_threads(Owner& owner,
                              const std::function<Result<std::uint64_t>(AttachedTopic*, const Message&)>& publish) {
  REQUIRE(::setenv("CONDUIT_TEST_PUB_STOP", "crosser_late", 1) == 0);
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();  // reads the hook
  REQUIRE(::unsetenv("CONDUIT_TEST_PUB_STOP") == 0);
  std::atomic<int> done{0};
  std::vector<Status> failed(2);
  std::vector<std::thread> threads;
  for (int k = 0; k < 2; ++k)
    threads.emplace_back([&, k] {
      for (std::uint64_t i = 0; i < kEach; ++i) {
        const std::string p = payload(static_cast<char>('a' + k), i);
        auto seq = publish(at, text(p));
        if (!seq.ok()) {
          failed[k] = seq.status();
          break;
        }
      }
      done.fetch_add(1, std::memory_order_release);  // pairs with the acquire loads below
    });
  const auto limit = std::chrono::steady_clock::now() + 20s;
  while (done.load(std::memory_order_acquire) < 2 && std::chrono::steady_clock::now() < limit)
    std::this_thread::sleep_for(1ms);
  if (done.load(std::memory_order_acquire) != 2) {
    std::fprintf(stderr, "FAILED: the attached publishes hung at a roll (20 s)\n");
    std::_Exit(1);
  }
  for (auto& t : threads) t.join();
  for (const Status& s : failed) CHECK_MESSAGE(s.ok(), s.to_string());
}

// Reads topic "m" from sequence 0: 2 x kEach records, dense, each thread's
// in its order.
void read_all(Owner& owner) {
  auto sub = owner.topic->subscribe({.name = "check", .start = StartAt::earliest()}).value();
  std::uint64_t next[2] = {0, 0};
  std::uint64_t read = 0;
  RecordView v[256];
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (read < 2 * kEach) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    const PollResult r = sub->poll(v, 100ms);
    REQUIRE(r.status.ok());
    REQUIRE(r.lost == 0);
    REQUIRE(r.skipped == 0);
    for (std::size_t k = 0; k < r.count; ++k, ++read) {
      REQUIRE(v[k].sequence() == read);
      const std::string p(v[k].payload());
      const int id = p[0] - 'a';
      REQUIRE((id == 0 || id == 1));
      REQUIRE(p == payload(p[0], next[id]));
      ++next[id];
    }
  }
  CHECK(next[0] == kEach);
  CHECK(next[1] == kEach);
}

}  // namespace

TEST_CASE("a claim past the head's end does not take the connection before its own process's crosser rolls") {
  Owner owner(shared_memory(8));
  publish_from_two_threads(owner, [](AttachedTopic* at, const Message& m) { return at->publish(m); });
  CHECK(owner.topic->stats().segments >= 3);
  read_all(owner);
}

TEST_CASE("the same with bounded publishes") {
  Owner owner(shared_memory(8));
  publish_from_two_threads(owner, [](AttachedTopic* at, const Message& m) { return at->publish(m, 10s); });
  CHECK(owner.topic->stats().segments >= 3);
  read_all(owner);
}
