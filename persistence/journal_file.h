// A state journal on files: TOPIC_DIR/cursors/KEY.journal-GENERATION (20
// digits), one file per generation, preallocated and mapped MAP_SHARED. A
// generation is made as KEY.journal-GENERATION.tmp, its header written
// through the DiskIo seam, and renamed once that header is durable.
// Appenders copy an entry into the mapping; the persistence thread makes it
// durable with the topic's next sync round (one batched fdatasync through
// the engine's DiskIo, io_uring or the syscall fallback). Format in
// doc/log-format.md ("State journals"):
//
//   header (64 bytes): u64 magic "CNDTJRN1" | u64 generation | u32 version 1
//                      | zeros | u32 CRC32C of bytes 0..60 at offset 60
//   entry  (40 bytes): 32 bytes of the owner's entry | u32 marker "JRN1"
//                      | u32 CRC32C of bytes 0..36
//
// A zero marker is "no entry here" (the preallocated tail reads as empty).
// Reading skips every slot whose marker or CRC is wrong and goes on: pages
// of a file need not reach the disk in order before its fdatasync, and an
// intact entry past a torn one was still written (only entries before the
// last completed fdatasync were ever reported durable).
//
// Thread safety: append/await_durable/rotate/retire from any thread (one
// mutex; appends of a work group's acks only, never a publish). The sync
// side (pending/synced/sync_failed) runs on the persistence thread or in a
// topic's final round, one at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/disk_names.h"
#include "common/wait.h"
#include "persistence/disk_io.h"
#include "persistence/segment_file.h"
#include "persistence/storage.h"

namespace conduit::persistence {

class FileJournal final : public detail::StateJournal {
 public:
  static constexpr std::size_t kHeaderBytes = 64, kFrameBytes = 40;
  static constexpr std::size_t kDefaultFileBytes = std::size_t{1} << 20;

  struct Hooks {
    std::function<void()> want_sync;  // asks the persistence thread for a round now
    // Set once the storage's close() made its last sync round: waiters stop
    // waiting then (what that round synced is durable).
    const std::atomic<bool>* closed = nullptr;
    std::chrono::nanoseconds park_timeout{500'000};
    DiskIo* io = nullptr;  // writes each generation's header (write_at); required
    detail::LogSink log;   // EngineOptions::log
  };

  // Reads every generation of `key` in `dir` into `entries` and starts a
  // fresh one. `file_bytes`: size of each generation file (entries per file
  // = (file_bytes - 64) / 40).
  static Result<std::shared_ptr<FileJournal>> open(const std::string& dir, const std::string& key,
                                                   std::vector<std::string>* entries, Hooks hooks,
                                                   std::size_t file_bytes = kDefaultFileBytes);
  ~FileJournal() override;

  Result<std::uint64_t> append(const std::byte* entry) noexcept override;
  Status await_durable(std::uint64_t ticket) noexcept override;
  Result<std::uint64_t> rotate() override;
  void retire(std::uint64_t generation) override;
  bool wants_compaction() const noexcept override;

  // The persistence thread's side. A file with entries not yet synced.
  struct Pending {
    std::shared_ptr<FileHandle> file;
    std::uint64_t generation;
    std::uint64_t appended;  // entries written when collected
  };
  void pending(std::vector<Pending>* out);
  // After a successful fdatasync of the files in `done`.
  void synced(const std::vector<Pending>& done);
  void sync_failed(const Status& why);
  static std::size_t bytes_of(std::uint64_t entries) noexcept { return kHeaderBytes + entries * kFrameBytes; }

 private:
  struct Generation;
  FileJournal(std::string dir, std::string key, Hooks hooks, std::size_t file_bytes);
  Result<std::shared_ptr<Generation>> create_locked(std::uint64_t number);  // mu_ held
  void publish_durable_locked();                                            // mu_ held

  std::string dir_, key_;
  Hooks hooks_;
  std::size_t file_bytes_;
  std::size_t per_file_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Generation>> generations_;  // guarded by mu_, oldest first; back() is current
  std::uint64_t next_ticket_ = 0;                         // guarded by mu_
  Status last_error_;                                     // guarded by mu_
  // Every entry with a smaller ticket is durable. Written under mu_.
  std::atomic<std::uint64_t> durable_ticket_{0};
  std::atomic<std::uint64_t> failed_rounds_{0};
  detail::ParkingLot lot_;
};

using disk::journal_file_name;  // common/disk_names.h

}  // namespace conduit::persistence
