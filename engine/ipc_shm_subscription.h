// The owner's side of an attached subscriber of a shared memory-only topic
// (doc/ipc.md, "Shared memory-only topics"): its reader slot, the segments
// it is handed, and, for a blocking one, its place among the topic's
// retention holders. One per connection (engine/ipc_read_requests.h); it
// goes when the connection ends, whether the subscriber closed it or its
// process died, and with it everything it held.
//
// The records never come this way: the subscriber maps each segment's
// memory and index (two memfds, passed on kShmSegment) and reads them in
// place (engine/shm_reader.cpp).
//
// Thread safety: the connection's thread calls everything; the topic calls
// hold_position() from any thread (under its lock).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "engine/ipc_wire.h"
#include "engine/shm_segment.h"
#include "engine/topic_core.h"

namespace conduit::detail {

class ShmSubscription final : public RetentionHolder {
 public:
  // Starts a subscriber of `topic` at `at`; a blocking one (`block`)
  // holds the ring from its start on, as an in-process one does.
  static Result<std::unique_ptr<ShmSubscription>> make(TopicCore* topic, StartAt at, bool block, std::string name);
  ~ShmSubscription() override;
  ShmSubscription(const ShmSubscription&) = delete;
  ShmSubscription& operator=(const ShmSubscription&) = delete;

  std::uint64_t start() const noexcept { return start_; }
  int slot_fd() const noexcept { return slot_fd_; }
  // kShmSegment: the reply, and the descriptors to pass with it (`pass`,
  // two: the segment's index and memory; left -1 when none).
  void segment(ipc::Reader& r, ipc::Writer* reply, std::span<int> pass);

  std::uint64_t hold_position() const noexcept override {
    // Acquire pairs with the subscriber's release store (ReaderSlot::position).
    return slot_->position.load(std::memory_order_acquire);
  }
  void start_at(std::uint64_t seq) noexcept override {
    // Relaxed: the slot goes to the subscriber only after this (the reply
    // that passes it), and the topic reads it under its lock.
    slot_->position.store(seq, std::memory_order_relaxed);
  }
  std::string describe() const override {
    return name_.empty() ? "an unnamed attached subscriber" : "attached subscriber '" + name_ + "'";
  }
  ReaderInfo reader_info() const override {
    return {.kind = ReaderInfo::Kind::kSubscriber,
            .name = name_,
            .position = hold_position(),
            .lag = 0,
            .holds_ring = block_,
            .attached = true};
  }

 private:
  ShmSubscription(TopicCore* topic, int fd, ReaderSlot* slot, bool block, std::string name)
      : topic_(topic), slot_fd_(fd), slot_(slot), block_(block), name_(std::move(name)) {}
  TopicCore* topic_;
  int slot_fd_;
  ReaderSlot* slot_;
  bool block_;
  std::string name_;
  std::uint64_t start_ = 0;
  // The segment last handed out, held (and pinned) until the next request:
  // the subscriber asks for the next one only once it has left this one,
  // so the ring never reuses memory it is reading, and the descriptors
  // stay open while they go out.
  std::shared_ptr<Segment> held_;
};

}  // namespace conduit::detail
