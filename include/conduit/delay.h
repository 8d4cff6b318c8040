// conduit — delayed delivery.
//
// Subscribers see a topic in sequence order, so a delayed record is not put
// on its target topic at once. It goes to the target's delay topic,
// "<target>.delay" (created with the target's options), with its due time
// in the header "conduit-not-before" (ns since the Unix epoch). A DelayPump
// reads the delay topic and, each time pump() is called, releases every
// record that is due into the target: a copy of its envelope (the due-time
// header removed, a fresh timestamp), in due-time order, ties in the order
// they were published. Subscribers and work groups of the target see a
// released record like any other, at the sequence it was released at.
//
// Restarts (persisted targets): the pump's cursor on the delay topic is a
// named subscriber ("conduit.delay-pump") whose committed position is the
// oldest delayed record not yet released, committed only once everything
// released below it is durable on the target. After a reopen the pump
// resumes there: nothing due is lost, and a record is released again only
// if it was released after that oldest one but before the restart
// (at-least-once; a clean close(), which the destructor makes, commits
// everything released first, so only a crash repeats any). Give such
// messages an id and turn on the target's dedup
// window (TopicOptions::dedup) and the repeat is dropped: exactly once on
// the target, as long as the window still holds the id. The delay topic
// has the target's options, retention included: a delayed record that
// retention deletes before the pump has read it is never released.
//
// Thread safety: publish_at/publish_after are thread-safe; pump() and the
// rest are for one thread at a time. A pump may outlive its Engine: its
// publishes then fail with kClosed, and pump() releases nothing (engine.h).
#pragma once

#include "conduit/export.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "conduit/engine.h"

namespace conduit {

// The header a delayed record's due time travels in (conduit/delay.h).
inline constexpr std::string_view kNotBeforeHeader = "conduit-not-before";

// How a DelayPump tells the time.
struct DelayOptions {
  // Now, in ns since the Unix epoch; empty: the engine's clock
  // (Engine::now_ns(): EngineOptions::clock, else the wall clock). Due
  // times are compared with it.
  std::function<std::int64_t()> clock;
};

// Publishes records due later into a target topic's delay topic, and
// releases them into the target once due (conduit/delay.h).
class CONDUIT_EXPORT DelayPump {
 public:
  // Opens (or creates) "<target>.delay" and the pump's cursor on it.
  // kInvalidArgument when the name would be too long.
  static Result<std::unique_ptr<DelayPump>> open(Engine& engine, Topic& target, DelayOptions options = {});
  ~DelayPump();
  DelayPump(const DelayPump&) = delete;
  DelayPump& operator=(const DelayPump&) = delete;

  // Publishes `m` to the delay topic, due at `not_before_ns` (or `delay`
  // from now on the pump's clock). Returns its sequence on the delay topic.
  // kInvalidArgument when `m` already has a "conduit-not-before" header.
  // Thread-safe.
  // @{
  Result<std::uint64_t> publish_at(const Message& m, std::int64_t not_before_ns);
  Result<std::uint64_t> publish_after(const Message& m, std::chrono::nanoseconds delay);
  // @}

  // Reads what is new on the delay topic, releases every record that is due
  // into the target, and (persisted) commits the pump's position as far as
  // the target is durable. Returns how many it released; on an error, what
  // was released before it stays released. One thread.
  Result<std::size_t> pump();
  // A clean close (persisted target): waits up to `timeout` until every
  // record released is durable on the target, then commits the pump's
  // position, so that a pump opened again releases none of them twice.
  // kTimedOut (nothing more committed) when the target was not durable in
  // time. The destructor calls it (ignoring its status); call it yourself
  // to see the status, and before the engine is closed or destroyed (once
  // it is destroyed there is nothing to commit to: kClosed). One thread.
  Status close(std::chrono::nanoseconds timeout = std::chrono::seconds(10));
  // Records read and not yet due.
  std::size_t waiting() const noexcept { return by_due_.size(); }
  // The earliest due time among them.
  std::optional<std::int64_t> next_due() const noexcept;
  Topic& delay_topic() const noexcept { return *delay_; }  // "<target>.delay"

 private:
  struct Held {
    std::int64_t due;
    std::string bytes;  // the record, copied: the delay topic's ring may move on
  };
  DelayPump(Topic* target, Topic* delay, std::unique_ptr<Subscriber> cursor, DelayOptions options);
  std::int64_t now() const;
  Status release(const Held& h);
  // Commits the furthest position whose releases are durable on the
  // target; the commit's status (OK when there was nothing to commit).
  Status commit_durable(bool released_now);

  Topic* target_;
  Topic* delay_;
  std::unique_ptr<Subscriber> cursor_;
  DelayOptions options_;
  std::map<std::uint64_t, Held> held_;                       // by delay-topic sequence
  std::set<std::pair<std::int64_t, std::uint64_t>> by_due_;  // (due, delay sequence)
  // (position to commit, target sequence that must be durable first), in order.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> to_commit_;
  std::uint64_t released_up_to_ = 0;  // the target sequence of the last release
  bool persisted_;
};

}  // namespace conduit
