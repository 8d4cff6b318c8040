#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "engine/ipc_publish.h"
#include "engine/topic_core.h"

namespace conduit::detail {
namespace {

bool send(int fd, const Status& s, int pass = -1) {
  ipc::Writer w;
  w.status(s);
  return ipc::send_packet_fd(fd, w.bytes(), s.ok() ? pass : -1);
}

bool gone(int fd) noexcept {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

Result<TopicCore*> shareable(const IpcServer::FindTopic& find, const std::string& name) {
  auto core = find(name);
  if (!core.ok()) return core.status();
  if (Status s = (*core)->shareable_for_publish(); !s.ok()) return s;
  return *core;
}

// kPubRoll's wait, read: when the roll gives up on a full ring (min(): at
// once, with kBusy).
std::chrono::steady_clock::time_point roll_deadline(ipc::Reader& r) {
  const auto ns = r.get<std::int64_t>();
  if (ns < 0) return std::chrono::steady_clock::time_point::min();
  return deadline_after(std::chrono::nanoseconds(ns));
}

}  // namespace

void PubSession::peer_gone(const std::atomic<bool>& stopping) noexcept {
  for (auto& [topic, block] : claims)
    if (topic->pub_claims_gone(block.get()))
      // Relaxed: a flag; the server's destructor joins this thread after.
      topic->unblock_dead_claims([&stopping] { return stopping.load(std::memory_order_relaxed); });
  claims.clear();
}

bool answer_publish(ipc::Op op, ipc::Reader& r, int fd, const IpcServer::FindTopic& find,
                    const std::atomic<bool>& stopping, PubSession& session) {
  const std::string name = r.str();
  if (!r.ok()) return send(fd, Status::InvalidArgument("a malformed publishing request")) && false;
  auto core = shareable(find, name);
  if (!core.ok()) return send(fd, core.status());
  TopicCore& t = **core;
  switch (op) {
    case ipc::Op::kPubOpen: {
      ipc::PubTopicInfo info;
      info.segment_bytes = t.options().segment_bytes;
      info.max_payload_bytes = t.options().max_payload_bytes;
      info.crc = t.storage().records_have_crc() ? 1 : 0;
      info.sync = t.options().durability == Durability::kSync ? 1 : 0;
      ipc::Writer w;
      w.status(Status::OK()).put(info).put(static_cast<std::uint8_t>(t.options().durability == Durability::kMemory));
      w.put(static_cast<std::uint8_t>(ipc::kPubBoundedRolls | ipc::kPubBoundedDurable | ipc::kPubHeldClaims));
      return ipc::send_packet_fd(fd, w.bytes(), t.claim_block_fd());
    }
    case ipc::Op::kPubSegment: {
      const auto first = r.get<std::uint64_t>();
      // Held while its descriptor goes out: the segment cannot go meanwhile.
      std::shared_ptr<Segment> seg = r.ok() ? t.claimable_segment(first) : nullptr;
      if (seg == nullptr)
        return send(fd, Status::NotFound("topic '" + name + "': no segment starting at " + std::to_string(first) +
                                         " takes claims"));
      ipc::Writer w;
      w.status(Status::OK()).put(static_cast<std::uint64_t>(seg->capacity()));
      // A memory-only segment's bytes are a memfd too (-1 otherwise: not sent).
      const int pass[2] = {seg->index_fd(), seg->memory().shared_fd()};
      return ipc::send_packet_fds(fd, w.bytes(), pass);
    }
    case ipc::Op::kPubRoll: {
      const auto slot = r.get<std::uint32_t>();
      auto tail = r.get<std::uint64_t>();
      // The bounded publishes' wait (AttachedTopic::try_publish and
      // publish with a timeout); an unbounded publish leaves it off.
      const auto until = r.at_end() ? std::chrono::steady_clock::time_point::max() : roll_deadline(r);
      if (!r.ok()) return send(fd, Status::InvalidArgument("a malformed roll request")) && false;
      // A memory-only ring held full by a blocking subscriber waits here:
      // in slices, looking between them whether the peer is gone or the
      // server stops (the engine's destruction joins this thread); a
      // bounded one fails as the in-process one does (kBusy, or kTimedOut
      // once `until` passed), naming the reader the ring waits for.
      using Clock = std::chrono::steady_clock;
      for (const auto before = ring_wait_deadline;;) {
        ring_wait_deadline =
            until == Clock::time_point::min() ? until : std::min(until, Clock::now() + IpcServer::kPollSlice);
        Status s = t.roll_for_remote(slot, tail);
        ring_wait_deadline = before;
        if (s.code() != Code::kTimedOut || Clock::now() >= until) return send(fd, s);
        // Relaxed: a flag; the server's destructor shuts the socket down too.
        if (gone(fd) || stopping.load(std::memory_order_relaxed)) return false;
        // The crossing claim is sealed already: the next round only rolls.
        tail |= kTailOffsetMask;
      }
    }
    case ipc::Op::kPubZero: {
      const auto first = r.get<std::uint64_t>();
      const auto end = r.get<std::uint64_t>();
      std::shared_ptr<Segment> seg = r.ok() ? t.claimable_segment(first) : nullptr;
      if (seg == nullptr || end > seg->capacity())
        return send(fd, Status::InvalidArgument("topic '" + name + "': a zeroing request outside any open segment"));
      seg->ensure_zeroed(end);
      return send(fd, Status::OK());
    }
    case ipc::Op::kPubClaims: {
      int claims_fd = -1;
      auto block = t.open_pub_claims(session.peer_pid, &claims_fd);
      if (!block.ok()) return send(fd, block.status());
      session.claims.emplace_back(&t, std::move(block).value());
      const bool sent = send(fd, Status::OK(), claims_fd);
      ::close(claims_fd);
      return sent;
    }
    case ipc::Op::kPubDurable: {
      const auto seq = r.get<std::uint64_t>();
      // AttachedTopic::await_durable's bound (< 0: look once); an unbounded
      // wait (a kSync publish) leaves it off.
      using Clock = std::chrono::steady_clock;
      const auto until = r.at_end() ? Clock::time_point::max()
                                    : deadline_after(std::chrono::nanoseconds(std::max<std::int64_t>(r.get<std::int64_t>(), 0)));
      if (!r.ok()) return send(fd, Status::InvalidArgument("a malformed durability request")) && false;
      // A sequence nobody claimed would be waited for until the peer went
      // (found by fuzz_ipc_wire): the peer asks only after its commit.
      if (const std::uint64_t bound = t.claim_bound(); seq >= bound)
        return send(fd, Status::InvalidArgument("topic '" + name + "': a durability wait for sequence " +
                                                std::to_string(seq) + ", which no claim has taken (claims end at " +
                                                std::to_string(bound) + ")"));
      for (;;) {
        // In slices, looking between them whether the peer is gone; the
        // last one ends at `until` (kTimedOut then, as in process).
        const auto slice = std::min(until, Clock::now() + IpcServer::kPollSlice);
        Status s = t.await_durable(seq, std::max<Clock::duration>(slice - Clock::now(), {}));
        if (s.code() != Code::kTimedOut || Clock::now() >= until) return send(fd, s);
        // Relaxed: a flag; the server's destructor shuts the socket down too.
        if (gone(fd) || stopping.load(std::memory_order_relaxed)) return false;
      }
    }
    default: break;
  }
  return send(fd, Status::InvalidArgument("not a publishing request")) && false;
}

}  // namespace conduit::detail
