// Crashes during recovery. Each cycle: a child publishes and is killed
// with SIGKILL (tests/support/crash_log.h), which leaves a log that needs recovery;
// the parent may add what a crash at another moment leaves above the last
// intact record (a record half written, a torn one, a padding record with
// no segment after it, a roll cut short before the new segment's header or
// before its blocks);
// then one to three more children open the engine on it and are killed at
// a random moment of Engine::open, create_topic (the recovery scan, the
// tail's zeroing, setting aside what is not part of the log), or the named
// subscriber's and the work group's reopening; each one recovers what the
// one before it left. Last the parent opens the log itself and requires
// every acknowledged record, intact, the log dense, committed positions not
// moved back, and an append that reads back (verify_after_crash).
//
// A recovering child tells the parent, one byte at a time, which phase it
// has reached; the kill delay is drawn against how long a whole recovery
// took in this chain (some run to the end to measure it), weighted towards
// its end, where recovery changes files. The phases the kills landed in are
// printed per test case. The kill points come from a seed, printed on
// failure; CONDUIT_TEST_SEED=N replays one. CONDUIT_CRASH_CYCLES=N sets the
// cycles (parent checks) per test case, default 24 (see crash_log.h).
//
// This file asserts what must hold after any interrupted recovery, not how
// recovery gets there (which files it zeroes, renames or removes).
#include <conduit/inspect.h>

#include <fstream>
#include <optional>
#include <span>
#include <utility>

#include "persistence/segment_file.h"
#include "tests/support/crash_log.h"

using namespace conduit;
using namespace conduit::test::crash;
namespace fs = std::filesystem;

namespace {

using conduit::test::TempDir;

// How far a recovering child got, in order; each is one byte on its pipe.
enum Phase : int { kForked, kOpening, kEngineOpen, kTopicOpen, kReadersOpen, kPhases };
constexpr const char* kPhaseNames[kPhases] = {"before Engine::open", "in Engine::open", "in create_topic",
                                              "reopening the subscriber and work group", "after all of it"};

enum RecoverExit : int { kRecoverOpenFailed = 20, kRecoverCreateFailed, kRecoverReadersFailed, kRecoverPipeFailed };

// Opens what the publishing child opens, saying before each step how far it
// got, then waits to be killed.
[[noreturn]] void recover_child(const TempDir& dir, bool fallback, Durability d, int fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  auto say = [fd](Phase p) {
    const char c = static_cast<char>(p);
    if (::write(fd, &c, 1) != 1) ::_exit(kRecoverPipeFailed);
  };
  say(kOpening);
  auto engine = Engine::open(conduit::test::engine_options(dir, fallback));
  if (!engine.ok()) ::_exit(kRecoverOpenFailed);
  say(kEngineOpen);
  auto topic = (*engine)->create_topic(kTopic, topic_options(d));
  if (!topic.ok()) ::_exit(kRecoverCreateFailed);
  say(kTopicOpen);
  SubscriberOptions named;
  named.name = "reader";
  named.start = StartAt::earliest();
  if (!(*topic)->subscribe(named).ok() || !(*topic)->work_group("workers").ok()) ::_exit(kRecoverReadersFailed);
  say(kReadersOpen);
  for (;;) ::pause();
}

// How long a recovering child took from kOpening to kTopicOpen (the
// topic's recovery done) and to kReadersOpen (all of it).
struct Durations {
  std::chrono::nanoseconds topic{}, whole{};
};

struct RecoveryKill {
  Phase reached = kForked;
  std::optional<Durations> took;  // when it got to kReadersOpen
};

// Forks a recovering child and kills it `delay` after it starts to open
// the engine, or once it has opened everything when there is no delay.
RecoveryKill kill_during_recovery(const TempDir& dir, bool fallback, Durability d,
                                  std::optional<std::chrono::nanoseconds> delay) {
  int fd = -1;
  const pid_t pid = fork_child(&fd, [&](int phase_fd) { recover_child(dir, fallback, d, phase_fd); });
  RecoveryKill k;
  std::chrono::steady_clock::time_point started, topic_at;
  // Reads phase bytes until `deadline` or until `until` is reached.
  auto follow = [&](std::chrono::steady_clock::time_point deadline, Phase until) {
    while (k.reached < until) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
      if (ready < 0 && errno == EINTR) continue;
      REQUIRE(ready >= 0);
      if (ready == 0) return;
      char c;
      const ssize_t n = ::read(fd, &c, 1);
      if (n < 0 && errno == EINTR) continue;
      REQUIRE(n >= 0);
      if (n == 0) return;  // EOF: the child is gone
      const auto at = std::chrono::steady_clock::now();
      REQUIRE(c > k.reached);
      REQUIRE(c < kPhases);
      k.reached = static_cast<Phase>(c);
      if (k.reached == kOpening) started = at;
      if (k.reached == kTopicOpen) topic_at = at;
      if (k.reached == kReadersOpen) k.took = Durations{topic_at - started, at - started};
    }
  };
  const auto now = std::chrono::steady_clock::now;
  follow(now() + std::chrono::seconds(10), kOpening);
  REQUIRE(k.reached == kOpening);
  if (delay)
    follow(started + *delay, kReadersOpen);
  else
    follow(now() + std::chrono::seconds(30), kReadersOpen);
  kill_child(pid);
  follow(now() + std::chrono::seconds(10), kPhases);  // to EOF: what it wrote before it died
  ::close(fd);
  return k;
}

