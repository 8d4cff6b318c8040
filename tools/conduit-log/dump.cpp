// dump and tail: records with their envelope, as text or JSON lines.
#include <time.h>

#include <algorithm>
#include <memory>
#include <cstdio>
#include <string>
#include <vector>

#include <conduit/inspect.h>
#include <conduit/message.h>

#include "commands.h"
#include "topic_identity.h"

namespace conduit_log {
namespace {

using conduit::RecordView;
using conduit::inspect::TopicReader;

constexpr const char* kDumpHelp =
    "usage: conduit-log dump DIR TOPIC [--from SEQ | --since TIME] [--limit N] [filters]\n"
    "                        [--payload text|hex|base64|none] [--json] [--color auto|always|never]\n"
    "\n"
    "Prints the records of TOPIC in the data directory DIR, oldest first, with\n"
    "their envelope, and stops at the end of the log. Read-only.\n"
    "\n"
    "  --from SEQ           start at sequence SEQ (records before the oldest one\n"
    "                       retained are reported as a gap)\n"
    "  --since TIME         only records stamped at or after TIME: ns since the\n"
    "                       epoch, 2026-11-23T11:00:00Z (UTC), or -90s/-5m/-2h/-1d\n"
    "  --limit N            at most N records\n"
    "  --key K, --id I, --correlation-id C, --trace-id T\n"
    "                       only records whose field equals the value\n"
    "  --header NAME[=VAL]  only records with that header (and value); repeatable\n"
    "  --payload MODE       text (default: printable, \\xNN escapes), hex, base64, none\n"
    "  --json               one JSON object per line: seq, timestamp_ns,\n"
    "                       timestamp_ns_str, time, size, id, key,\n"
    "                       correlation_id, reply_to, trace_id,\n"
    "                       content_type, schema_version, headers [{name,value}],\n"
    "                       and payload (valid UTF-8 text; else payload_base64),\n"
    "                       payload_hex or payload_base64 by --payload. A gap is a\n"
    "                       line {\"gap_from\":A,\"gap_to\":B}. jq (1.6) and JavaScript\n"
    "                       read numbers as doubles, which round timestamp_ns\n"
    "                       (ns since the epoch, above 2^53) to about 256 ns:\n"
    "                       timestamp_ns_str (the same integer as a string) and\n"
    "                       time (RFC 3339 UTC, 9 fraction digits) are exact.\n"
    "\n"
    "A --from past the end of the log prints nothing and says on stderr where\n"
    "the log ends.\n";

constexpr const char* kTailHelp =
    "usage: conduit-log tail [-f] [-n N] DIR TOPIC [--from SEQ] [--limit N] [filters]\n"
    "                        [--payload MODE] [--json] [--color auto|always|never]\n"
    "\n"
    "Prints the last N records of TOPIC (default 10); with -f keeps following\n"
    "the log as an engine in another process appends to it, until interrupted\n"
    "(or --limit records were printed). It polls the commit word of the next\n"
    "record every millisecond, so a record appears within a few ms of its\n"
    "publish; it follows segment rolls and reports records that retention\n"
    "deleted before they were read as a gap. Read-only: it never takes the\n"
    "engine's lock and never writes.\n"
    "\n"
    "A topic deleted while -f follows it: tail says so on stderr and waits for\n"
    "a topic of that name; once there is one (at once when it was created\n"
    "again) it says so on stderr and follows the new topic from its first\n"
    "record, whose sequences start again at 0. Records of the old topic still\n"
    "mapped are printed first; nothing of the new one passes for the old one's.\n"
    "Without -f, as for dump, a topic deleted while it is read ends the command\n"
    "with exit 1 and a message.\n"
    "\n"
    "  -f, --follow   keep following the log\n"
    "  -n, --lines N  start N records before the end (default 10)\n"
    "  --from SEQ     start at sequence SEQ instead; past the end of the log it\n"
    "                 says on stderr where the log ends (and with -f waits)\n"
    "Filters, --payload and --json are as for 'conduit-log dump'.\n";

const FlagSpec kRecordFlags[] = {
    {"--from", true},    {"--since", true},          {"--limit", true},         {"--key", true},
    {"--id", true},      {"--correlation-id", true}, {"--trace-id", true},      {"--header", true},
    {"--payload", true}, {"--json", false},          {"--follow", false, "-f"}, {"--lines", true, "-n"}};

enum class PayloadMode { kText, kHex, kBase64, kNone };

struct Options {
  std::optional<std::uint64_t> from;
  std::optional<std::int64_t> since;
  std::optional<std::uint64_t> limit;
  std::uint64_t lines = 10;
  bool follow = false;
  bool json = false;
  PayloadMode payload = PayloadMode::kText;
  const std::string *key = nullptr, *id = nullptr, *correlation = nullptr, *trace = nullptr;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
};

// Reads the record flags; "" when they are valid, else what is wrong.
std::string read_options(const Args& a, Options* o) {
  auto number = [&](const char* flag, std::optional<std::uint64_t>* out) -> std::string {
    if (const std::string* v = a.value(flag)) {
      *out = parse_u64(*v);
      if (!*out) return std::string(flag) + " needs a non-negative integer, not '" + *v + "'";
    }
    return "";
  };
  if (std::string e = number("--from", &o->from); !e.empty()) return e;
  if (std::string e = number("--limit", &o->limit); !e.empty()) return e;
  std::optional<std::uint64_t> lines;
  if (std::string e = number("--lines", &lines); !e.empty()) return e;
  if (lines) o->lines = *lines;
  if (const std::string* v = a.value("--since")) {
    o->since = parse_time(*v);
    if (!o->since) return "--since needs ns since the epoch, 2026-11-23T11:00:00Z or -5m, not '" + *v + "'";
  }
  if (o->from && o->since) return "--from and --since do not go together";
  if (const std::string* v = a.value("--payload")) {
    if (*v == "text")
      o->payload = PayloadMode::kText;
    else if (*v == "hex")
      o->payload = PayloadMode::kHex;
    else if (*v == "base64")
      o->payload = PayloadMode::kBase64;
    else if (*v == "none")
      o->payload = PayloadMode::kNone;
    else
      return "--payload takes text, hex, base64 or none, not '" + *v + "'";
  }
  o->json = a.has("--json");
  o->follow = a.has("--follow");
  o->key = a.value("--key");
  o->id = a.value("--id");
  o->correlation = a.value("--correlation-id");
  o->trace = a.value("--trace-id");
  if (auto it = a.flags.find("--header"); it != a.flags.end())
    for (const std::string& h : it->second) {
      const auto eq = h.find('=');
      if (eq == 0 || h.empty()) return "--header needs a name (NAME or NAME=VALUE), not '" + h + "'";
      if (eq == std::string::npos)
        o->headers.emplace_back(h, std::nullopt);
      else
        o->headers.emplace_back(h.substr(0, eq), h.substr(eq + 1));
    }
  return "";
}

bool matches(const Options& o, const RecordView& r) {
  if (o.since && r.timestamp_ns() < *o.since) return false;
  if (o.key && r.key() != *o.key) return false;
  if (o.id && r.id() != *o.id) return false;
  if (o.correlation && r.correlation_id() != *o.correlation) return false;
  if (o.trace && r.trace_id() != *o.trace) return false;
  for (const auto& [name, value] : o.headers) {
    const auto found = r.find_header(name);
    if (!found || (value && *found != *value)) return false;
  }
  return true;
}

void print_json(const Options& o, const RecordView& r) {
  Json j;
  j.begin_object();
  j.key("seq").num(r.sequence());
  j.key("timestamp_ns").inum(r.timestamp_ns());
  j.key("timestamp_ns_str").str(std::to_string(r.timestamp_ns()));  // exact where a reader's numbers are doubles
  j.key("time").str(format_time(r.timestamp_ns()));
  j.key("size").num(r.size_bytes());
  j.key("id").str(r.id());
  j.key("key").str(r.key());
  j.key("correlation_id").str(r.correlation_id());
  j.key("reply_to").str(r.reply_to());
  j.key("trace_id").str(r.trace_id());
  j.key("content_type").str(r.content_type());
  j.key("schema_version").num(r.schema_version());
  j.key("headers").begin_array();
  for (std::size_t i = 0; i < r.header_count(); ++i) {
    const conduit::Header h = r.header(i);
    j.begin_object().key("name").str(h.name).key("value").str(h.value).end_object();
  }
  j.end_array();
  j.key("payload_size").num(r.payload().size());
  const std::string_view p = r.payload();
  switch (o.payload) {
    case PayloadMode::kText:
      if (valid_utf8(p))
        j.key("payload").str(p);
      else
        j.key("payload_base64").str(to_base64(p));
      break;
    case PayloadMode::kHex: j.key("payload_hex").str(to_hex(p)); break;
    case PayloadMode::kBase64: j.key("payload_base64").str(to_base64(p)); break;
    case PayloadMode::kNone: break;
  }
  j.end_object();
  std::printf("%s\n", j.text().c_str());
}

void print_text(const Options& o, const Style& st, const RecordView& r) {
  std::printf("%s#%llu%s  %s%s%s  %u bytes", st.bold(), static_cast<unsigned long long>(r.sequence()), st.reset(),
              st.cyan(), format_time(r.timestamp_ns()).c_str(), st.reset(), r.size_bytes());
  const std::pair<const char*, std::string_view> fields[] = {
      {"key", r.key()},           {"id", r.id()},          {"correlation", r.correlation_id()},
      {"reply-to", r.reply_to()}, {"trace", r.trace_id()}, {"content-type", r.content_type()}};
  for (const auto& [name, value] : fields)
    if (!value.empty()) std::printf("  %s%s=%s%s", st.green(), name, escape_text(value).c_str(), st.reset());
  if (r.schema_version() != 0) std::printf("  schema=%u", r.schema_version());
  std::printf("\n");
  for (std::size_t i = 0; i < r.header_count(); ++i) {
    const conduit::Header h = r.header(i);
    std::printf("    %s%s%s: %s\n", st.yellow(), escape_text(h.name).c_str(), st.reset(), escape_text(h.value).c_str());
  }
  const std::string_view p = r.payload();
  switch (o.payload) {
    case PayloadMode::kText: std::printf("    %s\n", escape_text(p).c_str()); break;
    case PayloadMode::kHex:
      for (std::size_t off = 0; off < p.size(); off += 32)
        std::printf("    %s%06zx%s  %s\n", st.dim(), off, st.reset(), to_hex(p.substr(off, 32)).c_str());
      break;
    case PayloadMode::kBase64: std::printf("    %s\n", to_base64(p).c_str()); break;
    case PayloadMode::kNone: break;
  }
}

void print_gap(const Options& o, const Style& st, std::uint64_t from, std::uint64_t to) {
  if (o.json) {
    std::printf("{\"gap_from\":%llu,\"gap_to\":%llu}\n", static_cast<unsigned long long>(from),
                static_cast<unsigned long long>(to));
  } else {
    std::printf("%s-- records %llu to %llu (%llu) are not in the log any more (deleted by retention) --%s\n", st.red(),
                static_cast<unsigned long long>(from), static_cast<unsigned long long>(to - 1),
                static_cast<unsigned long long>(to - from), st.reset());
  }
}

// A skip record (an abandoned claim, or a dead publisher's): its sequence holds no message.
void print_skip(const Options& o, const Style& st, const TopicReader::Step& step) {
  if (o.json)
    std::printf("{\"skipped\":%llu}\n", static_cast<unsigned long long>(step.sequence));
  else
    std::printf("%s-- record %llu skipped (an abandoned claim or a dead publisher's, %s offset %zu) --%s\n", st.red(),
                static_cast<unsigned long long>(step.sequence), step.file.c_str(), step.offset, st.reset());
}

// Where the log ends now: one past its last intact record.
conduit::Result<std::uint64_t> end_of_log(const std::string& data_dir, const std::string& topic) {
  auto t = conduit::inspect::summarize_topic(data_dir, topic);
  if (!t.ok()) return t.status();
  return t->end_seq();
}

// With --from at or past the end of the log, says so on stderr (nothing on
// stdout would otherwise look like an empty filter); "" when not past it.
conduit::Result<std::string> past_the_end(const char* cmd, const Options& o, const std::string& data_dir,
                                          const std::string& topic) {
  if (!o.from) return std::string();
  auto t = conduit::inspect::summarize_topic(data_dir, topic);
  if (!t.ok()) return t.status();
  if (*o.from < t->end_seq()) return std::string();
  const std::string held = t->records() == 0
                               ? "holds no records"
                               : "ends at " + std::to_string(t->end_seq()) + " (records " +
                                     std::to_string(t->first_seq()) + ".." + std::to_string(t->end_seq() - 1) + ")";
  return std::string("conduit-log ") + cmd + ": --from " + std::to_string(*o.from) + " is past the end: the log of '" +
         topic + "' " + held + (o.follow ? "; waiting for it" : "");
}

// The topic being read, and which incarnation of it (topic_identity.h).
struct Source {
  std::string data_dir, topic, topic_dir;
  TopicIdentity identity;
  std::unique_ptr<TopicReader> reader;
  std::string checked_file;  // the segment file last seen to belong to the pinned topic
};

// The topic was deleted (and perhaps created again) under the reader.
// Without -f that ends the command with an error; with -f, a notice on
// stderr, a wait until the topic exists again, and a new reader from its
// first record. -1 to go on, else the exit code.
int follow_new_topic(const char* cmd, const Options& o, Source& src, TopicIdentity::Now now) {
  const std::string what =
      "topic '" + src.topic + "' was deleted" + (now == TopicIdentity::Now::kReplaced ? " and created again" : "");
  std::fflush(stdout);
  if (!o.follow) return fail(cmd, what + " while it was being read", kExitProblem);
  if (now == TopicIdentity::Now::kGone)
    std::fprintf(stderr, "conduit-log %s: %s; waiting for it to be created again\n", cmd, what.c_str());
  for (std::string error;; error.clear()) {
    if (src.identity.pin(src.topic_dir, &error)) {
      auto reader = TopicReader::open(src.data_dir, src.topic);
      if (reader.ok()) {
        src.reader = std::move(reader).value();
        break;
      }
    }
    const timespec pause{0, 10'000'000};
    ::nanosleep(&pause, nullptr);
  }
  src.checked_file.clear();
  std::fprintf(
      stderr, "conduit-log %s: %s: following the new topic from its first record\n", cmd,
      now == TopicIdentity::Now::kGone ? ("topic '" + src.topic + "' was created again").c_str() : what.c_str());
  return -1;
}

// Prints records from the reader's position until the end of the log (or
// --limit); with `follow`, waits for more. `report_first_gap`: a gap before
// the first record is news only when the caller asked for those records.
//
// The topic's identity is looked at before anything from a segment file
// not yet checked is printed (after the reader opened it: a file opened
// while the pinned directory was still at the path is the pinned topic's),
// before a gap, at the end of the log and on an error, so a deleted topic is
// noticed every time, whichever of those the reader was at.
int print_records(const char* cmd, const Options& o, const Style& st, Source& src, bool report_first_gap) {
  std::uint64_t printed = 0;
  bool first = true;
  int rc = -1;
  // True when the topic is not the pinned one any more; rc then says how to go on.
  auto moved = [&] {
    const TopicIdentity::Now now = src.identity.check();
    if (now == TopicIdentity::Now::kSame) return false;
    rc = follow_new_topic(cmd, o, src, now);
    first = true;
    report_first_gap = true;  // the new topic's records are all asked for
    return true;
  };
  for (;;) {
    if (o.limit && printed >= *o.limit) break;
    auto step = src.reader->next();
    if (!step.ok() || step->kind != TopicReader::Step::kRecord || step->file != src.checked_file) {
      if (step.ok() && step->kind == TopicReader::Step::kEnd && !o.follow) break;
      if (moved()) {
        if (rc >= 0) return rc;
        continue;
      }
    }
    if (!step.ok()) {
      std::fflush(stdout);
      return fail(cmd, step.status().to_string(), kExitProblem);
    }
    if (step->kind == TopicReader::Step::kEnd) {
      std::fflush(stdout);
      const timespec pause{0, 1'000'000};  // 1 ms: see kTailHelp
      ::nanosleep(&pause, nullptr);
      continue;
    }
    if (step->kind == TopicReader::Step::kGap) {
      if (!first || report_first_gap) print_gap(o, st, step->gap_from, step->gap_to);
      first = false;
      continue;
    }
    src.checked_file = step->file;
    first = false;
    if (step->kind == TopicReader::Step::kSkip) {
      print_skip(o, st, *step);
      continue;
    }
    if (!matches(o, step->record)) continue;
    if (o.json)
      print_json(o, step->record);
    else
      print_text(o, st, step->record);
    ++printed;
  }
  std::fflush(stdout);
  return kExitOk;
}

int run_records(const char* cmd, const char* help, bool tail, int argc, char** argv) {
  Args args;
  Style style;
  // dump takes neither -f nor -n.
  const std::span<const FlagSpec> spec(kRecordFlags, tail ? std::size(kRecordFlags) : std::size(kRecordFlags) - 2);
  if (int rc = parse_command(cmd, help, argc, argv, spec, 2, 2, &args, &style); rc >= 0) return rc;
  Options o;
  if (std::string e = read_options(args, &o); !e.empty()) return fail(cmd, e, kExitUsage);
  std::string error;
  const std::string &data_dir = args.positional[0], &topic = args.positional[1];
  Source src;
  src.data_dir = data_dir;
  src.topic = topic;
  src.topic_dir = topic_dir_of(data_dir, topic, &error);
  if (src.topic_dir.empty()) return fail(cmd, error, kExitProblem);
  if (!src.identity.pin(src.topic_dir, &error)) return fail(cmd, error, kExitProblem);
  auto reader = TopicReader::open(data_dir, topic);
  if (!reader.ok()) return fail(cmd, reader.status().to_string(), kExitProblem);
  src.reader = std::move(reader).value();
  auto past = past_the_end(cmd, o, data_dir, topic);
  if (!past.ok()) return fail(cmd, past.status().to_string(), kExitProblem);
  if (!past->empty()) {
    std::fprintf(stderr, "%s\n", past->c_str());
    if (!o.follow) return kExitOk;
  }
  bool asked = o.from.has_value();
  if (o.from) {
    src.reader->seek(*o.from);
  } else if (tail && !o.since) {
    auto end = end_of_log(data_dir, topic);
    if (!end.ok()) return fail(cmd, end.status().to_string(), kExitProblem);
    src.reader->seek(*end > o.lines ? *end - o.lines : 0);
    asked = false;
  }
  return print_records(cmd, o, style, src, asked);
}

}  // namespace

int run_dump(int argc, char** argv) { return run_records("dump", kDumpHelp, false, argc, argv); }
int run_tail(int argc, char** argv) { return run_records("tail", kTailHelp, true, argc, argv); }

}  // namespace conduit_log
