// The bridge tests' nats-server (tests/support/nats_server.h) with doctest's
// checks: a server that fails to start fails the test, and a plain libnats
// client, the tests' own view of JetStream.
#pragma once

#include <doctest/doctest.h>
#include <nats/nats.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/nats_server.h"

namespace conduit::test {

// The bridge tests' record ids: "r<i>". (Not "r" + std::to_string(i): GCC 12
// warns -Wrestrict on it.)
inline std::string rid(int i) {
  std::string s = std::to_string(i);
  s.insert(s.begin(), 'r');
  return s;
}

inline std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// rid(0) .. rid(n - 1), sorted as strings: what a stream or topic holding
// them once each gives back, sorted.
inline std::vector<std::string> sorted_rids(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back(rid(i));
  return sorted(std::move(v));
}

class NatsServer : public NatsServerProcess {
 public:
  NatsServer() { start(); }

  void start() {
    REQUIRE_MESSAGE(NatsServerProcess::start(), "nats-server did not start; see " << log());
  }
};

// A plain libnats client: the test's own view of JetStream.
class NatsClient {
 public:
  explicit NatsClient(const std::string& url) {
    REQUIRE(natsConnection_ConnectTo(&nc_, url.c_str()) == NATS_OK);
    REQUIRE(natsConnection_JetStream(&js_, nc_, nullptr) == NATS_OK);
  }
  ~NatsClient() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
  }
  jsCtx* js() const { return js_; }

  void add_stream(const std::string& name, const std::string& subject) {
    REQUIRE(test::add_stream(js_, name, subject) == NATS_OK);
  }
  // Messages in the stream (0 when it does not exist).
  std::uint64_t stream_count(const std::string& name) {
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js_, name.c_str(), nullptr, nullptr) != NATS_OK) return 0;
    const std::uint64_t n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
  }
  // The stream's message at `seq` (1-based); the caller destroys it.
  natsMsg* get(const std::string& stream, std::uint64_t seq) {
    natsMsg* m = nullptr;
    REQUIRE(js_GetMsg(&m, js_, stream.c_str(), seq, nullptr, nullptr) == NATS_OK);
    return m;
  }
  // Every payload in the stream, in stream order (a pull consumer that
  // needs no acks, deleted afterwards: one request per batch, not per message).
  std::vector<std::string> payloads(const std::string& stream, const std::string& subject) {
    std::vector<std::string> out;
    const std::uint64_t n = stream_count(stream);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Config.AckPolicy = js_AckNone;
    natsSubscription* sub = nullptr;
    REQUIRE(js_PullSubscribe(&sub, js_, subject.c_str(), "test-reader", nullptr, &so, nullptr) == NATS_OK);
    while (out.size() < n) {
      natsMsgList list{};
      REQUIRE(natsSubscription_Fetch(&list, sub, 1024, 5000, nullptr) == NATS_OK);
      for (int i = 0; i < list.Count; ++i)
        out.emplace_back(natsMsg_GetData(list.Msgs[i]), static_cast<std::size_t>(natsMsg_GetDataLength(list.Msgs[i])));
      natsMsgList_Destroy(&list);
    }
    REQUIRE(natsSubscription_Unsubscribe(sub) == NATS_OK);  // deletes the consumer
    natsSubscription_Destroy(sub);
    return out;
  }
  void publish(const std::string& subject, const std::string& payload, const std::string& id = {}) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    if (!id.empty()) po.MsgId = id.c_str();
    jsPubAck* pa = nullptr;
    REQUIRE(js_Publish(&pa, js_, subject.c_str(), payload.data(), static_cast<int>(payload.size()), &po,
                       nullptr) == NATS_OK);
    jsPubAck_Destroy(pa);
  }
  // rid(from) .. rid(from + n - 1) on `subject`, each its own payload and
  // Nats-Msg-Id; published asynchronously (the stream fills quickly), all
  // acknowledged when it returns.
  void publish_rids(const std::string& subject, int from, int n) {
    for (int i = from; i < from + n; ++i) {
      natsMsg* m = nullptr;
      const std::string s = rid(i);
      REQUIRE(natsMsg_Create(&m, subject.c_str(), nullptr, s.data(), static_cast<int>(s.size())) == NATS_OK);
      REQUIRE(natsMsgHeader_Set(m, "Nats-Msg-Id", s.c_str()) == NATS_OK);
      REQUIRE(js_PublishMsgAsync(js_, &m, nullptr) == NATS_OK);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 20000;
    REQUIRE(js_PublishAsyncComplete(js_, &po) == NATS_OK);
  }
  // Messages of the durable consumer not yet acked (pending + ack pending).
  std::uint64_t unacked(const std::string& stream, const std::string& durable) {
    jsConsumerInfo* ci = nullptr;
    if (js_GetConsumerInfo(&ci, js_, stream.c_str(), durable.c_str(), nullptr, nullptr) != NATS_OK) return ~0ull;
    const std::uint64_t n = ci->NumPending + static_cast<std::uint64_t>(ci->NumAckPending);
    jsConsumerInfo_Destroy(ci);
    return n;
  }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace conduit::test
