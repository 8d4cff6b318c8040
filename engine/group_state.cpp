#include "engine/group_state.h"

#include <algorithm>
#include <map>

#include "common/little_endian.h"
#include "engine/segment.h"

namespace conduit::detail {
namespace {
constexpr std::size_t kHead = 12, kEntry = 24;
}  // namespace

std::string GroupState::encode() const {
  std::string out(kHead + (kEntry + 8) * entries.size(), '\0');
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
  for (const Entry& e : entries) {
    format::store<std::int64_t>(p, e.not_before_ns);
    p += 8;
  }
  return out;
}

Result<GroupState> GroupState::decode(std::string_view bytes, const std::string& where) {
  const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
  if (bytes.size() < kHead) return Status::Corruption(where + ": group state shorter than its header");
  GroupState g;
  g.floor = format::load<std::uint64_t>(p);
  const std::uint32_t count = format::load<std::uint32_t>(p + 8);
  const bool with_not_before = bytes.size() == kHead + std::size_t{count} * (kEntry + 8);
  if (bytes.size() != kHead + std::size_t{count} * kEntry && !with_not_before)
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
  if (with_not_before)
    for (Entry& e : g.entries) {
      e.not_before_ns = format::load<std::int64_t>(p);
      p += 8;
    }
  return g;
}

void GroupState::encode_entry(const Entry& e, std::byte* out) noexcept {
  static_assert(StateJournal::kEntryBytes == 32);
  format::store<std::uint64_t>(out, e.seq);
  format::store<std::uint32_t>(out + 8, e.failed_attempts);
  format::store<std::uint32_t>(out + 12, e.done ? 1u : 0u);
  format::store<std::int64_t>(out + 16, e.first_failure_ns);
  format::store<std::int64_t>(out + 24, e.not_before_ns);
}

void GroupState::merge(const std::vector<std::string>& journal) {
  if (journal.empty()) return;
  std::map<std::uint64_t, Entry> by_seq;
  for (const Entry& e : entries) by_seq[e.seq] = e;
  for (const std::string& bytes : journal) {
    const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
    Entry e;
    e.seq = format::load<std::uint64_t>(p);
    e.failed_attempts = format::load<std::uint32_t>(p + 8);
    e.done = (format::load<std::uint32_t>(p + 12) & 1u) != 0;
    e.first_failure_ns = format::load<std::int64_t>(p + 16);
    e.not_before_ns = format::load<std::int64_t>(p + 24);
    if (e.seq < floor) continue;
    auto [it, fresh] = by_seq.try_emplace(e.seq, e);
    Entry& have = it->second;
    if (fresh || have.done) continue;
    if (e.done) {
      have.done = true;
    } else if (e.failed_attempts > have.failed_attempts) {
      const std::int64_t first = have.first_failure_ns;
      have = e;
      if (first != 0) have.first_failure_ns = first;
    }
  }
  auto it = by_seq.begin();
  while (it != by_seq.end() && it->first == floor && it->second.done) {
    ++floor;
    it = by_seq.erase(it);
  }
  entries.clear();
  for (auto& [seq, e] : by_seq) entries.push_back(e);
}

}  // namespace conduit::detail
