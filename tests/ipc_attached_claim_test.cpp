// Zero-copy claims from an attached process (AttachedTopic::claim,
// AttachedClaim; an attached engine in this process, as
// ipc_roll_order_test's, and a worker process for the kill): the payload is
// written in place in the topic's segment file and is what an in-process
// subscriber reads once committed, not before; kSync commit() returns once
// durable; an abandoned, destroyed or replaced claim becomes a skip record
// that readers step over and count (PollResult::skipped, and
// TopicStats::skipped); claims across segment rolls, one held open over a
// roll, come out dense and whole; the owner's close and the attached
// engine's destruction end an open claim as a skip record (commit() then
// kClosed) without waiting for it; a process SIGKILLed holding a claim
// leaves a skip record and readers go on; four threads claiming at once,
// some abandoning, across rolls, leave a dense log with each thread's
// records in its order.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/ipc/returns.h"
#include "tests/ipc/shm_topic.h"
#include "tests/ipc/worker.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using namespace conduit::test;

namespace {

// What a subscriber read until it had `records` records (skip records not
// counted), and how many skip records it stepped over; fails after 30 s.
struct Read {
  std::vector<std::string> payloads;
  std::vector<std::uint64_t> seqs;
  std::vector<std::string> keys;
  std::uint64_t skipped = 0;
};
Read read_n(Subscriber& sub, std::size_t records) {
  Read got;
  RecordView v[64];
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (got.payloads.size() < records) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "readers did not get past the claims");
    const PollResult r = sub.poll(v, 50ms);
    REQUIRE(r.status.ok());
    REQUIRE(r.lost == 0);
    got.skipped += r.skipped;
    for (std::size_t k = 0; k < r.count; ++k) {
      got.payloads.emplace_back(v[k].payload());
      got.seqs.push_back(v[k].sequence());
      got.keys.emplace_back(v[k].key());
    }
  }
  return got;
}

std::unique_ptr<Subscriber> from_start(Topic* t) {
  return t->subscribe({.name = {}, .start = StartAt::earliest()}).value();
}

// The path of the file this process maps at `p` (/proc/self/maps), or "".
std::string mapped_file_at(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    std::uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2 || a < lo || a >= hi) continue;
    const auto slash = line.find('/');
    return slash == std::string::npos ? std::string() : line.substr(slash);
  }
  return {};
}

// Runs `f`, which must return: one still waiting after 20 s cannot be
// ended from here (the owner's close or delete_topic waiting for a claim
// this thread holds, claimers waiting for each other's rolls), so the
// process says `what` and exits with 1.
void must_return(const char* what, const std::function<void()>& f) {
  const bool in_time = returns(
      [&] {
        f();
        return Status::OK();
      },
      [what] {
        std::fprintf(stderr, "%s\n", what);
        std::_Exit(1);
      },
      nullptr);
  CHECK(in_time);
}

void must_not_wait(const std::function<void()>& end) { must_return("the owner waited for an open attached claim", end); }

void fill(AttachedClaim& c, const std::string& text) {
  REQUIRE(c.payload().size() == text.size());
  std::memcpy(c.payload().data(), text.data(), text.size());
}

}  // namespace

TEST_CASE("attached claim: written in place, invisible until committed, then read as written") {
  Owner owner(small_async());
  auto sub = from_start(owner.topic);
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  Message env;
  env.key = "k1";
  auto c = at->claim(11, env);
  REQUIRE(c.ok());
  CHECK(c->active());
  CHECK(c->sequence() == 0);
  // The payload's bytes are this process's mapping of the segment file.
  CHECK_MESSAGE(mapped_file_at(c->payload().data()).ends_with("/topics/m/00000000000000000000.seg"),
                mapped_file_at(c->payload().data()));
  fill(*c, "hello world");
  RecordView v[4];
  CHECK(sub->try_poll(v).count == 0);  // not committed: nothing to read
  auto seq = c->commit();
  REQUIRE(seq.ok());
  CHECK(*seq == 0);
  CHECK_FALSE(c->active());
  CHECK(c->payload().empty());
  CHECK(c->commit().status().code() == Code::kInvalidArgument);
  const Read got = read_n(*sub, 1);
  CHECK(got.payloads == std::vector<std::string>{"hello world"});
  CHECK(got.keys == std::vector<std::string>{"k1"});
  CHECK(got.skipped == 0);
  // As Topic::claim refuses them.
  Message with_payload;
  with_payload.payload = "x";
  CHECK(at->claim(4, with_payload).status().code() == Code::kInvalidArgument);
  CHECK(at->claim(small_async().max_payload_bytes + 1).status().code() == Code::kTooLarge);
  // Nothing was claimed by the refusals.
  REQUIRE(at->publish("next").value() == 1);
}

