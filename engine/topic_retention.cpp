// Retention: which old segments go (bytes, age, interest), and the hard cap,
// which takes them from holders that have not consumed them.
#include <algorithm>

#include "engine/topic_core.h"
#include "common/format.h"

namespace conduit::detail {

void TopicCore::apply_retention_locked() {
  const bool interest = options_.retain_until_consumed;
  if (!interest && options_.retain_bytes == 0 && options_.retain_age.count() == 0 && options_.hard_cap_bytes == 0)
    return;
  const std::int64_t now = shared_->now();
  const auto age_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.retain_age).count();
  // The oldest committed interest: every record below it is consumed.
  std::uint64_t consumed = ~std::uint64_t{0};
  for (const auto& [key, seq] : interest_) consumed = std::min(consumed, seq);
  if (interest) {
    // LogReaders that hold records commit in other processes: their files
    // are read here, at each roll and each commit in this engine.
    auto held = storage_->reader_hold();
    if (!held.ok()) {
      consumed = 0;  // nothing goes by interest until it can be read
      shared_->say(LogLevel::kWarning,
                   "topic '" + name_ + "': interest retention keeps every segment: " + held.status().to_string());
    } else if (held->has_value()) {
      consumed = std::min(consumed, **held);
    }
  }
  std::uint64_t cut_from = 0, cut_to = 0, cut_lost = 0;  // what the hard cap took from the interest
  std::map<std::string, std::uint64_t> open_lost;        // what it took from open work groups, by holder
  while (segments_.size() > 1) {
    const std::shared_ptr<Segment>& oldest = segments_.front();
    const std::uint64_t first = oldest->first_seq(), end = oldest->end_seq();
    if (end == kNotSealed || published() < end) break;  // a producer may still be writing into it
    const std::size_t held = segments_.size() * options_.segment_bytes;
    const bool over_bytes = options_.retain_bytes != 0 && held > options_.retain_bytes;
    // Every record of a segment was published before the next one was
    // created, so the next one's creation time bounds the oldest's age.
    const auto next_created = format::load<std::int64_t>(segments_[1]->base() + format::seg::kCreated);
    const bool too_old = age_ns != 0 && next_created != 0 && now - next_created > age_ns;
    // With interest on and no byte/age rule, consumed is enough.
    const bool by_rule = over_bytes || too_old || (interest && options_.retain_bytes == 0 && age_ns == 0);
    const bool everyone_done = !interest || consumed >= end;
    const bool over_cap = options_.hard_cap_bytes != 0 && held > options_.hard_cap_bytes;
    const bool free_to_go = by_rule && everyone_done && droppable_locked(*oldest);
    if (!free_to_go && !(over_cap && cuttable_locked(end))) break;
    if (!free_to_go) {
      // The cap wins over interest and over open work groups: count what was
      // not consumed yet (per record once: the interest's range covers every
      // group's, as a group's committed floor is at most its ack floor).
      std::uint64_t lost = interest && consumed < end ? end - std::max(first, consumed) : 0;
      std::uint64_t lowest = interest && consumed < end ? std::max(first, consumed) : end;  // for the message
      for (RetentionHolder* h : holders_) {
        const std::uint64_t at = h->hold_position();
        if (at >= end) continue;
        lowest = std::min(lowest, std::max(first, at));
        const std::uint64_t n = h->cut(end, oldest);
        open_lost[h->describe()] += n;
        lost = std::max(lost, n);
      }
      if (lost != 0) {
        if (cut_lost == 0) cut_from = lowest;
        cut_to = end;
        cut_lost += lost;
      }
    }
    if (free_to_go) ++retention_deletions_;
    segments_.pop_front();
    storage_->segment_dropped(first);
  }
  if (cut_lost != 0) report_cap_loss_locked(cut_from, cut_to, cut_lost, open_lost);
}

void TopicCore::report_cap_loss_locked(std::uint64_t cut_from, std::uint64_t cut_to, std::uint64_t cut_lost,
                                       const std::map<std::string, std::uint64_t>& open_lost) {
  ++cap_deletions_;
  cap_lost_records_ += cut_lost;
  std::string behind;
  for (const auto& [key, seq] : interest_)
    if (seq < cut_to) behind += " " + key + "@" + std::to_string(seq);
  for (const auto& [who, n] : open_lost)
    behind += " " + who + " (open: " + std::to_string(n) + " not acked, lost to it)";
  shared_->say(LogLevel::kWarning, "topic '" + name_ + "': hard_cap_bytes (" + std::to_string(options_.hard_cap_bytes) +
                                       ") deleted records " + std::to_string(cut_from) + ".." +
                                       std::to_string(cut_to - 1) + " not yet consumed by:" + behind);
}

bool TopicCore::cuttable_locked(std::uint64_t end) const {
  for (RetentionHolder* h : holders_)
    if (h->hold_position() < end && !h->cuttable()) return false;
  return true;
}

void TopicCore::note_committed(const std::string& key, std::uint64_t seq) {
  if (!options_.retain_until_consumed) return;
  std::lock_guard lk(mu_);
  interest_[key] = seq;
  apply_retention_locked();
}

bool TopicCore::droppable_locked(const Segment& oldest) const {
  // Work groups hold persisted topics too (their records must stay until
  // acked); subscribers of persisted topics do not: they are told the gap.
  const std::uint64_t end = oldest.end_seq();
  if (end == kNotSealed || published() < end) return false;  // a producer may still be writing into it
  for (RetentionHolder* h : holders_)
    if (h->hold_position() < end) return false;
  return true;
}

}  // namespace conduit::detail
