// A clock for tests: time moves only when the test says so
// (EngineOptions::clock). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace conduit::test {

class ManualClock {
 public:
  static constexpr std::int64_t kStart = 1'700'000'000'000'000'000;  // a fixed day in 2023

  // The function to put in EngineOptions::clock; it shares this clock's time.
  std::function<std::int64_t()> function() const {
    auto t = now_;
    // Acquire pairs with the release in advance(): a reader of the new time
    // sees what the test did before moving it.
    return [t] { return t->load(std::memory_order_acquire); };
  }
  std::int64_t now() const { return now_->load(std::memory_order_acquire); }  // acquire: as above
  void advance(std::chrono::nanoseconds d) { now_->fetch_add(d.count(), std::memory_order_acq_rel); }  // see above

 private:
  std::shared_ptr<std::atomic<std::int64_t>> now_ = std::make_shared<std::atomic<std::int64_t>>(kStart);
};

}  // namespace conduit::test
