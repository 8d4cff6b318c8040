// A real nats-server with JetStream on a free loopback port, its store in a
// temporary directory; and the few plain libnats calls that set a stream up.
// Free of doctest, so that bench/bridge_bench.cpp uses it as the bridge tests
// do (tests/nats_server.h adds the tests' checks on top).
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
