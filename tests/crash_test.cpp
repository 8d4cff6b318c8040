// Crashes: a child process publishes from two threads and is killed with
// SIGKILL at a random moment; the parent reopens the log and checks what
// survived. Each iteration appends to the log the previous ones left, so
// recovery of a recovered log is exercised too. The kill points come from
// a seed, printed on failure; CONDUIT_TEST_SEED=N replays one.
//
// SIGKILL ends the process, not the machine: the page cache survives, so
// these tests check recovery's logic (torn records, holes left by a
// producer that died mid-write, rolls cut short), not that fdatasync was
// called. A record that publish acknowledged must still be there, intact.
// A named subscriber and a work group in the child commit their positions
// as they read; after each crash those positions must not have moved back.
//
// fork() happens only while the parent has no engine open (doctest runs
// the cases on one thread, and the parent's engine is closed before the
// next fork), so the child starts from a single-threaded process.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/helpers.h"

using namespace conduit;
namespace fs = std::filesystem;

namespace {

using conduit::test::TempDir;

constexpr int kIterations = 24;
constexpr int kThreads = 2;
constexpr const char* kTopic = "crash";

// What the child tells the parent after each publish that returned OK. A
// write() of up to 16 of them is atomic on a pipe (PIPE_BUF is 4096).
struct Ack {
  std::uint64_t seq;      // the sequence publish returned
  std::uint64_t tag;      // whose record it is (see make_tag)
  std::uint64_t durable;  // the topic's durable watermark seen right after
};

// A record's payload carries who wrote it: (iteration, thread, counter).
// The sequence is assigned by publish, so with two publishers the payload
// cannot be derived from it in advance; the ack ties the two together.
// Acks with these tags carry a committed position instead (in `seq`): a
// named subscriber's, and a work group's ack floor. Record tags never reach
// them (iterations are few).
constexpr std::uint64_t kSubscriberCommitted = ~std::uint64_t{0};
constexpr std::uint64_t kGroupCommitted = ~std::uint64_t{0} - 1;

std::uint64_t make_tag(std::uint64_t iteration, std::uint64_t thread, std::uint64_t counter) {
  return iteration << 48 | thread << 40 | counter;
}
bool is_position(const Ack& a) { return a.tag == kSubscriberCommitted || a.tag == kGroupCommitted; }
std::uint64_t tag_writer(std::uint64_t tag) { return tag >> 40; }  // (iteration, thread)
std::uint64_t tag_counter(std::uint64_t tag) { return tag & ((std::uint64_t{1} << 40) - 1); }

std::uint64_t mix(std::uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// "<16 hex digits of the tag>|" and then padding whose length (below
// `max_pad`) and bytes are derived from the tag: any record can be checked
// on its own.
std::string payload_for(std::uint64_t tag, std::size_t max_pad) {
  char head[32];
  std::snprintf(head, sizeof head, "%016llx|", static_cast<unsigned long long>(tag));
  std::string p = head;
  const std::uint64_t h = mix(tag);
  const std::size_t pad = h % max_pad;
  p.resize(p.size() + pad);
  for (std::size_t i = 0; i < pad; ++i) p[17 + i] = static_cast<char>('a' + ((h >> (i % 59)) + i) % 26);
  return p;
}

// Sync runs write few records (each waits for an fdatasync): large ones, so
// segments roll. Async runs write many: small ones, so the log stays small.
std::size_t max_pad(Durability d) { return d == Durability::kSync ? 4000 : 200; }

// The tag a payload claims, when the whole payload is what that tag makes.
bool intact_payload(std::string_view payload, std::size_t pad_limit, std::uint64_t* tag) {
  if (payload.size() < 17 || payload[16] != '|') return false;
  const std::string hex(payload.substr(0, 16));
  char* end = nullptr;
  *tag = std::strtoull(hex.c_str(), &end, 16);
  return end == hex.c_str() + 16 && payload == payload_for(*tag, pad_limit);
}

TopicOptions topic_options(Durability d) {
  TopicOptions t;
  t.durability = d;
  // Small segments so a run rolls often: the smallest that holds two of the
  // largest records (2 * (max_payload_bytes + 64 KiB envelope)).
  t.segment_bytes = 160 << 10;
  t.max_payload_bytes = 4096;
  return t;
}

// Child exit codes other than death by SIGKILL; each one fails the test.
enum ChildExit : int { kOpenFailed = 10, kCreateFailed, kPublishFailed, kPipeFailed, kRanTooLong, kReaderFailed };

// The child: publishes until it is killed, acking each returned publish.
// Sync publishers ack each record as publish returns. Async publishers run
// in bursts, so the log stays small while a kill still often lands among
// publishes in flight (a torn record, or a hole before committed records),
// and ack in batches.
[[noreturn]] void run_child(const TempDir& dir, bool fallback, Durability d, int iteration, int ack_fd) {
  // Never outlive a parent that died (a failed REQUIRE, say).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  auto engine = Engine::open(test::engine_options(dir, fallback));
  if (!engine.ok()) ::_exit(kOpenFailed);
  auto topic = (*engine)->create_topic(kTopic, topic_options(d));
  if (!topic.ok()) ::_exit(kCreateFailed);
  Topic* t = *topic;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const std::size_t batch = d == Durability::kSync ? 1 : 16;
  auto produce = [&](std::uint64_t thread) {
    std::vector<Ack> acks;
    for (std::uint64_t counter = 0;; ++counter) {
      const std::uint64_t tag = make_tag(static_cast<std::uint64_t>(iteration), thread, counter);
      auto r = t->publish(payload_for(tag, max_pad(d)));
      if (!r.ok()) ::_exit(kPublishFailed);
      acks.push_back({*r, tag, t->durable()});
      if (acks.size() == batch) {
        const auto bytes = static_cast<ssize_t>(acks.size() * sizeof(Ack));
        if (::write(ack_fd, acks.data(), static_cast<std::size_t>(bytes)) != bytes) ::_exit(kPipeFailed);
        acks.clear();
      }
      if (d == Durability::kAsync && counter % 64 == 63) std::this_thread::sleep_for(std::chrono::microseconds(300));
      if (std::chrono::steady_clock::now() > give_up) ::_exit(kRanTooLong);
    }
  };
  // A named subscriber and a work group read along and commit their
  // positions every few polls, reporting each committed position (read
  // before the commit, so what is stored is at least that).
  auto read_and_commit = [&] {
    SubscriberOptions named;
    named.name = "reader";
    named.start = StartAt::earliest();
    auto sub = t->subscribe(named);
    auto group = t->work_group("workers");
    if (!sub.ok() || !group.ok()) ::_exit(kReaderFailed);
    auto consumer = (*group)->consumer();
    if (!consumer.ok()) ::_exit(kReaderFailed);
    std::vector<RecordView> views(64);
    Delivery d[64];
    for (std::uint64_t round = 1;; ++round) {
      (void)(*sub)->poll(views, std::chrono::milliseconds(1));
      const PollResult r = (*consumer)->try_poll(d);
      for (std::size_t i = 0; i < r.count; ++i) (*consumer)->ack(d[i]);
      if (round % 2 == 0) {
        const Ack positions[2] = {{(*sub)->position(), kSubscriberCommitted, 0},
                                  {(*group)->stats().ack_floor, kGroupCommitted, 0}};
        if (!(*sub)->commit().ok() || !(*group)->commit().ok()) ::_exit(kReaderFailed);
        if (::write(ack_fd, positions, sizeof positions) != static_cast<ssize_t>(sizeof positions)) ::_exit(kPipeFailed);
      }
      if (std::chrono::steady_clock::now() > give_up) ::_exit(kRanTooLong);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(produce, static_cast<std::uint64_t>(i));
  threads.emplace_back(read_and_commit);
  for (auto& th : threads) th.join();  // never returns: the threads end by _exit or SIGKILL
  ::_exit(kRanTooLong);
}

// Reads whole acks from `fd` until `deadline`, until there are `enough`
// acks, or until EOF (the child is gone), whichever comes first.
void read_acks(int fd, std::vector<Ack>* acks, std::string* partial, std::chrono::steady_clock::time_point deadline,
               std::size_t enough = SIZE_MAX) {
  char buf[4096];
  while (acks->size() < enough) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    REQUIRE(ready >= 0);
    if (ready == 0) return;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    REQUIRE(n >= 0);
    if (n == 0) return;  // EOF
    partial->append(buf, static_cast<std::size_t>(n));
    const std::size_t whole = partial->size() / sizeof(Ack) * sizeof(Ack);
    for (std::size_t off = 0; off < whole; off += sizeof(Ack)) {
      Ack a;
      std::memcpy(&a, partial->data() + off, sizeof a);
      acks->push_back(a);
    }
    partial->erase(0, whole);
  }
}

// What the log held after the previous iteration: the tag of each record.
struct LogSoFar {
  std::vector<std::uint64_t> tags;
  std::uint64_t subscriber_position = 0;  // the named subscriber's, as the last reopen found it
  std::uint64_t group_floor = 0;          // the work group's
  int positions_committed = 0;            // iterations that had committed positions to check
};

// Reopens the log and checks it against the acks of this iteration.
void verify_after_crash(const TempDir& dir, bool fallback, Durability d, const std::vector<Ack>& acks, LogSoFar* log,
                        std::string* disk_io) {
  auto engine = Engine::open(test::engine_options(dir, fallback));
  REQUIRE_MESSAGE(engine.ok(), engine.status().to_string());
  *disk_io = (*engine)->disk_io_description();
  auto topic = (*engine)->create_topic(kTopic, topic_options(d));
  REQUIRE_MESSAGE(topic.ok(), topic.status().to_string());
  Topic* t = *topic;

  // Every record, in order from 0, and each one intact.
  std::vector<std::uint64_t> tags;
  SubscriberOptions from_start;
  from_start.start = StartAt::earliest();
  auto sub = t->subscribe(from_start).value();
  std::vector<RecordView> views(256);
  for (;;) {
    PollResult r = sub->try_poll(views);
    REQUIRE(r.lost == 0);
    for (std::size_t i = 0; i < r.count; ++i) {
      REQUIRE(views[i].sequence() == tags.size());
      std::uint64_t tag = 0;
      REQUIRE_MESSAGE(intact_payload(views[i].payload(), max_pad(d), &tag), "record " << tags.size() << " is corrupt");
      tags.push_back(tag);
    }
    if (r.count == 0) break;
  }
  REQUIRE(t->published() == tags.size());

  // What an earlier recovery kept is still there, unchanged.
  REQUIRE(tags.size() >= log->tags.size());
  for (std::size_t i = 0; i < log->tags.size(); ++i) REQUIRE(tags[i] == log->tags[i]);

  // Acknowledged records survived, with the payload that was acknowledged.
  std::uint64_t durable_seen = 0;
  for (const Ack& a : acks) {
    if (is_position(a)) continue;
    durable_seen = std::max(durable_seen, a.durable);
    if (d == Durability::kSync) {
      REQUIRE_MESSAGE(a.seq < tags.size(), "acknowledged sync record " << a.seq << " lost; log ends at " << tags.size());
      REQUIRE(a.durable > a.seq);
    }
    if (a.seq < tags.size()) REQUIRE(tags[a.seq] == a.tag);
  }
  // A record reported durable is never lost (async topics too).
  REQUIRE(durable_seen <= tags.size());

  // Each writer's records are its counters 0, 1, 2, ... in sequence order:
  // a prefix of the log cannot hold a record without the ones its writer
  // published before it.
  std::map<std::uint64_t, std::uint64_t> next_counter;
  for (std::uint64_t tag : tags) {
    std::uint64_t& next = next_counter[tag_writer(tag)];
    REQUIRE(tag_counter(tag) == next);
    ++next;
  }
  // Committed positions never move backwards: each resumes at or past the
  // last commit the child reported and the position the last reopen found,
  // and within the log.
  std::uint64_t sub_committed = log->subscriber_position, floor_committed = log->group_floor;
  for (const Ack& a : acks) {
    if (a.tag == kSubscriberCommitted) sub_committed = std::max(sub_committed, a.seq);
    if (a.tag == kGroupCommitted) floor_committed = std::max(floor_committed, a.seq);
  }
  SubscriberOptions named;
  named.name = "reader";
  named.start = StartAt::earliest();
  auto reader = t->subscribe(named).value();
  REQUIRE_MESSAGE(reader->position() >= sub_committed, "subscriber position went back from " << sub_committed);
  REQUIRE(reader->position() <= tags.size());
  const std::uint64_t floor = t->work_group("workers").value()->stats().ack_floor;
  REQUIRE_MESSAGE(floor >= floor_committed, "work group floor went back from " << floor_committed);
  REQUIRE(floor <= tags.size());
  log->subscriber_position = reader->position();
  log->group_floor = floor;
  log->positions_committed += sub_committed != 0 || floor_committed != 0;
  log->tags = std::move(tags);
}

struct IterationStats {
  std::size_t acks = 0;
  std::size_t records = 0;
  std::string disk_io;
};

// When to kill the child: after `run_for` of publishing (counted from its
// first ack), or, when `during_open`, `run_for` after the fork, so that it
// dies while it opens the engine, recovers or creates the topic.
struct KillPoint {
  std::chrono::milliseconds run_for;
  bool during_open;
  // Run on until the child reported a committed position past 0 first, so
  // that some iteration surely checks positions, however loaded the machine.
  bool after_commit = false;
};

// One fork, run, kill, verify cycle.
void crash_once(const TempDir& dir, bool fallback, Durability d, int iteration, KillPoint when, LogSoFar* log,
                IterationStats* stats) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    run_child(dir, fallback, d, iteration, fds[1]);
  }
  ::close(fds[1]);
  std::vector<Ack> acks;
  std::string partial;
  const auto now = std::chrono::steady_clock::now;
  if (when.during_open) {
    read_acks(fds[0], &acks, &partial, now() + when.run_for);
  } else {
    // Wait for the first ack (a loaded machine may take a while to open),
    // so that the kill lands while records are being published.
    read_acks(fds[0], &acks, &partial, now() + std::chrono::seconds(10), 1);
    if (when.after_commit) {
      const auto committed = [&] {
        return std::any_of(acks.begin(), acks.end(), [](const Ack& a) { return is_position(a) && a.seq > 0; });
      };
      const auto give_up = now() + std::chrono::seconds(20);
      while (!committed() && now() < give_up) read_acks(fds[0], &acks, &partial, give_up, acks.size() + 1);
    }
    read_acks(fds[0], &acks, &partial, now() + when.run_for);
  }
  REQUIRE(::kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  read_acks(fds[0], &acks, &partial, now() + std::chrono::seconds(10));  // to EOF: the write end died with the child
  ::close(fds[0]);
  INFO("child " << (WIFEXITED(status) ? "exited with code " : "died of signal ")
                 << (WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status)));
  REQUIRE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
  REQUIRE(partial.empty());  // acks are written whole
  verify_after_crash(dir, fallback, d, acks, log, &stats->disk_io);
  stats->acks += static_cast<std::size_t>(std::count_if(acks.begin(), acks.end(), [](const Ack& a) { return !is_position(a); }));
  stats->records = log->tags.size();
}

void crash_repeatedly(bool fallback, Durability d, std::uint64_t seed) {
  CAPTURE(fallback);
  CAPTURE(seed);
  TempDir dir;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> run_ms(0, 30), open_ms(0, 5), one_in(0, 5);
  LogSoFar log;
  IterationStats stats;
  for (int i = 0; i < kIterations; ++i) {
    CAPTURE(i);
    const bool during_open = one_in(rng) == 0;
    KillPoint when{std::chrono::milliseconds(during_open ? open_ms(rng) : run_ms(rng)), during_open};
    // The middle iteration always lives to commit positions (see KillPoint).
    if (i == kIterations / 2) when = KillPoint{std::chrono::milliseconds(run_ms(rng)), false, true};
    crash_once(dir, fallback, d, i, when, &log, &stats);
  }
  const std::string mode = d == Durability::kSync ? "sync" : "async";
  MESSAGE(mode << " over " << stats.disk_io << ": " << stats.acks << " acks, " << stats.records << " records after "
               << kIterations << " crashes; committed positions checked after " << log.positions_committed);
  CHECK(stats.records > 0);
  CHECK(log.positions_committed > 0);  // at least the middle iteration's
}

std::uint64_t test_seed() {
  if (const char* s = std::getenv("CONDUIT_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

}  // namespace

TEST_CASE("acknowledged sync records survive SIGKILL at random points (io_uring)") {
  crash_repeatedly(false, Durability::kSync, test_seed());
}

TEST_CASE("acknowledged sync records survive SIGKILL at random points (syscall fallback)") {
  crash_repeatedly(true, Durability::kSync, test_seed());
}

TEST_CASE("after SIGKILL an async log reopens as an intact dense prefix holding every record seen durable") {
  crash_repeatedly(false, Durability::kAsync, test_seed());
}
