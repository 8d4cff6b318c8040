// The disk operations the write-ahead log needs, behind one small interface
// (as leveldb's Env): an io_uring backend and a plain-syscall fallback. The
// tests' fault-injecting wrapper is not part of the library
// (tests/support/fault_injecting_disk_io.h).
//
// Producers write records straight into the mapped segment (the log is the
// ring: doc/architecture.md, doc/design-choices.md); what goes to the kernel is
// the durability work: fdatasync of the files written since the last one,
// batched into one submission, and preallocation of the next segment. The
// small control files (committed positions, work-group states, journal
// headers, the clean-close record) are written with write_at().
//
// Thread safety: one DiskIo is used by one thread (the engine's persistence
// thread), except write_at()/write_some(), which any thread may call (the
// threads that commit positions and states), and make_disk_io().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "conduit/status.h"

namespace conduit::persistence {

// One file of a DiskIo::datasync() batch, and how much of it to sync.
struct SyncRange {
  int fd = -1;
  std::string name;  // for errors
  // When not 0, limits the sync to the file's first `length` bytes (its
  // data there and the metadata to find it, as fdatasync; io_uring's fsync
  // takes a range). A backend without ranges syncs the whole file, which
  // covers it. Dirty pages past the range (a segment's pages mapped ahead
  // of its producers) are then not written. 0: the whole file.
  std::size_t length = 0;
};

class DiskIo {
 public:
  virtual ~DiskIo() = default;
  // fdatasync of every file in `files`, as one batch; the first failure is
  // returned (naming the file), after every operation has completed.
  // `while_waiting`, when set, is called again and again (every 250 µs at
  // most) while a backend that can wait without blocking (io_uring) waits
  // for the batch: the persistence thread's other work goes on meanwhile.
  virtual Status datasync(std::span<const SyncRange> files, const std::function<void()>& while_waiting = {}) = 0;
  // Whether datasync() honours SyncRange::length (io_uring). Where it does
  // not, a sync writes every dirty page of the file, pages mapped ahead of
  // the producers included (FileTopicStorage then maps none ahead).
  virtual bool syncs_ranges() const noexcept { return false; }
  // Reserves `bytes` for the file (fallocate mode 0).
  virtual Status preallocate(int fd, std::size_t bytes, const std::string& name) = 0;
  // Writes zeros over [from, to) of the file (reserved before), then, when
  // `then_sync`, syncs the file: its extents become written ones, and a
  // later fdatasync of data stored there has no unwritten extent to convert
  // (see SegmentFile::map_for_appends()). The base class writes 1 MiB at a
  // time through write_at(), then calls fdatasync(2): any thread may use it.
  virtual Status write_zeros(int fd, std::size_t from, std::size_t to, const std::string& name, bool then_sync);
  // After a failed fdatasync: makes the pages of the file's first `bytes`
  // dirty again by writing those bytes (read back from the page cache) over
  // themselves. Linux marks pages clean after a writeback error, so without
  // this the next fdatasync could succeed without writing them
  // ("fsyncgate"). The caller passes only bytes that nobody is writing (the
  // producers of the mapping may be writing past them). An error path: plain
  // pread, then write_at(); not batched.
  virtual Status redirty(int fd, std::size_t bytes, const std::string& name);
  // Writes every byte of `bytes` at `offset`. A short write goes on from
  // where it stopped; a write that fails, or writes nothing, is kIOError
  // naming `name`, the errno and how many bytes were written before it.
  // Thread-safe.
  Status write_at(int fd, std::span<const std::byte> bytes, std::uint64_t offset, const std::string& name);
  // One write_at() step: one pwrite(2) of up to `size` bytes; the count
  // written (perhaps fewer than asked) or -errno. Every backend uses the
  // syscall, io_uring's too: these writes are few and small (a control
  // file, a journal header), are made by whichever thread commits, and the
  // ring belongs to the persistence thread. `name` is for fault injection.
  // Thread-safe.
  virtual std::int64_t write_some(int fd, const std::byte* bytes, std::size_t size, std::uint64_t offset,
                                  const std::string& name);
  // fsync(2) of directory `dir`: names created or renamed in it reach the
  // disk (a new segment file's, before any record in it is durable). Rare
  // (once per segment roll): the syscall on every backend.
  virtual Status sync_directory(const std::string& dir);
  virtual const char* name() const noexcept = 0;
};

// io_uring when it can be set up (and `force_fallback` is false); otherwise
// the syscall fallback. `why_fallback` says why the fallback was chosen.
std::unique_ptr<DiskIo> make_disk_io(bool force_fallback, std::string* why_fallback);
std::unique_ptr<DiskIo> make_syscall_disk_io();

std::string errno_text(int err);

}  // namespace conduit::persistence
