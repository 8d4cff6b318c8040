// Handles that outlive their engine.
//
// A Subscriber or Consumer belongs to its caller and may be used, or
// destroyed, after the Engine is gone; Topic* and WorkGroup* are small
// shells that stay valid for the life of the process (keep_forever) and
// answer kClosed once their topic or group is freed.
//
// Thread safety
//   A Subscriber's or Consumer's calls come from one thread at a time. Each
//   public call enter()s its HandleLife first and leave()s at the end
//   (calls nest: a depth, written only by that thread). The engine's
//   destructor marks every open handle orphaned, runs one barrier, and
//   waits until no call is inside any of them; only then does it free the
//   topics. From then on enter() fails and the handle touches nothing of the
//   engine. The caller stores its depth and then reads `orphaned_`; the
//   engine stores `orphaned_` and then reads the depth. The caller's fence
//   between the two is the light side of an AsymmetricFence, the engine's
//   barrier() its heavy side (common/wait.h: a compiler fence against
//   membarrier(2) where it can be used, a seq_cst fence on both sides
//   otherwise and under TSan). Either way one sees the
//   other: the call sees `orphaned_` and returns, or the engine sees the
//   depth and waits for the call to leave (its release store pairs with
//   the engine's acquire load, so the call's reads of the topic come
//   before the topic is freed).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/wait.h"
#include "engine/segment.h"

namespace conduit {
struct PollResult;
}

namespace conduit::detail {

class TopicCore;

// What a poll of a handle whose engine was destroyed returns: closed, with
// nothing else set.
PollResult engine_gone() noexcept;

class HandleLife {
 public:
  HandleLife() noexcept;
  HandleLife(const HandleLife&) = delete;
  HandleLife& operator=(const HandleLife&) = delete;

  // The calling thread is inside a call; false: the engine is gone (the
  // call must touch nothing of it; leave() is not called then).
  bool enter() noexcept {
    // Relaxed load and store: only this handle's calling thread writes it.
    const std::uint32_t depth = depth_.load(std::memory_order_relaxed);
    depth_.store(depth + 1, std::memory_order_relaxed);
    fence_.light();  // orders the depth before orphaned_; pairs with heavy() in barrier()
    // Relaxed: the fences above order it after the depth (see the top).
    if (orphaned_.load(std::memory_order_relaxed)) [[unlikely]] {
      depth_.store(depth, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void leave() noexcept {
    // Release pairs with the acquire in wait_out(): the call's reads of the
    // topic come before the engine frees it.
    depth_.store(depth_.load(std::memory_order_relaxed) - 1, std::memory_order_release);
  }
  // For calls that only report (lag(), destructors) outside enter(): the
  // engine is gone. Relaxed: such a call made after the engine's destruction
  // is ordered after it by whatever told the caller it was destroyed.
  bool orphaned() const noexcept { return orphaned_.load(std::memory_order_relaxed); }

  // The engine's side: mark() each handle, barrier() once, wait_out() each.
  void mark() noexcept { orphaned_.store(true, std::memory_order_seq_cst); }
  static void barrier() noexcept;
  void wait_out() const noexcept;

  // A consumer's record views stay valid until it is destroyed: the engine
  // hands it the topic's segments before it frees the topic.
  bool keeps_segments = false;
  std::vector<std::shared_ptr<Segment>> kept;
  // The handle's topic (TopicCore::add_user); touched only inside a call.
  TopicCore* topic = nullptr;
  std::string key;  // a named subscriber's cursor key ("sub-NAME"); set before add_user

 private:
  const AsymmetricFence fence_;
  std::atomic<std::uint32_t> depth_{0};
  std::atomic<bool> orphaned_{false};
};

// A call through a HandleLife: `if (!call) return <closed>;`.
class HandleCall {
 public:
  explicit HandleCall(HandleLife& life) noexcept : life_(life), inside_(life.enter()) {}
  ~HandleCall() {
    if (inside_) life_.leave();
  }
  HandleCall(const HandleCall&) = delete;
  HandleCall& operator=(const HandleCall&) = delete;
  explicit operator bool() const noexcept { return inside_; }

 private:
  HandleLife& life_;
  bool inside_;
};

class TopicCore;

// The engine's destructor, after close() and before it frees `topics`:
// orphans every subscriber and consumer open on them, waits until none is
// inside a call, and hands each consumer the segments its views may point
// into.
void orphan_handles(std::span<TopicCore* const> topics);

// Keeps a Topic or WorkGroup shell for the rest of the process: raw handles
// to it stay valid after its engine is destroyed. Reachable from a static,
// so leak checkers count it as in use.
void keep_forever(const void* shell);
// Keeps a segment mapped for the rest of the process: a Claim still open
// when its engine is destroyed may still write into it (conduit/claim.h).
void keep_forever(std::shared_ptr<void> segment);

}  // namespace conduit::detail
