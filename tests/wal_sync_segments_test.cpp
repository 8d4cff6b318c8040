// A kSync topic's segments are written with zeros before producers store
// into them (no unwritten extent left for a sync round to convert) and are
// mapped MADV_RANDOM (a fault brings in one page, not a window of large
// folios); an async topic's are only reserved. Checked through FIEMAP
// (extents flagged unwritten) and /proc/self/smaps ("rr" in VmFlags), on
// io_uring and on the syscall fallback. A recovered tail's: see
// concurrency_recovered_tail_test.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include "tests/support/segment_probe.h"  // first: see its note on <linux/fs.h>
#include "tests/support/helpers.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace conduit;

namespace {

using conduit::test::random_read;
using conduit::test::TempDir;
using conduit::test::unwritten_extents;
using conduit::test::vm_flags_of;

void check_backend(bool fallback) {
  TempDir dir;
  auto engine = Engine::open(test::engine_options(dir, fallback)).value();
  TopicOptions sync;
  sync.durability = Durability::kSync;
  sync.segment_bytes = 1u << 20;
  sync.max_payload_bytes = 4096;
  TopicOptions async = sync;
  async.durability = Durability::kAsync;
  // Larger than the window the persistence thread maps ahead (and so
  // writes back) on io_uring: the rest stays unwritten.
  async.segment_bytes = 16u << 20;
  Topic* s = engine->create_topic("sync", sync).value();
  Topic* a = engine->create_topic("async", async).value();
  const std::string payload(1000, 'z');
  REQUIRE(a->publish(payload).ok());
  // Enough for three segments: the later ones come from the spare the
  // persistence thread zeroed, or from a roll that zeroed its own.
  std::uint64_t last = 0;
  for (int i = 0; i < 2500; ++i) last = s->publish(payload).value();
  REQUIRE(s->durable() > last);

  const auto seg = [&](const char* topic, std::uint64_t first) {
    return (dir.path / "topics" / topic / persistence::segment_file_name(first)).string();
  };
  std::vector<std::uint64_t> firsts;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path / "topics" / "sync"))
    if (entry.path().extension() == ".seg") firsts.push_back(std::strtoull(entry.path().stem().c_str(), nullptr, 10));
  std::sort(firsts.begin(), firsts.end());
  REQUIRE(firsts.size() >= 3);
  const auto async_unwritten = unwritten_extents(seg("async", 0));
  if (!async_unwritten) {
    MESSAGE("this filesystem does not answer FIEMAP: the extents are not checked here");
  } else {
    // The check can see unwritten extents: the async segment has them.
    CHECK(*async_unwritten > 0);
    // Every sync segment is written through (the head and those before).
    for (const std::uint64_t f : firsts) CHECK(unwritten_extents(seg("sync", f)) == 0);
  }
  // The sync head is mapped for appends; the async head is not.
  const std::string sync_head = seg("sync", firsts.back());
  CHECK(random_read(vm_flags_of(sync_head)));
  CHECK_FALSE(random_read(vm_flags_of(seg("async", 0))));
  // The first sync segment, two rolls behind the head, was let go: read-
  // around is back for whoever reads it from disk.
  const std::string first_flags = vm_flags_of(seg("sync", 0));
  REQUIRE(!first_flags.empty());
  CHECK_FALSE(random_read(first_flags));
}

}  // namespace

TEST_CASE("a sync topic's segments are zeroed and mapped for appends; an async topic's are not (io_uring)") {
  check_backend(false);
}

TEST_CASE("a sync topic's segments are zeroed and mapped for appends; an async topic's are not (syscall fallback)") {
  check_backend(true);
}
