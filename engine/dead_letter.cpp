// Dead letters: a work group's failed record, republished with its envelope
// and the conduit.dlq.* headers to the group's dead-letter topic.
#include <string>
#include <vector>

#include "engine/envelope.h"
#include "engine/work_group_core.h"

namespace conduit::detail {
namespace {

constexpr std::size_t kMaxErrorBytes = 4096;

const char* failure_name(GroupCore::Failure f) noexcept {
  switch (f) {
    case GroupCore::Failure::kNack: return "nack";
    case GroupCore::Failure::kAckTimeout: return "ack-timeout";
    case GroupCore::Failure::kError: return "error";
    case GroupCore::Failure::kRejected: return "rejected";
  }
  return "unknown";
}

}  // namespace

bool dead_letters_possible(const WorkGroupOptions& o) noexcept {
  return o.max_attempts != 0 || o.on_failure == WorkGroupOptions::OnFailure::kDeadLetter ||
         !o.dead_letter_topic.empty();
}

Result<Topic*> open_dead_letter_topic(TopicCore& source, const WorkGroupOptions& o) {
  const std::string name = o.dead_letter_topic.empty() ? source.name() + ".dlq" : o.dead_letter_topic;
  Engine* engine = source.shared().engine;
  TopicOptions options = source.options();
  options.single_producer = false;  // every consumer of the group may publish to it
  Result<Topic*> t = engine->create_topic(name, options);
  if (!t.ok() && t.status().code() == Code::kAlreadyExists) t = engine->topic(name);
  if (t.ok() || t.status().code() != Code::kInvalidArgument) return t;
  return Status::InvalidArgument("dead-letter topic '" + name + "': " + t.status().message());
}

Topic* GroupCore::dead_letter_topic() noexcept {
  std::lock_guard lk(dlq_mu_);
  if (dlq_ != nullptr) return dlq_;
  Result<Topic*> t = open_dead_letter_topic(*topic_, options_);
  if (t.ok()) return dlq_ = *t;
  if (!dlq_said_) {
    dlq_said_ = true;
    topic_->shared().say(LogLevel::kError, "work group '" + name_ + "' of topic '" + topic_->name() +
                                               "': dead-letter topic: " + t.status().to_string() +
                                               "; records stay in the group");
  }
  return nullptr;
}

bool GroupCore::send_dead_letter(const Failed& f, std::string_view error) noexcept {
  Topic* dlq = dead_letter_topic();
  if (dlq == nullptr) return false;
  // The floor holds the record: its segment is still in the topic, unless
  // the hard cap took it (then carry_out() finds the slot taken too).
  std::uint64_t lost = 0;
  const std::uint64_t seq = f.seq;
  auto seg = topic_->segment_for(seq, &lost);
  if (!seg || lost != 0) return false;
  const RecordView v(seg->base() + seg->offset_of(seq - seg->first_seq()));
  // From the failure, not the slot: the slot is not this thread's while it sends.
  const std::string attempts = std::to_string(f.attempt);
  const std::string first = std::to_string(f.first_failure);
  const std::string last_time = std::to_string(f.now), sequence = std::to_string(seq);

  std::vector<Header> headers;
  headers.reserve(v.header_count() + 9);
  for (std::size_t k = 0; k < v.header_count(); ++k) headers.push_back(v.header(k));
  headers.push_back({dlq_header::kReason, f.reason});
  headers.push_back({dlq_header::kLastFailure, failure_name(f.why)});
  if (!error.empty()) headers.push_back({dlq_header::kError, error.substr(0, kMaxErrorBytes)});
  headers.push_back({dlq_header::kAttempts, attempts});
  headers.push_back({dlq_header::kTopic, topic_->name()});
  headers.push_back({dlq_header::kGroup, name_});
  headers.push_back({dlq_header::kSequence, sequence});
  headers.push_back({dlq_header::kFirstFailure, first});
  headers.push_back({dlq_header::kLastFailureTime, last_time});

  const Message m = republish_message(v, headers);
  Result<std::uint64_t> r = dlq->publish(m);
  if (!r.ok() && r.status().code() == Code::kNotFound) {
    // The dead-letter topic was deleted (Engine::delete_topic): look it up,
    // or create it, again.
    {
      std::lock_guard lk(dlq_mu_);
      if (dlq_ == dlq) dlq_ = nullptr;
    }
    if (Topic* again = dead_letter_topic(); again != nullptr) r = again->publish(m);
  }
  if (!r.ok()) {
    std::lock_guard lk(dlq_mu_);
    if (!dlq_said_) {
      dlq_said_ = true;
      topic_->shared().say(LogLevel::kError, "work group '" + name_ + "': dead letter of sequence " +
                                                 std::to_string(seq) + ": " + r.status().to_string() +
                                                 "; it stays in the group");
    }
    return false;
  }
  dead_lettered_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  return true;
}

}  // namespace conduit::detail
