// A fresh directory for one test, removed with everything in it when the
// test ends: under /tmp, or under `base` (scratch_base(): memory, where
// fdatasync costs nothing, for tests whose disk faults are injected).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace conduit::test {

// /dev/shm when there is one (tmpfs), else the temporary directory.
inline std::filesystem::path scratch_base() {
  return std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                   : std::filesystem::temp_directory_path();
}

struct TempDir {
  std::filesystem::path path;
  TempDir() : TempDir("/tmp") {}
  explicit TempDir(const std::filesystem::path& base) {
    std::string tmpl = (base / "conduit-test-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace conduit::test
