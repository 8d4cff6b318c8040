// conduit — run a handler on its own thread for every record a subscriber
// (or every delivery a work-group consumer) receives.
//
// Thread safety: the handler runs on the dispatcher's thread only. stop()
// and the destructor may be called from any one thread; they return once the
// thread has ended. The dispatcher ends by itself when the engine closes
// and everything published before was handled, when a poll fails
// (PollResult::status: a record that failed its check), as error() says,
// or when the engine is destroyed. Each poll and the handlers of its batch
// run inside one call of the subscriber or consumer, so destroying the
// engine waits for the batch in progress (a handler may use the engine's
// topics until it returns; it must not wait for the thread destroying the
// engine).
#pragma once

#include "conduit/export.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "conduit/engine.h"

namespace conduit {

// What a work-group handler decided. A handler that throws is handled by
// the group's on_failure policy (Consumer::fail, with the exception's text).
enum class Outcome : std::uint8_t {
  kAck,         // done
  kNack,        // deliver again after the group's backoff (dead letter after max_attempts)
  kDeadLetter,  // to the dead-letter topic at once
};

// What a work-group handler returns: an Outcome (an Outcome converts to
// one), and for a dead letter the reason, which goes into its
// conduit.dlq.error header (Consumer::dead_letter).
struct Decision {
  Outcome outcome = Outcome::kAck;  // what becomes of the delivery
  std::string reason;               // kDeadLetter only; empty: no error header

  Decision() = default;
  Decision(Outcome o) : outcome(o) {}  // NOLINT: implicit, so handlers may return an Outcome
  // kDeadLetter with `why` as the reason.
  static Decision dead_letter(std::string why) {
    Decision d(Outcome::kDeadLetter);
    d.reason = std::move(why);
    return d;
  }
};

// Runs a handler on a thread of its own for each record of a subscriber, or
// each delivery of a work-group consumer (conduit/dispatcher.h).
class CONDUIT_EXPORT Dispatcher {
 public:
  using RecordHandler = std::function<void(const RecordView&)>;      // a subscriber's records
  using DeliveryHandler = std::function<Decision(const Delivery&)>;  // a consumer's deliveries

  // Takes the subscriber; calls `handler` for each record in order. Losses
  // (lose-oldest, retention) are counted in lost(). Exceptions from the
  // handler are counted in failed() and the record is skipped.
  Dispatcher(std::unique_ptr<Subscriber> subscriber, RecordHandler handler, std::size_t batch = 64);
  // Takes the consumer; acks, nacks or dead-letters each delivery by the
  // handler's decision (Decision::dead_letter(reason) carries the reason). The acks of one polled batch (up to `batch`
  // deliveries) go together once its last handler returned
  // (Consumer::ack(span): one journal wait on a kSync topic), so a batch's
  // handlers together should finish well within the group's ack_timeout.
  // A handler that throws is counted in failed(), and the
  // delivery goes to Consumer::fail with the exception's text: a nack with
  // backoff or a dead letter at once, as the group's on_failure says. The
  // group is never wedged by a throwing handler.
  Dispatcher(std::unique_ptr<Consumer> consumer, DeliveryHandler handler, std::size_t batch = 64);
  ~Dispatcher();  // stop()
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Asks the thread to finish its current batch and end; waits for it.
  void stop();
  // Blocks until the thread ended by itself (engine closed) or was stopped.
  void join();

  std::uint64_t handled() const noexcept { return handled_.load(std::memory_order_relaxed); }  // relaxed: a counter
  std::uint64_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }    // relaxed: a counter
  std::uint64_t lost() const noexcept { return lost_.load(std::memory_order_relaxed); }        // relaxed: a counter
  // OK, or the failed poll's status that ended the thread (the records
  // before the bad one were handled). Any thread.
  Status error() const;

 private:
  void run_subscriber(std::size_t batch);
  void run_consumer(std::size_t batch);
  void end_with(Status s);  // the thread, as it ends: error()

  std::unique_ptr<Subscriber> subscriber_;
  std::unique_ptr<Consumer> consumer_;
  RecordHandler record_handler_;
  DeliveryHandler delivery_handler_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> handled_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> lost_{0};
  // Set once by the thread before it ends.
  mutable std::mutex error_mu_;
  Status error_;  // guarded by error_mu_
  std::thread thread_;
};

}  // namespace conduit
