// Idempotent publish: the per-topic dedup window (TopicOptions::dedup).
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <string>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;
using conduit::test::payloads;
using conduit::test::TempDir;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

Message with_id(std::string_view id, std::string_view payload, std::int64_t ts = 0) {
  Message m;
  m.id = id;
  m.payload = payload;
  m.timestamp_ns = ts;
  return m;
}

TopicOptions dedup_options(std::size_t max_ids, std::chrono::nanoseconds max_age = {}) {
  TopicOptions t;
  t.dedup.max_ids = max_ids;
  t.dedup.max_age = max_age;
  return t;
}

}  // namespace

TEST_CASE("without a dedup window two publishes with the same id both append") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("plain").value();
  CHECK(t->publish(with_id("a", "1")).value() == 0);
  CHECK(t->publish(with_id("a", "2")).value() == 1);
  CHECK(t->published() == 2);
}

TEST_CASE("a repeated id within the window appends nothing and returns the first record's sequence") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("orders", dedup_options(16)).value();
  CHECK(t->publish(with_id("x", "first")).value() == 0);
  CHECK(t->publish("no id").value() == 1);
  CHECK(t->publish(with_id("y", "other")).value() == 2);
  CHECK(t->publish(with_id("x", "second")).value() == 0);
  CHECK(t->published() == 3);
  CHECK(payloads(t) == std::vector<std::string>{"first", "no id", "other"});
}

TEST_CASE("publishes without an id are never deduplicated") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("orders", dedup_options(16)).value();
  CHECK(t->publish("same").value() == 0);
  CHECK(t->publish("same").value() == 1);
}

TEST_CASE("the window holds the last max_ids ids: an older id appends again") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("orders", dedup_options(2)).value();
  CHECK(t->publish(with_id("a", "a1")).value() == 0);
  CHECK(t->publish(with_id("b", "b1")).value() == 1);
  CHECK(t->publish(with_id("c", "c1")).value() == 2);  // "a" leaves the window
  CHECK(t->publish(with_id("c", "c2")).value() == 2);
  CHECK(t->publish(with_id("a", "a2")).value() == 3);  // "b" leaves the window
  CHECK(t->publish(with_id("a", "a3")).value() == 3);
  CHECK(t->publish(with_id("b", "b2")).value() == 4);
  CHECK(t->published() == 5);
}

TEST_CASE("the window holds ids for max_age measured on record timestamps") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("orders", dedup_options(16, std::chrono::seconds(10))).value();
  const std::int64_t t0 = 1000 * kSecond;
  CHECK(t->publish(with_id("a", "1", t0)).value() == 0);
  CHECK(t->publish(with_id("a", "2", t0 + 10 * kSecond)).value() == 0);      // exactly max_age: inside
  CHECK(t->publish(with_id("a", "3", t0 + 10 * kSecond + 1)).value() == 1);  // past it: a new record
  CHECK(t->publish(with_id("a", "4", t0 + 12 * kSecond)).value() == 1);      // the new record's window
  CHECK(t->publish(with_id("b", "5", t0 + 30 * kSecond)).value() == 2);      // expires both "a" entries
  CHECK(t->publish(with_id("a", "6", t0 + 30 * kSecond)).value() == 3);
  CHECK(t->published() == 4);
}

TEST_CASE("a publish that fails is not remembered: the next one with its id appends") {
  auto engine = Engine::open().value();
  TopicOptions o = dedup_options(16);
  o.max_payload_bytes = 16;
  Topic* t = engine->create_topic("orders", o).value();
  auto big = t->publish(with_id("a", std::string(17, 'x')));
  REQUIRE_FALSE(big.ok());
  CHECK(big.status().code() == Code::kTooLarge);
  CHECK(t->publish(with_id("a", "fits")).value() == 0);
  CHECK(t->publish(with_id("a", "again")).value() == 0);
}

TEST_CASE("bad dedup options are refused with kInvalidArgument") {
  auto engine = Engine::open().value();
  auto r = engine->create_topic("t", dedup_options((1u << 24) + 1));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  r = engine->create_topic("t", dedup_options(4, std::chrono::seconds(-1)));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
}

TEST_CASE("a repeat on a sync topic returns once the first record is durable") {
  TempDir dir;
  auto engine = Engine::open({.data_dir = dir.path.string()}).value();
  TopicOptions o = dedup_options(16);
  o.durability = Durability::kSync;
  Topic* t = engine->create_topic("orders", o).value();
  const std::uint64_t first = t->publish(with_id("a", "1")).value();
  auto again = t->publish_nowait(with_id("a", "2"));
  REQUIRE(again.ok());
  CHECK(*again == first);
  CHECK(t->publish(with_id("a", "3")).value() == first);
  CHECK(t->durable() > first);
}

TEST_CASE("a persisted topic rebuilds its dedup window from the log on reopen") {
  TempDir dir;
  TopicOptions o = dedup_options(100);
  o.durability = Durability::kAsync;
  o.segment_bytes = 256 << 10;
  o.max_payload_bytes = 4096;
  const std::string pad(1000, 'p');  // ~300 records per segment: the ids span several
  {
    auto engine = Engine::open({.data_dir = dir.path.string()}).value();
    Topic* t = engine->create_topic("orders", o).value();
    for (int i = 0; i < 1000; ++i) {
      const std::string id = "id-" + std::to_string(i);
      REQUIRE(t->publish(with_id(id, pad)).value() == static_cast<std::uint64_t>(i));
    }
  }
  auto engine = Engine::open({.data_dir = dir.path.string()}).value();
  Topic* t = engine->create_topic("orders", o).value();
  REQUIRE(t->published() == 1000);
  // The last 100 ids are in the window, with their original sequences...
  CHECK(t->publish(with_id("id-999", "again")).value() == 999);
  CHECK(t->publish(with_id("id-900", "again")).value() == 900);
  CHECK(t->published() == 1000);
  // ...and older ones are not.
  CHECK(t->publish(with_id("id-899", "again")).value() == 1000);
}
