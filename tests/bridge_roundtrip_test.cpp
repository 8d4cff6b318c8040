// The bridges against a real nats-server with JetStream (tests/support/nats_server.h):
// every envelope field out and back, clear errors, and a server restart
// while the bridges run.
#include <doctest/doctest.h>

#include <conduit/bridge.h>
#include <conduit/conduit.h>

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/full_envelope.h"
#include "tests/support/helpers.h"
#include "tests/support/nats_server.h"

using namespace conduit;
using conduit::test::eventually;
using conduit::test::NatsClient;
using conduit::test::NatsServer;
using conduit::test::rid;
using conduit::test::TempDir;

namespace {

std::unique_ptr<Engine> open_engine(const TempDir& dir) {
  EngineOptions eo;
  eo.data_dir = dir.path.string();
  return Engine::open(std::move(eo)).value();
}

TopicOptions persisted(Durability d, std::size_t dedup_ids = 0) {
  TopicOptions t;
  t.durability = d;
  t.max_payload_bytes = 16u << 10;
  t.segment_bytes = 1u << 20;
  t.dedup.max_ids = dedup_ids;
  return t;
}

bridge::OutboundOptions outbound(const NatsServer& server, std::string topic, std::string stream, std::string subject) {
  bridge::OutboundOptions o;
  o.nats.url = server.url();
  o.topic = std::move(topic);
  o.subscriber = "to-nats";
  o.stream = std::move(stream);
  o.subject = std::move(subject);
  o.ack_timeout = std::chrono::milliseconds(500);
  return o;
}

bridge::InboundOptions inbound(const NatsServer& server, std::string stream, std::string subject, std::string topic) {
  bridge::InboundOptions o;
  o.nats.url = server.url();
  o.stream = std::move(stream);
  o.subject = std::move(subject);
  o.durable = "to-conduit";
  o.topic = std::move(topic);
  o.ack_wait = std::chrono::milliseconds(500);
  o.fetch_wait = std::chrono::milliseconds(50);
  return o;
}

std::string header(natsMsg* m, const char* name) {
  const char* v = nullptr;
  return natsMsgHeader_Get(m, name, &v) == NATS_OK ? std::string(v) : std::string("<absent>");
}

// A record's envelope as one comparable string.
std::string describe(const RecordView& r) {
  std::string s = "id=" + std::string(r.id()) + "|ts=" + std::to_string(r.timestamp_ns()) +
                  "|key=" + std::string(r.key()) + "|corr=" + std::string(r.correlation_id()) +
                  "|reply=" + std::string(r.reply_to()) + "|trace=" + std::string(r.trace_id()) +
                  "|ctype=" + std::string(r.content_type()) + "|schema=" + std::to_string(r.schema_version()) +
                  "|payload=" + std::string(r.payload());
  for (std::size_t i = 0; i < r.header_count(); ++i)
    s += "|h:" + std::string(r.header(i).name) + "=" + std::string(r.header(i).value);
  return s;
}

// A server with stream "S" on ext.>, and an engine with topic "dst" (async,
// dedup on) for an inbound bridge.
struct InboundRig {
  NatsServer server;
  TempDir dir;
  std::unique_ptr<Engine> engine = open_engine(dir);
  Topic* dst = engine->create_topic("dst", persisted(Durability::kAsync, 1u << 16)).value();
  NatsClient client{server.url()};
  InboundRig() { client.add_stream("S", "ext.>"); }
};

}  // namespace

