#include "engine/ipc_shm_subscription.h"

namespace conduit::detail {

Result<std::unique_ptr<ShmSubscription>> ShmSubscription::make(TopicCore* topic, StartAt at, bool block,
                                                               std::string name) {
  auto slot = AttachedReader::make(topic, std::move(name), block);
  if (!slot.ok()) return slot.status();
  std::unique_ptr<ShmSubscription> s(new ShmSubscription(topic, std::move(slot).value(), block));
  // Resolved and registered under one lock: the ring cannot move past a
  // blocking subscriber's start in between.
  s->start_ = topic->attach(at, block ? s->slot_.get() : nullptr);
  if (!block) s->slot_->start_at(s->start_);
  s->slot_->list();
  return s;
}

ShmSubscription::~ShmSubscription() {
  // Its process closed the connection or died: a publisher waiting for
  // this subscriber goes on (remove_holder wakes it). The slot unlists itself.
  if (block_) topic_->remove_holder(slot_.get());
  held_.reset();
}

void ShmSubscription::segment(ipc::Reader& r, ipc::Writer* reply, std::span<int> pass) {
  const auto seq = r.get<std::uint64_t>();
  if (!r.ok()) {
    reply->status(Status::InvalidArgument("a malformed segment request"));
    return;
  }
  // The segment read before is let go first: the subscriber has left it.
  held_.reset();
  // A blocking one stored its position past that segment before asking
  // (release; make_ring_room reads it with acquire through the slot's
  // hold_position):
  // a publisher of this process waiting for ring space looks again now,
  // not at the end of its park_timeout.
  if (block_) topic_->notify_progress();
  if (topic_->deleted()) {
    reply->status(Status::NotFound("topic '" + topic_->name() + "' was deleted"));
    return;
  }
  // The engine's close stopped the claims at claims_end() (kNotSealed
  // until it did): a subscriber there has read everything there will be.
  if (topic_->closed()) {
    if (const std::uint64_t end = topic_->claims_end(); end != kNotSealed && seq >= end) {
      reply->status(Status::Closed("topic '" + topic_->name() + "': engine is closed"));
      return;
    }
  }
  std::uint64_t lost = 0;
  held_ = topic_->shared_segment_for(seq, &lost);
  reply->status(Status::OK());
  if (held_ == nullptr) {
    reply->put(ipc::kNoSegment).put(std::uint64_t{0}).put(std::uint64_t{0});
    return;
  }
  reply->put(held_->first_seq()).put(lost).put(static_cast<std::uint64_t>(held_->capacity()));
  pass[0] = held_->index_fd();
  pass[1] = held_->memory().shared_fd();
}

}  // namespace conduit::detail
