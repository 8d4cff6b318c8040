// Fuzz target: the packets another process sends the owner of a data
// directory on DATA_DIR/control.sock (engine/ipc_wire.h has the messages).
// One engine, opened once, owns a directory with a persisted topic "t", a
// memory-only topic "m" and a work group "g" on "t". Each input is a
// sequence of packets (a u16 length, host order, then that many bytes; a
// short last one takes what is left), sent in turn on one fresh connection
// to the engine's real socket, each answered before the next goes.
//
// Properties: the owner answers every packet within kReplyWait, with a
// reply that starts with a readable status (a non-OK one says why), or
// closes the connection; a packet that does not fit its op's layout
// (short, unknown op, a length past the end, more acks than kMaxBatch, an
// enum byte that is none of its values) is refused with a non-OK status or
// closed on. After each input the engine still works: a publish on "t"
// reaches an in-process subscriber, and an in-process consumer of "g"
// polls without error.
//
// A poll's timeout (kPoll's or kPollAck's), a roll's wait (kPubRoll's,
// when given) and a durability wait's (kPubDurable's, when given) are cut to
// 1 ms before they go (a well-formed poll may wait as long as it asks; a
// roll waits only for a full ring, which "t" never is; a durability wait
// for a claimed record of the async "t" may last until its next sync),
// and a work group's max_in_flight to 2^16 (exchange() says why). The
// fuzzer is run with -detect_leaks=0, as `api`: the engine's threads would
// make it scan the heap after nearly every input; LeakSanitizer still
// checks at exit.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "conduit/engine.h"
#include "engine/ipc_wire.h"
#include "fuzz_support.h"
#include "tests/support/temp_dir.h"

namespace {

namespace ipc = conduit::detail::ipc;

constexpr std::size_t kMaxPackets = 16;
constexpr int kReplyWait = 5000;  // ms: a reply slower than this is a hang
constexpr std::int64_t kMaxPollNs = 1'000'000;

// The layouts of engine/ipc_wire.h, read independently of the owner's code:
// true when `p` holds every field its op names, each enum one of its values.
class Layout {
 public:
  explicit Layout(std::string_view p) : p_(p) {}
  bool fits() {
    if (p_.empty()) return false;
    switch (static_cast<ipc::Op>(p_[0])) {
      case ipc::Op::kHello: return take(4) && take(4);  // the pid is not read
      case ipc::Op::kOpenGroup: return str() && str() && options();
      case ipc::Op::kConsumer: return str() && str() && options() && str() && enum_up_to(3);  // WaitStrategy
      case ipc::Op::kPoll: return take(4) && take(8);
      case ipc::Op::kAck: return acks();
      case ipc::Op::kPollAck: return acks() && take(4) && take(8);
      case ipc::Op::kFail: return enum_up_to(3) && take(8) && take(8) && take(8) && str();
      case ipc::Op::kSubscribe: return str() && str() && enum_up_to(3) && take(8) && take(8);
      case ipc::Op::kCommit: return take(8);
      case ipc::Op::kGroupStats: return str() && str();
      case ipc::Op::kTopicStats: return str();
      case ipc::Op::kReplyTopic: return str() && enum_up_to(2);  // Durability
      // Publishing ops: the topic's name, then each op's numbers.
      case ipc::Op::kPubOpen: return str();
      case ipc::Op::kPubSegment: return str() && take(8);              // segment's first seq
      // The slot and the tail, then a bounded publish's wait (whole, or none).
      case ipc::Op::kPubRoll: return str() && take(4) && take(8) && (at_end() || take(8));
      case ipc::Op::kPubZero: return str() && take(8) && take(8);      // segment, end
      // The sequence, then a bounded wait's length (whole, or none).
      case ipc::Op::kPubDurable: return str() && take(8) && (at_end() || take(8));
      case ipc::Op::kPubClaims: return str();
      case ipc::Op::kShmSegment: return take(8);                       // sequence
    }
    return false;
  }

