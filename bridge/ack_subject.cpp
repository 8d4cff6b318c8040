#include "bridge/ack_subject.h"

#include <array>
#include <charconv>

namespace conduit::bridge::detail {

namespace {

template <class T>
bool number(std::string_view s, T* out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::optional<AckSubject> parse_ack_subject(std::string_view reply) {
  // The first 12 tokens are all either form needs; a 12th and later ones
  // (the newer form's random suffix) are counted, not read.
  std::array<std::string_view, 12> t;
  std::size_t n = 0;
  for (std::size_t start = 0;;) {
    const std::size_t dot = reply.find('.', start);
    const std::string_view token = reply.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (token.empty()) return std::nullopt;
    if (n < t.size()) t[n] = token;
    ++n;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (n < 9 || t[0] != "$JS" || t[1] != "ACK") return std::nullopt;
  AckSubject a;
  std::size_t i = 2;  // the stream's token
  if (n >= 11) {
    a.domain = t[2] == "_" ? std::string_view() : t[2];
    i = 4;  // after domain and account hash
  } else if (n != 9) {
    return std::nullopt;
  }
  a.stream = t[i];
  a.consumer = t[i + 1];
  if (!number(t[i + 2], &a.delivered) || !number(t[i + 3], &a.stream_seq) || !number(t[i + 4], &a.consumer_seq) ||
      !number(t[i + 5], &a.timestamp_ns) || !number(t[i + 6], &a.pending))
    return std::nullopt;
  return a;
}

}  // namespace conduit::bridge::detail
