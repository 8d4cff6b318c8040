// A real nats-server with JetStream on a free loopback port, its store in a
// temporary directory; and the few plain libnats calls that set a stream up.
// Then, for the bridge tests, the same with doctest's checks: a server that
// fails to start fails the test, and a plain libnats client, the tests' own
// view of JetStream. bench/bridge_bench.cpp, which has no doctest, defines
// CONDUIT_NATS_SERVER_NO_CHECKS before including this and gets the first part
// only.
//
// Thread safety: none; one thread drives a server.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/spawn.h"
#include "tests/support/temp_dir.h"

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

// Runs `argv` with stdout and stderr appended to `log`; returns its pid,
// -1 when it could not be started.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  const pid_t pid = spawn_with(argv, fd, fd);
  ::close(fd);
  return pid;
}

// Waits for `pid` after sending `sig`; returns its wait status (-1 for no
// process: kill(-1) would signal every process we may signal).
inline int kill_and_wait(pid_t pid, int sig) {
  if (pid <= 0) return -1;
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

// nats-server -js on a free loopback port; the store and the server's log
// live in dir(), removed with the object. start() says whether the port
// opened in time; stop() and start() again keep the port and the store.
class NatsServerProcess {
 public:
  NatsServerProcess() : port_(free_port()) {}
  ~NatsServerProcess() { stop(); }
  NatsServerProcess(const NatsServerProcess&) = delete;
  NatsServerProcess& operator=(const NatsServerProcess&) = delete;

  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& dir() const { return dir_.path; }
  std::string log() const { return (dir_.path / "nats-server.log").string(); }

  [[nodiscard]] bool start() {
    pid_ = spawn({nats_server_program(), "-js", "-a", "127.0.0.1", "-p", std::to_string(port_), "-sd",
                  (dir_.path / "store").string()},
                 log());
    return pid_ > 0 && eventually([&] { return port_open(port_); });
  }
  // SIGKILL by default: the server gets no chance to say goodbye to its clients.
  void stop(int sig = SIGKILL) {
    if (pid_ <= 0) return;
    if (sig != SIGKILL) ::kill(pid_, SIGCONT);  // a paused server takes the signal at once
    kill_and_wait(pid_, sig);
    pid_ = -1;
  }
  // SIGSTOP / SIGCONT: a server that holds its connections but answers nothing.
  void pause() const {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }
  void resume() const {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }

 private:
  TempDir dir_;
  int port_;
  pid_t pid_ = -1;
};

// A file-storage stream `name` on `subject`.
inline natsStatus add_stream(jsCtx* js, const std::string& name, const std::string& subject) {
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  const char* subjects[] = {subject.c_str()};
  sc.Name = name.c_str();
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  jsStreamInfo* si = nullptr;
  const natsStatus s = js_AddStream(&si, js, &sc, nullptr, nullptr);
  jsStreamInfo_Destroy(si);
  return s;
}

}  // namespace conduit::test

#ifndef CONDUIT_NATS_SERVER_NO_CHECKS

#include <doctest/doctest.h>

#include <algorithm>

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

  void start() { REQUIRE_MESSAGE(NatsServerProcess::start(), "nats-server did not start; see " << log()); }
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
    REQUIRE(js_Publish(&pa, js_, subject.c_str(), payload.data(), static_cast<int>(payload.size()), &po, nullptr) ==
            NATS_OK);
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
  // The next message of the durable pull consumer, delivered to the test,
  // which does not ack it: JetStream delivers it again after the consumer's
  // ack wait, or at once after nak(). The caller destroys it.
  natsMsg* take(const std::string& stream, const std::string& durable) {
    const std::string next = "$JS.API.CONSUMER.MSG.NEXT." + stream + "." + durable;
    natsMsg* m = nullptr;
    REQUIRE(natsConnection_RequestString(&m, nc_, next.c_str(), "{\"batch\":1}", 5000) == NATS_OK);
    REQUIRE(natsMsg_GetDataLength(m) > 0);  // a message, not a status
    return m;
  }
  // Asks JetStream to deliver a message from take() again now.
  void nak(natsMsg* m) {
    REQUIRE(natsConnection_PublishString(nc_, natsMsg_GetReply(m), "-NAK") == NATS_OK);
    REQUIRE(natsConnection_Flush(nc_) == NATS_OK);
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

#endif  // CONDUIT_NATS_SERVER_NO_CHECKS
