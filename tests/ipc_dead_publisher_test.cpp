// A publisher process killed mid-claim (doc/ipc.md, "A publisher that dies
// mid-claim"): readers go on past its claim (a skip record, counted in
// TopicStats::skipped and PollResult::skipped, shown by conduit-log), the
// owner rolls for a claim that crossed a segment's end, and the owner's
// close does not wait for the dead claim. The deterministic cases stop the
// publisher at a named point of its claim (CONDUIT_TEST_PUB_STOP makes it
// SIGSTOP itself there) and SIGKILL it; the cycle case kills publishers at
// random points (of their publishes, batches and AttachedClaims) while
// another publisher process and the owner publish, and checks that every live publisher's record is there exactly once, in
// order, with dense sequences.
//
// Cycles: CONDUIT_DEAD_PUB_CYCLES, else 100 scaled by CONDUIT_CRASH_CYCLES
// / 48 (.ci/run's Release pass sets 48: 100 cycles), else 100.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/ipc/worker.h"
#include "tests/support/conduit_log_tool.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::TempDir;
using conduit::test::Worker;

namespace {

constexpr auto kUnblock = 200ms;
// How long a test waits for readers to go on: the bound and plenty of
// room for a loaded machine (a hang fails; nothing here is a timing claim).
constexpr auto kPatience = kUnblock + 20s;

std::unique_ptr<Engine> owner_of(const TempDir& tmp) {
  EngineOptions eo;
  eo.data_dir = tmp.path.string();
  eo.unblock_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kUnblock);
  return Engine::open(eo).value();
}

// A publisher process ("forever") that stops itself at `where` in a claim.
std::unique_ptr<Worker> stopped_publisher(const TempDir& tmp, const std::string& topic, const char* where) {
  REQUIRE(::setenv("CONDUIT_TEST_PUB_STOP", where, 1) == 0);
  auto w = std::make_unique<Worker>(std::vector<std::string>{"forever", tmp.path.string(), topic, "k"});
  REQUIRE(::unsetenv("CONDUIT_TEST_PUB_STOP") == 0);
  int status = 0;
  REQUIRE(::waitpid(w->pid(), &status, WUNTRACED) == w->pid());
  REQUIRE(WIFSTOPPED(status));
  return w;
}

// What a subscriber read: payloads in order, and the skip records passed.
struct Read {
  std::vector<std::string> payloads;
  std::vector<std::uint64_t> seqs;
  std::uint64_t skipped = 0;
};

// Polls `sub` until a record with payload `until` came (and whatever came
// with it in that poll); fails after kPatience.
Read read_until(Subscriber* sub, const std::string& until) {
  Read got;
  RecordView views[64];
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  for (bool found = false; !found;) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "readers never got past the dead claim");
    const PollResult r = sub->poll(views, 50ms);
    REQUIRE(r.status.ok());
    REQUIRE(r.lost == 0);
    got.skipped += r.skipped;
    for (std::size_t k = 0; k < r.count; ++k) {
      got.payloads.emplace_back(views[k].payload());
      got.seqs.push_back(views[k].sequence());
      found = found || got.payloads.back() == until;
    }
  }
  return got;
}

int cycles() {
  if (const char* s = std::getenv("CONDUIT_DEAD_PUB_CYCLES")) return std::max(1, std::atoi(s));
  if (const char* s = std::getenv("CONDUIT_CRASH_CYCLES")) return std::max(10, (std::atoi(s) * 100 + 47) / 48);
  return 100;
}

}  // namespace

TEST_CASE("a publisher killed with a named claim open: readers skip it, it is counted and conduit-log shows it") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  Topic* topic = engine->create_topic("t", test::small_async()).value();
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  auto pub = stopped_publisher(tmp, "t", "named");  // holds sequence 0, not written
  REQUIRE(topic->publish("owner 0").value() == 1);
  RecordView v[4];
  CHECK(sub->try_poll(v).count == 0);  // stuck at the claim while its publisher lives
  pub->kill();
  const Read got = read_until(sub.get(), "owner 0");
  CHECK(got.payloads == std::vector<std::string>{"owner 0"});
  CHECK(got.skipped == 1);
  CHECK(topic->stats().skipped == 1);
  CHECK(topic->stats().published == 2);
  REQUIRE(topic->publish("owner 1").value() == 2);
  sub.reset();
  engine.reset();  // the close waits for nothing
  const auto dump = test::log_tool::run_tool({"dump", tmp.path.string(), "t"});
  CHECK(dump.code == 0);
  CHECK(dump.out.find("record 0 skipped") != std::string::npos);
  CHECK(dump.out.find("owner 1") != std::string::npos);
}

