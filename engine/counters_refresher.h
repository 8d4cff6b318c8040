// The engine's side of the live counters file (common/counters.h): a thread
// that rewrites its rows from what topics, subscribers, work groups and the
// persistence thread already keep, every EngineOptions::counters_interval
// and on demand. Nothing on the publish path writes a counter for it.
//
// Thread safety: refresh() from any thread (one at a time, under mu_);
// rows are written only there, so the file has one writer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/counters.h"
#include "conduit/status.h"

namespace conduit::persistence {
class PersistenceThread;
}

namespace conduit::detail {

class TopicCore;
struct TopicShared;

class CountersRefresher {
 public:
  struct Sources {
    std::string data_dir;
    const TopicShared* shared = nullptr;             // the engine's clock
    persistence::PersistenceThread* disk = nullptr;  // its rounds and errors
    std::string disk_io;                             // Engine::disk_io_description()
    // The engine's open topics (they live as long as the engine).
    std::function<std::vector<TopicCore*>()> topics;
  };
  // Creates DATA_DIR/counters and starts the thread.
  static Result<std::unique_ptr<CountersRefresher>> start(Sources sources, std::chrono::milliseconds interval,
                                                          std::size_t rows = counters::kDefaultRows);
  ~CountersRefresher();  // stop()
  CountersRefresher(const CountersRefresher&) = delete;
  CountersRefresher& operator=(const CountersRefresher&) = delete;
  // Rewrites every row now.
  void refresh();
  // Ends the thread (after one last refresh); refresh() still works.
  void stop();

 private:
  // A row's identity: kind, topic, reader name, and the subscriber's
  // address for unnamed subscribers (names may repeat there).
  // A class, not an alias of the tuple: the std::map code instantiated for
  // it then stays out of libconduit.so's exports, as internal types do.
  struct Key : std::tuple<counters::RowKind, std::string, std::string, const void*> {
    using tuple::tuple;
  };
  CountersRefresher(Sources sources, counters::CountersMapping file, std::chrono::milliseconds interval);
  void run();
  // The row for `key` (allocated if new); null when the file is full.
  std::uint64_t* row_for(const Key& key);
  // Returns the published watermark it wrote (also when the row did not fit).
  std::uint64_t write_topic(TopicCore& t);
  // Lag against `published`, the topic row's.
  void write_readers(TopicCore& t, std::uint64_t published, std::int64_t now);
  void write_reader(const Key& key, std::uint64_t published, std::uint64_t position, std::int64_t now, TopicCore& t,
                    const std::uint64_t (&extra)[counters::kReaderFields]);

  Sources sources_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;  // one refresh at a time; guards what follows
  counters::CountersMapping file_;
  std::map<Key, std::size_t> live_;  // rows in use
  std::vector<std::size_t> free_;    // rows free, lowest last
  std::map<Key, bool> seen_;         // this refresh's keys
  std::uint64_t refreshes_ = 0;
  std::uint64_t missing_ = 0;  // this refresh: rows that did not fit
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread thread_;
};

}  // namespace conduit::detail
