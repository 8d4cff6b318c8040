// Fault injection: the disk says no. A failed fdatasync, a segment that
// cannot be reserved, a data directory that cannot be written. Each fault
// is an error value naming the file; nothing is published that should not
// be, and the log goes on without a gap once the fault clears.
//
// Built from the engine's parts (tests/support/faulty_topic.h) so the persistence
// thread's DiskIo can be a FaultInjectingDiskIo. Control files' write
// faults (short writes among them): tests/fault_injection_write_test.cpp.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include "common/format.h"
#include "engine/topic_core.h"
#include "persistence/disk_io.h"
#include "persistence/file_storage.h"
#include "persistence/persistence_thread.h"
#include "persistence/segment_file.h"
#include "tests/support/fault_injecting_disk_io.h"
#include "tests/support/faulty_topic.h"
#include "tests/support/helpers.h"

using namespace conduit;
namespace fs = std::filesystem;
using persistence::FaultInjectingDiskIo;

namespace {

using conduit::test::FaultyTopic;
using conduit::test::TempDir;

constexpr std::size_t kSegmentBytes = conduit::test::kFaultySegmentBytes;

std::string payload_for(std::uint64_t seq) { return "rec-" + std::to_string(seq) + std::string(1500, 'p'); }

Result<std::uint64_t> publish(detail::TopicCore& t, std::uint64_t seq) {
  const std::string payload = payload_for(seq);
  Message m;
  m.payload = payload;
  return t.publish(m);
}

// Every record, in order from 0, with the payload its sequence gives it.
void expect_dense_log(detail::TopicCore& t, std::uint64_t n) {
  CHECK(test::read_dense_log(t.handle(), payload_for) == n);
}

}  // namespace

TEST_CASE("a failed fdatasync fails the sync publish with kIOError naming the file, and durable stays put") {
  FaultyTopic t(Durability::kSync);
  REQUIRE(publish(*t.core, 0).value() == 0);
  REQUIRE(t.core->durable() == 1);

  t.faults->fail_next(FaultInjectingDiskIo::Op::kDatasync, EIO);
  auto failed = publish(*t.core, 1);
  REQUIRE_FALSE(failed.ok());
  const Status s = failed.status();
  CAPTURE(s.to_string());
  CHECK(s.code() == Code::kIOError);
  CHECK(s.message().find("fdatasync") != std::string::npos);
  CHECK(s.message().find((t.topic_dir() / persistence::segment_file_name(0)).string()) != std::string::npos);
  CHECK(s.message().find("errno " + std::to_string(EIO)) != std::string::npos);
  // The record is in the log, but nothing claims it reached the disk.
  CHECK(t.core->published() == 2);
  CHECK(t.core->durable() == 1);
}

TEST_CASE("after a failed fdatasync clears, the next sync publish makes the earlier records durable too") {
  FaultyTopic t(Durability::kSync);
  REQUIRE(publish(*t.core, 0).ok());
  t.faults->fail_next(FaultInjectingDiskIo::Op::kDatasync, EIO);
  REQUIRE(publish(*t.core, 1).status().code() == Code::kIOError);

  REQUIRE(publish(*t.core, 2).value() == 2);
  CHECK(t.core->durable() == 3);
  CHECK(t.core->await_durable(1, std::chrono::seconds(5)).ok());
  expect_dense_log(*t.core, 3);
}

TEST_CASE("a failed fdatasync writes the unsynced files again, so the next success covers their pages") {
  FaultyTopic t(Durability::kSync);
  REQUIRE(publish(*t.core, 0).ok());
  CHECK(t.faults->redirtied() == 0);
  t.faults->fail_next(FaultInjectingDiskIo::Op::kDatasync, EIO);
  REQUIRE(publish(*t.core, 1).status().code() == Code::kIOError);
  // The round that failed rewrote the file it was syncing (the one segment),
  // before the publish heard of the failure: its header and both records,
  // and not a byte past them (producers may be writing there).
  CHECK(t.faults->redirtied() == 1);
  std::size_t settled = format::kSegmentHeaderSize;
  for (std::uint64_t i = 0; i < 2; ++i) {
    const std::string payload = payload_for(i);
    Message m;
    m.payload = payload;
    settled += format::align_up(format::encoded_size(m));
  }
  CHECK(t.faults->last_redirty_bytes() == settled);
  REQUIRE(publish(*t.core, 2).value() == 2);
  CHECK(t.faults->redirtied() == 1);  // a round that succeeds rewrites nothing
  // Writing the bytes over themselves changed none of them.
  expect_dense_log(*t.core, 3);
}