TEST_CASE("a publisher killed between its claim and naming it: readers skip it after unblock_timeout") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  Topic* topic = engine->create_topic("t", test::small_async()).value();
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  auto pub = stopped_publisher(tmp, "t", "unnamed");
  REQUIRE(topic->publish("owner 0").value() == 1);
  pub->kill();
  const Read got = read_until(sub.get(), "owner 0");
  CHECK(got.payloads == std::vector<std::string>{"owner 0"});
  CHECK(got.skipped == 1);
  CHECK(topic->stats().skipped == 1);
  // The topic goes on as before.
  REQUIRE(topic->publish("owner 1").value() == 2);
  CHECK(read_until(sub.get(), "owner 1").payloads.size() == 1);
}

TEST_CASE("a live publisher stalled between its claim and naming it, next to a dead one: kTimedOut, nothing written") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  Topic* topic = engine->create_topic("t", test::small_async()).value();
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  auto slow = stopped_publisher(tmp, "t", "unnamed");  // sequence 0; stays alive
  auto dead = stopped_publisher(tmp, "t", "unnamed");  // sequence 1
  REQUIRE(topic->publish("owner 0").value() == 2);
  dead->kill();
  // Both unnamed claims stay stuck past unblock_timeout: both are skipped,
  // the live one's revoked first.
  const Read got = read_until(sub.get(), "owner 0");
  CHECK(got.payloads == std::vector<std::string>{"owner 0"});
  CHECK(got.skipped == 2);
  REQUIRE(::kill(slow->pid(), SIGCONT) == 0);
  const auto said = slow->line();
  REQUIRE(said.has_value());
  CHECK(said->find("TimedOut") != std::string::npos);
  CHECK(said->find("unblock_timeout") != std::string::npos);
  CHECK(slow->wait() == 1);
  // It wrote nothing over the skip records; the topic goes on.
  REQUIRE(topic->publish("owner 1").value() == 3);
  CHECK(read_until(sub.get(), "owner 1").payloads == std::vector<std::string>{"owner 1"});
  CHECK(topic->stats().skipped == 2);
  sub.reset();
  engine.reset();
  const auto verify = test::log_tool::run_tool({"verify", tmp.path.string(), "t"});
  CHECK_MESSAGE(verify.code == 0, verify.out << verify.err);
}

TEST_CASE("a publisher killed between committing a record and setting its index entry: the record stays") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  Topic* topic = engine->create_topic("t", test::small_async()).value();
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  auto pub = stopped_publisher(tmp, "t", "unindexed");
  REQUIRE(topic->publish("owner 0").value() == 1);
  pub->kill();
  const Read got = read_until(sub.get(), "owner 0");
  CHECK(got.payloads == std::vector<std::string>{"k 0", "owner 0"});
  CHECK(got.skipped == 0);
  CHECK(topic->stats().skipped == 0);
}

TEST_CASE("a publisher killed in an AttachedClaim's commit, its CRC sealed, its length word not: a skip record") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  Topic* topic = engine->create_topic("t", test::small_async()).value();
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  // "forever" publishes k 0 .. k 5, then claims k 6 and stops committing it.
  auto pub = stopped_publisher(tmp, "t", "ending");
  REQUIRE(topic->publish("owner 0").value() == 7);
  pub->kill();
  const Read got = read_until(sub.get(), "owner 0");
  CHECK(got.payloads == std::vector<std::string>{"k 0", "k 1", "k 2", "k 3", "k 4", "k 5", "owner 0"});
  CHECK(got.skipped == 1);
  CHECK(topic->stats().skipped == 1);
}

TEST_CASE("a publisher killed after crossing a segment's end, before asking for the roll: the owner rolls") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  Topic* topic = engine->create_topic("t", test::small_async()).value();
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  auto pub = stopped_publisher(tmp, "t", "crossed");  // stops at the first claim that did not fit
  // An in-process publish now waits for the seal the dead crosser owed.
  std::thread own([&] { CHECK(topic->publish("owner 0").ok()); });
  pub->kill();
  own.join();
  const Read got = read_until(sub.get(), "owner 0");
  // Everything the killed publisher published is there, in its order.
  REQUIRE(got.payloads.size() >= 2);
  for (std::size_t i = 0; i + 1 < got.payloads.size(); ++i) CHECK(got.payloads[i] == "k " + std::to_string(i));
  CHECK(got.skipped == 0);
  CHECK(topic->stats().segments >= 2);
  for (std::size_t i = 0; i < got.seqs.size(); ++i) CHECK(got.seqs[i] == i);
}

