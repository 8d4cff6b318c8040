// The claim table's slots on their own (engine/claim_table.h): where a new
// claim is listed once others have ended. Claims through a topic are in
// zero_copy_claim_test.cpp.
#include "engine/claim_table.h"

#include <doctest/doctest.h>

#include <mutex>
#include <vector>

namespace conduit::detail {
namespace {

std::uint32_t add(ClaimTable& table, std::uint64_t seq) {
  std::lock_guard lk(table.lock());
  return table.add_locked(nullptr, nullptr, seq, 64);
}

TEST_CASE("a claim table finds slots freed behind where it looks first, and lists new ones only when none is") {
  ClaimTable table;
  for (std::uint32_t i = 0; i < 10; ++i) REQUIRE(add(table, i) == i);
  // Freed behind the scan's start (one past slot 9): found after it wraps.
  table.end(7);
  table.end(2);
  CHECK(add(table, 10) == 2);
  CHECK(add(table, 11) == 7);
  CHECK(table.at(7).seq == 11);
  CHECK(table.at(7).state.load() == ClaimTable::kOpen);
  // Freed ahead of the start (one past slot 7 now) and behind it: the one
  // ahead first, then round to the one behind.
  table.end(3);
  table.end(9);
  CHECK(add(table, 12) == 9);
  CHECK(add(table, 13) == 3);
  // None free: a new slot.
  CHECK(add(table, 14) == 10);
  table.end(10);
  CHECK(add(table, 15) == 10);
}

TEST_CASE("a full claim table refuses until a slot ends, wherever the scan starts") {
  ClaimTable table;
  for (std::uint32_t i = 0; i < ClaimTable::kMaxOpen; ++i) REQUIRE(add(table, i) == i);
  CHECK(add(table, 0) == ClaimTable::kNone);
  // The scan starts past the last slot: the one just before it is found
  // only after a whole round.
  table.end(ClaimTable::kMaxOpen - 1);
  CHECK(add(table, 1) == ClaimTable::kMaxOpen - 1);
  CHECK(add(table, 2) == ClaimTable::kNone);
  // From one past that slot (the end again) round to the first ones.
  table.end(3);
  CHECK(add(table, 3) == 3);
  table.end(1);
  table.end(5);
  CHECK(add(table, 4) == 5);  // from one past slot 3
  CHECK(add(table, 5) == 1);  // round again
  CHECK(add(table, 6) == ClaimTable::kNone);
}

TEST_CASE("claims ended in the order they were taken reuse the same few slots") {
  ClaimTable table;
  std::vector<std::uint32_t> open;
  for (std::uint64_t seq = 0; seq < 10'000; ++seq) {
    open.push_back(add(table, seq));
    // Eight open at a time, the oldest ending first.
    if (open.size() == 8) {
      table.end(open.front());
      open.erase(open.begin());
    }
  }
  for (const std::uint32_t i : open) CHECK(i < 8);
}

}  // namespace
}  // namespace conduit::detail
