// A persisted topic's options are stored with it (TOPIC_DIR/options): an
// engine opened on the directory later finds the topic by name, lists it,
// and holds create_topic to those options.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "persistence/topic_options_file.h"
#include "tests/support/helpers.h"

using namespace conduit;

namespace {

TopicOptions stored_options() {
  TopicOptions o = test::small_async();
  o.durability = Durability::kSync;
  o.retain_bytes = 4u << 20;
  o.retain_age = std::chrono::seconds(3600);
  o.retain_until_consumed = true;
  o.hard_cap_bytes = 8u << 20;
  o.dedup.max_ids = 1000;
  o.dedup.max_age = std::chrono::seconds(5);
  return o;
}

std::unique_ptr<Engine> open_on(const test::TempDir& dir) {
  return Engine::open(test::engine_options(dir, false)).value();
}

}  // namespace

TEST_CASE("after a restart topic(name) opens a persisted topic with its stored options") {
  test::TempDir dir;
  {
    auto engine = open_on(dir);
    Topic* t = engine->create_topic("demo.orders", stored_options()).value();
    REQUIRE(t->publish("first").ok());
    REQUIRE(t->publish("second").ok());
  }
  auto engine = open_on(dir);
  auto t = engine->topic("demo.orders");
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  const TopicOptions& o = (*t)->options();
  CHECK(o.durability == Durability::kSync);
  CHECK(o.segment_bytes == 256u << 10);
  CHECK(o.max_payload_bytes == 1024);
  CHECK(o.retain_bytes == 4u << 20);
  CHECK(o.retain_age == std::chrono::seconds(3600));
  CHECK(o.retain_until_consumed);
  CHECK(o.hard_cap_bytes == 8u << 20);
  CHECK(o.dedup.max_ids == 1000);
  CHECK(o.dedup.max_age == std::chrono::seconds(5));
  CHECK(test::payloads(*t) == std::vector<std::string>{"first", "second"});
  CHECK(engine->topic("demo.orders").value() == *t);  // opened once
  CHECK(engine->create_topic("demo.orders", stored_options()).value() == *t);
}

TEST_CASE(
    "create_topic on a stored topic with other options is AlreadyExists naming the option, before and after opening "
    "it") {
  test::TempDir dir;
  { REQUIRE(open_on(dir)->create_topic("t", stored_options()).ok()); }
  auto engine = open_on(dir);
  TopicOptions other = stored_options();
  other.retain_bytes = 0;
  Status s = engine->create_topic("t", other).status();
  CHECK(s.code() == Code::kAlreadyExists);
  CHECK(s.message() ==
        "topic 't' exists in " + dir.path.string() + " with other options: retain_bytes is 4194304, not 0");
  s = engine->create_topic("t").status();  // memory-only, under a persisted topic's name
  CHECK(s.code() == Code::kAlreadyExists);
  CHECK(s.message().ends_with("with other options: durability is kSync, not kMemory"));
  REQUIRE(engine->topic("t").ok());
  CHECK(engine->create_topic("t", other).status().message() ==
        "topic 't' exists with other options: retain_bytes is 4194304, not 0");
}

TEST_CASE("topics() lists the topics the data directory holds and those open in memory") {
  test::TempDir dir;
  {
    auto engine = open_on(dir);
    REQUIRE(engine->create_topic("b.persisted", test::small_async()).ok());
    REQUIRE(engine->create_topic("a.persisted", test::small_async()).ok());
  }
  auto engine = open_on(dir);
  REQUIRE(engine->create_topic("c.memory").ok());
  CHECK(engine->topics().value() == std::vector<std::string>{"a.persisted", "b.persisted", "c.memory"});
  REQUIRE(engine->delete_topic("a.persisted").ok());  // not opened before
  CHECK(engine->topics().value() == std::vector<std::string>{"b.persisted", "c.memory"});
  CHECK(engine->topic("a.persisted").status().code() == Code::kNotFound);
  CHECK(Engine::open().value()->topics().value() == std::vector<std::string>{});
}

TEST_CASE("a damaged options file is an error naming the file and offset; nothing is opened") {
  test::TempDir dir;
  { REQUIRE(open_on(dir)->create_topic("t", stored_options()).ok()); }
  const std::string path = (dir.path / "topics" / "t" / "options").string();
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x7f');
  }
  auto engine = open_on(dir);
  Status s = engine->topic("t").status();
  CHECK(s.code() == Code::kCorruption);
  CHECK(s.message() == path + " offset 76: CRC32C mismatch");
  CHECK(engine->create_topic("t", stored_options()).status().code() == Code::kCorruption);
}

TEST_CASE("a topic directory without an options file (an older build's) is opened by create_topic, which stores them") {
  test::TempDir dir;
  {
    auto engine = open_on(dir);
    REQUIRE(engine->create_topic("old", test::small_async()).value()->publish("kept").ok());
  }
  std::filesystem::remove(dir.path / "topics" / "old" / "options");
  {
    auto engine = open_on(dir);
    const Status s = engine->topic("old").status();
    CHECK(s.code() == Code::kNotFound);
    CHECK(s.message().find("has no stored options (written by an older build); create_topic opens it") !=
          std::string::npos);
    CHECK(engine->topics().value() == std::vector<std::string>{"old"});
    Topic* t = engine->create_topic("old", test::small_async()).value();
    CHECK(test::payloads(t) == std::vector<std::string>{"kept"});
  }
  auto engine = open_on(dir);
  CHECK(engine->topic("old").ok());
}

TEST_CASE("the options file round-trips every option, and any flipped byte is refused") {
  const TopicOptions o = stored_options();
  const std::string bytes = persistence::encode_topic_options(o);
  auto back = persistence::decode_topic_options(bytes, "f");
  REQUIRE(back.ok());
  CHECK(back->durability == o.durability);
  CHECK(back->retain_age == o.retain_age);
  CHECK(back->dedup.max_age == o.dedup.max_age);
  CHECK(back->retain_until_consumed);
  CHECK_FALSE(back->single_producer);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    CAPTURE(i);
    CHECK_FALSE(persistence::decode_topic_options(bad, "f").ok());
  }
  CHECK(persistence::decode_topic_options(bytes.substr(0, 40), "f").status().message() ==
        "f offset 40: an options file is 80 bytes, this one 40");
}
