// Following a topic's segment files from outside the engine that writes
// them: which file holds a sequence, which file comes after one read to its
// end, and when a file is not there yet. The one implementation under both
// read-only readers: inspect::TopicReader (record by record, everything
// checked) and LogReader (batches of views, waiting, conduit/reader.h).
//
// Files are opened O_RDONLY and mapped PROT_READ. Retention may delete a
// file between the listing and the open: the follower looks again. The
// newest file may be a roll in progress (a zero-filled spare renamed before
// its header is written): that reads as "not there yet".
//
// Thread safety: one thread per SegmentFollower.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "conduit/status.h"
#include "persistence/segment_file.h"

namespace conduit::persistence {

class SegmentFollower {
 public:
  // What a newest file whose header does not check out (and is not all
  // zeros) means: kWait, a header still being written, so keep waiting;
  // kFail, after a few short retries, corruption.
  enum class BadNewest { kWait, kFail };
  SegmentFollower(std::string topic_dir, BadNewest bad_newest) : dir_(std::move(topic_dir)), bad_newest_(bad_newest) {}

  struct Found {
    enum Kind { kNotYet, kOpened, kGap } kind = kNotYet;
    std::uint64_t gap_to = 0;  // kGap: the next file starts here, past the position asked for
  };
  // Opens the segment to read `pos` from. With no segment open (or after
  // reset()): the last one starting at or before pos, or the oldest when
  // retention deleted pos. After finished(): the file that starts where the
  // segment read to its end stopped, or the next one retention left. kGap,
  // opening nothing, when that file starts after pos: the caller moves to
  // gap_to and asks again.
  Result<Found> open(std::uint64_t pos);
  // Marks the open segment as read to its end, `end` being the sequence
  // after its last record: the next open() moves on from there.
  void finished(std::uint64_t end) noexcept {
    finished_ = true;
    end_ = end;
  }
  // Forgets the open segment: the next open() looks pos up afresh.
  void reset() noexcept {
    seg_.reset();
    finished_ = false;
  }
  // The open segment; null before open() found one and after reset().
  // Null too (the old one kept for its first sequence) once finished().
  const SegmentFile* segment() const noexcept { return finished_ ? nullptr : seg_.get(); }

 private:
  std::string dir_;
  BadNewest bad_newest_;
  std::unique_ptr<SegmentFile> seg_;
  bool finished_ = false;
  std::uint64_t end_ = 0;  // after finished(): where the next segment starts
};

}  // namespace conduit::persistence
