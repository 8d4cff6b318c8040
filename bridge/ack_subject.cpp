#include "bridge/ack_subject.h"

#include <array>
#include <charconv>
#include <iterator>

namespace conduit::bridge::detail {

namespace {

template <class T>
bool number(std::string_view s, T* out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

Result<AckSubject> parse_ack_subject(std::string_view reply) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("not a JetStream ack subject: " + why + ": '" + std::string(reply) + "'");
  };
  // The first 12 tokens are all either form needs; a 12th and later ones
  // (the newer form's random suffix) are counted, not read.
  std::array<std::string_view, 12> t;
  std::size_t n = 0;
  for (std::size_t start = 0;;) {
    const std::size_t dot = reply.find('.', start);
    const std::string_view token = reply.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (token.empty()) return bad("token " + std::to_string(n + 1) + " is empty");
    if (n < t.size()) t[n] = token;
    ++n;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (n < 2 || t[0] != "$JS" || t[1] != "ACK") return bad("it does not start with $JS.ACK");
  AckSubject a;
  std::size_t i = 2;  // the stream's token
  if (n >= 11) {
    a.domain = t[2] == "_" ? std::string_view() : t[2];
    a.account = t[3];
    i = 4;  // after domain and account hash
  } else if (n != 9) {
    return bad(std::to_string(n) + " tokens (9, or 11 and more)");
  }
  a.stream = t[i];
  a.consumer = t[i + 1];
  static constexpr const char* kNumbers[] = {"delivery count", "stream sequence", "consumer sequence", "timestamp",
                                             "pending count"};
  const bool ok[] = {number(t[i + 2], &a.delivered), number(t[i + 3], &a.stream_seq), number(t[i + 4], &a.consumer_seq),
                     number(t[i + 5], &a.timestamp_ns), number(t[i + 6], &a.pending)};
  for (std::size_t k = 0; k < std::size(ok); ++k)
    if (!ok[k]) return bad(std::string(kNumbers[k]) + " '" + std::string(t[i + 2 + k]) + "' is not a number");
  return a;
}

std::string format_ack_subject(const AckSubject& a) {
  std::string s = "$JS.ACK.";
  if (!a.domain.empty() || !a.account.empty()) {
    s += a.domain.empty() ? std::string_view("_") : a.domain;
    s += '.';
    s += a.account;
    s += '.';
  }
  for (std::string_view part : {a.stream, a.consumer}) {
    s += part;
    s += '.';
  }
  s += std::to_string(a.delivered) + '.' + std::to_string(a.stream_seq) + '.' + std::to_string(a.consumer_seq) + '.' +
       std::to_string(a.timestamp_ns) + '.' + std::to_string(a.pending);
  return s;
}

}  // namespace conduit::bridge::detail
