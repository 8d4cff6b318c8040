#include "persistence/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <string_view>
#include <vector>

#include "common/disk_names.h"
#include "common/format.h"
#include "persistence/disk_io.h"
#include "persistence/segment_file.h"

namespace conduit::persistence {
namespace {

using disk::kControlMagic;
constexpr std::size_t kControlBytes = 4096;
constexpr std::size_t kFlags = 12, kDurable = 16, kPublished = 24, kGeneration = 32, kWakeEpoch = 64,
                      kParkedReaders = 128;

std::atomic_ref<std::uint64_t> word64(std::byte* base, std::size_t off) {
  return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(base + off));
}

}  // namespace

Result<std::unique_ptr<DataDirLock>> DataDirLock::acquire(const std::string& dir) {
  if (Status s = make_dirs(dir); !s.ok()) return s;
  const std::string path = dir + "/" + disk::kLockFileName;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("open " + path + ": " + errno_text(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return Status::Busy("data directory " + dir + " is in use by another engine (" + path + " is locked)");
    return Status::IOError("flock " + path + ": " + errno_text(err));
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(dir, fd));
}

DataDirLock::~DataDirLock() { ::close(fd_); }  // closing releases the flock

Result<std::unique_ptr<ControlFile>> ControlFile::open(const std::string& topic_dir) {
  const std::string path = disk::topic_file(topic_dir, disk::kControlFileName);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("open " + path + ": " + errno_text(errno));
  if (const int rc = ::posix_fallocate(fd, 0, kControlBytes); rc != 0) {
    ::close(fd);
    return Status::IOError("fallocate " + path + ": " + errno_text(rc));
  }
  void* p = ::mmap(nullptr, kControlBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    ::close(fd);
    return Status::IOError("mmap " + path + ": " + errno_text(errno));
  }
  auto* base = static_cast<std::byte*>(p);
  const std::uint64_t magic = format::load<std::uint64_t>(base);
  bool clean = false;
  if (magic == 0) {
    format::store<std::uint64_t>(base, kControlMagic);
    format::store<std::uint32_t>(base + 8, 1);
    // A new control file: its name reaches the disk with the directory.
    // (Its words do with the msync of mark_open().)
    if (Status s = sync_dir(topic_dir); !s.ok()) {
      ::munmap(p, kControlBytes);
      ::close(fd);
      return s;
    }
  } else if (magic != kControlMagic || format::load<std::uint32_t>(base + 8) != 1) {
    ::munmap(p, kControlBytes);
    ::close(fd);
    return Status::Corruption(path + " offset 0: not a conduit control file (or an unknown version)");
  } else {
    clean = (format::load<std::uint32_t>(base + kFlags) & 1u) != 0;
  }
  return std::unique_ptr<ControlFile>(new ControlFile(fd, base, path, clean, true));
}

void ControlFile::begin_session() noexcept {
  // Relaxed: readers in other processes only compare it with what they saw.
  word64(base_, kGeneration).fetch_add(1, std::memory_order_relaxed);
  // Forget readers that died while parked (SharedParkingLot::withdraw).
  // Relaxed: a hint, as every use of the count.
  std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(base_ + kParkedReaders))
      .store(0, std::memory_order_relaxed);
}

Result<std::unique_ptr<ControlFile>> ControlFile::open_for_reader(const std::string& topic_dir) {
  const std::string path = disk::topic_file(topic_dir, disk::kControlFileName);
  bool writable = true;
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
    writable = false;
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound("no topic log at " + topic_dir + " (" + path + " is missing)");
    return Status::IOError("open " + path + ": " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < kControlBytes) {
    ::close(fd);
    return Status::Corruption(path + ": shorter than a control file (" + std::to_string(kControlBytes) + " bytes)");
  }
  void* p = ::mmap(nullptr, kControlBytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::close(fd);
    return Status::IOError("mmap " + path + ": " + errno_text(err));
  }
  auto* base = static_cast<std::byte*>(p);
  if (format::load<std::uint64_t>(base) != kControlMagic || format::load<std::uint32_t>(base + 8) != 1) {
    ::munmap(p, kControlBytes);
    ::close(fd);
    return Status::Corruption(path + " offset 0: not a conduit control file (or an unknown version)");
  }
  const bool clean = (format::load<std::uint32_t>(base + kFlags) & 1u) != 0;
  return std::unique_ptr<ControlFile>(new ControlFile(fd, base, path, clean, writable));
}

