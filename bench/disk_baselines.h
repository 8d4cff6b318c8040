// Raw disk baselines shared by bench/wal_bench.cpp and conduit-bench: what
// the same disk does without conduit, measured in the same run.
//
//   RawSyncLog       pwrite of one payload at the next offset of a
//                    preallocated file, then fdatasync, in a loop (the
//                    baseline of a kSync topic); or (RawWrite) a store of
//                    it into a shared mapping of the file instead of the
//                    pwrite (how conduit's producers write), with or
//                    without MADV_RANDOM on the mapping.
//   raw_async_write  sequential io_uring WRITEs of payloads copied into
//                    1 MiB buffers (kRawDepth in flight) into a preallocated
//                    file, then one fdatasync (the baseline of a kAsync topic).
//   raw_async_mapped the same payloads stored through a shared mapping of a
//                    preallocated file, then one fdatasync: what any log
//                    written through a mapping can reach.
//
// Thread safety: each object or call is used by one thread. Each timed loop
// runs on a fresh thread (on_fresh_thread), so that none inherits another's
// dirty-page throttling (balance_dirty_pages keeps per-thread state).
#pragma once

#include <fcntl.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace conduit::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

inline std::string errno_text() { return std::string(std::strerror(errno)); }

// Page faults of the whole process (all threads).
inline std::uint64_t minor_faults() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<std::uint64_t>(u.ru_minflt);
}

// Page faults of the calling thread only.
inline std::uint64_t thread_minor_faults() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return static_cast<std::uint64_t>(u.ru_minflt);
}

// Runs `f` on a new thread and returns its result (see the header comment).
template <class F>
std::invoke_result_t<F&> on_fresh_thread(F f) {
  std::invoke_result_t<F&> result{};
  std::thread t([&] { result = f(); });
  t.join();
  return result;
}

// The name of a filesystem from statfs()'s f_type.
inline const char* fs_type_name(long type) {
  switch (static_cast<unsigned long>(type)) {
    case 0xEF53: return "ext4";  // ext2/3/4 share the magic
    case 0x58465342: return "xfs";
    case 0x01021994: return "tmpfs";
    case 0x794c7630: return "overlay";
    case 0x9123683E: return "btrfs";
    case 0xF2F52010: return "f2fs";
    case 0x2FC12FC1: return "zfs";
    case 0x6969: return "nfs";
    case 0x65735546: return "fuse";
    default: return "unknown";
  }
}

// A payload whose first 8 bytes carry the record's number.
struct PayloadBuffer {
  explicit PayloadBuffer(std::size_t n) : bytes(n) {
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>('a' + i % 26);
  }
  std::string_view stamp(std::uint64_t i) {
    std::memcpy(bytes.data(), &i, std::min(sizeof i, bytes.size()));
    return {bytes.data(), bytes.size()};
  }
  std::vector<char> bytes;
};

// Bytes this thread has caused to be written to storage so far (Linux
// /proc/thread-self/io write_bytes: counted when a page is dirtied, a whole
// folio at a time), or 0 where the kernel does not say.
inline std::uint64_t thread_dirtied_bytes() {
  std::FILE* f = std::fopen("/proc/thread-self/io", "r");
  if (f == nullptr) return 0;
  char line[128];
  unsigned long long v = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "write_bytes: %llu", &v) == 1) break;
  std::fclose(f);
  return v;
}

// How RawSyncLog writes each payload.
enum class RawWrite { kPwrite, kMapped, kMappedRandom };

