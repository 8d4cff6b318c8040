// conduit-bench's option parsing: every value is checked, and a bad one is
// named in the error with what was expected.
#include "options.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>

namespace conduit::bench {

const char* usage_text() {
  return R"(usage: conduit-bench [options]

End-to-end scenarios through conduit, each with its raw baseline run in the
same process (moodycamel::ConcurrentQueue for memory topics, pwrite+fdatasync
for sync, io_uring writes for async), and the ratio between them.

Scenario
  --producers N          publishing threads (default 1)
  --subscribers N        fan-out subscribers; each reads every topic (default 1)
  --group-consumers N    consumers of one work group per topic, acking (default 0)
  --reader-threads N     threads polling the subscribers and consumers round-robin
                         (default: cores left by the producers, at least 1)
  --topics N             topics; producers publish to them in turn (default 1)
  --payload BYTES        payload size, >= 16; suffixes K/KiB, M/MiB (default 64)
  --durability MODE      memory | async | sync (default memory)
  --dir PATH             where the data directory is made (persisted topics); a
                         fresh directory inside it is removed at exit
                         (default: next to the executable)
  --duration SECONDS     how long producers publish; suffix s or ms (default 2)
  --rate R               open loop: R messages/s over all producers, each timed
                         from its intended send time; suffix k or M. 0 or absent:
                         closed loop (as fast as possible)
  --wait STRATEGY        subscribers' wait: spin | yield | park | adaptive (default)
  --pin                  pin producer and reader threads to cores, in turn
  --stalled N            subscribers that never read, for lag and memory (default 0)
  --ring-bytes BYTES     memory topics' ring (default 64MiB)
  --segment-bytes BYTES  segment size (default 8MiB)
  --retain-bytes BYTES   persisted topics' retention by bytes (default 0: none)

Output
  --json                 JSON on stdout instead of the table
  --no-baseline          skip the baseline run
  --progress / --no-progress
                         a progress line on stderr (default: when stderr is a
                         terminal and the run takes 3 s or more)
  --help                 this text

Exit status: 0 ok, 1 the run failed or a check failed, 2 bad options.
)";
}

const char* durability_name(Durability d) {
  switch (d) {
    case Durability::kMemory: return "memory";
    case Durability::kAsync: return "async";
    case Durability::kSync: return "sync";
  }
  return "?";
}

const char* wait_name(WaitStrategy w) {
  switch (w) {
    case WaitStrategy::kBusySpin: return "spin";
    case WaitStrategy::kYield: return "yield";
    case WaitStrategy::kPark: return "park";
    case WaitStrategy::kAdaptive: return "adaptive";
  }
  return "?";
}

int Config::effective_reader_threads(unsigned cores) const {
  const int endpoints = subscribers + group_consumers;
  if (endpoints == 0) return 0;
  if (reader_threads > 0) return std::min(reader_threads, endpoints);
  const int left = static_cast<int>(cores) - producers;
  return std::clamp(left, 1, endpoints);
}

namespace {

// A decimal number with an optional suffix from `units`; false if malformed.
bool parse_scaled(const std::string& s, const std::map<std::string, double>& units, double& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || errno != 0 || !std::isfinite(v) || v < 0) return false;
  const std::string suffix(end);
  if (suffix.empty()) {
    out = v;
    return true;
  }
  const auto it = units.find(suffix);
  if (it == units.end()) return false;
  out = v * it->second;
  return true;
}

const std::map<std::string, double> kSizeUnits = {
    {"B", 1},           {"K", 1024.0},       {"KiB", 1024.0},      {"M", 1048576.0},
    {"MiB", 1048576.0}, {"G", 1073741824.0}, {"GiB", 1073741824.0}};
const std::map<std::string, double> kRateUnits = {{"k", 1e3}, {"K", 1e3}, {"M", 1e6}};
const std::map<std::string, double> kTimeUnits = {{"s", 1}, {"ms", 1e-3}};

}  // namespace

