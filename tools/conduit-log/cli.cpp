#include "cli.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <ctime>

namespace conduit_log {

std::optional<Args> parse_args(int argc, char** argv, int first, std::span<const FlagSpec> spec, std::string* error) {
  static const FlagSpec kCommon[] = {{"--help", false, "-h"}, {"--color", true}};
  auto find = [&](std::string_view name) -> const FlagSpec* {
    for (const FlagSpec& f : kCommon)
      if (name == f.name || (f.alias && name == f.alias)) return &f;
    for (const FlagSpec& f : spec)
      if (name == f.name || (f.alias && name == f.alias)) return &f;
    return nullptr;
  };
  Args a;
  bool only_positional = false;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (only_positional || arg.size() < 2 || arg[0] != '-') {
      a.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    std::string name = arg, value;
    bool inline_value = false;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    } else if (!arg.starts_with("--") && arg.size() > 2) {
      // "-n1" is "-n 1", for a short option that takes a value.
      if (const FlagSpec* f = find(arg.substr(0, 2)); f != nullptr && f->takes_value) {
        name = arg.substr(0, 2);
        value = arg.substr(2);
        inline_value = true;
      }
    }
    const FlagSpec* f = find(name);
    if (f == nullptr) {
      *error = "unknown option '" + name + "'";
      return std::nullopt;
    }
    if (f->takes_value && !inline_value) {
      if (i + 1 >= argc) {
        *error = std::string("option '") + f->name + "' needs a value";
        return std::nullopt;
      }
      value = argv[++i];
    } else if (!f->takes_value && inline_value) {
      *error = std::string("option '") + f->name + "' takes no value";
      return std::nullopt;
    }
    a.flags[f->name].push_back(value);
  }
  return a;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

namespace {

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Reads exactly `n` digits at s[*pos].
bool digits(std::string_view s, std::size_t* pos, int n, int* out) {
  if (*pos + static_cast<std::size_t>(n) > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    const char c = s[*pos + static_cast<std::size_t>(i)];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += static_cast<std::size_t>(n);
  *out = v;
  return true;
}

bool expect(std::string_view s, std::size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

}  // namespace

std::optional<std::int64_t> parse_time(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s[0] == '-') {  // relative
    const char unit = s.back();
    const std::int64_t mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
    const auto n = parse_u64(s.substr(1, s.size() - 2));
    if (mult == 0 || !n || *n > 100ull * 365 * 86400) return std::nullopt;
    return now_ns() - static_cast<std::int64_t>(*n) * mult * 1'000'000'000;
  }
  if (s.find('-') == std::string_view::npos) {
    const auto n = parse_u64(s);
    if (!n || *n > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(*n);
  }
  std::size_t p = 0;
  int y, mo, d, h, mi, sec;
  if (!digits(s, &p, 4, &y) || !expect(s, &p, '-') || !digits(s, &p, 2, &mo) || !expect(s, &p, '-') ||
      !digits(s, &p, 2, &d) || !(expect(s, &p, 'T') || expect(s, &p, ' ')) || !digits(s, &p, 2, &h) ||
      !expect(s, &p, ':') || !digits(s, &p, 2, &mi) || !expect(s, &p, ':') || !digits(s, &p, 2, &sec))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::int64_t frac = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    int n = 0;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      if (n < 9) frac = frac * 10 + (s[p] - '0'), ++n;
      ++p;
    }
    if (n == 0) return std::nullopt;
    for (; n < 9; ++n) frac *= 10;
  }
  if (p < s.size() && s[p] == 'Z') ++p;
  if (p != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  const time_t t = timegm(&tm);
  return static_cast<std::int64_t>(t) * 1'000'000'000 + frac;
}

std::string format_time(std::int64_t ns) {
  std::int64_t secs = ns / 1'000'000'000, frac = ns % 1'000'000'000;
  if (frac < 0) frac += 1'000'000'000, --secs;
  const time_t t = static_cast<time_t>(secs);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(ns) + "ns";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
  return buf;
}

std::size_t utf8_len(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  // 0xf5..0xff lead nothing (the counters fuzzer's regression-json-f8-lead-byte).
  std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  const auto c1 = static_cast<unsigned char>(s[i + 1]);
  if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 > 0x8f))
    return 0;  // overlong, surrogate, or past U+10FFFF
  return n;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

namespace {

// Copies valid UTF-8 sequences of two or more bytes as they are and hands
// every other byte to `one`, which appends its rendering.
template <class One>
std::string escape_each(std::string_view s, One one) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_len(s, i);
    if (n > 1) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      one(static_cast<unsigned char>(s[i++]), out);
    }
  }
  return out;
}

void append_code(std::string& out, const char* fmt, unsigned c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, fmt, c);
  out += buf;
}

}  // namespace

std::string escape_text(std::string_view s) {
  return escape_each(s, [](unsigned char c, std::string& out) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c >= 0x20 && c < 0x7f)
      out += static_cast<char>(c);
    else
      append_code(out, "\\x%02x", c);
  });
}

std::string to_hex(std::string_view s) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string to_base64(std::string_view s) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((s.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= s.size(); i += 3) {
    const std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(s[i])) << 16 |
                            static_cast<std::uint32_t>(static_cast<unsigned char>(s[i + 1])) << 8 |
                            static_cast<unsigned char>(s[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (const std::size_t rest = s.size() - i; rest > 0) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(s[i])) << 16;
    if (rest == 2) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(s[i + 1])) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string quoted = "\"";
  quoted += escape_each(s, [](unsigned char c, std::string& out) {
    if (c == '"')
      out += "\\\"";
    else if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\r')
      out += "\\r";
    else if (c >= 0x20 && c < 0x7f)
      out += static_cast<char>(c);
    else
      append_code(out, "\\u%04x", c);
  });
  quoted += '"';
  return quoted;
}

std::optional<Style> style_for(const Args& args, std::string* error) {
  const std::string* mode = args.value("--color");
  Style s;
  if (mode == nullptr || *mode == "auto") {
    const char* no_color = std::getenv("NO_COLOR");
    s.on = ::isatty(STDOUT_FILENO) == 1 && (no_color == nullptr || *no_color == '\0');
  } else if (*mode == "always") {
    s.on = true;
  } else if (*mode != "never") {
    *error = "--color takes auto, always or never, not '" + *mode + "'";
    return std::nullopt;
  }
  return s;
}

void Json::comma() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}
Json& Json::begin_object() {
  comma();
  out_ += '{';
  first_.push_back(true);
  return *this;
}
Json& Json::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}
Json& Json::begin_array() {
  comma();
  out_ += '[';
  first_.push_back(true);
  return *this;
}
Json& Json::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}
Json& Json::key(std::string_view k) {
  comma();
  out_ += json_string(k);
  out_ += ':';
  after_key_ = true;
  return *this;
}
Json& Json::str(std::string_view v) {
  comma();
  out_ += json_string(v);
  return *this;
}
Json& Json::num(std::uint64_t v) {
  comma();
  out_ += std::to_string(v);
  return *this;
}
Json& Json::inum(std::int64_t v) {
  comma();
  out_ += std::to_string(v);
  return *this;
}
Json& Json::dbl(double v) {
  comma();
  if (!std::isfinite(v)) {
    out_ += "null";
    return *this;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  out_ += buf;
  return *this;
}
Json& Json::boolean(bool v) {
  comma();
  out_ += v ? "true" : "false";
  return *this;
}
Json& Json::null() {
  comma();
  out_ += "null";
  return *this;
}

}  // namespace conduit_log
