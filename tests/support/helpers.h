// Small helpers shared by tests: a temporary directory, a message from a
// payload, every record of a topic read through a fresh subscriber (and the
// check that they are a dense log), a memory-only topic with the smallest
// ring, and what a call writes to stderr.
#pragma once

#include <conduit/conduit.h>
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/temp_dir.h"

namespace conduit::test {

// Two segments of 160 KiB: the smallest ring a topic can have with this
// max_payload_bytes (a segment holds two of the largest records).
inline TopicOptions small_ring() {
  TopicOptions o;
  o.max_payload_bytes = 1024;
  o.segment_bytes = 160u << 10;
  o.ring_bytes = 2 * o.segment_bytes;
  return o;
}

// A persisted (async) topic with small segments: 256 KiB, 1 KiB payloads.
inline TopicOptions small_async() {
  TopicOptions o;
  o.durability = Durability::kAsync;
  o.segment_bytes = 256u << 10;
  o.max_payload_bytes = 1024;
  return o;
}

// The same, kSync.
inline TopicOptions small_sync() {
  TopicOptions o = small_async();
  o.durability = Durability::kSync;
  return o;
}

// An engine on `dir`; `fallback` forces the syscall backend instead of
// io_uring (EngineOptions::force_syscall_io).
inline EngineOptions engine_options(const TempDir& dir, bool fallback) {
  EngineOptions o;
  o.data_dir = dir.path.string();
  o.force_syscall_io = fallback;
  return o;
}

// Makes a persisted topic's directory look like an older build's, without
// its stored options: create_topic then opens it with the options it is
// given (tests that reopen a topic with other options; Engine::create_topic).
inline void forget_stored_options(const TempDir& dir, const std::string& topic) {
  std::filesystem::remove(dir.path / "topics" / topic / "options");
}

// Segment files in a persisted topic's directory.
inline int segment_files(const std::filesystem::path& topic_dir) {
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(topic_dir)) n += e.path().extension() == ".seg";
  return n;
}

// Mappings in this process of a segment file (e.g.
// "00000000000000000000.seg") that was deleted from its directory.
inline int deleted_segment_maps(const std::string& file_name) {
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);)
    n += line.find(file_name + " (deleted)") != std::string::npos ? 1 : 0;
  return n;
}

inline Message text(std::string_view payload) {
  Message m;
  m.payload = payload;
  return m;
}

// f(record) for every record of `topic` from the earliest retained one.
template <class F>
auto collect(Topic* topic, F f) {
  auto sub = topic->subscribe(SubscriberOptions{.name = {}, .start = StartAt::earliest()}).value();
  std::vector<decltype(f(RecordView()))> got;
  RecordView views[64];
  for (PollResult r; (r = sub->try_poll(views)).count != 0;)
    for (std::size_t i = 0; i < r.count; ++i) got.push_back(f(views[i]));
  return got;
}

// Reads `topic` from the earliest record with a fresh subscriber and
// requires a dense log: sequences 0, 1, 2, ... in order, none lost, each
// with payload_for(sequence) as its payload. Returns how many records.
template <class PayloadFor>
std::uint64_t read_dense_log(Topic* topic, PayloadFor payload_for) {
  auto sub = topic->subscribe(SubscriberOptions{.name = {}, .start = StartAt::earliest()}).value();
  RecordView views[64];
  std::uint64_t next = 0;
  for (;;) {
    const PollResult r = sub->try_poll(views);
    REQUIRE(r.lost == 0);
    for (std::size_t i = 0; i < r.count; ++i, ++next) {
      REQUIRE(views[i].sequence() == next);
      REQUIRE(views[i].payload() == payload_for(next));
    }
    if (r.count == 0) return next;
  }
}

inline std::vector<std::string> payloads(Topic* topic) {
  return collect(topic, [](const RecordView& r) { return std::string(r.payload()); });
}

// What the code under test writes to stderr while `f` runs.
template <class F>
std::string stderr_of(F f) {
  std::fflush(stderr);
  const int saved = ::dup(2);
  std::FILE* tmp = std::tmpfile();
  REQUIRE(tmp != nullptr);
  ::dup2(::fileno(tmp), 2);
  f();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(tmp);
  std::string out;
  for (int ch; (ch = std::fgetc(tmp)) != EOF;) out.push_back(static_cast<char>(ch));
  std::fclose(tmp);
  return out;
}

}  // namespace conduit::test