TEST_CASE("every envelope field goes out as NATS headers and comes back intact") {
  NatsServer server;
  TempDir dir;
  auto engine = open_engine(dir);
  Topic* src = engine->create_topic("src", persisted(Durability::kAsync)).value();
  Topic* dst = engine->create_topic("dst", persisted(Durability::kSync, 1024)).value();

  const std::string binary("bin\0ary\r\npayload", 16);
  const Header headers[] = {
      {"tenant", "acme"},     {"odd name=&%", " spaces at ends "}, {"tenant", "second value, same name"}, {"empty", ""},
      {"lines", "a\r\nb\tc"}, {"utf8", "caf\xc3\xa9 100%"}};
  // Every field, some of them with what NATS headers must escape or keep.
  Message m = test::full_envelope(binary);
  m.id = "order-1 %41";
  m.content_type = "application/json; charset=utf-8";
  m.headers = headers;
  m.timestamp_ns = 1'700'000'000'123'456'789;
  REQUIRE(src->publish(m).ok());
  Message bare;
  bare.payload = "only a payload";
  bare.id = "order-2";
  REQUIRE(src->publish(bare).ok());

  auto out = bridge::Outbound::start(*engine, outbound(server, "src", "S", "conduit.src"));
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  NatsClient client(server.url());
  REQUIRE(eventually([&] { return client.stream_count("S") == 2; }));

  // What a plain NATS consumer sees.
  natsMsg* raw = client.get("S", 1);
  CHECK(std::string(natsMsg_GetData(raw), static_cast<std::size_t>(natsMsg_GetDataLength(raw))) == binary);
  CHECK(header(raw, "Nats-Msg-Id") == "order-1 %2541");
  CHECK(header(raw, "Conduit-Key") == m.key);
  CHECK(header(raw, "Conduit-Correlation-Id") == m.correlation_id);
  CHECK(header(raw, "Conduit-Reply-To") == m.reply_to);
  CHECK(header(raw, "Conduit-Content-Type") == "application/json; charset=utf-8");
  CHECK(header(raw, "Conduit-Schema-Version") == std::to_string(m.schema_version));
  CHECK(header(raw, "Conduit-Timestamp") == "1700000000123456789");
  CHECK(header(raw, "Conduit-Sequence") == "0");
  natsMsg_Destroy(raw);
  raw = client.get("S", 2);
  CHECK(header(raw, "Conduit-Key") == "<absent>");
  CHECK(header(raw, "Conduit-Headers") == "<absent>");
  natsMsg_Destroy(raw);

  auto in = bridge::Inbound::start(*engine, inbound(server, "S", "conduit.src", "dst"));
  REQUIRE_MESSAGE(in.ok(), in.status().to_string());
  REQUIRE(eventually([&] { return dst->published() == 2 && in.value()->stats().forwarded >= 2; }));
  CHECK(test::collect(dst, describe) == test::collect(src, describe));
  CHECK(out.value()->stop().ok());
  CHECK(in.value()->stop().ok());

  // The counters, read like any subscriber's.
  const bridge::BridgeStats os = out.value()->stats();
  CHECK(os.forwarded == 2);
  CHECK(os.in_flight == 0);
  CHECK(os.lag == 0);
  CHECK(os.committed == 2);            // the subscriber's committed position
  CHECK(os.duplicates <= os.retries);  // only a publish sent again (an ack later than ack_timeout) is one
  // At least once: a delivery acked after ack_wait, or dropped with a fetch
  // that gave up (a loaded machine), comes again and is acked again.
  const bridge::BridgeStats is = in.value()->stats();
  CHECK(is.forwarded >= 2);
  CHECK(is.forwarded <= 2 + is.duplicates);
  CHECK(is.in_flight == 0);
  CHECK(is.lag == 0);
  CHECK(is.committed == 2);  // stream sequence of the last message acked
}

TEST_CASE("a record without an id is published under one made of topic and sequence") {
  NatsServer server;
  TempDir dir;
  auto engine = open_engine(dir);
  Topic* src = engine->create_topic("src", persisted(Durability::kAsync)).value();
  REQUIRE(src->publish("no id").ok());
  auto out = bridge::Outbound::start(*engine, outbound(server, "src", "S", "conduit.src"));
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  NatsClient client(server.url());
  REQUIRE(eventually([&] { return client.stream_count("S") == 1; }));
  natsMsg* raw = client.get("S", 1);
  CHECK(header(raw, "Nats-Msg-Id") == "conduit:src:0");
  natsMsg_Destroy(raw);
}

