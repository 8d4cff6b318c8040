// A data directory's lock, and each topic's small control file.
//
// Layout:  DIR/LOCK                      flock()ed by the engine that owns DIR
//          DIR/topics/NAME/              0700, one per persisted topic
//          DIR/topics/NAME/control       4 KiB, mapped: watermarks, clean flag
//          DIR/topics/NAME/*.seg         segments (segment_file.h)
//          DIR/topics/.deleted-NAME-N/   a deleted topic being removed
//
// Thread safety: DataDirLock is immutable. ControlFile fields are atomics in
// mapped memory: written by the persistence thread (durable, clean) and the
// opener; read by anyone, other processes included.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/wait.h"
#include "conduit/status.h"

namespace conduit::persistence {

// Deletes TOPICS_DIR/NAME: renames it to a tombstone (".deleted-NAME-N",
// never a topic name) and syncs TOPICS_DIR, then removes the tombstone.
Status remove_topic_dir(const std::string& topics_dir, const std::string& name, std::uint64_t n);
// Removes tombstones a crash left in TOPICS_DIR (absent: nothing to do).
Status remove_tombstones(const std::string& topics_dir);

class DataDirLock {
 public:
  // Creates DIR (0700) if needed and locks DIR/LOCK; kBusy when another
  // engine holds it.
  static Result<std::unique_ptr<DataDirLock>> acquire(const std::string& dir);
  ~DataDirLock();
  const std::string& dir() const noexcept { return dir_; }

 private:
  DataDirLock(std::string dir, int fd) : dir_(std::move(dir)), fd_(fd) {}
  std::string dir_;
  int fd_;
};

// Control file layout (little-endian, 4096 bytes):
//   0 magic "CNDTCTL1"   8 version u32   12 flags u32 (bit 0: closed cleanly)
//  16 durable u64: every record below it was fdatasync'ed
//  24 published u64: every record below it is complete in the mapping
//  32 generation u64: +1 each time an engine opens the topic
//  64 readers' wake epoch u32: the futex word readers in other processes
//     park on; the writer adds 1 and wakes them (common/wait.h)
// 128 parked readers u32: how many are parked on it, a hint for the writer
// (Fields from 32 on were zero, "reserved", in files made before them; a
// zero there reads as generation 0 and nobody parked.)

// What a reader in another process sees in a control file (read_only()).
struct ControlSnapshot {
  bool clean = false;  // the last owner closed cleanly (and no engine has it open now)
  std::uint64_t durable = 0;
  std::uint64_t published = 0;  // as of the last sync round
};

class ControlFile {
 public:
  // The engine's open: creates the file if needed; changes nothing in an
  // existing one until begin_session().
  static Result<std::unique_ptr<ControlFile>> open(const std::string& topic_dir);
  // The engine is about to write the log: adds 1 to the generation and
  // forgets parked readers. Not called for a log opened read-only.
  void begin_session() noexcept;
  // Another process's open (a LogReader): never creates, never changes the
  // log. Maps the file writable when it may, to count itself among parked
  // readers; read-only otherwise (then it is never woken early, see
  // SharedParkingLot). kNotFound when the topic has no control file.
  static Result<std::unique_ptr<ControlFile>> open_for_reader(const std::string& topic_dir);

  // Reads TOPIC_DIR/control without creating, locking or writing anything
  // (O_RDONLY); kNotFound when there is none. Any thread, any process.
  static Result<ControlSnapshot> read_only(const std::string& topic_dir);
  ~ControlFile();
  // What the previous owner left: was it closed cleanly, and how far durable.
  bool was_clean() const noexcept { return was_clean_; }
  std::uint64_t durable() const noexcept;
  void set_durable(std::uint64_t seq) noexcept;
  void set_published(std::uint64_t seq) noexcept;
  std::uint64_t published() const noexcept;
  std::uint64_t generation() const noexcept;
  bool closed_cleanly() const noexcept;  // now, not when this process opened it
  detail::SharedParkingLot& readers_lot() noexcept { return lot_; }
  // Marks the log open (not clean) and syncs that, or marks it clean.
  Status mark_open();
  Status mark_clean(std::uint64_t durable);

 private:
  ControlFile(int fd, std::byte* base, std::string path, bool was_clean, bool writable);
  Status sync();
  void set_flags(std::uint32_t flags) noexcept;
  int fd_;
  std::byte* base_;
  std::string path_;
  bool was_clean_;
  detail::SharedParkingLot lot_;
};

}  // namespace conduit::persistence
