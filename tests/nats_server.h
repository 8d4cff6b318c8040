// A real nats-server with JetStream for the bridge tests: started on a free
// loopback port with its store in a temporary directory, stopped and started
// again on the same port and store. Plus a few plain libnats calls the tests
// use to look at JetStream directly.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <nats/nats.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tests/temp_dir.h"

namespace conduit::test {

// $NATS_SERVER, else Debian's /usr/sbin/nats-server (not on a normal
// user's PATH), else whatever `nats-server` PATH finds.
inline std::string nats_server_program() {
  if (const char* env = std::getenv("NATS_SERVER"); env != nullptr && *env != '\0') return env;
  if (::access("/usr/sbin/nats-server", X_OK) == 0) return "/usr/sbin/nats-server";
  return "nats-server";
}

inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Runs `argv` with stdout and stderr appended to `log`; returns its pid.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

// Waits for `pid` after sending `sig`; returns its wait status.
inline int kill_and_wait(pid_t pid, int sig) {
  ::kill(pid, sig);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

template <class F>
bool eventually(F done, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

class NatsServer {
 public:
  NatsServer() : port_(free_port()) { start(); }
  ~NatsServer() { stop(); }

  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return (dir_.path / "nats-server.log").string(); }

  void start() {
    pid_ = spawn({nats_server_program(), "-js", "-a", "127.0.0.1", "-p", std::to_string(port_), "-sd",
                  (dir_.path / "store").string()},
                 log());
    REQUIRE_MESSAGE(eventually([&] { return port_open(port_); }), "nats-server did not start; see " << log());
  }
  // SIGKILL: the server gets no chance to say goodbye to its clients.
  void stop(int sig = SIGKILL) {
    if (pid_ > 0) kill_and_wait(pid_, sig);
    pid_ = -1;
  }

 private:
  TempDir dir_;
  int port_;
  pid_t pid_ = -1;
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
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char* subjects[] = {subject.c_str()};
    sc.Name = name.c_str();
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    jsStreamInfo* si = nullptr;
    REQUIRE(js_AddStream(&si, js_, &sc, nullptr, nullptr) == NATS_OK);
    jsStreamInfo_Destroy(si);
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
