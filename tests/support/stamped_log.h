// A persisted log of numbered, time-stamped 1 KiB records in small
// segments, for the tests that reopen one (after a clean close, damaged or
// not): which options, which payload and stamp each sequence has, how to
// publish a range of them, and where a record lies on disk (to damage it).
#pragma once

#include <conduit/conduit.h>
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace conduit::test::stamped {

inline constexpr std::int64_t kStampStep = 1'000'000;

inline EngineOptions options_for(const std::filesystem::path& dir, bool verify = false) {
  EngineOptions o;
  o.data_dir = dir.string();
  o.verify_on_open = verify;
  return o;
}

// kAsync, 160 KiB segments: 158 of these records each.
inline TopicOptions topic_options() {
  TopicOptions t;
  t.durability = Durability::kAsync;
  t.segment_bytes = 160 << 10;
  t.max_payload_bytes = 4096;
  return t;
}

inline std::string payload_for(std::uint64_t seq) {
  return std::string(1000, static_cast<char>('a' + seq % 26)) + std::to_string(seq);
}
inline std::int64_t stamp_for(std::uint64_t seq) {
  return 1'700'000'000'000'000'000 + static_cast<std::int64_t>(seq) * kStampStep;
}

// Publishes records [from, to), each stamped stamp_for(seq).
inline void publish_range(Topic* t, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t i = from; i < to; ++i) {
    const std::string payload = payload_for(i);  // Message::payload is a view
    Message m;
    m.payload = payload;
    m.timestamp_ns = stamp_for(i);
    REQUIRE(t->publish(m).value() == i);
  }
}

// Where a record lies in its segment file.
struct Place {
  std::string file;
  std::size_t offset = 0;
  std::size_t size = 0;  // unpadded
};

inline Place place_of(const std::filesystem::path& data_dir, const std::string& topic, std::uint64_t seq) {
  auto reader = inspect::TopicReader::open(data_dir.string(), topic).value();
  reader->seek(seq);
  auto step = reader->next();
  REQUIRE_MESSAGE(step.ok(), step.status().to_string());
  REQUIRE(step->kind == inspect::TopicReader::Step::kRecord);
  REQUIRE(step->record.sequence() == seq);
  return {step->file, step->offset, step->record.size_bytes()};
}

// Flips the bits of `mask` in the byte at `offset` of `file`, as a disk
// might (the engine that wrote it is closed).
inline void xor_byte(const std::string& file, std::size_t offset, unsigned char mask) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  REQUIRE(f.get(c));
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(static_cast<unsigned char>(c) ^ mask));
  REQUIRE(f.flush());
}

}  // namespace conduit::test::stamped
