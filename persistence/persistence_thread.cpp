#include "persistence/persistence_thread.h"

#include <algorithm>

#include "persistence/file_storage.h"

namespace conduit::persistence {

PersistenceThread::PersistenceThread(std::unique_ptr<DiskIo> io, std::chrono::milliseconds tick)
    : io_(std::move(io)), tick_(tick) {
  thread_ = std::thread([this] { run(); });
}

PersistenceThread::~PersistenceThread() { stop(); }

void PersistenceThread::add(FileTopicStorage* topic) {
  std::lock_guard lk(mu_);
  topics_.push_back(topic);
}

void PersistenceThread::remove(FileTopicStorage* topic) {
  std::scoped_lock lk(round_mu_, mu_);
  std::erase(topics_, topic);
}

void PersistenceThread::final_round(FileTopicStorage* topic) {
  std::lock_guard round(round_mu_);
  topic->sync_round(*io_);
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
  if (thread_.joinable()) thread_.join();
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
    for (FileTopicStorage* t : topics) {
      if (t->sync_due(now)) t->sync_round(*io_);
      t->prepare_spare(*io_);
      t->populate_ahead();
    }
  }
}

}  // namespace conduit::persistence
