// The crash tests' common half (tests/crash_test.cpp, crash_recovery_test.cpp):
// a child process that publishes from two threads, with a named subscriber
// and a work group committing as they read, until it is killed with
// SIGKILL; what it tells the parent over a pipe (each publish that returned,
// each committed position); and the parent's reopen that checks the log
// against it and appends to it again.
//
// How many cycles a test case runs: CONDUIT_CRASH_CYCLES (default 24; 20
// for crash_work_group_test), in chains of at most kChainCycles cycles,
// each chain on a fresh data directory: the log a chain grows is read whole
// after every crash, so longer chains would cost more per cycle, not test
// more. A cycle ends in one check by the parent: in crash_test and
// crash_work_group_test it follows one SIGKILL; in crash_recovery_test it
// follows one publishing child's SIGKILL and 1 to 3 more during recovery (2
// on average: 3 SIGKILLs a cycle). Each test case prints its count. .ci/run
// sets the variable per pass: more cycles in the Release build's passes,
// fewer under the sanitizers.
//
// fork() happens only while the parent has no engine open (doctest runs
// the cases on one thread, and the parent's engine is closed before the
// next fork), so each child starts from a single-threaded process.
#pragma once

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

#include "tests/support/helpers.h"

namespace conduit::test::crash {

inline constexpr int kThreads = 2;
inline constexpr const char* kTopic = "crash";
inline constexpr int kChainCycles = 24;

// Kill cycles per test case: CONDUIT_CRASH_CYCLES, else `unset`.
inline int cycles_per_case(int unset = 24) {
  if (const char* s = std::getenv("CONDUIT_CRASH_CYCLES")) {
    const long n = std::strtol(s, nullptr, 10);
    REQUIRE_MESSAGE(n > 0, "CONDUIT_CRASH_CYCLES must be a positive number, not '" << s << "'");
    return static_cast<int>(n);
  }
  return unset;
}

// A chain's data directory: every other chain lives in memory (tmpfs),
// where fdatasync costs nothing. A SIGKILL leaves the page cache, so
// whether a sync reached the disk never shows in these tests; the chains
// on /tmp keep the disk's own code paths (fallocate's modes, say) covered.
inline std::filesystem::path chain_base(int chain) {
  return chain % 2 == 0 ? std::filesystem::path("/tmp") : scratch_base();
}

inline std::uint64_t test_seed() {
  if (const char* s = std::getenv("CONDUIT_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

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
inline constexpr std::uint64_t kSubscriberCommitted = ~std::uint64_t{0};
inline constexpr std::uint64_t kGroupCommitted = ~std::uint64_t{0} - 1;
// The thread number of the record the parent appends after each check.
inline constexpr std::uint64_t kParentWriter = 0xff;

inline std::uint64_t make_tag(std::uint64_t iteration, std::uint64_t thread, std::uint64_t counter) {
  return iteration << 48 | thread << 40 | counter;
}
inline bool is_position(const Ack& a) { return a.tag == kSubscriberCommitted || a.tag == kGroupCommitted; }
inline std::uint64_t tag_writer(std::uint64_t tag) { return tag >> 40; }  // (iteration, thread)
inline std::uint64_t tag_counter(std::uint64_t tag) { return tag & ((std::uint64_t{1} << 40) - 1); }

inline std::uint64_t mix(std::uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// "<16 hex digits of the tag>|" and then padding whose length (below
// `max_pad`) and bytes are derived from the tag: any record can be checked
// on its own.
inline std::string payload_for(std::uint64_t tag, std::size_t max_pad) {
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
inline std::size_t max_pad(Durability d) { return d == Durability::kSync ? 4000 : 200; }

// The tag a payload claims, when the whole payload is what that tag makes.
inline bool intact_payload(std::string_view payload, std::size_t pad_limit, std::uint64_t* tag) {
  if (payload.size() < 17 || payload[16] != '|') return false;
  const std::string hex(payload.substr(0, 16));
  char* end = nullptr;
  *tag = std::strtoull(hex.c_str(), &end, 16);
  return end == hex.c_str() + 16 && payload == payload_for(*tag, pad_limit);
}

inline TopicOptions topic_options(Durability d) {
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
[[noreturn]] inline void run_child(const TempDir& dir, bool fallback, Durability d, int iteration, int ack_fd) {
  // Never outlive a parent that died (a failed REQUIRE, say).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  auto engine = Engine::open(engine_options(dir, fallback));
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
        if (::write(ack_fd, positions, sizeof positions) != static_cast<ssize_t>(sizeof positions))
          ::_exit(kPipeFailed);
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
inline void read_acks(int fd, std::vector<Ack>* acks, std::string* partial,
                      std::chrono::steady_clock::time_point deadline, std::size_t enough = SIZE_MAX) {
  char buf[4096];
  while (acks->size() < enough) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
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

// Kills `pid` (SIGKILL) and requires that the signal is what ended it:
// a child that exited by itself failed (its exit code says how).
inline void kill_child(pid_t pid) {
  REQUIRE(::kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO("child " << (WIFEXITED(status) ? "exited with code " : "died of signal ")
                << (WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status)));
  REQUIRE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
}

// What the log held after the previous iteration: the tag of each record.
struct LogSoFar {
  std::vector<std::uint64_t> tags;
  std::uint64_t subscriber_position = 0;  // the named subscriber's, as the last reopen found it
  std::uint64_t group_floor = 0;          // the work group's
  int positions_committed = 0;            // iterations that had committed positions to check
};

// Reopens the log and checks it against the acks of this iteration; then
// appends one record and reads it back (the recovered log takes appends).
inline void verify_after_crash(const TempDir& dir, bool fallback, Durability d, int iteration,
                               const std::vector<Ack>& acks, LogSoFar* log, std::string* disk_io) {
  auto engine = Engine::open(engine_options(dir, fallback));
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
      REQUIRE_MESSAGE(a.seq < tags.size(),
                      "acknowledged sync record " << a.seq << " lost; log ends at " << tags.size());
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

  // The recovered log appends where it ends, and the record reads back.
  const std::uint64_t own = make_tag(static_cast<std::uint64_t>(iteration), kParentWriter, 0);
  auto appended = t->publish(payload_for(own, max_pad(d)));
  REQUIRE_MESSAGE(appended.ok(), appended.status().to_string());
  REQUIRE(*appended == tags.size());
  const PollResult r = sub->try_poll(views);
  REQUIRE(r.count == 1);
  REQUIRE(views[0].sequence() == tags.size());
  REQUIRE(views[0].payload() == payload_for(own, max_pad(d)));
  tags.push_back(own);
  log->tags = std::move(tags);
}

// When to kill the publishing child: after `run_for` of publishing
// (counted from its first ack), or, when `during_open`, `run_for` after the
// fork, so that it dies while it opens the engine or creates the topic.
struct KillPoint {
  std::chrono::milliseconds run_for;
  bool during_open;
  // Run on until the child reported a committed position past 0 first, so
  // that some iteration surely checks positions, however loaded the machine.
  bool after_commit = false;
};

// Forks a child that runs `child(write_fd)` (which never returns) with a
// pipe to the parent; returns its pid, and the pipe's read end in *read_fd.
template <class Child>
pid_t fork_child(int* read_fd, Child child) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1]);
  }
  ::close(fds[1]);
  *read_fd = fds[0];
  return pid;
}

// Runs `run_chain(dir, n)` for chains of n cycles that add up to `cycles`,
// each on a fresh data directory (see the top of this file).
template <class RunChain>
void in_chains(int cycles, RunChain run_chain) {
  for (int chain = 0; chain * kChainCycles < cycles; ++chain) {
    CAPTURE(chain);
    TempDir dir(chain_base(chain));
    run_chain(dir, std::min(kChainCycles, cycles - chain * kChainCycles));
  }
}

// What each chain must have got to, however loaded the machine.
inline void check_chain(const LogSoFar& log, int cycles) {
  CHECK(log.tags.size() > static_cast<std::size_t>(cycles));  // more than the parent's own appends
  CHECK(log.positions_committed > 0);                         // at least the middle cycle's
}

// Forks a publishing child, kills it at `when` and returns every ack it sent.
inline std::vector<Ack> publish_until_killed(const TempDir& dir, bool fallback, Durability d, int iteration,
                                             KillPoint when) {
  int fd = -1;
  const pid_t pid = fork_child(&fd, [&](int ack_fd) { run_child(dir, fallback, d, iteration, ack_fd); });
  std::vector<Ack> acks;
  std::string partial;
  const auto now = std::chrono::steady_clock::now;
  if (when.during_open) {
    read_acks(fd, &acks, &partial, now() + when.run_for);
  } else {
    // Wait for the first ack (a loaded machine may take a while to open),
    // so that the kill lands while records are being published.
    read_acks(fd, &acks, &partial, now() + std::chrono::seconds(10), 1);
    if (when.after_commit) {
      const auto committed = [&] {
        return std::any_of(acks.begin(), acks.end(), [](const Ack& a) { return is_position(a) && a.seq > 0; });
      };
      const auto give_up = now() + std::chrono::seconds(20);
      while (!committed() && now() < give_up) read_acks(fd, &acks, &partial, give_up, acks.size() + 1);
    }
    read_acks(fd, &acks, &partial, now() + when.run_for);
  }
  kill_child(pid);
  read_acks(fd, &acks, &partial, now() + std::chrono::seconds(10));  // to EOF: the write end died with the child
  ::close(fd);
  REQUIRE(partial.empty());  // acks are written whole
  return acks;
}

inline std::size_t record_acks(const std::vector<Ack>& acks) {
  return static_cast<std::size_t>(
      std::count_if(acks.begin(), acks.end(), [](const Ack& a) { return !is_position(a); }));
}

}  // namespace conduit::test::crash
