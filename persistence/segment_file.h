// Segment files: preallocated, mapped MAP_SHARED, named by their first
// sequence ("00000000000000000042.seg"). Created 0600 in a 0700 directory.
//
// Thread safety: a SegmentFile is immutable after open/create except for
// the bytes producers write into its mapping (see engine/topic_core.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/disk_names.h"
#include "conduit/status.h"
#include "persistence/storage.h"

namespace conduit::persistence {

// An open file descriptor, closed when the last owner lets go (the mapping
// and the persistence thread's list of files to sync share it).
class FileHandle {
 public:
  FileHandle(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FileHandle();
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const noexcept { return fd_; }
  const std::string& path() const noexcept { return path_; }

 private:
  int fd_;
  std::string path_;
};

class SegmentFile final : public detail::SegmentMemory {
 public:
  // Creates (or replaces) the file, reserves `capacity` bytes, maps it and
  // writes the segment header, created at `created_ns` (the caller's clock:
  // the engine's). `zeroed`: first writes zeros over it and makes them
  // durable (evict_zeros(), map_for_appends()), for a kSync topic.
  static Result<std::unique_ptr<SegmentFile>> create(const std::string& dir, std::uint64_t first_seq,
                                                     std::size_t capacity, std::int64_t created_ns, bool with_crc,
                                                     bool zeroed = false);
  // A spare: DIR/.spare, reserved through `reserve` (the persistence
  // thread's io_uring) and mapped, with no header yet. adopt() makes it the
  // segment starting at `first_seq`, created at `created_ns`.
  static Result<std::unique_ptr<SegmentFile>> create_spare(
      const std::string& dir, std::size_t capacity,
      const std::function<Status(int fd, std::size_t bytes, const std::string& path)>& reserve);
  // What a kSync topic's segment gets before it is mapped: after its zeros
  // were written and synced, drops them from the page cache (evict_zeros),
  // and after the mapping, MADV_RANDOM on it (map_for_appends). The reasons
  // are in the definition.
  static void evict_zeros(int fd, std::size_t from, std::size_t to) noexcept;
  static void map_for_appends(void* base, std::size_t bytes) noexcept;
  // A kSync topic's recovered tail, before producers append at `end`: the
  // pages recovery's scan mapped above it go (read around, in large
  // folios), the mapping reads page by page (map_for_appends()), and the
  // bytes from `end` on are written with zeros ahead of the producers
  // unless the file has no unwritten extent there (FIEMAP).
  void prepare_for_appends(std::size_t end) noexcept;
  Status adopt(const std::string& dir, std::uint64_t first_seq, std::int64_t created_ns);
  // An open tail written by an older format version, before producers
  // append to it: rewrites its header's version to format::kVersion and
  // makes that durable, so a build that reads only the older version
  // refuses the segment rather than cutting its newer records off as a torn
  // tail. Nothing to do for a current header.
  Status relabel_for_appends();
  // Maps an existing segment and checks its header. `writable`: PROT_WRITE.
  static Result<std::unique_ptr<SegmentFile>> open(const std::string& path, bool writable);
  ~SegmentFile() override;

  std::byte* base() const noexcept override { return base_; }
  std::size_t capacity() const noexcept override { return capacity_; }
  // MADV_DONTNEED on the shared file mapping: the pages stay in the page
  // cache (dirty ones stay dirty and are still written by the next sync).
  // Only segments no producer writes any more are dropped whole, so read-
  // around comes back on (MADV_NORMAL; see map_for_appends()).
  void drop_resident_pages() noexcept override;
  void drop_resident_range(std::size_t from, std::size_t to) noexcept override;
  // MADV_POPULATE_WRITE: allocates, zeroes and maps the pages writable (and
  // marks them dirty). A kernel without it (before 5.14) answers EINVAL;
  // then this does nothing, from the first such answer on.
  void populate_range(std::size_t from, std::size_t to) noexcept override;
  // Below ready_bytes() the file is written (zeros, synced, or records);
  // above it, a kSync topic's segment still has unwritten extents, and
  // zero_range() writes zeros there (pwrite, fdatasync, evict_zeros())
  // before producers store into it. A failure to write them costs speed,
  // not data (the bytes read as zero either way): it is reported once,
  // through the sink set_log() gave (none: stderr).
  std::size_t ready_bytes() const noexcept override { return ready_; }
  void zero_range(std::size_t from, std::size_t to) noexcept override;
  std::size_t zero_chunk() const noexcept override { return kZeroStep; }
  // Before the segment is shared.
  void set_log(detail::LogSink log) { log_ = std::move(log); }
  static constexpr std::size_t kZeroStep = std::size_t{1} << 20;
  std::uint64_t first_seq() const noexcept { return first_seq_; }
  bool with_crc() const noexcept { return with_crc_; }
  const std::shared_ptr<FileHandle>& file() const noexcept { return file_; }
  const std::string& path() const noexcept { return file_->path(); }
  // Zeroes [offset, capacity): what recovery does to a torn tail.
  Status zero_from(std::size_t offset);
  // Writes the padding record at `offset` (the end of the records) that a
  // roll writes, and syncs it: recovery's repair of a segment whose padding
  // never reached the disk although the next segment continues it.
  Status seal_at(std::size_t offset);

 private:
  SegmentFile(std::shared_ptr<FileHandle> f, std::byte* base, std::size_t capacity, std::uint64_t first, bool crc)
      : file_(std::move(f)), base_(base), capacity_(capacity), ready_(capacity), first_seq_(first), with_crc_(crc) {}
  std::shared_ptr<FileHandle> file_;
  std::byte* base_;
  std::size_t capacity_;
  std::size_t ready_;         // set before the segment is shared; see ready_bytes()
  bool zero_failed_ = false;  // under the segment's zero lock (zero_range())
  detail::LogSink log_;       // EngineOptions::log
  std::uint64_t first_seq_;
  bool with_crc_;
};

using disk::segment_file_name;  // common/disk_names.h
// Segment files in `dir`, sorted by first sequence. Other files are ignored;
// a ".seg" file whose name is not a sequence is an error.
Result<std::vector<std::pair<std::uint64_t, std::string>>> list_segments(const std::string& dir);
// True when the file's first 64 bytes (its header) are all zero: a roll
// has renamed the zero-filled spare but not written the header yet. Read-only.
bool segment_header_is_zero(const std::string& path);
// mkdir -p with mode 0700 for what it creates.
Status make_dirs(const std::string& path);
// fsync of the directory: the names created or renamed in it are durable.
Status sync_dir(const std::string& dir);

}  // namespace conduit::persistence
