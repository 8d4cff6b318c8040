// One persisted topic, built from the engine's parts (as
// Engine::create_topic wires them), over a persistence thread whose DiskIo
// is a FaultInjectingDiskIo: every disk operation of the topic, its
// control files' writes included, can be made to fail. Its directory
// layout is an engine's (DATA_DIR/topics/faulty), so an Engine opened on
// the same data directory reads what it left.
#pragma once

#include <conduit/conduit.h>
#include <doctest/doctest.h>

#include <chrono>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "engine/topic_core.h"
#include "persistence/disk_io.h"
#include "persistence/file_storage.h"
#include "persistence/persistence_thread.h"
#include "tests/support/fault_injecting_disk_io.h"
#include "tests/support/temp_dir.h"

namespace conduit::test {

inline constexpr std::size_t kFaultySegmentBytes = 160 << 10;

inline TopicOptions faulty_topic_options(Durability d) {
  TopicOptions options;
  options.durability = d;
  options.segment_bytes = kFaultySegmentBytes;
  options.max_payload_bytes = 4096;
  return options;
}

struct FaultyTopic {
  std::unique_ptr<TempDir> own_dir;  // when no data directory was given
  std::filesystem::path data_dir;
  persistence::FaultInjectingDiskIo* faults = nullptr;
  std::unique_ptr<persistence::PersistenceThread> thread;
  detail::TopicShared shared;
  std::unique_ptr<detail::TopicCore> core;

  // In a fresh temporary data directory. `no_spare`: every preallocation
  // fails from the start, so no spare segment is ever prepared and each
  // roll creates its segment itself.
  explicit FaultyTopic(Durability d, bool no_spare = false) : own_dir(std::make_unique<TempDir>()) {
    start(own_dir->path, d, no_spare);
  }
  // In `dir`, reopening what is there.
  FaultyTopic(std::filesystem::path dir, Durability d) { start(std::move(dir), d, false); }
  // In a fresh temporary data directory, with `wrap` put between the fault
  // injection and the real backend (to watch what reaches the disk).
  using Wrap = std::function<std::unique_ptr<persistence::DiskIo>(std::unique_ptr<persistence::DiskIo>)>;
  FaultyTopic(Durability d, const Wrap& wrap) : own_dir(std::make_unique<TempDir>()) {
    start(own_dir->path, d, false, wrap);
  }
  ~FaultyTopic() {
    core.reset();  // its final sync runs on the persistence thread's DiskIo
    thread.reset();
  }
  std::filesystem::path topic_dir() const { return data_dir / "topics" / "faulty"; }
  Topic* topic() const { return core->handle(); }

 private:
  void start(std::filesystem::path dir, Durability d, bool no_spare, const Wrap& wrap = {}) {
    data_dir = std::move(dir);
    // io_uring unless CONDUIT_FORCE_SYSCALL_IO=1, as an engine chooses.
    const char* env = std::getenv("CONDUIT_FORCE_SYSCALL_IO");
    std::string why;
    auto real = persistence::make_disk_io(env != nullptr && std::string_view(env) == "1", &why);
    auto io = std::make_unique<persistence::FaultInjectingDiskIo>(wrap ? wrap(std::move(real)) : std::move(real));
    faults = io.get();
    if (no_spare) faults->fail_next(persistence::FaultInjectingDiskIo::Op::kPreallocate, ENOSPC, INT_MAX);
    thread = std::make_unique<persistence::PersistenceThread>(std::move(io), std::chrono::milliseconds(10));
    persistence::FileStorageOptions fo;
    fo.durability = d;
    auto storage = persistence::FileTopicStorage::open(topic_dir().string(), fo, thread.get());
    REQUIRE_MESSAGE(storage.ok(), storage.status().to_string());
    auto made = detail::TopicCore::make("faulty", faulty_topic_options(d), std::move(storage).value(), &shared);
    REQUIRE_MESSAGE(made.ok(), made.status().to_string());
    core = std::move(made).value();
  }
};

}  // namespace conduit::test
