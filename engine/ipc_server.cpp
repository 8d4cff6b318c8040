#include "engine/ipc_server.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/wait.h"
#include "conduit/engine.h"
#include "conduit/request_reply.h"
#include "engine/ipc_read_requests.h"
#include "engine/ipc_publish.h"
#include "engine/ipc_wire.h"
#include "engine/topic_core.h"

namespace conduit::detail {
namespace {

// The peer closed its end or the socket failed: its process is gone.
bool peer_gone(int fd) noexcept {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

// One connection's requests: its work group and consumer.
class Session {
 public:
  Session(int fd, const std::string& dir, const IpcServer::FindTopic& find, const IpcServer::MakeTopic& make,
          const std::atomic<bool>& stopping, int peer_pid)
      : fd_(fd), dir_(dir), find_(find), make_(make), stopping_(stopping), reads_(find) {
    pub_.peer_pid = peer_pid;
  }
  // Answers one request; false ends the connection.
  bool answer(std::string_view packet);
  // The peer closed its end: what its publishers left mid-claim is ended.
  void publishers_gone() noexcept { pub_.peer_gone(stopping_); }

 private:
  bool reply(const ipc::Writer& w) { return ipc::send_packet(fd_, w.bytes()); }
  bool refuse(const Status& s) {
    ipc::Writer w;
    w.status(s);
    return reply(w);
  }
  // A request that ends the connection: said, then closed.
  bool end_with(const Status& s) {
    (void)refuse(s);
    return false;
  }
  bool hello(ipc::Reader& r);
  // The group named in a request: its topic, name and options.
  struct GroupRequest {
    std::string topic;
    std::string group;
    WorkGroupOptions options;
  };
  static GroupRequest read_group(ipc::Reader& r);
  // The group, opened (or created with its options). Only once the whole
  // request was read: a malformed one creates nothing.
  Result<WorkGroup*> open_group(const GroupRequest& g);
  bool new_consumer(ipc::Reader& r);
  // kPoll; or kPollAck (`with_acks`), whose acks are applied before the
  // poll waits and counted first in the reply.
  bool poll(ipc::Reader& r, bool with_acks);
  // Consumer::poll in slices of kPollSlice, looking between them whether
  // the peer is gone. false: it is (or the server stops).
  bool wait(std::span<Delivery> out, std::int64_t timeout_ns, PollResult* result);
  // Where `d`'s record lies: its segment's first sequence and the offset.
  bool locate(const Delivery& d, ipc::WireDelivery* w);
  // The acks of a kAck or kPollAck. false: more than kMaxBatch, refused
  // (the connection ends).
  bool read_acks(ipc::Reader& r, std::vector<Delivery>* ds);
  bool ack(ipc::Reader& r);
  bool fail(ipc::Reader& r);
  bool reply_topic(ipc::Reader& r);

  int fd_;
  const std::string& dir_;
  const IpcServer::FindTopic& find_;
  const IpcServer::MakeTopic& make_;
  const std::atomic<bool>& stopping_;
  bool greeted_ = false;
  TopicCore* topic_ = nullptr;
  std::unique_ptr<Consumer> consumer_;
  std::shared_ptr<Segment> seg_;  // the segment of the last delivery located
  ReadRequests reads_;            // an attached subscriber's, and stats
  PubSession pub_;                // its publishers' claim slots
};

bool Session::answer(std::string_view packet) {
  ipc::Reader r(packet);
  const auto op = static_cast<ipc::Op>(r.get<std::uint8_t>());
  if (!greeted_ && op != ipc::Op::kHello) return end_with(Status::InvalidArgument("say hello first"));
  switch (op) {
    case ipc::Op::kHello: return hello(r);
    case ipc::Op::kOpenGroup: {
      const GroupRequest req = read_group(r);
      if (!r.ok()) return refuse(Status::InvalidArgument("a malformed work-group request"));
      auto g = open_group(req);
      return g.ok() ? refuse(Status::OK()) : refuse(g.status());
    }
    case ipc::Op::kConsumer: return new_consumer(r);
    case ipc::Op::kPoll: return poll(r, false);
    case ipc::Op::kPollAck: return poll(r, true);
    case ipc::Op::kAck: return ack(r);
    case ipc::Op::kFail: return fail(r);
    case ipc::Op::kSubscribe:
    case ipc::Op::kCommit:
    case ipc::Op::kGroupStats:
    case ipc::Op::kTopicStats:
    case ipc::Op::kShmSegment: {
      ipc::Writer w;
      int pass[ipc::kMaxFds] = {-1, -1};
      const bool go_on = reads_.answer(op, r, &w, pass);
      return ipc::send_packet_fds(fd_, w.bytes(), pass) && go_on;
    }
    case ipc::Op::kPubOpen:
    case ipc::Op::kPubSegment:
    case ipc::Op::kPubRoll:
    case ipc::Op::kPubZero:
    case ipc::Op::kPubDurable:
    case ipc::Op::kPubClaims:
      return answer_publish(op, r, fd_, find_, stopping_, pub_);  // engine/ipc_publish_server.cpp
    case ipc::Op::kReplyTopic: return reply_topic(r);
  }
  return end_with(Status::InvalidArgument("unknown request " + std::to_string(static_cast<int>(op))));
}

bool Session::hello(ipc::Reader& r) {
  const auto magic = r.get<std::uint32_t>();
  const auto version = r.get<std::uint32_t>();
  if (!r.ok() || magic != ipc::kMagic)
    return end_with(Status::InvalidArgument("not a conduit client (no hello) on " + dir_ + "/control.sock"));
  if (version != ipc::kVersion)
    return end_with(Status::Unsupported("protocol version " + std::to_string(version) + " refused: the owner of " +
                                        dir_ + " speaks version " + std::to_string(ipc::kVersion)));
  greeted_ = true;
  return refuse(Status::OK());
}

Session::GroupRequest Session::read_group(ipc::Reader& r) {
  GroupRequest g;
  g.topic = r.str();
  g.group = r.str();
  g.options = ipc::get_options(r);
  return g;
}

Result<WorkGroup*> Session::open_group(const GroupRequest& g) {
  const std::string& topic = g.topic;
  auto core = find_(topic);
  if (!core.ok()) return core.status();
  if ((*core)->options().durability == Durability::kMemory)
    return Status::Unsupported("topic '" + topic + "' is memory-only: its records cannot be read from another process");
  topic_ = *core;
  return topic_->handle()->work_group(g.group, g.options);
}

bool Session::new_consumer(ipc::Reader& r) {
  if (consumer_) return end_with(Status::InvalidArgument("one consumer per connection"));
  const GroupRequest req = read_group(r);
  ConsumerOptions o;
  o.name = r.str();
  o.wait = r.get_enum(WaitStrategy::kAdaptive);
  if (!r.ok()) return end_with(Status::InvalidArgument("a malformed consumer request"));
  auto group = open_group(req);
  if (!group.ok()) return refuse(group.status());
  auto c = (*group)->consumer(std::move(o));
  if (!c.ok()) return refuse(c.status());
  consumer_ = std::move(c).value();
  return refuse(Status::OK());
}

bool Session::wait(std::span<Delivery> out, std::int64_t timeout_ns, PollResult* result) {
  if (timeout_ns < 0) {
    *result = consumer_->try_poll(out);
    return true;
  }
  const auto deadline = deadline_after(std::chrono::nanoseconds(timeout_ns));  // a peer's year or more: never
  for (;;) {
    const auto left = deadline - std::chrono::steady_clock::now();
    PollResult& p = *result;
    p = consumer_->poll(
        out, std::max<std::chrono::nanoseconds>(std::min<std::chrono::nanoseconds>(left, IpcServer::kPollSlice), {}));
    if (p.count != 0 || p.lost != 0 || p.rewound != 0 || p.closed || !p.status.ok() || left <= left.zero()) return true;
    // Relaxed: a flag; the destructor then shuts the socket down too.
    if (peer_gone(fd_) || stopping_.load(std::memory_order_relaxed)) return false;
  }
}

bool Session::locate(const Delivery& d, ipc::WireDelivery* w) {
  const std::byte* p = d.record.data();
  if (!seg_ || p < seg_->base() || p >= seg_->base() + seg_->capacity()) {
    std::uint64_t lost = 0;
    seg_ = topic_->segment_for(d.sequence, &lost);
    if (!seg_ || lost != 0 || p < seg_->base() || p >= seg_->base() + seg_->capacity()) return false;
  }
  *w = {.sequence = d.sequence,
        .lease = d.lease,
        .segment_first = seg_->first_seq(),
        .attempt = d.attempt,
        .offset = static_cast<std::uint32_t>(p - seg_->base())};
  return true;
}

bool Session::poll(ipc::Reader& r, bool with_acks) {
  std::vector<Delivery> acks;
  if (with_acks && !read_acks(r, &acks)) return false;
  const auto max = std::min(r.get<std::uint32_t>(), ipc::kMaxBatch);
  const auto timeout_ns = r.get<std::int64_t>();
  if (!r.ok() || !consumer_) return end_with(Status::InvalidArgument("a poll without a consumer"));
  // Before the wait: acks are never held back by a poll that finds nothing.
  // Applied once whatever follows; a peer gone during the wait does not
  // undo them (an ack whose reply was lost, as with kAck).
  const std::size_t acked = with_acks ? consumer_->ack(acks) : 0;
  std::vector<Delivery> ds(max);
  PollResult p;
  if (!wait(ds, timeout_ns, &p)) return false;
  std::vector<ipc::WireDelivery> ws;
  ws.reserve(p.count);
  for (std::size_t k = 0; k < p.count; ++k) {
    ipc::WireDelivery w;
    // A record outside the segment the topic has for it cannot be named to
    // another process: it goes back to the group rather than be lost.
    if (locate(ds[k], &w))
      ws.push_back(w);
    else
      (void)consumer_->nack(ds[k], std::chrono::nanoseconds(0));
  }
  ipc::Writer w;
  w.status(p.status);
  if (with_acks) w.put(static_cast<std::uint32_t>(acked));
  w.put(p.lost).put(p.rewound).put(static_cast<std::uint8_t>(p.closed));
  w.put(static_cast<std::uint32_t>(ws.size()));
  for (const auto& d : ws) w.put(d);
  return reply(w);
}

bool Session::read_acks(ipc::Reader& r, std::vector<Delivery>* ds) {
  // More than the client ever sends in one: refused, not cut to kMaxBatch
  // (the rest would go unacked with an OK).
  const auto n = r.get<std::uint32_t>();
  if (n > ipc::kMaxBatch)
    return end_with(Status::InvalidArgument("an ack of " + std::to_string(n) + " deliveries: at most " +
                                            std::to_string(ipc::kMaxBatch) + " a message"));
  ds->resize(n);
  for (Delivery& d : *ds) {
    d.sequence = r.get<std::uint64_t>();
    d.lease = r.get<std::uint64_t>();
  }
  return true;
}

bool Session::ack(ipc::Reader& r) {
  std::vector<Delivery> ds;
  if (!read_acks(r, &ds)) return false;
  if (!r.ok() || !consumer_) return end_with(Status::InvalidArgument("a malformed ack"));
  ipc::Writer w;
  w.status(Status::OK()).put(static_cast<std::uint32_t>(consumer_->ack(ds)));
  return reply(w);
}

bool Session::fail(ipc::Reader& r) {
  const auto kind = r.get_enum(ipc::FailKind::kDeadLetter);
  Delivery d;
  d.sequence = r.get<std::uint64_t>();
  d.lease = r.get<std::uint64_t>();
  const auto delay = std::chrono::nanoseconds(r.get<std::int64_t>());
  const std::string error = r.str();
  if (!r.ok() || !consumer_) return end_with(Status::InvalidArgument("a malformed nack"));
  bool done = false;
  switch (kind) {
    case ipc::FailKind::kNack: done = consumer_->nack(d); break;
    case ipc::FailKind::kNackDelay: done = consumer_->nack(d, delay); break;
    case ipc::FailKind::kFail: done = consumer_->fail(d, error); break;
    case ipc::FailKind::kDeadLetter: done = consumer_->dead_letter(d, error); break;
  }
  ipc::Writer w;
  w.status(Status::OK()).put(static_cast<std::uint8_t>(done));
  return reply(w);
}

bool Session::reply_topic(ipc::Reader& r) {
  const std::string name = r.str();
  const auto durability = r.get_enum(Durability::kSync);
  if (!r.ok()) return end_with(Status::InvalidArgument("a malformed reply-topic request"));
  auto core = find_(name);
  if (!core.ok() && core.status().code() == Code::kNotFound) {
    TopicOptions o = reply_topic_options(durability);
    // Memory-only: shared, so that the attached requester maps it.
    o.shared = durability == Durability::kMemory;
    core = make_(name, o);
  }
  if (!core.ok()) return refuse(core.status());
  const TopicOptions& have = (*core)->options();
  if (have.durability == Durability::kMemory && !have.shared)
    return refuse(Status::Unsupported("reply topic '" + name +
                                      "' is memory-only and not shared: its records cannot be read from another "
                                      "process (TopicOptions::shared)"));
  return refuse(Status::OK());
}

}  // namespace

Result<std::unique_ptr<IpcServer>> IpcServer::start(const std::string& data_dir, FindTopic find, MakeTopic make,
                                                    ThreadStartHook on_thread_start) {
  std::string path;
  int dir_fd = -1;
  if (Status s = ipc::socket_path(data_dir, &path, &dir_fd); !s.ok()) return s;
  const std::string shown = data_dir + "/control.sock";
  auto failed = [&](const std::string& what, int err, int fd) -> Status {
    if (fd >= 0) ::close(fd);
    if (dir_fd >= 0) ::close(dir_fd);
    return Status::IOError(what + " " + shown + ": " + std::strerror(err));
  };
  // A socket left by an owner that died: this engine holds the lock now.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return failed("unlink", errno, -1);
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return failed("socket for", errno, -1);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return failed("bind", errno, fd);
  // The directory is 0700 already; the socket is the owner's alone too.
  if (::chmod(path.c_str(), 0600) != 0) return failed("chmod", errno, fd);
  if (::listen(fd, 64) != 0) return failed("listen on", errno, fd);
  const int wake = ::eventfd(0, EFD_CLOEXEC);
  if (wake < 0) return failed("eventfd for", errno, fd);
  if (dir_fd >= 0) ::close(dir_fd);
  // Bound through /proc/self/fd: unlinked later by its real name.
  std::unique_ptr<IpcServer> server(new IpcServer(data_dir, shown, std::move(find), std::move(make), fd, wake));
  server->on_thread_start_ = std::move(on_thread_start);
  server->acceptor_ =
      start_named_thread("conduit-ipc", server->on_thread_start_, [s = server.get()] { s->accept_loop(); });
  return server;
}

IpcServer::~IpcServer() {
  // Relaxed: the eventfd write wakes the acceptor, which then reads it.
  stopping_.store(true, std::memory_order_relaxed);
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  acceptor_.join();
  {
    std::lock_guard lk(mu_);
    // Wakes each connection's thread out of its recv (or its next slice).
    for (auto& c : conns_) ::shutdown(c->fd, SHUT_RDWR);
  }
  for (auto& c : conns_) {
    c->thread.join();
    ::close(c->fd);
  }
  conns_.clear();
  ::unlink(path_.c_str());
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void IpcServer::reap_locked() {
  for (auto it = conns_.begin(); it != conns_.end();) {
    // Acquire pairs with the release store at the end of serve().
    if ((*it)->done.load(std::memory_order_acquire)) {
      (*it)->thread.join();
      ::close((*it)->fd);
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

void IpcServer::accept_loop() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  // Relaxed: see the destructor.
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if ((fds[1].revents & POLLIN) != 0) break;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the listener stays readable, so wait a little
      // rather than spin. Otherwise the client gave up meanwhile.
      if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    std::lock_guard lk(mu_);
    reap_locked();
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    Connection* raw = c.get();
    c->thread = start_named_thread("conduit-ipc-c", on_thread_start_, [this, raw] { serve(raw); });
    conns_.push_back(std::move(c));
  }
}

void IpcServer::serve(Connection* c) {
  std::string packet;
  ucred peer{};
  socklen_t len = sizeof peer;
  const bool same_user = ::getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && peer.uid == ::geteuid();
  {
    Session session(c->fd, dir_, find_, make_, stopping_, same_user ? static_cast<int>(peer.pid) : 0);
    if (!same_user) {
      // Its hello first, so that the refusal is what it reads back.
      (void)ipc::recv_packet(c->fd, packet);
      ipc::Writer w;
      w.status(Status::IOError("the engine that owns " + dir_ + " runs as uid " + std::to_string(::geteuid()) +
                               "; a process of uid " + std::to_string(peer.uid) + " (pid " + std::to_string(peer.pid) +
                               ") may not attach"));
      (void)ipc::send_packet(c->fd, w.bytes());
    } else {
      // Relaxed: see the destructor; its shutdown() ends the recv.
      while (!stopping_.load(std::memory_order_relaxed) && ipc::recv_packet(c->fd, packet) > 0)
        if (!session.answer(packet)) break;
      // Only a peer that closed its end: one this side ended (a bad
      // request) may still be writing its records. Relaxed: as above.
      if (!stopping_.load(std::memory_order_relaxed) && peer_gone(c->fd)) session.publishers_gone();
    }
    // The session's consumer goes here: its deliveries go back to the group.
  }
  {
    std::lock_guard lk(mu_);  // not while the destructor walks the list
    ::shutdown(c->fd, SHUT_RDWR);
  }
  // Release pairs with the acquire in reap_locked(); the fd is closed by
  // whoever joins (the destructor may still shut it down before that).
  c->done.store(true, std::memory_order_release);
}

}  // namespace conduit::detail