 private:
  bool take(std::uint64_t n) {
    if (p_.size() - pos_ < n) return false;
    pos_ += n;
    return true;
  }
  bool at_end() const { return pos_ >= p_.size(); }
  bool u32(std::uint32_t* v) {
    if (p_.size() - pos_ < 4) return false;
    std::memcpy(v, p_.data() + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool enum_up_to(std::uint8_t last) {
    if (p_.size() - pos_ < 1) return false;
    return static_cast<std::uint8_t>(p_[pos_++]) <= last;
  }
  bool str() {
    std::uint32_t n = 0;
    return u32(&n) && take(n);
  }
  // A kAck's (or kPollAck's) count, at most kMaxBatch, and that many pairs.
  bool acks() {
    std::uint32_t n = 0;
    return u32(&n) && n <= ipc::kMaxBatch && take(16ull * n);
  }
  // StartAt::Kind, its sequence and time, max_in_flight, ack_timeout,
  // max_attempts, backoff base, max and jitter; dead-letter topic; on_failure.
  bool options() { return enum_up_to(3) && take(8 + 8 + 4 + 8 + 4 + 8 + 8 + 8) && str() && enum_up_to(1); }

  std::string_view p_;
  std::size_t pos_ = 1;
};

struct Owner {
  conduit::test::TempDir dir{conduit::test::scratch_base()};
  std::unique_ptr<conduit::Engine> engine;
  conduit::Topic* topic = nullptr;
  std::unique_ptr<conduit::Subscriber> sub;
  std::unique_ptr<conduit::Consumer> consumer;
  std::string socket;
  std::uint64_t probes = 0;

  Owner() {
    conduit::EngineOptions eo;
    eo.data_dir = dir.path.string();
    auto e = conduit::Engine::open(eo);
    FUZZ_CHECK(e.ok());
    engine = std::move(e).value();
    conduit::TopicOptions to;
    to.durability = conduit::Durability::kAsync;
    to.segment_bytes = 256u << 10;
    to.max_payload_bytes = 1024;
    auto t = engine->create_topic("t", to);
    FUZZ_CHECK(t.ok());
    topic = *t;
    FUZZ_CHECK(engine->create_topic("m").ok());
    auto g = topic->work_group("g");
    FUZZ_CHECK(g.ok());
    auto c = (*g)->consumer();
    FUZZ_CHECK(c.ok());
    consumer = std::move(c).value();
    auto s = topic->subscribe();
    FUZZ_CHECK(s.ok());
    sub = std::move(s).value();
    socket = eo.data_dir + "/control.sock";
    FUZZ_CHECK(socket.size() < sizeof(sockaddr_un::sun_path));
  }

  int connect() const {
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket.c_str(), socket.size() + 1);
    FUZZ_CHECK(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
  }

  // A publish reaches the in-process subscriber; the group's consumer polls.
  void still_works() {
    const std::string payload = "probe " + std::to_string(++probes);
    auto seq = topic->publish(payload);
    FUZZ_CHECK(seq.ok());
    std::array<conduit::RecordView, 4> got;
    const conduit::PollResult p = sub->poll(got, std::chrono::seconds(5));
    FUZZ_CHECK(p.status.ok() && p.count == 1);
    FUZZ_CHECK(got[0].sequence() == *seq && got[0].payload() == payload);
    std::array<conduit::Delivery, 16> ds;
    const conduit::PollResult q = consumer->try_poll(ds);
    FUZZ_CHECK(q.status.ok());
    consumer->ack(std::span(ds.data(), q.count));
  }
};

// Sends `packet` and reads its answer. false: the owner closed the connection.
bool exchange(int fd, std::string packet) {
  const bool fits = Layout(packet).fits();
  const auto op = fits ? static_cast<ipc::Op>(packet[0]) : ipc::Op{};
  if (op == ipc::Op::kPoll || op == ipc::Op::kPollAck) {
    // After the op, kPollAck's acks (a count, 16 bytes each), then the max.
    std::size_t at = 1 + 4;
    if (op == ipc::Op::kPollAck) {
      std::uint32_t n = 0;
      std::memcpy(&n, packet.data() + 1, sizeof n);
      at += 4 + 16ull * n;
    }
    std::int64_t ns = 0;
    std::memcpy(&ns, packet.data() + at, sizeof ns);
    ns = std::min(ns, kMaxPollNs);
    std::memcpy(packet.data() + at, &ns, sizeof ns);
  }
  if (op == ipc::Op::kOpenGroup || op == ipc::Op::kConsumer) {
    // After the op: the topic's and the group's names (a length, then the
    // bytes), StartAt's kind, sequence and time, then max_in_flight. A
    // valid one above 2^16 becomes 2^16: a group's tables take ~40 bytes a
    // slot (670 MB at the 2^24 allowed), and a few such groups would end
    // the fuzzer at its memory limit, not find a bug.
    std::uint32_t n1 = 0;
    std::uint32_t n2 = 0;
    std::memcpy(&n1, packet.data() + 1, sizeof n1);
    std::memcpy(&n2, packet.data() + 1 + 4 + n1, sizeof n2);
    const std::size_t at = 1 + 4 + std::size_t{n1} + 4 + n2 + 1 + 8 + 8;
    std::uint32_t m = 0;
    std::memcpy(&m, packet.data() + at, sizeof m);
    if (std::has_single_bit(m) && m > (1u << 16)) {
      m = 1u << 16;
      std::memcpy(packet.data() + at, &m, sizeof m);
    }
  }
  if (op == ipc::Op::kPubRoll || op == ipc::Op::kPubDurable) {
    // After the op: the topic's name (a length, then its bytes), then
    // kPubRoll's slot and tail or kPubDurable's sequence; then the wait,
    // when there is one (fits() says it is whole).
    std::uint32_t n = 0;
    std::memcpy(&n, packet.data() + 1, sizeof n);
    const std::size_t at = 1 + 4 + std::size_t{n} + (op == ipc::Op::kPubRoll ? 4 + 8 : 8);
    if (packet.size() >= at + 8) {
      std::int64_t ns = 0;
      std::memcpy(&ns, packet.data() + at, sizeof ns);
      ns = std::min(ns, kMaxPollNs);
      std::memcpy(packet.data() + at, &ns, sizeof ns);
    }
  }
  // An empty packet reads as the end of the connection on the other side.
  if (::send(fd, packet.data(), packet.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(packet.size())) return false;
  pollfd p{fd, POLLIN, 0};
  const int ready = ::poll(&p, 1, kReplyWait);
  if (ready == 0) std::fprintf(stderr, "fuzz_ipc_wire: no answer to op %d within %d ms\n", packet[0], kReplyWait);
  FUZZ_CHECK(ready == 1);
  std::string reply;
  const ssize_t n = ipc::recv_packet(fd, reply);
  if (n <= 0) return false;  // closed (or reset): a clean close
  ipc::Reader r(reply);
  const conduit::Status s = r.status();
  FUZZ_CHECK(r.ok());
  FUZZ_CHECK(s.ok() || !s.message().empty());
  if (!fits) FUZZ_CHECK(!s.ok());
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Owner owner;
  conduit::fuzz::ByteReader in(data, size);
  const int fd = owner.connect();
  for (std::size_t k = 0; k < kMaxPackets && in.left() != 0; ++k) {
    const auto len = in.take<std::uint16_t>();
    if (!exchange(fd, std::string(in.bytes(len)))) break;
  }
  ::close(fd);
  owner.still_works();
  return 0;
}
