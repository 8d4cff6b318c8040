// Fuzz target: recovery of a persisted topic over crafted segment files.
// The input picks the durable watermark in the control file and up to three
// segment files (first sequence, bytes after a valid header, or a raw header
// too). Recovery must either fail, leaving every file as it was, or hand
// back a contiguous log of intact records that keeps everything below the
// durable watermark, with the torn tail zeroed and later files gone.
//
// Files go to /dev/shm (tmpfs) when it exists: recovery's fdatasyncs cost
// nothing there.
//
// The one fuzz target that includes a persistence/ header: recovery is not
// public API (an engine runs it when it opens a topic), and this target
// exists to feed it directly. Everything else it uses is public.
#include <conduit/inspect.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "persistence/file_storage.h"
#include "crafted_topic.h"
#include "fuzz_support.h"
#include "record_checks.h"

namespace {

using namespace conduit;
namespace fs = std::filesystem;

const fs::path& topic_dir() {
  static const fs::path dir = [] {
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    return base / ("conduit-fuzz-recovery-" + std::to_string(::getpid())) / "topic";
  }();
  return dir;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::map<std::uint64_t, std::string> segment_files() {
  std::map<std::uint64_t, std::string> out;
  for (const auto& e : fs::directory_iterator(topic_dir())) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".seg") out[std::stoull(name)] = slurp(e.path());  // crafted names are all sequences
  }
  return out;
}

// Holds its own copy of the path: statics are destroyed in reverse order.
struct Cleanup {
  fs::path scratch = topic_dir().parent_path();
  ~Cleanup() { fs::remove_all(scratch); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Cleanup cleanup;  // removes the scratch directory at exit
  fuzz::ByteReader in(data, size);
  const std::uint64_t durable = fuzz::write_crafted_topic(in, topic_dir());
  const auto before = segment_files();

  persistence::FileStorageOptions options;
  auto storage = persistence::FileTopicStorage::open(topic_dir().string(), options, nullptr);
  FUZZ_CHECK(storage.ok());
  auto recovered = (*storage)->recover();
  const auto after = segment_files();

  if (!recovered.ok()) {
    FUZZ_CHECK(!recovered.status().message().empty());
    // Nothing was changed. Only an unfinished roll (the last file, its
    // header bad, at or above the durable watermark) may have been removed.
    for (const auto& [first, bytes] : after) {
      FUZZ_CHECK(before.count(first) == 1);
      FUZZ_CHECK(before.at(first) == bytes);
    }
    for (const auto& [first, bytes] : before)
      if (after.count(first) == 0) FUZZ_CHECK(first == before.rbegin()->first && first >= durable);
    return 0;
  }

  const auto& log = *recovered;
  FUZZ_CHECK(log.size() == after.size());
  for (std::size_t i = 0; i < log.size(); ++i) {
    const auto& r = log[i];
    FUZZ_CHECK(after.count(r.first_seq) == 1);
    if (i + 1 < log.size()) {
      FUZZ_CHECK(r.sealed);
      FUZZ_CHECK(log[i + 1].first_seq == r.first_seq + r.records);
    }
    // Every record handed back is intact, and the scan over the recovered
    // bytes agrees with what recovery said.
    const std::byte* base = r.memory->base();
    const std::size_t capacity = r.memory->capacity();
    const auto scan = inspect::scan_segment(
        {base, capacity}, r.first_seq, true,
        [&](RecordView v, std::uint64_t, std::size_t off) { fuzz::check_accepted_record(base + off, v.size_bytes()); });
    FUZZ_CHECK(scan.records == r.records);
    FUZZ_CHECK(!scan.damage);
    FUZZ_CHECK(scan.sealed == r.sealed);
    if (!r.sealed) {
      FUZZ_CHECK(scan.end_offset == r.end_offset);
      for (std::size_t k = r.end_offset; k < capacity; ++k) FUZZ_CHECK(base[k] == std::byte{0});
    }
  }
  // An acknowledged (durable) record is never lost.
  if (!log.empty()) FUZZ_CHECK(log.back().first_seq + log.back().records >= durable);
  FUZZ_CHECK((*storage)->durable() <= durable);
  return 0;
}
