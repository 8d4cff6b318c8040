// conduit-log's command-line plumbing: flags, output (colour only on a
// terminal), JSON, time and payload formatting. No knowledge of the log.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace conduit_log {

// Exit codes: 0 done (verify: clean), 1 a problem found or an error, 2 bad usage.
inline constexpr int kExitOk = 0, kExitProblem = 1, kExitUsage = 2;

struct FlagSpec {
  const char* name;  // "--limit"
  bool takes_value;
  const char* alias = nullptr;  // "-n"
};

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> flags;  // each value given, in order ("" for a switch)
  bool has(const std::string& f) const { return flags.count(f) != 0; }
  const std::string* value(const std::string& f) const {
    auto it = flags.find(f);
    return it == flags.end() ? nullptr : &it->second.back();
  }
};

// Parses argv[first..] against `spec` (plus --help and --color). A short
// option's value may follow it directly ("-n1" is "-n 1"). On error
// returns nullopt and sets *error.
std::optional<Args> parse_args(int argc, char** argv, int first, std::span<const FlagSpec> spec, std::string* error);

std::optional<std::uint64_t> parse_u64(std::string_view s);
// ns since the epoch: an integer (ns), RFC 3339 UTC ("2026-11-23T11:00:00Z",
// fraction optional), or relative to now ("-90s", "-5m", "-2h", "-1d").
std::optional<std::int64_t> parse_time(std::string_view s);
// "2026-11-23T11:00:00.000000000Z"
std::string format_time(std::int64_t ns);

std::string escape_text(std::string_view s);  // printable, \xNN for the rest
std::string to_hex(std::string_view s);
std::string to_base64(std::string_view s);
bool valid_utf8(std::string_view s);
// Length of the valid UTF-8 sequence at s[i] (i < s.size()), or 0.
std::size_t utf8_len(std::string_view s, std::size_t i);
std::string json_string(std::string_view s);  // quoted; invalid UTF-8 bytes as \u00XX

// Colour, when stdout is a terminal (or --color=always), never otherwise.
struct Style {
  bool on = false;
  const char* bold() const { return on ? "\033[1m" : ""; }
  const char* dim() const { return on ? "\033[2m" : ""; }
  const char* red() const { return on ? "\033[31m" : ""; }
  const char* green() const { return on ? "\033[32m" : ""; }
  const char* yellow() const { return on ? "\033[33m" : ""; }
  const char* cyan() const { return on ? "\033[36m" : ""; }
  const char* reset() const { return on ? "\033[0m" : ""; }
};
// --color=auto (default: a terminal and no NO_COLOR), always, never.
std::optional<Style> style_for(const Args& args, std::string* error);

// A minimal JSON writer: values are appended with commas where they belong.
class Json {
 public:
  Json& begin_object();
  Json& end_object();
  Json& begin_array();
  Json& end_array();
  Json& key(std::string_view k);
  Json& str(std::string_view v);
  Json& num(std::uint64_t v);
  Json& inum(std::int64_t v);
  Json& dbl(double v);
  Json& boolean(bool v);
  Json& null();
  const std::string& text() const { return out_; }

 private:
  void comma();
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing in it yet
  bool after_key_ = false;
};

}  // namespace conduit_log
