// Engine::delete_topic: memory-only and persisted topics, reopen, re-create,
// refusal while in use, and what handles and other-process readers see.
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <conduit/reader.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/helpers.h"

using namespace conduit;
namespace fs = std::filesystem;

namespace {

using conduit::test::TempDir;

EngineOptions engine_options(const TempDir& dir) {
  EngineOptions o;
  o.data_dir = dir.path.string();
  return o;
}

TopicOptions persisted(Durability d = Durability::kAsync) {
  TopicOptions t;
  t.durability = d;
  t.segment_bytes = 256 << 10;
  t.max_payload_bytes = 1024;
  return t;
}

void publish_n(Topic* t, int n) {
  for (int i = 0; i < n; ++i) REQUIRE(t->publish("r" + std::to_string(i)).ok());
}

// Nothing under DIR/topics but the live topics' directories (no tombstone).
int entries(const fs::path& topics) {
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(topics)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a deleted memory-only topic is gone, its handle refuses publishes, and the name starts empty again") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("scratch", conduit::test::small_ring()).value();
  publish_n(t, 500);
  REQUIRE(engine->delete_topic("scratch").ok());
  CHECK(engine->topic("scratch").status().code() == Code::kNotFound);
  CHECK(engine->delete_topic("scratch").code() == Code::kNotFound);
  // The old handle stays valid and says what happened.
  auto late = t->publish("late");
  CHECK(late.status().code() == Code::kNotFound);
  CHECK(t->published() == 500);
  CHECK(t->claimed() == 500);
  CHECK(t->earliest() == 500);
  CHECK(t->subscribe({}).status().code() == Code::kNotFound);
  CHECK(t->work_group("w").status().code() == Code::kNotFound);

  Topic* again = engine->create_topic("scratch", conduit::test::small_ring()).value();
  CHECK(again != t);
  CHECK(again->published() == 0);
  auto sub = again->subscribe({.start = StartAt::earliest()}).value();
  REQUIRE(again->publish("fresh").ok());
  RecordView v[4];
  PollResult r = sub->try_poll(v);
  REQUIRE(r.count == 1);
  CHECK(v[0].sequence() == 0);
  CHECK(v[0].payload() == "fresh");
}

TEST_CASE(
    "a deleted persisted topic loses its directory, positions and group state, and starts empty when created again") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("orders", persisted()).value();
  publish_n(t, 2000);
  WorkGroup* g = t->work_group("billing").value();
  {
    auto sub = t->subscribe({.name = "audit", .start = StartAt::earliest()}).value();
    RecordView v[30];
    REQUIRE(sub->try_poll(v).count == 30);
    REQUIRE(sub->commit().ok());
    auto c = g->consumer().value();
    Delivery d[10];
    REQUIRE(c->try_poll(d).count == 10);
    for (auto& x : d) REQUIRE(c->ack(x));
    REQUIRE(g->commit().ok());
  }
  REQUIRE(fs::exists(dir.path / "topics" / "orders"));
  REQUIRE(engine->delete_topic("orders").ok());
  CHECK_FALSE(fs::exists(dir.path / "topics" / "orders"));
  CHECK(entries(dir.path / "topics") == 0);
  // The group's handle stays valid; it cannot write into the deleted topic.
  CHECK(g->commit().code() == Code::kNotFound);
  CHECK(g->consumer().status().code() == Code::kNotFound);
  CHECK_FALSE(fs::exists(dir.path / "topics" / "orders"));

  Topic* again = engine->create_topic("orders", persisted()).value();
  CHECK(again->published() == 0);
  publish_n(again, 3);
  auto sub = again->subscribe({.name = "audit", .start = StartAt::latest()}).value();
  CHECK(sub->position() == 3);  // no committed position came back
  auto c = again->work_group("billing").value()->consumer().value();
  Delivery d[1];
  REQUIRE(c->try_poll(d).count == 1);
  CHECK(d[0].sequence == 0);  // no committed floor came back
  CHECK(d[0].record.payload() == "r0");
}

TEST_CASE("a deleted topic stays deleted across a reopen, and the name can be created again") {
  TempDir dir;
  {
    auto engine = Engine::open(engine_options(dir)).value();
    publish_n(engine->create_topic("keep", persisted()).value(), 5);
    publish_n(engine->create_topic("drop", persisted(Durability::kSync)).value(), 5);
    REQUIRE(engine->delete_topic("drop").ok());
  }
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* keep = engine->create_topic("keep", persisted()).value();
  CHECK(keep->published() == 5);
  CHECK_FALSE(fs::exists(dir.path / "topics" / "drop"));
  Topic* drop = engine->create_topic("drop", persisted(Durability::kSync)).value();
  CHECK(drop->published() == 0);
  REQUIRE(drop->publish("one").ok());
  CHECK(drop->durable() == 1);
}

