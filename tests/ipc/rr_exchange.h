// What ipc_request_reply_test's requesters and responders do, wherever they
// run (the owner's process or an attached one: Engine or AttachedEngine,
// Topic or AttachedTopic), so that every combination runs the same checks.
//
// A request "q I" carries trace id "trace-I"; its answer is "re: q I". A
// request "stray" is answered twice: first by a reply with a correlation
// id no requester made (to be counted and dropped), then properly.
#pragma once

#include <conduit/attach.h>
#include <conduit/conduit.h>
#include <conduit/request_reply.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace conduit::test {

// Answers request `q` as above.
template <class E>
Status answer(E& engine, const RecordView& q) {
  if (q.payload() == "stray") {
    auto t = engine.topic(q.reply_to());
    if (!t.ok()) return t.status();
    Message stray;
    stray.payload = "stray";
    stray.correlation_id = "0000000000000000-1";  // no requester's nonce is all zeros
    if (auto p = (*t)->publish(stray); !p.ok()) return p.status();
  }
  const std::string body = "re: " + std::string(q.payload());
  Message reply;
  reply.payload = body;
  auto p = publish_reply(engine, q, reply);
  return p.ok() ? Status::OK() : p.status();
}

// Requests through `topic` (answered as above) and `silent` (not answered):
// "" when every check held, else what went wrong.
template <class T>
std::string exchange(Requester& rq, T& topic, T& silent, int n) {
  using namespace std::chrono_literals;
  const auto bad = [](const std::string& what, const Reply& r) {
    return what + ": request " + std::to_string(r.request) + " " + r.status.to_string() + " payload '" + r.payload +
           "' trace '" + r.trace_id + "'";
  };
  for (int i = 0; i < n; ++i) {
    const std::string payload = "q " + std::to_string(i), trace = "trace-" + std::to_string(i);
    Message m;
    m.payload = payload;
    m.trace_id = trace;
    auto r = rq.request(topic, m, 20s);
    if (!r.ok()) return "request: " + r.status().to_string();
    if (!r->status.ok() || r->payload != "re: " + payload || r->trace_id != trace ||
        !r->correlation_id.ends_with(std::string(1, '-').append(std::to_string(r->request))))
      return bad("a reply", *r);
  }
  auto stray = rq.request(topic, "stray", 20s);
  if (!stray.ok() || !stray->status.ok() || stray->payload != "re: stray") return "the stray request failed";
  if (rq.dropped_replies() != 1) return "dropped " + std::to_string(rq.dropped_replies()) + " replies, not 1";
  // Many in flight from one thread: each comes back once, with its reply.
  std::set<std::uint64_t> sent;
  for (int i = 0; i < 8; ++i) {
    const std::string payload = "q " + std::to_string(100 + i);
    Message m;
    m.payload = payload;
    auto num = rq.send(topic, m, 20s);
    if (!num.ok()) return "send: " + num.status().to_string();
    sent.insert(*num);
  }
  std::vector<Reply> out(4);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!sent.empty() && std::chrono::steady_clock::now() < deadline)
    for (std::size_t k = 0, got = rq.poll(out, 100ms); k < got; ++k) {
      if (!out[k].status.ok() || sent.erase(out[k].request) != 1) return bad("a polled reply", out[k]);
      if (out[k].payload.rfind("re: q 1", 0) != 0) return bad("a polled reply", out[k]);
    }
  if (!sent.empty()) return std::to_string(sent.size()) + " sent requests never finished";
  auto none = rq.request(silent, "nobody reads this", 100ms);
  if (!none.ok() || none->status.code() != Code::kTimedOut) return "a request nobody answers did not time out";
  if (rq.in_flight() != 0) return std::to_string(rq.in_flight()) + " requests still in flight";
  return "";
}

}  // namespace conduit::test
