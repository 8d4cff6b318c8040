// conduit — zero-copy publishing: claim room in the log, write the payload
// in place, commit.
//
//   auto c = topic->claim(64);                       // Result<Claim>
//   if (!c.ok()) return c.status();
//   std::span<std::byte> p = c->payload();           // 64 writable bytes, in the log
//   fill(p);
//   auto seq = c->commit();                          // visible to readers (durable on kSync)
//
// Topic::claim(n, envelope) takes the record's sequence and its room in the
// log at once, with the header and the envelope written (every field of
// `envelope` but the payload, which must be empty; timestamp_ns 0 means the
// wall clock at the claim). The payload bytes are the caller's to write
// until commit() or abandon(); nothing is copied. Readers see the record
// once it is committed, and the records claimed after it only after that:
// hold a claim for as long as it takes to fill it, not longer.
//
// A claim that is not committed becomes a skip record (common/format.h):
// abandon(), the Claim's destruction (an exception unwinding included), or
// an engine close() or delete_topic() that comes first. It keeps its
// sequence, so sequences stay dense, and every reader steps over it
// without handing it out (PollResult::skipped, WorkGroupStats::skipped,
// TopicStats::skipped count them). It is never a hole that stalls readers.
//
// Errors: claim() fails as publish() does (kTooLarge over max_payload_bytes
// or an envelope limit; kClosed; kNotFound once deleted; kInvalidArgument
// for an envelope with a payload, an envelope with an id on a dedup topic
// (a claim is not deduplicated: publish such messages), or a
// single_producer topic's foreign thread). commit() after close() or delete_topic() took the claim back
// returns kClosed or kNotFound: the record is a skip record then, never
// half visible. Claims work on memory-only, async and sync topics, and on
// single_producer topics from the owning thread.
//
// Thread safety: a Claim is one thread's at a time (move it to hand it
// over); many threads may hold claims on one topic, up to 4096 open at once
// (kBusy past that). claim() takes a short per-topic lock (the table of
// open claims that close() and delete_topic() take back), except on a
// single_producer topic while its thread holds no other claim there, where
// a claim issues no locked instruction at all; commit() and
// abandon() take none unless a close or delete is under way; the rest is
// a publish's path. The segment an open claim points into stays mapped
// until the claim ends, so writing the payload after a close or delete is
// harmless (it reaches no reader); the segment of a claim still open when
// its engine is destroyed stays mapped until the process exits. Claim
// after the engine is destroyed: commit() is kClosed, as every handle's call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "conduit/export.h"
#include "conduit/status.h"

namespace conduit {

class Topic;
namespace detail {
class TopicCore;
}

// A record's room in the log, claimed by Topic::claim(), whose payload the
// caller writes in place before commit() (conduit/claim.h).
class CONDUIT_EXPORT Claim {
 public:
  Claim() noexcept = default;
  Claim(Claim&& other) noexcept { take(other); }  // `other` is left empty
  // Abandons the claim held, then takes `other`'s (left empty).
  Claim& operator=(Claim&& other) noexcept {
    if (this != &other) {
      abandon();
      take(other);
    }
    return *this;
  }
  Claim(const Claim&) = delete;
  Claim& operator=(const Claim&) = delete;
  // An uncommitted claim is abandoned (a moved-from or ended one costs no call).
  ~Claim() {
    if (active()) abandon();
  }

  // The payload's room in the log: exactly the bytes asked for. Empty once
  // the claim is committed or abandoned.
  std::span<std::byte> payload() const noexcept {
    return active() ? std::span<std::byte>(record_ + payload_offset_, payload_size_) : std::span<std::byte>();
  }
  // The record's sequence (fixed at the claim).
  std::uint64_t sequence() const noexcept { return seq_; }
  // Not committed or abandoned yet.
  bool active() const noexcept { return topic_ != nullptr; }

  // Computes the record's CRC over the bytes as they are in the log and
  // makes it visible; returns its sequence. On a kSync topic, returns once
  // it is durable (as publish()). kInvalidArgument when not active().
  Result<std::uint64_t> commit() noexcept;
  // commit() that does not wait for the disk: await_durable(seq) after.
  Result<std::uint64_t> commit_nowait() noexcept;
  // Turns the claim into a skip record now. Nothing when not active().
  void abandon() noexcept;

 private:
  friend class detail::TopicCore;
  void take(Claim& other) noexcept {
    topic_ = other.topic_;
    segment_ = other.segment_;
    record_ = other.record_;
    word_ = other.word_;
    payload_offset_ = other.payload_offset_;
    payload_size_ = other.payload_size_;
    slot_ = other.slot_;
    seq_ = other.seq_;
    other.topic_ = nullptr;
  }
  Topic* topic_ = nullptr;   // null: not active
  void* segment_ = nullptr;  // the segment written into (the topic keeps it mapped)
  std::byte* record_ = nullptr;
  std::uint32_t word_ = 0;  // the length word to commit
  std::uint32_t payload_offset_ = 0;
  std::uint32_t payload_size_ = 0;  // a record is under 512 MiB
  std::uint32_t slot_ = 0;          // its entry in the topic's table of open claims
  std::uint64_t seq_ = 0;
};

}  // namespace conduit
