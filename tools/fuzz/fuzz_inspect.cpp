// Fuzz target: the readers that only read a log, over crafted topic
// directories (the layout of the recovery target, tools/fuzz/crafted_topic.h):
// conduit-log's verify and summary, its TopicReader, and the LogReader that
// other processes use. None may crash, read outside a mapping, or loop.
// When verify calls the log intact, both readers hand back exactly its
// records, in sequence, each one a record the format accepts.
#include <unistd.h>

#include <conduit/inspect.h>
#include <conduit/reader.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "crafted_topic.h"
#include "fuzz_support.h"
#include "record_checks.h"

namespace {

using namespace conduit;
namespace fs = std::filesystem;

const fs::path& data_dir() {
  static const fs::path dir = [] {
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    return base / ("conduit-fuzz-inspect-" + std::to_string(::getpid()));
  }();
  return dir;
}

struct Cleanup {
  fs::path scratch = data_dir();
  ~Cleanup() { fs::remove_all(scratch); }
};

constexpr int kMaxSteps = 1 << 16;  // far more than any crafted topic holds

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Cleanup cleanup;
  fuzz::ByteReader in(data, size);
  const fs::path topic_dir = data_dir() / "topics" / "t";
  (void)fuzz::write_crafted_topic(in, topic_dir);

  const inspect::TopicVerification v = inspect::verify_topic(data_dir().string(), "t");
  for (const auto& p : v.problems) FUZZ_CHECK(!p.what.empty());
  auto summary = inspect::summarize_topic(data_dir().string(), "t");
  FUZZ_CHECK(summary.ok() || !summary.status().message().empty());

  // conduit-log's reader: records in order (a gap may stand for deleted
  // segments), each one accepted by the format.
  std::vector<std::uint64_t> seen;
  if (auto reader = inspect::TopicReader::open(data_dir().string(), "t"); reader.ok()) {
    for (int step = 0; step < kMaxSteps; ++step) {
      auto s = (*reader)->next();
      if (!s.ok() || s->kind == inspect::TopicReader::Step::kEnd) break;
      if (s->kind == inspect::TopicReader::Step::kGap) {
        FUZZ_CHECK(s->gap_to > s->gap_from);
        continue;
      }
      if (s->kind == inspect::TopicReader::Step::kSkip) {  // an abandoned claim: no record to read
        FUZZ_CHECK(!s->record.valid() && (seen.empty() || s->sequence > seen.back()));
        seen.push_back(s->sequence);
        continue;
      }
      FUZZ_CHECK(seen.empty() || s->record.sequence() > seen.back());
      fuzz::check_accepted_record(s->record.data(), s->record.size_bytes());
      seen.push_back(s->record.sequence());
    }
  }

  // The other processes' reader, from the earliest record.
  std::vector<std::uint64_t> followed;
  LogReaderOptions o;
  o.start = StartAt::earliest();
  if (auto reader = LogReader::open(data_dir().string(), "t", o); reader.ok()) {
    std::vector<RecordView> out(16);
    for (int step = 0; step < kMaxSteps; ++step) {
      auto r = (*reader)->try_poll(out);
      if (!r.ok() || (r->count == 0 && r->lost == 0)) break;
      for (std::size_t i = 0; i < r->count; ++i) {
        FUZZ_CHECK(followed.empty() || out[i].sequence() > followed.back());
        followed.push_back(out[i].sequence());
      }
    }
  }

  if (v.problems.empty()) {
    FUZZ_CHECK(seen.size() == v.records);
    FUZZ_CHECK(followed == seen);
  }
  return 0;
}
