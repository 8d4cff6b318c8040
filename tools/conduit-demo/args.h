// conduit-demo's command line, apart from the demo so that the command-line
// fuzzer (tools/fuzz/fuzz_cli.cpp) parses it exactly as the tool does,
// without running a demo. No thread safety needed.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace conduit_demo {

struct Args {
  std::uint64_t messages = 2'000'000;
  std::size_t payload = 64;
  std::string data_dir = "conduit-data";
};

inline constexpr const char* kUsage =
    "usage: conduit-demo [--messages N] [--payload BYTES] [--data-dir DIR]\n"
    "\n"
    "Publishes N messages from one thread to the persisted (async) topic\n"
    "demo.orders, read by two fan-out subscribers (audit-0, audit-1) and the\n"
    "work group 'billing' of two consumers; then 4 threads make 1000 sync\n"
    "publishes to demo.payments, each acknowledged after fdatasync. Prints what\n"
    "each reader saw and the rates. The log stays in DIR: a second run adds to\n"
    "it, and 'billing' resumes where it committed (what an earlier run left\n"
    "unacked comes first).\n"
    "\n"
    "  --messages N       messages to publish to demo.orders, at least 1 (default 2000000)\n"
    "  --payload BYTES    payload bytes of each message, at least 1 (default 64)\n"
    "  --data-dir DIR     the engine's data directory (default ./conduit-data)\n"
    "  --help             this text\n"
    "\n"
    "Exit status: 0 every check passed, 1 a check or the engine failed, 2 bad usage.\n";

// -1: parsed, run the demo; else the exit code (--help: 0 after the usage
// on `out`, bad usage: 2 after the error and the usage on `err`).
inline int parse_args(int argc, char** argv, Args* a, std::FILE* out, std::FILE* err) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, out);
      return 0;
    }
    const bool known = flag == "--data-dir" || flag == "--messages" || flag == "--payload";
    if (!known || i + 1 >= argc) {
      std::fprintf(err, "conduit-demo: %s '%s'\n\n%s", known ? "no value after" : "unknown option", flag.c_str(),
                   kUsage);
      return 2;
    }
    if (flag == "--data-dir") {
      a->data_dir = argv[++i];
      continue;
    }
    // Digits only: strtoull alone would take " 7" and "+7", and an
    // out-of-range number as ULLONG_MAX (the demo then tried to allocate
    // that many counters).
    const char* text = argv[++i];
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text, &end, 10);
    if (*end != '\0' || v == 0 || errno == ERANGE || std::strspn(text, "0123456789") != std::strlen(text)) {
      std::fprintf(err, "conduit-demo: %s needs a positive number, got '%s'\n", flag.c_str(), text);
      return 2;
    }
    (flag == "--messages" ? a->messages : a->payload) = v;
  }
  return -1;
}

}  // namespace conduit_demo
