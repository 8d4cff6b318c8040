#include "persistence/topic_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "persistence/format.h"
#include "persistence/log_reader.h"

namespace conduit::persistence {

Result<std::unique_ptr<TopicReader>> TopicReader::open(std::string topic_dir) {
  struct stat st {};
  if (::stat(topic_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::NotFound(topic_dir + ": no such topic directory");
  return std::unique_ptr<TopicReader>(new TopicReader(std::move(topic_dir)));
}

void TopicReader::seek(std::uint64_t seq) noexcept {
  pos_ = seq;
  seg_.reset();
  sealed_ = false;
}

Result<TopicReader::Step> TopicReader::open_segment() {
  // Retention may delete a file between the listing and the open: look again.
  for (int attempt = 0;; ++attempt) {
    auto listed = list_segments(dir_);
    if (!listed.ok()) return listed.status();
    const auto& files = *listed;
    auto it = files.begin();
    if (sealed_) {
      // seg_ is read to its end: the next segment starts at its end, or
      // retention deleted that one and the oldest one left starts later.
      const std::uint64_t end = seg_->first_seq() + index_;
      it = std::lower_bound(files.begin(), files.end(), end,
                            [](const auto& f, std::uint64_t seq) { return f.first < seq; });
      if (it != files.end() && it->first == seg_->first_seq()) ++it;  // seg_ itself, had it no records
      if (it == files.end()) return Step{};  // the roll has not created it yet
    } else {
      // The segment holding pos_: the last one that starts at or before it
      // (or the oldest, when retention deleted pos_).
      it = std::upper_bound(files.begin(), files.end(), pos_,
                            [](std::uint64_t seq, const auto& f) { return seq < f.first; });
      if (it != files.begin()) --it;
      if (it == files.end()) return Step{};  // no segment yet
    }
    if (it->first > pos_) {
      Step gap;
      gap.kind = Step::kGap;
      gap.gap_from = pos_;
      gap.gap_to = it->first;
      seek(it->first);
      return gap;
    }
    auto f = SegmentFile::open(it->second, false);
    if (!f.ok()) {
      if (::access(it->second.c_str(), F_OK) != 0 && attempt < 3) continue;  // deleted meanwhile
      // The newest segment's header is written just after its file appears
      // (a roll renames a zero-filled spare, then writes the header): a
      // header not there yet, or caught half written, is not an error yet.
      if (std::next(it) == files.end() && f.status().code() == Code::kCorruption) {
        if (segment_header_is_zero(it->second)) return Step{};
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
    index_ = 0;
    off_ = format::kSegmentHeaderSize;
    sealed_ = false;
    return Step{};
  }
}

Result<TopicReader::Step> TopicReader::next() {
  for (;;) {
    if (!seg_ || sealed_) {
      auto opened = open_segment();
      if (!opened.ok() || opened->kind == Step::kGap) return opened;
      if (!seg_ || sealed_) return Step{};  // nothing to read yet
    }
    const std::byte* base = seg_->base();
    const std::size_t cap = seg_->capacity();
    const std::uint64_t seq = seg_->first_seq() + index_;
    if (off_ >= cap) {
      sealed_ = true;  // open_segment() finds the next one from seg_'s end
      pos_ = std::max(pos_, seq);
      continue;
    }
    const RecordCheck c = check_record(base, cap, off_, format::load_length(base + off_), seq, seg_->with_crc());
    switch (c.kind) {
      case RecordCheck::kEnd:
        return Step{};
      case RecordCheck::kPadding:
        off_ = cap;
        continue;
      case RecordCheck::kBad:
        return Status::Corruption(seg_->path() + " offset " + std::to_string(off_) + ": " + c.what + " (sequence " +
                                  std::to_string(seq) + ")");
      case RecordCheck::kRecord:
        break;
    }
    const std::size_t at = off_;
    off_ += format::align_up(c.length);
    ++index_;
    if (seq < pos_) continue;  // walking up to the position asked for
    Step s;
    s.kind = Step::kRecord;
    s.record = RecordView(base + at);
    s.file = seg_->path();
    s.offset = at;
    pos_ = seq + 1;
    return s;
  }
}

}  // namespace conduit::persistence
