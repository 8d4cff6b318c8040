// conduit-bench: the machine-facing helpers (pinning, backoff, memory).
#include "harness.h"

#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace conduit::bench {

void idle_backoff(unsigned& idle_rounds) noexcept {
  if (++idle_rounds < 64) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  } else {
    sched_yield();
  }
}

void pin_to_core(int index) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(index) % cores, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void run_clock(const Config& cfg, const std::vector<ProgressSlot>& slots, const char* label, bool show) {
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(cfg.duration_s));
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    // Relaxed: see g_interrupted.
    if (now >= end || g_interrupted.load(std::memory_order_relaxed)) break;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(end - now, std::chrono::milliseconds(100)));
    if (show) {
      std::uint64_t published = 0;
      // Relaxed: a progress figure, not a synchronisation.
      for (const ProgressSlot& s : slots) published += s.published.load(std::memory_order_relaxed);
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "\r%s: %5.1f / %.1f s, %.2f M published, %.2f M msg/s   ", label, t, cfg.duration_s,
                   static_cast<double>(published) / 1e6, t > 0 ? static_cast<double>(published) / t / 1e6 : 0.0);
      std::fflush(stderr);
    }
  }
  if (show) std::fprintf(stderr, "\r%*s\r", 72, "");
}

void add_tallies(RunResult& r, const std::vector<ReaderTally>& tallies, std::int64_t start, std::int64_t last) {
  for (const ReaderTally& t : tallies) {
    r.deliveries += t.deliveries;
    r.lost += t.lost;
    r.verified &= t.in_order;
    last = std::max(last, t.last_ns);
    r.receive.hist.merge(t.hist);
  }
  r.receive.present = r.receive.hist.count() != 0;
  r.seconds = static_cast<double>(last - start) / 1e9;
}

void reset_peak_rss(RunResult& r) {
  // Writing 5 to clear_refs (Linux 4.0 and later) sets VmHWM back to the
  // current RSS, so the peak read at the end is this run's own.
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  r.peak_rss_own = static_cast<bool>(out);
}

void measure_rss(RunResult& r) {
  // One read of /proc/self/status: VmHWM there is at least VmRSS of the
  // same read (the kernel takes the larger). getrusage's ru_maxrss and
  // statm may count differently and then put the peak below the current.
  std::ifstream in("/proc/self/status");
  double rss_kib = 0, anon_kib = 0, file_kib = 0, shmem_kib = 0, peak_kib = 0;
  const std::pair<const char*, double*> fields[] = {{"VmRSS:", &rss_kib},
                                                    {"RssAnon:", &anon_kib},
                                                    {"RssFile:", &file_kib},
                                                    {"RssShmem:", &shmem_kib},
                                                    {"VmHWM:", &peak_kib}};
  for (std::string line; std::getline(in, line);)
    for (const auto& [name, out] : fields)
      if (line.rfind(name, 0) == 0) *out = std::strtod(line.c_str() + std::strlen(name), nullptr);  // "  1234 kB"
  r.rss_mib = rss_kib / 1024;
  r.rss_anon_mib = anon_kib / 1024;
  r.rss_file_mib = (file_kib + shmem_kib) / 1024;
  r.peak_rss_mib = peak_kib / 1024;
}

std::uint64_t disk_usage(const std::string& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode))
      total += static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

}  // namespace conduit::bench