TEST_CASE("attached claim on a kSync topic: commit() returns once durable; commit_nowait, then await_durable") {
  Owner owner(small_sync());
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  auto c = at->claim(4);
  REQUIRE(c.ok());
  fill(*c, "sync");
  auto seq = c->commit();
  REQUIRE(seq.ok());
  CHECK(owner.topic->durable() > *seq);
  auto d = at->claim(6);
  REQUIRE(d.ok());
  fill(*d, "nowait");
  auto seq2 = d->commit_nowait();
  REQUIRE(seq2.ok());
  REQUIRE(at->await_durable(*seq2, 30s).ok());
  CHECK(owner.topic->durable() > *seq2);
  CHECK(payloads(owner.topic) == std::vector<std::string>{"sync", "nowait"});
}

TEST_CASE("attached await_durable times out behind an open attached claim") {
  Owner owner(small_sync());
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  auto c = at->claim(4);
  REQUIRE(c.ok());
  auto after = at->publish_nowait(text("after"));
  REQUIRE(after.ok());
  Status got;
  const bool in_time = returns([&] { return at->await_durable(*after, 1ms); },
                               [&] { REQUIRE(c->commit_nowait().ok()); }, &got);
  REQUIRE_MESSAGE(in_time, "await_durable(seq, 1ms) waited past its timeout");
  CHECK_MESSAGE(got.code() == Code::kTimedOut, got.to_string());
  fill(*c, "open");
  REQUIRE(c->commit().ok());
  REQUIRE(at->await_durable(*after, 30s).ok());
}

TEST_CASE("attached claims abandoned, destroyed or replaced are skip records that readers step over and count") {
  Owner owner(small_async());
  auto sub = from_start(owner.topic);
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  REQUIRE(at->publish("before").value() == 0);
  {
    auto a = at->claim(8).value();  // 1: abandoned
    fill(a, "abandons");
    a.abandon();
    CHECK_FALSE(a.active());
    a.abandon();  // nothing, as in process
  }
  {
    auto b = at->claim(8).value();  // 2: destroyed
    CHECK(b.sequence() == 2);
  }
  {
    AttachedClaim c = at->claim(8).value();  // 3: replaced by a move
    AttachedClaim d = at->claim(5).value();  // 4: moved, committed
    CHECK(c.sequence() == 3);
    c = std::move(d);
    CHECK_FALSE(d.active());
    CHECK(c.sequence() == 4);
    fill(c, "moved");
    REQUIRE(c.commit().value() == 4);
  }
  REQUIRE(at->publish("after").value() == 5);
  const Read got = read_n(*sub, 3);
  CHECK(got.payloads == std::vector<std::string>{"before", "moved", "after"});
  CHECK(got.seqs == std::vector<std::uint64_t>{0, 4, 5});
  CHECK(got.skipped == 3);
  CHECK(owner.topic->stats().skipped == 3);
  CHECK(owner.topic->stats().published == 6);
}

TEST_CASE("attached claims across segment rolls, one held open over a roll") {
  Owner owner(small_async());  // 256 KiB segments
  auto sub = from_start(owner.topic);
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  auto payload = [](std::uint64_t i) {
    std::string p = "claim " + std::to_string(i) + " ";
    p.resize(1000, static_cast<char>('a' + i % 26));
    return p;
  };
  // About 250 records a segment: 700 records cross two rolls.
  constexpr std::uint64_t kRecords = 700;
  AttachedClaim held = at->claim(1000).value();  // 0, open while the others roll
  fill(held, payload(0));
  for (std::uint64_t i = 1; i < kRecords; ++i) {
    auto c = at->claim(1000);
    REQUIRE(c.ok());
    REQUIRE(c->sequence() == i);
    fill(*c, payload(i));
    REQUIRE(c->commit_nowait().value() == i);
    if (i == 300) {
      // Past the first roll: the held claim, in the first segment, commits now.
      CHECK(owner.topic->stats().segments >= 2);
      REQUIRE(held.commit().value() == 0);
    }
  }
  const Read got = read_n(*sub, kRecords);
  CHECK(got.skipped == 0);
  for (std::uint64_t i = 0; i < kRecords; ++i) {
    REQUIRE(got.seqs[i] == i);
    REQUIRE(got.payloads[i] == payload(i));
  }
  CHECK(owner.topic->stats().segments >= 3);
}

TEST_CASE("the owner's close ends an open attached claim as a skip record; its commit is kClosed") {
  Owner owner(small_async());
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  REQUIRE(at->publish("first").value() == 0);
  auto c = at->claim(8).value();
  fill(c, "too late");
  must_not_wait([&] { owner.engine->close(); });
  const auto s = c.commit();
  CHECK(s.status().code() == Code::kClosed);
  CHECK_FALSE(c.active());
  owner.engine.reset();
  // The next owner finds the skip record where the claim was.
  auto again = Engine::open(owner.eo).value();
  Topic* t = again->create_topic("m", small_async()).value();
  auto sub = from_start(t);
  REQUIRE(t->publish("second").ok());
  const Read got = read_n(*sub, 2);
  CHECK(got.payloads == std::vector<std::string>{"first", "second"});
  CHECK(got.skipped == 1);
}

