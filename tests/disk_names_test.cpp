// common/disk_names.h: each magic is its tag's bytes on disk, and each name
// is built as doc/log-format.md ("Names and magic numbers") gives it.
#include "common/disk_names.h"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/little_endian.h"

namespace disk = conduit::disk;

namespace {

// The 8 bytes a magic is stored as (little-endian), as text.
std::string stored(std::uint64_t magic) {
  std::byte buf[8];
  conduit::format::store<std::uint64_t>(buf, magic);
  return std::string(reinterpret_cast<const char*>(buf), sizeof buf);
}

}  // namespace

TEST_CASE("each magic is stored as its tag") {
  CHECK(stored(disk::kSegmentMagic) == "CNDTSEG1");
  CHECK(stored(disk::kControlMagic) == "CNDTCTL1");
  CHECK(stored(disk::kCleanMagic) == "CNDTCLN1");
  CHECK(stored(disk::kOptionsMagic) == "CNDTOPT1");
  CHECK(stored(disk::kPositionMagic) == "CNDTPOS1");
  CHECK(stored(disk::kStateMagic) == "CNDTSTA1");
  CHECK(stored(disk::kJournalMagic) == "CNDTJRN1");
  CHECK(stored(disk::kCountersMagic) == "CNDTCNT1");
  std::byte marker[4];
  conduit::format::store<std::uint32_t>(marker, disk::kJournalEntryMarker);
  CHECK(std::string(reinterpret_cast<const char*>(marker), 4) == "JRN1");
}

TEST_CASE("directories and files of a data directory") {
  CHECK(disk::topics_dir("/d") == "/d/topics");
  CHECK(disk::counters_path("/d") == "/d/counters");
  CHECK(disk::topic_dir("/d", "orders") == "/d/topics/orders");
  CHECK(disk::reader_positions_dir("/d", "orders") == "/d/readers/orders");
  CHECK(disk::topic_file("/d/topics/orders", disk::kControlFileName) == "/d/topics/orders/control");
  CHECK(disk::topic_file("/d/topics/orders", disk::kCleanRecordName) == "/d/topics/orders/clean");
  CHECK(disk::topic_file("/d/topics/orders", disk::kOptionsFileName) == "/d/topics/orders/options");
  CHECK(disk::cursors_dir("/d/topics/orders") == "/d/topics/orders/cursors");
  CHECK(disk::tombstone_name("orders", 3) == ".deleted-orders-3");
  CHECK(disk::tmp_path("/d/topics/orders/clean") == "/d/topics/orders/clean.tmp");
}

TEST_CASE("segment, cursor, state, journal and torn names") {
  CHECK(disk::segment_file_name(0) == "00000000000000000000.seg");
  CHECK(disk::segment_file_name(18446744073709551615ull) == "18446744073709551615.seg");
  CHECK(disk::subscriber_key("s") == "sub-s");
  CHECK(disk::group_key("g") == "group-g");
  CHECK(disk::state_file_name("group-g") == "group-g.state");
  CHECK(disk::journal_file_name("group-g", 1) == "group-g.journal-00000000000000000001");
  CHECK(disk::torn_file_name(7, "00000000000000000000.seg") == "7-00000000000000000000.seg");
  CHECK(disk::torn_tail_name("00000000000000000000.seg", 4096) == "00000000000000000000.seg.at-4096");
}

TEST_CASE("a work group name that would collide with a state, journal or temporary file") {
  CHECK(disk::is_cursor_side_file("group-g.state"));
  CHECK(disk::is_cursor_side_file("group-g.tmp"));
  CHECK(disk::is_cursor_side_file("group-g.journal-00000000000000000001"));
  CHECK_FALSE(disk::is_cursor_side_file("group-g"));
  CHECK_FALSE(disk::is_cursor_side_file("group-g.stateful"));
  CHECK_FALSE(disk::is_cursor_side_file("sub-journal"));
}
