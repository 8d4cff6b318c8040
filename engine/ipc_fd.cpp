// Packets that carry a descriptor (engine/ipc_wire.h): the claim block's
// and the shared indexes' memfds go to attached publishers this way.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/ipc_wire.h"

namespace conduit::detail::ipc {
namespace {

// Room for one descriptor's control message, aligned for it.
struct OneFd {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
};

msghdr message_of(iovec* iov, OneFd* room) {
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 1;
  msg.msg_control = room->control;
  msg.msg_controllen = sizeof room->control;
  return msg;
}

}  // namespace

bool send_packet_fd(int fd, const std::string& bytes, int pass) noexcept {
  if (pass < 0) return send_packet(fd, bytes);
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  OneFd room;
  msghdr msg = message_of(&iov, &room);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &pass, sizeof(int));
  for (;;) {
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(bytes.size())) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

ssize_t recv_packet_fd(int fd, std::string& buf, int* got) noexcept {
  if (got != nullptr) *got = -1;
  iovec iov{receive_room(), kMaxPacket};
  OneFd room;
  msghdr msg = message_of(&iov, &room);
  ssize_t n;
  do { n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
  buf.assign(static_cast<const char*>(iov.iov_base), n > 0 ? static_cast<std::size_t>(n) : 0);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(sizeof(int))) continue;
    int passed = -1;
    std::memcpy(&passed, CMSG_DATA(c), sizeof(int));
    if (got != nullptr && *got < 0)
      *got = passed;
    else
      ::close(passed);
  }
  return n;
}

}  // namespace conduit::detail::ipc
