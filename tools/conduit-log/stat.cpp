// stat: the live counters an engine keeps in DATA_DIR/counters, read
// without its lock: a table (-w refreshes it), JSON, or Prometheus text.
#include "stat.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "commands.h"

namespace conduit_log {
namespace {

namespace ct = conduit::counters;
using ct::Row;
using ct::RowKind;

constexpr const char* kHelp =
    "usage: conduit-log stat DIR [TOPIC] [-w SECONDS] [--json | --prometheus] [--listen ADDR:PORT]\n"
    "\n"
    "Reads the live counters a running engine keeps in DIR/counters (see\n"
    "doc/observability.md), without its lock: per topic the watermarks,\n"
    "segments, retention deletions and sync rounds; per subscriber, work\n"
    "group and named LogReader the position, lag in records and in time,\n"
    "redeliveries, dead letters, timeouts, losses and deliveries in flight;\n"
    "the persistence thread's rounds and errors. Only TOPIC's rows with TOPIC.\n"
    "\n"
    "  -w SECONDS          redraw the table every SECONDS until interrupted\n"
    "  --json              one JSON object\n"
    "  --prometheus        the Prometheus text format (for node_exporter's\n"
    "                      textfile collector)\n"
    "  --listen ADDR:PORT  serve that format at http://ADDR:PORT/metrics\n";

const FlagSpec kFlags[] = {{"--json", false}, {"--prometheus", false}, {"--listen", true}, {"--watch", true, "-w"}};

const char* kind_name(RowKind k) {
  switch (k) {
    case RowKind::kEngine: return "engine";
    case RowKind::kTopic: return "topic";
    case RowKind::kSubscriber: return "subscriber";
    case RowKind::kWorkGroup: return "work_group";
    case RowKind::kLogReader: return "log_reader";
    case RowKind::kFree: break;
  }
  return "unknown";
}

bool is_reader(RowKind k) { return k == RowKind::kSubscriber || k == RowKind::kWorkGroup || k == RowKind::kLogReader; }

// Unnamed subscribers get their row number, so that labels stay unique.
std::string reader_name(const Row& r) { return r.name.empty() ? "(unnamed #" + std::to_string(r.index) + ")" : r.name; }

bool process_running(std::uint64_t pid) {
  return pid != 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

// The upper bound (ns) of the bucket where the q-quantile of the rounds falls; 0 with no rounds.
std::uint64_t quantile_ns(const Row& t, double q) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < ct::kLatencyBuckets; ++i) total += t.values[ct::kSyncLatency + i];
  if (total == 0) return 0;
  const auto want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < ct::kLatencyBuckets; ++i) {
    seen += t.values[ct::kSyncLatency + i];
    if (seen >= want) return std::uint64_t{2} << i;
  }
  return std::uint64_t{2} << (ct::kLatencyBuckets - 1);
}

std::string duration(std::uint64_t ns) {
  char buf[32];
  if (ns < 1000)
    std::snprintf(buf, sizeof buf, "%lluns", static_cast<unsigned long long>(ns));
  else if (ns < 1000'000)
    std::snprintf(buf, sizeof buf, "%.1fus", static_cast<double>(ns) / 1e3);
  else if (ns < 1000'000'000)
    std::snprintf(buf, sizeof buf, "%.1fms", static_cast<double>(ns) / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ns) / 1e9);
  return buf;
}

unsigned long long u(std::uint64_t v) { return static_cast<unsigned long long>(v); }