TEST_CASE("messages from other NATS publishers come in with their headers and a stream-made id") {
  NatsServer server;
  TempDir dir;
  auto engine = open_engine(dir);
  Topic* dst = engine->create_topic("dst", persisted(Durability::kSync, 1024)).value();
  NatsClient client(server.url());
  client.add_stream("EXT", "ext.>");
  natsMsg* m = nullptr;
  REQUIRE(natsMsg_Create(&m, "ext.a", nullptr, "hello", 5) == NATS_OK);
  REQUIRE(natsMsgHeader_Set(m, "X-Origin", "sensor-3") == NATS_OK);
  jsPubAck* pa = nullptr;
  REQUIRE(js_PublishMsg(&pa, client.js(), m, nullptr, nullptr) == NATS_OK);
  jsPubAck_Destroy(pa);
  natsMsg_Destroy(m);
  client.publish("ext.b", "with id", "given-id");

  auto in = bridge::Inbound::start(*engine, inbound(server, "EXT", "ext.>", "dst"));
  REQUIRE_MESSAGE(in.ok(), in.status().to_string());
  REQUIRE(eventually([&] { return dst->published() == 2; }));
  auto got = test::collect(dst, [](const RecordView& r) {
    return std::string(r.id()) + " " + std::string(r.payload()) + " " +
           std::string(r.find_header("X-Origin").value_or("-"));
  });
  CHECK(got == std::vector<std::string>{"jetstream:EXT:1 hello sensor-3", "given-id with id -"});
}

TEST_CASE("an unreachable server is a clear error naming its URL") {
  TempDir dir;
  auto engine = open_engine(dir);
  REQUIRE(engine->create_topic("src", persisted(Durability::kAsync)).ok());
  REQUIRE(engine->create_topic("dst", persisted(Durability::kAsync, 64)).ok());
  bridge::OutboundOptions o;
  o.nats.url = "nats://127.0.0.1:" + std::to_string(test::free_port());
  o.nats.connect_timeout = std::chrono::milliseconds(200);
  o.topic = "src";
  o.subscriber = "b";
  o.stream = "S";
  o.subject = "s";
  auto out = bridge::Outbound::start(*engine, o);
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == Code::kIOError);
  CHECK(out.status().message().find(o.nats.url) != std::string::npos);

  bridge::InboundOptions i;
  i.nats = o.nats;
  i.topic = "dst";
  i.stream = "S";
  i.subject = "s";
  i.durable = "d";
  auto in = bridge::Inbound::start(*engine, i);
  REQUIRE_FALSE(in.ok());
  CHECK(in.status().code() == Code::kIOError);
}

TEST_CASE("bad bridge options are refused before connecting") {
  TempDir dir;
  auto engine = open_engine(dir);
  REQUIRE(engine->create_topic("mem").ok());
  REQUIRE(engine->create_topic("nodedup", persisted(Durability::kAsync)).ok());
  bridge::OutboundOptions o;
  o.topic = "mem";
  o.subscriber = "b";
  o.stream = "S";
  o.subject = "s";
  CHECK(bridge::Outbound::start(*engine, o).status().code() == Code::kInvalidArgument);  // memory-only
  o.topic = "missing";
  CHECK(bridge::Outbound::start(*engine, o).status().code() == Code::kNotFound);
  o.topic = "nodedup";
  o.subscriber.clear();
  CHECK(bridge::Outbound::start(*engine, o).status().code() == Code::kInvalidArgument);

  bridge::InboundOptions i;
  i.topic = "nodedup";
  i.stream = "S";
  i.subject = "s";
  i.durable = "d";
  auto in = bridge::Inbound::start(*engine, i);
  CHECK(in.status().code() == Code::kInvalidArgument);
  CHECK(in.status().message().find("dedup") != std::string::npos);
}

