// conduit-bench's command line: what a scenario is made of.
#pragma once

#include <conduit/options.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace conduit::bench {

struct Config {
  int producers = 1;
  int subscribers = 1;       // fan-out subscribers, each reading every topic
  int group_consumers = 0;   // consumers of one work group per topic
  int reader_threads = 0;    // 0: as many as the cores left by the producers, at least 1
  int topics = 1;            // producers publish to the topics in turn
  int stalled = 0;           // subscribers that never read (lag, memory)
  std::size_t payload = 64;  // bytes, at least 16 (sequence and send time)
  Durability durability = Durability::kMemory;
  std::string dir;  // parent of the data directory; empty: next to the executable
  double duration_s = 2.0;
  double rate = 0;  // messages/s over all producers; 0: closed loop
  bool pin = false;
  WaitStrategy wait = WaitStrategy::kAdaptive;
  std::size_t ring_bytes = 64u << 20;
  std::size_t segment_bytes = 8u << 20;
  std::size_t retain_bytes = 0;
  bool baseline = true;
  bool json = false;
  int progress = -1;  // -1: when stderr is a terminal and the run is long

  int effective_reader_threads(unsigned cores) const;
};

// Parses argv (without argv[0]). On error returns false with a message.
// `help` is set for --help.
bool parse_args(const std::vector<std::string>& args, Config& cfg, std::string& error, bool& help);
const char* usage_text();
// main's command line: -1 to run the scenario in `cfg`; else the exit code
// (--help: 0 after the usage on `out`; bad options: 2 after the error and the
// usage on `err`). Parses only, so the command-line fuzzer can call it.
int parse_command_line(int argc, char** argv, Config& cfg, std::FILE* out, std::FILE* err);

const char* durability_name(Durability d);
const char* wait_name(WaitStrategy w);

}  // namespace conduit::bench