// The raw sync baseline: pwrite(payload) + fdatasync per record into a file
// preallocated to `file_bytes` (or a store into a shared mapping of the
// file instead of the pwrite; kMappedRandom: with MADV_RANDOM on it).
class RawSyncLog {
 public:
  RawSyncLog(const std::filesystem::path& path, std::size_t payload, std::size_t file_bytes,
             RawWrite how = RawWrite::kPwrite)
      : path_(path), payload_(payload), file_bytes_(file_bytes), src_(payload) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0 || ::posix_fallocate(fd_, 0, static_cast<off_t>(file_bytes)) != 0 || ::fdatasync(fd_) != 0) {
      error_ = "open/fallocate " + path.string() + ": " + errno_text();
      return;
    }
    if (how != RawWrite::kPwrite) {
      void* m = ::mmap(nullptr, file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
      if (m == MAP_FAILED || (how == RawWrite::kMappedRandom && ::madvise(m, file_bytes, MADV_RANDOM) != 0))
        error_ = "mmap/madvise " + path.string() + ": " + errno_text();
      if (m != MAP_FAILED) map_ = static_cast<char*>(m);
    }
  }
  ~RawSyncLog() {
    if (map_ != nullptr) ::munmap(map_, file_bytes_);
    if (fd_ >= 0) ::close(fd_);
  }
  RawSyncLog(const RawSyncLog&) = delete;
  RawSyncLog& operator=(const RawSyncLog&) = delete;
  const std::string& error() const { return error_; }
  // Bytes the loop dirtied (thread_dirtied_bytes()) over every run_for() so far.
  std::uint64_t dirtied_bytes() const { return dirtied_; }

  // Writes and syncs for `d` (or until the file is full) on a fresh thread;
  // calls record(latency) for each record. Returns the seconds it ran.
  template <class Record>
  double run_for(Clock::duration d, Record&& record) {
    return on_fresh_thread([&] {
      const std::uint64_t dirtied0 = thread_dirtied_bytes();
      struct Count {
        RawSyncLog& log;
        std::uint64_t from;
        ~Count() { log.dirtied_ += thread_dirtied_bytes() - from; }
      } count{*this, dirtied0};
      const auto t0 = Clock::now();
      while (Clock::now() - t0 < d && error_.empty() && off_ + payload_ <= file_bytes_) {
        const auto s = Clock::now();
        const std::string_view p = src_.stamp(off_ / payload_);
        if (map_ != nullptr)
          std::memcpy(map_ + off_, p.data(), p.size());
        else if (::pwrite(fd_, p.data(), p.size(), static_cast<off_t>(off_)) != static_cast<ssize_t>(p.size()))
          error_ = "pwrite " + path_.string() + ": " + errno_text();
        if (error_.empty() && ::fdatasync(fd_) != 0) error_ = "fdatasync " + path_.string() + ": " + errno_text();
        record(Clock::now() - s);
        off_ += payload_;
      }
      return seconds_since(t0);
    });
  }

 private:
  std::filesystem::path path_;
  std::size_t payload_, file_bytes_;
  int fd_ = -1;
  char* map_ = nullptr;  // the mapped ways only
  std::uint64_t dirtied_ = 0;
  std::uint64_t off_ = 0;
  PayloadBuffer src_;
  std::string error_;
};

inline constexpr std::size_t kRawChunk = 1u << 20;  // raw async: bytes per io_uring WRITE
inline constexpr unsigned kRawDepth = 4;            // raw async: WRITEs in flight

struct RawAsyncResult {
  double seconds = 0;
  double final_sync_seconds = 0;
  std::uint64_t faults = 0;
  std::string error;
};

// Creates `path` (replacing it) preallocated to `bytes` (at least 1); the
// fd, or -1 with `error` set.
inline int open_preallocated(const std::filesystem::path& path, std::uint64_t bytes, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "open " + path.string() + ": " + errno_text();
    return -1;
  }
  // posix_fallocate returns its error; it does not set errno.
  if (const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(std::max<std::uint64_t>(bytes, 1))); rc != 0) {
    *error = "fallocate " + path.string() + ": " + std::strerror(rc);
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sequential io_uring WRITEs of `records` payloads of `payload` bytes (at
// most kRawChunk), copied into kRawChunk buffers (kRawDepth in flight), into
// a file preallocated to the total; then one fdatasync. Timed from open to
// the sync's completion.
inline RawAsyncResult raw_async_write(const std::filesystem::path& path, std::size_t payload, std::uint64_t records) {
  RawAsyncResult r;
  const std::uint64_t total = payload * records;
  std::vector<std::unique_ptr<char[]>> bufs;
  for (unsigned i = 0; i < kRawDepth; ++i) {
    bufs.emplace_back(new char[kRawChunk]);
    std::memset(bufs.back().get(), 0, kRawChunk);  // faulted in before the clock starts
  }
  io_uring ring{};
  if (const int rc = io_uring_queue_init(2 * kRawDepth, &ring, 0); rc < 0) {
    r.error = std::string("io_uring_queue_init: ") + std::strerror(-rc);
    return r;
  }
  PayloadBuffer src(payload);
  const std::uint64_t faults0 = minor_faults();
  const auto t0 = Clock::now();
  const int fd = open_preallocated(path, total, &r.error);
  if (fd < 0) {
    io_uring_queue_exit(&ring);
    return r;
  }
  std::array<bool, kRawDepth> busy{};
  unsigned in_flight = 0;
  auto reap_one = [&]() -> bool {
    io_uring_cqe* cqe = nullptr;
    if (const int rc = io_uring_wait_cqe(&ring, &cqe); rc < 0) {
      r.error = std::string("io_uring_wait_cqe: ") + std::strerror(-rc);
      return false;
    }
    const bool ok = cqe->res >= 0;
    if (!ok) r.error = std::string("io_uring write/fsync ") + path.string() + ": " + std::strerror(-cqe->res);
    const auto idx = io_uring_cqe_get_data64(cqe);
    if (idx < kRawDepth) busy[idx] = false;
    io_uring_cqe_seen(&ring, cqe);
    --in_flight;
    return ok;
  };
  auto submit = [&](unsigned b, std::size_t len, std::uint64_t offset) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_write(sqe, fd, bufs[b].get(), static_cast<unsigned>(len), offset);
    io_uring_sqe_set_data64(sqe, b);
    busy[b] = true;
    ++in_flight;
    io_uring_submit(&ring);
  };
  unsigned cur = 0;
  std::size_t fill = 0;
  std::uint64_t file_off = 0;
  for (std::uint64_t i = 0; i < records && r.error.empty(); ++i) {
    std::memcpy(bufs[cur].get() + fill, src.stamp(i).data(), payload);
    fill += payload;
    if (fill + payload > kRawChunk || i + 1 == records) {
      submit(cur, fill, file_off);
      file_off += fill;
      fill = 0;
      cur = (cur + 1) % kRawDepth;
      while (busy[cur] && r.error.empty()) reap_one();
    }
  }
  while (in_flight > 0 && reap_one()) {}
  const auto sync0 = Clock::now();
  if (r.error.empty()) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, kRawDepth);
    ++in_flight;
    io_uring_submit(&ring);
    reap_one();
  }
  r.seconds = seconds_since(t0);
  r.final_sync_seconds = seconds_since(sync0);
  r.faults = minor_faults() - faults0;
  ::close(fd);
  io_uring_queue_exit(&ring);
  if (file_off != total && r.error.empty()) r.error = "raw writer wrote the wrong number of bytes";
  return r;
}

