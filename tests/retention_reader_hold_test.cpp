// Interest retention and the readers outside the engine: a named LogReader
// opened with LogReaderOptions::hold keeps what it has not committed, and
// Topic::remove_reader makes a named reader gone for good (LogReader,
// subscriber, work group) stop holding the log.
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <conduit/reader.h>

#include <string>
#include <vector>

#include "tests/support/helpers.h"

using namespace conduit;
using conduit::test::TempDir;

namespace {

constexpr int kPerSegment = 256;  // 900-byte payloads in 256 KiB segments: about 270 fit
const std::string kBody(900, 'r');

TopicOptions interest() {
  TopicOptions o = test::small_async();
  o.retain_until_consumed = true;
  return o;
}

std::filesystem::path topic_dir(const TempDir& dir) { return dir.path / "topics" / "t"; }

// Publishes `n` records and waits until they are durable (a reader commits
// no further than the durable watermark).
void publish(Topic* t, int n) {
  std::uint64_t last = 0;
  for (int i = 0; i < n; ++i) last = t->publish(kBody).value();
  REQUIRE(t->await_durable(last, std::chrono::seconds(10)).ok());
}

std::unique_ptr<LogReader> reader(const TempDir& dir, const char* name, bool hold) {
  LogReaderOptions ro;
  ro.name = name;
  ro.hold = hold;
  ro.start = StartAt::earliest();
  auto r = LogReader::open(dir.path.string(), "t", ro);
  REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return std::move(r).value();
}

// Reads everything there is.
void drain(LogReader& r) {
  std::vector<RecordView> views(512);
  for (;;) {
    auto got = r.try_poll(views);
    REQUIRE(got.ok());
    if (got->count == 0) return;
  }
}

}  // namespace

TEST_CASE("a named LogReader holds records only when it asks to") {
  TempDir dir;
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* t = engine->create_topic("t", interest()).value();
  auto plain = reader(dir, "plain", false);  // never read, never holds
  publish(t, 5 * kPerSegment);
  CHECK(t->earliest() > 0);  // nothing held: consumed segments go
}

TEST_CASE("retention deletes nothing a holding LogReader has not committed, and deletes once it commits") {
  TempDir dir;
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* t = engine->create_topic("t", interest()).value();
  auto audit = reader(dir, "audit", true);  // holds from its open: position 0 committed
  publish(t, 5 * kPerSegment);
  CHECK(t->earliest() == 0);
  const int all = test::segment_files(topic_dir(dir));
  CHECK(all >= 5);
  drain(*audit);
  REQUIRE(audit->commit().ok());
  CHECK(t->earliest() == 0);  // other processes' commits are seen at the next roll
  publish(t, kPerSegment);
  CHECK(t->earliest() > 0);
  CHECK(t->earliest() <= audit->position());
  CHECK(test::segment_files(topic_dir(dir)) < all);
}

TEST_CASE("removing a holding LogReader frees retention at once") {
  TempDir dir;
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* t = engine->create_topic("t", interest()).value();
  reader(dir, "gone", true);  // opens, holds from 0, and is never seen again
  publish(t, 5 * kPerSegment);
  CHECK(t->earliest() == 0);
  REQUIRE(t->remove_reader(Topic::ReaderKind::kLogReader, "gone").ok());
  CHECK(t->earliest() > 0);
  CHECK(t->remove_reader(Topic::ReaderKind::kLogReader, "gone").code() == Code::kNotFound);
}

TEST_CASE("a named subscriber is removed once it is closed, and stops holding the log") {
  TempDir dir;
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* t = engine->create_topic("t", interest()).value();
  SubscriberOptions so;
  so.name = "old";
  so.start = StartAt::earliest();
  auto old = t->subscribe(so).value();
  publish(t, 5 * kPerSegment);
  CHECK(t->earliest() == 0);
  const Status busy = t->remove_reader(Topic::ReaderKind::kSubscriber, "old");
  CHECK(busy.code() == Code::kBusy);
  CHECK(busy.message().find("subscriber 'old' is open") != std::string::npos);
  old.reset();
  CHECK(t->earliest() == 0);  // closed, its committed position still holds
  REQUIRE(t->remove_reader(Topic::ReaderKind::kSubscriber, "old").ok());
  CHECK(t->earliest() > 0);
  CHECK_FALSE(std::filesystem::exists(topic_dir(dir) / "cursors" / "sub-old"));
}

TEST_CASE("a work group is removed only where no engine has opened it") {
  TempDir dir;
  {
    auto engine = Engine::open(test::engine_options(dir, false)).value();
    Topic* t = engine->create_topic("t", interest()).value();
    REQUIRE(t->work_group("g").ok());
    publish(t, 5 * kPerSegment);
    CHECK(t->earliest() == 0);
    CHECK(t->remove_reader(Topic::ReaderKind::kWorkGroup, "g").code() == Code::kBusy);
  }
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* t = engine->topic("t").value();
  CHECK(t->earliest() == 0);  // the group's committed floor holds across the reopen
  REQUIRE(t->remove_reader(Topic::ReaderKind::kWorkGroup, "g").ok());
  CHECK(t->earliest() > 0);
  for (auto& e : std::filesystem::directory_iterator(topic_dir(dir) / "cursors"))
    CHECK_MESSAGE(!e.path().filename().string().starts_with("group-g"), e.path() << " is left");
}

TEST_CASE("remove_reader says what is wrong with a bad name or a topic without positions") {
  TempDir dir;
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  Topic* t = engine->create_topic("t", interest()).value();
  const Status none = t->remove_reader(Topic::ReaderKind::kSubscriber, "nobody");
  CHECK(none.code() == Code::kNotFound);
  CHECK(none.message().find("subscriber 'nobody'") != std::string::npos);
  const Status bad = t->remove_reader(Topic::ReaderKind::kLogReader, "a/b");
  CHECK(bad.code() == Code::kInvalidArgument);
  CHECK(bad.message().find("reader name") != std::string::npos);
  Topic* m = engine->create_topic("m").value();
  CHECK(m->remove_reader(Topic::ReaderKind::kSubscriber, "x").code() == Code::kUnsupported);
  LogReaderOptions unnamed;
  unnamed.hold = true;
  CHECK(LogReader::open(dir.path.string(), "t", unnamed).status().code() == Code::kInvalidArgument);
}
