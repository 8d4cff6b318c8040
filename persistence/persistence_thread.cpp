#include "persistence/persistence_thread.h"

#include <algorithm>

#include "persistence/file_storage.h"

namespace conduit::persistence {

PersistenceThread::PersistenceThread(std::unique_ptr<DiskIo> io, std::chrono::milliseconds tick,
                                     detail::ThreadStartHook on_start)
    : io_(std::move(io)), tick_(tick), on_start_(std::move(on_start)) {
  thread_ = detail::start_named_thread("conduit-persist", on_start_, [this] { run(); });
}

PersistenceThread::~PersistenceThread() { stop(); }

void PersistenceThread::add(FileTopicStorage* topic) {
  std::lock_guard lk(mu_);
  topics_.push_back(topic);
  if (topic->zeros_pending() && !zero_running_ && !stopping_) {
    // One that ended has let go of mu_ for good: the join does not wait on us.
    if (zero_thread_.joinable()) zero_thread_.join();
    zero_running_ = true;
    zero_thread_ = detail::start_named_thread("conduit-zero", on_start_, [this] { run_zeros(); });
  }
}

void PersistenceThread::remove(FileTopicStorage* topic) {
  std::scoped_lock lk(round_mu_, zero_round_mu_, mu_);
  std::erase(topics_, topic);
}

void PersistenceThread::final_round(FileTopicStorage* topic) {
  std::lock_guard round(round_mu_);
  if (!topic->sync_round(*io_)) errors_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
}

void PersistenceThread::wake() {
  {
    std::lock_guard lk(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void PersistenceThread::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  zero_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (zero_thread_.joinable()) zero_thread_.join();
}

void PersistenceThread::run() {
  std::vector<FileTopicStorage*> topics;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, tick_, [this] { return woken_ || stopping_; });
      if (stopping_) return;
      woken_ = false;
    }
    // remove() takes round_mu_, so no topic in the copy goes away mid-round.
    std::lock_guard round(round_mu_);
    {
      std::lock_guard lk(mu_);
      topics = topics_;
    }
    const auto now = std::chrono::steady_clock::now();
    rounds_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
    for (FileTopicStorage* t : topics) {
      if (t->sync_due(now) && !t->sync_round(*io_)) errors_.fetch_add(1, std::memory_order_relaxed);  // a counter
      t->prepare_spare(*io_);
      t->populate_ahead();
    }
  }
}

void PersistenceThread::run_zeros() {
  std::vector<FileTopicStorage*> topics;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      zero_cv_.wait_for(lk, tick_, [this] { return stopping_; });
      if (stopping_) return;
    }
    // remove() takes zero_round_mu_, so no topic in the copy goes away.
    std::lock_guard zeros(zero_round_mu_);
    {
      std::lock_guard lk(mu_);
      topics = topics_;
    }
    for (FileTopicStorage* t : topics)
      while (t->zero_head_step() == detail::ZeroAhead::kMore) {}
    std::lock_guard lk(mu_);
    // Ends once no topic, including one added since the copy, needs zeros.
    if (std::none_of(topics_.begin(), topics_.end(), [](FileTopicStorage* t) { return t->zeros_pending(); })) {
      zero_running_ = false;
      return;
    }
  }
}

}  // namespace conduit::persistence
