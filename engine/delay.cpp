// Delayed delivery: the delay topic and its pump.
#include "conduit/delay.h"

#include <charconv>

#include "common/wait.h"
#include "engine/envelope.h"

namespace conduit {
namespace {

constexpr std::size_t kReadBatch = 64;
constexpr std::string_view kPumpCursor = "conduit.delay-pump";

// The record's due time; a record without a valid one is due at once (it
// came from someone who published to the delay topic directly).
std::int64_t due_of(const RecordView& r) {
  const auto v = r.find_header(kNotBeforeHeader);
  std::int64_t due = 0;
  if (!v || std::from_chars(v->data(), v->data() + v->size(), due).ec != std::errc{}) return 0;
  return due;
}

}  // namespace

Result<std::unique_ptr<DelayPump>> DelayPump::open(Engine& engine, Topic& target, DelayOptions options) {
  const std::string name = target.name() + ".delay";
  if (Status s = validate_topic_name(name); !s.ok())
    return Status::InvalidArgument("delay topic for '" + target.name() + "': " + s.message());
  auto delay = engine.create_topic(name, target.options());
  if (!delay.ok()) return delay.status();
  SubscriberOptions so;
  so.name = kPumpCursor;  // resumes from its committed position on a persisted topic
  so.start = StartAt::earliest();
  auto cursor = (*delay)->subscribe(so);
  if (!cursor.ok()) return cursor.status();
  // No clock of its own: the engine's (EngineOptions::clock, or the wall clock).
  // A copy, not the engine: a pump may outlive it (engine.h).
  if (!options.clock) options.clock = detail::clock_of(engine);
  return std::unique_ptr<DelayPump>(new DelayPump(&target, *delay, std::move(cursor).value(), std::move(options)));
}

DelayPump::DelayPump(Topic* target, Topic* delay, std::unique_ptr<Subscriber> cursor, DelayOptions options)
    : target_(target),
      delay_(delay),
      cursor_(std::move(cursor)),
      options_(std::move(options)),
      persisted_(target->options().durability != Durability::kMemory) {}

DelayPump::~DelayPump() { (void)close(); }

Status DelayPump::close(std::chrono::nanoseconds timeout) {
  if (!persisted_ || to_commit_.empty()) return Status::OK();
  // Everything released so far durable on the target, then every entry is
  // ready and commit_durable() commits the last one.
  if (Status s = target_->await_durable(to_commit_.back().second, timeout); !s.ok()) return s;
  return commit_durable(false);
}

std::int64_t DelayPump::now() const { return options_.clock(); }  // never empty: open() fills it in

std::optional<std::int64_t> DelayPump::next_due() const noexcept {
  if (by_due_.empty()) return std::nullopt;
  return by_due_.begin()->first;
}

Result<std::uint64_t> DelayPump::publish_at(const Message& m, std::int64_t not_before_ns) {
  std::vector<Header> headers(m.headers.begin(), m.headers.end());
  for (const Header& h : headers)
    if (h.name == kNotBeforeHeader)
      return Status::InvalidArgument("a delayed message must not carry its own '" + std::string(kNotBeforeHeader) +
                                     "' header");
  const std::string due = std::to_string(not_before_ns);
  headers.push_back({kNotBeforeHeader, due});
  Message delayed = m;
  delayed.headers = headers;
  return delay_->publish(delayed);
}

Result<std::uint64_t> DelayPump::publish_after(const Message& m, std::chrono::nanoseconds delay) {
  // A delay of centuries is never due (due_after), not an overflow into
  // the past (which would deliver it at once).
  return publish_at(m, detail::due_after(now(), delay.count()));
}

Status DelayPump::release(const Held& h) {
  const RecordView r(reinterpret_cast<const std::byte*>(h.bytes.data()));
  std::vector<Header> headers;
  headers.reserve(r.header_count());
  for (std::size_t i = 0; i < r.header_count(); ++i)
    if (r.header(i).name != kNotBeforeHeader) headers.push_back(r.header(i));
  const Message m = detail::republish_message(r, headers);
  auto seq = target_->publish(m);
  if (!seq.ok()) return seq.status();
  released_up_to_ = *seq;
  return Status::OK();
}

Result<std::size_t> DelayPump::pump() {
  RecordView views[kReadBatch];
  for (;;) {
    const PollResult r = cursor_->try_poll(views);
    if (!r.status.ok()) return r.status;  // a record that failed its check: held until it is dealt with
    for (std::size_t i = 0; i < r.count; ++i) {
      const std::int64_t due = due_of(views[i]);
      const auto* p = reinterpret_cast<const char*>(views[i].data());
      held_.emplace(views[i].sequence(), Held{due, std::string(p, views[i].size_bytes())});
      by_due_.emplace(due, views[i].sequence());
    }
    if (r.count == 0 && r.lost == 0) break;
  }
  std::size_t released = 0;
  const std::int64_t t = now();
  while (!by_due_.empty() && by_due_.begin()->first <= t) {
    const std::uint64_t seq = by_due_.begin()->second;
    auto it = held_.find(seq);
    if (Status s = release(it->second); !s.ok()) {
      (void)commit_durable(released != 0);  // retried by the next pump
      return s;
    }
    held_.erase(it);
    by_due_.erase(by_due_.begin());
    ++released;
  }
  (void)commit_durable(released != 0);  // retried by the next pump
  return released;
}

Status DelayPump::commit_durable(bool released_now) {
  if (!persisted_) return Status::OK();
  // Everything below the oldest held record was released.
  const std::uint64_t floor = held_.empty() ? cursor_->position() : held_.begin()->first;
  if (released_now && (to_commit_.empty() || to_commit_.back().first < floor))
    to_commit_.emplace_back(floor, released_up_to_);
  // Commit the furthest position whose releases are all durable on the target.
  const std::uint64_t durable = target_->durable();
  std::size_t ready = 0;
  while (ready < to_commit_.size() && to_commit_[ready].second < durable) ++ready;
  if (ready == 0) return Status::OK();
  // A failed commit is retried by the next pump (the position file is
  // replaced atomically); until then a restart releases more again.
  Status s = cursor_->commit(to_commit_[ready - 1].first);
  if (s.ok()) to_commit_.erase(to_commit_.begin(), to_commit_.begin() + ready);
  return s;
}

}  // namespace conduit
