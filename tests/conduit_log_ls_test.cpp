// conduit-log ls marks the reader furthest behind (the one that holds
// interest retention back).
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <cstdio>
#include <string>

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
