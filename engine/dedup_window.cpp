#include "engine/dedup_window.h"

namespace conduit::detail {

std::optional<std::uint64_t> DedupWindow::find(std::string_view id, std::int64_t now_ns) {
  const std::int64_t age = options_.max_age.count();
  // Entries are in sequence order, and timestamps nearly so: trim the
  // expired front, then check the found entry's own age (a producer's stamp
  // may be a little out of order).
  while (age != 0 && !entries_.empty() && now_ns - entries_.front().ts_ns > age) drop_oldest();
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  if (age != 0 && now_ns - it->second.ts_ns > age) return std::nullopt;
  return it->second.seq;
}

void DedupWindow::remember(std::string_view id, std::uint64_t seq, std::int64_t ts_ns) {
  while (!entries_.empty() && entries_.size() >= options_.max_ids) drop_oldest();
  // An older (expired) entry of the same id loses its mapping: the newest
  // wins. Erase first, so the key views the new entry's string, not the
  // old one's (which goes when the old entry is dropped).
  by_id_.erase(id);
  entries_.push_back(Entry{String(id), seq, ts_ns});
  by_id_.emplace(std::string_view(entries_.back().id), Seen{seq, ts_ns});
}

void DedupWindow::drop_oldest() {
  const Entry& e = entries_.front();
  auto it = by_id_.find(std::string_view(e.id));
  // Only when the map still points at this entry, not at a newer one.
  if (it != by_id_.end() && it->second.seq == e.seq) by_id_.erase(it);
  entries_.pop_front();
}

}  // namespace conduit::detail
