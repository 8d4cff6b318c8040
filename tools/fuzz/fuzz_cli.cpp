// Fuzz target: the command lines of conduit-log, conduit-bench and
// conduit-demo, in process. The input's first byte picks the tool (bits 0-1)
// and whether to end the command line with two unknown options (bit 7); the
// rest is argv[1..], NUL-separated. Properties:
//   - the exit code is 0, 1 or 2, and the tool never exits the process;
//   - a failure (1 or 2) says why on stderr, and a usage error (2) prints
//     nothing on stdout;
//   - a command line ending in two unknown options is invalid (the first may
//     be taken as a value, the second cannot): it exits 2, unless it asks
//     for help or the version, or a "--" makes them arguments;
//   - conduit-demo takes a number only as plain decimal digits that fit, and
//     then exactly as written.
// conduit-bench and conduit-demo only parse (their parse-only entry points,
// which their mains call first); conduit-log runs in full, in an empty
// directory and with '/' taken out of every argument, so no path reaches a
// real log: every command that gets past its parsing finds nothing and ends.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/conduit_bench/options.h"
#include "capture.h"
#include "fuzz_support.h"
#include "tests/support/temp_dir.h"
#include "tools/conduit-demo/args.h"

namespace {

constexpr std::size_t kMaxArgs = 16, kMaxArgBytes = 64;
constexpr const char* kUnknown = "--zz-not-an-option";

using conduit::fuzz::MemFile;
using conduit::fuzz::Outcome;

// conduit-log runs in an empty directory of its own, and the fuzzer's own
// directory is restored after it (libFuzzer writes its corpus there).
class InEmptyDir {
 public:
  InEmptyDir() : back_(::open(".", O_RDONLY | O_DIRECTORY)) {
    static const conduit::test::TempDir dir;
    FUZZ_CHECK(back_ >= 0 && ::chdir(dir.path.c_str()) == 0);
  }
  ~InEmptyDir() {
    FUZZ_CHECK(::fchdir(back_) == 0);
    ::close(back_);
  }

 private:
  int back_;
};

Outcome run_log(int argc, char** argv) {
  const InEmptyDir here;
  return conduit::fuzz::run_conduit_log(argc, argv);
}

Outcome run_bench(int argc, char** argv) {
  MemFile out, err;
  conduit::bench::Config cfg;
  Outcome o;
  o.rc = conduit::bench::parse_command_line(argc, argv, cfg, out.get(), err.get());
  o.out = out.take();
  o.err = err.take();
  return o;
}

// The value conduit-demo's parser takes for `flag`: the argument after its
// last occurrence (nullptr if none).
const char* demo_value(int argc, char** argv, std::string_view flag) {
  const char* v = nullptr;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") break;
    if (a == "--messages" || a == "--payload" || a == "--data-dir") {
      if (a == flag) v = argv[i + 1];
      ++i;
    }
  }
  return v;
}

// The value of `text` when it is decimal digits only and fits 64 bits.
std::optional<std::uint64_t> exact_decimal(std::string_view text) {
  std::uint64_t v = 0;
  if (text.empty()) return std::nullopt;
  for (const char c : text) {
    if (c < '0' || c > '9' || v > (UINT64_MAX - static_cast<std::uint64_t>(c - '0')) / 10) return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

Outcome run_demo(int argc, char** argv) {
  MemFile out, err;
  conduit_demo::Args args;
  Outcome o;
  o.rc = conduit_demo::parse_args(argc, argv, &args, out.get(), err.get());
  o.out = out.take();
  o.err = err.take();
  if (o.rc == -1) {
    // Accepted: each number is the decimal text given, not a clamped or
    // wrapped reading of it.
    if (const char* m = demo_value(argc, argv, "--messages")) FUZZ_CHECK(exact_decimal(m) == args.messages);
    if (const char* p = demo_value(argc, argv, "--payload")) FUZZ_CHECK(exact_decimal(p) == args.payload);
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const int tool = mode & 3;
  if (tool == 3) return 0;
  const bool add_unknown = (mode & 0x80) != 0;

  static const char* const kNames[] = {"conduit-log", "conduit-bench", "conduit-demo"};
  std::vector<std::string> args{kNames[tool]};
  std::string cur;
  bool in_arg = false;
  for (std::size_t i = 1; i < size && args.size() <= kMaxArgs; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\0') {
      args.push_back(cur);
      cur.clear();
      in_arg = false;
    } else if (c != '/' && cur.size() < kMaxArgBytes) {
      cur += c;
      in_arg = true;
    }
  }
  if (in_arg && args.size() <= kMaxArgs) args.push_back(cur);
  bool escape = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    escape |= a == "--" || a == "-h" || a == "--help" || a == "help" || a == "--version" || a == "version";
  }
  if (add_unknown) args.insert(args.end(), 2, kUnknown);

  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);  // argv[argc], as main gets it
  const int argc = static_cast<int>(args.size());

  const Outcome o = tool == 0   ? run_log(argc, argv.data())
                    : tool == 1 ? run_bench(argc, argv.data())
                                : run_demo(argc, argv.data());
  if (tool == 0)
    FUZZ_CHECK(o.rc == 0 || o.rc == 1 || o.rc == 2);
  else
    FUZZ_CHECK(o.rc == -1 || o.rc == 0 || o.rc == 2);  // parse only: -1 is "run it"
  if (o.rc > 0) FUZZ_CHECK(!o.err.empty());
  if (o.rc == 2) FUZZ_CHECK(o.out.empty());
  if (o.rc == -1) FUZZ_CHECK(o.err.empty() && o.out.empty());
  if (add_unknown && !escape) FUZZ_CHECK(o.rc == 2);
  return 0;
}
