// conduit-bench's output. The JSON is flat enough for tools/bench-plot and
// for a reader with jq; every figure is one the run measured.
#include "report.h"

#include <sys/statfs.h>
#include <sys/utsname.h>

#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <thread>
#include <vector>

#include "../disk_baselines.h"

namespace conduit::bench {
namespace {

constexpr double kPercentiles[] = {0.5, 0.9, 0.99, 0.999, 0.9999};
constexpr const char* kPercentileNames[] = {"p50", "p90", "p99", "p99.9", "p99.99"};

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string json_opt(const std::optional<double>& v) { return v ? json_number(*v) : "null"; }

std::string latency_json(const LatencyStats& l) {
  if (!l.present) return "null";
  const Histogram& h = l.hist;
  std::string s = "{\"count\": " + std::to_string(h.count());
  for (std::size_t i = 0; i < std::size(kPercentiles); ++i)
    s += ", \"" + std::string(kPercentileNames[i]) + "_ns\": " + std::to_string(h.percentile(kPercentiles[i]));
  s += ", \"max_ns\": " + std::to_string(h.max()) + ", \"mean_ns\": " + json_number(h.mean()) + "}";
  return s;
}

std::string run_json(const RunResult& r) {
  std::string s = "{";
  s += "\"system\": " + json_string(r.system);
  s += ", \"description\": " + json_string(r.description);
  s += ", \"ok\": " + std::string(r.error.empty() ? "true" : "false");
  s += ", \"error\": " + (r.error.empty() ? std::string("null") : json_string(r.error));
  s += ", \"verified\": " + std::string(r.verified ? "true" : "false");
  if (!r.verify_note.empty()) s += ", \"verify_note\": " + json_string(r.verify_note);
  s += ", \"seconds\": " + json_number(r.seconds);
  s += ", \"publish_seconds\": " + json_number(r.publish_seconds);
  s += ", \"published\": " + std::to_string(r.published);
  s += ", \"deliveries\": " + std::to_string(r.deliveries);
  s += ", \"lost\": " + std::to_string(r.lost);
  s += ", \"msgs_per_s\": " + json_number(msgs_per_s(r));
  s += ", \"deliveries_per_s\": " + json_number(r.seconds > 0 ? static_cast<double>(r.deliveries) / r.seconds : 0);
  s += ", \"payload_bytes_per_s\": " +
       json_number(r.seconds > 0 ? static_cast<double>(r.published * r.payload_bytes) / r.seconds : 0);
  s += ", \"latency\": {\"publish_to_receive\": " + latency_json(r.receive) +
       ", \"publish_to_durable\": " + latency_json(r.durable) + "}";
  s += ", \"memory\": {\"rss_mib\": " + json_number(r.rss_mib) + ", \"rss_anon_mib\": " + json_number(r.rss_anon_mib) +
       ", \"rss_file_mib\": " + json_number(r.rss_file_mib) + ", \"peak_rss_mib\": " + json_number(r.peak_rss_mib) +
       ", \"peak_rss_scope\": " + json_string(r.peak_rss_own ? "run" : "process") +
       ", \"log_bytes\": " + std::to_string(r.log_bytes) + ", \"stalled_lag\": " + std::to_string(r.stalled_lag) + "}";
  if (!r.disk_io.empty()) s += ", \"disk_io\": " + json_string(r.disk_io);
  return s + "}";
}

std::string us(std::uint64_t ns) {
  char buf[32];
  if (ns < 10'000)
    std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(ns) / 1e3);
  else if (ns < 10'000'000)
    std::snprintf(buf, sizeof buf, "%.0f", static_cast<double>(ns) / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.3g", static_cast<double>(ns) / 1e3);
  return buf;
}

void print_run(const RunResult& r) {
  std::printf("\n%s: %s\n", r.system.c_str(), r.description.c_str());
  if (!r.error.empty()) std::printf("  ERROR: %s\n", r.error.c_str());
  if (!r.verified) std::printf("  CHECK FAILED: %s\n", r.verify_note.c_str());
  std::printf("  %" PRIu64 " published in %.3f s (%.3f s to the last delivery)", r.published, r.publish_seconds,
              r.seconds);
  if (r.deliveries != 0) std::printf(", %" PRIu64 " deliveries", r.deliveries);
  if (r.lost != 0) std::printf(", %" PRIu64 " lost", r.lost);
  std::printf("\n  %.3f M msg/s, %.1f MB/s of payload", msgs_per_s(r) / 1e6,
              r.seconds > 0 ? static_cast<double>(r.published * r.payload_bytes) / r.seconds / 1e6 : 0.0);
  if (r.deliveries != 0 && r.seconds > 0)
    std::printf(", %.3f M deliveries/s", static_cast<double>(r.deliveries) / r.seconds / 1e6);
  std::printf("\n");
  for (const auto& [name, l] : {std::pair<const char*, const LatencyStats*>{"publish->receive", &r.receive},
                                {"publish->durable", &r.durable}}) {
    if (!l->present) continue;
    std::printf("  %-17s us:", name);
    for (std::size_t i = 0; i < std::size(kPercentiles); ++i)
      std::printf(" %s %s", kPercentileNames[i], us(l->hist.percentile(kPercentiles[i])).c_str());
    std::printf(" max %s  (n=%" PRIu64 ")\n", us(l->hist.max()).c_str(), l->hist.count());
  }
  if (r.rss_mib > 0)
    std::printf("  RSS %.1f MiB (anon %.1f, file %.1f), peak %.1f MiB%s", r.rss_mib, r.rss_anon_mib, r.rss_file_mib,
                r.peak_rss_mib, r.peak_rss_own ? "" : " (the process's so far)");
  if (r.log_bytes != 0) std::printf(", log on disk %.1f MiB", static_cast<double>(r.log_bytes) / (1 << 20));
  if (r.stalled_lag != 0) std::printf(", stalled subscriber lag %" PRIu64, r.stalled_lag);
  if (r.rss_mib > 0) std::printf("\n");
  if (!r.disk_io.empty()) std::printf("  disk path: %s\n", r.disk_io.c_str());
}

std::optional<double> ratio(double a, double b) {
  if (!(a > 0) || !(b > 0)) return std::nullopt;
  return a / b;
}

}  // namespace

double msgs_per_s(const RunResult& r) { return r.seconds > 0 ? static_cast<double>(r.published) / r.seconds : 0; }

Machine describe_machine(const std::string& data_dir) {
  Machine m;
  utsname u{};
  if (::uname(&u) == 0) m.kernel = u.release;
  m.cores = std::thread::hardware_concurrency();
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) m.cpu = line.substr(colon + 2);
      break;
    }
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  m.date_utc = buf;
  if (!data_dir.empty()) {
    struct statfs sf {};
    if (::statfs(data_dir.c_str(), &sf) == 0) m.filesystem = fs_type_name(sf.f_type);
  }
  return m;
}

