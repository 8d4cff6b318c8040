// A work group's persisted state: its ack floor and, above the floor, the
// records already done (acked or dead-lettered) and the failed attempts of
// those not done yet. Encoded little-endian by encode(); the storage frames
// it with a magic and a CRC (persistence/file_storage.cpp, "state files").
//
// Layout of encode():  u64 floor | u32 count | count x entry
//   entry: u64 sequence | u32 failed attempts | u32 flags (1: done) | i64 first failure (ns)
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
  };
  std::uint64_t floor = 0;
  std::vector<Entry> entries;  // sorted by seq, each >= floor

  std::string encode() const;
  // `where` names the file in errors.
  static Result<GroupState> decode(std::string_view bytes, const std::string& where);
};

}  // namespace conduit::detail
