// TopicOptions::huge_pages: a memory-only topic's segments are marked
// MADV_NOHUGEPAGE by default and MADV_HUGEPAGE when asked (4 MiB or more),
// read back from the kernel's own view of the mapping (/proc/self/smaps,
// VmFlags "nh" and "hg"), which does not depend on whether the kernel
// has huge pages to give.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <sys/mman.h>
#include <sys/utsname.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

using namespace conduit;
using namespace std::chrono_literals;

namespace {

// The VmFlags line of the mapping that holds `p`; empty when none does.
std::string vm_flags_of(const void* p) {
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> lo >> dash >> hi && dash == '-' && line.find(':') > line.find(' ')) {
      inside = lo <= at && at < hi;
      continue;
    }
    if (inside && line.starts_with("VmFlags:")) return line;
  }
  return {};
}

bool has_flag(const std::string& flags, const std::string& f) { return flags.find(" " + f) != std::string::npos; }

// A kernel built without transparent huge pages refuses both advices (and
// sets neither flag): nothing to check there.
bool kernel_has_thp() { return std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled").good(); }

// The flags of the mapping under a memory-only topic's first record.
std::string flags_of_topic(Engine& engine, const std::string& name, const TopicOptions& o) {
  Topic* t = engine.create_topic(name, o).value();
  REQUIRE(t->publish("one record").ok());
  auto sub = t->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  RecordView v[1];
  REQUIRE(sub->poll(v, 10s).count == 1);
  const std::string flags = vm_flags_of(v[0].payload().data());
  REQUIRE_MESSAGE(!flags.empty(), "no mapping in /proc/self/smaps holds the record");
  return flags;
}

TopicOptions memory(std::size_t segment_bytes, bool huge) {
  TopicOptions o;
  o.durability = Durability::kMemory;
  o.segment_bytes = segment_bytes;
  o.ring_bytes = 4 * segment_bytes;
  o.max_payload_bytes = 1024;
  o.huge_pages = huge;
  return o;
}

}  // namespace

TEST_CASE("memory-only segments stay off transparent huge pages unless the topic asks for them") {
  if (!kernel_has_thp()) return;
  auto engine = Engine::open().value();
  const std::string off = flags_of_topic(*engine, "off", memory(8u << 20, false));
  CHECK(has_flag(off, "nh"));
  CHECK_FALSE(has_flag(off, "hg"));
  const std::string on = flags_of_topic(*engine, "on", memory(8u << 20, true));
  CHECK(has_flag(on, "hg"));
  CHECK_FALSE(has_flag(on, "nh"));
  // Under 4 MiB a huge page would be mostly empty: small pages even when asked.
  const std::string small = flags_of_topic(*engine, "small", memory(1u << 20, true));
  CHECK_FALSE(has_flag(small, "hg"));
  CHECK_FALSE(TopicOptions{}.huge_pages);  // the default
  TopicOptions by_default = memory(8u << 20, true);
  by_default.huge_pages = TopicOptions{}.huge_pages;
  CHECK(has_flag(flags_of_topic(*engine, "default", by_default), "nh"));
}

TEST_CASE("a shared memory-only topic's segments follow huge_pages too") {
  if (!kernel_has_thp()) return;
  auto engine = Engine::open().value();
  TopicOptions o = memory(8u << 20, false);
  o.shared = true;
  CHECK(has_flag(flags_of_topic(*engine, "shared-off", o), "nh"));
  o.huge_pages = true;
  CHECK(has_flag(flags_of_topic(*engine, "shared-on", o), "hg"));
}

TEST_CASE("re-creating a memory-only topic with other huge_pages is refused, naming it") {
  auto engine = Engine::open().value();
  REQUIRE(engine->create_topic("t", memory(8u << 20, true)).ok());
  auto again = engine->create_topic("t", memory(8u << 20, false));
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().code() == Code::kAlreadyExists);
  CHECK(again.status().message().find("huge_pages") != std::string::npos);
}

TEST_CASE("producers map a small-page segment's next page before they write there, and not much further") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("t", memory(8u << 20, false)).value();
  REQUIRE(t->publish("one record").ok());
  auto sub = t->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  RecordView v[1];
  REQUIRE(sub->poll(v, 10s).count == 1);
  // The first record sits in the segment's first page; nothing has written
  // or read the pages after it.
  const auto page = reinterpret_cast<std::uintptr_t>(v[0].payload().data()) & ~std::uintptr_t{4095};
  auto resident = [](std::uintptr_t p) {
    unsigned char in = 0;
    REQUIRE(::mincore(reinterpret_cast<void*>(p), 4096, &in) == 0);
    return (in & 1) != 0;
  };
  CHECK(resident(page));
  // MADV_POPULATE_WRITE came with Linux 5.14; before it the pages are left to faults.
  utsname u{};
  REQUIRE(::uname(&u) == 0);
  int major = 0, minor = 0;
  (void)std::sscanf(u.release, "%d.%d", &major, &minor);
  if (major > 5 || (major == 5 && minor >= 14)) CHECK(resident(page + 4096));
  CHECK_FALSE(resident(page + 16 * 4096));
}