void print_table(const std::string& data_dir, std::uint64_t pid, const std::vector<Row>& rows, const Style& st) {
  for (const Row& r : rows) {
    if (r.kind != RowKind::kEngine) continue;
    std::printf("%s%s%s  engine pid %llu%s, disk I/O %s, persistence rounds %llu, errors %llu\n", st.bold(),
                data_dir.c_str(), st.reset(), u(pid), process_running(pid) ? "" : " (exited)",
                r.name.empty() ? "-" : r.name.c_str(), u(r.values[ct::kPersistenceRounds]),
                u(r.values[ct::kPersistenceErrors]));
    std::printf("  refreshed %s (engine clock), %llu times%s\n",
                format_time(static_cast<std::int64_t>(r.values[ct::kRefreshedAtNs])).c_str(),
                u(r.values[ct::kRefreshes]),
                r.values[ct::kRowsMissing] != 0
                    ? (", " + std::to_string(r.values[ct::kRowsMissing]) + " rows did not fit").c_str()
                    : "");
  }
  std::printf("\n%s%-24s %12s %12s %12s %5s %12s %7s %7s %8s %9s %9s%s\n", st.bold(), "TOPIC", "PUBLISHED", "DURABLE",
              "CLAIMED", "SEGS", "BYTES", "RET.DEL", "CAP.DEL", "SYNCS", "SYNC.P50", "SYNC.P99", st.reset());
  for (const Row& r : rows) {
    if (r.kind != RowKind::kTopic) continue;
    const auto* v = r.values;
    std::printf("%-24s %12llu %12llu %12llu %5llu %12llu %7llu %7llu %8llu %9s %9s\n", r.topic.c_str(),
                u(v[ct::kPublished]), u(v[ct::kDurable]), u(v[ct::kClaimed]), u(v[ct::kSegments]), u(v[ct::kBytes]),
                u(v[ct::kRetentionDeletions]), u(v[ct::kCapDeletions]), u(v[ct::kSyncRounds]),
                duration(quantile_ns(r, 0.5)).c_str(), duration(quantile_ns(r, 0.99)).c_str());
  }
  std::printf("\n%s%-24s %-10s %-20s %12s %10s %9s %7s %6s %7s %7s %8s%s\n", st.bold(), "TOPIC", "KIND", "NAME",
              "POSITION", "LAG", "LAG.TIME", "REDELIV", "DEAD", "TIMEOUT", "LOST", "INFLIGHT", st.reset());
  for (const Row& r : rows) {
    if (!is_reader(r.kind)) continue;
    const auto* v = r.values;
    const std::string lag_time = v[ct::kLagKnown] != 0 ? duration(v[ct::kLagNs]) : "?";
    std::printf("%-24s %-10s %-20s %12llu %s%10llu%s %9s %7llu %6llu %7llu %7llu %8llu\n", r.topic.c_str(),
                kind_name(r.kind), reader_name(r).c_str(), u(v[ct::kPosition]),
                v[ct::kLagRecords] != 0 ? st.yellow() : "", u(v[ct::kLagRecords]), st.reset(), lag_time.c_str(),
                u(v[ct::kRedelivered]), u(v[ct::kDeadLettered]), u(v[ct::kTimedOut]), u(v[ct::kLost]),
                u(v[ct::kInFlight]));
  }
}

std::string json_text(const std::string& data_dir, std::uint64_t pid, const std::vector<Row>& rows) {
  Json j;
  j.begin_object().key("data_dir").str(data_dir).key("writer_pid").num(pid);
  j.key("writer_running").boolean(process_running(pid));
  for (const Row& r : rows) {
    if (r.kind != RowKind::kEngine) continue;
    j.key("engine").begin_object().key("disk_io").str(r.name);
    j.key("persistence_rounds").num(r.values[ct::kPersistenceRounds]);
    j.key("persistence_errors").num(r.values[ct::kPersistenceErrors]);
    j.key("refreshes").num(r.values[ct::kRefreshes]);
    j.key("refreshed_at_ns").num(r.values[ct::kRefreshedAtNs]);
    j.key("rows_missing").num(r.values[ct::kRowsMissing]).end_object();
  }
  j.key("topics").begin_array();
  for (const Row& r : rows) {
    if (r.kind != RowKind::kTopic) continue;
    const auto* v = r.values;
    j.begin_object().key("topic").str(r.topic).key("row").num(r.index);
    j.key("published").num(v[ct::kPublished]).key("durable").num(v[ct::kDurable]);
    j.key("claimed").num(v[ct::kClaimed]).key("earliest").num(v[ct::kEarliest]);
    j.key("segments").num(v[ct::kSegments]).key("bytes").num(v[ct::kBytes]);
    j.key("retention_deletions").num(v[ct::kRetentionDeletions]).key("cap_deletions").num(v[ct::kCapDeletions]);
    j.key("cap_lost_records").num(v[ct::kCapLostRecords]).key("sync_rounds").num(v[ct::kSyncRounds]);
    j.key("sync_failures").num(v[ct::kSyncFailures]).key("sync_ns_sum").num(v[ct::kSyncLatencySumNs]);
    j.key("sync_ns_log2_buckets").begin_array();
    for (std::size_t i = 0; i < ct::kLatencyBuckets; ++i) j.num(v[ct::kSyncLatency + i]);
    j.end_array().end_object();
  }
  j.end_array().key("readers").begin_array();
  for (const Row& r : rows) {
    if (!is_reader(r.kind)) continue;
    const auto* v = r.values;
    j.begin_object().key("topic").str(r.topic).key("kind").str(kind_name(r.kind)).key("name").str(r.name);
    j.key("row").num(r.index).key("position").num(v[ct::kPosition]).key("lag").num(v[ct::kLagRecords]);
    j.key("lag_ns");
    if (v[ct::kLagKnown] != 0)
      j.num(v[ct::kLagNs]);
    else
      j.null();
    j.key("redelivered").num(v[ct::kRedelivered]).key("dead_lettered").num(v[ct::kDeadLettered]);
    j.key("timed_out").num(v[ct::kTimedOut]).key("lost").num(v[ct::kLost]).key("in_flight").num(v[ct::kInFlight]);
    j.end_object();
  }
  j.end_array().end_object();
  return j.text();
}

