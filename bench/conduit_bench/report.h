// conduit-bench's output: a readable table, or JSON (--json).
#pragma once

#include <optional>
#include <string>

#include "harness.h"

namespace conduit::bench {

struct Machine {
  std::string kernel, cpu, date_utc, filesystem, host_note;
  unsigned cores = 0;
};

// What a scenario's report holds: conduit's run, its baseline's (if any),
// and the ratios between them.
struct Report {
  Config cfg;
  Machine machine;
  std::string data_dir;  // empty for memory topics
  RunResult conduit;
  std::optional<RunResult> baseline;
  std::string baseline_note;  // why there is none, or what it compares
  // conduit ÷ baseline; absent when not comparable.
  std::optional<double> throughput_ratio;
  std::string throughput_unit;  // "msgs_per_s" or "payload_bytes_per_s"
  std::optional<double> p50_ratio, p99_ratio, p999_ratio;
  std::string latency_kind;  // "publish_to_receive" or "publish_to_durable"
  std::string latency_note;  // why there are no latency ratios, when that is not plain
};

Machine describe_machine(const std::string& data_dir);
// Fills the ratios from the runs.
void compute_ratios(Report& r);
void print_table(const Report& r);
void print_json(const Report& r);

double msgs_per_s(const RunResult& r);

}  // namespace conduit::bench
