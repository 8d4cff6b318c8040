// Logs written by older format versions under a build that writes version
// 3: a version 1 log (no short-form records) and a version 2 log (no skip
// records, or skip records from the builds that wrote them under version 2)
// read back whole, the open tail is relabelled as the current version before
// anything is appended to it, and segments sealed under an older version
// keep their label. Every segment a skip record goes into carries a version
// a version 2 build refuses (corruption_test: an unknown version is
// kUnsupported, the log left as it is).
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "common/format.h"
#include "persistence/clean_record.h"
#include "persistence/segment_file.h"
#include "tests/support/helpers.h"

using namespace conduit;
namespace fs = std::filesystem;

namespace {

using conduit::test::TempDir;

constexpr const char* kTopic = "upgraded";
constexpr std::uint64_t kOld = 3000;  // 120-byte full-form records: three segments of 160 KiB
constexpr std::uint64_t kNew = 1000;  // 88-byte short-form records

TopicOptions topic_options() {
  TopicOptions t;
  t.durability = Durability::kAsync;
  t.segment_bytes = 160 << 10;
  t.max_payload_bytes = 1024;
  return t;
}

std::string payload_for(std::uint64_t seq) {
  const std::string s = std::to_string(seq);
  return std::string(64 - s.size(), 'p') + s;
}

fs::path topic_dir(const fs::path& dir) { return dir / "topics" / kTopic; }

std::vector<std::string> segment_paths(const fs::path& dir) {
  std::vector<std::string> out;
  auto listed = persistence::list_segments(topic_dir(dir).string());
  REQUIRE(listed.ok());
  for (const auto& [first, path] : *listed) out.push_back(path);
  return out;
}

format::SegmentHeader read_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::byte buf[format::kSegmentHeaderSize];
  in.read(reinterpret_cast<char*>(buf), sizeof buf);
  REQUIRE(in);
  format::SegmentHeader h;
  REQUIRE(format::decode_segment_header(buf, &h) == format::HeaderCheck::kOk);
  return h;
}

// Rewrites the header as an older format version wrote it (the same 64
// bytes but the version and the CRC over it).
void label_version(const std::string& path, std::uint32_t version) {
  format::SegmentHeader h = read_header(path);
  h.version = version;
  std::byte buf[format::kSegmentHeaderSize];
  format::encode_segment_header(buf, h);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.write(reinterpret_cast<const char*>(buf), sizeof buf);
  REQUIRE(f);
}

// Every record from 0: the old ones keyed "old" in the full form, the new
// ones bare in the short form.
void expect_log(Topic* t, std::uint64_t records) {
  std::uint64_t next = 0;
  test::collect(t, [&](const RecordView& r) {
    REQUIRE(r.sequence() == next);
    CHECK(r.payload() == payload_for(next));
    if (next < kOld) {
      CHECK(r.key() == "old");
      CHECK(r.size_bytes() == format::kRecordHeaderSize + 3 + 64);
    } else {
      CHECK(r.key().empty());
      CHECK(r.size_bytes() == format::kShortHeaderSize + 64);
    }
    ++next;
    return 0;
  });
  CHECK(next == records);
}

// Sequences [from, to): every kSkipEvery-th an abandoned claim (a skip
// record), the rest published in the short form.
constexpr std::uint64_t kSkipEvery = 50;
void write_with_skips(Topic* t, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t i = from; i < to; ++i) {
    if (i % kSkipEvery != kSkipEvery - 1) {
      REQUIRE(t->publish(payload_for(i)).value() == i);
      continue;
    }
    auto c = t->claim(64);
    REQUIRE(c.ok());
    REQUIRE(c->sequence() == i);
    c->abandon();
  }
}

// Reads the topic from its first record: every record's payload is its
// sequence's, and the skip records are counted.
std::pair<std::uint64_t, std::uint64_t> records_and_skips(Topic* t) {
  auto sub = t->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  std::uint64_t records = 0, skips = 0;
  RecordView v[64];
  for (PollResult r; (r = sub->try_poll(v)).count != 0 || r.skipped != 0;) {
    skips += r.skipped;
    for (std::size_t i = 0; i < r.count; ++i, ++records) CHECK(v[i].payload() == payload_for(v[i].sequence()));
  }
  return {records, skips};
}

// Whether the segment file holds a skip record (walks its length words).
bool holds_skip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* base = reinterpret_cast<const std::byte*>(bytes.data());
  for (std::size_t off = format::kSegmentHeaderSize; off + 4 <= bytes.size();) {
    const auto word = format::load<std::uint32_t>(base + off);
    if (word == 0 || (word & format::kPaddingFlag) != 0) return false;
    if (format::is_skip(word)) return true;
    off += format::align_up(word & format::kLengthMask);
  }
  return false;
}

}  // namespace