// A label value: backslash, double quote and newline escaped. The format
// wants UTF-8: a byte of a damaged file's name that is not part of valid
// UTF-8 becomes U+FFFD (the counters fuzzer's
// regression-prometheus-label-not-utf8).
std::string label(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_len(s, i);
    if (n != 1) {
      out += n == 0 ? std::string_view("\xef\xbf\xbd") : s.substr(i, n);
      i += n == 0 ? 1 : n;
      continue;
    }
    const char c = s[i++];
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

struct Metric {
  const char* name;
  const char* type;
  const char* help;
};

class Exposition {
 public:
  // HELP and TYPE once per metric, before its first sample.
  void sample(const Metric& m, const std::string& labels, const std::string& value, const char* suffix = "") {
    if (last_ != m.name) {
      out_ += std::string("# HELP ") + m.name + " " + m.help + "\n# TYPE " + m.name + " " + m.type + "\n";
      last_ = m.name;
    }
    out_ += std::string(m.name) + suffix + (labels.empty() ? "" : "{" + labels + "}") + " " + value + "\n";
  }
  void sample(const Metric& m, const std::string& labels, std::uint64_t v) { sample(m, labels, std::to_string(v)); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::string last_;
};

std::string seconds(std::uint64_t ns) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(ns) / 1e9);
  return buf;
}

}  // namespace

std::vector<Row> read_counters(const std::string& data_dir, const std::string* topic, std::string* error) {
  auto file = ct::CountersFile::open(data_dir, error);
  if (!file.is_open()) return {};
  std::vector<Row> rows = file.rows();
  if (topic != nullptr)
    std::erase_if(rows, [&](const Row& r) { return r.kind != RowKind::kEngine && r.topic != *topic; });
  return rows;
}

std::string prometheus_text(const std::vector<Row>& rows) {
  static constexpr Metric kEngineInfo{"conduit_engine_info", "gauge",
                                      "The engine writing the counters file; disk_io is its write-ahead log's path."};
  static constexpr Metric kRounds{"conduit_engine_persistence_rounds_total", "counter",
                                  "Rounds of the engine's persistence thread."};
  static constexpr Metric kErrors{"conduit_engine_persistence_errors_total", "counter",
                                  "Sync rounds that failed, every topic together."};
  static constexpr Metric kMissing{"conduit_engine_rows_missing", "gauge",
                                   "Topics and readers the counters file had no room for."};
  static constexpr Metric kTopic[] = {
      {"conduit_topic_published_total", "counter", "Records published (the published watermark)."},
      {"conduit_topic_durable_total", "counter", "Records made durable by fdatasync (the durable watermark)."},
      {"conduit_topic_claimed_total", "counter", "Sequences producers claimed."},
      {"conduit_topic_earliest_sequence", "gauge", "Oldest sequence the topic holds."},
      {"conduit_topic_segments", "gauge", "Segments the topic holds."},
      {"conduit_topic_bytes", "gauge", "Bytes the topic's segments take."},
      {"conduit_topic_retention_deletions_total", "counter", "Segments deleted by retention rules."},
      {"conduit_topic_cap_deletions_total", "counter", "hard_cap_bytes deletions of records not yet consumed."},
      {"conduit_topic_cap_lost_records_total", "counter", "Records hard_cap_bytes deletions took unconsumed."},
      {"conduit_topic_sync_rounds_total", "counter", "Sync rounds that had something to sync."},
      {"conduit_topic_sync_failures_total", "counter", "Sync rounds that failed."},
  };
  static constexpr ct::TopicField kTopicFields[] = {
      ct::kPublished,          ct::kDurable,      ct::kClaimed,        ct::kEarliest,   ct::kSegments,    ct::kBytes,
      ct::kRetentionDeletions, ct::kCapDeletions, ct::kCapLostRecords, ct::kSyncRounds, ct::kSyncFailures};
  static constexpr Metric kSync{"conduit_topic_sync_duration_seconds", "histogram",
                                "Time each sync round took to reach the disk."};
  static constexpr Metric kReader[] = {
      {"conduit_reader_position", "gauge",
       "Next sequence (subscriber), ack floor (work group), committed position (LogReader)."},
      {"conduit_reader_lag_records", "gauge", "Records published after the reader's position."},
      {"conduit_reader_redelivered_total", "counter", "Deliveries that were redeliveries."},
      {"conduit_reader_dead_lettered_total", "counter", "Records sent to the dead-letter topic."},
      {"conduit_reader_timed_out_total", "counter", "Deliveries whose ack timeout passed."},
      {"conduit_reader_lost_total", "counter", "Records lost (lose-oldest, retention, the hard cap)."},
      {"conduit_reader_in_flight", "gauge", "Deliveries handed out and not answered yet."},
  };
  static constexpr ct::ReaderField kReaderFields[] = {
      ct::kPosition, ct::kLagRecords, ct::kRedelivered, ct::kDeadLettered, ct::kTimedOut, ct::kLost, ct::kInFlight};
  static constexpr Metric kLagTime{"conduit_reader_lag_seconds", "gauge",
                                   "Engine clock now minus the timestamp of the oldest record not yet read."};
  Exposition e;
  for (const Row& r : rows) {
    if (r.kind != RowKind::kEngine) continue;
    e.sample(kEngineInfo, "disk_io=\"" + label(r.name) + "\"", 1);
    e.sample(kRounds, "", r.values[ct::kPersistenceRounds]);
    e.sample(kErrors, "", r.values[ct::kPersistenceErrors]);
    e.sample(kMissing, "", r.values[ct::kRowsMissing]);
  }
  // Metric by metric (the format wants each one's samples together).
  for (std::size_t m = 0; m < std::size(kTopic); ++m)
    for (const Row& r : rows)
      if (r.kind == RowKind::kTopic) e.sample(kTopic[m], "topic=\"" + label(r.topic) + "\"", r.values[kTopicFields[m]]);
  for (const Row& r : rows) {
    if (r.kind != RowKind::kTopic) continue;
    const std::string t = "topic=\"" + label(r.topic) + "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i + 1 < ct::kLatencyBuckets; ++i) {
      cumulative += r.values[ct::kSyncLatency + i];
      e.sample(kSync, t + ",le=\"" + seconds(std::uint64_t{2} << i) + "\"", std::to_string(cumulative), "_bucket");
    }
    cumulative += r.values[ct::kSyncLatency + ct::kLatencyBuckets - 1];
    e.sample(kSync, t + ",le=\"+Inf\"", std::to_string(cumulative), "_bucket");
    e.sample(kSync, t, seconds(r.values[ct::kSyncLatencySumNs]), "_sum");
    e.sample(kSync, t, std::to_string(cumulative), "_count");
  }
  auto reader_labels = [](const Row& r) {
    return "topic=\"" + label(r.topic) + "\",kind=\"" + kind_name(r.kind) + "\",name=\"" + label(reader_name(r)) + "\"";
  };
  for (std::size_t m = 0; m < std::size(kReader); ++m)
    for (const Row& r : rows)
      if (is_reader(r.kind)) e.sample(kReader[m], reader_labels(r), r.values[kReaderFields[m]]);
  for (const Row& r : rows)
    if (is_reader(r.kind) && r.values[ct::kLagKnown] != 0)
      e.sample(kLagTime, reader_labels(r), seconds(r.values[ct::kLagNs]));
  return e.take();
}

