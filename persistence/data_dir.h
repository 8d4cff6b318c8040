// A data directory's lock, and each topic's small control file.
//
// Layout:  DIR/LOCK                      flock()ed by the engine that owns DIR
//          DIR/topics/NAME/              0700, one per persisted topic
//          DIR/topics/NAME/control       4 KiB, mapped: watermarks, clean flag
//          DIR/topics/NAME/*.seg         segments (segment_file.h)
//
// Thread safety: DataDirLock is immutable. ControlFile fields are atomics in
// mapped memory: written by the persistence thread (durable, clean) and the
// opener; read by anyone, other processes included.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "conduit/status.h"

namespace conduit::persistence {

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
// What a reader in another process sees in a control file (read_only()).
struct ControlSnapshot {
  bool clean = false;            // the last owner closed cleanly (and no engine has it open now)
  std::uint64_t durable = 0;
  std::uint64_t published = 0;   // as of the last sync round
};

class ControlFile {
 public:
  static Result<std::unique_ptr<ControlFile>> open(const std::string& topic_dir);
  // Reads TOPIC_DIR/control without creating, locking or writing anything
  // (O_RDONLY); kNotFound when there is none. Any thread, any process.
  static Result<ControlSnapshot> read_only(const std::string& topic_dir);
  ~ControlFile();
  // What the previous owner left: was it closed cleanly, and how far durable.
  bool was_clean() const noexcept { return was_clean_; }
  std::uint64_t durable() const noexcept;
  void set_durable(std::uint64_t seq) noexcept;
  void set_published(std::uint64_t seq) noexcept;
  // Marks the log open (not clean) and syncs that, or marks it clean.
  Status mark_open();
  Status mark_clean(std::uint64_t durable);

 private:
  ControlFile(int fd, std::byte* base, std::string path, bool was_clean)
      : fd_(fd), base_(base), path_(std::move(path)), was_clean_(was_clean) {}
  Status sync();
  int fd_;
  std::byte* base_;
  std::string path_;
  bool was_clean_;
};

}  // namespace conduit::persistence
