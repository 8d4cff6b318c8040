// A call that must return, watched (ipc_await_durable_test,
// ipc_attached_claim_test): run on a thread of its own; if it has not
// returned after 20 s (a bound not kept, a wait that should not be),
// `release` is called so that it returns and the test fails rather than
// hangs. A watchdog, not a timing claim.
//
// Thread safety: one test thread (and the one it starts).
#pragma once

#include <conduit/status.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

namespace conduit::test {

// Whether `call` returned within 20 s; *got (unless null): what it returned.
inline bool returns(const std::function<Status()>& call, const std::function<void()>& release, Status* got) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    const Status s = call();
    if (got != nullptr) *got = s;
    done.store(true, std::memory_order_release);  // pairs with the acquire loads below
  });
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < limit)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const bool in_time = done.load(std::memory_order_acquire);
  if (!in_time) release();
  t.join();
  return in_time;
}

}  // namespace conduit::test
