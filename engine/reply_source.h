// Where a Requester reads its replies (conduit/request_reply.h): an
// in-process Subscriber, or an AttachedSubscriber in a process attached to
// the owner. Both poll with the same calls and meaning; the requester's
// matching of replies to requests is one piece of code for both.
//
// Thread safety: as the subscriber it holds (one thread polls).
#pragma once

#include <chrono>
#include <memory>
#include <span>

#include "conduit/engine.h"

namespace conduit::detail {

class ReplySource {
 public:
  virtual ~ReplySource() = default;
  virtual PollResult try_poll(std::span<RecordView> out) = 0;
  virtual PollResult poll(std::span<RecordView> out, std::chrono::nanoseconds wait) = 0;
};

template <class Sub>
class ReplySourceOf final : public ReplySource {
 public:
  explicit ReplySourceOf(std::unique_ptr<Sub> sub) : sub_(std::move(sub)) {}
  PollResult try_poll(std::span<RecordView> out) override { return sub_->try_poll(out); }
  PollResult poll(std::span<RecordView> out, std::chrono::nanoseconds wait) override { return sub_->poll(out, wait); }

 private:
  std::unique_ptr<Sub> sub_;
};

}  // namespace conduit::detail