// No io_uring and no conduit: `records` payloads of `payload` bytes stored
// one by one through a shared mapping of a file preallocated to the total,
// each `stride` bytes after the last (stride > payload: the first
// stride - payload bytes, at most 24, get a header of the record's index, as
// a log's framing would), then one fdatasync. Timed from open to the sync's
// end. What a log that writes through a mapping can reach on this machine,
// whatever its code: every new page of the file is zeroed by the kernel when
// the stores first touch it. `ahead`: a second thread maps the pages
// kMappedAhead ahead of the stores (MADV_POPULATE_WRITE), as conduit's
// persistence thread does, so that the zeroing runs beside the stores.
inline constexpr std::size_t kMappedAhead = 4u << 20;
inline RawAsyncResult raw_async_mapped(const std::filesystem::path& path, std::size_t payload, std::uint64_t records,
                                       std::size_t stride, bool ahead = false) {
  RawAsyncResult r;
  const std::size_t header = stride - payload;
  if (stride < payload || header > 24) {
    r.error = "raw_async_mapped: stride must be payload to payload + 24";
    return r;
  }
  const std::uint64_t total = stride * records;
  PayloadBuffer src(payload);
  const std::uint64_t faults0 = minor_faults();
  const auto t0 = Clock::now();
  const int fd = open_preallocated(path, total, &r.error);
  if (fd < 0) return r;
  void* m = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) {
    r.error = "mmap " + path.string() + ": " + errno_text();
    ::close(fd);
    return r;
  }
  auto* base = static_cast<char*>(m);
  // Where the stores are. Relaxed, both sides: a hint of how far to map,
  // no data is read through it (the stores fault in what is not mapped).
  std::atomic<std::uint64_t> at{0};
  // Relaxed, both sides: a stop request only; join() orders what follows.
  std::atomic<bool> done{false};
  std::thread mapper;
  if (ahead)
    mapper = std::thread([&] {
      std::uint64_t mapped = 0;
      while (!done.load(std::memory_order_relaxed) && mapped < total) {
        const std::uint64_t want =
            std::min<std::uint64_t>(total, (at.load(std::memory_order_relaxed) + kMappedAhead) & ~std::uint64_t{4095});
        if (want > mapped) {
          (void)::madvise(base + mapped, want - mapped, MADV_POPULATE_WRITE);
          mapped = want;
        } else {
          std::this_thread::yield();
        }
      }
    });
  for (std::uint64_t i = 0; i < records; ++i) {
    char* dst = base + i * stride;
    const std::uint64_t head[3] = {i, i, i};
    std::memcpy(dst, head, header);
    std::memcpy(dst + header, src.stamp(i).data(), payload);
    if ((i & 1023) == 0) at.store(i * stride, std::memory_order_relaxed);
  }
  done.store(true, std::memory_order_relaxed);
  if (mapper.joinable()) mapper.join();
  const auto sync0 = Clock::now();
  if (::fdatasync(fd) != 0) r.error = "fdatasync " + path.string() + ": " + errno_text();
  r.seconds = seconds_since(t0);
  r.final_sync_seconds = seconds_since(sync0);
  r.faults = minor_faults() - faults0;
  ::munmap(m, total);
  ::close(fd);
  return r;
}

}  // namespace conduit::bench
