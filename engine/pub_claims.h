// An attached publisher's claims, named where the owner can find them
// (doc/ipc.md, "A publisher that dies mid-claim"): a memfd per attached
// topic handle, made by the owner (kPubClaims) and mapped by both. When the
// publisher's connection closes, the owner ends every claim still named
// there: the records it committed stay, the rest become skip records.
//
// Thread safety
//   A publisher thread takes a slot for one claim (PubClaimSlots::take,
//   a process-local bitmap), and is its only writer until it frees it:
//     head and add (relaxed), state = kClaiming (seq_cst), the tail's
//     fetch_add (seq_cst), then tail and first_seq (relaxed), then the
//     compare-and-swap kClaiming -> kClaimed (release), the records, and
//     state = kFree (release).
//   The owner reads a slot with an acquire load of state (pairs with the
//   release stores above); while the publisher lives it only ever changes
//   kClaiming to kRevoked (compare-and-swap), which the publisher's own
//   compare-and-swap then finds: it writes nothing, stores
//   kRevokedNamed (release; the owner ends that claim) and returns
//   kTimedOut. The mark, the tail's add, the owner's snapshot of the tail
//   when a stall begins and its revoking compare-and-swap are seq_cst: a
//   claim whose mark the owner did not see to revoke was added after that
//   snapshot, outside the room the owner skips.
//   After the publisher died the owner alone writes its slots.
//
//   A claim held open (AttachedClaim, conduit/attach.h) is named kHeld
//   instead of kClaimed (the same release compare-and-swap), and lives as
//   long as its holder wants. Its end is decided by one compare-and-swap
//   on state (acq_rel, both sides): its publisher's, kHeld -> kEnding
//   (then it commits or writes the skip record, and frees the slot as
//   above), or the owner's, kHeld -> kClosedBack or kDeletedBack when the
//   topic closes or is deleted (then the owner writes the skip record,
//   and the publisher, finding that state, writes nothing and frees the
//   slot with a relaxed store: the owner reads it no more). A holder's
//   abandons are counted in `abandoned` (relaxed, a statistic the owner
//   adds to TopicStats::skipped).
#pragma once

#include <atomic>
#include <cstdint>

namespace conduit::detail {

inline constexpr std::uint64_t kPubClaimsMagic = 0x314d4c43'42555043;  // "CPUBCLM1"
inline constexpr std::size_t kPubClaimSlots = 64;                      // one process's claims at once

enum PubClaimState : std::uint32_t {
  kPubFree = 0,
  // Between the mark and the name: the tail's add may have happened, and
  // nobody knows where its room is (an unnamed claim).
  kPubClaiming = 1,
  kPubClaimed = 2,  // tail, first_seq and add name the room
  kPubRevoked = 3,  // the owner gave up on an unnamed claim: its publisher writes nothing
  // Revoked, then named by its publisher (which returned kTimedOut): the
  // owner ends it as a dead one's, and the slot stays the owner's.
  kPubRevokedNamed = 4,
  // A claim held open by an AttachedClaim: named as kPubClaimed, written
  // only by its holder until it ends.
  kPubHeld = 5,
  kPubEnding = 6,       // its holder won the end: it commits or abandons it now
  kPubClosedBack = 7,   // the owner's close took it back (a skip record)
  kPubDeletedBack = 8,  // the topic's deletion did
};

struct alignas(64) PubClaim {
  std::atomic<std::uint32_t> state{kPubFree};
  std::atomic<std::uint32_t> head{0};       // the append slot claimed on (ClaimBlock::slot)
  std::atomic<std::uint64_t> add{0};        // added to its tail: records << kTailOffsetBits | bytes
  std::atomic<std::uint64_t> tail{0};       // what the add returned
  std::atomic<std::uint64_t> first_seq{0};  // the first sequence of that slot's segment
  // Held claims this slot's holders abandoned (skip records they wrote);
  // in the slot's padding, which an older owner neither reads nor sizes.
  std::atomic<std::uint64_t> abandoned{0};
};
static_assert(sizeof(PubClaim) == 64, "the slots' layout is shared with other builds");

struct PubClaimBlock {
  std::uint64_t magic = kPubClaimsMagic;
  PubClaim slot[kPubClaimSlots];
};

// The attached process's side: which slots its threads hold.
class PubClaimSlots {
 public:
  // A free slot for one claim, waiting while all are held (kPubClaimSlots
  // threads of this process publishing into one topic at once).
  std::size_t take() noexcept;
  // take() that does not wait: kPubClaimSlots when every slot is held.
  std::size_t try_take() noexcept;
  void give(std::size_t i) noexcept {
    // Release pairs with the acquire in take(): this thread's stores to the
    // slot come before the next holder's.
    held_.fetch_and(~(std::uint64_t{1} << i), std::memory_order_release);
  }

 private:
  static_assert(kPubClaimSlots == 64, "one bit per slot");
  std::atomic<std::uint64_t> held_{0};
};

}  // namespace conduit::detail
