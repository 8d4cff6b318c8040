// Crashes: a child process publishes from two threads and is killed with
// SIGKILL at a random moment; the parent reopens the log and checks what
// survived, then appends to it. Each iteration appends to the log the
// previous ones left, so recovery of a recovered log is exercised too. The
// kill points come from a seed, printed on failure; CONDUIT_TEST_SEED=N
// replays one. CONDUIT_CRASH_CYCLES=N sets the kill cycles per test case
// (default 24; .ci/run sets it per pass, see tests/support/crash_log.h).
//
// SIGKILL ends the process, not the machine: the page cache survives, so
// these tests check recovery's logic (torn records, holes left by a
// producer that died mid-write, rolls cut short), not that fdatasync was
// called. A record that publish acknowledged must still be there, intact.
// A named subscriber and a work group in the child commit their positions
// as they read; after each crash those positions must not have moved back.
// Kills that land inside recovery itself: tests/crash_recovery_test.cpp.
#include "tests/support/crash_log.h"

using namespace conduit;
using namespace conduit::test::crash;

namespace {

using conduit::test::TempDir;

struct Totals {
  int cycles = 0;
  std::size_t acks = 0, records = 0;
  int positions_checked = 0;
  std::string disk_io;
};

// One chain of `cycles` fork, run, kill, verify cycles on a fresh log.
void crash_chain(const TempDir& dir, bool fallback, Durability d, int cycles, std::mt19937_64& rng, Totals* totals) {
  std::uniform_int_distribution<int> run_ms(0, 30), open_ms(0, 5), one_in(0, 5);
  LogSoFar log;
  for (int i = 0; i < cycles; ++i) {
    CAPTURE(i);
    const bool during_open = one_in(rng) == 0;
    KillPoint when{std::chrono::milliseconds(during_open ? open_ms(rng) : run_ms(rng)), during_open};
    // The middle iteration always lives to commit positions (see KillPoint).
    if (i == cycles / 2) when = KillPoint{std::chrono::milliseconds(run_ms(rng)), false, true};
    const std::vector<Ack> acks = publish_until_killed(dir, fallback, d, i, when);
    verify_after_crash(dir, fallback, d, i, acks, &log, &totals->disk_io);
    totals->acks += record_acks(acks);
    ++totals->cycles;
  }
  totals->records += log.tags.size();
  totals->positions_checked += log.positions_committed;
  check_chain(log, cycles);
}

void crash_repeatedly(bool fallback, Durability d, std::uint64_t seed) {
  CAPTURE(fallback);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const int cycles = cycles_per_case();
  Totals totals;
  in_chains(cycles, [&](const TempDir& dir, int n) { crash_chain(dir, fallback, d, n, rng, &totals); });
  const std::string mode = d == Durability::kSync ? "sync" : "async";
  MESSAGE(mode << " over " << totals.disk_io << ": " << totals.cycles << " SIGKILL cycles; " << totals.acks << " acks, "
               << totals.records << " records in all; committed positions checked after " << totals.positions_checked);
  CHECK(totals.cycles == cycles);
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
