#include "engine/ipc_connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/disk_names.h"

namespace conduit::detail {
namespace {

std::string sock_name(const std::string& dir) { return dir + "/" + disk::kControlSocketName; }

// Why connect() failed, said about the directory.
Status connect_error(const std::string& dir, int err) {
  const std::string sock = sock_name(dir);
  if (err == ENOENT) return Status::NotFound("no engine owns " + dir + " (there is no " + sock + ")");
  if (err == ECONNREFUSED)
    return Status::NotFound("no engine owns " + dir + " (nobody listens on " + sock + ": its owner is gone)");
  if (err == EACCES || err == EPERM) {
    struct stat st {};
    std::string whose;
    if (::stat(dir.c_str(), &st) == 0 && st.st_uid != ::geteuid())
      whose = dir + " belongs to another user (uid " + std::to_string(st.st_uid) + "; this process runs as uid " +
              std::to_string(::geteuid()) + "): ";
    return Status::IOError(whose + "cannot attach to " + sock + ": " + std::strerror(err));
  }
  return Status::IOError("connect " + sock + ": " + std::strerror(err));
}

}  // namespace

Result<std::unique_ptr<IpcConnection>> IpcConnection::open(const std::string& data_dir) {
  std::string path;
  int dir_fd = -1;
  if (Status s = ipc::socket_path(data_dir, &path, &dir_fd); !s.ok()) return s;
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const int err = errno;
    if (dir_fd >= 0) ::close(dir_fd);
    return Status::IOError("socket: " + std::string(std::strerror(err)));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  if (dir_fd >= 0) ::close(dir_fd);
  if (rc != 0) {
    ::close(fd);
    return connect_error(data_dir, err);
  }
  std::unique_ptr<IpcConnection> conn(new IpcConnection(data_dir, fd));
  ipc::Writer hello(ipc::Op::kHello);
  hello.put(ipc::kMagic).put(ipc::kVersion).put(static_cast<std::uint32_t>(::getpid()));
  auto reply = conn->call(hello);
  if (!reply.ok()) return reply.status();
  ipc::Reader r(*reply);
  if (Status s = r.status(); !s.ok()) return s;
  return conn;
}

IpcConnection::~IpcConnection() { ::close(fd_); }

Status IpcConnection::broken() const {
  std::lock_guard lk(broken_mu_);
  return broken_;
}

Status IpcConnection::fail(Status s) {
  std::lock_guard lk(broken_mu_);
  if (broken_.ok()) broken_ = std::move(s);
  return broken_;
}

Status IpcConnection::closed() const {
  return Status::Closed("the owner of " + dir_ + " is gone (its connection closed)");
}

bool IpcConnection::owner_gone() {
  if (!broken().ok()) return true;
  pollfd p{fd_, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0 || (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) == 0) return false;
  (void)fail(closed());
  return true;
}

Result<std::string> IpcConnection::call_fds(const ipc::Writer& request, std::span<int> fds) {
  if (Status s = send(request); !s.ok()) return s;
  return receive(fds);
}

Status IpcConnection::send(const ipc::Writer& request) {
  if (Status s = broken(); !s.ok()) return s;
  send_errno_ = ipc::send_packet(fd_, request.bytes()) ? 0 : errno;
  return Status::OK();
}

Result<std::string> IpcConnection::receive(std::span<int> fds) {
  if (Status s = broken(); !s.ok()) return s;
  const int send_err = std::exchange(send_errno_, 0);
  // A refusal may have been sent before the owner closed: read it even when
  // the send failed.
  std::string reply;
  const ssize_t n = ipc::recv_packet_fds(fd_, reply, fds);
  if (n > 0) return reply;
  const int err = n < 0 ? errno : send_err;
  if (n == 0 || err == ECONNRESET || err == EPIPE) return fail(closed());
  return fail(Status::IOError("the connection to the owner of " + dir_ + " failed: " + std::strerror(err)));
}

}  // namespace conduit::detail
