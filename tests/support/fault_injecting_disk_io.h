// A DiskIo for tests that fails chosen operations, wrapped around a real
// backend (persistence/disk_io.h). Test code, not part of the library: the
// tests link it from conduit_test_support.
#pragma once

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "conduit/status.h"
#include "persistence/disk_io.h"

namespace conduit::persistence {

// Tests: fails the next operations of one kind with the given errno
// (ENOSPC, EIO), then passes them through again. Kinds are separate so that
// a fault meant for a sync is not taken by the persistence thread's
// preparation of the next segment, nor by a control file's write.
// fail_next() and fail_next_write() may be called from any thread while
// other threads use the object.
class FaultInjectingDiskIo final : public DiskIo {
 public:
  enum class Op : std::uint8_t { kDatasync, kPreallocate };
  // A fault for the next write_at() calls on files whose name contains
  // `name_part` (empty: any file).
  struct WriteFault {
    static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    int err = ENOSPC;  // the errno; 0: no error, only the short write below
    // Not kNone: the call first writes only its first `short_bytes` bytes
    // (they reach the file) and reports that short count; the write that
    // continues it then fails with `err`, as on a disk that just filled up.
    // With err 0 the continuation goes through: a legitimate short write.
    std::size_t short_bytes = kNone;
    std::string name_part;
    int count = 1;  // write_at() calls to fault
  };
  explicit FaultInjectingDiskIo(std::unique_ptr<DiskIo> inner) : inner_(std::move(inner)) {}
  void fail_next(Op op, int err, int count = 1) noexcept;
  void fail_next_write(WriteFault fault);
  Status datasync(std::span<const SyncRange> files, const std::function<void()>& while_waiting = {}) override;
  Status preallocate(int fd, std::size_t bytes, const std::string& name) override;
  // Not a fault point (its sync included): forwarded as it is, so that a
  // spare being zeroed never takes a fault meant for a sync round.
  Status write_zeros(int fd, std::size_t from, std::size_t to, const std::string& name, bool then_sync) override {
    return inner_->write_zeros(fd, from, to, name, then_sync);
  }
  // Counts, then rewrites through this object's write_some() (so a write
  // fault can hit it too).
  Status redirty(int fd, std::size_t bytes, const std::string& name) override;
  std::int64_t write_some(int fd, const std::byte* bytes, std::size_t size, std::uint64_t offset,
                          const std::string& name) override;
  // write_at() calls a write fault was taken by so far.
  int writes_faulted() const;
  // While held, datasync() calls wait (before syncing) until released; how
  // many wait now. For tests that need a sync to be in progress at a
  // chosen moment.
  void hold_datasyncs();
  void release_datasyncs();
  int datasyncs_waiting() const;
  Status sync_directory(const std::string& dir) override { return inner_->sync_directory(dir); }
  const char* name() const noexcept override { return "fault-injecting"; }
  bool syncs_ranges() const noexcept override { return inner_->syncs_ranges(); }
  // Files redirty() was called on so far.
  int redirtied() const noexcept {
    // Relaxed: a counter, read by the test thread after the round it waited for.
    return redirtied_.load(std::memory_order_relaxed);
  }
  // The `bytes` of the last redirty() call.
  std::size_t last_redirty_bytes() const noexcept {
    // Relaxed: as redirtied().
    return last_redirty_bytes_.load(std::memory_order_relaxed);
  }

 private:
  struct Fault {
    std::atomic<int> err{0};
    std::atomic<int> left{0};  // operations still to fail
  };
  // Takes one fault of kind `op` if one is armed; *err is its errno.
  bool take_fault(Op op, int* err) noexcept;
  std::unique_ptr<DiskIo> inner_;
  Fault faults_[2];
  mutable std::mutex write_mu_;
  WriteFault write_fault_{0, WriteFault::kNone, {}, 0};  // guarded by write_mu_; count 0: none armed
  // A short write was reported: the write_at() step that continues it
  // (this fd, at this offset) fails with cont_err_. Guarded by write_mu_.
  int cont_fd_ = -1;
  std::uint64_t cont_offset_ = 0;
  int cont_err_ = 0;
  int writes_faulted_ = 0;  // guarded by write_mu_
  mutable std::mutex hold_mu_;
  std::condition_variable hold_cv_;
  bool held_ = false;          // guarded by hold_mu_
  int datasyncs_waiting_ = 0;  // guarded by hold_mu_
  std::atomic<int> redirtied_{0};
  std::atomic<std::size_t> last_redirty_bytes_{0};
};

}  // namespace conduit::persistence
