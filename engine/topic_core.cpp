#include "engine/topic_core.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "engine/topic_core_internal.h"
#include "engine/topic_options.h"
#include "engine/work_group_core.h"
#include "common/format.h"

namespace conduit::detail {
namespace {

constexpr std::size_t kMinSegmentBytes = 64u << 10;
constexpr std::size_t kMaxSegmentBytes = 512u << 20;  // keeps a segment's record count within 24 bits
constexpr std::size_t kMaxPayloadLimit = 256u << 20;

}  // namespace

Result<std::unique_ptr<TopicCore>> TopicCore::make(std::string name, TopicOptions options,
                                                   std::unique_ptr<TopicStorage> storage, TopicShared* shared) {
  if (options.max_payload_bytes > kMaxPayloadLimit)
    return Status::InvalidArgument(topic_error(name, "max_payload_bytes above 256 MiB"));
  options = normalized_options(options);
  const std::size_t largest_record =
      format::align_up(format::kRecordHeaderSize + kMaxEnvelopeBytes + options.max_payload_bytes);
  if (options.dedup.max_ids > (1u << 24) || options.dedup.max_age.count() < 0)
    return Status::InvalidArgument(
        topic_error(name, "dedup.max_ids must be at most 2^24 and dedup.max_age not negative"));
  if (options.durability == Durability::kMemory && (options.retain_until_consumed || options.hard_cap_bytes != 0))
    return Status::InvalidArgument(
        topic_error(name, "retain_until_consumed and hard_cap_bytes need a persisted topic"));
  if (options.hard_cap_bytes != 0 && options.hard_cap_bytes < 2 * options.segment_bytes)
    return Status::InvalidArgument(
        topic_error(name, "hard_cap_bytes must be at least two segments (2 * segment_bytes)"));
  if (options.segment_bytes < kMinSegmentBytes || options.segment_bytes > kMaxSegmentBytes)
    return Status::InvalidArgument(topic_error(name, "segment_bytes must be within 64 KiB .. 512 MiB"));
  if (options.segment_bytes < format::kSegmentHeaderSize + 2 * largest_record)
    return Status::InvalidArgument(
        topic_error(name, "segment_bytes must hold two of the largest records (2 * (max_payload_bytes + 64 KiB))"));
  std::unique_ptr<TopicCore> t(new TopicCore(std::move(name), options, std::move(storage), shared));
  if (Status s = t->start(); !s.ok()) return s;
  return t;
}

TopicCore::TopicCore(std::string name, TopicOptions options, std::unique_ptr<TopicStorage> storage, TopicShared* shared)
    : name_(std::move(name)),
      options_(options),
      storage_(std::move(storage)),
      shared_(shared),
      crc_(storage_->records_have_crc()),
      sync_(options.durability == Durability::kSync),
      single_(options.single_producer && process_barrier_available()),
      ring_segments_(
          options.durability == Durability::kMemory
              ? std::max<std::size_t>(2, (options.ring_bytes + options.segment_bytes - 1) / options.segment_bytes)
              : 0),
      remote_readers_(storage_->remote_readers()),
      handle_(new Topic(this, name_, options)),
      dedup_(options.dedup.max_ids != 0 ? std::make_unique<DedupWindow>(options.dedup) : nullptr),
      // Persisted topics, and memory-only ones shared with other processes
      // (TopicOptions::shared; doc/ipc.md).
      claim_(remote_readers_ != nullptr || (options.durability == Durability::kMemory && options.shared)
                 ? make_claim_block(&claim_fd_)
                 : nullptr),
      readers_(claim_ != nullptr ? &claim_->readers_epoch : local_lot_.epoch(),
               claim_ != nullptr ? &claim_->readers_parked : local_lot_.parked()) {
  if (single_) claims_.reserve_sole();
  std::string why;
  if (options.single_producer && !process_barrier_available(&why))
    shared_->say(LogLevel::kWarning, "topic '" + name_ + "': membarrier(2) refused (" + why +
                                         "): single_producer claims with a locked add");
}

TopicCore::~TopicCore() {
  // The storage's final sync reads our watermarks: run it while the segments
  // are still here (members declared after storage_ are destroyed first).
  // A no-op after close_storage(), which the engine calls on close.
  (void)storage_->close();
  // Topic* handles may outlive the engine: the shell answers kClosed.
  handle_->core_ = nullptr;
  keep_forever(handle_);
  // Claims still open may write into their segments until they end.
  claims_.for_each_unended(
      [](ClaimTable::Slot& o) { keep_forever(o.kept != nullptr ? std::move(o.kept) : o.seg->shared_from_this()); });
  if (claim_ != nullptr) {
    ::munmap(claim_, sizeof(ClaimBlock));
    ::close(claim_fd_);
  }
}

TopicStats TopicCore::stats() const noexcept {
  TopicStats st;
  st.published = published();
  const std::uint64_t abandoned = pub_abandoned();  // before mu_: pub_mu_ is never held with another lock
  std::lock_guard lk(mu_);
  st.earliest = segments_.empty() ? st.published : segments_.front()->first_seq();
  st.segments = segments_.size();
  st.cap_deletions = cap_deletions_;
  st.cap_lost_records = cap_lost_records_;
  st.skipped = skipped_.load(std::memory_order_relaxed) + abandoned;  // relaxed: a statistic
  st.retention_deletions = retention_deletions_;
  return st;
}

std::optional<std::int64_t> TopicCore::timestamp_of(std::uint64_t seq) const {
  std::lock_guard lk(mu_);
  for (const auto& seg : segments_) {
    if (seq < seg->first_seq()) return std::nullopt;  // dropped
    const std::uint64_t end = seg->end_seq();
    if (end != kNotSealed && seq >= end) continue;
    Segment& s = *seg;
    const std::uint64_t i = seq - s.first_seq();
    s.index_for_readers();
    // An unchecked record's stamp is not trusted: its reader checks it first.
    if (s.unchecked_record(i)) return std::nullopt;
    const std::uint32_t off = s.offset_of(i);
    if (off == 0) return std::nullopt;  // not committed yet
    return format::load<std::int64_t>(s.base() + off + format::rec::kTimestamp);
  }
  return std::nullopt;
}

std::uint64_t TopicCore::first_at_or_after_locked(std::int64_t time_ns) const {
  auto record_ts = [](const Segment& s, std::uint64_t i) {
    return format::load<std::int64_t>(s.base() + s.offset_of(i) + format::rec::kTimestamp);
  };
  // A segment's first record sits right after its header: no index needed.
  auto first_ts = [](const Segment& s) {
    return format::load<std::int64_t>(s.base() + format::kSegmentHeaderSize + format::rec::kTimestamp);
  };
  auto committed = [&](const Segment& s) -> std::uint64_t {
    const std::uint64_t sealed = s.sealed_count();
    if (sealed != kNotSealed) return sealed;
    std::uint64_t n = 0;  // the head: count committed records from the index
    while (n < s.max_records() && s.offset_of(n) != 0) ++n;
    return n;
  };
  // The last segment whose first record is stamped before `time_ns`...
  std::size_t lo = 0, hi = segments_.size();
  while (hi - lo > 1) {
    const std::size_t mid = (lo + hi) / 2;
    if (committed(*segments_[mid]) != 0 && first_ts(*segments_[mid]) < time_ns)
      lo = mid;
    else
      hi = mid;
  }
  // ...then the first record in it stamped at or after. Only that segment
  // needs its index (a recovered one gets it now; an unchecked one as its
  // records are checked, all of them here). Only checked records' stamps
  // count: a bad record ends the search, and the reader starting there
  // gets its error.
  Segment& s = *segments_[lo];
  s.index_for_readers();
  const std::uint64_t good = s.check_all();
  std::uint64_t a = 0, b = std::min(committed(s), good);
  while (a < b) {
    const std::uint64_t mid = (a + b) / 2;
    if (record_ts(s, mid) < time_ns)
      a = mid + 1;
    else
      b = mid;
  }
  return s.first_seq() + a;
}

std::uint64_t TopicCore::earliest() const noexcept {
  std::lock_guard lk(mu_);
  if (segments_.empty()) return published();  // deleted
  return segments_.front()->first_seq();
}

std::shared_ptr<Segment> TopicCore::segment_for(std::uint64_t seq, std::uint64_t* lost) const {
  std::lock_guard lk(mu_);
  *lost = 0;
  const auto& front = segments_.front();
  if (seq < front->first_seq()) {
    *lost = front->first_seq() - seq;
    // A segment recovered at open is indexed when a reader first needs it,
    // on this path too: else the reader waits at its first record forever.
    front->index_for_readers();
    return Segment::pin(front);
  }
  auto it = std::upper_bound(segments_.begin(), segments_.end(), seq,
                             [](std::uint64_t s, const std::shared_ptr<Segment>& g) { return s < g->first_seq(); });
  const auto& s = *(it - 1);
  if (seq >= s->end_seq()) return nullptr;  // sealed, and the next one is not there yet
  s->index_for_readers();
  return Segment::pin(s);
}

std::uint64_t TopicCore::attach(StartAt at, RetentionHolder* h) {
  std::lock_guard lk(mu_);
  std::uint64_t start = at.sequence;
  if (at.kind == StartAt::Kind::kEarliest) start = segments_.front()->first_seq();
  if (at.kind == StartAt::Kind::kLatest) start = claimed_locked();
  if (at.kind == StartAt::Kind::kTime) start = first_at_or_after_locked(at.time_ns);
  if (h != nullptr) {
    h->start_at(start);
    holders_.push_back(h);
  }
  return start;
}

void TopicCore::remove_holder(RetentionHolder* h) {
  {
    std::lock_guard lk(mu_);
    std::erase(holders_, h);
  }
  space_.wake_all();
}

void TopicCore::list_attached(const RetentionHolder* r) {
  std::lock_guard lk(mu_);
  attached_.push_back(r);
}

void TopicCore::unlist_attached(const RetentionHolder* r) {
  std::lock_guard lk(mu_);
  std::erase(attached_, r);
}

Status TopicCore::add_user(HandleLife* life, const RetentionHolder* reader) {
  std::lock_guard lk(mu_);
  if (deleted()) return Status::NotFound(topic_error(name_, "was deleted"));
  users_.push_back({life, reader});
  life->topic = this;
  return Status::OK();
}

void TopicCore::remove_user(HandleLife* life) {
  std::lock_guard lk(mu_);
  std::erase_if(users_, [life](const User& u) { return u.life == life; });
}

}  // namespace conduit::detail
