#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <conduit/engine.h>
#include <conduit/inspect.h>

#include "commands.h"

namespace conduit_log {
namespace {

// DATA_DIR's topics, after saying plainly what DATA_DIR is when it is not a
// directory (inspect::list_topics calls every such path missing).
conduit::Result<std::vector<std::string>> list_topics(const std::string& data_dir) {
  struct stat st {};
  if (::stat(data_dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return conduit::Status::NotFound(data_dir + ": no such data directory");
    return conduit::Status::IOError(data_dir + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode))
    return conduit::Status::InvalidArgument(data_dir +
                                            ": not a directory (conduit-log takes an engine's data directory)");
  return conduit::inspect::list_topics(data_dir);
}

}  // namespace

int fail(const char* cmd, const std::string& what, int code) {
  std::fprintf(stderr, "conduit-log %s: %s\n", cmd, what.c_str());
  return code;
}

std::string topic_dir_of(const std::string& data_dir, const std::string& topic, std::string* error) {
  if (conduit::Status s = conduit::validate_topic_name(topic); !s.ok()) {
    *error = s.message();
    return "";
  }
  auto names = list_topics(data_dir);
  if (!names.ok()) {
    *error = names.status().message();
    return "";
  }
  for (const std::string& n : *names)
    if (n == topic) return data_dir + "/topics/" + topic;
  std::string known;
  for (const std::string& n : *names) known += (known.empty() ? "" : ", ") + n;
  *error =
      "no topic '" + topic + "' in " + data_dir + (known.empty() ? " (it has no topics)" : " (topics: " + known + ")");
  return "";
}

std::vector<std::string> topics_of(const std::string& data_dir, const std::string* topic, std::string* error) {
  if (topic != nullptr) {
    if (topic_dir_of(data_dir, *topic, error).empty()) return {};
    return {*topic};
  }
  auto listed = list_topics(data_dir);
  if (!listed.ok()) {
    *error = listed.status().message();
    return {};
  }
  return std::move(listed).value();
}

int parse_command(const char* cmd, const char* help, int argc, char** argv, std::span<const FlagSpec> spec,
                  std::size_t min_pos, std::size_t max_pos, Args* args, Style* style) {
  std::string error;
  auto parsed = parse_args(argc, argv, 2, spec, &error);
  if (!parsed) return fail(cmd, error + " (see 'conduit-log " + cmd + " --help')", kExitUsage);
  if (parsed->has("--help")) {
    std::fputs(help, stdout);
    return kExitOk;
  }
  auto s = style_for(*parsed, &error);
  if (!s) return fail(cmd, error, kExitUsage);
  if (parsed->positional.size() < min_pos || parsed->positional.size() > max_pos)
    return fail(cmd,
                std::string(parsed->positional.size() < min_pos ? "missing arguments" : "too many arguments") +
                    " (see 'conduit-log " + cmd + " --help')",
                kExitUsage);
  *args = std::move(*parsed);
  *style = *s;
  return -1;
}

}  // namespace conduit_log
