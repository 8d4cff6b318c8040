// Validators for what conduit-log prints for other programs: JSON (RFC 8259,
// UTF-8) and the Prometheus text exposition format (0.0.4). Each returns an
// empty string when the text is valid, else what is wrong and where.
//
// Thread safety: pure functions.
#pragma once

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

namespace conduit::fuzz {

// Length of the well-formed UTF-8 sequence at s[i] (no overlongs, no
// surrogates, at most U+10FFFF); 0 when there is none.
inline std::size_t utf8_at(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  const unsigned c = b(0);
  const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xbf) { return b(k) >= lo && b(k) <= hi; };
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const bool ok = cont(1, c == 0xe0 ? 0xa0 : 0x80, c == 0xed ? 0x9f : 0xbf) && cont(2);
    return ok ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const bool ok = cont(1, c == 0xf0 ? 0x90 : 0x80, c == 0xf4 ? 0x8f : 0xbf) && cont(2) && cont(3);
    return ok ? 4 : 0;
  }
  return 0;
}

class JsonChecker {
 public:
  explicit JsonChecker(std::string_view s) : s_(s) {}
  std::string check() {
    space();
    value(0);
    space();
    if (why_.empty() && i_ != s_.size()) fail("text after the value");
    return why_;
  }

 private:
  void fail(const char* what) {
    if (why_.empty()) why_ = std::string(what) + " at byte " + std::to_string(i_);
  }
  bool more() const { return why_.empty() && i_ < s_.size(); }
  void space() {
    while (more() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    if (more() && s_[i_] == c) return ++i_, true;
    return false;
  }
  void literal(std::string_view w) {
    if (s_.substr(i_, w.size()) == w)
      i_ += w.size();
    else
      fail("bad literal");
  }
  void string() {
    if (!eat('"')) return fail("a string expected");
    while (more() && s_[i_] != '"') {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c < 0x20) return fail("a raw control character in a string");
      if (c == '\\') {
        ++i_;
        if (!more()) return fail("an escape cut short");
        const char e = s_[i_++];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k, ++i_)
            if (!more() || !std::isxdigit(static_cast<unsigned char>(s_[i_]))) return fail("a bad \\u escape");
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          --i_;
          return fail("an unknown escape");
        }
        continue;
      }
      const std::size_t n = utf8_at(s_, i_);
      if (n == 0) return fail("invalid UTF-8 in a string");
      i_ += n;
    }
    if (!eat('"')) fail("an unterminated string");
  }
  void number() {
    const std::size_t start = i_;
    eat('-');
    while (more() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' || s_[i_] == 'e' ||
                      s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-'))
      ++i_;
    if (i_ == start || !std::isdigit(static_cast<unsigned char>(s_[i_ - 1]))) fail("a bad number");
  }
  void value(int depth) {
    space();
    if (!more()) return fail("a value expected");
    if (depth > 64) return fail("nesting too deep");
    const char c = s_[i_];
    if (c == '{' || c == '[') {
      ++i_;
      const char close = c == '{' ? '}' : ']';
      space();
      if (eat(close)) return;
      do {
        space();
        if (c == '{') {
          string();
          space();
          if (!eat(':')) return fail("':' expected");
        }
        value(depth + 1);
        space();
      } while (eat(','));
      if (!eat(close)) fail("',' or a closing bracket expected");
    } else if (c == '"') {
      string();
    } else if (c == 't') {
      literal("true");
    } else if (c == 'f') {
      literal("false");
    } else if (c == 'n') {
      literal("null");
    } else {
      number();
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string why_;
};

inline std::string check_json(std::string_view s) { return JsonChecker(s).check(); }

// Each line a comment ("# HELP name text", "# TYPE name type") or a sample
// "name{label="value",...} value": names [a-zA-Z_:][a-zA-Z0-9_:]*, label
// values UTF-8 with only \\, \" and \n escaped, the value a float or +Inf.
inline std::string check_prometheus(std::string_view text) {
  std::size_t line_no = 0;
  auto name_end = [](std::string_view s, std::size_t i) {
    const std::size_t start = i;
    while (i < s.size() && (std::isalpha(static_cast<unsigned char>(s[i])) || s[i] == '_' || s[i] == ':' ||
                            (i > start && std::isdigit(static_cast<unsigned char>(s[i])))))
      ++i;
    return i;
  };
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return "line " + std::to_string(line_no) + " has no newline";
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    const std::string where = "line " + std::to_string(line_no) + ": ";
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const std::size_t e = name_end(line, 7);
      if (e == 7 || e >= line.size() || line[e] != ' ') return where + "a comment without a metric name";
      continue;
    }
    std::size_t i = name_end(line, 0);
    if (i == 0) return where + "no metric name";
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const std::size_t e = name_end(line, i);
        if (e == i || e + 1 >= line.size() || line[e] != '=' || line[e + 1] != '"') return where + "a bad label";
        i = e + 2;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size() || std::string_view("\\\"n").find(line[i + 1]) == std::string_view::npos)
              return where + "a bad escape in a label value";
            i += 2;
            continue;
          }
          const std::size_t n = utf8_at(line, i);
          if (n == 0) return where + "invalid UTF-8 in a label value at column " + std::to_string(i);
          i += n;
        }
        if (i >= line.size()) return where + "an unterminated label value";
        ++i;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return where + "unterminated labels";
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') return where + "no space before the value";
    const std::string_view value = line.substr(i + 1);
    if (value != "+Inf" && value != "-Inf" && value != "NaN") {
      if (value.empty() || value.find_first_not_of("0123456789.eE+-") != std::string_view::npos)
        return where + "a bad value";
    }
  }
  return {};
}

}  // namespace conduit::fuzz
