// Handles that outlive their engine: the barrier, the wait, the shells kept.
#include "engine/handle_life.h"

#include <sched.h>

#include <algorithm>
#include <mutex>

#include "common/wait.h"
#include "conduit/engine.h"
#include "engine/topic_core.h"
#include "engine/work_group_core.h"

namespace conduit::detail {

PollResult engine_gone() noexcept {
  PollResult r;
  r.closed = true;
  return r;
}

HandleLife::HandleLife() noexcept = default;

void HandleLife::barrier() noexcept {
  // Orders every mark() before the depths wait_out() reads; pairs with
  // light() in enter(). A fence built here pairs with each handle's: they
  // all take use_process_barrier()'s one answer.
  AsymmetricFence().heavy();
}

void HandleLife::wait_out() const noexcept {
  // Acquire pairs with the release in leave(). A call in progress ends
  // soon: the engine closed before this, so polls do not wait.
  while (depth_.load(std::memory_order_acquire) != 0) sched_yield();
}

void orphan_handles(std::span<TopicCore* const> topics) {
  std::vector<std::vector<HandleLife*>> users;
  users.reserve(topics.size());
  for (TopicCore* t : topics) users.push_back(t->open_users());
  bool any = false;
  for (auto& lives : users)
    for (HandleLife* l : lives) l->mark(), any = true;
  if (!any) return;
  HandleLife::barrier();
  // No lock held: a call in progress may need the topic's.
  for (auto& lives : users)
    for (HandleLife* l : lives) l->wait_out();
  for (std::size_t i = 0; i < topics.size(); ++i) {
    const bool wanted = std::any_of(users[i].begin(), users[i].end(), [](HandleLife* l) { return l->keeps_segments; });
    if (!wanted) continue;
    const std::vector<std::shared_ptr<Segment>> held = topics[i]->held_segments();
    // No call is inside these handles any more: nothing else touches `kept`.
    for (HandleLife* l : users[i])
      if (l->keeps_segments) l->kept = held;
  }
}

std::vector<HandleLife*> TopicCore::open_users() const {
  std::lock_guard lk(mu_);
  std::vector<HandleLife*> out;
  for (const User& u : users_) out.push_back(u.life);
  return out;
}

std::vector<std::shared_ptr<Segment>> TopicCore::held_segments() {
  std::vector<std::shared_ptr<Segment>> out;
  {
    std::lock_guard gl(groups_mu_);
    for (auto& g : groups_) g->zombie_segments(&out);
  }
  std::lock_guard lk(mu_);
  out.insert(out.end(), segments_.begin(), segments_.end());
  return out;
}

namespace {

// What keep_forever() keeps, for the rest of the process.
struct KeptForever {
  std::mutex mu;
  std::vector<const void*> shells;              // guarded by mu
  std::vector<std::shared_ptr<void>> segments;  // guarded by mu
};

KeptForever& kept_forever() {
  // Never freed, on purpose (see the header); a pointer in static storage
  // keeps it reachable. The first call is thread-safe (a function-local
  // static's guard).
  static auto* kept = new KeptForever();
  return *kept;
}

}  // namespace

void keep_forever(const void* shell) {
  KeptForever& k = kept_forever();
  std::lock_guard lk(k.mu);
  k.shells.push_back(shell);
}

void keep_forever(std::shared_ptr<void> segment) {
  KeptForever& k = kept_forever();
  std::lock_guard lk(k.mu);
  k.segments.push_back(std::move(segment));
}

}  // namespace conduit::detail