void compute_ratios(Report& r) {
  if (!r.baseline || !r.baseline->error.empty() || !r.conduit.error.empty()) return;
  const RunResult& c = r.conduit;
  const RunResult& b = *r.baseline;
  const bool closed_loop = r.cfg.rate <= 0;
  if (r.cfg.durability == Durability::kAsync) {
    r.throughput_unit = "payload_bytes_per_s";
    if (closed_loop) r.throughput_ratio = ratio(b.seconds, c.seconds);  // same bytes on both sides
    return;
  }
  r.throughput_unit = "msgs_per_s";
  if (closed_loop) r.throughput_ratio = ratio(msgs_per_s(c), msgs_per_s(b));
  const bool memory = r.cfg.durability == Durability::kMemory;
  if (memory && closed_loop) {
    // A closed-loop producer runs ahead of its readers, so publish->receive
    // is the backlog behind a full ring, whose size differs on each side.
    r.latency_note = "none in closed loop: publish->receive is the backlog, not the path; use --rate";
    return;
  }
  r.latency_kind = memory ? "publish_to_receive" : "publish_to_durable";
  const LatencyStats& lc = memory ? c.receive : c.durable;
  const LatencyStats& lb = memory ? b.receive : b.durable;
  if (!lc.present || !lb.present) return;
  auto p = [](const LatencyStats& l, double q) { return static_cast<double>(l.hist.percentile(q)); };
  r.p50_ratio = ratio(p(lc, 0.5), p(lb, 0.5));
  r.p99_ratio = ratio(p(lc, 0.99), p(lb, 0.99));
  r.p999_ratio = ratio(p(lc, 0.999), p(lb, 0.999));
}