bool parse_args(const std::vector<std::string>& args, Config& cfg, std::string& error, bool& help) {
  help = false;
  auto bad = [&](const std::string& opt, const std::string& value, const std::string& want) {
    error = "bad value '" + value + "' for " + opt + ": expected " + want;
    return false;
  };
  auto integer = [&](int lo, int hi, int& into) {
    return [&, lo, hi](const std::string& opt, const std::string& v) {
      char* end = nullptr;
      errno = 0;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || errno != 0 || n < lo || n > hi)
        return bad(opt, v, "an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
      into = static_cast<int>(n);
      return true;
    };
  };
  auto size = [&](std::size_t lo, std::size_t hi, std::size_t& into) {
    return [&, lo, hi](const std::string& opt, const std::string& v) {
      double d = 0;
      if (!parse_scaled(v, kSizeUnits, d) || d != std::floor(d) || d < static_cast<double>(lo) ||
          d > static_cast<double>(hi))
        return bad(opt, v,
                   "a whole number of bytes from " + std::to_string(lo) + " to " + std::to_string(hi) +
                       " (suffixes K, KiB, M, MiB, G, GiB)");
      into = static_cast<std::size_t>(d);
      return true;
    };
  };
  using Handler = std::function<bool(const std::string&, const std::string&)>;
  const std::map<std::string, Handler> with_value = {
      {"--producers", integer(1, 256, cfg.producers)},
      {"--subscribers", integer(0, 4096, cfg.subscribers)},
      {"--group-consumers", integer(0, 1024, cfg.group_consumers)},
      {"--reader-threads", integer(1, 256, cfg.reader_threads)},
      {"--topics", integer(1, 100000, cfg.topics)},
      {"--stalled", integer(0, 64, cfg.stalled)},
      {"--payload", size(16, 64u << 20, cfg.payload)},
      {"--ring-bytes", size(64u << 10, std::size_t{64} << 30, cfg.ring_bytes)},
      {"--segment-bytes", size(64u << 10, 1u << 30, cfg.segment_bytes)},
      {"--retain-bytes", size(0, ~std::size_t{0} >> 1, cfg.retain_bytes)},
      {"--dir", [&](const std::string& opt,
                    const std::string& v) { return v.empty() ? bad(opt, v, "a path") : (cfg.dir = v, true); }},
      {"--durability",
       [&](const std::string& opt, const std::string& v) {
         if (v == "memory")
           cfg.durability = Durability::kMemory;
         else if (v == "async")
           cfg.durability = Durability::kAsync;
         else if (v == "sync")
           cfg.durability = Durability::kSync;
         else
           return bad(opt, v, "memory, async or sync");
         return true;
       }},
      {"--wait",
       [&](const std::string& opt, const std::string& v) {
         if (v == "spin")
           cfg.wait = WaitStrategy::kBusySpin;
         else if (v == "yield")
           cfg.wait = WaitStrategy::kYield;
         else if (v == "park")
           cfg.wait = WaitStrategy::kPark;
         else if (v == "adaptive")
           cfg.wait = WaitStrategy::kAdaptive;
         else
           return bad(opt, v, "spin, yield, park or adaptive");
         return true;
       }},
      {"--duration",
       [&](const std::string& opt, const std::string& v) {
         double d = 0;
         if (!parse_scaled(v, kTimeUnits, d) || d <= 0 || d > 3600)
           return bad(opt, v, "seconds above 0 and at most 3600 (suffix s or ms)");
         cfg.duration_s = d;
         return true;
       }},
      {"--rate",
       [&](const std::string& opt, const std::string& v) {
         double d = 0;
         if (!parse_scaled(v, kRateUnits, d) || d > 1e9) return bad(opt, v, "messages/s from 0 to 1e9 (suffix k or M)");
         cfg.rate = d;
         return true;
       }},
  };
  const std::map<std::string, std::function<void()>> flags = {
      {"--json", [&] { cfg.json = true; }},
      {"--pin", [&] { cfg.pin = true; }},
      {"--no-baseline", [&] { cfg.baseline = false; }},
      {"--progress", [&] { cfg.progress = 1; }},
      {"--no-progress", [&] { cfg.progress = 0; }},
      {"--help", [&] { help = true; }},
      {"-h", [&] { help = true; }},
  };

  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string opt = args[i], value;
    bool has_value = false;
    if (const auto eq = opt.find('='); opt.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = opt.substr(eq + 1);
      opt.resize(eq);
      has_value = true;
    }
    if (const auto f = flags.find(opt); f != flags.end()) {
      if (has_value) {
        error = "option " + opt + " takes no value";
        return false;
      }
      f->second();
      continue;
    }
    const auto h = with_value.find(opt);
    if (h == with_value.end()) {
      error = "unknown option '" + args[i] + "'";
      return false;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        error = "option " + opt + " needs a value";
        return false;
      }
      value = args[++i];
    }
    if (!h->second(opt, value)) return false;
  }
  if (cfg.durability == Durability::kMemory && cfg.retain_bytes != 0) {
    error = "--retain-bytes applies to persisted topics (--durability async or sync)";
    return false;
  }
  if (cfg.payload > cfg.segment_bytes / 2 - (64u << 10)) {
    error = "--payload " + std::to_string(cfg.payload) + " does not fit --segment-bytes " +
            std::to_string(cfg.segment_bytes) + " (a segment holds at least 2 * (payload + 64 KiB))";
    return false;
  }
  return true;
}

int parse_command_line(int argc, char** argv, Config& cfg, std::FILE* out, std::FILE* err) {
  std::string error;
  bool help = false;
  if (!parse_args(std::vector<std::string>(argv + 1, argv + argc), cfg, error, help)) {
    std::fprintf(err, "conduit-bench: %s\n\n%s", error.c_str(), usage_text());
    return 2;
  }
  if (help) {
    std::fputs(usage_text(), out);
    return 0;
  }
  return -1;
}

}  // namespace conduit::bench
