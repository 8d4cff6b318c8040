#include "persistence/segment_follower.h"

#include <unistd.h>

#include <algorithm>

namespace conduit::persistence {

Result<SegmentFollower::Found> SegmentFollower::open(std::uint64_t pos) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto listed = list_segments(dir_);
    if (!listed.ok()) return listed.status();
    const auto& files = *listed;
    auto it = files.end();
    if (seg_ && finished_) {
      // seg_ is read to its end: the next segment starts at end_, or
      // retention deleted it and the oldest one left starts later. Never
      // seg_ itself: a segment whose padding comes first starts at end_ too.
      const std::uint64_t done = seg_->first_seq();
      it = std::find_if(files.begin(), files.end(), [&](const auto& f) { return f.first >= end_ && f.first > done; });
      if (it == files.end()) return Found{};  // the roll has not created it yet
    } else {
      it = std::upper_bound(files.begin(), files.end(), pos,
                            [](std::uint64_t seq, const auto& f) { return seq < f.first; });
      if (it != files.begin()) --it;
      if (it == files.end()) return Found{};  // no segment yet
    }
    if (it->first > pos) return Found{Found::kGap, it->first};
    const bool newest = std::next(it) == files.end();
    auto f = SegmentFile::open(it->second, false);
    if (!f.ok()) {
      if (::access(it->second.c_str(), F_OK) != 0) continue;  // deleted since the listing: look again
      // A roll renames a zero-filled spare, then writes the header: not
      // written yet, or caught half written, is not an error yet.
      if (newest && bad_newest_ == BadNewest::kWait) return Found{};
      if (newest && f.status().code() == Code::kCorruption) {
        if (segment_header_is_zero(it->second)) return Found{};
        if (attempt < 3) {
          ::usleep(1000);
          continue;
        }
      }
      return f.status();
    }
    if ((*f)->first_seq() != it->first)
      return Status::Corruption(it->second + " offset 16: header says first sequence " +
                                std::to_string((*f)->first_seq()));
    seg_ = std::move(f).value();
    finished_ = false;
    return Found{Found::kOpened};
  }
  return Found{};  // files keep vanishing under us: retention is busy; next time
}

}  // namespace conduit::persistence