ControlFile::ControlFile(int fd, std::byte* base, std::string path, bool was_clean, bool writable)
    : fd_(fd),
      base_(base),
      path_(std::move(path)),
      was_clean_(was_clean),
      lot_(reinterpret_cast<std::uint32_t*>(base + kWakeEpoch),
           writable ? reinterpret_cast<std::uint32_t*>(base + kParkedReaders) : nullptr) {}

std::uint64_t ControlFile::published() const noexcept {
  // Acquire pairs with the release in set_published().
  return word64(base_, kPublished).load(std::memory_order_acquire);
}
std::uint64_t ControlFile::generation() const noexcept {
  // Relaxed: compared only; nothing is read through it.
  return word64(base_, kGeneration).load(std::memory_order_relaxed);
}
bool ControlFile::closed_cleanly() const noexcept {
  // Acquire pairs with the release in set_flags().
  return (std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(base_ + kFlags))
              .load(std::memory_order_acquire) &
          1u) != 0;
}

Result<ControlSnapshot> ControlFile::read_only(const std::string& topic_dir) {
  const std::string path = disk::topic_file(topic_dir, disk::kControlFileName);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no control file");
    return Status::IOError("open " + path + ": " + errno_text(errno));
  }
  std::byte buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  const int err = errno;
  ::close(fd);
  if (n < 0) return Status::IOError("read " + path + ": " + errno_text(err));
  if (n != static_cast<ssize_t>(sizeof buf) || format::load<std::uint64_t>(buf) != kControlMagic ||
      format::load<std::uint32_t>(buf + 8) != 1)
    return Status::Corruption(path + " offset 0: not a conduit control file (or an unknown version)");
  // A plain read: the owner stores these words with release through its
  // mapping; pread copies each aligned 8-byte word whole from the page cache.
  ControlSnapshot snap;
  snap.clean = (format::load<std::uint32_t>(buf + kFlags) & 1u) != 0;
  snap.durable = format::load<std::uint64_t>(buf + kDurable);
  snap.published = format::load<std::uint64_t>(buf + kPublished);
  return snap;
}

ControlFile::~ControlFile() {
  ::munmap(base_, kControlBytes);
  ::close(fd_);
}

std::uint64_t ControlFile::durable() const noexcept {
  // Acquire pairs with the release in set_durable() (a reader in another process too).
  return word64(base_, kDurable).load(std::memory_order_acquire);
}
void ControlFile::set_durable(std::uint64_t seq) noexcept {
  // Release pairs with the acquire in durable().
  word64(base_, kDurable).store(seq, std::memory_order_release);
}
void ControlFile::set_published(std::uint64_t seq) noexcept {
  // Release pairs with acquire loads by readers of the control file.
  word64(base_, kPublished).store(seq, std::memory_order_release);
}

void ControlFile::set_flags(std::uint32_t flags) noexcept {
  // Release pairs with the acquire in closed_cleanly() (another process).
  std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(base_ + kFlags))
      .store(flags, std::memory_order_release);
}

Status ControlFile::sync() {
  if (::msync(base_, kControlBytes, MS_SYNC) != 0) return Status::IOError("msync " + path_ + ": " + errno_text(errno));
  return Status::OK();
}

Status ControlFile::mark_open() {
  set_flags(0);
  return sync();
}

Status ControlFile::mark_clean(std::uint64_t durable) {
  set_durable(durable);
  set_published(durable);
  set_flags(1);
  return sync();
}

}  // namespace conduit::persistence

namespace conduit::persistence {
namespace {

Status remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Status::IOError("remove " + path + ": " + ec.message());
  return Status::OK();
}

}  // namespace

Status remove_topic_dir(const std::string& topics_dir, const std::string& name, std::uint64_t n) {
  const std::string from = topics_dir + "/" + name;
  const std::string to = topics_dir + "/" + disk::tombstone_name(name, n);
  if (::rename(from.c_str(), to.c_str()) != 0) {
    if (errno == ENOENT) return Status::OK();  // never had a directory
    return Status::IOError("rename " + from + " to " + to + ": " + errno_text(errno));
  }
  if (Status s = sync_dir(topics_dir); !s.ok()) return s;
  return remove_tree(to);
}

Status remove_tombstones(const std::string& topics_dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(topics_dir, ec);
  if (ec)
    return ec == std::errc::no_such_file_or_directory ? Status::OK()
                                                      : Status::IOError("open " + topics_dir + ": " + ec.message());
  std::vector<std::string> tombstones;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().starts_with(disk::kTombstonePrefix)) tombstones.push_back(it->path().string());
  }
  if (ec) return Status::IOError("list " + topics_dir + ": " + ec.message());
  for (const auto& t : tombstones)
    if (Status s = remove_tree(t); !s.ok()) return s;
  return Status::OK();
}

}  // namespace conduit::persistence