TEST_CASE("await_durable reports a failed fdatasync to a publisher that did not wait") {
  FaultyTopic t(Durability::kSync);
  const std::string payload = payload_for(0);
  Message m;
  m.payload = payload;
  const std::uint64_t seq = t.core->publish(m, /*nowait=*/true).value();
  t.faults->fail_next(FaultInjectingDiskIo::Op::kDatasync, EIO);
  const Status s = t.core->await_durable(seq, std::chrono::seconds(5));
  CHECK(s.code() == Code::kIOError);
  CHECK(t.core->durable() == 0);
  // A later round succeeds and covers it.
  CHECK(t.core->await_durable(seq, std::chrono::seconds(5)).ok());
}

TEST_CASE("a spare segment that cannot be reserved is no error: the roll creates the segment itself") {
  FaultyTopic t(Durability::kAsync, /*no_spare=*/true);
  const std::uint64_t n = 3 * kSegmentBytes / 1600;  // three segments' worth
  for (std::uint64_t i = 0; i < n; ++i) REQUIRE(publish(*t.core, i).value() == i);
  expect_dense_log(*t.core, n);
  CHECK_FALSE(fs::exists(t.topic_dir() / ".spare"));
}

TEST_CASE("a segment that cannot be reserved fails the publish that rolls, publishes nothing, and leaves no gap") {
  // No spare: otherwise the roll would adopt one reserved before the limit.
  FaultyTopic t(Durability::kAsync, /*no_spare=*/true);
  // The current segment is reserved already; a new one (160 KiB) is over
  // this limit, so its fallocate fails with EFBIG (SIGXFSZ ignored).
  struct rlimit before {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &before) == 0);
  struct sigaction ignore {
  }, old_action{};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGXFSZ, &ignore, &old_action) == 0);
  struct rlimit small = before;
  small.rlim_cur = kSegmentBytes / 2;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);

  std::uint64_t published = 0;
  Status failure;
  for (; published < 1000; ++published) {
    auto r = publish(*t.core, published);
    if (!r.ok()) {
      failure = r.status();
      break;
    }
    REQUIRE(r.value() == published);
  }
  const std::uint64_t published_at_failure = t.core->published();
  // A second try while the disk is still "full" fails the same way, and does not hang.
  const Status again = publish(*t.core, published).status();
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &before) == 0);
  REQUIRE(::sigaction(SIGXFSZ, &old_action, nullptr) == 0);

  REQUIRE(published < 1000);
  CAPTURE(failure.to_string());
  CHECK(failure.code() == Code::kIOError);
  CHECK(failure.message().find("fallocate") != std::string::npos);
  const fs::path next = t.topic_dir() / persistence::segment_file_name(published);
  CHECK(failure.message().find(next.string()) != std::string::npos);
  CHECK(again.code() == Code::kIOError);
  CHECK(published_at_failure == published);
  CHECK(t.core->published() == published);
  CHECK_FALSE(fs::exists(next));

  // The limit is back: the log goes on at the next sequence.
  REQUIRE(publish(*t.core, published).value() == published);
  REQUIRE(publish(*t.core, published + 1).value() == published + 1);
  CHECK(fs::exists(next));
  expect_dense_log(*t.core, published + 2);
}

