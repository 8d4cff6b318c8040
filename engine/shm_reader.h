// An attached subscriber's reader of a shared memory-only topic
// (conduit/attach_subscriber.h; doc/ipc.md, "Shared memory-only topics"):
// follows the owner's segments in this process's mappings of their memfds,
// as an in-process Subscriber follows them in the owner's.
//
// - Within a segment: the index entry of the first record read there
//   (acquire; the owner's publishers and attached ones store it with
//   release after the record's commit), then each record's length word
//   (acquire, pairs with format::commit_length's release). A record goes
//   out only once its length word is committed.
// - At a segment's end (its padding, or its sealed count mirrored in the
//   index header: Segment::sealed_mirror, acquire, pairs with seal()'s
//   release) it asks the owner for the segment holding its position
//   (kShmSegment). The owner holds the segment it handed out, pinned, until
//   the next such request, so the ring reuses no memory this reader is
//   in; the owner's answer says how many records the ring dropped before
//   it (PollResult::lost, exact).
// - Its position goes to its reader slot (release, ReaderSlot::position)
//   after each poll and at each segment end: a blocking subscriber's
//   holds the ring there.
// - Waiting parks on the claim block's readers' lot (a shared futex) that
//   every publisher wakes.
// - The owner's Engine::close pushes the head's tail past its segment's end
//   for good (TopicCore::stop_claims). look_for_close(), called between
//   polls at most every 10 ms, makes the next poll ask the owner for the
//   segment at its position when the head's tail looks so; the owner says
//   kClosed once the position is where the claims stopped, and the polls
//   say closed from then on.
// - lag: claimed() reads how far the head segment's claims reach (the
//   claim block's head index and that slot's tail and first sequence), as
//   TopicCore::claimed does in the owner.
//
// Thread safety: one thread (the subscriber's poll thread); position() and
// lost() too (the AttachedSubscriber keeps its own copies for others).
// claimed() from any thread: it reads only the claim block, mapped for the
// reader's life.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/wait.h"
#include "conduit/engine.h"
#include "conduit/message.h"
#include "engine/ipc_connection.h"
#include "engine/reader_slot.h"
#include "engine/shm_segment.h"
#include "engine/topic_core.h"

namespace conduit::detail {

class ShmReader {
 public:
  // `block_fd` and `slot_fd` (the claim block and the reader slot, passed
  // by the owner's subscribe; both closed here) mapped, from `start`.
  static Result<std::unique_ptr<ShmReader>> open(IpcConnection& conn, std::string topic, int block_fd, int slot_fd,
                                                 std::uint64_t start, WaitStrategy wait);
  ~ShmReader();
  ShmReader(const ShmReader&) = delete;
  ShmReader& operator=(const ShmReader&) = delete;

  // What LogReader's try_poll and poll return, from the shared segments.
  Result<PollResult> try_poll(std::span<RecordView> out);
  Result<PollResult> poll(std::span<RecordView> out, std::chrono::nanoseconds timeout);
  std::uint64_t position() const noexcept { return pos_; }
  std::uint64_t lost() const noexcept { return lost_; }
  // One past the last record claimed: a record being written counts, and
  // while a claim that crossed the head segment's end waits for its roll
  // (a ring kept full by a blocking subscriber), the records of the claims
  // that did not fit count too. Any thread.
  std::uint64_t claimed() const noexcept;
  // See the top: the owner's close is looked for. Between polls.
  void look_for_close() noexcept;
  // The owner said its engine was closed, and everything was read.
  bool closed() const noexcept { return closed_; }

 private:
  ShmReader(IpcConnection& conn, std::string topic, WaitStrategy wait)
      : conn_(conn), topic_(std::move(topic)), wait_(wait) {}
  // Asks the owner for the segment holding pos_: OK with seg_ set (and
  // *lost what the ring dropped before it), or seg_ null when none does yet.
  Status next_segment(std::uint64_t* lost);
  // Whether a poll could return something now (between parks).
  bool ready() const noexcept;
  std::uint64_t head_first() const noexcept;
  void store_position() noexcept { slot_->store(pos_); }  // release (engine/reader_slot.h)

  IpcConnection& conn_;
  std::string topic_;
  WaitStrategy wait_;
  ClaimBlock* block_ = nullptr;
  std::size_t block_bytes_ = 0;
  std::unique_ptr<PassedReaderSlot> slot_;
  std::unique_ptr<SharedParkingLot> lot_;  // the claim block's readers' words
  ShmSegmentCache maps_{false};
  std::shared_ptr<ShmSegment> seg_;  // the segment being read; null: ask the owner
  std::uint64_t first_ = 0;          // seg_'s first sequence
  std::uint32_t off_ = 0;            // where pos_ lies in seg_; 0: not known yet
  std::uint64_t pos_ = 0;
  std::uint64_t lost_ = 0;
  // The head segment's first sequence when the owner last had no segment
  // for pos_: one is worth asking for again once the head moved.
  std::uint64_t asked_at_head_ = kNotSealed;
  std::size_t capacity_ = 0;  // the segments' size, once one was mapped
  bool closed_ = false;
  // Where the claims stopped, once the owner said closed (else kNotSealed):
  // claimed() goes no further (refused claims still add to the tail).
  // Relaxed both ways: a figure for lag(), ordered with nothing else.
  std::atomic<std::uint64_t> end_{kNotSealed};
};

}  // namespace conduit::detail
