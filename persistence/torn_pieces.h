// What recovery cuts off the end of a log is kept, never deleted: bytes
// after the log's intact end in its last segment, and segment files past a
// hole. They go to TOPIC_DIR/torn/, named so that a person can find them:
//   torn/G-NAME            a whole segment file, renamed there
//   torn/G-NAME.at-OFFSET  bytes OFFSET.. of segment NAME, copied there
// where G is the generation of the engine session that moved them (each
// open adds 1). Nothing there is ever read back by the engine.
//
// Thread safety: recovery only (one thread, before the topic is shared).
#pragma once

#include <cstdint>
#include <string>

#include "common/disk_names.h"
#include "common/log.h"
#include "conduit/status.h"
#include "persistence/segment_file.h"

namespace conduit::persistence {

using disk::kTornDirName;  // TOPIC/torn/

class TornPieces {
 public:
  TornPieces(std::string topic_dir, std::uint64_t generation, detail::LogSink log)
      : topic_dir_(std::move(topic_dir)), generation_(generation), log_(std::move(log)) {}

  // Copies the bytes of `seg` from `offset` to its last non-zero byte, if
  // any, into the torn directory (written and fdatasync'ed). The caller
  // zeroes them in the segment afterwards.
  Status copy_tail(const SegmentFile& seg, std::size_t offset);
  // Renames the segment file at `path` into the torn directory.
  Status move_file(const std::string& path);
  // Syncs the directories changed, and names what moved (a warning through
  // the log sink), once.
  Status finish(std::uint64_t log_end);

 private:
  Status ensure_dir();
  std::string target(const std::string& file_name) const;

  std::string topic_dir_;
  std::uint64_t generation_;
  detail::LogSink log_;  // EngineOptions::log
  std::string moved_;    // ", "-separated names, for the one message; empty: nothing moved
};

}  // namespace conduit::persistence
