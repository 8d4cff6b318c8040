// Runs conduit-log in process with its output in memory: the targets that
// reach the tool (`cli`, `counters`) check what it printed.
//
// Thread safety: none; it swaps the process's stdout and stderr FILE*s.
#pragma once

#include <stdio.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_support.h"
#include "tools/conduit-log/commands.h"

namespace conduit::fuzz {

// What one tool run printed and returned.
struct Outcome {
  int rc = 0;
  std::string out, err;
};

// A FILE* over a growing buffer, for the tools that take their streams.
class MemFile {
 public:
  MemFile() : f_(::open_memstream(&buf_, &size_)) { FUZZ_CHECK(f_ != nullptr); }
  ~MemFile() {
    if (f_) std::fclose(f_);
    std::free(buf_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  std::FILE* get() { return f_; }
  std::string take() {
    std::fclose(f_);
    f_ = nullptr;
    return std::string(buf_, size_);
  }

 private:
  char* buf_ = nullptr;
  std::size_t size_ = 0;
  std::FILE* f_;
};

// conduit-log writes to stdout and stderr itself: they point to memory
// while it runs (the FILE* variables, not fds 1 and 2, so that a sanitizer's
// report still reaches the terminal).
inline Outcome run_conduit_log(int argc, char** argv) {
  MemFile out, err;
  std::FILE* const saved[2] = {stdout, stderr};
  stdout = out.get();
  stderr = err.get();
  Outcome o;
  o.rc = conduit_log::run(argc, argv);
  stdout = saved[0];
  stderr = saved[1];
  o.out = out.take();
  o.err = err.take();
  return o;
}

}  // namespace conduit::fuzz
