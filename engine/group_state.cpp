#include "engine/group_state.h"

#include "persistence/format.h"

namespace conduit::detail {
namespace {
constexpr std::size_t kHead = 12, kEntry = 24;
}  // namespace

std::string GroupState::encode() const {
  std::string out(kHead + kEntry * entries.size(), '\0');
  auto* p = reinterpret_cast<std::byte*>(out.data());
  format::store<std::uint64_t>(p, floor);
  format::store<std::uint32_t>(p + 8, static_cast<std::uint32_t>(entries.size()));
  p += kHead;
  for (const Entry& e : entries) {
    format::store<std::uint64_t>(p, e.seq);
    format::store<std::uint32_t>(p + 8, e.failed_attempts);
    format::store<std::uint32_t>(p + 12, e.done ? 1u : 0u);
    format::store<std::int64_t>(p + 16, e.first_failure_ns);
    p += kEntry;
  }
  return out;
}

Result<GroupState> GroupState::decode(std::string_view bytes, const std::string& where) {
  const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
  if (bytes.size() < kHead) return Status::Corruption(where + ": group state shorter than its header");
  GroupState g;
  g.floor = format::load<std::uint64_t>(p);
  const std::uint32_t count = format::load<std::uint32_t>(p + 8);
  if (bytes.size() != kHead + std::size_t{count} * kEntry)
    return Status::Corruption(where + ": group state of " + std::to_string(bytes.size()) + " bytes does not hold " +
                              std::to_string(count) + " entries");
  g.entries.reserve(count);
  p += kHead;
  for (std::uint32_t k = 0; k < count; ++k, p += kEntry) {
    Entry e;
    e.seq = format::load<std::uint64_t>(p);
    e.failed_attempts = format::load<std::uint32_t>(p + 8);
    e.done = (format::load<std::uint32_t>(p + 12) & 1u) != 0;
    e.first_failure_ns = format::load<std::int64_t>(p + 16);
    const std::uint64_t lowest = g.entries.empty() ? g.floor : g.entries.back().seq + 1;
    if (e.seq < lowest)
      return Status::Corruption(where + " offset " + std::to_string(kHead + k * kEntry) +
                                ": group state entries out of order");
    g.entries.push_back(e);
  }
  return g;
}

}  // namespace conduit::detail
