// conduit-log's commands. Each takes the argv after its name, prints to
// stdout (errors to stderr) and returns the exit code (cli.h).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "cli.h"

namespace conduit_log {

// The whole tool: argv as main gets it; prints to stdout and stderr and
// returns the exit code (cli.h), never exits.
int run(int argc, char** argv);

int run_ls(int argc, char** argv);
int run_dump(int argc, char** argv);
int run_tail(int argc, char** argv);
int run_verify(int argc, char** argv);
int run_stats(int argc, char** argv);
int run_rm_reader(int argc, char** argv);
int run_stat(int argc, char** argv);  // stat.cpp

// Shared by the commands: "conduit-log CMD: what" on stderr; returns `code`.
int fail(const char* cmd, const std::string& what, int code);
// DIR/topics/TOPIC after checking that DIR and the topic exist; "" and an
// error message otherwise.
std::string topic_dir_of(const std::string& data_dir, const std::string& topic, std::string* error);
// The topics a command looks at: TOPIC when given (checked), else every
// topic of DIR. Empty with *error set on failure.
std::vector<std::string> topics_of(const std::string& data_dir, const std::string* topic, std::string* error);
// Parses the common start of every command: flags, --help, the number of
// positional arguments. Returns -1 to go on, else the exit code.
int parse_command(const char* cmd, const char* help, int argc, char** argv, std::span<const FlagSpec> spec,
                  std::size_t min_pos, std::size_t max_pos, Args* args, Style* style);

}  // namespace conduit_log