TEST_CASE("an engine on a data directory it cannot create fails to open with kIOError naming it") {
  TempDir dir;
  const fs::path read_only = dir.path / "read-only";
  const fs::path data_dir = read_only / "data";
  fs::create_directory(read_only);
  auto open_fails = [&] {
    EngineOptions o;
    o.data_dir = data_dir.string();
    auto engine = Engine::open(o);
    return !engine.ok() && engine.status().code() == Code::kIOError &&
           engine.status().message().find(data_dir.string()) != std::string::npos;
  };
  if (::geteuid() != 0) {
    REQUIRE(::chmod(read_only.c_str(), 0500) == 0);
    CHECK(open_fails());
    REQUIRE(::chmod(read_only.c_str(), 0700) == 0);
    return;
  }
  // Root writes through any mode bits, so asserting as root would prove
  // nothing. Check as an unprivileged user instead, in a child process (no
  // engine or thread is alive here, so fork is safe); if privileges cannot
  // be dropped, say so and assert nothing.
  constexpr uid_t kNobody = 65534;
  REQUIRE(::chmod(dir.path.c_str(), 0711) == 0);
  REQUIRE(::chown(read_only.c_str(), kNobody, kNobody) == 0);
  REQUIRE(::chmod(read_only.c_str(), 0500) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(2);
    ::_exit(open_fails() ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) {
    MESSAGE("running as root and cannot drop privileges: the read-only directory check was not asserted");
    return;
  }
  CHECK_MESSAGE(WEXITSTATUS(status) == 0, "Engine::open under a 0500 directory did not fail with kIOError naming it");
}

TEST_CASE("an async topic whose fdatasyncs fail with ENOSPC keeps publishing, holds durable, and catches up after") {
  FaultyTopic t(Durability::kAsync);
  REQUIRE(publish(*t.core, 0).value() == 0);
  REQUIRE(t.core->await_durable(0, std::chrono::seconds(5)).ok());
  REQUIRE(t.core->durable() == 1);

  t.faults->fail_next(FaultInjectingDiskIo::Op::kDatasync, ENOSPC, 3);
  for (std::uint64_t i = 1; i < 50; ++i) REQUIRE(publish(*t.core, i).value() == i);
  // The waiter is told of the failure, with its errno, and nothing past the
  // last good round is called durable.
  const Status s = t.core->await_durable(49, std::chrono::seconds(5));
  CAPTURE(s.to_string());
  CHECK(s.code() == Code::kIOError);
  CHECK(s.message().find("errno " + std::to_string(ENOSPC)) != std::string::npos);
  CHECK(t.core->durable() == 1);
  // Once the disk has room again a round covers every record.
  Status later;
  for (int tries = 0; tries < 5; ++tries) {
    later = t.core->await_durable(49, std::chrono::seconds(5));
    if (later.ok()) break;
    CHECK(later.code() == Code::kIOError);
  }
  CHECK(later.ok());
  CHECK(t.core->durable() == 50);
  expect_dense_log(*t.core, 50);
}

// Records reach the log through the mapping, never write(); a committed
// position is written whole to a temporary file, then renamed (a write that
// fails or stops short: fault_injection_write_test.cpp). A position file cut
// short on disk, as a damaged block leaves it, must be reported, never read
// as some other position.
TEST_CASE("a committed position file cut short is reported as corruption naming it, not read as a position") {
  TempDir dir;
  EngineOptions eo;
  eo.data_dir = dir.path.string();
  TopicOptions to;
  to.durability = Durability::kAsync;
  SubscriberOptions named;
  named.name = "reader";
  named.start = StartAt::earliest();
  {
    auto engine = Engine::open(eo).value();
    Topic* topic = engine->create_topic("positions", to).value();
    for (int i = 0; i < 3; ++i) REQUIRE(topic->publish("p").ok());
    auto sub = topic->subscribe(named).value();
    std::vector<RecordView> views(2);
    REQUIRE(sub->try_poll(views).count == 2);
    REQUIRE(sub->commit().ok());
  }
  const fs::path position = dir.path / "topics" / "positions" / "cursors" / "sub-reader";
  REQUIRE(fs::file_size(position) > 10);
  fs::resize_file(position, 10);
  auto engine = Engine::open(eo).value();
  Topic* topic = engine->create_topic("positions", to).value();
  auto sub = topic->subscribe(named);
  REQUIRE_FALSE(sub.ok());
  CHECK(sub.status().code() == Code::kCorruption);
  CHECK(sub.status().message().find(position.string()) != std::string::npos);
}

// With a waiter's sync round held inside fdatasync: runs Engine::close()'s
// steps for the topic on a thread of its own (its last round waits for the
// held one), lets 50 ms pass (far past a waiter's park timeout of 500 us, so
// a waiter that took the storage's close for an answer has given up by
// then), then lets the syncs go and waits for the close.
void close_while_a_sync_is_held(FaultyTopic& t) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (t.faults->datasyncs_waiting() == 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(t.faults->datasyncs_waiting() == 1);
  std::thread closer([&] {
    t.shared.closed.store(true, std::memory_order_release);  // as Engine::close(); read by the topic's acquire
    t.core->stop_claims();
    (void)t.core->close_storage();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  t.faults->release_datasyncs();
  closer.join();
}

TEST_CASE("a sync publish still waiting when the engine closes returns once close's last fdatasync made it durable") {
  FaultyTopic t(Durability::kSync);
  REQUIRE(publish(*t.core, 0).value() == 0);
  t.faults->hold_datasyncs();
  std::optional<Result<std::uint64_t>> waited;
  std::thread publisher([&] { waited = publish(*t.core, 1); });
  close_while_a_sync_is_held(t);
  publisher.join();
  REQUIRE(waited.has_value());
  REQUIRE_MESSAGE(waited->ok(), waited->status().to_string());
  CHECK(waited->value() == 1);
  CHECK(t.core->durable() == 2);
}

TEST_CASE("an ack still waiting for its journal entry when the engine closes is durable once close's last sync ran") {
  FaultyTopic t(Durability::kSync);
  REQUIRE(publish(*t.core, 0).value() == 0);
  WorkGroup* group = t.topic()->work_group("g").value();
  auto consumer = group->consumer().value();
  Delivery d[1];
  REQUIRE(consumer->poll(d, std::chrono::seconds(5)).count == 1);
  t.faults->hold_datasyncs();
  bool acked = false;
  const std::string said = conduit::test::stderr_of([&] {
    std::thread acker([&] { acked = consumer->ack(d[0]); });
    close_while_a_sync_is_held(t);
    acker.join();
  });
  CHECK(acked);
  // The last round synced the entry: the ack is not reported lost.
  INFO(said);
  CHECK(said.find("not durable") == std::string::npos);
}
