// The engine's one persistence thread: it owns the DiskIo (io_uring, or the
// syscall fallback) and runs the sync rounds of every persisted topic.
// Beside it, while a kSync topic's recovered tail still has unwritten
// extents, a second thread writes zeros there ahead of the producers
// (FileTopicStorage::zero_head_step), so that no sync round waits behind
// those writes; it ends when no topic needs more.
//
// Thread safety: add/remove/wake/stop/final_round from any thread. Sync
// rounds run on the thread, or under round_mu_ in final_round(); zero
// steps under zero_round_mu_.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/log.h"
#include "persistence/disk_io.h"

namespace conduit::persistence {

class FileTopicStorage;

class PersistenceThread {
 public:
  // `on_start` runs on each of its threads as it starts (EngineOptions::on_thread_start).
  PersistenceThread(std::unique_ptr<DiskIo> io, std::chrono::milliseconds tick, detail::ThreadStartHook on_start = {});
  ~PersistenceThread();  // stop()
  void add(FileTopicStorage* topic);
  void remove(FileTopicStorage* topic);
  // A sync publisher is waiting: run a round now.
  void wake();
  void stop();
  // Runs `topic`'s last sync round on the caller's thread, between this
  // thread's rounds: a DiskIo (one io_uring) is used by one thread at a time.
  void final_round(FileTopicStorage* topic);
  // The thread's DiskIo, for its write_at() (thread-safe): the control
  // files that committing threads write go through the same seam.
  DiskIo& io() noexcept { return *io_; }
  // Rounds this thread ran, and sync rounds of them that failed (the
  // counters file's engine row). Any thread.
  std::uint64_t rounds() const noexcept { return rounds_.load(std::memory_order_relaxed); }  // relaxed: a counter
  std::uint64_t errors() const noexcept { return errors_.load(std::memory_order_relaxed); }  // relaxed: a counter

 private:
  void run();
  void run_zeros();
  std::unique_ptr<DiskIo> io_;
  std::chrono::milliseconds tick_;
  detail::ThreadStartHook on_start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;                     // guarded by mu_
  bool stopping_ = false;                  // guarded by mu_
  std::vector<FileTopicStorage*> topics_;  // guarded by mu_
  std::mutex round_mu_;                    // held while a round runs, so remove() waits for it
  std::thread thread_;
  std::mutex zero_round_mu_;         // held while zeros are written, so remove() waits for them
  std::condition_variable zero_cv_;  // with mu_: stopping_
  std::thread zero_thread_;          // started (under mu_) by add() of a topic with zeros pending
  bool zero_running_ = false;        // guarded by mu_: zero_thread_ has not yet decided to end

  // rounds(), errors(): incremented by thread_ (errors also by final_round()).
  std::atomic<std::uint64_t> rounds_{0}, errors_{0};
};

}  // namespace conduit::persistence