// What the parent adds above the log's last intact record: what a crash at
// another moment of a publish or a roll leaves there.
enum Injected : int {
  kNothing,
  kHalfWritten,  // a record's bytes with its length word still zero
  kTornRecord,   // a committed length word over bytes that fail the CRC
  kPaddingOnly,
  kRollBeforeHeader,
  kRollBeforeBlocks,
  kInjections
};

// Applies `what` to the topic's last segment; false when it does not apply
// there (its header is not intact: the crash already cut a roll short).
bool inject(const TempDir& dir, Injected what, std::mt19937_64& rng) {
  if (what == kNothing) return true;
  const std::string topic_dir = (dir.path / "topics" / kTopic).string();
  auto listed = persistence::list_segments(topic_dir);
  REQUIRE_MESSAGE(listed.ok(), listed.status().to_string());
  REQUIRE(!listed->empty());
  const auto& [first, path] = listed->back();
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto seg = std::as_writable_bytes(std::span(bytes.data(), bytes.size()));
  if (!inspect::decode_segment_header(seg).ok()) return false;
  const inspect::SegmentScan scan = inspect::scan_segment(seg, first, true);
  const std::size_t end = scan.end_offset, capacity = seg.size();
  if (what == kHalfWritten || what == kTornRecord) {
    // A publisher killed while it copied its record (the length word is
    // written last); or, with the length word set, what a power cut leaves
    // when that word's page reached the disk and the rest did not.
    if (scan.sealed || capacity - end < 256) return false;
    for (std::size_t i = end; i < end + 200; ++i) seg[i] = static_cast<std::byte>(rng());
    const std::uint32_t length = what == kHalfWritten ? 0 : 48 + static_cast<std::uint32_t>(rng() % 150);
    std::memcpy(seg.data() + end, &length, sizeof length);
  } else {
    // A producer that crossed the end wrote the padding, then died before
    // the roll, or while it created the next segment's file.
    if (!scan.sealed && end < capacity) REQUIRE(inspect::encode_padding(seg.subspan(end)).ok());
    const std::uint64_t next = first + scan.records;
    const std::string rolled = topic_dir + "/" + persistence::segment_file_name(next);
    if (what == kRollBeforeHeader) std::ofstream(rolled, std::ios::binary) << std::string(capacity, '\0');
    if (what == kRollBeforeBlocks) std::ofstream(rolled, std::ios::binary).flush();
  }
  std::ofstream(path, std::ios::binary | std::ios::in | std::ios::out)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return true;
}

struct Totals {
  int checks = 0, publisher_kills = 0;
  int recovery_kills[kPhases] = {};
  int injected[kInjections] = {};
  std::size_t acks = 0, records = 0;
  std::string disk_io;
};

// How long to let a recovering child run before the kill, given how long
// recoveries took lately: mostly within the topic's recovery, weighted
// towards its end (where it zeroes, sets aside and creates files), then
// within the readers' reopening, some just after everything.
std::chrono::nanoseconds kill_delay(const Durations& lately, std::mt19937_64& rng) {
  const double topic = static_cast<double>(lately.topic.count()), whole = static_cast<double>(lately.whole.count());
  const int pick = static_cast<int>(rng() % 20);
  const auto [from, to] = pick < 9    ? std::pair{0.0, topic}
                          : pick < 14 ? std::pair{0.7 * topic, 1.05 * topic}
                          : pick < 18 ? std::pair{topic, whole}
                                      : std::pair{whole, 1.5 * whole};
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::uniform_real_distribution<double>(from, to)(rng)));
}

