#include "conduit/dispatcher.h"

#include <chrono>
#include <exception>
#include <vector>

#include "engine/handle_life.h"
#include "engine/topic_core.h"

namespace conduit {
namespace {
// How long one poll waits before the thread looks at its stop flag again.
constexpr std::chrono::milliseconds kStopCheck{20};
constexpr std::string_view kThreadName = "conduit-handler";

// The engine's EngineOptions::on_thread_start; none once it is gone.
detail::ThreadStartHook thread_hook(detail::HandleLife& life) {
  detail::HandleCall call(life);
  if (!call || life.topic == nullptr) return {};
  return life.topic->shared().on_thread_start;
}
}  // namespace

Dispatcher::Dispatcher(std::unique_ptr<Subscriber> subscriber, RecordHandler handler, std::size_t batch)
    : subscriber_(std::move(subscriber)), record_handler_(std::move(handler)) {
  thread_ = detail::start_named_thread(kThreadName, thread_hook(detail::life_of(*subscriber_)),
                                       [this, batch] { run_subscriber(batch); });
}

Dispatcher::Dispatcher(std::unique_ptr<Consumer> consumer, DeliveryHandler handler, std::size_t batch)
    : consumer_(std::move(consumer)), delivery_handler_(std::move(handler)) {
  thread_ = detail::start_named_thread(kThreadName, thread_hook(detail::life_of(*consumer_)),
                                       [this, batch] { run_consumer(batch); });
}

Dispatcher::~Dispatcher() { stop(); }

Status Dispatcher::error() const {
  std::lock_guard lk(error_mu_);
  return error_;
}

void Dispatcher::end_with(Status s) {
  std::lock_guard lk(error_mu_);
  error_ = std::move(s);
}

void Dispatcher::stop() {
  // Release pairs with the acquire in the run loops.
  stop_.store(true, std::memory_order_release);
  join();
}

void Dispatcher::join() {
  if (thread_.joinable()) thread_.join();
}

void Dispatcher::run_subscriber(std::size_t batch) {
  std::vector<RecordView> views(batch == 0 ? 1 : batch);
  // Acquire pairs with the release in stop().
  while (!stop_.load(std::memory_order_acquire)) {
    // The poll and its handlers inside the subscriber's call: an engine
    // destroyed meanwhile waits for them (engine.h), so a handler may still
    // use the engine's topics.
    detail::HandleCall call(detail::life_of(*subscriber_));
    if (!call) return;
    PollResult r = subscriber_->poll(views, kStopCheck);
    if (!r.status.ok()) return end_with(std::move(r.status));
    // Relaxed: counters read for monitoring.
    if (r.lost != 0) lost_.fetch_add(r.lost, std::memory_order_relaxed);
    for (std::size_t i = 0; i < r.count; ++i) {
      try {
        record_handler_(views[i]);
        handled_.fetch_add(1, std::memory_order_relaxed);
      } catch (...) { failed_.fetch_add(1, std::memory_order_relaxed); }
    }
    if (r.closed) return;
  }
}

void Dispatcher::run_consumer(std::size_t batch) {
  std::vector<Delivery> deliveries(batch == 0 ? 1 : batch);
  std::vector<Delivery> acks;
  acks.reserve(deliveries.size());
  // Acquire pairs with the release in stop().
  while (!stop_.load(std::memory_order_acquire)) {
    detail::HandleCall call(detail::life_of(*consumer_));  // as in run_subscriber()
    if (!call) return;
    PollResult r = consumer_->poll(deliveries, kStopCheck);
    if (!r.status.ok()) return end_with(std::move(r.status));
    acks.clear();
    for (std::size_t i = 0; i < r.count; ++i) {
      const Delivery& d = deliveries[i];
      Decision decision;
      try {
        decision = delivery_handler_(d);
      } catch (const std::exception& e) {
        failed_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
        consumer_->fail(d, e.what());
        continue;
      } catch (...) {
        failed_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
        consumer_->fail(d, "unknown exception");
        continue;
      }
      switch (decision.outcome) {
        case Outcome::kAck: acks.push_back(d); break;
        case Outcome::kNack: consumer_->nack(d); break;
        case Outcome::kDeadLetter: consumer_->dead_letter(d, decision.reason); break;
      }
    }
    // The batch's acks together: one journal wait on a kSync topic. A
    // refused ack (the ack timeout passed) is not counted as handled.
    if (!acks.empty()) handled_.fetch_add(consumer_->ack(acks), std::memory_order_relaxed);  // relaxed: a counter
    if (r.closed) return;
  }
}

}  // namespace conduit
