// A log written by format version 1 (no short-form records) under a build
// that writes version 2: every record reads back, the open tail is
// relabelled version 2 before a short record goes into it, and segments
// sealed under version 1 keep their label.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
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

// Rewrites the header as format version 1 wrote it (the same 64 bytes but
// the version and the CRC over it).
void label_version_1(const std::string& path) {
  format::SegmentHeader h = read_header(path);
  h.version = 1;
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
      for (const std::string& p : old_segments) label_version_1(p);
      // Without the clean-close record the open checks every record.
      if (scanned) REQUIRE(fs::remove(topic_dir(dir.path) / persistence::kCleanRecordName));

      {
        auto engine = Engine::open(test::engine_options(dir, fallback)).value();
        auto t = engine->create_topic(kTopic, topic_options());
        REQUIRE_MESSAGE(t.ok(), t.status().to_string());
        CHECK((*t)->recovery_stats().clean == !scanned);
        expect_log(*t, kOld);
        // Opened to write: the tail says version 2 before any append.
        CHECK(read_header(old_segments.back()).version == 2);
        for (std::uint64_t i = kOld; i < kOld + kNew; ++i) REQUIRE((*t)->publish(payload_for(i)).value() == i);
        expect_log(*t, kOld + kNew);
      }
      const std::vector<std::string> all = segment_paths(dir.path);
      REQUIRE(all.size() >= old_segments.size());
      for (std::size_t i = 0; i < all.size(); ++i) {
        CAPTURE(all[i]);
        CHECK(read_header(all[i]).version == (i + 1 < old_segments.size() ? 1u : 2u));
      }
      auto engine = Engine::open(test::engine_options(dir, fallback)).value();
      auto t = engine->create_topic(kTopic, topic_options());
      REQUIRE_MESSAGE(t.ok(), t.status().to_string());
      expect_log(*t, kOld + kNew);
    }
  }
}
