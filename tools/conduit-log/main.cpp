// conduit-log: inspect, verify and follow a conduit log, read-only.
//
//   conduit-log ls DIR | dump DIR TOPIC | tail [-f] DIR TOPIC | verify DIR [TOPIC] | stats DIR TOPIC
//   conduit-log rm-reader DIR TOPIC KIND NAME
//
// Every file is opened O_RDONLY and segments are mapped PROT_READ; the data
// directory's LOCK is never taken, so a running engine is not disturbed.
// rm-reader alone writes (rm_reader.cpp says when it takes the LOCK).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string_view>

#include <conduit/inspect.h>

#include "commands.h"

#ifndef CONDUIT_VERSION
#error "CONDUIT_VERSION (the project's version) is set by CMakeLists.txt"
#endif

namespace {

constexpr const char* kHelp =
    "usage: conduit-log COMMAND [OPTIONS] ...\n"
    "\n"
    "Inspects, verifies and follows a conduit data directory, read-only: it\n"
    "never takes the engine's lock and never writes (rm-reader excepted).\n"
    "\n"
    "commands:\n"
    "  ls DIR                 topics, segments, records, watermarks, subscribers, work groups\n"
    "  dump DIR TOPIC         records with their envelope (filters, --json)\n"
    "  tail [-f] DIR TOPIC    the last records; -f follows a live log\n"
    "  verify DIR [TOPIC]     every CRC, header and sequence; exit 0 clean, 1 not\n"
    "  stats DIR TOPIC        payload sizes, rate over time, largest keys\n"
    "  rm-reader DIR TOPIC KIND NAME\n"
    "                         forget a named reader gone for good (writes)\n"
    "  stat DIR [TOPIC]       a running engine's live counters (-w, --prometheus, --listen)\n"
    "\n"
    "'conduit-log COMMAND --help' says more; 'conduit-log --version' gives the\n"
    "version and the log formats it reads. Exit codes: 0 done (verify: clean),\n"
    "1 a problem found or an error, 2 bad usage.\n";

// A segment file cut shorter while it is mapped makes reads past its new end
// fault with SIGBUS: say what happened instead of dying with a core dump.
[[maybe_unused]] void on_sigbus(int) {  // unused where the fuzzer links run() alone
  static const char kMsg[] =
      "conduit-log: a segment file shrank while it was being read (SIGBUS); is something truncating the log?\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
  ::_exit(1);
}

}  // namespace

int conduit_log::run(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kHelp, stderr);
    return conduit_log::kExitUsage;
  }
  const std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kHelp, stdout);
    return conduit_log::kExitOk;
  }
  if (cmd == "--version" || cmd == "version") {
    std::printf("conduit-log %s (log format %u; reads formats %u to %u)\n", CONDUIT_VERSION,
                conduit::inspect::kFormatVersion, conduit::inspect::kOldestFormatVersion,
                conduit::inspect::kFormatVersion);
    return conduit_log::kExitOk;
  }
  if (cmd == "ls") return conduit_log::run_ls(argc, argv);
  if (cmd == "dump") return conduit_log::run_dump(argc, argv);
  if (cmd == "tail") return conduit_log::run_tail(argc, argv);
  if (cmd == "verify") return conduit_log::run_verify(argc, argv);
  if (cmd == "stats") return conduit_log::run_stats(argc, argv);
  if (cmd == "rm-reader") return conduit_log::run_rm_reader(argc, argv);
  if (cmd == "stat") return conduit_log::run_stat(argc, argv);
  std::fprintf(stderr, "conduit-log: unknown command '%s'\n\n%s", argv[1], kHelp);
  return conduit_log::kExitUsage;
}

// The command-line fuzzer (tools/fuzz/fuzz_cli.cpp) calls run() itself.
#ifndef CONDUIT_LOG_NO_MAIN
int main(int argc, char** argv) {
  struct sigaction sa {};
  sa.sa_handler = on_sigbus;
  ::sigaction(SIGBUS, &sa, nullptr);
  return conduit_log::run(argc, argv);
}
#endif
