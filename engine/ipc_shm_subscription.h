// The owner's side of an attached subscriber of a shared memory-only topic
// (doc/ipc.md, "Shared memory-only topics"): its reader slot
// (engine/reader_slot.h), the segments
// it is handed, and, for a blocking one, its place among the topic's
// retention holders. One per connection (engine/ipc_read_requests.h); it
// goes when the connection ends, whether the subscriber closed it or its
// process died, and with it everything it held.
//
// The records never come this way: the subscriber maps each segment's
// memory and index (two memfds, passed on kShmSegment) and reads them in
// place (engine/shm_reader.cpp).
//
// Thread safety: the connection's thread calls everything; the topic reads
// its reader slot from any thread (engine/reader_slot.h).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "engine/ipc_wire.h"
#include "engine/reader_slot.h"
#include "engine/shm_segment.h"
#include "engine/topic_core.h"

namespace conduit::detail {

class ShmSubscription final {
 public:
  // Starts a subscriber of `topic` at `at`; a blocking one (`block`)
  // holds the ring from its start on, as an in-process one does.
  static Result<std::unique_ptr<ShmSubscription>> make(TopicCore* topic, StartAt at, bool block, std::string name);
  ~ShmSubscription();
  ShmSubscription(const ShmSubscription&) = delete;
  ShmSubscription& operator=(const ShmSubscription&) = delete;

  std::uint64_t start() const noexcept { return start_; }
  int slot_fd() const noexcept { return slot_->fd(); }
  // kShmSegment: the reply, and the descriptors to pass with it (`pass`,
  // two: the segment's index and memory; left -1 when none).
  void segment(ipc::Reader& r, ipc::Writer* reply, std::span<int> pass);

 private:
  ShmSubscription(TopicCore* topic, std::unique_ptr<AttachedReader> slot, bool block)
      : topic_(topic), slot_(std::move(slot)), block_(block) {}
  TopicCore* topic_;
  // Its reader slot: listed in readers(), and a blocking one's holder of the ring.
  std::unique_ptr<AttachedReader> slot_;
  bool block_;
  std::uint64_t start_ = 0;
  // The segment last handed out, held (and pinned) until the next request:
  // the subscriber asks for the next one only once it has left this one,
  // so the ring never reuses memory it is reading, and the descriptors
  // stay open while they go out.
  std::shared_ptr<Segment> held_;
};

}  // namespace conduit::detail
