#include "persistence/disk_io.h"
#include "persistence/segment_file.h"

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <vector>

namespace conduit::persistence {

std::string errno_text(int err) { return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")"; }

Status DiskIo::sync_directory(const std::string& dir) { return sync_dir(dir); }

Status DiskIo::redirty(int fd, std::size_t bytes, const std::string& name) {
  std::vector<std::byte> buf(1u << 20);
  for (off_t off = 0; static_cast<std::size_t>(off) < bytes;) {
    const std::size_t want = std::min(buf.size(), bytes - static_cast<std::size_t>(off));
    const ssize_t n = ::pread(fd, buf.data(), want, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("pread " + name + " (to write it again after a failed fdatasync): " + errno_text(errno));
    }
    if (n == 0) return Status::OK();
    if (Status s =
            write_at(fd, std::span(buf.data(), static_cast<std::size_t>(n)), static_cast<std::uint64_t>(off), name);
        !s.ok())
      return Status::IOError(s.message() + " (writing it again after a failed fdatasync)");
    off += n;
  }
  return Status::OK();
}

Status DiskIo::write_at(int fd, std::span<const std::byte> bytes, std::uint64_t offset, const std::string& name) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const std::int64_t n = write_some(fd, bytes.data() + done, bytes.size() - done, offset + done, name);
    if (n == -EINTR) continue;
    if (n <= 0) {
      // A regular file's pwrite writes nothing only when it cannot: say so
      // rather than loop.
      const std::string why = n == 0 ? "the write made no progress" : errno_text(static_cast<int>(-n));
      return Status::IOError("write " + name + ": " + why + ", after " + std::to_string(done) + " of " +
                             std::to_string(bytes.size()) + " bytes at offset " + std::to_string(offset));
    }
    done += static_cast<std::size_t>(n);
  }
  return Status::OK();
}

namespace {
constexpr std::size_t kZeroChunk = 1u << 20;
const std::byte* zero_chunk() {
  static const std::vector<std::byte> zeros(kZeroChunk);
  return zeros.data();
}
}  // namespace

Status DiskIo::write_zeros(int fd, std::size_t from, std::size_t to, const std::string& name, bool then_sync) {
  for (std::size_t off = from; off < to; off += kZeroChunk)
    if (Status s = write_at(fd, std::span(zero_chunk(), std::min(kZeroChunk, to - off)), off, name); !s.ok()) return s;
  if (then_sync && ::fdatasync(fd) != 0)
    return Status::IOError("fdatasync " + name + " (after writing zeros): " + errno_text(errno));
  return Status::OK();
}

std::int64_t DiskIo::write_some(int fd, const std::byte* bytes, std::size_t size, std::uint64_t offset,
                                const std::string& /*name*/) {
  const ssize_t n = ::pwrite(fd, bytes, size, static_cast<off_t>(offset));
  return n < 0 ? -std::int64_t{errno} : std::int64_t{n};
}

namespace {

class SyscallDiskIo final : public DiskIo {
 public:
  // Each file whole: fdatasync has no range.
  Status datasync(std::span<const SyncRange> files,
                  const std::function<void()>& /*while_waiting: fdatasync blocks*/) override {
    Status first;
    for (const SyncRange& f : files) {
      if (::fdatasync(f.fd) != 0 && first.ok())
        first = Status::IOError("fdatasync " + f.name + ": " + errno_text(errno));
    }
    return first;
  }
  Status preallocate(int fd, std::size_t bytes, const std::string& name) override {
    const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
    if (rc != 0) return Status::IOError("fallocate " + name + ": " + errno_text(rc));
    return Status::OK();
  }
  const char* name() const noexcept override { return "syscalls (fdatasync/fallocate)"; }
};

// UringDiskIo::submit_and_reap's name_of for an operation on one file.
auto only(const std::string& name) {
  return [&name](std::uint64_t) -> const std::string& { return name; };
}

class UringDiskIo final : public DiskIo {
 public:
  ~UringDiskIo() override { io_uring_queue_exit(&ring_); }
  int init() noexcept { return io_uring_queue_init(kEntries, &ring_, 0); }

