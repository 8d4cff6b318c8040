// A persisted topic's options, TOPIC_DIR/options: what the topic was
// created with, so that an engine opened on the directory later can open
// the topic by name (Engine::topic) and hold create_topic to the same
// options.
//
// Layout (little-endian; doc/log-format.md, "Options file"):
//    0 magic "CNDTOPT1"   8 version u32 (1)   12 durability u32 (1 async, 2 sync)
//   16 segment_bytes u64  24 max_payload_bytes u64  32 retain_bytes u64
//   40 retain_age s i64   48 hard_cap_bytes u64     56 dedup.max_ids u64
//   64 dedup.max_age ns i64
//   72 flags u32 (bit 0 retain_until_consumed, bit 1 single_producer)
//   76 CRC32C u32 of bytes [0, 76)
// ring_bytes is not stored: a persisted topic has no ring.
//
// Thread safety: functions over values and files; no shared state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/disk_names.h"
#include "conduit/options.h"
#include "conduit/status.h"
#include "persistence/disk_io.h"

namespace conduit::persistence {

using disk::kOptionsFileName;  // TOPIC/options

std::string encode_topic_options(const TopicOptions& o);
// kCorruption naming `path` and the offset when the bytes are not an intact
// options file; kUnsupported for an unknown version.
Result<TopicOptions> decode_topic_options(std::string_view bytes, const std::string& path);

// Writes TOPIC_DIR/options whole (replace_file). Thread-safe.
Status store_topic_options(DiskIo& io, const std::string& topic_dir, const TopicOptions& o);
// The stored options; nullopt when the directory has no options file (a
// topic written by an older build), kCorruption as decode_topic_options.
Result<std::optional<TopicOptions>> load_topic_options(const std::string& topic_dir);

}  // namespace conduit::persistence
