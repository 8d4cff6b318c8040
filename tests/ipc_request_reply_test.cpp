// Request-reply between processes (conduit/request_reply.h, doc/ipc.md
// "Request-reply between processes"): the requester and the responder each
// in the owner or in an attached process, every combination running the
// same checks (tests/ipc/rr_exchange.h): replies matched by correlation id
// with their trace ids, a reply nobody asked for counted and dropped, many
// requests in flight, a timeout; and the owner dying finishing every
// request in flight with kClosed.
#include <doctest/doctest.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>
#include <conduit/request_reply.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/ipc/rr_exchange.h"
#include "tests/ipc/worker.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
using conduit::test::TempDir;
using conduit::test::Worker;

namespace {

constexpr int kRequests = 20;

// The owner of a data directory with the request topic "q" and "silent"
// (nobody answers it), both persisted.
struct Owner {
  TempDir tmp;
  std::unique_ptr<Engine> engine;
  Topic* q = nullptr;
  Topic* silent = nullptr;
  Owner() {
    EngineOptions eo;
    eo.data_dir = tmp.path.string();
    engine = Engine::open(eo).value();
    q = engine->create_topic("q", test::small_async()).value();
    silent = engine->create_topic("silent", test::small_async()).value();
  }
  std::string dir() const { return tmp.path.string(); }
};

// Answers "q" in the owner's process until destroyed.
class OwnerResponder {
 public:
  explicit OwnerResponder(Owner& o) : sub_(o.q->subscribe({}).value()) {
    thread_ = std::thread([this, &o] {
      RecordView views[16];
      // Relaxed: a flag; the join orders the rest.
      while (!stop_.load(std::memory_order_relaxed)) {
        const PollResult r = sub_->poll(views, 10ms);
        for (std::size_t k = 0; k < r.count; ++k) REQUIRE(test::answer(*o.engine, views[k]).ok());
      }
    });
  }
  ~OwnerResponder() {
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
  }

 private:
  std::unique_ptr<Subscriber> sub_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Runs the rr-request job against `o` and requires its "ok"; returns the
// name of its reply topic.
std::string attached_requester(Owner& o) {
  Worker requester({"rr-request", o.dir(), "q", "silent", std::to_string(kRequests)});
  const auto named = requester.line();
  REQUIRE(named.has_value());
  REQUIRE(named->rfind("reply-topic ", 0) == 0);
  CHECK(requester.line(60s) == std::optional<std::string>("ok"));
  CHECK(requester.wait() == 0);
  return named->substr(12);
}

}  // namespace

TEST_CASE("an attached requester, the responder in the owner; the owner makes its reply topic memory-only, shared") {
  Owner o;
  OwnerResponder responder(o);
  const std::string name = attached_requester(o);
  // Made by the owner on the requester's behalf, memory-only as in process
  // but shared (TopicOptions::shared), and fresh per requester.
  Topic* replies = o.engine->topic(name).value();
  const TopicOptions& opts = replies->options();
  CHECK(opts.durability == Durability::kMemory);
  CHECK(opts.shared);
  // Every reply, the stray one included.
  CHECK(replies->published() == kRequests + 2 + 8);
  CHECK(attached_requester(o) != name);
}

TEST_CASE("a requester in the owner, the responder attached") {
  Owner o;
  Worker responder({"rr-respond", o.dir(), "q"});
  REQUIRE(responder.line() == std::optional<std::string>("ready"));
  RequesterOptions persisted;
  persisted.reply_durability = Durability::kAsync;
  auto rq = Requester::open(*o.engine, persisted).value();
  CHECK(test::exchange(*rq, *o.q, *o.silent, kRequests) == "");

  SUBCASE("a memory-only reply topic cannot be answered from another process") {
    auto memory = Requester::open(*o.engine).value();
    auto r = memory->request(*o.q, "q 0", 500ms).value();
    CHECK(r.status.code() == Code::kTimedOut);
    // The responder said why and stopped.
    const auto said = responder.line();
    REQUIRE(said.has_value());
    CHECK(said->find("memory-only") != std::string::npos);
    CHECK(responder.wait() == 1);
  }
}

TEST_CASE("requester and responder in two attached processes") {
  Owner o;
  Worker responder({"rr-respond", o.dir(), "q"});
  REQUIRE(responder.line() == std::optional<std::string>("ready"));
  (void)attached_requester(o);
}

TEST_CASE("the owner dying finishes every request in flight with kClosed") {
  TempDir tmp;
  Worker owner({"rr-own", tmp.path.string(), "q"});
  REQUIRE(owner.line() == std::optional<std::string>("ready"));
  auto attached = AttachedEngine::attach(tmp.path.string()).value();
  auto rq = Requester::open(*attached).value();
  AttachedTopic* q = attached->topic("q").value();
  Message unanswered;
  unanswered.payload = "unanswered";
  for (int i = 0; i < 3; ++i) REQUIRE(rq->send(*q, unanswered, 60s).ok());
  std::vector<Reply> out(4);
  CHECK(rq->poll(out, 50ms) == 0);  // nobody answers, and nothing timed out
  owner.kill();
  std::size_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got < 3 && std::chrono::steady_clock::now() < deadline)
    for (std::size_t k = 0, n = rq->poll(out, 100ms); k < n; ++k, ++got) {
      CHECK(out[k].status.code() == Code::kClosed);
      CHECK(out[k].status.message().find("gone") != std::string::npos);
    }
  CHECK(got == 3);
  CHECK(rq->in_flight() == 0);
  // A request now: not sent, or finished with kClosed at once.
  auto late = rq->request(*q, "late", 60s);
  if (late.ok()) CHECK(late->status.code() == Code::kClosed);
}