TEST_CASE("delete_topic waits for a stopped publisher's claim, and goes on once that publisher is killed") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  REQUIRE(engine->create_topic("t", test::small_async()).ok());
  auto pub = stopped_publisher(tmp, "t", "named");  // holds sequence 0, not written
  std::atomic<bool> done{false};
  Status deleted;
  std::thread del([&] {
    deleted = engine->delete_topic("t");
    done.store(true, std::memory_order_release);  // pairs with the acquire loads below
  });
  // While the publisher lives, its claim may still be written: the delete waits.
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(done.load(std::memory_order_acquire));
  pub->kill();
  // Its claim is ended as a skip record; the delete then finishes. Before,
  // a deleted topic's dead claims were left alone, and the delete waited
  // for one of them for ever.
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!done.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::fprintf(stderr, "FAILED: delete_topic still waits for the killed publisher's claim\n");
      std::_Exit(1);  // the delete's thread cannot be joined
    }
    std::this_thread::sleep_for(10ms);
  }
  del.join();
  CHECK(deleted.ok());
  CHECK(engine->topic("t").status().code() == Code::kNotFound);
}

TEST_CASE("the owner's close does not wait for a killed publisher's claim") {
  TempDir tmp;
  {
    auto engine = owner_of(tmp);
    Topic* topic = engine->create_topic("t", test::small_async()).value();
    auto pub = stopped_publisher(tmp, "t", "named");
    REQUIRE(topic->publish("owner 0").value() == 1);
    pub->kill();
    // Closed at once: the connection's end may be read before or during
    // the close; either way the claim ends as a skip record.
  }
  auto engine = owner_of(tmp);
  Topic* topic = engine->topic("t").value();
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  REQUIRE(topic->publish("owner 1").value() == 2);
  const Read got = read_until(sub.get(), "owner 1");
  CHECK(got.payloads == std::vector<std::string>{"owner 0", "owner 1"});
  CHECK(got.skipped == 1);
}

TEST_CASE("publisher processes SIGKILLed mid-publish, cycle after cycle: no live publisher's record is lost") {
  TempDir tmp;
  auto engine = owner_of(tmp);
  Topic* topic = engine->create_topic("t", test::small_async()).value();
  auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  const std::string stop = (tmp.path / "stop-live").string();
  Worker live({"live", tmp.path.string(), "t", "live", stop});
  std::map<std::string, std::uint64_t> next;  // by publisher: the next number expected
  std::uint64_t records = 0, skipped = 0;
  std::int64_t last_seq = -1;
  auto check = [&](const Read& got) {
    skipped += got.skipped;
    for (std::size_t i = 0; i < got.payloads.size(); ++i) {
      const std::string& p = got.payloads[i];
      const auto sp = p.find(' ');
      REQUIRE(sp != std::string::npos);
      auto& want = next[p.substr(0, sp)];
      REQUIRE_MESSAGE(p.substr(sp + 1) == std::to_string(want), "'" << p << "' where " << want << " was next");
      ++want;
      REQUIRE(static_cast<std::int64_t>(got.seqs[i]) > last_seq);
      last_seq = static_cast<std::int64_t>(got.seqs[i]);
      ++records;
    }
  };
  std::mt19937 rng(20261207);
  const int n = cycles();
  for (int c = 0; c < n; ++c) {
    Worker doomed({"forever", tmp.path.string(), "t", "k" + std::to_string(c)});
    REQUIRE(doomed.line() == std::optional<std::string>("ready"));
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    doomed.kill();
    // A record after whatever the killed publisher claimed: readers get to
    // it once its claim is ended.
    const std::string mark = "owner " + std::to_string(c);
    REQUIRE(topic->publish(mark).ok());
    live.pump();
    check(read_until(sub.get(), mark));
  }
  { std::ofstream(stop).put('x'); }
  const auto done = live.line();
  REQUIRE(done.has_value());
  REQUIRE(done->rfind("done ", 0) == 0);
  CHECK(live.wait() == 0);
  const std::string last = "owner " + std::to_string(n);
  REQUIRE(topic->publish(last).ok());
  check(read_until(sub.get(), last));
  CHECK(next["live"] == std::stoull(done->substr(5)));  // every one, once, in order
  // Dense: every sequence was read or skipped.
  CHECK(records + skipped == static_cast<std::uint64_t>(last_seq) + 1);
  CHECK(topic->stats().skipped == skipped);
  MESSAGE(n << " publishers killed mid-publish; " << skipped << " records became skip records; " << records
            << " records read");
  // Every skip record the owner wrote passes the offline check too.
  sub.reset();
  engine.reset();
  const auto verify = test::log_tool::run_tool({"verify", tmp.path.string(), "t"});
  CHECK_MESSAGE(verify.code == 0, verify.out << verify.err);
}
