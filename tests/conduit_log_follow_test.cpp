// conduit-log on a topic that is deleted (and created again) while it reads
// it. tail -f says so on stderr and follows the new topic from its first
// record, every time, wherever it was: in the middle of the old topic's
// records, idle at the end of the log, or while no topic of that name
// exists. Without -f, a read of a topic deleted under it ends with exit 1
// and says why.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/conduit_log_tool.h"

using namespace conduit;
using namespace conduit::test::log_tool;

namespace {

// "g<generation>-<seq>-" and filler: which incarnation of the topic wrote a
// record, and at which sequence.
std::string tagged(int gen, std::uint64_t seq, std::size_t size) {
  std::string p = "g";
  p.append(std::to_string(gen)).append("-").append(std::to_string(seq)).append("-");
  p.resize(std::max(size, p.size()), 'f');
  return p;
}

bool publish_gen(Topic* t, int gen, std::uint64_t n, std::size_t size) {
  for (std::uint64_t i = 0; i < n; ++i)
    if (!t->publish(tagged(gen, i, size)).ok()) return false;
  return true;
}

struct Tag {
  int gen = -1;
  std::int64_t seq = -1;      // the record's sequence as tail printed it
  std::int64_t tag_seq = -1;  // the sequence its payload was written for
};

Tag tag_of(const std::string& line) {
  Tag t;
  t.seq = json_int(line, "seq");
  const std::string key = "\"payload\":\"g";
  const std::size_t p = line.find(key);
  REQUIRE_MESSAGE(p != std::string::npos, line.substr(0, 200));
  std::size_t end = 0;
  t.gen = std::stoi(line.substr(p + key.size()), &end);
  t.tag_seq = std::stoll(line.substr(p + key.size() + end + 1));
  return t;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

// Waits (up to 30 s) until the file holds `what`.
bool await_text(const std::string& path, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (slurp(path).find(what) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

constexpr std::uint64_t kOld = 40, kNew = 60;  // 12 KB records: 3 and 4 segments of 192 KiB
constexpr std::size_t kBig = 12000;
constexpr int kIdleRounds = 6;
constexpr int kLastGen = 99;
const std::string kFollowing = "following the new topic from its first record";

}  // namespace

TEST_CASE("tail -f follows a topic that is deleted and created again, every time, and says so") {
  TempDir dir;
  EngineChild child(dir.str(), [](Engine& e, Topic* t, int tell_fd, int wait_fd) {
    auto again = [&](int gen, std::uint64_t n, std::size_t size) {
      if (!e.delete_topic("live").ok()) return false;
      auto fresh = e.create_topic("live", live_topic_options());
      return fresh.ok() && publish_gen(*fresh, gen, n, size);
    };
    if (!publish_gen(t, 0, kOld, kBig) || !tell(tell_fd)) return 1;
    // A longer topic in its place: segment files past the one tail reads,
    // which a reader that does not look would take for the old log's.
    if (!wait_for(wait_fd) || !again(1, kNew, kBig) || !tell(tell_fd)) return 1;
    for (int gen = 2; gen < 2 + kIdleRounds; ++gen)  // tail idle at the end of the log
      if (!wait_for(wait_fd) || !again(gen, 3, 100) || !tell(tell_fd)) return 1;
    // Deleted, and created again only once tail has said it waits.
    if (!wait_for(wait_fd) || !e.delete_topic("live").ok() || !tell(tell_fd) || !wait_for(wait_fd)) return 1;
    auto last = e.create_topic("live", live_topic_options());
    if (!last.ok() || !publish_gen(*last, kLastGen, 3, 100) || !tell(tell_fd)) return 1;
    return wait_for(wait_fd) ? 0 : 1;
  });
  child.await_signal();
  const std::string err_path = dir.str() + "/../conduit-log-follow-err-" + std::to_string(::getpid());
  int fd = -1;
  const pid_t tail = spawn({"tail", "-f", "--from", "0", "--json", dir.str(), "live"}, &fd, err_path);
  KillOnExit guard{tail};
  LineReader out{fd};

  // Round 1: nothing reads tail's stdout yet, so it stops on the full pipe
  // inside the first segment of generation 0, which it keeps mapped while
  // the topic is replaced.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  child.signal();
  child.await_signal();
  auto last_is = [&](int gen, std::uint64_t seq) {
    if (out.lines.empty()) return false;
    const Tag t = tag_of(out.lines.back());
    return t.gen == gen && t.tag_seq == static_cast<std::int64_t>(seq);
  };
  out.read_until([&] { return last_is(1, kNew - 1); });
  std::size_t old_printed = 0;
  while (old_printed < out.lines.size() && tag_of(out.lines[old_printed]).gen == 0) ++old_printed;
  CHECK(old_printed >= 1);
  CHECK(old_printed < kOld);  // the old topic's later segments were gone when tail got there
  REQUIRE(out.lines.size() == old_printed + kNew);
  for (std::size_t i = 0; i < out.lines.size(); ++i) {
    const Tag t = tag_of(out.lines[i]);
    const std::int64_t want = static_cast<std::int64_t>(i < old_printed ? i : i - old_printed);
    CAPTURE(i);
    CHECK(t.gen == (i < old_printed ? 0 : 1));
    CHECK(t.seq == want);
    CHECK(t.tag_seq == want);
  }
  CHECK(count(slurp(err_path), kFollowing) == 1);

  // Rounds 2..: deleted and created again while tail waits at the end.
  for (int gen = 2; gen < 2 + kIdleRounds; ++gen) {
    CAPTURE(gen);
    const std::size_t before = out.lines.size();
    child.signal();
    child.await_signal();
    out.read_until([&] { return out.lines.size() >= before + 3; });
    REQUIRE(out.lines.size() == before + 3);
    for (std::size_t i = 0; i < 3; ++i) {
      const Tag t = tag_of(out.lines[before + i]);
      CHECK(t.gen == gen);
      CHECK(t.seq == static_cast<std::int64_t>(i));
    }
    CHECK(count(slurp(err_path), kFollowing) == static_cast<std::size_t>(gen));
  }

  // Deleted for a while: tail says it waits, and prints nothing meanwhile.
  const std::size_t before = out.lines.size();
  child.signal();
  child.await_signal();
  CHECK(await_text(err_path, "conduit-log tail: topic 'live' was deleted; waiting for it to be created again\n"));
  out.read_until([] { return false; }, 1);
  CHECK(out.lines.size() == before);
  child.signal();
  child.await_signal();
  out.read_until([&] { return out.lines.size() >= before + 3; });
  REQUIRE(out.lines.size() == before + 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(tag_of(out.lines[before + i]).gen == kLastGen);
  CHECK(await_text(err_path, "conduit-log tail: topic 'live' was created again: " + kFollowing + "\n"));

  ::kill(tail, SIGTERM);
  CHECK(wait_code(tail) == -SIGTERM);
  guard.pid = -1;
  ::close(fd);
  MESSAGE("tail's notices:\n" << slurp(err_path));
  fs::remove(err_path);
  child.signal();
  CHECK(child.finish() == 0);
}

TEST_CASE("without -f, a topic deleted under a read ends it with exit 1 and says so") {
  TempDir dir;
  EngineChild child(dir.str(), [](Engine& e, Topic* t, int tell_fd, int wait_fd) {
    if (!publish_gen(t, 0, kOld, kBig) || !tell(tell_fd) || !wait_for(wait_fd)) return 1;
    if (!e.delete_topic("live").ok()) return 1;
    auto fresh = e.create_topic("live", live_topic_options());
    if (!fresh.ok() || !publish_gen(*fresh, 1, kNew, kBig) || !tell(tell_fd)) return 1;
    return wait_for(wait_fd) ? 0 : 1;
  });
  child.await_signal();
  const std::string err_path = dir.str() + "/../conduit-log-dump-err-" + std::to_string(::getpid());
  int fd = -1;
  const pid_t dump = spawn({"dump", "--json", dir.str(), "live"}, &fd, err_path);
  KillOnExit guard{dump};
  LineReader out{fd};
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // dump stops on its full stdout pipe
  child.signal();
  child.await_signal();
  out.read_until([] { return false; }, 5);
  CHECK(wait_code(dump) == 1);
  guard.pid = -1;
  CHECK(slurp(err_path) == "conduit-log dump: topic 'live' was deleted and created again while it was being read\n");
  REQUIRE(!out.lines.empty());
  for (std::size_t i = 0; i < out.lines.size(); ++i) {
    const Tag t = tag_of(out.lines[i]);
    CHECK(t.gen == 0);
    CHECK(t.seq == static_cast<std::int64_t>(i));
  }
  CHECK(out.lines.size() < kOld);
  ::close(fd);
  fs::remove(err_path);
  child.signal();
  CHECK(child.finish() == 0);
}
