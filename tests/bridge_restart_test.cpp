// conduit-bridge (the command-line tool) killed with SIGKILL mid-stream and
// started again: nothing is lost and nothing is duplicated, in either
// direction. The tool runs as its own process, as in production; the test
// opens the engine's directory only while the tool is not running.
#include <doctest/doctest.h>

#include <conduit/bridge.h>
#include <conduit/conduit.h>

#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "tests/support/helpers.h"
#include "tests/support/nats_server.h"

using namespace conduit;
using conduit::test::eventually;
using conduit::test::kill_and_wait;
using conduit::test::NatsClient;
using conduit::test::NatsServer;
using conduit::test::rid;
using conduit::test::spawn;
using conduit::test::TempDir;

namespace {

constexpr int kRecords = 20000;

std::unique_ptr<Engine> open_engine(const std::filesystem::path& dir) {
  EngineOptions eo;
  eo.data_dir = dir.string();
  auto engine = Engine::open(std::move(eo));
  REQUIRE_MESSAGE(engine.ok(), engine.status().to_string());
  return std::move(engine).value();
}

std::string write_config(const TempDir& dir, const std::string& body) {
  const std::string path = (dir.path / "bridge.conf").string();
  std::ofstream(path) << "data_dir = " << (dir.path / "data").string() << "\n" << body;
  return path;
}

pid_t run_bridge(const std::string& config, const TempDir& dir) {
  const pid_t pid = spawn({CONDUIT_BRIDGE_PATH, config}, (dir.path / "bridge.log").string());
  REQUIRE(pid > 0);
  return pid;
}

// What the bridge wrote (its stdout and stderr, both runs), for a failure's
// message: the directory is gone once the test ends.
std::string bridge_log(const TempDir& dir) {
  std::ifstream in(dir.path / "bridge.log");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("outbound: the bridge killed mid-stream and restarted loses nothing and duplicates nothing") {
  NatsServer server;
  TempDir dir;
  {
    auto engine = open_engine(dir.path / "data");
    TopicOptions t;
    t.durability = Durability::kAsync;
    Topic* src = engine->create_topic("src", t).value();
    for (int i = 0; i < kRecords; ++i) {
      const std::string s = rid(i);
      Message m;
      m.id = s;
      m.payload = s;
      REQUIRE(src->publish(m).ok());
    }
  }
  // No [topic src] section: the topic is persisted in data_dir, with its
  // options, and the outbound bridge opens it by name.
  const std::string config = write_config(dir, "url = " + server.url() + R"(
[outbound src]
topic = src
subscriber = to-nats
stream = S
subject = conduit.src
max_in_flight = 256
commit_interval_ms = 5
)");
  NatsClient client(server.url());
  pid_t bridge = run_bridge(config, dir);
  REQUIRE_MESSAGE(eventually([&] { return client.stream_count("S") >= kRecords / 4; }),
                  "stream has " << client.stream_count("S") << "; bridge log:\n"
                                << bridge_log(dir));
  kill_and_wait(bridge, SIGKILL);
  const std::uint64_t at_kill = client.stream_count("S");
  CHECK(at_kill < static_cast<std::uint64_t>(kRecords));  // it really was mid-stream

  bridge = run_bridge(config, dir);
  const bool all = eventually([&] { return client.stream_count("S") >= kRecords; });
  const int status = kill_and_wait(bridge, SIGTERM);  // a clean stop commits the position
  REQUIRE_MESSAGE(all, "stream has " << client.stream_count("S") << " of " << kRecords << "; bridge log:\n"
                                     << bridge_log(dir));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  CHECK(client.stream_count("S") == static_cast<std::uint64_t>(kRecords));
  CHECK(test::sorted(client.payloads("S", "conduit.src")) == test::sorted_rids(kRecords));
  MESSAGE("stream had " << at_kill << " at the kill; bridge log " << dir.path / "bridge.log");

  // The subscriber's committed position covers every record.
  auto engine = open_engine(dir.path / "data");
  auto sub = engine->topic("src").value()->subscribe(SubscriberOptions{.name = "to-nats"}).value();
  CHECK(sub->position() == static_cast<std::uint64_t>(kRecords));
}

TEST_CASE("inbound: the bridge killed mid-stream and restarted loses nothing and duplicates nothing") {
  NatsServer server;
  TempDir dir;
  NatsClient client(server.url());
  client.add_stream("S", "ext.>");
  client.publish_rids("ext.in", 0, kRecords);
  REQUIRE(client.stream_count("S") == static_cast<std::uint64_t>(kRecords));
  const std::string config = write_config(dir, "url = " + server.url() + R"(
[topic dst]
durability = sync
dedup_ids = 65536
[inbound dst]
topic = dst
stream = S
subject = ext.>
durable = to-conduit
batch = 128
ack_wait_ms = 300
)");
  pid_t bridge = run_bridge(config, dir);
  REQUIRE_MESSAGE(eventually([&] { return client.unacked("S", "to-conduit") <= 3u * kRecords / 4; }),
                  client.unacked("S", "to-conduit") << " messages not acked; bridge log:\n"
                                                    << bridge_log(dir));
  kill_and_wait(bridge, SIGKILL);
  CHECK(client.unacked("S", "to-conduit") > 0);  // it really was mid-stream

  bridge = run_bridge(config, dir);
  const bool all = eventually([&] { return client.unacked("S", "to-conduit") == 0; });
  const int status = kill_and_wait(bridge, SIGTERM);
  REQUIRE_MESSAGE(all, client.unacked("S", "to-conduit") << " messages not acked; bridge log:\n" << bridge_log(dir));
  CHECK(WIFEXITED(status));

  auto engine = open_engine(dir.path / "data");
  TopicOptions t;
  t.durability = Durability::kSync;
  t.dedup.max_ids = 65536;
  Topic* dst = engine->create_topic("dst", t).value();
  CHECK(dst->published() == static_cast<std::uint64_t>(kRecords));
  CHECK(test::sorted(test::collect(dst, [](const RecordView& r) { return std::string(r.id()); })) ==
        test::sorted_rids(kRecords));
  CHECK(test::sorted(test::payloads(dst)) == test::sorted_rids(kRecords));
}
