// The control case's writer that skips syncs (tests/power_loss/README.md),
// preloaded into power_loss_worker with LD_PRELOAD and
// CONDUIT_FORCE_SYSCALL_IO=1 (io_uring's syncs do not pass through libc):
// from the POWERLOSS_LIE_FROM-th fdatasync/fsync of a segment file (*.seg)
// on, each returns 0 without syncing. The records those syncs should have
// made durable stay in the page cache only, so a cut soon after loses
// records the engine acknowledged, and the check must fail.
//
// The first skipped sync is said once on stderr; the driver looks for that
// line to know the control ran its course.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

using SyncFn = int (*)(int);

// Counts segment syncs (relaxed: a counter; the lie needs no ordering with
// anything else, and each call takes its own number).
std::atomic<long> segment_syncs{0};

bool is_segment(int fd, char* path, std::size_t size) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, path, size - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return n > 4 && std::strcmp(path + n - 4, ".seg") == 0;
}

// Whether this sync of `fd` is one to skip.
bool lie(int fd, const char* fn) {
  static const long from = [] {
    const char* v = std::getenv("POWERLOSS_LIE_FROM");
    return v != nullptr ? std::atol(v) : 0;
  }();
  if (from <= 0) return false;
  char path[4096];
  if (!is_segment(fd, path, sizeof path)) return false;
  const long n = segment_syncs.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n < from) return false;
  if (n == from) {
    char line[4400];
    const int len = std::snprintf(line, sizeof line,
                                  "power_loss_lying_sync: from segment sync %ld on, fdatasync and fsync of segment "
                                  "files return 0 without syncing (the first: %s of %s)\n",
                                  n, fn, path);
    if (len > 0) (void)!::write(STDERR_FILENO, line, static_cast<std::size_t>(len));
  }
  return true;
}

SyncFn next(const char* name) { return reinterpret_cast<SyncFn>(::dlsym(RTLD_NEXT, name)); }

}  // namespace

extern "C" int fdatasync(int fd) {
  static const SyncFn real = next("fdatasync");
  return lie(fd, "fdatasync") ? 0 : real(fd);
}

extern "C" int fsync(int fd) {
  static const SyncFn real = next("fsync");
  return lie(fd, "fsync") ? 0 : real(fd);
}
