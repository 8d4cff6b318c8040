// tests/ipc/ipc_worker started from a test: its stdout read line by line
// through a pipe, its end waited for, or SIGKILL.
//
// Thread safety: one thread per Worker.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/spawn.h"

namespace conduit::test {

class Worker {
 public:
  explicit Worker(std::vector<std::string> args) {
    args.insert(args.begin(), CONDUIT_IPC_WORKER);
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    pid_ = spawn_with(args, fds[1], STDERR_FILENO);
    ::close(fds[1]);
    out_ = fds[0];
    REQUIRE(pid_ > 0);
  }
  ~Worker() {
    if (pid_ > 0) kill();
    ::close(out_);
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The next line of its stdout, without the newline; nullopt at its end
  // or after `timeout`.
  std::optional<std::string> line(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // Reads whatever its stdout has now, without waiting, so that a worker
  // printing more than a pipe holds is not stopped by a full pipe while
  // the test waits for something else.
  void pump() {
    for (;;) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0 || (p.revents & POLLIN) == 0) return;
      char chunk[4096];
      const ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // Every line until its stdout ends.
  std::vector<std::string> lines() {
    std::vector<std::string> all;
    while (auto l = line()) all.push_back(*l);
    return all;
  }
  pid_t pid() const noexcept { return pid_; }
  // Its exit code (-signal when a signal ended it).
  int wait() {
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  void kill() {
    ::kill(pid_, SIGKILL);
    (void)wait();
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
};

}  // namespace conduit::test
