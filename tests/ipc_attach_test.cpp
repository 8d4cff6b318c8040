// Attaching to the engine that owns a data directory (conduit/attach.h):
// the socket it listens on, and the clear refusals: no owner, another
// user, another protocol version, a memory-only topic.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "engine/ipc_wire.h"
#include "tests/ipc/worker.h"
#include "tests/support/helpers.h"

using namespace conduit;
using conduit::test::TempDir;
using conduit::test::Worker;

namespace {

std::string sock_of(const std::string& dir) { return dir + "/control.sock"; }

int connect_raw(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("an engine with a data directory listens on DATA_DIR/control.sock, 0600 in its 0700 directory") {
  TempDir tmp;
  const std::string dir = (tmp.path / "data").string();
  EngineOptions eo;
  eo.data_dir = dir;
  auto engine = Engine::open(eo).value();
  CHECK(mode_of(dir) == 0700);
  CHECK(mode_of(sock_of(dir)) == 0600);
  auto attached = AttachedEngine::attach(dir);
  REQUIRE(attached.ok());
  CHECK((*attached)->data_dir() == dir);
  engine.reset();
  CHECK_FALSE(std::filesystem::exists(sock_of(dir)));  // the owner removes it when it goes
}

TEST_CASE("attaching where no engine owns the directory says so and names it") {
  TempDir tmp;
  const std::string dir = tmp.path.string();
  auto none = AttachedEngine::attach(dir);
  REQUIRE(none.status().code() == Code::kNotFound);
  CHECK(none.status().message().find("no engine owns " + dir) != std::string::npos);

  // A socket its dead owner left, with nobody listening on it.
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock_of(dir).c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
  auto stale = AttachedEngine::attach(dir);
  REQUIRE(stale.status().code() == Code::kNotFound);
  CHECK(stale.status().message().find("its owner is gone") != std::string::npos);

  // The next owner replaces it (it holds the lock, so it knows it is stale).
  EngineOptions eo;
  eo.data_dir = dir;
  auto engine = Engine::open(eo).value();
  CHECK(AttachedEngine::attach(dir).ok());
}

TEST_CASE("a process of another user is refused with a clear error") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs root, to start a process of another user (uid 65534)");
    return;
  }
  TempDir tmp;
  REQUIRE(::chmod(tmp.path.c_str(), 0755) == 0);  // only the data directory is closed to others
  const std::string dir = (tmp.path / "data").string();
  EngineOptions eo;
  eo.data_dir = dir;
  auto engine = Engine::open(eo).value();
  {
    Worker w({"attach", dir, "65534"});
    const auto said = w.line();
    REQUIRE(said.has_value());
    CHECK(said->find(dir + " belongs to another user (uid 0") != std::string::npos);
    CHECK(w.wait() == 1);
  }
  // With the directory and socket opened up by hand, the owner still
  // refuses another user (SO_PEERCRED).
  REQUIRE(::chmod(dir.c_str(), 0755) == 0);
  REQUIRE(::chmod(sock_of(dir).c_str(), 0666) == 0);
  Worker w({"attach", dir, "65534"});
  const auto said = w.line();
  REQUIRE(said.has_value());
  CHECK(said->find("runs as uid 0; a process of uid 65534") != std::string::npos);
  CHECK(said->find("may not attach") != std::string::npos);
  CHECK(w.wait() == 1);
}

TEST_CASE("a client of another protocol version is refused, naming both versions") {
  TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path.string();
  auto engine = Engine::open(eo).value();
  const int fd = connect_raw(sock_of(eo.data_dir));
  detail::ipc::Writer hello(detail::ipc::Op::kHello);
  hello.put(detail::ipc::kMagic).put(std::uint32_t{999}).put(std::uint32_t{1});
  REQUIRE(detail::ipc::send_packet(fd, hello.bytes()));
  std::string reply;
  REQUIRE(detail::ipc::recv_packet(fd, reply) > 0);
  detail::ipc::Reader r(reply);
  const Status s = r.status();
  CHECK(s.code() == Code::kUnsupported);
  CHECK(s.message().find("protocol version 999 refused") != std::string::npos);
  CHECK(s.message().find("speaks version " + std::to_string(detail::ipc::kVersion)) != std::string::npos);
  CHECK(detail::ipc::recv_packet(fd, reply) == 0);  // and closes
  ::close(fd);
}

TEST_CASE("work_group of an attached engine: unknown topics and memory-only topics are refused") {
  TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path.string();
  auto engine = Engine::open(eo).value();
  REQUIRE(engine->create_topic("mem").ok());
  auto attached = AttachedEngine::attach(eo.data_dir).value();
  CHECK(attached->work_group("nope", "g").status().code() == Code::kNotFound);
  auto mem = attached->work_group("mem", "g");
  CHECK(mem.status().code() == Code::kUnsupported);
  CHECK(mem.status().message().find("memory-only") != std::string::npos);
}

TEST_CASE("a data directory whose socket path is too long for sun_path is attached to all the same") {
  TempDir tmp;
  const std::string dir = (tmp.path / std::string(120, 'd')).string();
  REQUIRE(sock_of(dir).size() >= sizeof(sockaddr_un::sun_path));
  EngineOptions eo;
  eo.data_dir = dir;
  auto engine = Engine::open(eo).value();
  CHECK(mode_of(sock_of(dir)) == 0600);
  CHECK(AttachedEngine::attach(dir).ok());
  engine.reset();
  CHECK(AttachedEngine::attach(dir).status().code() == Code::kNotFound);
}