void recovery_chain(const TempDir& dir, bool fallback, Durability d, int cycles, std::mt19937_64& rng, Totals* totals) {
  LogSoFar log;
  std::optional<Durations> lately;  // how long complete recoveries took, smoothed
  for (int i = 0; i < cycles; ++i) {
    CAPTURE(i);
    // Published for 0 to 30 ms; the middle cycle lives to commit positions.
    const KillPoint when{std::chrono::milliseconds(rng() % 31), false, i == cycles / 2};
    const std::vector<Ack> acks = publish_until_killed(dir, fallback, d, i, when);
    ++totals->publisher_kills;
    const auto what = static_cast<Injected>(rng() % kInjections);
    CAPTURE(what);
    if (inject(dir, what, rng)) ++totals->injected[what];
    const int kills = 1 + i % 3;  // 2 on average, whatever the seed
    for (int k = 0; k < kills; ++k) {
      CAPTURE(k);
      // Now and then a recovery runs to its end, to measure it again.
      std::optional<std::chrono::nanoseconds> delay;
      if (lately && rng() % 8 != 0) delay = kill_delay(*lately, rng);
      const RecoveryKill got = kill_during_recovery(dir, fallback, d, delay);
      ++totals->recovery_kills[got.reached];
      if (got.took && lately) {
        lately->topic = (lately->topic * 3 + got.took->topic) / 4;
        lately->whole = (lately->whole * 3 + got.took->whole) / 4;
      } else if (got.took) {
        lately = got.took;
      }
    }
    verify_after_crash(dir, fallback, d, i, acks, &log, &totals->disk_io);
    totals->acks += record_acks(acks);
    ++totals->checks;
  }
  totals->records += log.tags.size();
  check_chain(log, cycles);
}

void crash_recovery_repeatedly(bool fallback, Durability d, std::uint64_t seed) {
  CAPTURE(fallback);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const int cycles = cycles_per_case();
  Totals totals;
  in_chains(cycles, [&](const TempDir& dir, int n) { recovery_chain(dir, fallback, d, n, rng, &totals); });
  int recovery_kills = 0;
  std::string phases;
  for (int p = kOpening; p < kPhases; ++p) {  // none before: the parent waits for kOpening
    recovery_kills += totals.recovery_kills[p];
    phases += std::string(p == kOpening ? "" : ", ") + std::to_string(totals.recovery_kills[p]) + " " + kPhaseNames[p];
  }
  const std::string mode = d == Durability::kSync ? "sync" : "async";
  MESSAGE(mode << " over " << totals.disk_io << ": " << totals.publisher_kills + recovery_kills << " SIGKILL cycles ("
               << totals.publisher_kills << " while publishing, " << recovery_kills << " while recovering: " << phases
               << "), " << totals.checks << " checks; injected " << totals.injected[kHalfWritten]
               << " half-written and " << totals.injected[kTornRecord] << " torn records, "
               << totals.injected[kPaddingOnly] << " paddings, " << totals.injected[kRollBeforeHeader] << " + "
               << totals.injected[kRollBeforeBlocks] << " rolls cut short; " << totals.acks << " acks, "
               << totals.records << " records");
  CHECK(totals.checks == cycles);
  // Some kill landed in create_topic, the topic's recovery: the delays are
  // drawn mostly within its time, once a first recovery has measured it.
  if (recovery_kills >= 8) CHECK(totals.recovery_kills[kEngineOpen] > 0);
}

}  // namespace

TEST_CASE("acknowledged sync records survive SIGKILL during recovery (io_uring)") {
  crash_recovery_repeatedly(false, Durability::kSync, test_seed());
}

TEST_CASE("acknowledged sync records survive SIGKILL during recovery (syscall fallback)") {
  crash_recovery_repeatedly(true, Durability::kSync, test_seed());
}

TEST_CASE("an async log killed during recovery reopens as an intact dense prefix holding every record seen durable") {
  crash_recovery_repeatedly(false, Durability::kAsync, test_seed());
}
