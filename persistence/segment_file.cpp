#include "persistence/segment_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>  // after segment_file.h: its BLOCK_SIZE macro breaks concurrentqueue.h
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/format.h"
#include "persistence/disk_io.h"

namespace conduit::persistence {

FileHandle::~FileHandle() {
  if (fd_ >= 0) ::close(fd_);
}

Status make_dirs(const std::string& path) {
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0700) != 0) {
      if (errno == EEXIST) continue;
      return Status::IOError("mkdir " + partial + ": " + errno_text(errno));
    }
    // A new directory's name is on disk once its parent is synced: without
    // this a power cut could take a topic's whole directory, records that
    // were durable included (doc/durability.md).
    const std::size_t slash = partial.find_last_of('/');
    const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : partial.substr(0, slash);
    if (Status s = sync_dir(parent); !s.ok()) return s;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return Status::IOError(path + " is not a directory");
  return Status::OK();
}

Status sync_dir(const std::string& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::IOError("open " + dir + ": " + errno_text(errno));
  const int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return Status::IOError("fsync " + dir + ": " + errno_text(errno));
  return Status::OK();
}

void SegmentFile::evict_zeros(int fd, std::size_t from, std::size_t to) noexcept {
  // Written with large writes, the zeros sit in the page cache as large
  // folios; a store into any page of one dirties all of it, and every sync
  // round would write the whole folio again. Clean after the sync, they go
  // (pages mapped somewhere stay).
  (void)::posix_fadvise(fd, static_cast<off_t>(from), static_cast<off_t>(to - from), POSIX_FADV_DONTNEED);
}

namespace {

// Whether [from, to) of the file may hold an unwritten extent: true unless
// FIEMAP says none does (a filesystem without FIEMAP: true).
bool may_be_unwritten(int fd, std::size_t from, std::size_t to) noexcept {
  constexpr unsigned kMax = 64;
  alignas(fiemap) char buf[sizeof(fiemap) + kMax * sizeof(fiemap_extent)] = {};
  auto* fm = reinterpret_cast<fiemap*>(buf);
  fm->fm_start = from;
  fm->fm_length = to - from;
  fm->fm_extent_count = kMax;
  if (::ioctl(fd, FS_IOC_FIEMAP, fm) != 0) return true;
  if (fm->fm_mapped_extents == kMax) return true;  // more than it could list: do not guess
  for (unsigned i = 0; i < fm->fm_mapped_extents; ++i)
    if (fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN) return true;
  return false;
}

// The syscalls, whoever calls (create_topic's caller, a producer, the zero
// thread): not the persistence thread's ring. Stateless; made once, never freed.
DiskIo& syscall_io() {
  static DiskIo* io = make_syscall_disk_io().release();
  return *io;
}

}  // namespace

void SegmentFile::zero_range(std::size_t from, std::size_t to) noexcept {
  const int fd = file_->fd();
  if (Status s = syscall_io().write_zeros(fd, from, to, path(), true); !s.ok()) {
    if (!zero_failed_)
      detail::log(log_, LogLevel::kWarning, s.to_string() + "; its sync rounds may be slower (no data is lost)");
    zero_failed_ = true;
    return;
  }
  evict_zeros(fd, from, to);
}

void SegmentFile::prepare_for_appends(std::size_t end) noexcept {
  constexpr std::size_t kPage = 4096;
  const std::size_t page = std::min(capacity_, (end + kPage - 1) & ~(kPage - 1));
  drop_resident_range(page, capacity_);
  evict_zeros(file_->fd(), page, capacity_);
  map_for_appends(base_, capacity_);
  if (may_be_unwritten(file_->fd(), end, capacity_)) ready_ = end;
}

void SegmentFile::map_for_appends(void* base, std::size_t bytes) noexcept {
  // A kSync topic's segment, zeroed (written extents, nothing cached).
  // A fault that finds no page in the cache reads around it, in large
  // folios on Linux 6.x: with MADV_RANDOM it reads the one 4 KiB page, so a
  // producer's store dirties 4 KiB and a round writes back what changed.
  // Why the zeros at all: storing into an unwritten (fallocated) extent
  // makes the sync that writes it convert the extent, a journal commit.
  // wal_bench BM_SyncPublish, 16 publishers, 2-core VM, ext4: a fifth of
  // the rounds took 0.2 to 1.2 ms before; see doc/design-choices.md. The
  // cost: reading this segment from disk goes page by page until
  // drop_resident_pages() puts read-around back.
  (void)::madvise(base, bytes, MADV_RANDOM);
}

