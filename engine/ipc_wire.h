// The messages between an owning engine and an attached process, over
// DATA_DIR/control.sock (doc/ipc.md, "Attach and work groups across
// processes"). The socket is SOCK_SEQPACKET: one message is one packet, so
// no framing; both ends run on one host, so numbers go in host order.
//
// Every exchange is a request and its one reply, in turn, on one
// connection. An enum goes as a u8; one that is none of its values makes
// the packet malformed, as a short one is (Reader::get_enum). A request starts with its Op; a reply with a status
// (code, text), then what the op returns.
//
//   kHello     u32 magic, u32 version, u32 pid         -> status
//   kOpenGroup str topic, str group, WorkGroupOptions   -> status
//   kConsumer  str topic, str group, WorkGroupOptions,
//              str consumer name, u8 wait strategy       -> status
//   kPoll      u32 max, i64 timeout ns (< 0: try_poll)   -> status, u64 lost, u64 rewound,
//                                                           u8 closed, u32 n, n x WireDelivery
//   kAck       u32 n (<= kMaxBatch), n x (u64 seq, u64 lease) -> status, u32 acked
//   kFail      u8 FailKind, u64 seq, u64 lease,
//              i64 delay ns, str error                   -> status, u8 done
//   kPollAck   kAck's request, then kPoll's              -> status, u32 acked, then kPoll's
//              (AttachedConsumer::ack_later: the acks are applied first, as
//              a kAck would, then the poll; one round trip for both)
//
// Publishing from the attached process (doc/ipc.md; a reply marked +fd
// carries a descriptor, SCM_RIGHTS, when its status is OK):
//   kPubOpen    str topic                               -> status, PubTopicInfo, u8 memory-only
//                                                          [, u8 flags kPub...], +fd the claim block
//   kPubSegment str topic, u64 first seq                -> status, u64 capacity, +fd its shared index
//                                                          (memory-only: +fd its memory too)
//   kPubRoll    str topic, u32 slot, u64 tail before
//               [, i64 wait ns]                         -> status (wait: how long a roll that meets a
//                                                          full ring may wait for room; < 0 not at all,
//                                                          kBusy; else at most that, then kTimedOut;
//                                                          left off: as long as it takes)
//   kPubZero    str topic, u64 first seq, u64 end       -> status (the bytes below `end` are zeroed)
//   kPubDurable str topic, u64 seq [, i64 wait ns]      -> status (once `seq` is durable; wait: at most
//                                                          that long (< 0: as 0), then kTimedOut; left
//                                                          off: as long as it takes)
//   kPubClaims  str topic                               -> status, +fd this connection's claim slots
//
// A field in [brackets] may be left off (as an older build sends it); a
// field added at the end of a reply is read only where it is there. Such
// additions keep the version.
//
// Attached subscribers and stats (engine/ipc_read_requests.h):
//   kSubscribe str topic, str name, u8 start kind,
//              u64 start seq, i64 start ns
//              [, u8 SlowPolicy]                         -> status, u64 start, u64 rewound, u8 memory-only
//                                                           [, u8 kSubscribe flags]
//                                                           (memory-only: +fd the claim block, +fd the reader slot;
//                                                           persisted, with kSubscribeReaderSlot: +fd the reader slot)
//   kShmSegment u64 seq (memory-only topics)            -> status, u64 first seq, u64 lost, u64 capacity
//                                                           (+fd its shared index, +fd its memory; first seq
//                                                           kNoSegment and no fds: none holds seq yet;
//                                                           status kClosed: the engine was closed and
//                                                           seq is where its claims stopped)
//   kCommit    u64 seq (the subscriber's position, at most
//              the topic's published end)                -> status
//   kGroupStats str topic, str group                     -> status, WorkGroupStats (put_stats)
//   kTopicStats str topic                                -> status, TopicStats (put_stats)
//
// Request-reply (conduit/request_reply.h, Requester::open(AttachedEngine&)):
//   kReplyTopic str topic, u8 Durability                 -> status (the owner has the
//                                                           topic: found, or created with
//                                                           reply_topic_options)
//
// Thread safety: plain functions and values.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "conduit/options.h"
#include "conduit/status.h"

namespace conduit::detail::ipc {

inline constexpr std::uint32_t kMagic = 0x43504943;  // "CIPC"
// Bumped whenever a message changes; both ends must speak the same one.
inline constexpr std::uint32_t kVersion = 3;  // 3: kPollAck, kReplyTopic
// The most deliveries one poll returns (and acks one message carries): a
// reply stays well under a socket buffer.
inline constexpr std::uint32_t kMaxBatch = 1024;
// The largest packet either end sends: a full poll reply, or a request
// with a topic, group and error text of their largest.
inline constexpr std::size_t kMaxPacket = 256u << 10;

enum class Op : std::uint8_t {
  kHello = 1,
  kOpenGroup,
  kConsumer,
  kPoll,
  kAck,
  kFail,
  kPollAck,
  kPubOpen = 32,  // publishing ops from 32 on
  kPubSegment,
  kPubRoll,
  kPubZero,
  kPubDurable,
  kPubClaims = 40,  // engine/pub_claims.h
  // Attached subscribers and stats: numbered apart from the rest.
  kSubscribe = 64,
  kCommit,
  kGroupStats,
  kTopicStats,
  kReplyTopic = 96,
  // A shared memory-only topic's attached subscriber (engine/ipc_shm_subscription.h).
  kShmSegment = 80,
};
// kShmSegment's first seq when no segment holds the sequence yet.
inline constexpr std::uint64_t kNoSegment = ~std::uint64_t{0};
enum class FailKind : std::uint8_t { kNack, kNackDelay, kFail, kDeadLetter };

// One delivery as the owner hands it out: the record is found in the
// segment file named by its first sequence, at `offset`.
struct WireDelivery {
  std::uint64_t sequence = 0;
  std::uint64_t lease = 0;
  std::uint64_t segment_first = 0;
  std::uint32_t attempt = 0;
  std::uint32_t offset = 0;
};

class Writer {
 public:
  explicit Writer(Op op) { put(static_cast<std::uint8_t>(op)); }
  Writer() = default;
  template <class T>
  Writer& put(T v) {
    const char* p = reinterpret_cast<const char*>(&v);
    buf_.append(p, sizeof v);
    return *this;
  }
  Writer& str(std::string_view s) {
    put(static_cast<std::uint32_t>(s.size()));
    buf_.append(s);
    return *this;
  }
  Writer& status(const Status& s) {
    put(static_cast<std::uint8_t>(s.code()));
    return str(s.message());
  }
  const std::string& bytes() const noexcept { return buf_; }

