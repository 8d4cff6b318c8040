// Packets that carry a descriptor (engine/ipc_wire.h): the claim block's
// and the shared indexes' memfds go to attached publishers this way, and a
// shared memory-only topic's segments (index and memory) to attached readers.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/ipc_wire.h"

namespace conduit::detail::ipc {
namespace {

// Room for the control message of up to kMaxFds descriptors, aligned for it.
struct FdRoom {
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))] = {};
};

msghdr message_of(iovec* iov, FdRoom* room, std::size_t n) {
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 1;
  msg.msg_control = room->control;
  msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
  return msg;
}

}  // namespace

bool send_packet_fd(int fd, const std::string& bytes, int pass) noexcept {
  return send_packet_fds(fd, bytes, std::span<const int>(&pass, 1));
}

bool send_packet_fds(int fd, const std::string& bytes, std::span<const int> pass) noexcept {
  std::size_t n = 0;
  while (n < pass.size() && n < kMaxFds && pass[n] >= 0) ++n;
  if (n == 0) return send_packet(fd, bytes);
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  FdRoom room;
  msghdr msg = message_of(&iov, &room, n);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(n * sizeof(int));
  std::memcpy(CMSG_DATA(c), pass.data(), n * sizeof(int));
  for (;;) {
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(bytes.size())) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

ssize_t recv_packet_fd(int fd, std::string& buf, int* got) noexcept {
  return recv_packet_fds(fd, buf, got != nullptr ? std::span<int>(got, 1) : std::span<int>());
}

ssize_t recv_packet_fds(int fd, std::string& buf, std::span<int> got) noexcept {
  for (int& g : got) g = -1;
  iovec iov{receive_room(), kMaxPacket};
  FdRoom room;
  msghdr msg = message_of(&iov, &room, kMaxFds);
  ssize_t n;
  do { n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
  buf.assign(static_cast<const char*>(iov.iov_base), n > 0 ? static_cast<std::size_t>(n) : 0);
  std::size_t taken = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(sizeof(int))) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t k = 0; k < count; ++k) {
      int passed = -1;
      std::memcpy(&passed, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
      if (taken < got.size())
        got[taken++] = passed;
      else
        ::close(passed);
    }
  }
  return n;
}

}  // namespace conduit::detail::ipc
