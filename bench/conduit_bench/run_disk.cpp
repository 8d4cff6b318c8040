// conduit-bench: the durable baselines, on the same disk as conduit's log
// (bench/disk_baselines.h holds the loops, shared with wal_bench).
#include <filesystem>

#include "../disk_baselines.h"
#include "harness.h"

namespace conduit::bench {

RunResult run_raw_sync(const Config& cfg, const std::string& dir) {
  RunResult res;
  res.system = "raw_fdatasync";
  res.payload_bytes = cfg.payload;
  const std::filesystem::path file = std::filesystem::path(dir) / "raw-sync.log";
  // Room for the whole run at a fast disk's pace, capped at 1 GiB.
  const std::size_t file_bytes = std::min<std::size_t>(std::size_t{1} << 30, cfg.payload * 200'000);
  {
    RawSyncLog log(file, cfg.payload, file_bytes);
    if (!log.error().empty()) {
      res.error = log.error();
      return res;
    }
    // In slices of at most 100 ms, so that Ctrl-C ends it early.
    const double slice = 0.1;
    for (double left = cfg.duration_s; left > 0 && log.error().empty(); left -= slice) {
      // Relaxed: see g_interrupted.
      if (g_interrupted.load(std::memory_order_relaxed)) break;
      const auto d = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::min(left, slice)));
      res.seconds += log.run_for(d, [&](Clock::duration lat) {
        res.durable.hist.record(static_cast<std::uint64_t>(std::chrono::nanoseconds(lat).count()));
      });
    }
    if (!log.error().empty()) res.error = log.error();
  }
  std::error_code ec;
  std::filesystem::remove(file, ec);
  res.durable.present = true;
  res.publish_seconds = res.seconds;
  res.published = res.durable.hist.count();
  res.description = "1 thread: pwrite(" + std::to_string(cfg.payload) +
                    " B) + fdatasync per record into a preallocated file, latency per call";
  return res;
}

RunResult run_raw_async(const Config& cfg, const std::string& dir, std::uint64_t records) {
  RunResult res;
  res.system = "raw_io_uring";
  res.payload_bytes = cfg.payload;
  if (cfg.payload > kRawChunk) {
    res.error = "the io_uring baseline takes payloads up to 1 MiB";
    return res;
  }
  if (records == 0) {
    res.error = "conduit published nothing to compare with";
    return res;
  }
  const std::filesystem::path file = std::filesystem::path(dir) / "raw-async.log";
  const RawAsyncResult r = on_fresh_thread([&] { return raw_async_write(file, cfg.payload, records); });
  std::error_code ec;
  std::filesystem::remove(file, ec);
  res.error = r.error;
  res.seconds = r.seconds;
  res.publish_seconds = r.seconds - r.final_sync_seconds;
  res.published = records;
  res.description = "1 thread: the same " + std::to_string(records) + " payloads copied into 1 MiB buffers, " +
                    std::to_string(kRawDepth) + " io_uring WRITEs in flight, then one fdatasync";
  return res;
}

}  // namespace conduit::bench
