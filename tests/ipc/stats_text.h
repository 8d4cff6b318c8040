// Stats as one line of text, so that a worker process can print them and a
// test compare them with its own.
#pragma once

#include <conduit/engine.h>

#include <string>

namespace conduit::test {

inline std::string stats_text(const WorkGroupStats& s) {
  std::string t;
  for (std::uint64_t v : {s.next, s.ack_floor, s.redelivered, s.pending_redelivery, s.depth, s.in_flight,
                          s.dead_lettered, s.timed_out, s.stale, s.lost, s.skipped})
    t += std::to_string(v) + " ";
  return t;
}

inline std::string stats_text(const TopicStats& s) {
  std::string t;
  for (std::uint64_t v :
       {s.earliest, s.published, s.segments, s.cap_deletions, s.cap_lost_records, s.skipped, s.retention_deletions})
    t += std::to_string(v) + " ";
  return t;
}

}  // namespace conduit::test