TEST_CASE("nats-server killed and restarted while both bridges run loses nothing and duplicates nothing") {
  NatsServer server;
  TempDir dir;
  auto engine = open_engine(dir);
  Topic* src = engine->create_topic("src", persisted(Durability::kAsync)).value();
  Topic* dst = engine->create_topic("dst", persisted(Durability::kSync, 1u << 16)).value();
  constexpr int kRecords = 3000;

  auto out_options = outbound(server, "src", "S", "conduit.src");
  out_options.max_in_flight = 64;
  auto out = bridge::Outbound::start(*engine, out_options);
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  auto in = bridge::Inbound::start(*engine, inbound(server, "S", "conduit.src", "dst"));
  REQUIRE_MESSAGE(in.ok(), in.status().to_string());

  auto publish_range = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      const std::string id = rid(i);
      Message m;
      m.id = id;
      m.payload = id;
      REQUIRE(src->publish(m).ok());
      if (i % 100 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  publish_range(0, kRecords / 3);
  REQUIRE(eventually([&] { return dst->published() > 0; }));
  server.stop(SIGKILL);  // records in flight both ways
  REQUIRE(eventually([&] { return !out.value()->stats().connected && !in.value()->stats().connected; }));
  publish_range(kRecords / 3, 2 * kRecords / 3);  // while the server is down
  // No acks come: the window fills to its bound and stops there.
  CHECK(eventually([&] { return out.value()->stats().in_flight == 64; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(out.value()->stats().in_flight == 64);
  CHECK(out.value()->stats().lag > 64);
  server.start();
  publish_range(2 * kRecords / 3, kRecords);

  REQUIRE_MESSAGE(eventually([&] { return dst->published() >= kRecords && out.value()->stats().lag == 0; },
                             std::chrono::seconds(30)),
                  "dst has " << dst->published() << "; outbound: " << out.value()->last_error()
                             << "; inbound: " << in.value()->last_error());
  CHECK(out.value()->stop().ok());
  CHECK(in.value()->stop().ok());
  CHECK(out.value()->stats().reconnects >= 1);

  NatsClient client(server.url());
  CHECK(client.stream_count("S") == static_cast<std::uint64_t>(kRecords));
  CHECK(test::sorted(client.payloads("S", "conduit.src")) == test::sorted_rids(kRecords));
  CHECK(dst->published() == static_cast<std::uint64_t>(kRecords));
  CHECK(test::sorted(test::payloads(dst)) == test::sorted_rids(kRecords));
}

namespace {

// The server paused while the bridge pulls: its pull requests (batch 8)
// pile up unanswered and reach the server together on resume, after the
// bridge gave up on them. libnats 3.4.1's Fetch, whose requests shared one
// reply subject, found their deliveries queued and wrote past its array;
// the bridge's own requests each have their own reply subject. A
// subscription per request, destroyed when its fetch gave up, crashed
// libnats' reader thread now and then (ASan: natsConn_processMsg).
struct LateRepliesRig {
  NatsServer server;
  TempDir dir;
  std::unique_ptr<Engine> engine = open_engine(dir);
  Topic* dst = engine->create_topic("dst", persisted(Durability::kSync, 1u << 16)).value();
  NatsClient client{server.url()};

  // Every one of `messages` stored once and acked; the bridge's stats then.
  bridge::BridgeStats run(int messages, std::chrono::milliseconds ack_wait) {
    client.add_stream("S", "ext.>");
    client.publish_rids("ext.in", 0, messages);
    auto options = inbound(server, "S", "ext.>", "dst");
    options.batch = 8;
    options.ack_wait = ack_wait;
    auto in = bridge::Inbound::start(*engine, options);
    REQUIRE_MESSAGE(in.ok(), in.status().to_string());
    REQUIRE(eventually([&] { return dst->published() > 0; }));
    server.pause();
    std::this_thread::sleep_for(std::chrono::milliseconds(600));  // about 12 fetches go unanswered
    server.resume();

    REQUIRE_MESSAGE(eventually([&] { return client.unacked("S", "to-conduit") == 0; }, std::chrono::seconds(30)),
                    client.unacked("S", "to-conduit") << " not acked; inbound: " << in.value()->last_error());
    CHECK(in.value()->stop().ok());
    CHECK(dst->published() == static_cast<std::uint64_t>(messages));
    CHECK(test::sorted(test::payloads(dst)) == test::sorted_rids(messages));
    CHECK(in.value()->stats().in_flight == 0);
    return in.value()->stats();
  }
};

}  // namespace

TEST_CASE_FIXTURE(LateRepliesRig,
                  "pull requests answered after the inbound bridge gave up on them deliver every message once") {
  constexpr int kMessages = 3000;
  // ack_wait 500 ms (inbound()): redeliveries are acked again.
  CHECK(run(kMessages, std::chrono::milliseconds(500)).forwarded >= static_cast<std::uint64_t>(kMessages));
}

TEST_CASE_FIXTURE(LateRepliesRig,
                  "deliveries of pull requests the inbound bridge gave up on are taken by later fetches, not left to ack_wait") {
  // An ack_wait far beyond run()'s 30 s wait: a delivery dropped because its
  // fetch gave up would come again only after it. Failed (8 not acked) while
  // each fetch had a subscription of its own.
  constexpr int kMessages = 1000;
  const bridge::BridgeStats s = run(kMessages, std::chrono::milliseconds(120'000));
  CHECK(s.duplicates == 0);  // nothing came twice: no delivery was dropped
  CHECK(s.forwarded == static_cast<std::uint64_t>(kMessages));
}

TEST_CASE_FIXTURE(InboundRig,
                  "messages published while the inbound bridge is stopped all arrive once when it starts again") {
  auto options = inbound(server, "S", "ext.>", "dst");
  options.batch = 8;

  client.publish_rids("ext.in", 0, 20);
  auto first = bridge::Inbound::start(*engine, options);
  REQUIRE_MESSAGE(first.ok(), first.status().to_string());
  REQUIRE(eventually([&] { return client.unacked("S", "to-conduit") == 0; }));
  CHECK(first.value()->stop().ok());

  client.publish_rids("ext.in", 20, 500);  // many batches' worth while no bridge runs
  CHECK(client.unacked("S", "to-conduit") == 500);
  auto second = bridge::Inbound::start(*engine, options);  // binds the same durable consumer
  REQUIRE_MESSAGE(second.ok(), second.status().to_string());
  REQUIRE_MESSAGE(eventually([&] { return client.unacked("S", "to-conduit") == 0; }),
                  client.unacked("S", "to-conduit") << " not acked; inbound: " << second.value()->last_error());
  CHECK(second.value()->stop().ok());
  CHECK(dst->published() == 520u);
  CHECK(test::sorted(test::payloads(dst)) == test::sorted_rids(520));
  const bridge::BridgeStats s = second.value()->stats();
  CHECK(s.forwarded >= 500);  // redeliveries acked again, see the first test case
  CHECK(s.forwarded <= 500 + s.duplicates);
  CHECK(s.committed == 520);  // the highest stream sequence acked
  CHECK(s.lag == 0);
  CHECK(s.in_flight == 0);
}

TEST_CASE_FIXTURE(InboundRig,
                  "a message delivered again after later ones were acked is stored once and leaves committed alone") {
  auto options = inbound(server, "S", "ext.>", "dst");
  // Long enough that r0 comes again by the nak below, short enough that a
  // delivery dropped with a fetch that gave up (a loaded machine) comes
  // again within eventually()'s wait.
  options.ack_wait = std::chrono::seconds(5);
  REQUIRE(bridge::Inbound::start(*engine, options).ok());  // creates the consumer; nothing to fetch
  client.publish_rids("ext.in", 0, 10);

  // r0's first delivery goes to the test; the bridge gets and acks r1..r9;
  // then r0 comes to the bridge as a redelivery, the last message acked.
  natsMsg* taken = client.take("S", "to-conduit");
  CHECK(std::string(natsMsg_GetData(taken), static_cast<std::size_t>(natsMsg_GetDataLength(taken))) == "r0");
  auto in = bridge::Inbound::start(*engine, options);
  REQUIRE_MESSAGE(in.ok(), in.status().to_string());
  REQUIRE(eventually([&] { return client.unacked("S", "to-conduit") == 1 && in.value()->stats().forwarded >= 9; }));
  client.nak(taken);
  natsMsg_Destroy(taken);
  REQUIRE(eventually([&] { return client.unacked("S", "to-conduit") == 0; }));
  CHECK(in.value()->stop().ok());

  CHECK(test::sorted(test::payloads(dst)) == test::sorted_rids(10));
  const bridge::BridgeStats s = in.value()->stats();
  CHECK(s.duplicates >= 1);  // r0, and any delivery dropped with a fetch
  CHECK(s.forwarded >= 10);
  CHECK(s.forwarded <= 10 + s.duplicates);
  CHECK(s.committed == 10);  // not 1, r0's sequence
}

TEST_CASE("an existing durable consumer configured otherwise is refused, naming the difference") {
  NatsServer server;
  TempDir dir;
  auto engine = open_engine(dir);
  REQUIRE(engine->create_topic("dst", persisted(Durability::kAsync, 64)).ok());
  NatsClient client(server.url());
  client.add_stream("S", "ext.>");
  auto options = inbound(server, "S", "ext.>", "dst");
  REQUIRE(bridge::Inbound::start(*engine, options).ok());  // creates it, ack wait 500ms

  options.ack_wait = std::chrono::milliseconds(900);
  auto in = bridge::Inbound::start(*engine, options);
  REQUIRE_FALSE(in.ok());
  CHECK(in.status().code() == Code::kInvalidArgument);
  CHECK(in.status().message().find("ack wait is 500ms, not 900ms") != std::string::npos);
  options.ack_wait = std::chrono::milliseconds(500);
  options.subject = "ext.other";
  CHECK(bridge::Inbound::start(*engine, options).status().message().find("filter subject is 'ext.>'") !=
        std::string::npos);
  options.stream = "MISSING";
  CHECK(bridge::Inbound::start(*engine, options).status().code() == Code::kNotFound);
}

TEST_CASE("the bridges' threads carry names and run EngineOptions::on_thread_start") {
  NatsServer server;
  TempDir dir;
  std::mutex mu;
  std::multiset<std::string> started;  // guarded by mu
  EngineOptions eo;
  eo.data_dir = dir.path.string();
  eo.on_thread_start = [&](std::string_view name) {
    char comm[16] = {};
    pthread_getname_np(pthread_self(), comm, sizeof comm);
    CHECK(name == comm);
    std::lock_guard lk(mu);
    started.emplace(name);
  };
  auto engine = Engine::open(std::move(eo)).value();
  Topic* src = engine->create_topic("src", persisted(Durability::kAsync)).value();
  Topic* dst = engine->create_topic("dst", persisted(Durability::kSync, 1024)).value();
  REQUIRE(src->publish("one").ok());
  auto out = bridge::Outbound::start(*engine, outbound(server, "src", "S", "conduit.src"));
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  auto in = bridge::Inbound::start(*engine, inbound(server, "S", "conduit.src", "dst"));
  REQUIRE_MESSAGE(in.ok(), in.status().to_string());
  REQUIRE(eventually([&] { return dst->published() == 1; }));  // both threads ran
  CHECK(out.value()->stop().ok());
  CHECK(in.value()->stop().ok());
  std::lock_guard lk(mu);
  CHECK(started == std::multiset<std::string>{"conduit-persist", "conduit-counter", "conduit-ipc", "conduit-outbnd",
                                              "conduit-inbound"});
}

// libnats 3.4 creates a context's pending map at the first async publish,
// and js_PublishAsyncGetPendingList dereferences it unchecked: stop() before
// anything went out crashed in it.
TEST_CASE("an outbound bridge stopped before it forwarded anything stops cleanly") {
  NatsServer server;
  TempDir dir;
  auto engine = open_engine(dir);
  REQUIRE(engine->create_topic("empty", persisted(Durability::kAsync)).ok());
  auto out = bridge::Outbound::start(*engine, outbound(server, "empty", "S", "conduit.empty"));
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  CHECK(out.value()->stop().ok());
  CHECK(out.value()->stats().forwarded == 0);
}