void print_table(const Report& r) {
  const Config& c = r.cfg;
  std::printf("conduit-bench  %s, kernel %s, %u cores, %s\n", r.machine.cpu.c_str(), r.machine.kernel.c_str(),
              r.machine.cores, r.machine.date_utc.c_str());
  std::printf("scenario: %d producer(s), %d subscriber(s), %d group consumer(s), %d topic(s), %zu B payload, %s, %s",
              c.producers, c.subscribers, c.group_consumers, c.topics, c.payload, durability_name(c.durability),
              c.rate > 0 ? "open loop" : "closed loop");
  if (c.rate > 0) std::printf(" at %.0f msg/s", c.rate);
  std::printf(", %.1f s\n", c.duration_s);
  if (!r.data_dir.empty()) std::printf("data directory: %s (%s)\n", r.data_dir.c_str(), r.machine.filesystem.c_str());
  if (r.baseline) print_run(*r.baseline);
  print_run(r.conduit);
  std::printf("\nconduit / %s", r.baseline ? r.baseline->system.c_str() : "baseline");
  if (!r.baseline_note.empty()) std::printf(" (%s)", r.baseline_note.c_str());
  std::printf(":");
  // Three significant digits: a ratio far from 1 keeps its size (0.0042,
  // not 0.00). Each figure printed is there; none stands in for a missing one.
  auto join = [](const std::vector<std::pair<std::string, std::optional<double>>>& figures) {
    std::string out;
    for (const auto& [what, v] : figures) {
      if (!v) continue;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3g", *v);
      out += (out.empty() ? "" : ", ") + what + " " + buf;
    }
    return out;
  };
  const std::string throughput = join({{"throughput (" + r.throughput_unit + ")", r.throughput_ratio}});
  std::string latency = join({{"p50", r.p50_ratio}, {"p99", r.p99_ratio}, {"p99.9", r.p999_ratio}});
  if (!latency.empty()) latency = r.latency_kind + " " + latency;
  const std::string both = throughput + (throughput.empty() || latency.empty() ? "" : "; ") + latency;
  std::printf(" %s\n", both.empty() ? "n/a" : both.c_str());
  if (!r.latency_note.empty()) std::printf("latency ratios: %s\n", r.latency_note.c_str());
}

void print_json(const Report& r) {
  const Config& c = r.cfg;
  std::string s = "{\n  \"tool\": \"conduit-bench\", \"format\": 1,\n";
  s += "  \"machine\": {\"kernel\": " + json_string(r.machine.kernel) + ", \"cpu\": " + json_string(r.machine.cpu) +
       ", \"cores\": " + std::to_string(r.machine.cores) + ", \"date_utc\": " + json_string(r.machine.date_utc) +
       ", \"filesystem\": " + json_string(r.machine.filesystem) + "},\n";
  s += "  \"config\": {\"producers\": " + std::to_string(c.producers) +
       ", \"subscribers\": " + std::to_string(c.subscribers) +
       ", \"group_consumers\": " + std::to_string(c.group_consumers) +
       ", \"reader_threads\": " + std::to_string(c.effective_reader_threads(r.machine.cores)) +
       ", \"topics\": " + std::to_string(c.topics) + ", \"payload\": " + std::to_string(c.payload) +
       ", \"durability\": " + json_string(durability_name(c.durability)) +
       ", \"mode\": " + json_string(c.rate > 0 ? "open" : "closed") + ", \"rate\": " + json_number(c.rate) +
       ", \"duration_s\": " + json_number(c.duration_s) + ", \"wait\": " + json_string(wait_name(c.wait)) +
       ", \"pin\": " + (c.pin ? "true" : "false") + ", \"stalled\": " + std::to_string(c.stalled) +
       ", \"ring_bytes\": " + std::to_string(c.ring_bytes) + ", \"segment_bytes\": " + std::to_string(c.segment_bytes) +
       ", \"retain_bytes\": " + std::to_string(c.retain_bytes) +
       ", \"data_dir\": " + (r.data_dir.empty() ? std::string("null") : json_string(r.data_dir)) + "},\n";
  s += "  \"conduit\": " + run_json(r.conduit) + ",\n";
  s += "  \"baseline\": " + (r.baseline ? run_json(*r.baseline) : std::string("null")) + ",\n";
  s += "  \"ratios\": {\"note\": " + json_string(r.baseline_note) +
       ", \"throughput_unit\": " + (r.throughput_unit.empty() ? "null" : json_string(r.throughput_unit)) +
       ", \"throughput\": " + json_opt(r.throughput_ratio) +
       ", \"latency_kind\": " + (r.latency_kind.empty() ? "null" : json_string(r.latency_kind)) +
       ", \"p50\": " + json_opt(r.p50_ratio) + ", \"p99\": " + json_opt(r.p99_ratio) +
       ", \"p99.9\": " + json_opt(r.p999_ratio) +
       ", \"latency_note\": " + (r.latency_note.empty() ? "null" : json_string(r.latency_note)) + "}\n}\n";
  std::fputs(s.c_str(), stdout);
}

}  // namespace conduit::bench
