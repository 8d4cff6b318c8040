// A read-only cursor over a persisted topic's segment files, for readers
// outside the engine (conduit-log, other processes): each segment is opened
// O_RDONLY and mapped PROT_READ; the data directory's LOCK is never taken
// and nothing is written. It follows the log while an engine in another
// process appends to it (rolls included), reports records that retention
// deleted as a gap, and turns a record that fails its checks (length, CRC,
// sequence, fields: check_record) into kCorruption naming file and offset.
//
// Thread safety: one thread per TopicReader. The writer may be another
// process; a record is read only once its length word, loaded with acquire,
// is non-zero (the writer's commit, format.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "conduit/message.h"
#include "conduit/status.h"
#include "persistence/segment_file.h"

namespace conduit::persistence {

class TopicReader {
 public:
  // kNotFound when TOPIC_DIR is not a directory.
  static Result<std::unique_ptr<TopicReader>> open(std::string topic_dir);

  struct Step {
    enum Kind { kEnd, kRecord, kGap } kind = kEnd;
    RecordView record;           // kRecord: valid until next() is called again
    std::uint64_t gap_from = 0;  // kGap: records [gap_from, gap_to) are not in
    std::uint64_t gap_to = 0;    // the log any more (retention deleted them)
    std::string file;            // kRecord: the segment file and the record's
    std::size_t offset = 0;      // offset in it
  };
  // The record at position() (then position() moves past it), a gap before
  // it, or kEnd when the log has nothing there yet: call again to follow.
  Result<Step> next();
  // next() continues at `seq` (or at the gap before it).
  void seek(std::uint64_t seq) noexcept;
  std::uint64_t position() const noexcept { return pos_; }

 private:
  explicit TopicReader(std::string dir) : dir_(std::move(dir)) {}
  // Opens the segment that holds pos_; may report a gap or find nothing.
  Result<Step> open_segment();
  std::string dir_;
  std::uint64_t pos_ = 0;
  std::unique_ptr<SegmentFile> seg_;  // the segment being read, or none
  std::uint64_t index_ = 0;           // of the record at off_ in seg_
  std::size_t off_ = 0;
  bool sealed_ = false;               // seg_ ended; waiting for the next one
};

}  // namespace conduit::persistence
