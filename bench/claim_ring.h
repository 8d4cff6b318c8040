// A bare claim ring: the least a log that publishers write in place can do
// per message, as a baseline for Topic::claim (engine_bench's
// BM_ClaimRing_1P1C). A claim is one fetch_add on the ring's tail (so any
// number of producers could claim), the producer writes its 64 bytes into
// the slot, and commit stores the slot's sequence (one u64 per slot, in an
// array of their own, as the LMAX Disruptor keeps them). The consumer reads
// slots in order while their sequence says they are written, then stores
// how far it has read, which is all a producer waits on to reuse a slot.
//
// What it leaves out, each of which a conduit record has: a length and a
// header per record, an index to find record n, records of any size,
// segments that roll and persist, a claim a dead or closing producer can
// give back, several readers with their own cursors, and waking a parked
// reader. So the ratio of conduit's claim to this ring is the price of
// those, and this ring's ratio to moodycamel bounds what any in-place claim
// design reaches on the machine.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "spin.h"

namespace conduit::bench {

class ClaimRing {
 public:
  struct alignas(64) Slot {
    std::array<unsigned char, 64> bytes;
  };

  // `slots`: a power of two.
  explicit ClaimRing(std::size_t slots)
      : slots_(new Slot[slots]), seqs_(new std::atomic<std::uint64_t>[slots]), size_(slots), mask_(slots - 1) {
    for (std::size_t i = 0; i < slots; ++i) seqs_[i].store(0, std::memory_order_relaxed);  // before any thread
  }

  // Claims the next slot, waiting while the consumer is a whole ring behind.
  // `seen` is the caller's copy of the consumer's position (one per producer).
  // `k` slots at once (a batch): the first of them.
  std::uint64_t claim(std::uint64_t& seen, std::uint64_t k = 1) noexcept {
    // Relaxed: the claim orders nothing; commit's release publishes the bytes.
    const std::uint64_t n = tail_.fetch_add(k, std::memory_order_relaxed);
    // Acquire pairs with the consumer's release in done(): its reads of the
    // slots finished before they are written again.
    while (n + k > seen + size_) {
      seen = head_.load(std::memory_order_acquire);
      if (n + k > seen + size_) cpu_relax();
    }
    return n;
  }
  unsigned char* bytes(std::uint64_t n) noexcept { return slots_[n & mask_].bytes.data(); }
  void commit(std::uint64_t n) noexcept {
    // Release pairs with the consumer's acquire in ready(): the bytes first.
    seqs_[n & mask_].store(n + 1, std::memory_order_release);
  }

  // Consumer: whether slot n is written (n + 1 is stored there this lap).
  bool ready(std::uint64_t n) const noexcept {
    return seqs_[n & mask_].load(std::memory_order_acquire) == n + 1;  // pairs with commit()
  }
  const unsigned char* read(std::uint64_t n) const noexcept { return slots_[n & mask_].bytes.data(); }
  // Every slot below `n` has been read: producers may reuse them.
  void done(std::uint64_t n) noexcept { head_.store(n, std::memory_order_release); }  // pairs with claim()

 private:
  std::unique_ptr<Slot[]> slots_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> seqs_;
  const std::uint64_t size_;
  const std::uint64_t mask_;
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // the next slot to claim
  alignas(64) std::atomic<std::uint64_t> head_{0};  // the consumer's position
};

}  // namespace conduit::bench
