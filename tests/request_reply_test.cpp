// Request-reply: correlation, timeouts on a manual clock, stray replies.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/helpers.h"
#include "tests/support/manual_clock.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::text;

namespace {

// The requests published so far on a topic, read by a responder.
struct Responder {
  std::unique_ptr<Subscriber> sub;
  explicit Responder(Topic* t)
      : sub(t->subscribe(SubscriberOptions{.name = {}, .start = StartAt::earliest()}).value()) {}
  std::vector<RecordView> take() {
    std::vector<RecordView> got(64);
    got.resize(sub->try_poll(got).count);
    return got;
  }
};

}  // namespace

TEST_CASE("a request is answered with the reply that carries its correlation id") {
  auto engine = Engine::open().value();
  Topic* service = engine->create_topic("service").value();
  Responder responder(service);
  auto requester = Requester::open(*engine).value();
  const std::uint64_t n = requester->send(*service, text("ping"), 10s).value();
  CHECK(requester->in_flight() == 1);

  auto requests = responder.take();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].reply_to() == requester->reply_topic());
  CHECK_FALSE(requests[0].correlation_id().empty());
  REQUIRE(publish_reply(*engine, requests[0], text("pong")).ok());

  Reply out[4];
  REQUIRE(requester->poll(out) == 1);
  CHECK(out[0].request == n);
  CHECK(out[0].status.ok());
  CHECK(out[0].payload == "pong");
  CHECK(out[0].correlation_id == requests[0].correlation_id());
  CHECK(requester->in_flight() == 0);
  CHECK(requester->poll(out) == 0);
}

TEST_CASE("many requests in flight from one thread each get their own reply, answered in any order") {
  auto engine = Engine::open().value();
  Topic* service = engine->create_topic("service").value();
  Responder responder(service);
  auto requester = Requester::open(*engine).value();
  std::vector<std::uint64_t> numbers;
  for (int i = 0; i < 100; ++i) numbers.push_back(requester->send(*service, text(std::to_string(i)), 10s).value());
  auto requests = responder.take();
  REQUIRE(requests.size() == 64);
  auto more = responder.take();
  requests.insert(requests.end(), more.begin(), more.end());
  REQUIRE(requests.size() == 100);
  // Answer backwards, echoing the request's payload.
  for (auto it = requests.rbegin(); it != requests.rend(); ++it) {
    const std::string echo = "re:" + std::string(it->payload());
    REQUIRE(publish_reply(*engine, *it, text(echo)).ok());
  }
  std::vector<Reply> out(30);
  std::size_t seen = 0;
  for (std::size_t n; (n = requester->poll(out)) != 0;)
    for (std::size_t i = 0; i < n; ++i, ++seen) {
      REQUIRE(out[i].status.ok());
      const auto idx = std::find(numbers.begin(), numbers.end(), out[i].request) - numbers.begin();
      CHECK(out[i].payload == "re:" + std::to_string(idx));
    }
  CHECK(seen == 100);
  CHECK(requester->dropped_replies() == 0);
}

TEST_CASE("a request with no reply before its timeout finishes with kTimedOut, and a late reply is dropped") {
  auto engine = Engine::open().value();
  Topic* service = engine->create_topic("service").value();
  Responder responder(service);
  test::ManualClock clock;
  auto requester =
      Requester::open(*engine, {.reply_topic = {}, .reply_durability = {}, .clock = clock.function()}).value();
  const std::uint64_t slow = requester->send(*service, text("slow"), 5s).value();
  const std::uint64_t fast = requester->send(*service, text("fast"), 60s).value();
  Reply out[4];
  clock.advance(4s);
  CHECK(requester->poll(out) == 0);
  clock.advance(1s);  // exactly the deadline
  REQUIRE(requester->poll(out) == 1);
  CHECK(out[0].request == slow);
  CHECK(out[0].status.code() == Code::kTimedOut);
  CHECK(requester->in_flight() == 1);

  auto requests = responder.take();
  REQUIRE(requests.size() == 2);
  REQUIRE(publish_reply(*engine, requests[0], text("too late")).ok());
  REQUIRE(publish_reply(*engine, requests[1], text("in time")).ok());
  REQUIRE(requester->poll(out) == 1);
  CHECK(out[0].request == fast);
  CHECK(out[0].payload == "in time");
  CHECK(requester->dropped_replies() == 1);
}

TEST_CASE("replies for unknown, foreign, malformed or already answered ids are counted and dropped") {
  auto engine = Engine::open().value();
  Topic* service = engine->create_topic("service").value();
  Responder responder(service);
  auto requester = Requester::open(*engine).value();
  const std::uint64_t n = requester->send(*service, text("q"), 10s).value();
  auto requests = responder.take();
  REQUIRE(requests.size() == 1);
  Topic* replies = engine->topic(requester->reply_topic()).value();
  const std::string corr(requests[0].correlation_id());
  const std::string prefix = corr.substr(0, corr.find('-') + 1);
  for (std::string bad :
       {std::string("someone-else-1"), prefix + "999", prefix + std::to_string(n) + "x", prefix, std::string()}) {
    Message m = text("stray");
    m.correlation_id = bad;
    REQUIRE(replies->publish(m).ok());
  }
  REQUIRE(publish_reply(*engine, requests[0], text("first")).ok());
  REQUIRE(publish_reply(*engine, requests[0], text("second")).ok());
  Reply out[8];
  REQUIRE(requester->poll(out) == 1);
  CHECK(out[0].request == n);
  CHECK(out[0].payload == "first");
  CHECK(requester->dropped_replies() == 6);
  CHECK(requester->poll(out) == 0);
}