TEST_CASE("an attached engine destroyed with a claim open: the owner ends it, readers go on") {
  Owner owner(small_async());
  auto sub = from_start(owner.topic);
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  auto c = at->claim(8).value();  // 0
  fill(c, "orphaned");
  attached.reset();
  REQUIRE(owner.topic->publish("owner").value() == 1);
  const Read got = read_n(*sub, 1);
  CHECK(got.payloads == std::vector<std::string>{"owner"});
  CHECK(got.skipped == 1);
  // The claim outlived its engine: ending it touches nothing.
  CHECK(c.commit().status().code() == Code::kClosed);
  CHECK(owner.topic->stats().skipped == 1);
}

TEST_CASE("an attached process SIGKILLed holding a claim open: a skip record, readers go on") {
  Owner owner(small_async());
  auto sub = from_start(owner.topic);
  Worker w({"hold", owner.eo.data_dir, "m", "w"});
  REQUIRE(expect_line(w, "claimed ") == "1");
  REQUIRE(owner.topic->publish("owner 0").value() == 2);
  RecordView v[4];
  const PollResult first = sub->poll(v, 5s);
  REQUIRE(first.count == 1);
  CHECK(v[0].payload() == "w 0");
  CHECK(sub->try_poll(v).count == 0);  // held at the claim while its process lives
  w.kill();
  const Read got = read_n(*sub, 1);
  CHECK(got.payloads == std::vector<std::string>{"owner 0"});
  CHECK(got.seqs == std::vector<std::uint64_t>{2});
  CHECK(got.skipped == 1);
  CHECK(owner.topic->stats().skipped == 1);
  REQUIRE(owner.topic->publish("owner 1").value() == 3);
}

TEST_CASE("delete_topic ends an open attached claim as a skip record; its commit is kNotFound") {
  Owner owner(small_async());
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  auto c = at->claim(7).value();
  fill(c, "deleted");
  Status deleted;
  must_not_wait([&] { deleted = owner.engine->delete_topic("m"); });
  REQUIRE(deleted.ok());
  CHECK(c.commit().status().code() == Code::kNotFound);
}

TEST_CASE("attached claims on a shared memory-only topic") {
  Owner owner(shared_memory(2));
  auto sub = from_start(owner.topic);
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  auto a = at->claim(6).value();
  auto b = at->claim(7).value();
  fill(b, "skipped");
  b.abandon();
  fill(a, "memory");
  REQUIRE(a.commit().value() == 0);
  const Read got = read_n(*sub, 1);
  CHECK(got.payloads == std::vector<std::string>{"memory"});
  CHECK(got.skipped == 1);
}

TEST_CASE("attached claims from four threads, some abandoned, across rolls: dense, each thread's in order") {
  Owner owner(small_async());
  auto sub = from_start(owner.topic);
  auto attached = AttachedEngine::attach(owner.eo.data_dir).value();
  AttachedTopic* at = attached->topic("m").value();
  constexpr int kThreads = 4;
  constexpr std::uint64_t kEach = 600;  // of ~300 bytes: about 3 segments in all
  auto payload = [](int t, std::uint64_t i) {
    std::string p = std::to_string(t) + " " + std::to_string(i) + " ";
    p.resize(300, '.');
    return p;
  };
  std::vector<std::thread> threads;
  std::vector<std::string> failed(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < kEach && failed[t].empty(); ++i) {
        auto c = at->claim(300);
        if (!c.ok()) {
          failed[t] = c.status().to_string();
          break;
        }
        const std::string p = payload(t, i);
        std::memcpy(c->payload().data(), p.data(), p.size());
        if (i % 5 == 4) continue;  // destroyed: a skip record
        if (auto s = c->commit(); !s.ok()) failed[t] = s.status().to_string();
      }
    });
  must_return("claiming threads of one process waited for each other's rolls", [&] {
    for (auto& th : threads) th.join();
  });
  for (const auto& f : failed) REQUIRE_MESSAGE(f.empty(), f);
  // After every claim: the skip records all come before it.
  REQUIRE(owner.topic->publish("end").value() == kThreads * kEach);
  const std::uint64_t committed = kThreads * kEach * 4 / 5;
  const Read got = read_n(*sub, committed + 1);
  REQUIRE(got.payloads.back() == "end");
  CHECK(got.skipped == kThreads * kEach / 5);
  CHECK(owner.topic->stats().skipped == kThreads * kEach / 5);
  std::vector<std::uint64_t> next(kThreads, 0);
  for (std::size_t k = 0; k < committed; ++k) {
    if (k != 0) REQUIRE(got.seqs[k] > got.seqs[k - 1]);
    const int t = got.payloads[k][0] - '0';
    REQUIRE(t >= 0);
    REQUIRE(t < kThreads);
    if (next[t] % 5 == 4) ++next[t];  // that one was abandoned
    REQUIRE(got.payloads[k] == payload(t, next[t]));
    ++next[t];
  }
  CHECK(owner.topic->stats().segments >= 2);
}
