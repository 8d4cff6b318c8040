// conduit-bench: end-to-end scenarios through conduit with their raw
// baselines run in the same process. `conduit-bench --help` lists the
// options; bench/README.md says what each figure means.
#include <stdlib.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "../disk_baselines.h"
#include "harness.h"
#include "options.h"
#include "report.h"

namespace fs = std::filesystem;
using namespace conduit;
using namespace conduit::bench;

namespace {

// Where the data directory goes when --dir is not given: beside the
// executable (the build directory, on a real disk), not /tmp (often tmpfs,
// where fdatasync means nothing).
fs::path default_parent() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

// A fresh directory under `parent`, removed when this goes away.
class ScratchDir {
 public:
  bool make(const fs::path& parent, std::string& error) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    std::string tmpl = (parent / "conduit-bench.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      error = "cannot make a directory in " + parent.string() + ": " + errno_text();
      return false;
    }
    path_ = tmpl;
    return true;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

extern "C" void on_interrupt(int) {
  g_interrupted.store(true, std::memory_order_relaxed);  // relaxed: see g_interrupted
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  if (const int rc = parse_command_line(argc, argv, cfg, stdout, stderr); rc >= 0) return rc;
  std::string error;
  if (cfg.progress < 0) cfg.progress = ::isatty(STDERR_FILENO) && cfg.duration_s >= 3 ? 1 : 0;

  // Ctrl-C ends the run early; what was measured is reported and the data
  // directory removed.
  std::signal(SIGINT, on_interrupt);
  auto interrupted = [] { return g_interrupted.load(std::memory_order_relaxed); };  // relaxed: see g_interrupted

  Report report;
  report.cfg = cfg;
  report.conduit.system = "conduit";
  report.conduit.error = "interrupted before it started";
  ScratchDir scratch;
  const bool persisted = cfg.durability != Durability::kMemory;
  if (persisted) {
    if (!scratch.make(cfg.dir.empty() ? default_parent() : fs::path(cfg.dir), error)) {
      std::fprintf(stderr, "conduit-bench: %s\n", error.c_str());
      return 1;
    }
    report.data_dir = scratch.path().string();
  }
  report.machine = describe_machine(report.data_dir);
  const std::string engine_dir = persisted ? (scratch.path() / "engine").string() : std::string();
  const bool open_loop = cfg.rate > 0;

  switch (cfg.durability) {
    case Durability::kMemory:
      if (cfg.baseline && cfg.subscribers + cfg.group_consumers == 0) {
        // Queues nobody reads are not a path to compare with.
        report.baseline_note = "none: no subscriber and no work group, so no queue to compare with";
      } else if (cfg.baseline) {
        report.baseline = run_queue(cfg);
        report.baseline_note = "same producers, readers and payload copy over moodycamel queues";
      }
      if (!interrupted()) report.conduit = run_conduit(cfg, engine_dir);
      break;
    case Durability::kSync:
      if (cfg.baseline) {
        report.baseline = run_raw_sync(cfg, scratch.path().string());
        report.baseline_note = "one pwrite+fdatasync per record on the same disk";
      }
      if (!interrupted()) report.conduit = run_conduit(cfg, engine_dir);
      break;
    case Durability::kAsync:
      if (!interrupted()) report.conduit = run_conduit(cfg, engine_dir);
      if (cfg.baseline && open_loop) {
        report.baseline_note = "none in open loop: the offered rate sets the throughput";
      } else if (cfg.baseline && !interrupted()) {
        // The raw writer writes next to a log the engine has closed but not
        // yet deleted; its pages are written back by then (await_durable).
        report.baseline = run_raw_async(cfg, scratch.path().string(), report.conduit.published);
        report.baseline_note = "the same payload bytes through io_uring writes and one fdatasync, same disk";
      }
      break;
  }
  compute_ratios(report);
  if (cfg.json)
    print_json(report);
  else
    print_table(report);

  const bool ok = report.conduit.error.empty() && report.conduit.verified &&
                  (!report.baseline || (report.baseline->error.empty() && report.baseline->verified));
  if (!ok) {
    const std::string& e = !report.conduit.error.empty() ? report.conduit.error : report.conduit.verify_note;
    std::fprintf(
        stderr, "conduit-bench: %s\n",
        !e.empty() ? e.c_str()
                   : (report.baseline->error.empty() ? report.baseline->verify_note : report.baseline->error).c_str());
  }
  if (interrupted()) {
    std::fprintf(stderr, "conduit-bench: interrupted; the figures cover the part that ran\n");
    return 130;
  }
  return ok ? 0 : 1;
}