TEST_CASE("publish_reply refuses a record that is not a request, and a reply topic that does not exist") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("service").value();
  Responder responder(t);
  REQUIRE(t->publish("not a request").ok());
  Message orphan = text("asks");
  orphan.correlation_id = "c-1";
  orphan.reply_to = "nowhere";
  REQUIRE(t->publish(orphan).ok());
  auto records = responder.take();
  REQUIRE(records.size() == 2);
  auto r = publish_reply(*engine, records[0], text("x"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  r = publish_reply(*engine, records[1], text("x"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kNotFound);
}

TEST_CASE("send refuses a timeout that is not positive and leaves nothing in flight") {
  auto engine = Engine::open().value();
  Topic* service = engine->create_topic("service").value();
  auto requester = Requester::open(*engine).value();
  auto r = requester->send(*service, text("q"), 0s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(requester->in_flight() == 0);
  CHECK(service->published() == 0);
}

TEST_CASE("request() blocks until a responder thread answers, and the reply carries the request's trace id") {
  auto engine = Engine::open().value();
  Topic* service = engine->create_topic("service").value();
  Dispatcher responder(service->subscribe().value(), [&](const RecordView& r) {
    const std::string answer = "hello " + std::string(r.payload());
    (void)publish_reply(*engine, r, text(answer));
  });
  auto requester = Requester::open(*engine).value();
  TraceScope scope("trace-42");
  auto reply = requester->request(*service, "world", 60s);
  REQUIRE(reply.ok());
  CHECK(reply->payload == "hello world");
  CHECK(reply->trace_id == "trace-42");
  responder.stop();
}

TEST_CASE("request() with nobody answering gives a Reply whose status is kTimedOut, as poll() does") {
  auto engine = Engine::open().value();
  Topic* service = engine->create_topic("service").value();
  auto requester = Requester::open(*engine).value();
  auto reply = requester->request(*service, "anyone?", 5ms);
  REQUIRE(reply.ok());  // it was sent
  CHECK(reply->status.code() == Code::kTimedOut);
  CHECK(reply->payload.empty());
  CHECK(requester->in_flight() == 0);
  // poll() reports a timed-out request the same way.
  const std::uint64_t n = requester->send(*service, text("again?"), 5ms).value();
  Reply out[1];
  REQUIRE(requester->poll(out, 10s) == 1);
  CHECK(out[0].request == n);
  CHECK(out[0].status.code() == Code::kTimedOut);
  // Only a request that could not be sent fails the Result.
  CHECK(requester->request(*service, "x", 0s).status().code() == Code::kInvalidArgument);
}

TEST_CASE("request() takes a whole Message, and the Reply carries the reply's whole envelope") {
  auto engine = Engine::open().value();
  Topic* service = engine->create_topic("service").value();
  Dispatcher responder(service->subscribe().value(), [&](const RecordView& r) {
    const std::string answer = "re: " + std::string(r.payload()) + " as " + std::string(r.content_type()) + " for " +
                               std::string(r.find_header("tenant").value_or("?"));
    const Header headers[] = {{"status", "200"}, {"tenant", "acme"}};
    Message m;
    m.payload = answer;
    m.content_type = "text/plain";
    m.key = "k";
    m.id = "reply-1";
    m.schema_version = 3;
    m.headers = headers;
    (void)publish_reply(*engine, r, m);
  });
  auto requester = Requester::open(*engine).value();
  const Header headers[] = {{"tenant", "acme"}};
  Message request;
  request.payload = "{}";
  request.content_type = "application/json";
  request.headers = headers;
  auto reply = requester->request(*service, request, 60s);
  REQUIRE(reply.ok());
  REQUIRE(reply->status.ok());
  CHECK(reply->payload == "re: {} as application/json for acme");
  CHECK(reply->content_type == "text/plain");
  CHECK(reply->key == "k");
  CHECK(reply->id == "reply-1");
  CHECK(reply->schema_version == 3);
  CHECK(reply->timestamp_ns > 0);
  CHECK(reply->headers == std::vector<std::pair<std::string, std::string>>{{"status", "200"}, {"tenant", "acme"}});
  responder.stop();
}

TEST_CASE("requests in flight when the engine closes finish with kClosed, not at their timeout") {
  auto engine = Engine::open().value();
  Topic* service = engine->create_topic("service").value();
  auto requester = Requester::open(*engine).value();
  std::thread closer([&] {
    std::this_thread::sleep_for(20ms);
    engine->close();
  });
  const auto start = std::chrono::steady_clock::now();
  auto reply = requester->request(*service, "anyone?", 600s);
  closer.join();
  REQUIRE(reply.ok());
  CHECK(reply->status.code() == Code::kClosed);
  CHECK(std::chrono::steady_clock::now() - start < 300s);
  CHECK(requester->in_flight() == 0);
}
