// Publishing requests that no well-behaved attached process sends, straight
// on the owner's socket: each is answered at once with a clear refusal, and
// the topic goes on working for everyone (doc/ipc.md, "Requests the owner
// does not take on trust").
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <string>

#include "conduit/conduit.h"
#include "engine/ipc_wire.h"
#include "engine/topic_core.h"
#include "support/temp_dir.h"

namespace {

using namespace conduit;
namespace ipc = conduit::detail::ipc;

constexpr std::size_t kSegmentBytes = 256u << 10;

struct Owner {
  test::TempDir dir;
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  std::unique_ptr<Subscriber> sub;
  int fd = -1;

  Owner() {
    EngineOptions eo;
    eo.data_dir = dir.path.string();
    engine = Engine::open(eo).value();
    TopicOptions to;
    to.durability = Durability::kAsync;
    to.segment_bytes = kSegmentBytes;
    to.max_payload_bytes = 1024;
    topic = engine->create_topic("t", to).value();
    sub = topic->subscribe().value();
    fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = eo.data_dir + "/control.sock";
    REQUIRE(path.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    ipc::Writer hello(ipc::Op::kHello);
    hello.put(ipc::kMagic).put(ipc::kVersion).put(static_cast<std::uint32_t>(::getpid()));
    REQUIRE(ask(hello).ok());
  }
  ~Owner() { ::close(fd); }

  // The owner's answer; a request left unanswered for 10 s fails the test
  // (the bug these requests found: the owner waited on the peer's word).
  Status ask(const ipc::Writer& w) const {
    REQUIRE(ipc::send_packet(fd, w.bytes()));
    pollfd p{fd, POLLIN, 0};
    REQUIRE_MESSAGE(::poll(&p, 1, 10'000) == 1, "no answer within 10 s");
    std::string reply;
    REQUIRE(ipc::recv_packet(fd, reply) > 0);
    ipc::Reader r(reply);
    return r.status();
  }

  // A publish still reaches the subscriber, next in order, with nothing skipped.
  void still_works(std::uint64_t expected) {
    const std::string payload = "after " + std::to_string(expected);
    auto seq = topic->publish(payload);
    REQUIRE(seq.ok());
    CHECK(*seq == expected);
    std::array<RecordView, 4> got;
    const PollResult p = sub->poll(got, std::chrono::seconds(5));
    REQUIRE(p.status.ok());
    REQUIRE_MESSAGE(p.count == 1, "the subscriber got nothing: the topic stalled");
    CHECK(p.skipped == 0);
    CHECK(got[0].sequence() == expected);
    CHECK(got[0].payload() == payload);
  }
};

ipc::Writer roll(std::uint32_t slot, std::uint64_t tail) {
  ipc::Writer w(ipc::Op::kPubRoll);
  w.str("t").put(slot).put(tail);
  return w;
}

}  // namespace

TEST_CASE("a durability wait for a sequence nobody claimed is refused at once") {
  Owner o;
  o.still_works(0);
  ipc::Writer w(ipc::Op::kPubDurable);
  w.str("t").put(std::uint64_t{1} << 40);
  const Status s = o.ask(w);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("no claim has taken") != std::string::npos);
  // A sequence that was claimed (and published) is waited for and answered.
  CHECK(o.ask(ipc::Writer(ipc::Op::kPubDurable).str("t").put(std::uint64_t{0})).ok());
  o.still_works(1);
}

TEST_CASE("a roll request that lies about the crossing claim is refused; the head stays open") {
  Owner o;
  for (std::uint64_t i = 0; i < 3; ++i) o.still_works(i);
  using conduit::detail::kTailOffsetBits;
  // The head (slot 0, the first segment) holds 3 records. A "crosser" at
  // the very end of the segment that would seal it with 8 records: before
  // the check, the owner sealed the open head there, and readers waited
  // for records 3..7 that no claim would ever write.
  Status s = o.ask(roll(0, (std::uint64_t{8} << kTailOffsetBits) | kSegmentBytes));
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("no claim read") != std::string::npos);
  // The same lie inside the segment (aligned, past the header).
  s = o.ask(roll(0, (std::uint64_t{8} << kTailOffsetBits) | 4096));
  CHECK(s.code() == Code::kInvalidArgument);
  // A crossing request on a slot that is not the head.
  s = o.ask(roll(1, (std::uint64_t{0} << kTailOffsetBits) | 4096));
  CHECK(s.code() == Code::kInvalidArgument);
  // A roll past an end nothing crossed rolls nothing, and says so with OK.
  CHECK(o.ask(roll(0, (std::uint64_t{1} << 40) - 1)).ok());
  for (std::uint64_t i = 3; i < 6; ++i) o.still_works(i);
}