Result<std::unique_ptr<SegmentFile>> SegmentFile::create(const std::string& dir, std::uint64_t first_seq,
                                                         std::size_t capacity, std::int64_t created_ns, bool with_crc,
                                                         bool zeroed) {
  const std::string path = dir + "/" + segment_file_name(first_seq);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("create " + path + ": " + errno_text(errno));
  auto handle = std::make_shared<FileHandle>(fd, path);
  // Reserve every block now, so writes through the mapping never meet a
  // full disk (which would be SIGBUS, not an error code).
  if (const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(capacity)); rc != 0) {
    ::unlink(path.c_str());
    return Status::IOError("fallocate " + path + " (" + std::to_string(capacity) + " bytes): " + errno_text(rc));
  }
  if (zeroed) {
    // On the caller's thread: the syscalls, not the persistence thread's
    // ring. All of it now: zeros written ahead of the producers while they
    // publish (as for a recovered tail, prepare_for_appends()) cost a new
    // topic's 16 sync publishers 2 to 4% of their rate over its first
    // segment (doc/design-choices.md), where this costs create_topic().
    if (Status s = syscall_io().write_zeros(fd, 0, capacity, path, true); !s.ok()) {
      ::unlink(path.c_str());
      return s;
    }
    evict_zeros(fd, 0, capacity);
  }
  void* p = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    ::unlink(path.c_str());
    return Status::IOError("mmap " + path + ": " + errno_text(errno));
  }
  if (zeroed) map_for_appends(p, capacity);
  auto* base = static_cast<std::byte*>(p);
  format::SegmentHeader h;
  h.first_seq = first_seq;
  h.created_ns = created_ns;
  h.capacity = capacity;
  h.flags = with_crc ? format::kSegmentFlagCrc : 0;
  format::encode_segment_header(base, h);
  return std::unique_ptr<SegmentFile>(new SegmentFile(std::move(handle), base, capacity, first_seq, with_crc));
}

Result<std::unique_ptr<SegmentFile>> SegmentFile::create_spare(
    const std::string& dir, std::size_t capacity,
    const std::function<Status(int, std::size_t, const std::string&)>& reserve) {
  const std::string path = dir + "/.spare";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("create " + path + ": " + errno_text(errno));
  auto handle = std::make_shared<FileHandle>(fd, path);
  if (Status s = reserve(fd, capacity, path); !s.ok()) {
    ::unlink(path.c_str());
    return s;
  }
  void* p = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    ::unlink(path.c_str());
    return Status::IOError("mmap " + path + ": " + errno_text(errno));
  }
  // Not populated here: FileTopicStorage::prepare_spare populates its first
  // pages, and populate_ahead the rest just ahead of the producers.
  // MADV_POPULATE_READ would map the pages read-only, so each producer's
  // first write still faults (write-protect, page_mkwrite), and that fault
  // measured dearer than a first touch of an unmapped page: async publish
  // ran 1.5x slower with it (bench/wal_bench, 2-core VM, ext4, Linux 6.18).
  return std::unique_ptr<SegmentFile>(
      new SegmentFile(std::move(handle), static_cast<std::byte*>(p), capacity, 0, true));
}

Status SegmentFile::adopt(const std::string& dir, std::uint64_t first_seq, std::int64_t created_ns) {
  const std::string path = dir + "/" + segment_file_name(first_seq);
  if (::rename(file_->path().c_str(), path.c_str()) != 0)
    return Status::IOError("rename " + file_->path() + " to " + path + ": " + errno_text(errno));
  file_ = std::make_shared<FileHandle>(::dup(file_->fd()), path);
  if (file_->fd() < 0) return Status::IOError("dup " + path + ": " + errno_text(errno));
  first_seq_ = first_seq;
  format::SegmentHeader h;
  h.first_seq = first_seq;
  h.capacity = capacity_;
  h.flags = format::kSegmentFlagCrc;
  h.created_ns = created_ns;
  format::encode_segment_header(base_, h);
  return Status::OK();
}

Status SegmentFile::relabel_for_appends() {
  format::SegmentHeader h;
  if (format::decode_segment_header(base_, &h) != format::HeaderCheck::kOk)
    return Status::Corruption(path() + " offset 0: the segment header no longer checks");
  if (h.version == format::kVersion) return Status::OK();
  h.version = format::kVersion;
  format::encode_segment_header(base_, h);
  if (::msync(base_, format::kSegmentHeaderSize, MS_SYNC) != 0)
    return Status::IOError("msync " + path() + " (its header, relabelled as format version " +
                           std::to_string(format::kVersion) + "): " + errno_text(errno));
  return Status::OK();
}

