// Running conduit-log (CONDUIT_LOG_PATH, set by CMakeLists.txt) from a
// test, and an engine in a child process for it to read: shared by the
// conduit_log_* tests.
//
// fork() happens only while the test process has no engine open (doctest
// runs one test case at a time), so each child starts single-threaded.
#pragma once

#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "tests/support/spawn.h"

namespace conduit::test::log_tool {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "conduit-log-test-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

struct Run {
  int code = -1;  // exit code; -SIGNAL when killed by a signal
  std::string out, err;
};

// Starts the tool with `args`; its stdout is a pipe (*out_fd), stderr a file.
inline pid_t spawn(const std::vector<std::string>& args, int* out_fd, const std::string& err_path) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(err >= 0);
  std::vector<std::string> argv{CONDUIT_LOG_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = conduit::test::spawn_with(argv, fds[1], err);
  ::close(err);
  ::close(fds[1]);
  REQUIRE(pid > 0);
  *out_fd = fds[0];
  return pid;
}

inline int wait_code(pid_t pid) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs the tool to completion; a run over 60 s is killed (a hang fails).
inline Run run_tool(const std::vector<std::string>& args) {
  const std::string err_path = (fs::temp_directory_path() / ("conduit-log-err-" + std::to_string(::getpid()))).string();
  int fd = -1;
  const pid_t pid = spawn(args, &fd, err_path);
  Run r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      r.out.append(buf, static_cast<std::size_t>(n));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      break;
    }
  }
  ::close(fd);
  r.code = wait_code(pid);
  r.err = slurp(err_path);
  fs::remove(err_path);
  return r;
}

// The number after "\"NAME\":" in a JSON line (the tool's own output).
inline std::int64_t json_int(const std::string& line, const std::string& name) {
  const std::size_t p = line.find("\"" + name + "\":");
  REQUIRE(p != std::string::npos);
  return std::stoll(line.substr(p + name.size() + 3));
}

// Kills a tool the test started when the test ends early (a failed REQUIRE).
struct KillOnExit {
  pid_t pid;
  ~KillOnExit() {
    if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
  }
};

// Lines from a tool's stdout pipe, as they come.
struct LineReader {
  explicit LineReader(int out_fd) : fd(out_fd) {}
  int fd;
  std::string buffered;
  std::vector<std::string> lines;
  // Reads until `done` (checked after each read) or `seconds` pass.
  void read_until(const std::function<bool()>& done, int seconds = 30) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[65536];
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      buffered.append(buf, static_cast<std::size_t>(n));
      for (std::size_t eol; (eol = buffered.find('\n')) != std::string::npos; buffered.erase(0, eol + 1))
        lines.push_back(buffered.substr(0, eol));
    }
  }
};

// The options of the topic "live" that EngineChild makes.
inline TopicOptions live_topic_options(std::size_t retain_bytes = 0) {
  TopicOptions to;
  to.durability = Durability::kAsync;
  to.segment_bytes = 192 << 10;
  to.max_payload_bytes = 16 << 10;
  to.retain_bytes = retain_bytes;
  return to;
}

// A child process that runs an engine on `dir`: `body` gets the topic
// "live" (and the engine, when it takes one first) and two ends of pipes to
// signal the parent (`tell`) and wait for it (`wait`).
struct EngineChild {
  pid_t pid = -1;
  int from_child = -1, to_child = -1;

  template <class Body>
  EngineChild(const std::string& dir, Body body, std::size_t retain_bytes = 0) {
    // Close-on-exec: a tool the test starts must not hold the child's pipes
    // open (the child would then never see the test end).
    int up[2], down[2];
    REQUIRE(::pipe2(up, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(down, O_CLOEXEC) == 0);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(up[0]);
      ::close(down[1]);
      int rc = 1;
      {
        EngineOptions eo;
        eo.data_dir = dir;
        auto engine = Engine::open(eo);
        if (engine.ok()) {
          auto topic = (*engine)->create_topic("live", live_topic_options(retain_bytes));
          if (!topic.ok())
            std::fprintf(stderr, "child: %s\n", topic.status().to_string().c_str());
          else if constexpr (std::is_invocable_v<Body, Engine&, Topic*, int, int>)
            rc = body(**engine, *topic, up[1], down[0]);
          else
            rc = body(*topic, up[1], down[0]);
        } else {
          std::fprintf(stderr, "child: %s\n", engine.status().to_string().c_str());
        }
      }
      ::_exit(rc);
    }
    ::close(up[1]);
    ::close(down[0]);
    from_child = up[0];
    to_child = down[1];
  }
  // Waits (up to 30 s) for the child's next signal byte.
  void await_signal() {
    pollfd p{from_child, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 30000) == 1);
    char c;
    REQUIRE(::read(from_child, &c, 1) == 1);
  }
  void signal() { REQUIRE(::write(to_child, "g", 1) == 1); }
  int finish() {
    ::close(to_child);
    ::close(from_child);
    return wait_code(pid);
  }
};

// In the child: one byte to the parent, or a wait for one from it.
inline bool tell(int fd) { return ::write(fd, "r", 1) == 1; }
inline bool wait_for(int fd) {
  char c;
  return ::read(fd, &c, 1) == 1;
}

}  // namespace conduit::test::log_tool
