// inspect::TopicReader: conduit/inspect.h's record-by-record reader, on the
// segment following it shares with LogReader (segment_follower.h).
#include <sys/stat.h>

#include <algorithm>

#include "common/disk_names.h"
#include "common/format.h"
#include "conduit/inspect.h"
#include "persistence/log_reader.h"
#include "persistence/segment_follower.h"

namespace conduit::inspect {

using persistence::RecordCheck;
using persistence::SegmentFollower;

struct TopicReader::State {
  explicit State(std::string topic_dir) : follower(std::move(topic_dir), SegmentFollower::BadNewest::kFail) {}
  SegmentFollower follower;
  std::uint64_t pos = 0;
  std::uint64_t index = 0;  // of the record at off in the open segment
  std::size_t off = 0;
};

Result<std::unique_ptr<TopicReader>> TopicReader::open(const std::string& data_dir, const std::string& topic) {
  std::string topic_dir = disk::topic_dir(data_dir, topic);
  struct stat st {};
  if (::stat(topic_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::NotFound(topic_dir + ": no such topic directory");
  return std::unique_ptr<TopicReader>(new TopicReader(std::make_unique<State>(std::move(topic_dir))));
}

TopicReader::TopicReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
TopicReader::~TopicReader() = default;

std::uint64_t TopicReader::position() const noexcept { return state_->pos; }

void TopicReader::seek(std::uint64_t seq) noexcept {
  state_->pos = seq;
  state_->follower.reset();
}

Result<TopicReader::Step> TopicReader::next() {
  State& s = *state_;
  for (;;) {
    const persistence::SegmentFile* seg = s.follower.segment();
    if (seg == nullptr) {
      auto found = s.follower.open(s.pos);
      if (!found.ok()) return found.status();
      if (found->kind == SegmentFollower::Found::kNotYet) return Step{};
      if (found->kind == SegmentFollower::Found::kGap) {
        Step gap;
        gap.kind = Step::kGap;
        gap.gap_from = s.pos;
        gap.gap_to = found->gap_to;
        seek(found->gap_to);
        return gap;
      }
      seg = s.follower.segment();
      s.index = 0;
      s.off = format::kSegmentHeaderSize;
    }
    const std::byte* base = seg->base();
    const std::size_t cap = seg->capacity();
    const std::uint64_t seq = seg->first_seq() + s.index;
    if (s.off >= cap) {
      s.pos = std::max(s.pos, seq);
      s.follower.finished(seq);  // the next segment starts here
      continue;
    }
    const RecordCheck c =
        persistence::check_record(base, cap, s.off, format::load_length(base + s.off), seq, seg->with_crc());
    switch (c.kind) {
      case RecordCheck::kEnd: return Step{};
      case RecordCheck::kPadding: s.off = cap; continue;
      case RecordCheck::kBad:
        return Status::Corruption(seg->path() + " offset " + std::to_string(s.off) + ": " + c.what + " (sequence " +
                                  std::to_string(seq) + ")");
      case RecordCheck::kRecord: break;
    }
    const std::size_t at = s.off;
    s.off += format::align_up(c.length);
    ++s.index;
    if (seq < s.pos) continue;  // walking up to the position asked for
    Step step;
    step.kind = c.skip ? Step::kSkip : Step::kRecord;
    if (!c.skip) step.record = RecordView(base + at);
    step.sequence = seq;
    step.file = seg->path();
    step.offset = at;
    s.pos = seq + 1;
    return step;
  }
}

}  // namespace conduit::inspect
