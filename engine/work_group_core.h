// A work group: competing consumers sharing one cursor over a topic.
//
// Thread safety
//   Consumers (any number, each on its own thread) claim sequences with a
//   CAS on next_, ack/nack them, and take nacked ones from redeliver_ first.
//   Invariants:
//   - A sequence is handed out once by the CAS (next_ s -> s+1), and again
//     only after a nack put it on redeliver_.
//   - acked_[s % window] == s + 1 once s is acked; floor_ only moves over
//     acked sequences, so every sequence below floor_ is acked.
//   - next_ < floor_ + window: the slot of s is reused only after s - window
//     was acked and passed, so a slot never holds two live sequences.
//   - floor_ holds the ring (RetentionHolder): an unacked record stays in
//     memory, and a delivered view stays valid until its ack or nack.
#pragma once

#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "conduit/engine.h"
#include "engine/topic_core.h"

namespace conduit::detail {

class GroupCore final : public MiAllocated, public RetentionHolder {
 public:
  GroupCore(TopicCore* topic, std::string name, WorkGroupOptions options);
  ~GroupCore() override;

  std::uint64_t hold_position() const noexcept override {
    // Acquire pairs with the release CAS in advance_floor().
    return floor_.load(std::memory_order_acquire);
  }
  void start_at(std::uint64_t seq) noexcept override;
  // After attach, before any consumer exists: a start below `earliest` (a
  // committed floor older than retention, or an explicit sequence) moves up
  // to it, and the next poll of any consumer reports the gap once.
  void skip_to(std::uint64_t earliest) noexcept;

  // Hands out up to out.size() deliveries; `seg` is the consumer's cached
  // segment for new sequences.
  std::size_t claim(std::span<Delivery> out, std::shared_ptr<Segment>& seg) noexcept;
  bool maybe_ready(const std::shared_ptr<Segment>& seg) const noexcept;
  // Records skipped by skip_to() and not yet reported (then 0).
  std::uint64_t take_lost() noexcept;
  void ack(std::uint64_t seq) noexcept;
  void nack(std::uint64_t seq) noexcept;
  WorkGroupStats stats() const noexcept;

  TopicCore* topic() const noexcept { return topic_; }
  const std::string& name() const noexcept { return name_; }
  WorkGroup* handle() noexcept { return &handle_; }

 private:
  bool deliver(std::uint64_t seq, const std::shared_ptr<Segment>& seg, std::uint32_t attempt, Delivery* d) noexcept;
  void advance_floor() noexcept;

  TopicCore* topic_;
  std::string name_;
  WorkGroupOptions options_;
  std::uint64_t mask_;
  WorkGroup handle_;
  alignas(64) std::atomic<std::uint64_t> next_{0};
  alignas(64) std::atomic<std::uint64_t> floor_{0};
  alignas(64) std::atomic<std::uint64_t> redelivered_{0};
  std::atomic<std::uint64_t> lost_{0};  // set by skip_to(), taken by one poll
  std::vector<std::atomic<std::uint64_t>, MiAllocator<std::atomic<std::uint64_t>>> acked_;
  std::vector<std::atomic<std::uint32_t>, MiAllocator<std::atomic<std::uint32_t>>> attempts_;
  moodycamel::ConcurrentQueue<std::uint64_t, MiQueueTraits> redeliver_;
};

}  // namespace conduit::detail
