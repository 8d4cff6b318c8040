#include "persistence/replace_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/disk_names.h"
#include "persistence/segment_file.h"

namespace conduit::persistence {

Status replace_file(DiskIo& io, const std::string& dir, const std::string& name, std::span<const std::byte> bytes) {
  if (Status s = make_dirs(dir); !s.ok()) return s;
  const std::string path = dir + "/" + name, tmp = disk::tmp_path(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("create " + tmp + ": " + errno_text(errno) + " (" + path + " is unchanged)");
  Status s = io.write_at(fd, bytes, 0, tmp);
  if (s.ok() && ::fdatasync(fd) != 0) s = Status::IOError("fdatasync " + tmp + ": " + errno_text(errno));
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    s = Status::IOError("rename " + tmp + " to " + path + ": " + errno_text(errno));
  if (!s.ok()) {
    // Only the temporary was touched: the file it was to replace is whole.
    ::unlink(tmp.c_str());
    return Status::IOError(s.message() + " (" + path + " is unchanged)");
  }
  return sync_dir(dir);
}

}  // namespace conduit::persistence
