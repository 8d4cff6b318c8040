// Who reads a topic, and the bounded publishes that name the reader a full
// ring waits for.
#include <chrono>

#include "engine/topic_core.h"
#include "engine/work_group_core.h"

namespace conduit {
namespace detail {

std::vector<ReaderInfo> TopicCore::readers() {
  std::vector<ReaderInfo> out;
  {
    std::lock_guard lk(mu_);
    for (const User& u : users_)
      if (u.reader != nullptr) out.push_back(u.reader->reader_info());
    for (const RetentionHolder* r : attached_) out.push_back(r->reader_info());
  }
  {
    std::lock_guard gl(groups_mu_);
    for (const auto& g : groups_) out.push_back(g->reader_info());
  }
  const std::uint64_t end = published();
  for (ReaderInfo& r : out) r.lag = end > r.position ? end - r.position : 0;
  return out;
}

std::vector<TopicCore::SubscriberSample> TopicCore::subscriber_samples() const {
  std::vector<SubscriberSample> out;
  std::lock_guard lk(mu_);
  for (const User& u : users_)
    if (u.reader != nullptr) out.push_back({u.reader, u.reader->reader_info(), u.reader->lost_count()});
  return out;
}

Status TopicCore::ring_full_locked(bool waited) const {
  // The holder furthest behind among those that keep the oldest segment.
  const std::uint64_t end = segments_.front()->end_seq();
  const RetentionHolder* behind = nullptr;
  for (const RetentionHolder* h : holders_)
    if (h->hold_position() < end && (behind == nullptr || h->hold_position() < behind->hold_position())) behind = h;
  std::string what = "topic '" + name_ + "': " + (waited ? "ring still full after the timeout" : "ring full") + " (" +
                     std::to_string(segments_.size()) + " segments of " + std::to_string(options_.segment_bytes) +
                     " bytes)";
  if (behind != nullptr) {
    const std::uint64_t at = behind->hold_position(), head = published();
    what += ": " + behind->describe() + " is " + std::to_string(head - at) + " records behind (at " +
            std::to_string(at) + ", published " + std::to_string(head) + ")";
  }
  return waited ? Status::TimedOut(std::move(what)) : Status::Busy(std::move(what));
}

namespace {

// Sets the calling thread's ring_wait_deadline for one publish.
class RingDeadline {
 public:
  explicit RingDeadline(std::chrono::steady_clock::time_point d) noexcept : before_(ring_wait_deadline) {
    ring_wait_deadline = d;
  }
  ~RingDeadline() { ring_wait_deadline = before_; }
  RingDeadline(const RingDeadline&) = delete;
  RingDeadline& operator=(const RingDeadline&) = delete;

 private:
  std::chrono::steady_clock::time_point before_;
};

}  // namespace
}  // namespace detail

Result<std::uint64_t> Topic::try_publish(const Message& message) noexcept {
  if (core_ == nullptr) return gone();
  detail::RingDeadline never(std::chrono::steady_clock::time_point::min());
  return core_->publish(message, /*nowait=*/true);
}

Result<std::uint64_t> Topic::publish(const Message& message, std::chrono::nanoseconds timeout) noexcept {
  if (core_ == nullptr) return gone();
  detail::RingDeadline until(detail::deadline_after(timeout));
  return core_->publish(message);
}

std::vector<ReaderInfo> Topic::readers() const {
  return core_ == nullptr ? std::vector<ReaderInfo>{} : core_->readers();
}

}  // namespace conduit
