// A work group's persisted state: its ack floor and, above the floor, the
// records already done (acked or dead-lettered) and the failed attempts of
// those not done yet. Encoded little-endian by encode(); the storage frames
// it with a magic and a CRC (persistence/file_storage.cpp, "state files").
//
// Layout of encode():  u64 floor | u32 count | count x entry | count x i64 not-before (ns)
//   entry: u64 sequence | u32 failed attempts | u32 flags (1: done) | i64 first failure (ns)
// The not-before times (a failed record's next delivery is not due before
// it, on the engine clock) were added after the first files were written:
// decode() also reads a file without them (then 0: due at once).
//
// Between two stored states, each change is also one journal entry
// (StateJournal, 32 bytes): u64 sequence | u32 failed attempts | u32 flags
// | i64 first failure | i64 not-before; merge() applies entries to a state.
//
// Thread safety: a value; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conduit/status.h"

namespace conduit::detail {

struct GroupState {
  struct Entry {
    std::uint64_t seq = 0;
    std::uint32_t failed_attempts = 0;  // deliveries of it that failed so far
    bool done = false;                  // acked or dead-lettered: never delivered again
    std::int64_t first_failure_ns = 0;
    std::int64_t not_before_ns = 0;  // failed: not delivered again before this time
  };
  std::uint64_t floor = 0;
  std::vector<Entry> entries;  // sorted by seq, each >= floor

  std::string encode() const;
  // `where` names the file in errors.
  static Result<GroupState> decode(std::string_view bytes, const std::string& where);

  // One journal entry (StateJournal::kEntryBytes) for `e`, into `out`.
  static void encode_entry(const Entry& e, std::byte* out) noexcept;
  // Applies journal entries (any order, repeats allowed): done wins over
  // failed, and of two failures the one with more attempts. Entries below
  // the floor are done already. Then the floor moves over done entries.
  // A corrupt entry was dropped by the journal's CRC; none fails here.
  void merge(const std::vector<std::string>& journal);
};

}  // namespace conduit::detail
