// A kSync topic's segments are written with zeros before producers store
// into them (no unwritten extent left for a sync round to convert) and are
// mapped MADV_RANDOM (a fault brings in one page, not a window of large
// folios); an async topic's are only reserved. A recovered tail gets its
// zeros ahead of the producers. Checked through FIEMAP
// (extents flagged unwritten) and /proc/self/smaps ("rr" in VmFlags), on
// io_uring and on the syscall fallback.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

// Before <linux/fs.h>, whose BLOCK_SIZE macro breaks concurrentqueue.h.
#include "persistence/segment_file.h"
#include "tests/helpers.h"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace conduit;

namespace {

using conduit::test::TempDir;

// Extents of `path` flagged unwritten (FIEMAP), or nullopt where the
// filesystem does not answer FIEMAP.
std::optional<int> unwritten_extents(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  constexpr unsigned kMax = 512;
  std::vector<char> buf(sizeof(fiemap) + kMax * sizeof(fiemap_extent));
  auto* fm = reinterpret_cast<fiemap*>(buf.data());
  fm->fm_start = 0;
  fm->fm_length = FIEMAP_MAX_OFFSET;
  fm->fm_flags = FIEMAP_FLAG_SYNC;
  fm->fm_extent_count = kMax;
  const int rc = ::ioctl(fd, FS_IOC_FIEMAP, fm);
  ::close(fd);
  if (rc != 0) return std::nullopt;
  int unwritten = 0;
  for (unsigned i = 0; i < fm->fm_mapped_extents; ++i)
    if (fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN) ++unwritten;
  return unwritten;
}

// The VmFlags line of this process's mapping of `path`, or "" when unmapped.
std::string vm_flags_of(const std::string& path) {
  std::FILE* f = std::fopen("/proc/self/smaps", "r");
  REQUIRE(f != nullptr);
  char line[4096];
  bool in_mapping = false;
  std::string flags;
  while (std::fgets(line, sizeof line, f)) {
    std::string l(line);
    if (!l.empty() && l.back() == '\n') l.pop_back();
    if (l.size() > path.size() && l.compare(l.size() - path.size(), path.size(), path) == 0) {
      in_mapping = true;
      continue;
    }
    if (in_mapping && l.rfind("VmFlags:", 0) == 0) {
      flags = l;
      break;
    }
  }
  std::fclose(f);
  return flags;
}

bool random_read(const std::string& flags) { return flags.find(" rr") != std::string::npos; }

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

// True once `path` has no unwritten extent (or FIEMAP is not answered);
// waits up to 20 s.
bool becomes_written(const std::string& path) {
  for (int i = 0; i < 2000; ++i) {
    const auto n = unwritten_extents(path);
    if (!n || *n == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::string payload_of(std::size_t i, std::size_t bytes) {
  std::string p(bytes, static_cast<char>('a' + i % 26));
  std::memcpy(p.data(), &i, sizeof i);
  return p;
}

// A tail recovered with unwritten extents (written by an async topic) is
// written with zeros ahead of the producers once it is a sync topic's.
// Producers that publish without waiting outrun those steps and write
// their own zeros: no record is lost to either.
void check_recovered_tail(bool fallback) {
  TempDir dir;
  constexpr std::size_t kOld = 100, kNew = 3000, kBytes = 4000;
  TopicOptions o;
  o.segment_bytes = 16u << 20;
  o.durability = Durability::kAsync;
  const std::string seg0 = (dir.path / "topics" / "t" / persistence::segment_file_name(0)).string();
  {
    auto engine = Engine::open(test::engine_options(dir, fallback)).value();
    Topic* t = engine->create_topic("t", o).value();
    for (std::size_t i = 0; i < kOld; ++i) REQUIRE(t->publish(payload_of(i, kBytes)).ok());
  }
  const auto unwritten = unwritten_extents(seg0);
  if (!unwritten) {
    MESSAGE("this filesystem does not answer FIEMAP: the extents are not checked here");
  } else {
    REQUIRE(*unwritten > 0);  // the async topic left its tail reserved only
  }
  o.durability = Durability::kSync;
  const auto check_all = [&](Topic* t) {
    const std::vector<std::string> got = test::payloads(t);
    REQUIRE(got.size() == kOld + kNew);
    for (std::size_t i = 0; i < got.size(); ++i)
      if (got[i] != payload_of(i, kBytes)) FAIL("record " << i << " came back changed");
  };
  {
    auto engine = Engine::open(test::engine_options(dir, fallback)).value();
    Topic* t = engine->create_topic("t", o).value();
    // 12 MB at once, faster than the zero thread's 4 MiB steps.
    std::uint64_t last = 0;
    for (std::size_t i = kOld; i < kOld + kNew; ++i) {
      const std::string body = payload_of(i, kBytes);
      last = t->publish_nowait(test::text(body)).value();
    }
    REQUIRE(t->await_durable(last, std::chrono::seconds(30)).ok());
    check_all(t);
    if (unwritten) CHECK(becomes_written(seg0));
    CHECK(random_read(vm_flags_of(seg0)));
  }
  auto engine = Engine::open(test::engine_options(dir, fallback)).value();
  check_all(engine->create_topic("t", o).value());
}

}  // namespace

TEST_CASE("a sync topic's recovered tail is written with zeros ahead of its producers (io_uring)") {
  check_recovered_tail(false);
}

TEST_CASE("a sync topic's recovered tail is written with zeros ahead of its producers (syscall fallback)") {
  check_recovered_tail(true);
}

TEST_CASE("a sync topic's segments are zeroed and mapped for appends; an async topic's are not (io_uring)") {
  check_backend(false);
}

TEST_CASE("a sync topic's segments are zeroed and mapped for appends; an async topic's are not (syscall fallback)") {
  check_backend(true);
}