Result<std::unique_ptr<SegmentFile>> SegmentFile::open(const std::string& path, bool writable) {
  const int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + path + ": " + errno_text(errno));
  auto handle = std::make_shared<FileHandle>(fd, path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::IOError("stat " + path + ": " + errno_text(errno));
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < format::kSegmentHeaderSize)
    return Status::Corruption(path + " offset 0: file of " + std::to_string(size) +
                              " bytes is shorter than a segment header");
  void* p = ::mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Status::IOError("mmap " + path + ": " + errno_text(errno));
  auto* base = static_cast<std::byte*>(p);
  format::SegmentHeader h;
  const format::HeaderCheck check = format::decode_segment_header(base, &h);
  if (check != format::HeaderCheck::kOk || h.capacity != size) {
    ::munmap(p, size);
    const std::string why = check != format::HeaderCheck::kOk ? format::header_check_name(check)
                                                              : "header capacity differs from the file size";
    if (check == format::HeaderCheck::kBadVersion)
      return Status::Unsupported(path + " offset 8: segment format version " + std::to_string(h.version) +
                                 " is not one this build reads (" + format::versions_read() + ")");
    return Status::Corruption(path + " offset 0: " + why);
  }
  return std::unique_ptr<SegmentFile>(
      new SegmentFile(std::move(handle), base, size, h.first_seq, (h.flags & format::kSegmentFlagCrc) != 0));
}

SegmentFile::~SegmentFile() { ::munmap(base_, capacity_); }

void SegmentFile::drop_resident_pages() noexcept {
  (void)::madvise(base_, capacity_, MADV_DONTNEED);
  (void)::madvise(base_, capacity_, MADV_NORMAL);
}

void SegmentFile::drop_resident_range(std::size_t from, std::size_t to) noexcept {
  // A shared file mapping: the page cache keeps the bytes (and their dirty
  // state); only this process's page-table entries go.
  if (from < to && to <= capacity_) (void)::madvise(base_ + from, to - from, MADV_DONTNEED);
}

namespace {
#ifndef MADV_POPULATE_WRITE
constexpr int MADV_POPULATE_WRITE = 23;  // Linux 5.14
#endif
std::atomic<bool> populate_unsupported{false};
}  // namespace

void SegmentFile::populate_range(std::size_t from, std::size_t to) noexcept {
  // Relaxed, both: a process-wide hint; a race only costs one more EINVAL.
  if (from >= to || to > capacity_ || populate_unsupported.load(std::memory_order_relaxed)) return;
  if (::madvise(base_ + from, to - from, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
    populate_unsupported.store(true, std::memory_order_relaxed);
}

Status SegmentFile::zero_from(std::size_t offset) {
  if (offset >= capacity_) return Status::OK();
  const auto off = static_cast<off_t>(offset), len = static_cast<off_t>(capacity_ - offset);
  // Cheapest first: zero the range in the file system's metadata; else punch
  // a hole and reserve it again; else write zeros through the mapping.
  if (::fallocate(file_->fd(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len) != 0) {
    if (::fallocate(file_->fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0) {
      if (const int rc = ::posix_fallocate(file_->fd(), off, len); rc != 0)
        return Status::IOError("fallocate " + path() + ": " + errno_text(rc));
    } else {
      std::memset(base_ + offset, 0, capacity_ - offset);
      if (::msync(base_, capacity_, MS_SYNC) != 0) return Status::IOError("msync " + path() + ": " + errno_text(errno));
    }
  }
  if (::fdatasync(file_->fd()) != 0) return Status::IOError("fdatasync " + path() + ": " + errno_text(errno));
  return Status::OK();
}

Status SegmentFile::seal_at(std::size_t offset) {
  if (offset >= capacity_) return Status::OK();  // ends exactly at its capacity: nothing to write
  format::commit_length(base_ + offset, format::kPaddingFlag | static_cast<std::uint32_t>(capacity_ - offset));
  constexpr std::size_t kPage = 4096;
  const std::size_t page = offset & ~(kPage - 1);
  if (::msync(base_ + page, kPage, MS_SYNC) != 0)
    return Status::IOError("msync " + path() + " (the padding record recovery wrote at offset " +
                           std::to_string(offset) + "): " + errno_text(errno));
  return Status::OK();
}

bool segment_header_is_zero(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::byte buf[format::kSegmentHeaderSize] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  ::close(fd);
  return n >= 0 && std::all_of(buf, buf + n, [](std::byte b) { return b == std::byte{0}; });
}

Result<std::vector<std::pair<std::uint64_t, std::string>>> list_segments(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::IOError("opendir " + dir + ": " + errno_text(errno));
  std::vector<std::pair<std::uint64_t, std::string>> out;
  Status bad;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (!name.ends_with(disk::kSegmentSuffix)) continue;
    const std::string stem = name.substr(0, name.size() - disk::kSegmentSuffix.size());
    if (stem.empty() || stem.size() > 20 ||
        !std::all_of(stem.begin(), stem.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      bad = Status::Corruption(dir + "/" + name + ": segment file name is not a sequence");
      continue;
    }
    out.emplace_back(std::stoull(stem), dir + "/" + name);
  }
  ::closedir(d);
  if (!bad.ok()) return bad;
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace conduit::persistence
