// WorkGroupStats and TopicStats on the wire (engine/ipc_wire.h: the
// replies to kGroupStats and kTopicStats), field by field in declaration
// order.
//
// Thread safety: plain functions.
#pragma once

#include "conduit/engine.h"
#include "engine/ipc_wire.h"

namespace conduit::detail::ipc {

inline void put_stats(Writer& w, const WorkGroupStats& s) {
  w.put(s.next).put(s.ack_floor).put(s.redelivered).put(s.pending_redelivery).put(s.depth).put(s.in_flight);
  w.put(s.dead_lettered).put(s.timed_out).put(s.stale).put(s.lost).put(s.skipped);
}

inline void get_stats(Reader& r, WorkGroupStats* s) {
  for (std::uint64_t* f : {&s->next, &s->ack_floor, &s->redelivered, &s->pending_redelivery, &s->depth, &s->in_flight,
                           &s->dead_lettered, &s->timed_out, &s->stale, &s->lost, &s->skipped})
    *f = r.get<std::uint64_t>();
}

inline void put_stats(Writer& w, const TopicStats& s) {
  w.put(s.earliest).put(s.published).put(s.segments).put(s.cap_deletions).put(s.cap_lost_records).put(s.skipped);
  w.put(s.retention_deletions);
}

inline void get_stats(Reader& r, TopicStats* s) {
  for (std::uint64_t* f : {&s->earliest, &s->published, &s->segments, &s->cap_deletions, &s->cap_lost_records,
                           &s->skipped, &s->retention_deletions})
    *f = r.get<std::uint64_t>();
}

// The stats in a reply to kGroupStats or kTopicStats, or why none.
template <class Stats>
Result<Stats> stats_from(Result<std::string> reply) {
  if (!reply.ok()) return reply.status();
  Reader r(*reply);
  if (Status s = r.status(); !s.ok()) return s;
  Stats stats;
  get_stats(r, &stats);
  if (!r.ok()) return Status::Corruption("a stats reply from the owner is short");
  return stats;
}

inline Writer group_stats_request(std::string_view topic, std::string_view group) {
  Writer w(Op::kGroupStats);
  w.str(topic).str(group);
  return w;
}

}  // namespace conduit::detail::ipc
