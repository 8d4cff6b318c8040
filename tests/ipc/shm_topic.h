// What the tests of shared memory-only topics share (ipc_shm_topic_test,
// ipc_bounded_publish_test): an owner engine with such a topic "m", a
// worker's expected line, the go file a waiting worker looks for, and the
// ring filled by in-process publishes (text(): tests/support/helpers.h).
//
// Thread safety: one test thread.
#pragma once

#include <conduit/conduit.h>
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "tests/ipc/worker.h"
#include "tests/support/helpers.h"

namespace conduit::test {

inline constexpr std::size_t kShmSegment = 256u << 10;

// A memory-only topic of 256 KiB segments, a ring of `segments` of them.
inline TopicOptions shared_memory(std::size_t segments) {
  TopicOptions to;
  to.durability = Durability::kMemory;
  to.segment_bytes = kShmSegment;
  to.ring_bytes = segments * kShmSegment;
  to.max_payload_bytes = 1024;
  to.shared = true;
  return to;
}

struct Owner {
  explicit Owner(const TopicOptions& to, std::chrono::microseconds park_timeout = EngineOptions{}.park_timeout) {
    eo.data_dir = tmp.path.string();
    eo.park_timeout = park_timeout;
    engine = Engine::open(eo).value();
    topic = engine->create_topic("m", to).value();
  }
  std::string go_file() const { return tmp.path.string() + "/../" + tmp.path.filename().string() + ".go"; }
  TempDir tmp;
  EngineOptions eo;
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
};

inline std::string expect_line(Worker& w, const std::string& prefix,
                               std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto l = w.line(timeout);
  REQUIRE(l.has_value());
  REQUIRE_MESSAGE(l->starts_with(prefix), *l);
  return l->substr(prefix.size());
}

inline void touch(const std::string& path) { std::ofstream(path) << "go\n"; }

// Publishes "fill N" in process until the ring refuses (try_publish: kBusy,
// naming `holder`); how many went.
inline std::uint64_t fill(Topic* t, const std::string& holder = "attached subscriber") {
  std::uint64_t n = 0;
  for (;; ++n) {
    auto s = t->try_publish(text("fill " + std::to_string(n)));
    if (!s.ok()) {
      REQUIRE(s.status().code() == Code::kBusy);
      CHECK(s.status().message().find(holder) != std::string::npos);
      return n;
    }
    REQUIRE(n < 100000);  // a ring of a few segments holds far fewer
  }
}

}  // namespace conduit::test
