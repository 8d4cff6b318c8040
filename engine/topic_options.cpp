// Which option differs, in words.
#include "engine/topic_options.h"

#include "engine/topic_core.h"

namespace conduit::detail {
namespace {

constexpr std::size_t kPage = 4096;

const char* durability_name(Durability d) {
  switch (d) {
    case Durability::kMemory: return "kMemory";
    case Durability::kAsync: return "kAsync";
    case Durability::kSync: return "kSync";
  }
  return "unknown";
}

std::string text(std::size_t v) { return std::to_string(v); }
std::string text(bool v) { return v ? "true" : "false"; }
std::string text(Durability v) { return durability_name(v); }
std::string text(std::chrono::seconds v) { return std::to_string(v.count()) + " s"; }
std::string text(std::chrono::nanoseconds v) { return std::to_string(v.count()) + " ns"; }

template <class T>
bool differs(const char* name, const T& have, const T& want, std::string* out) {
  if (have == want) return false;
  *out = std::string(name) + " is " + text(have) + ", not " + text(want);
  return true;
}

}  // namespace

TopicOptions normalized_options(TopicOptions o) {
  if (o.segment_bytes == 0) o.segment_bytes = default_segment_bytes(o.durability);
  o.segment_bytes = (o.segment_bytes + kPage - 1) / kPage * kPage;
  return o;
}

std::string options_difference(const TopicOptions& have_in, const TopicOptions& want_in) {
  const TopicOptions have = normalized_options(have_in), want = normalized_options(want_in);
  std::string d;
  (void)(differs("durability", have.durability, want.durability, &d) ||
         differs("segment_bytes", have.segment_bytes, want.segment_bytes, &d) ||
         (have.durability == Durability::kMemory && differs("ring_bytes", have.ring_bytes, want.ring_bytes, &d)) ||
         differs("max_payload_bytes", have.max_payload_bytes, want.max_payload_bytes, &d) ||
         differs("retain_bytes", have.retain_bytes, want.retain_bytes, &d) ||
         differs("retain_age", have.retain_age, want.retain_age, &d) ||
         differs("retain_until_consumed", have.retain_until_consumed, want.retain_until_consumed, &d) ||
         differs("hard_cap_bytes", have.hard_cap_bytes, want.hard_cap_bytes, &d) ||
         differs("dedup.max_ids", have.dedup.max_ids, want.dedup.max_ids, &d) ||
         differs("dedup.max_age", have.dedup.max_age, want.dedup.max_age, &d) ||
         differs("single_producer", have.single_producer, want.single_producer, &d) ||
         (have.durability == Durability::kMemory && differs("shared", have.shared, want.shared, &d)) ||
         (have.durability == Durability::kMemory && differs("huge_pages", have.huge_pages, want.huge_pages, &d)));
  return d;
}

}  // namespace conduit::detail
