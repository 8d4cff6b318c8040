// kSubscribe's reader slot across builds (doc/ipc.md, "Topic::readers()
// across processes"): an attached process of an older build (which asks
// for no descriptor and reads no flags byte) still subscribes to a
// persisted topic, and the owner lists it at its start until its
// connection ends; a newer attached subscriber facing an older owner
// (no flags byte, no descriptor) reads as before and stores nothing.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine/ipc_wire.h"
#include "tests/ipc/readers.h"
#include "tests/support/helpers.h"

using namespace conduit;
using namespace std::chrono_literals;
namespace ipc = conduit::detail::ipc;
using conduit::test::readers_once;
using conduit::test::small_async;
using conduit::test::TempDir;

namespace {

sockaddr_un socket_address(const std::string& dir) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = dir + "/control.sock";
  REQUIRE(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// A request and its reply, as an older attached build has them: received
// with no room asked for a descriptor (any passed is closed on receipt).
std::string ask(int fd, const ipc::Writer& w) {
  REQUIRE(ipc::send_packet(fd, w.bytes()));
  pollfd p{fd, POLLIN, 0};
  REQUIRE_MESSAGE(::poll(&p, 1, 10'000) == 1, "no answer within 10 s");
  std::string reply;
  REQUIRE(ipc::recv_packet(fd, reply) > 0);
  return reply;
}

}  // namespace

TEST_CASE("an older attached build subscribes to a persisted topic: listed at its start until its connection ends") {
  TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path.string();
  auto engine = Engine::open(eo).value();
  Topic* topic = engine->create_topic("t", small_async()).value();
  for (int i = 0; i < 5; ++i) REQUIRE(topic->publish("record " + std::to_string(i)).ok());
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  const sockaddr_un addr = socket_address(eo.data_dir);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  ipc::Writer hello(ipc::Op::kHello);
  hello.put(ipc::kMagic).put(ipc::kVersion).put(static_cast<std::uint32_t>(::getpid()));
  const std::string hello_reply = ask(fd, hello);
  REQUIRE(ipc::Reader(hello_reply).status().ok());
  // Its subscribe, without the SlowPolicy byte, from sequence 2.
  ipc::Writer sub(ipc::Op::kSubscribe);
  sub.str("t").str("old").put(static_cast<std::uint8_t>(StartAt::Kind::kSequence));
  sub.put(std::uint64_t{2}).put(std::int64_t{0});
  const std::string reply = ask(fd, sub);
  ipc::Reader r(reply);
  REQUIRE(r.status().ok());
  CHECK(r.get<std::uint64_t>() == 2);  // its start
  CHECK(r.get<std::uint64_t>() == 0);  // rewound
  CHECK(r.get<std::uint8_t>() == 0);   // persisted
  REQUIRE(r.ok());                     // what it reads ends here
  // What it never reads: the flags byte, and the slot closed on receipt.
  CHECK(r.get<std::uint8_t>() == ipc::kSubscribeReaderSlot);
  CHECK(r.at_end());
  auto rs = topic->readers();
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].attached);
  CHECK(rs[0].name == "old");
  CHECK(rs[0].position == 2);
  CHECK(rs[0].lag == 3);
  ::close(fd);
  CHECK(readers_once(topic, 0).empty());
}

namespace {

// An owner of an older build on DIR/control.sock, for two connections in
// turn (AttachedEngine::attach's, then its subscriber's): says OK to each
// hello, and to a kSubscribe the older reply (start 0, nothing rewound,
// persisted; no flags byte, no descriptor). Each connection stays open
// until the end.
class OlderOwner {
 public:
  explicit OlderOwner(const std::string& dir) {
    listen_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    REQUIRE(listen_ >= 0);
    const sockaddr_un addr = socket_address(dir);
    REQUIRE(::bind(listen_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_, 4) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~OlderOwner() {
    // Release pairs with the acquire in serve(): it stops at its next look.
    stop_.store(true, std::memory_order_release);
    thread_.join();
    for (int fd : conns_) ::close(fd);
    ::close(listen_);
  }
  OlderOwner(const OlderOwner&) = delete;
  OlderOwner& operator=(const OlderOwner&) = delete;
  // Subscribes answered; read once the attached side has its reply.
  int subscribes() const {
    // Acquire pairs with the release in serve() (before the reply went).
    return subscribes_.load(std::memory_order_acquire);
  }

 private:
  void serve() {
    // Acquire pairs with the release in the destructor.
    while (!stop_.load(std::memory_order_acquire)) {
      std::vector<pollfd> ps{{listen_, POLLIN, 0}};
      for (int fd : conns_) ps.push_back({fd, POLLIN, 0});
      if (::poll(ps.data(), ps.size(), 10) <= 0) continue;
      if ((ps[0].revents & POLLIN) != 0) conns_.push_back(::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC));
      for (std::size_t k = 1; k < ps.size(); ++k)
        if ((ps[k].revents & POLLIN) != 0) answer(ps[k].fd);
    }
  }
  void answer(int fd) {
    std::string packet;
    if (ipc::recv_packet(fd, packet) <= 0) return;
    ipc::Writer w;
    w.status(Status::OK());
    if (!packet.empty() && static_cast<ipc::Op>(packet[0]) == ipc::Op::kSubscribe) {
      w.put(std::uint64_t{0}).put(std::uint64_t{0}).put(std::uint8_t{0});
      // Release pairs with the acquire in subscribes().
      subscribes_.fetch_add(1, std::memory_order_release);
    }
    (void)ipc::send_packet(fd, w.bytes());
  }

  int listen_ = -1;
  std::vector<int> conns_;  // the serving thread's, then the destructor's
  std::atomic<bool> stop_{false};
  std::atomic<int> subscribes_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("a newer attached subscriber facing an older owner (no reader slot) reads as before") {
  TempDir tmp;
  const std::string dir = tmp.path.string();
  {
    // The topic's files, left by an engine now gone.
    EngineOptions eo;
    eo.data_dir = dir;
    auto engine = Engine::open(eo).value();
    Topic* topic = engine->create_topic("t", small_async()).value();
    for (int i = 0; i < 5; ++i) REQUIRE(topic->publish("record " + std::to_string(i)).ok());
  }
  OlderOwner owner(dir);
  auto attached = AttachedEngine::attach(dir).value();
  auto sub = attached->subscribe("t").value();
  CHECK(owner.subscribes() == 1);
  std::vector<RecordView> out(8);
  const PollResult r = sub->poll(out, 5s);
  REQUIRE(r.status.ok());
  REQUIRE(r.count == 5);
  for (std::size_t k = 0; k < r.count; ++k) CHECK(out[k].payload() == "record " + std::to_string(k));
  CHECK(sub->position() == 5);
}
