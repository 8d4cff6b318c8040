// Why an envelope is over its limits, in words that name the field.
#include <string>

#include "common/format.h"
#include "engine/envelope.h"

namespace conduit::detail {
namespace {

// A header name as the error shows it: quoted, long ones cut.
std::string quoted(std::string_view name) {
  constexpr std::size_t kShown = 40;
  if (name.size() <= kShown) return "'" + std::string(name) + "'";
  return "'" + std::string(name.substr(0, kShown)) + "...'";
}

}  // namespace

std::string envelope_too_large(const Message& m, std::size_t max_envelope_bytes) {
  const std::string limit = std::to_string(format::kMaxFieldBytes);
  const std::pair<const char*, std::string_view> strings[] = {{"id", m.id},
                                                              {"key", m.key},
                                                              {"correlation_id", m.correlation_id},
                                                              {"reply_to", m.reply_to},
                                                              {"trace_id", m.trace_id},
                                                              {"content_type", m.content_type}};
  // The largest field, named when only the sum is over the limit.
  std::string largest;
  std::size_t largest_bytes = 0;
  std::size_t total = 0;
  for (const auto& [field, value] : strings) {
    if (value.size() > format::kMaxFieldBytes)
      return std::string(field) + " of " + std::to_string(value.size()) + " bytes is over the field limit (" + limit +
             ")";
    total += value.size();
    if (value.size() > largest_bytes) largest = field, largest_bytes = value.size();
  }
  if (m.headers.size() > format::kMaxFieldBytes)
    return std::to_string(m.headers.size()) + " headers are over the limit (" + limit + ")";
  for (std::size_t i = 0; i < m.headers.size(); ++i) {
    const Header& h = m.headers[i];
    const std::string which = "header " + std::to_string(i) + " " + quoted(h.name);
    if (h.name.size() > format::kMaxFieldBytes)
      return which + ": name of " + std::to_string(h.name.size()) + " bytes is over the field limit (" + limit + ")";
    if (h.value.size() > format::kMaxFieldBytes)
      return which + ": value of " + std::to_string(h.value.size()) + " bytes is over the field limit (" + limit + ")";
    // Each header takes its two u16 lengths too (common/format.h).
    const std::size_t bytes = 4 + h.name.size() + h.value.size();
    total += bytes;
    if (bytes > largest_bytes) largest = which, largest_bytes = bytes;
  }
  if (total > max_envelope_bytes)
    return "envelope (every field but the payload) of " + std::to_string(total) + " bytes is over the limit (" +
           std::to_string(max_envelope_bytes) + "); the largest field is " + largest + " (" +
           std::to_string(largest_bytes) + " bytes)";
  return {};
}

}  // namespace conduit::detail
