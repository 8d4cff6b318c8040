// An outbound bridge destroyed while JetStream acks (and ack timeouts) are
// arriving on libnats' thread: the destructor must not free what the ack
// handler uses (bridge/outbound.cpp, State::quiesce), which ASan and TSan
// would report. Round after round with many publishes in flight, then a
// bridge restarted once more still forwards every record exactly once.
// In half the rounds the ack handler sleeps before it touches the bridge
// (detail::g_ack_handler_delay_us), so that a destruction almost surely
// meets a handler under way and quiesce() has one to wait for. (With
// libnats 3.4.1 the stop() of before quiesce() passed this test too:
// natsConnection_Close was seen to return only after the handler calls
// under way, which libnats does not promise.)
#include <doctest/doctest.h>

#include <conduit/bridge.h>
#include <conduit/conduit.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "bridge/nats_link.h"
#include "tests/support/nats_server.h"

using namespace conduit;
using namespace conduit::test;

namespace {

constexpr int kRounds = 6;
constexpr int kPerRound = 1000;

void publish_range(Topic* topic, int from, int to) {
  for (int i = from; i < to; ++i) {
    const std::string s = rid(i);
    Message m;
    m.id = s;
    m.payload = s;
    REQUIRE(topic->publish(m).ok());
  }
}

bridge::OutboundOptions options(const NatsServer& server, std::chrono::milliseconds ack_timeout) {
  bridge::OutboundOptions o;
  o.nats.url = server.url();
  o.topic = "src";
  o.subscriber = "to-nats";
  o.stream = "OUT";
  o.subject = "conduit.src";
  o.max_in_flight = 65536;  // every record of a round is published at once
  o.ack_timeout = ack_timeout;
  o.commit_interval = std::chrono::milliseconds(1);
  return o;
}

}  // namespace

TEST_CASE("an outbound bridge destroyed with publishes in flight frees nothing libnats uses, and loses nothing") {
  NatsServer server;
  TempDir dir;
  EngineOptions eo;
  eo.data_dir = dir.path.string();
  auto engine = Engine::open(std::move(eo)).value();
  TopicOptions t;
  t.durability = Durability::kAsync;
  Topic* src = engine->create_topic("src", t).value();
  NatsClient client(server.url());
  client.add_stream("OUT", "conduit.src");

  for (int round = 0; round < kRounds; ++round) {
    CAPTURE(round);
    publish_range(src, round * kPerRound, (round + 1) * kPerRound);
    // Odd rounds: an ack_timeout shorter than JetStream's answer, so that
    // timeouts and late acks race the destruction too. Even rounds: the
    // handler sleeps in each call.
    const auto ack_timeout = std::chrono::milliseconds(round % 2 == 1 ? 1 : 20);
    // Relaxed: read on its own by the handler; the bridge's start orders it anyway.
    bridge::detail::g_ack_handler_delay_us.store(round % 2 == 0 ? 500 : 0, std::memory_order_relaxed);
    auto out = bridge::Outbound::start(*engine, options(server, ack_timeout));
    REQUIRE_MESSAGE(out.ok(), out.status().to_string());
    // The server paused (it holds the connection and answers nothing): the
    // records pile up in flight however fast or slow this build runs. (At
    // least the first poll's 256: on odd rounds the first timeouts hold the
    // bridge to its retries, with backoff, before it reads more.)
    server.pause();
    REQUIRE(eventually([&] { return out.value()->stats().in_flight >= 200; }));
    if (round == kRounds - 1) {
      // Still paused: stop() gives up after ack_timeout and takes the
      // publishes back from libnats.
      const Status s = out.value()->stop();
      CHECK_MESSAGE(s.code() == Code::kTimedOut, s.to_string());
      CHECK(out.value()->stats().in_flight >= 200);
    }
    // Resumed: a burst of acks (and, on odd rounds, of late acks after
    // timeouts) meets the destruction.
    server.resume();
    out.value().reset();  // the destructor, acks arriving or not
  }

  bridge::detail::g_ack_handler_delay_us.store(0, std::memory_order_relaxed);  // as above
  auto out = bridge::Outbound::start(*engine, options(server, std::chrono::milliseconds(2000)));
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  constexpr std::uint64_t kTotal = kRounds * kPerRound;
  const bool all = eventually([&] { return out.value()->stats().committed == kTotal; });
  CHECK(out.value()->stop().ok());
  REQUIRE_MESSAGE(
      all, "committed " << out.value()->stats().committed << " of " << kTotal << "; " << out.value()->last_error());

  // Exactly once: every record in the stream, none twice.
  CHECK(client.stream_count("OUT") == kTotal);
  std::vector<std::string> got = client.payloads("OUT", "conduit.src");
  std::vector<std::string> want;
  for (int i = 0; i < static_cast<int>(kTotal); ++i) want.push_back(rid(i));
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  CHECK(got == want);
}
