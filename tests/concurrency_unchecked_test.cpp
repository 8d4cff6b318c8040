// Readers on several threads over a log taken from its clean-close record:
// they take turns checking its records (Segment::check_through) while a
// producer appends to the open tail, every one of them gets exactly the
// records before a damaged one, and all stop at it with the same error.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/helpers.h"
#include "tests/support/stamped_log.h"

using namespace conduit;

namespace {

using conduit::test::TempDir;
using namespace conduit::test::stamped;

constexpr const char* kTopic = "ledger";
constexpr std::uint64_t kRecords = 600;  // four segments of 158 records, the last one open
constexpr std::uint64_t kBad = 400;      // in the third segment
constexpr int kSubscribers = 4;
constexpr int kConsumers = 3;

struct ReadResult {
  std::vector<std::uint64_t> got;  // sequences, in the order handed out
  bool payloads_right = true;
  Status error;
};

}  // namespace

TEST_CASE(
    "subscribers and consumers on several threads check an unchecked log together and all stop at its bad record") {
  TempDir dir;
  {
    auto engine = Engine::open(options_for(dir.path)).value();
    publish_range(engine->create_topic(kTopic, topic_options()).value(), 0, kRecords);
  }
  const Place bad = place_of(dir.path, kTopic, kBad);
  xor_byte(bad.file, bad.offset + bad.size - 1, 0x40);  // the payload's last byte

  auto engine = Engine::open(options_for(dir.path)).value();
  Topic* topic = engine->create_topic(kTopic, topic_options()).value();
  REQUIRE(topic->recovery_stats().clean);
  WorkGroup* group = topic->work_group("workers").value();

  std::vector<ReadResult> subs(kSubscribers), consumers(kConsumers);
  std::vector<std::thread> threads;
  for (int s = 0; s < kSubscribers; ++s) {
    threads.emplace_back([&, s] {
      auto sub = topic->subscribe({.name = {}, .start = StartAt::earliest()}).value();
      RecordView views[32];
      for (;;) {
        const PollResult r = sub->poll(views, std::chrono::seconds(10));
        for (std::size_t i = 0; i < r.count; ++i) {
          subs[s].got.push_back(views[i].sequence());
          subs[s].payloads_right &= views[i].payload() == payload_for(views[i].sequence());
        }
        if (!r.status.ok() || (r.count == 0 && r.lost == 0)) {
          subs[s].error = r.status;
          return;
        }
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      auto consumer = group->consumer().value();
      Delivery ds[16];
      for (;;) {
        const PollResult r = consumer->poll(ds, std::chrono::seconds(10));
        for (std::size_t i = 0; i < r.count; ++i) {
          consumers[c].got.push_back(ds[i].sequence);
          consumers[c].payloads_right &= ds[i].record.payload() == payload_for(ds[i].sequence);
          consumer->ack(ds[i]);
        }
        if (!r.status.ok() || (r.count == 0 && r.lost == 0)) {
          consumers[c].error = r.status;
          return;
        }
      }
    });
  }
  // Meanwhile this process appends to the open tail: its own records.
  publish_range(topic, kRecords, kRecords + 200);
  for (auto& t : threads) t.join();

  for (const ReadResult& o : subs) {
    CHECK(o.payloads_right);
    REQUIRE(o.got.size() == kBad);
    for (std::uint64_t i = 0; i < kBad; ++i) REQUIRE(o.got[i] == i);
    CHECK(o.error.code() == Code::kCorruption);
    CHECK(o.error.message().find(bad.file + " offset " + std::to_string(bad.offset) + ": ") != std::string::npos);
  }
  std::vector<std::uint64_t> all;
  for (const ReadResult& o : consumers) {
    CHECK(o.payloads_right);
    CHECK(o.error.code() == Code::kCorruption);
    all.insert(all.end(), o.got.begin(), o.got.end());
  }
  std::sort(all.begin(), all.end());
  REQUIRE(all.size() == kBad);  // each record once, none at or after the bad one
  for (std::uint64_t i = 0; i < kBad; ++i) REQUIRE(all[i] == i);
}
