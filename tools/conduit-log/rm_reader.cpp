// rm-reader: forget a named reader gone for good, so it stops holding the log.
#include <cstdio>
#include <string>

#include <conduit/inspect.h>

#include "commands.h"

namespace conduit_log {
namespace {

constexpr const char* kHelp =
    "usage: conduit-log rm-reader DIR TOPIC KIND NAME\n"
    "\n"
    "Removes the committed position of a named reader of TOPIC, so that a\n"
    "reader gone for good no longer holds records under interest retention\n"
    "(retain_until_consumed). KIND is one of:\n"
    "  subscriber   a named subscriber's position\n"
    "  group        a work group's position, state and journals\n"
    "  reader       a named LogReader's position (DIR/readers/TOPIC/NAME)\n"
    "A subscriber or group is removed only while no engine has DIR open (the\n"
    "engine keeps their positions in memory and would write them again; use\n"
    "Topic::remove_reader in that process). A LogReader's position can go at\n"
    "any time: the engine reads it afresh at each look, and a reader still\n"
    "running holds again from its next commit. The only command that writes.\n"
    "Exit codes: 0 removed, 1 an engine has DIR open or an I/O error, 2 bad\n"
    "usage, a bad kind or name, or no such topic or reader.\n";

}  // namespace

int run_rm_reader(int argc, char** argv) {
  Args args;
  Style style;
  if (int rc = parse_command("rm-reader", kHelp, argc, argv, {}, 4, 4, &args, &style); rc >= 0) return rc;
  const std::string& dir = args.positional[0];
  const std::string& topic = args.positional[1];
  const std::string& kind = args.positional[2];
  const std::string& name = args.positional[3];
  const conduit::Status s = conduit::inspect::remove_named_position(dir, topic, kind, name);
  if (s.ok()) {
    std::printf("removed %s '%s' of topic '%s'\n", kind.c_str(), name.c_str(), topic.c_str());
    return kExitOk;
  }
  const bool usage = s.code() == conduit::Code::kInvalidArgument || s.code() == conduit::Code::kNotFound;
  return fail("rm-reader", s.to_string(), usage ? kExitUsage : kExitProblem);
}

}  // namespace conduit_log