  Status datasync(std::span<const SyncRange> files, const std::function<void()>& while_waiting) override {
    Status first;
    std::size_t done = 0;
    while (done < files.size()) {
      const std::size_t batch = std::min<std::size_t>(files.size() - done, kEntries);
      for (std::size_t i = 0; i < batch; ++i) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        io_uring_prep_fsync(sqe, files[done + i].fd, IORING_FSYNC_DATASYNC);
        // A range [0, len): the kernel syncs [off, off + len] (vfs_fsync_range);
        // len 0 is the whole file, and so is a length the 32-bit field cannot hold.
        const std::size_t len = files[done + i].length;
        if (len <= UINT32_MAX) sqe->len = static_cast<std::uint32_t>(len);
        io_uring_sqe_set_data64(sqe, done + i);
      }
      Status s = submit_and_reap(
          batch, [&](std::uint64_t idx) -> const std::string& { return files[idx].name; }, "fdatasync ", while_waiting);
      if (first.ok()) first = s;
      done += batch;
    }
    return first;
  }

  Status preallocate(int fd, std::size_t bytes, const std::string& name) override {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_fallocate(sqe, fd, 0, 0, static_cast<off_t>(bytes));
    io_uring_sqe_set_data64(sqe, 0);
    return submit_and_reap(1, only(name), "fallocate ");
  }
  Status write_zeros(int fd, std::size_t from, std::size_t to, const std::string& name, bool then_sync) override {
    // 1 MiB WRITEs from one zero buffer, kZeroDepth in flight.
    constexpr unsigned kZeroDepth = 8;
    std::size_t off = from;
    while (off < to) {
      unsigned n = 0;
      for (; n < kZeroDepth && off < to; ++n, off += kZeroChunk) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        io_uring_prep_write(sqe, fd, zero_chunk(), static_cast<unsigned>(std::min(kZeroChunk, to - off)), off);
        io_uring_sqe_set_data64(sqe, 0);
      }
      // A short write into reserved blocks does not happen on a regular
      // file; were it to, the bytes left unwritten stay unwritten extents,
      // which costs speed, not data.
      if (Status s = submit_and_reap(n, only(name), "write zeros "); !s.ok()) return s;
    }
    if (!then_sync) return Status::OK();
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, 0);
    return submit_and_reap(1, only(name), "fdatasync (after writing zeros) ");
  }
  // write_some(): the base class's pwrite. The control files' writes are
  // small, rare and made on the committing thread, while this ring is the
  // persistence thread's alone (see disk_io.h).
  const char* name() const noexcept override { return "io_uring"; }
  bool syncs_ranges() const noexcept override { return true; }  // IORING_OP_FSYNC takes a range

 private:
  // Submits what is queued and waits for `n` completions; io_uring's -errno
  // becomes a Status here, and only here. `name_of(user data)`: the file
  // an operation was on, for its error.
  template <class NameOf>
  Status submit_and_reap(std::size_t n, const NameOf& name_of, const char* what,
                         const std::function<void()>& while_waiting = {}) {
    int rc = while_waiting ? io_uring_submit(&ring_) : io_uring_submit_and_wait(&ring_, static_cast<unsigned>(n));
    if (rc < 0) return Status::IOError(std::string("io_uring submit: ") + errno_text(-rc));
    Status first;
    for (std::size_t got = 0; got < n;) {
      io_uring_cqe* cqe = nullptr;
      if (while_waiting) {
        while_waiting();
        __kernel_timespec wait{0, 250'000};
        rc = io_uring_wait_cqe_timeout(&ring_, &cqe, &wait);
        if (rc == -ETIME || rc == -EINTR) continue;
      } else {
        rc = io_uring_wait_cqe(&ring_, &cqe);
      }
      if (rc < 0) return Status::IOError(std::string("io_uring wait: ") + errno_text(-rc));
      const auto idx = io_uring_cqe_get_data64(cqe);
      if (cqe->res < 0 && first.ok()) first = Status::IOError(what + name_of(idx) + ": " + errno_text(-cqe->res));
      io_uring_cqe_seen(&ring_, cqe);
      ++got;
    }
    return first;
  }
  static constexpr unsigned kEntries = 64;
  io_uring ring_{};
};

}  // namespace

std::unique_ptr<DiskIo> make_syscall_disk_io() { return std::make_unique<SyscallDiskIo>(); }

std::unique_ptr<DiskIo> make_disk_io(bool force_fallback, std::string* why_fallback) {
  if (force_fallback) {
    *why_fallback = "forced (EngineOptions::force_syscall_io or CONDUIT_FORCE_SYSCALL_IO=1)";
    return make_syscall_disk_io();
  }
  auto uring = std::make_unique<UringDiskIo>();
  if (const int rc = uring->init(); rc < 0) {
    *why_fallback = "io_uring_queue_init failed: " + errno_text(-rc);
    return make_syscall_disk_io();
  }
  why_fallback->clear();
  return uring;
}

}  // namespace conduit::persistence
