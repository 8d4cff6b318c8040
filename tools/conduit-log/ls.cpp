// ls: what a data directory holds, topic by topic.
#include <algorithm>
#include <cstdio>
#include <string>

#include <conduit/inspect.h>

#include "commands.h"

namespace conduit_log {
namespace {

using conduit::inspect::TopicSummary;

constexpr const char* kHelp =
    "usage: conduit-log ls DIR [TOPIC] [--json] [--color auto|always|never]\n"
    "\n"
    "Lists the topics of the data directory DIR (or one TOPIC): their sequence\n"
    "range and record count, bytes, time range, watermarks (from each topic's\n"
    "control file), segments, and the named subscribers, work groups and\n"
    "LogReaders (\"reader\", \"holds\" when it holds records) with their\n"
    "committed positions and lag (records after the position; the one furthest\n"
    "behind of those that hold interest retention back is marked). Read-only.\n"
    "\n"
    "  --json   one JSON object for the whole directory\n";

const FlagSpec kFlags[] = {{"--json", false}};

std::uint64_t used_bytes(const TopicSummary& t) {
  std::uint64_t n = 0;
  for (const auto& s : t.segments) n += s.used_bytes;
  return n;
}

std::uint64_t capacity_bytes(const TopicSummary& t) {
  std::uint64_t n = 0;
  for (const auto& s : t.segments) n += s.capacity;
  return n;
}

// Time range over the segments that hold records; false when none do.
bool time_range(const TopicSummary& t, std::int64_t* lo, std::int64_t* hi) {
  bool any = false;
  for (const auto& s : t.segments) {
    if (s.records == 0) continue;
    *lo = any ? std::min(*lo, s.min_ts) : s.min_ts;
    *hi = any ? std::max(*hi, s.max_ts) : s.max_ts;
    any = true;
  }
  return any;
}

std::string file_name(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

void print_text(const Style& st, const TopicSummary& t) {
  const char* state = !t.control         ? "no readable control file"
                      : t.control->clean ? "closed cleanly"
                                         : "open, or not closed cleanly";
  std::printf("%stopic %s%s  (%s)\n", st.bold(), t.name.c_str(), st.reset(), state);
  if (t.records() == 0)
    std::printf("  records     none");
  else
    std::printf("  records     %llu..%llu", static_cast<unsigned long long>(t.first_seq()),
                static_cast<unsigned long long>(t.end_seq() - 1));
  std::printf(" (%llu records in %zu segment%s, %llu of %llu bytes)\n", static_cast<unsigned long long>(t.records()),
              t.segments.size(), t.segments.size() == 1 ? "" : "s", static_cast<unsigned long long>(used_bytes(t)),
              static_cast<unsigned long long>(capacity_bytes(t)));
  std::int64_t lo = 0, hi = 0;
  if (time_range(t, &lo, &hi))
    std::printf("  time        %s .. %s\n", format_time(lo).c_str(), format_time(hi).c_str());
  if (t.control)
    std::printf("  watermarks  durable %llu, published %llu (as of the last sync)\n",
                static_cast<unsigned long long>(t.control->durable),
                static_cast<unsigned long long>(t.control->published));
  for (const auto& s : t.segments) {
    std::printf("  segment     %s  ", file_name(s.path).c_str());
    if (s.records == 0)
      std::printf("empty");
    else
      std::printf("%llu..%llu", static_cast<unsigned long long>(s.first_seq),
                  static_cast<unsigned long long>(s.first_seq + s.records - 1));
    std::printf("  %llu records  %zu of %zu bytes%s\n", static_cast<unsigned long long>(s.records), s.used_bytes,
                s.capacity, s.sealed ? "  sealed" : "");
    if (!s.problem.empty()) std::printf("              %sproblem: %s%s\n", st.red(), s.problem.c_str(), st.reset());
  }
  auto lag = [&t](std::uint64_t pos) { return t.end_seq() > pos ? t.end_seq() - pos : 0; };
  // A LogReader holds records only when it said so (LogReaderOptions::hold).
  auto holds = [](const conduit::inspect::NamedPosition& p) { return p.kind != "reader" || p.holds; };
  std::uint64_t most = 0;
  for (const auto& p : t.positions)
    if (holds(p)) most = std::max<std::uint64_t>(most, p.position ? lag(*p.position) : 0);
  for (const auto& p : t.positions) {
    std::printf("  %-11s %s  ", p.kind.c_str(), p.name.c_str());
    if (!p.position)
      std::printf("%sdamaged position file%s\n", st.red(), st.reset());
    else
      std::printf("position %llu  lag %llu%s%s\n", static_cast<unsigned long long>(*p.position),
                  static_cast<unsigned long long>(lag(*p.position)), p.kind == "reader" && p.holds ? "  holds" : "",
                  holds(p) && most != 0 && lag(*p.position) == most ? "  (furthest behind)" : "");
  }
}

void add_json(Json& j, const TopicSummary& t) {
  j.begin_object();
  j.key("name").str(t.name);
  j.key("records").num(t.records());
  j.key("first_seq").num(t.first_seq());
  j.key("end_seq").num(t.end_seq());
  j.key("used_bytes").num(used_bytes(t));
  j.key("capacity_bytes").num(capacity_bytes(t));
  std::int64_t lo = 0, hi = 0;
  if (time_range(t, &lo, &hi))
    j.key("first_timestamp_ns").inum(lo).key("last_timestamp_ns").inum(hi);
  else
    j.key("first_timestamp_ns").null().key("last_timestamp_ns").null();
  j.key("control");
  if (t.control)
    j.begin_object()
        .key("clean")
        .boolean(t.control->clean)
        .key("durable")
        .num(t.control->durable)
        .key("published")
        .num(t.control->published)
        .end_object();
  else
    j.null();
  j.key("segments").begin_array();
  for (const auto& s : t.segments) {
    j.begin_object()
        .key("file")
        .str(file_name(s.path))
        .key("first_seq")
        .num(s.first_seq)
        .key("records")
        .num(s.records)
        .key("used_bytes")
        .num(s.used_bytes)
        .key("capacity")
        .num(s.capacity)
        .key("sealed")
        .boolean(s.sealed);
    if (s.problem.empty())
      j.key("problem").null();
    else
      j.key("problem").str(s.problem);
    j.end_object();
  }
  j.end_array();
  j.key("positions").begin_array();
  for (const auto& p : t.positions) {
    j.begin_object().key("kind").str(p.kind).key("name").str(p.name).key("holds").boolean(p.kind != "reader" ||
                                                                                          p.holds);
    if (p.position)
      j.key("position").num(*p.position).key("lag").num(t.end_seq() > *p.position ? t.end_seq() - *p.position : 0);
    else
      j.key("position").null().key("lag").null();
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

}  // namespace

int run_ls(int argc, char** argv) {
  Args args;
  Style style;
  if (int rc = parse_command("ls", kHelp, argc, argv, kFlags, 1, 2, &args, &style); rc >= 0) return rc;
  const std::string& data_dir = args.positional[0];
  std::string error;
  const std::vector<std::string> names =
      topics_of(data_dir, args.positional.size() == 2 ? &args.positional[1] : nullptr, &error);
  if (!error.empty()) return fail("ls", error, kExitProblem);
  std::vector<TopicSummary> topics;
  for (const std::string& n : names) {
    auto t = conduit::inspect::summarize_topic(data_dir, n);
    if (!t.ok()) return fail("ls", t.status().to_string(), kExitProblem);
    topics.push_back(std::move(t).value());
  }
  if (args.has("--json")) {
    Json j;
    j.begin_object().key("data_dir").str(data_dir).key("topics").begin_array();
    for (const auto& t : topics) add_json(j, t);
    j.end_array().end_object();
    std::printf("%s\n", j.text().c_str());
    return kExitOk;
  }
  std::printf("%s: %zu topic%s\n", data_dir.c_str(), topics.size(), topics.size() == 1 ? "" : "s");
  for (const auto& t : topics) print_text(style, t);
  return kExitOk;
}

}  // namespace conduit_log
