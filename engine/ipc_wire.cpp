#include "engine/ipc_wire.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "common/disk_names.h"

namespace conduit::detail::ipc {

Status make_status(Code code, std::string text) {
  switch (code) {
    case Code::kOk: return Status::OK();
    case Code::kInvalidArgument: return Status::InvalidArgument(std::move(text));
    case Code::kTooLarge: return Status::TooLarge(std::move(text));
    case Code::kClosed: return Status::Closed(std::move(text));
    case Code::kNotFound: return Status::NotFound(std::move(text));
    case Code::kAlreadyExists: return Status::AlreadyExists(std::move(text));
    case Code::kCorruption: return Status::Corruption(std::move(text));
    case Code::kIOError: return Status::IOError(std::move(text));
    case Code::kBusy: return Status::Busy(std::move(text));
    case Code::kTimedOut: return Status::TimedOut(std::move(text));
    case Code::kUnsupported: return Status::Unsupported(std::move(text));
    case Code::kReadOnly: return Status::ReadOnly(std::move(text));
  }
  return Status::InvalidArgument("unknown status code " + std::to_string(static_cast<int>(code)) + ": " + text);
}

void put_options(Writer& w, const WorkGroupOptions& o) {
  w.put(static_cast<std::uint8_t>(o.start.kind)).put(o.start.sequence).put(o.start.time_ns);
  w.put(o.max_in_flight).put(o.ack_timeout.count()).put(o.max_attempts);
  w.put(o.backoff_base.count()).put(o.backoff_max.count()).put(o.backoff_jitter);
  w.str(o.dead_letter_topic).put(static_cast<std::uint8_t>(o.on_failure));
}

WorkGroupOptions get_options(Reader& r) {
  WorkGroupOptions o;
  o.start.kind = r.get_enum(StartAt::Kind::kTime);
  o.start.sequence = r.get<std::uint64_t>();
  o.start.time_ns = r.get<std::int64_t>();
  o.max_in_flight = r.get<std::uint32_t>();
  o.ack_timeout = std::chrono::nanoseconds(r.get<std::int64_t>());
  o.max_attempts = r.get<std::uint32_t>();
  o.backoff_base = std::chrono::nanoseconds(r.get<std::int64_t>());
  o.backoff_max = std::chrono::nanoseconds(r.get<std::int64_t>());
  o.backoff_jitter = r.get<double>();
  o.dead_letter_topic = r.str();
  o.on_failure = r.get_enum(WorkGroupOptions::OnFailure::kDeadLetter);
  return o;
}

bool send_packet(int fd, const std::string& bytes) noexcept {
  for (;;) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(bytes.size())) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

char* receive_room() noexcept {
  // Not a std::string resized to kMaxPacket per packet: that zero-filled
  // 256 KiB on every receive (a tenth of a round trip's time, both ends;
  // bench/results/2026-12-07-ipc-work-group-speed.md). new char[] leaves it
  // unwritten, so only the pages a packet lands in are ever touched.
  thread_local const std::unique_ptr<char[]> room(new char[kMaxPacket]);
  return room.get();
}

ssize_t recv_packet(int fd, std::string& buf) noexcept {
  char* room = receive_room();
  for (;;) {
    const ssize_t n = ::recv(fd, room, kMaxPacket, 0);
    if (n < 0 && errno == EINTR) continue;
    buf.assign(room, n > 0 ? static_cast<std::size_t>(n) : 0);
    return n;
  }
}

Status socket_path(const std::string& data_dir, std::string* path, int* dir_fd) {
  *dir_fd = -1;
  *path = data_dir + "/" + disk::kControlSocketName;
  if (path->size() < sizeof(sockaddr_un::sun_path)) return Status::OK();
  *dir_fd = ::open(data_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (*dir_fd < 0) return Status::IOError("open " + data_dir + ": " + std::strerror(errno));
  *path = "/proc/self/fd/" + std::to_string(*dir_fd) + "/" + disk::kControlSocketName;
  return Status::OK();
}

}  // namespace conduit::detail::ipc