TEST_CASE("a version 1 log reads back whole and takes short records after its tail is relabelled") {
  for (const bool fallback : {false, true}) {
    for (const bool scanned : {false, true}) {
      CAPTURE(fallback);
      CAPTURE(scanned);
      TempDir dir;
      {
        auto engine = Engine::open(test::engine_options(dir, fallback)).value();
        Topic* t = engine->create_topic(kTopic, topic_options()).value();
        for (std::uint64_t i = 0; i < kOld; ++i) {
          const std::string payload = payload_for(i);
          Message m;
          m.payload = payload;
          m.key = "old";
          REQUIRE(t->publish(m).value() == i);
        }
      }
      const std::vector<std::string> old_segments = segment_paths(dir.path);
      REQUIRE(old_segments.size() == 3);
      for (const std::string& p : old_segments) label_version(p, 1);
      // Without the clean-close record the open checks every record.
      if (scanned) REQUIRE(fs::remove(topic_dir(dir.path) / persistence::kCleanRecordName));

      {
        auto engine = Engine::open(test::engine_options(dir, fallback)).value();
        auto t = engine->create_topic(kTopic, topic_options());
        REQUIRE_MESSAGE(t.ok(), t.status().to_string());
        CHECK((*t)->recovery_stats().clean == !scanned);
        expect_log(*t, kOld);
        // Opened to write: the tail says the current version before any append.
        CHECK(read_header(old_segments.back()).version == format::kVersion);
        for (std::uint64_t i = kOld; i < kOld + kNew; ++i) REQUIRE((*t)->publish(payload_for(i)).value() == i);
        expect_log(*t, kOld + kNew);
      }
      const std::vector<std::string> all = segment_paths(dir.path);
      REQUIRE(all.size() >= old_segments.size());
      for (std::size_t i = 0; i < all.size(); ++i) {
        CAPTURE(all[i]);
        CHECK(read_header(all[i]).version == (i + 1 < old_segments.size() ? 1u : format::kVersion));
      }
      auto engine = Engine::open(test::engine_options(dir, fallback)).value();
      auto t = engine->create_topic(kTopic, topic_options());
      REQUIRE_MESSAGE(t.ok(), t.status().to_string());
      expect_log(*t, kOld + kNew);
    }
  }
}

TEST_CASE(
    "a version 2 log opens and is relabelled; every segment holding a skip record has a version that version 2 builds "
    "refuse") {
  constexpr std::uint64_t kWritten = 4000;  // 3 segments of 160 KiB
  for (const bool scanned : {false, true}) {
    CAPTURE(scanned);
    TempDir dir;
    {
      auto engine = Engine::open(test::engine_options(dir, false)).value();
      write_with_skips(engine->create_topic(kTopic, topic_options()).value(), 0, kWritten);
    }
    const std::vector<std::string> old_segments = segment_paths(dir.path);
    REQUIRE(old_segments.size() == 3);
    // This build writes skip records only under a version a version 2
    // build (which reads 1 to 2) refuses.
    for (const std::string& p : old_segments) {
      CAPTURE(p);
      CHECK(holds_skip(p));
      CHECK(read_header(p).version == format::kVersion);
      CHECK(format::kVersion > 2);
    }
    // As the builds that wrote skip records under version 2 left it.
    for (const std::string& p : old_segments) label_version(p, 2);
    if (scanned) REQUIRE(fs::remove(topic_dir(dir.path) / persistence::kCleanRecordName));
    {
      auto engine = Engine::open(test::engine_options(dir, false)).value();
      auto t = engine->create_topic(kTopic, topic_options());
      REQUIRE_MESSAGE(t.ok(), t.status().to_string());
      CHECK((*t)->recovery_stats().clean == !scanned);
      CHECK(records_and_skips(*t) == std::pair{kWritten - kWritten / kSkipEvery, kWritten / kSkipEvery});
      CHECK(read_header(old_segments.back()).version == format::kVersion);
      write_with_skips(*t, kWritten, 2 * kWritten);
    }
    const std::vector<std::string> all = segment_paths(dir.path);
    REQUIRE(all.size() > old_segments.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      CAPTURE(all[i]);
      CHECK(holds_skip(all[i]));
      CHECK(read_header(all[i]).version == (i + 1 < old_segments.size() ? 2u : format::kVersion));
    }
    auto engine = Engine::open(test::engine_options(dir, false)).value();
    auto t = engine->create_topic(kTopic, topic_options());
    REQUIRE_MESSAGE(t.ok(), t.status().to_string());
    CHECK(records_and_skips(*t) == std::pair{2 * (kWritten - kWritten / kSkipEvery), 2 * kWritten / kSkipEvery});
  }
}
