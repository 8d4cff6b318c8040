// Crashes of a work group on a sync topic: a child process acks (and now
// and then nacks) records from two consumer threads and is killed with
// SIGKILL at a random moment; the parent reopens and checks that no ack the
// child saw return (durable, on a sync topic) is delivered again, and that
// every record it did not start to ack still is. Each iteration goes on
// from the state the previous one left. The kill points come from a seed,
// printed on failure; CONDUIT_TEST_SEED=N replays one. CONDUIT_CRASH_CYCLES=N
// sets the kill cycles (default 20; see tests/support/crash_log.h).
//
// SIGKILL ends the process, not the machine: the page cache survives, so
// this checks the journal's logic (entries written before the ack returned,
// replayed over the state file, torn or half-rotated journals), not that
// fdatasync was called (the sync round's batching is covered elsewhere).
//
// fork() happens only while the parent has no engine open.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/crash_log.h"
#include "tests/support/temp_dir.h"

using namespace conduit;

namespace {

using conduit::test::TempDir;

constexpr std::uint64_t kBatch = 300;  // records published whenever few are left

// What the child tells the parent; a write of one is atomic on a pipe.
struct Report {
  std::uint64_t seq;
  std::uint64_t kind;  // kStarting before ack(), kConfirmed once it returned true
};
constexpr std::uint64_t kStarting = 1, kConfirmed = 2;

enum ChildExit : int { kOpenFailed = 10, kPollFailed, kPipeFailed, kCommitFailed };

std::unique_ptr<Engine> open_engine(const TempDir& dir, Topic** topic, WorkGroup** group) {
  EngineOptions o;
  o.data_dir = dir.path.string();
  auto e = Engine::open(o);
  if (!e.ok()) return nullptr;
  TopicOptions t;
  t.durability = Durability::kSync;
  t.segment_bytes = 256 << 10;
  t.max_payload_bytes = 1024;
  auto tp = (*e)->create_topic("jobs", t);
  if (!tp.ok()) return nullptr;
  WorkGroupOptions go;
  go.ack_timeout = std::chrono::nanoseconds{0};  // the parent's polls must not time anything out
  auto g = (*tp)->work_group("workers", go);
  if (!g.ok()) return nullptr;
  *topic = *tp;
  *group = *g;
  return std::move(e).value();
}

[[noreturn]] void run_child(const TempDir& dir, int report_fd, std::uint64_t seed) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  Topic* topic = nullptr;
  WorkGroup* group = nullptr;
  auto engine = open_engine(dir, &topic, &group);
  if (!engine) ::_exit(kOpenFailed);
  auto say = [&](std::uint64_t seq, std::uint64_t kind) {
    const Report r{seq, kind};
    if (::write(report_fd, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) ::_exit(kPipeFailed);
  };
  auto work = [&](std::uint64_t thread) {
    auto c = group->consumer();
    if (!c.ok()) ::_exit(kPollFailed);
    std::mt19937_64 rng(seed * 2 + thread);
    Delivery out[8];
    for (std::uint64_t n = 0;; ++n) {
      const PollResult r = (*c)->poll(out, std::chrono::milliseconds(100));
      for (std::size_t k = 0; k < r.count; ++k) {
        if (rng() % 10 == 0) {
          (void)(*c)->nack(out[k]);  // redelivered: attempts and failures go through the journal too
          continue;
        }
        say(out[k].sequence, kStarting);
        if ((*c)->ack(out[k])) say(out[k].sequence, kConfirmed);
      }
      // Now and then a commit: the kill may land in a rotation.
      if (thread == 0 && n % 16 == 15 && !group->commit().ok()) ::_exit(kCommitFailed);
    }
  };
  std::thread second(work, 1);
  work(0);
  second.join();
  ::_exit(0);
}

}  // namespace

TEST_CASE("an ack that returned on a sync topic is never delivered again after a crash") {
  const std::uint64_t seed = conduit::test::crash::test_seed();
  const int cycles = conduit::test::crash::cycles_per_case(20);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  std::uint64_t published = 0;
  // Over all iterations: every ack the child began, and every one it saw return.
  std::set<std::uint64_t> started, confirmed;
  // Keeps work for the child: publishes a batch when few records are left.
  auto top_up = [&](Topic* topic, WorkGroup* group) {
    if (published - group->stats().ack_floor >= kBatch / 2) return;
    Message m;
    m.payload = "job";
    std::uint64_t last = 0;
    for (std::uint64_t k = 0; k < kBatch; ++k) last = topic->publish_nowait(m).value();
    REQUIRE(topic->await_durable(last, std::chrono::seconds(30)).ok());
    published = last + 1;
  };
  {
    Topic* topic = nullptr;
    WorkGroup* group = nullptr;
    auto engine = open_engine(dir, &topic, &group);
    REQUIRE(engine);
    top_up(topic, group);
  }
  for (int iteration = 0; iteration < cycles; ++iteration) {
    CAPTURE(iteration);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      run_child(dir, fds[1], seed + static_cast<std::uint64_t>(iteration));
    }
    ::close(fds[1]);
    // Kill it a random while after its first report (or after 30 s: then it failed).
    auto read_reports = [&](int timeout_ms) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      Report r[64];
      const ssize_t n = ::read(fds[0], r, sizeof r);
      if (n <= 0) return false;
      for (std::size_t k = 0; k < static_cast<std::size_t>(n) / sizeof(Report); ++k)
        (r[k].kind == kConfirmed ? confirmed : started).insert(r[k].seq);
      return true;
    };
    const bool reported = read_reports(30000);
    const auto kill_at = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 30'000);
    while (std::chrono::steady_clock::now() < kill_at) (void)read_reports(1);
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    while (read_reports(0)) {}
    ::close(fds[0]);
    REQUIRE_MESSAGE(WIFSIGNALED(status), "child exited with " << WEXITSTATUS(status));
    REQUIRE(reported);

    Topic* topic = nullptr;
    WorkGroup* group = nullptr;
    auto engine = open_engine(dir, &topic, &group);
    REQUIRE(engine);
    auto c = group->consumer().value();
    std::set<std::uint64_t> delivered;
    Delivery out[256];
    for (PollResult r = c->try_poll(out); r.count != 0; r = c->try_poll(out))
      for (std::size_t k = 0; k < r.count; ++k) delivered.insert(out[k].sequence);
    for (std::uint64_t s : delivered) REQUIRE_MESSAGE(!confirmed.contains(s), "acked record " << s << " came back");
    // Not delivered: done, so some ack of it began.
    for (std::uint64_t s = 0; s < published; ++s)
      if (!delivered.contains(s)) REQUIRE_MESSAGE(started.contains(s), "record " << s << " was lost");
    top_up(topic, group);
  }
  MESSAGE(cycles << " SIGKILL cycles; " << confirmed.size() << " acks confirmed, " << published
                 << " records published");
  // The child got somewhere: most acks survived.
  CHECK(confirmed.size() > static_cast<std::size_t>(cycles));
}
