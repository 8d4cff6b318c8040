#include "persistence/torn_pieces.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "persistence/disk_io.h"

namespace conduit::persistence {

std::string TornPieces::target(const std::string& file_name) const {
  return disk::topic_file(topic_dir_, kTornDirName) + "/" + disk::torn_file_name(generation_, file_name);
}

Status TornPieces::ensure_dir() { return make_dirs(disk::topic_file(topic_dir_, kTornDirName)); }

Status TornPieces::copy_tail(const SegmentFile& seg, std::size_t offset) {
  const std::byte* base = seg.base();
  std::size_t end = seg.capacity();
  // The last non-zero byte: a torn tail is short, the zeros after it long,
  // so look from the end a word at a time.
  while (end > offset && (end - offset) >= 8 && end % 8 == 0) {
    std::uint64_t w;
    std::copy_n(base + end - 8, 8, reinterpret_cast<std::byte*>(&w));
    if (w != 0) break;
    end -= 8;
  }
  while (end > offset && base[end - 1] == std::byte{0}) --end;
  if (end <= offset) return Status::OK();  // zeros only: nothing to keep
  if (Status s = ensure_dir(); !s.ok()) return s;
  const std::string name = seg.path().substr(seg.path().find_last_of('/') + 1);
  const std::string path = target(disk::torn_tail_name(name, offset));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("create " + path + ": " + errno_text(errno));
  std::size_t done = offset;
  while (done < end) {
    const ssize_t n = ::write(fd, base + done, end - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      return Status::IOError("write " + path + ": " + errno_text(err));
    }
    done += static_cast<std::size_t>(n);
  }
  const int rc = ::fdatasync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError("fdatasync " + path + ": " + errno_text(err));
  moved_ += (moved_.empty() ? "" : ", ") + path + " (" + std::to_string(end - offset) + " bytes of " + name +
            " from offset " + std::to_string(offset) + ")";
  return Status::OK();
}

Status TornPieces::move_file(const std::string& path) {
  if (Status s = ensure_dir(); !s.ok()) return s;
  const std::string to = target(path.substr(path.find_last_of('/') + 1));
  if (::rename(path.c_str(), to.c_str()) != 0)
    return Status::IOError("rename " + path + " to " + to + ": " + errno_text(errno));
  moved_ += (moved_.empty() ? "" : ", ") + to;
  return Status::OK();
}

Status TornPieces::finish(std::uint64_t log_end) {
  if (moved_.empty()) return Status::OK();
  if (Status s = sync_dir(disk::topic_file(topic_dir_, kTornDirName)); !s.ok()) return s;
  if (Status s = sync_dir(topic_dir_); !s.ok()) return s;
  detail::log(log_, LogLevel::kWarning,
              topic_dir_ + ": the log ends at sequence " + std::to_string(log_end) +
                  "; what followed was never durable and was moved aside, not deleted: " + moved_);
  return Status::OK();
}

}  // namespace conduit::persistence
