#include "engine/shm_reader.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/format.h"

namespace conduit::detail {
namespace {

// What LogReaderOptions::park_timeout is by default: a missed wake-up costs at most this.
constexpr std::chrono::microseconds kParkTimeout{500};

}  // namespace

Result<std::unique_ptr<ShmReader>> ShmReader::open(IpcConnection& conn, std::string topic, int block_fd, int slot_fd,
                                                   std::uint64_t start, WaitStrategy wait) {
  std::unique_ptr<ShmReader> r(new ShmReader(conn, topic, wait));
  auto slot = PassedReaderSlot::map(slot_fd, "the reader slot of topic '" + topic + "'");
  if (!slot.ok()) {
    if (block_fd >= 0) ::close(block_fd);
    return slot.status();
  }
  r->slot_ = std::move(slot).value();
  auto block = map_passed(block_fd, sizeof(ClaimBlock), "the claim block of topic '" + topic + "'");
  if (!block.ok()) return block.status();
  r->block_ = reinterpret_cast<ClaimBlock*>(*block);
  r->block_bytes_ = sizeof(ClaimBlock);
  if (r->block_->magic != kClaimBlockMagic || r->block_->slots != kClaimSlots)
    return Status::Corruption("topic '" + topic + "': the owner's claim block is not one this build knows");
  r->lot_ = std::make_unique<SharedParkingLot>(&r->block_->readers_epoch, &r->block_->readers_parked);
  r->pos_ = start;
  return r;
}

ShmReader::~ShmReader() {
  if (block_ != nullptr) ::munmap(block_, block_bytes_);
}

std::uint64_t ShmReader::head_first() const noexcept {
  // Acquire pairs with the owner's release store of the head index
  // (TopicCore::set_head_locked): the slot's first sequence, stored before, is seen.
  const std::uint32_t h = block_->head.load(std::memory_order_acquire);
  // Relaxed: ordered by the acquire above.
  return h < kClaimSlots ? block_->slot[h].first_seq.load(std::memory_order_relaxed) : kNotSealed;
}

std::uint64_t ShmReader::claimed() const noexcept {
  for (;;) {
    // Acquire pairs with the owner's release store of the head index
    // (TopicCore::set_head_locked), made after the slot's reset.
    const std::uint32_t h = block_->head.load(std::memory_order_acquire);
    if (h >= kClaimSlots) return 0;
    const AppendSlot& slot = block_->slot[h];
    // Acquire pairs with the release of the slot's reset to a new segment:
    // the first sequence stored before it is seen with it (relaxed).
    const std::uint64_t tail = slot.tail.load(std::memory_order_acquire);
    const std::uint64_t first = slot.first_seq.load(std::memory_order_relaxed);
    // The same head again: the slot was not given a new segment in
    // between, so tail and first sequence belong together. Acquire as above.
    if (block_->head.load(std::memory_order_acquire) == h)
      return std::min(first + (tail >> kTailOffsetBits), end_.load(std::memory_order_relaxed));
  }
}

Status ShmReader::next_segment(std::uint64_t* lost) {
  *lost = 0;
  seg_.reset();
  off_ = 0;
  // Read before asking: a head that moves after the answer wakes us again.
  const std::uint64_t head = head_first();
  ipc::Writer req(ipc::Op::kShmSegment);
  req.put(pos_);
  int fds[2] = {-1, -1};
  auto reply = conn_.call_fds(req, fds);
  if (!reply.ok()) return reply.status();
  ipc::Reader rd(*reply);
  Status s = rd.status();
  const auto first = rd.get<std::uint64_t>();
  const auto gap = rd.get<std::uint64_t>();
  const auto capacity = rd.get<std::uint64_t>();
  if (!s.ok() || !rd.ok() || first == ipc::kNoSegment) {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
    if (s.code() == Code::kClosed) {  // the engine's close: its claims stopped at pos_
      closed_ = true;
      end_.store(pos_, std::memory_order_relaxed);  // relaxed: see the member
      return Status::OK();
    }
    if (!s.ok()) return s;
    if (!rd.ok()) return Status::Corruption("topic '" + topic_ + "': a short segment reply from the owner");
    asked_at_head_ = head;
    return Status::OK();
  }
  const std::string what = "topic '" + topic_ + "': the memory segment from " + std::to_string(first);
  auto seg = maps_.map(fds[0], fds[1], capacity, what);
  if (!seg.ok()) return seg.status();
  // The head sealed before pos_ fit, and the next one is not there yet
  // (TopicCore::segment_for hands out the head then). Acquire pairs with
  // the release in Segment::seal().
  const std::uint64_t sealed = Segment::sealed_mirror((*seg)->index_map).load(std::memory_order_acquire);
  if (gap == 0 && sealed != kNotSealed && pos_ == first + sealed) {
    asked_at_head_ = head;
    return Status::OK();
  }
  // Else it holds pos_, or (a loss) starts right after the gap.
  if (pos_ + gap < first || (sealed != kNotSealed && pos_ + gap > first + sealed) || (gap != 0 && pos_ + gap != first))
    return Status::Corruption(what + ": the owner handed it out for position " + std::to_string(pos_) + " (" +
                              std::to_string(gap) + " lost)");
  seg_ = std::move(seg).value();
  capacity_ = seg_->capacity;
  first_ = first;
  *lost = gap;
  pos_ += gap;
  asked_at_head_ = kNotSealed;
  return Status::OK();
}

Result<PollResult> ShmReader::try_poll(std::span<RecordView> out) {
  PollResult r;
  while (r.count < out.size()) {
    if (!seg_) {
      // Only with nothing read yet: the views so far lie in the segment
      // held until this request (see the top of shm_reader.h).
      if (r.count != 0 || r.lost != 0 || closed_) break;
      if (asked_at_head_ != kNotSealed && head_first() == asked_at_head_) break;  // nothing new since
      std::uint64_t gap = 0;
      if (Status s = next_segment(&gap); !s.ok()) {
        if (r.count == 0 && r.lost == 0) return s;
        break;
      }
      if (!seg_) break;
      r.lost += gap;
      lost_ += gap;
      if (gap != 0) break;  // the loss first, the records after it next time
    }
    const std::uint64_t i = pos_ - first_;
    if (off_ == 0) {
      // Acquire pairs with the publisher's release of the entry: the record is committed.
      off_ = i < seg_->max_records() ? seg_->index()[i].load(std::memory_order_acquire) : 0;
      if (off_ == 0) {
        // Acquire pairs with the release in Segment::seal().
        const std::uint64_t sealed = Segment::sealed_mirror(seg_->index_map).load(std::memory_order_acquire);
        if (sealed == kNotSealed || i < sealed) break;  // not published yet
        seg_.reset();                                   // pos_ is the next segment's first
        continue;
      }
    }
    const std::byte* p = seg_->base + off_;
    // Acquire pairs with commit_length()'s release: the record's bytes are there.
    const std::uint32_t len = off_ < seg_->capacity ? format::load_length(p) : format::kPaddingFlag;
    if (len == 0) break;
    const std::size_t size = format::align_up(len & format::kLengthMask);
    if ((len & format::kPaddingFlag) == 0 && (size < format::kRecordHeaderSize || off_ + size > seg_->capacity ||
                                              (!format::is_skip(len) && RecordView(p).sequence() != pos_)))
      return Status::Corruption("topic '" + topic_ + "': the memory segment from " + std::to_string(first_) +
                                " offset " + std::to_string(off_) + ": not record " + std::to_string(pos_) +
                                " (length word " + std::to_string(len) + ")");
    if (len & format::kPaddingFlag) {
      if (r.count != 0) break;  // one poll's views lie in one segment
      seg_.reset();
      off_ = 0;
      store_position();
      continue;
    }
    off_ += static_cast<std::uint32_t>(size);
    ++pos_;
    if (format::is_skip(len)) {
      ++r.skipped;  // an abandoned claim: its sequence is used, nothing goes out
      continue;
    }
    out[r.count++] = RecordView(p);
  }
  r.closed = closed_;
  store_position();
  return r;
}

void ShmReader::look_for_close() noexcept {
  if (closed_) return;
  // Acquire as in claimed(): the slot's tail since its reset.
  const std::uint32_t h = block_->head.load(std::memory_order_acquire);
  if (h >= kClaimSlots) return;
  const std::uint64_t tail = block_->slot[h].tail.load(std::memory_order_acquire);
  // Within its segment: claims go on. Past it: a claim crossed (its roll
  // may be waiting for ring space) or the claims stopped; only the owner
  // knows which, so the next poll asks it for the segment at pos_ (the
  // one being read, if claims go on: nothing read is lost).
  if (capacity_ != 0 && (tail & kTailOffsetMask) <= capacity_) return;
  seg_.reset();
  off_ = 0;
  asked_at_head_ = kNotSealed;
}

bool ShmReader::ready() const noexcept {
  if (closed_) return false;
  if (!seg_) return asked_at_head_ == kNotSealed || head_first() != asked_at_head_;
  const std::uint64_t i = pos_ - first_;
  // Acquire, each pairing as in try_poll() (the entry's, the seal's and
  // the length word's release).
  if (off_ == 0)
    return (i < seg_->max_records() && seg_->index()[i].load(std::memory_order_acquire) != 0) ||
           Segment::sealed_mirror(seg_->index_map).load(std::memory_order_acquire) != kNotSealed;
  return off_ >= seg_->capacity || format::load_length(seg_->base + off_) != 0;
}

Result<PollResult> ShmReader::poll(std::span<RecordView> out, std::chrono::nanoseconds timeout) {
  auto r = try_poll(out);
  if (!r.ok() || r->count != 0 || r->lost != 0 || r->closed) return r;
  std::uint64_t skipped = r->skipped;
  Backoff<SharedParkingLot> backoff(wait_, *lot_, kParkTimeout, deadline_after(timeout));
  while (backoff.idle([&] { return ready(); })) {
    r = try_poll(out);
    if (r.ok()) r->skipped = skipped += r->skipped;
    if (!r.ok() || r->count != 0 || r->lost != 0 || r->closed) return r;
  }
  return r;
}

}  // namespace conduit::detail
