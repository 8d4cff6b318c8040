#include "tests/support/fault_injecting_disk_io.h"

namespace conduit::persistence {

void FaultInjectingDiskIo::fail_next(Op op, int err, int count) noexcept {
  Fault& f = faults_[static_cast<int>(op)];
  f.err.store(err, std::memory_order_relaxed);  // relaxed: published by the release below
  // Release pairs with the acquire in take_fault(): a taker sees `err`.
  f.left.store(count, std::memory_order_release);
}

bool FaultInjectingDiskIo::take_fault(Op op, int* err) noexcept {
  Fault& f = faults_[static_cast<int>(op)];
  // Acquire (load and CAS) pairs with the release in fail_next().
  int left = f.left.load(std::memory_order_acquire);
  while (left > 0 && !f.left.compare_exchange_weak(left, left - 1, std::memory_order_acquire))
    ;
  if (left <= 0) return false;
  *err = f.err.load(std::memory_order_relaxed);  // relaxed: ordered by the acquire above
  return true;
}

Status FaultInjectingDiskIo::datasync(std::span<const SyncRange> files, const std::function<void()>& while_waiting) {
  {
    std::unique_lock lk(hold_mu_);
    ++datasyncs_waiting_;
    hold_cv_.wait(lk, [&] { return !held_; });
    --datasyncs_waiting_;
  }
  if (int err = 0; take_fault(Op::kDatasync, &err))
    return Status::IOError("fdatasync " + (files.empty() ? std::string("?") : files[0].name) + ": " + errno_text(err));
  return inner_->datasync(files, while_waiting);
}

void FaultInjectingDiskIo::hold_datasyncs() {
  std::lock_guard lk(hold_mu_);
  held_ = true;
}

void FaultInjectingDiskIo::release_datasyncs() {
  {
    std::lock_guard lk(hold_mu_);
    held_ = false;
  }
  hold_cv_.notify_all();
}

int FaultInjectingDiskIo::datasyncs_waiting() const {
  std::lock_guard lk(hold_mu_);
  return datasyncs_waiting_;
}

Status FaultInjectingDiskIo::redirty(int fd, std::size_t bytes, const std::string& name) {
  last_redirty_bytes_.store(bytes, std::memory_order_relaxed);  // relaxed: see last_redirty_bytes()
  redirtied_.fetch_add(1, std::memory_order_relaxed);           // relaxed: a counter (see redirtied())
  return DiskIo::redirty(fd, bytes, name);
}

void FaultInjectingDiskIo::fail_next_write(WriteFault fault) {
  std::lock_guard lk(write_mu_);
  write_fault_ = std::move(fault);
  cont_fd_ = -1;
}

int FaultInjectingDiskIo::writes_faulted() const {
  std::lock_guard lk(write_mu_);
  return writes_faulted_;
}

std::int64_t FaultInjectingDiskIo::write_some(int fd, const std::byte* bytes, std::size_t size, std::uint64_t offset,
                                              const std::string& name) {
  std::size_t keep = size;
  {
    std::lock_guard lk(write_mu_);
    if (cont_fd_ == fd && cont_offset_ == offset) {
      // The step after a short write: the disk is full now (or, err 0, not).
      cont_fd_ = -1;
      if (cont_err_ != 0) return -std::int64_t{cont_err_};
    } else if (write_fault_.count > 0 &&
               (write_fault_.name_part.empty() || name.find(write_fault_.name_part) != std::string::npos)) {
      --write_fault_.count;
      ++writes_faulted_;
      if (write_fault_.short_bytes >= size) {
        if (write_fault_.err != 0) return -std::int64_t{write_fault_.err};
      } else {
        keep = write_fault_.short_bytes;
        if (keep == 0) return 0;  // nothing written, no error: no progress
        cont_fd_ = fd;
        cont_offset_ = offset + keep;
        cont_err_ = write_fault_.err;
      }
    }
  }
  return inner_->write_some(fd, bytes, keep, offset, name);
}

Status FaultInjectingDiskIo::preallocate(int fd, std::size_t bytes, const std::string& name) {
  if (int err = 0; take_fault(Op::kPreallocate, &err))
    return Status::IOError("fallocate " + name + ": " + errno_text(err));
  return inner_->preallocate(fd, bytes, name);
}

}  // namespace conduit::persistence
