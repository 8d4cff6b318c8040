// conduit-log on a log holding skip records (abandoned claims, Topic::claim):
// dump names each one, verify and stats count them, none is a problem.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "tests/support/conduit_log_tool.h"
#include "tests/support/helpers.h"

namespace conduit::test {

TEST_CASE("conduit-log shows skip records in dump, verify and stats") {
  TempDir dir;
  {
    auto engine = Engine::open(engine_options(dir, false)).value();
    Topic* t = engine->create_topic("z", small_async()).value();
    REQUIRE(t->publish("kept one").ok());
    auto c = t->claim(40).value();
    std::memset(c.payload().data(), 'g', 40);
    c.abandon();
    REQUIRE(t->publish("kept two").ok());
  }
  using log_tool::run_tool;
  const log_tool::Run dump = run_tool({"dump", dir.path.string(), "z"});
  CHECK(dump.code == 0);
  CHECK(dump.out.find("kept one") != std::string::npos);
  CHECK(dump.out.find("kept two") != std::string::npos);
  CHECK(dump.out.find("record 1 skipped (an abandoned claim") != std::string::npos);
  CHECK(dump.out.find("gggg") == std::string::npos);  // the claim's bytes are never shown
  const log_tool::Run json = run_tool({"dump", dir.path.string(), "z", "--json"});
  CHECK(json.out.find("{\"skipped\":1}") != std::string::npos);

  const log_tool::Run verify = run_tool({"verify", dir.path.string(), "z"});
  CHECK(verify.code == 0);
  CHECK(verify.out.find("3 records (0..2), 1 skipped (abandoned claims): ok") != std::string::npos);

  const log_tool::Run stats = run_tool({"stats", dir.path.string(), "z"});
  CHECK(stats.code == 0);
  CHECK(stats.out.find("2 records, 1 skipped (abandoned claims) (0..2)") != std::string::npos);
}

}  // namespace conduit::test
