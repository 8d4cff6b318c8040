#include "engine/ipc_read_requests.h"

#include <mutex>

#include "common/disk_names.h"
#include "engine/ipc_wire_stats.h"
#include "engine/topic_core.h"
#include "engine/work_group_core.h"

namespace conduit::detail {
namespace {

// A reply of just `s`, to a well-formed request.
bool said(ipc::Writer* reply, const Status& s) {
  reply->status(s);
  return true;
}

}  // namespace

bool ReadRequests::answer(ipc::Op op, ipc::Reader& r, ipc::Writer* reply, std::span<int> pass) {
  switch (op) {
    case ipc::Op::kSubscribe: return subscribe(r, reply, pass);
    case ipc::Op::kShmSegment:
      if (!shm_) {
        reply->status(Status::InvalidArgument("a segment request without a memory-only topic's subscriber"));
        return false;
      }
      shm_->segment(r, reply, pass);
      return r.ok();
    case ipc::Op::kCommit: return commit(r, reply);
    case ipc::Op::kGroupStats: return group_stats(r, reply);
    case ipc::Op::kTopicStats: return topic_stats(r, reply);
    default: break;
  }
  reply->status(Status::InvalidArgument("unknown request " + std::to_string(static_cast<int>(op))));
  return false;
}

bool ReadRequests::subscribe(ipc::Reader& r, ipc::Writer* reply, std::span<int> pass) {
  const std::string topic = r.str();
  SubscriberOptions o;
  o.name = r.str();
  o.start.kind = r.get_enum(StartAt::Kind::kTime);
  o.start.sequence = r.get<std::uint64_t>();
  o.start.time_ns = r.get<std::int64_t>();
  // Left off by an older build; lose-oldest is what it read as.
  o.slow = r.at_end() ? SlowPolicy::kLoseOldest : r.get_enum(SlowPolicy::kLoseOldest);
  if (!r.ok() || !topic_.empty()) {
    reply->status(Status::InvalidArgument(topic_.empty() ? "a malformed subscribe" : "one subscriber per connection"));
    return false;
  }
  auto core = find_(topic);
  if (!core.ok()) return said(reply, core.status());
  if ((*core)->options().durability == Durability::kMemory) {
    // Read from the topic's memfds (engine/ipc_shm_subscription.h). The
    // name only names it: a memory-only topic keeps no positions.
    if (!(*core)->options().shared)
      return said(reply, Status::Unsupported("topic '" + topic +
                                             "' is memory-only and not shared (TopicOptions::shared): its records "
                                             "cannot be read from another process"));
    if ((*core)->closed()) return said(reply, Status::Closed("topic '" + topic + "': engine is closed"));
    if ((*core)->claim_block_fd() < 0)
      return said(reply, Status::Unsupported("topic '" + topic + "' has no claim block (memfd_create failed)"));
    auto shm = ShmSubscription::make(*core, o.start, o.slow == SlowPolicy::kBlock, o.name);
    if (!shm.ok()) return said(reply, shm.status());
    shm_ = std::move(shm).value();
    topic_ = topic;
    reply->status(Status::OK()).put(shm_->start()).put(std::uint64_t{0}).put(std::uint8_t{1});
    reply->put(ipc::kSubscribeReaderSlot);
    pass[0] = (*core)->claim_block_fd();
    pass[1] = shm_->slot_fd();
    return true;
  }
  // Topic::subscribe resolves the start exactly as for an in-process
  // subscriber of that name: its committed position, or `start` (and, with
  // retain_until_consumed, commits a new named one's start). It goes at
  // once: its position would not follow the attached one's.
  auto sub = (*core)->handle()->subscribe(o);
  if (!sub.ok()) return said(reply, sub.status());
  topic_ = topic;
  if (!o.name.empty()) key_ = disk::subscriber_key(o.name);
  // An empty poll moves nothing and tells the rewind, if any (once).
  const PollResult told = (*sub)->try_poll({});
  const std::uint64_t start = (*sub)->position();
  sub->reset();  // gone before its slot is listed: readers() never shows both
  // Its reader slot (engine/reader_slot.h): readers() lists it, at the
  // position the attached process stores after each poll, until the
  // connection ends. It holds nothing. Without one (no memfd) the
  // subscriber reads as well; readers() only misses it.
  std::uint8_t flags = 0;
  if (auto slot = AttachedReader::make(*core, o.name, /*holds_ring=*/false); slot.ok()) {
    slot_ = std::move(slot).value();
    slot_->start_at(start);
    slot_->list();
    pass[0] = slot_->fd();
    flags = ipc::kSubscribeReaderSlot;
  }
  reply->status(Status::OK()).put(start).put(told.rewound).put(std::uint8_t{0}).put(flags);
  return true;
}

bool ReadRequests::commit(ipc::Reader& r, ipc::Writer* reply) {
  const auto seq = r.get<std::uint64_t>();
  if (!r.ok() || key_.empty()) {
    reply->status(Status::InvalidArgument("a commit without a named subscriber"));
    return false;
  }
  // Looked up again: the topic may have been deleted meanwhile.
  auto core = find_(topic_);
  if (!core.ok()) return said(reply, core.status());
  if ((*core)->closed()) return said(reply, Status::Closed("topic '" + topic_ + "': engine is closed"));
  // A position no reader can have reached: storing it would wait, without
  // end, for the log to be durable up to records never published.
  if (const std::uint64_t end = (*core)->published(); seq > end)
    return said(reply, Status::InvalidArgument("commit of position " + std::to_string(seq) + " on topic '" + topic_ +
                                               "': past its end (" + std::to_string(end) + ")"));
  // What Subscriber::commit does for a position the attached process
  // checked (it is at most its position): the log durable up to it, the
  // position stored, and the interest retention told.
  if (Status s = (*core)->storage().store_position(key_, seq); !s.ok()) return said(reply, s);
  (*core)->note_committed(key_, seq);
  reply->status(Status::OK());
  return true;
}

bool ReadRequests::group_stats(ipc::Reader& r, ipc::Writer* reply) {
  const std::string topic = r.str();
  const std::string group = r.str();
  if (!r.ok()) {
    reply->status(Status::InvalidArgument("a malformed stats request"));
    return false;
  }
  auto core = find_(topic);
  if (!core.ok()) return said(reply, core.status());
  // Only a group that exists: asking for stats creates nothing.
  std::lock_guard lk((*core)->groups_mutex());
  for (auto& g : (*core)->groups())
    if (g->name() == group) {
      reply->status(Status::OK());
      ipc::put_stats(*reply, g->handle()->stats());
      return true;
    }
  reply->status(Status::NotFound("topic '" + topic + "' has no work group '" + group + "'"));
  return true;
}

bool ReadRequests::topic_stats(ipc::Reader& r, ipc::Writer* reply) {
  const std::string topic = r.str();
  if (!r.ok()) {
    reply->status(Status::InvalidArgument("a malformed stats request"));
    return false;
  }
  auto core = find_(topic);
  if (!core.ok()) return said(reply, core.status());
  reply->status(Status::OK());
  ipc::put_stats(*reply, (*core)->handle()->stats());
  return true;
}

}  // namespace conduit::detail