 private:
  std::string buf_;
};

// A status of `code` (one read from a packet) with `text`.
Status make_status(Code code, std::string text);

// Reads a packet; every get fails (ok() false) once the packet is short.
class Reader {
 public:
  explicit Reader(std::string_view packet) : p_(packet) {}
  template <class T>
  T get() {
    T v{};
    if (p_.size() - pos_ < sizeof v) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, p_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  // An enum sent as a u8: a value above `last` (none of its values) fails
  // the packet as a short one does.
  template <class E>
  E get_enum(E last) {
    const auto v = get<std::uint8_t>();
    if (v > static_cast<std::uint8_t>(last)) {
      ok_ = false;
      return E{};
    }
    return static_cast<E>(v);
  }
  std::string str() {
    const auto n = get<std::uint32_t>();
    if (!ok_ || p_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    std::string s(p_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  Status status() {
    const auto code = get<std::uint8_t>();
    std::string text = str();
    return make_status(static_cast<Code>(code), std::move(text));
  }
  bool ok() const noexcept { return ok_; }
  // Nothing more in the packet (an optional field left off).
  bool at_end() const noexcept { return pos_ >= p_.size(); }

 private:
  std::string_view p_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

void put_options(Writer& w, const WorkGroupOptions& o);
WorkGroupOptions get_options(Reader& r);

// One packet out (MSG_NOSIGNAL: a peer gone is an error, not SIGPIPE).
// false: the peer is gone or the socket failed (errno says).
bool send_packet(int fd, const std::string& bytes) noexcept;
// One packet in, into `buf`. 0: the peer closed; < 0: an error (errno).
ssize_t recv_packet(int fd, std::string& buf) noexcept;
// This thread's kMaxPacket bytes to receive a packet into before it is
// copied out at its length (allocated on first use, freed with the thread).
char* receive_room() noexcept;

// DATA_DIR/control.sock as a sockaddr_un path. A path too long for
// sun_path goes through /proc/self/fd of an O_PATH descriptor of the
// directory (`dir_fd`, which the caller closes after bind or connect; -1
// when the path fits).
Status socket_path(const std::string& data_dir, std::string* path, int* dir_fd);

// kPubOpen's last byte, a set of flags: the owner honours kPubRoll's wait
// (an older owner sends no such byte, and would ignore it: an attached
// bounded publish into a ring is then refused, not left to wait).
inline constexpr std::uint8_t kPubBoundedRolls = 1;
// The same byte: the owner honours kPubDurable's wait (an older one would
// wait as long as it takes: AttachedTopic::await_durable with a timeout is
// refused then).
inline constexpr std::uint8_t kPubBoundedDurable = 2;
// The same byte: the owner ends claims an attached process holds open
// (AttachedClaim; engine/pub_claims.h's kPubHeld) when that process dies
// or the topic closes. An older one would leave them as holes:
// AttachedTopic::claim is refused then.
inline constexpr std::uint8_t kPubHeldClaims = 4;

// kSubscribe's reply's last byte, a set of flags: a reader slot
// (engine/reader_slot.h) came with it, where the subscriber stores its
// position for the owner's Topic::readers(). A memory-only topic's always
// comes (its second descriptor); a persisted topic's comes only from an
// owner that sets this flag (its one descriptor): an older owner sends no
// such byte and no slot, and its attached subscribers store nothing; an
// older attached process closes a descriptor it did not ask for.
inline constexpr std::uint8_t kSubscribeReaderSlot = 1;

// What an attached publisher needs to know of a topic (kPubOpen).
struct PubTopicInfo {
  std::uint64_t segment_bytes = 0;
  std::uint64_t max_payload_bytes = 0;
  std::uint8_t crc = 0;   // records carry a CRC32C
  std::uint8_t sync = 0;  // kSync: a publish returns once durable
};

// send_packet and recv_packet with one descriptor passed along (SCM_RIGHTS):
// `pass` < 0 sends none; `*got` is -1 when none came (`got` null: any that
// came is closed).
bool send_packet_fd(int fd, const std::string& bytes, int pass) noexcept;
ssize_t recv_packet_fd(int fd, std::string& buf, int* got) noexcept;
// The same with up to kMaxFds descriptors: those of `pass` before the first
// negative one; `got` gets them in order (-1 for each that did not come;
// any beyond its size are closed).
inline constexpr std::size_t kMaxFds = 2;
bool send_packet_fds(int fd, const std::string& bytes, std::span<const int> pass) noexcept;
ssize_t recv_packet_fds(int fd, std::string& buf, std::span<int> got) noexcept;

}  // namespace conduit::detail::ipc
