// An attached subscriber's reader slot (doc/ipc.md, "Topic::readers()
// across processes"): a memfd of its own, made by the owner at the
// subscribe and passed with its reply, mapped by both. The attached
// process stores its position there after each poll; the owner reads it.
//
// Both kinds of topic have one:
//   - a shared memory-only topic's subscriber (engine/ipc_shm_subscription.h):
//     a blocking one's slot is a retention holder of the ring, as an
//     in-process blocking subscriber is;
//   - a persisted topic's (engine/ipc_read_requests.h): listed by
//     Topic::readers() only; it holds nothing (a named one's commits do
//     what they do, through kCommit).
// Either is listed in Topic::readers() (ReaderInfo::attached) for as long
// as its connection lasts: the owner destroys it when the connection ends,
// whether the subscriber closed it or its process died.
//
// Thread safety: AttachedReader: made and destroyed on the connection's
// thread; the topic calls hold_position() and reader_info() from any
// thread (under its lock). PassedReaderSlot: the subscriber's poll thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "conduit/status.h"
#include "engine/topic_core.h"

namespace conduit::detail {

inline constexpr std::uint64_t kReaderSlotMagic = 0x31544c53'54444e43;  // "CNDTSLT1"
struct alignas(64) ReaderSlot {
  std::uint64_t magic = kReaderSlotMagic;
  // The next sequence the subscriber reads. Stored by the subscriber with
  // release after each poll (and, on a memory-only topic, at each segment
  // end); the owner loads it with acquire: the records below it were read,
  // so a ring may reuse their memory.
  alignas(64) std::atomic<std::uint64_t> position{0};
};

// The owner's side: the slot, and its place in the topic's readers().
class AttachedReader final : public RetentionHolder {
 public:
  // A new slot of a subscriber named `name` (empty: unnamed), not listed
  // yet. `holds_ring`: what readers() says of it (the caller makes it a
  // retention holder, or not).
  static Result<std::unique_ptr<AttachedReader>> make(TopicCore* topic, std::string name, bool holds_ring);
  // Unlisted, unmapped and closed. A holder of the ring is removed by its
  // maker before.
  ~AttachedReader() override;
  AttachedReader(const AttachedReader&) = delete;
  AttachedReader& operator=(const AttachedReader&) = delete;

  // Listed in the topic's readers() from now on, until destroyed. After
  // start_at(): the first position it shows is its start.
  void list();
  int fd() const noexcept { return fd_; }

  std::uint64_t hold_position() const noexcept override {
    // Acquire pairs with the subscriber's release store (PassedReaderSlot::store).
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
            .holds_ring = holds_ring_,
            .attached = true};
  }

 private:
  AttachedReader(TopicCore* topic, int fd, ReaderSlot* slot, std::string name, bool holds_ring)
      : topic_(topic), fd_(fd), slot_(slot), name_(std::move(name)), holds_ring_(holds_ring) {}
  TopicCore* topic_;
  int fd_;
  ReaderSlot* slot_;
  std::string name_;
  bool holds_ring_;
};

// A memfd the owner passed (closed here, whatever happens), mapped shared
// and writable, at least `bytes` long; `what` names it in errors.
Result<std::byte*> map_passed(int fd, std::size_t bytes, const std::string& what);

// The attached process's side: the slot the owner passed, mapped.
class PassedReaderSlot {
 public:
  // `fd` (closed here) mapped and its magic checked; `what` names it.
  static Result<std::unique_ptr<PassedReaderSlot>> map(int fd, const std::string& what);
  ~PassedReaderSlot();
  PassedReaderSlot(const PassedReaderSlot&) = delete;
  PassedReaderSlot& operator=(const PassedReaderSlot&) = delete;

  void store(std::uint64_t position) noexcept {
    // Release pairs with the owner's acquire in AttachedReader::hold_position().
    slot_->position.store(position, std::memory_order_release);
  }

 private:
  explicit PassedReaderSlot(ReaderSlot* slot) : slot_(slot) {}
  ReaderSlot* slot_;
};

}  // namespace conduit::detail
