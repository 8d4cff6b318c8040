// A topic's clean-close record, TOPIC_DIR/clean: the shape of the log as a
// clean close left it, so that the next open can skip reading its records.
//
// Layout (little-endian; doc/log-format.md, "Clean-close record"):
//    0 magic "CNDTCLN1"   8 version u32 (1)   12 segment count u32
//   16 generation u64: the control file's generation of the engine that closed
//   24 durable u64: the control file's durable watermark at that close
//   32 per segment, 40 bytes: first sequence u64, records u64,
//      end offset u64 (where the next record goes; the capacity when full),
//      capacity u64, flags u32 (bit 0: full, ends in padding), reserved u32
//   then CRC32C u32 of every byte before it.
//
// Thread safety: functions over values; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/disk_names.h"
#include "conduit/status.h"

namespace conduit::persistence {

struct CleanSegment {
  std::uint64_t first_seq = 0;
  std::uint64_t records = 0;
  std::uint64_t end_offset = 0;
  std::uint64_t capacity = 0;
  bool sealed = false;
};

struct CleanRecord {
  std::uint64_t generation = 0;
  std::uint64_t durable = 0;
  std::vector<CleanSegment> segments;  // oldest first
};

using disk::kCleanRecordName;  // TOPIC/clean

std::string encode_clean_record(const CleanRecord& r);
// kCorruption naming `path` when the bytes are not an intact record;
// kUnsupported for an unknown version.
Result<CleanRecord> decode_clean_record(std::string_view bytes, const std::string& path);

}  // namespace conduit::persistence
