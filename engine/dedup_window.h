// The dedup window of a topic with idempotent publish (TopicOptions::dedup).
//
// Thread safety
//   Publishers of messages with an id hold lock() across "find, append,
//   remember", so two racing publishes of one id cannot both append: the
//   second finds the first's sequence. Publishes without an id never touch
//   the window. rebuild-time remember() runs before any publish.
//   Invariants: entries_ is in sequence order; by_id_ maps each id to its
//   newest entry; the window never holds more than max_ids entries.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "conduit/options.h"
#include "engine/alloc.h"

namespace conduit::detail {

class DedupWindow : public MiAllocated {
 public:
  explicit DedupWindow(DedupOptions options) : options_(options) {}

  std::mutex& mutex() noexcept { return mu_; }
  // The sequence of the record that published `id` at most max_age before
  // `now_ns`, if the window still holds it. mutex() held.
  std::optional<std::uint64_t> find(std::string_view id, std::int64_t now_ns);
  // Adds `id` (published as `seq`, stamped `ts_ns`), dropping the oldest
  // entries over max_ids. mutex() held (or before the topic takes publishes).
  void remember(std::string_view id, std::uint64_t seq, std::int64_t ts_ns);
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  using String = std::basic_string<char, std::char_traits<char>, MiAllocator<char>>;
  struct Entry {
    String id;
    std::uint64_t seq;
    std::int64_t ts_ns;
  };
  void drop_oldest();

  DedupOptions options_;
  std::mutex mu_;
  std::deque<Entry, MiAllocator<Entry>> entries_;  // guarded by mu_, oldest first
  // Views into entries_' strings: a deque keeps its elements in place when
  // it grows or shrinks at either end.
  struct Seen {
    std::uint64_t seq;
    std::int64_t ts_ns;
  };
  std::unordered_map<std::string_view, Seen, std::hash<std::string_view>, std::equal_to<>,
                     MiAllocator<std::pair<const std::string_view, Seen>>>
      by_id_;  // guarded by mu_; each key views the string of the entry it maps
};

}  // namespace conduit::detail
