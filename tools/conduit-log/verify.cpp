// verify: every segment header, record CRC and sequence; exit 0 when clean.
#include <cstdio>
#include <string>

#include <conduit/inspect.h>

#include "commands.h"

namespace conduit_log {
namespace {

constexpr const char* kHelp =
    "usage: conduit-log verify DIR [TOPIC] [--json] [--color auto|always|never]\n"
    "\n"
    "Checks every topic of the data directory DIR (or one TOPIC): each segment\n"
    "header (magic, version, CRC32C, length, capacity against the file size,\n"
    "first sequence against the file name), each record (length, CRC32C,\n"
    "sequence, field lengths), sequence continuity across segments, that only\n"
    "zeros follow the end of the log, and the control and position files.\n"
    "Prints each problem as 'FILE offset N: what'. Exit 0 when everything is\n"
    "intact, 1 when anything is not, 2 for bad arguments. Notes are not\n"
    "problems and leave the exit code 0: what a running (or killed) engine\n"
    "leaves mid-write, such as a record being written after the last one, or\n"
    "a last segment whose header is still zeros (a roll in progress).\n"
    "Read-only; safe beside a running engine.\n"
    "\n"
    "  --json   one JSON object: topics [{name, segments, records, first_seq,\n"
    "           end_seq, problems [{file, offset, what}], notes}], ok\n";

const FlagSpec kFlags[] = {{"--json", false}};

}  // namespace

int run_verify(int argc, char** argv) {
  Args args;
  Style st;
  if (int rc = parse_command("verify", kHelp, argc, argv, kFlags, 1, 2, &args, &st); rc >= 0) return rc;
  const std::string& data_dir = args.positional[0];
  std::string error;
  const std::vector<std::string> names =
      topics_of(data_dir, args.positional.size() == 2 ? &args.positional[1] : nullptr, &error);
  if (!error.empty()) return fail("verify", error, kExitProblem);
  const bool json = args.has("--json");
  Json j;
  j.begin_object().key("topics").begin_array();
  std::size_t problems = 0;
  for (const std::string& n : names) {
    const auto v = conduit::inspect::verify_topic(data_dir, n);
    problems += v.problems.size();
    if (json) {
      j.begin_object()
          .key("name")
          .str(n)
          .key("segments")
          .num(v.segments)
          .key("records")
          .num(v.records)
          .key("skipped")
          .num(v.skipped)
          .key("first_seq")
          .num(v.first_seq)
          .key("end_seq")
          .num(v.end_seq)
          .key("problems")
          .begin_array();
      for (const auto& p : v.problems)
        j.begin_object().key("file").str(p.file).key("offset").num(p.offset).key("what").str(p.what).end_object();
      j.end_array().key("notes").begin_array();
      for (const auto& note : v.notes) j.str(note);
      j.end_array().end_object();
      continue;
    }
    std::printf("%stopic %s%s: %llu segment%s, %llu records", st.bold(), n.c_str(), st.reset(),
                static_cast<unsigned long long>(v.segments), v.segments == 1 ? "" : "s",
                static_cast<unsigned long long>(v.records));
    if (v.records != 0)
      std::printf(" (%llu..%llu)", static_cast<unsigned long long>(v.first_seq),
                  static_cast<unsigned long long>(v.end_seq - 1));
    if (v.skipped != 0) std::printf(", %llu skipped (abandoned claims)", static_cast<unsigned long long>(v.skipped));
    if (v.problems.empty())
      std::printf(": %sok%s\n", st.green(), st.reset());
    else
      std::printf(": %s%zu problem%s%s\n", st.red(), v.problems.size(), v.problems.size() == 1 ? "" : "s", st.reset());
    for (const auto& p : v.problems) std::printf("  %s%s%s\n", st.red(), p.to_string().c_str(), st.reset());
    for (const auto& note : v.notes) std::printf("  %snote: %s%s\n", st.dim(), note.c_str(), st.reset());
  }
  if (json) {
    j.end_array().key("ok").boolean(problems == 0).end_object();
    std::printf("%s\n", j.text().c_str());
  } else if (names.empty()) {
    std::printf("%s: no topics\n", data_dir.c_str());
  }
  return problems == 0 ? kExitOk : kExitProblem;
}

}  // namespace conduit_log
