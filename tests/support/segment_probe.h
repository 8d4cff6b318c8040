// Looks at a segment file from outside the engine: unwritten extents
// (FIEMAP) and how this process maps it (/proc/self/smaps VmFlags).
#pragma once

#include <doctest/doctest.h>

// Before <linux/fs.h>, whose BLOCK_SIZE macro breaks concurrentqueue.h.
#include "persistence/segment_file.h"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace conduit::test {

// Extents of `path` flagged unwritten (FIEMAP), or nullopt where the
// filesystem does not answer FIEMAP.
inline std::optional<int> unwritten_extents(const std::string& path) {
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
inline std::string vm_flags_of(const std::string& path) {
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

inline bool random_read(const std::string& flags) { return flags.find(" rr") != std::string::npos; }

// True once `path` has no unwritten extent (or FIEMAP is not answered);
// waits up to 20 s.
inline bool becomes_written(const std::string& path) {
  for (int i = 0; i < 2000; ++i) {
    const auto n = unwritten_extents(path);
    if (!n || *n == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace conduit::test
