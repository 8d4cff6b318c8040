// conduit-log ls marks the reader furthest behind (the one that holds
// interest retention back) and lists named LogReaders; rm-reader removes a
// named reader's position.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <cstdio>
#include <string>

#include <conduit/reader.h>

#include "common/disk_names.h"
#include "tests/support/conduit_log_tool.h"
#include "tests/support/helpers.h"

using namespace conduit;

namespace {

std::string ls_output(const std::string& dir, const char* topic) {
  const std::string cmd = std::string(CONDUIT_LOG_PATH) + " ls " + dir + " " + topic + " --color never";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  CHECK(::pclose(p) == 0);
  return out;
}

}  // namespace

TEST_CASE("conduit-log ls marks the named reader furthest behind") {
  test::TempDir dir;
  {
    auto engine = Engine::open(test::engine_options(dir, false)).value();
    Topic* t = engine->create_topic("orders", test::small_async()).value();
    SubscriberOptions so;
    so.start = StartAt::earliest();
    so.name = "fast";
    auto fast = t->subscribe(so).value();
    so.name = "slow";
    auto slow = t->subscribe(so).value();
    for (int i = 0; i < 10; ++i) REQUIRE(t->publish("x").ok());
    RecordView views[10];
    REQUIRE(fast->try_poll(views).count == 10);
    REQUIRE(fast->commit().ok());
    REQUIRE(slow->try_poll(std::span(views, 3)).count == 3);
    REQUIRE(slow->commit().ok());
  }
  const std::string out = ls_output(dir.path.string(), "orders");
  CHECK(out.find("subscriber  slow  position 3  lag 7  (furthest behind)\n") != std::string::npos);
  CHECK(out.find("subscriber  fast  position 10  lag 0\n") != std::string::npos);
}

namespace {

using conduit::test::log_tool::run_tool;

// A topic "orders" with 10 records, a named subscriber at 3, a LogReader
// "audit" that holds records at 5 and one, "peek", that does not, at 10.
std::unique_ptr<Engine> orders_with_readers(const test::TempDir& dir) {
  auto engine = Engine::open(test::engine_options(dir, false)).value();
  TopicOptions o = test::small_async();
  o.retain_until_consumed = true;
  Topic* t = engine->create_topic("orders", o).value();
  SubscriberOptions so;
  so.start = StartAt::earliest();
  so.name = "slow";
  auto slow = t->subscribe(so).value();
  std::uint64_t last = 0;
  for (int i = 0; i < 10; ++i) last = t->publish("x").value();
  REQUIRE(t->await_durable(last, std::chrono::seconds(10)).ok());
  RecordView views[10];
  REQUIRE(slow->try_poll(std::span(views, 3)).count == 3);
  REQUIRE(slow->commit().ok());
  for (auto [name, n, hold] : {std::tuple{"audit", 5, true}, std::tuple{"peek", 10, false}}) {
    LogReaderOptions ro;
    ro.name = name;
    ro.hold = hold;
    ro.start = StartAt::earliest();
    auto r = LogReader::open(dir.path.string(), "orders", ro).value();
    REQUIRE(r->try_poll(std::span(views, static_cast<std::size_t>(n))).value().count == static_cast<std::size_t>(n));
    REQUIRE(r->commit().ok());
  }
  return engine;
}

}  // namespace

TEST_CASE("conduit-log ls lists named LogReaders beside subscribers, and which of them hold records") {
  test::TempDir dir;
  orders_with_readers(dir).reset();
  const std::string out = ls_output(dir.path.string(), "orders");
  CHECK(out.find("subscriber  slow  position 3  lag 7  (furthest behind)\n") != std::string::npos);
  CHECK(out.find("reader      audit  position 5  lag 5  holds\n") != std::string::npos);
  CHECK(out.find("reader      peek  position 10  lag 0\n") != std::string::npos);
  const auto json = run_tool({"ls", dir.path.string(), "orders", "--json"});
  REQUIRE(json.code == 0);
  CHECK(json.out.find(R"({"kind":"reader","name":"audit","holds":true,"position":5,"lag":5})") != std::string::npos);
  CHECK(json.out.find(R"({"kind":"reader","name":"peek","holds":false,"position":10,"lag":0})") != std::string::npos);
}

TEST_CASE("conduit-log rm-reader lists then removes; refuses a subscriber while an engine has the directory") {
  test::TempDir dir;
  const std::string d = dir.path.string();
  auto engine = orders_with_readers(dir);
  // A LogReader's file is its own: removed while the engine runs.
  auto r = run_tool({"rm-reader", d, "orders", "reader", "audit"});
  CHECK(r.code == 0);
  CHECK(r.out == "removed reader 'audit' of topic 'orders'\n");
  r = run_tool({"rm-reader", d, "orders", "subscriber", "slow"});
  CHECK(r.code == 1);
  CHECK(r.err.find("an engine has " + d + " open") != std::string::npos);
  engine.reset();
  r = run_tool({"rm-reader", d, "orders", "subscriber", "slow"});
  CHECK(r.code == 0);
  const std::string out = ls_output(d, "orders");
  CHECK(out.find("audit") == std::string::npos);
  CHECK(out.find("slow") == std::string::npos);
  CHECK(out.find("reader      peek  position 10  lag 0\n") != std::string::npos);
}

TEST_CASE("conduit-log rm-reader: a bad kind or name, or one that is not there, is exit 2 with the reason") {
  test::TempDir dir;
  const std::string d = dir.path.string();
  orders_with_readers(dir).reset();
  auto r = run_tool({"rm-reader", d, "orders", "consumer", "slow"});
  CHECK(r.code == 2);
  CHECK(r.err.find("kind 'consumer' is none of subscriber, group, reader") != std::string::npos);
  r = run_tool({"rm-reader", d, "orders", "reader", "../x"});
  CHECK(r.code == 2);
  CHECK(r.err.find("reader name") != std::string::npos);
  r = run_tool({"rm-reader", d, "orders", "group", "never"});
  CHECK(r.code == 2);
  CHECK(r.err.find("group-never") != std::string::npos);
  r = run_tool({"rm-reader", d, "nosuch", "reader", "audit"});
  CHECK(r.code == 2);
  CHECK(r.err.find("no topic 'nosuch'") != std::string::npos);
  r = run_tool({"rm-reader", d, "orders", "reader"});
  CHECK(r.code == 2);
  CHECK(ls_output(d, "orders").find("reader      audit  position 5") != std::string::npos);  // nothing lost
}

TEST_CASE("conduit-log ls lists as readers what the engine does: no temporary or dot file") {
  test::TempDir dir;
  orders_with_readers(dir).reset();
  // A reader's position being written, and a file an editor or a copy left.
  const std::string readers = disk::reader_positions_dir(dir.path.string(), "orders");
  for (const std::string& name : {disk::tmp_path("audit"), std::string(".peek.swp")}) {
    std::FILE* f = std::fopen((readers + "/" + name).c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("7\n", f);
    std::fclose(f);
  }
  const std::string out = ls_output(dir.path.string(), "orders");
  CHECK(out.find("reader      audit  position 5  lag 5  holds\n") != std::string::npos);
  CHECK(out.find("reader      peek  position 10  lag 0\n") != std::string::npos);
  CHECK(out.find(disk::kTmpSuffix) == std::string::npos);
  CHECK(out.find(".peek") == std::string::npos);
}