int run_stat(int argc, char** argv) {
  Args args;
  Style style;
  if (int rc = parse_command("stat", kHelp, argc, argv, kFlags, 1, 2, &args, &style); rc >= 0) return rc;
  const std::string& data_dir = args.positional[0];
  const std::string* topic = args.positional.size() == 2 ? &args.positional[1] : nullptr;
  if (args.has("--json") && args.has("--prometheus"))
    return fail("stat", "--json and --prometheus exclude each other", kExitUsage);
  if (const std::string* listen = args.value("--listen")) return serve_metrics(data_dir, topic, *listen);
  double every = 0;
  if (const std::string* w = args.value("--watch")) {
    char* end = nullptr;
    every = std::strtod(w->c_str(), &end);
    if (end == w->c_str() || *end != '\0' || !(every > 0) || every > 86400)
      return fail("stat", "-w wants a number of seconds (0 < SECONDS <= 86400), got '" + *w + "'", kExitUsage);
  }
  for (;;) {
    std::string error;
    // Opened again each time: a restarted engine makes a new file.
    auto file = ct::CountersFile::open(data_dir, &error);
    if (!file.is_open()) return fail("stat", error, kExitProblem);
    std::vector<Row> rows = file.rows();
    if (topic != nullptr)
      std::erase_if(rows, [&](const Row& r) { return r.kind != RowKind::kEngine && r.topic != *topic; });
    if (every > 0 && isatty(STDOUT_FILENO)) std::fputs("\033[H\033[2J", stdout);  // home, clear
    if (args.has("--prometheus"))
      std::fputs(prometheus_text(rows).c_str(), stdout);
    else if (args.has("--json"))
      std::printf("%s\n", json_text(data_dir, file.writer_pid(), rows).c_str());
    else
      print_table(data_dir, file.writer_pid(), rows, style);
    std::fflush(stdout);
    if (every == 0) return kExitOk;
    std::this_thread::sleep_for(std::chrono::duration<double>(every));
  }
}

}  // namespace conduit_log