TEST_CASE("a deletion a crash interrupted is finished by the next open") {
  TempDir dir;
  {
    auto engine = Engine::open(engine_options(dir)).value();
    publish_n(engine->create_topic("t", persisted()).value(), 5);
  }
  // What a crash between the rename and the removal leaves.
  fs::rename(dir.path / "topics" / "t", dir.path / "topics" / ".deleted-t-1");
  auto engine = Engine::open(engine_options(dir)).value();
  CHECK_FALSE(fs::exists(dir.path / "topics" / ".deleted-t-1"));
  CHECK(engine->create_topic("t", persisted()).value()->published() == 0);
}

TEST_CASE("delete_topic refuses a topic with open subscribers or consumers, and deletes it once they are gone") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("busy", persisted()).value();
  publish_n(t, 10);
  CHECK(engine->delete_topic("nope").code() == Code::kNotFound);
  CHECK(engine->delete_topic("bad/name").code() == Code::kInvalidArgument);
  {
    auto sub = t->subscribe({}).value();
    Status s = engine->delete_topic("busy");
    CHECK(s.code() == Code::kBusy);
    CHECK(s.message().find("busy") != std::string::npos);
    // Refused, nothing changed.
    CHECK(t->publish("still").ok());
    RecordView v[1];
    CHECK(sub->try_poll(v).count == 1);  // the record published after it
  }
  {
    auto c = t->work_group("w").value()->consumer().value();
    CHECK(engine->delete_topic("busy").code() == Code::kBusy);
  }
  REQUIRE(engine->delete_topic("busy").ok());
  CHECK_FALSE(fs::exists(dir.path / "topics" / "busy"));
  CHECK(engine->topic("busy").status().code() == Code::kNotFound);
}

TEST_CASE("a sync publish not yet durable when its topic is deleted completes instead of waiting forever") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("s", persisted(Durability::kSync)).value();
  const std::uint64_t seq = t->publish_nowait(conduit::test::text("x")).value();
  REQUIRE(engine->delete_topic("s").ok());
  // Durable by the final sync, or told the topic closed: either way, no hang.
  const Status s = t->await_durable(seq, std::chrono::seconds(10));
  CHECK((s.ok() || s.code() == Code::kClosed));
  CHECK(t->publish("y").status().code() == Code::kNotFound);
}

TEST_CASE("a reader in another process is told its topic was deleted, and a re-created topic is not taken for it") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir)).value();
  Topic* t = engine->create_topic("feed", persisted()).value();
  publish_n(t, 20);
  auto reader = LogReader::open(dir.path.string(), "feed", {.start = StartAt::earliest()}).value();
  RecordView v[32];
  auto r = reader->try_poll(v);
  REQUIRE(r.ok());
  CHECK(r->count == 20);
  REQUIRE(engine->delete_topic("feed").ok());
  engine->create_topic("feed", persisted()).value();  // a new topic, same name
  Status seen;
  for (int i = 0; i < 1000 && seen.ok(); ++i) {
    auto p = reader->poll(v, std::chrono::milliseconds(10));
    if (!p.ok())
      seen = p.status();
    else
      CHECK(p->count == 0);
  }
  CHECK(seen.code() == Code::kNotFound);
  CHECK(seen.message().find("deleted") != std::string::npos);
  // A reader opened on a deleted topic is refused outright.
  REQUIRE(engine->delete_topic("feed").ok());
  CHECK(LogReader::open(dir.path.string(), "feed").status().code() == Code::kNotFound);
}

TEST_CASE("a work group whose dead-letter topic was deleted dead-letters into the topic created again") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("orders").value();
  WorkGroupOptions o;
  o.dead_letter_topic = "parked";
  auto c = t->work_group("w", o).value()->consumer().value();
  publish_n(t, 2);
  Delivery d[2];
  REQUIRE(c->try_poll(d).count == 2);
  REQUIRE(c->dead_letter(d[0], "first"));
  REQUIRE(engine->delete_topic("parked").ok());
  REQUIRE(c->dead_letter(d[1], "second"));
  Topic* parked = engine->topic("parked").value();
  auto sub = parked->subscribe({.start = StartAt::earliest()}).value();
  RecordView v[4];
  PollResult r = sub->try_poll(v);
  REQUIRE(r.count == 1);
  CHECK(v[0].find_header(dlq_header::kError) == "second");
  CHECK(v[0].payload() == "r1");
}
