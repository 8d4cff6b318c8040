#include "topic_identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace conduit_log {

TopicIdentity::~TopicIdentity() {
  if (fd_ >= 0) ::close(fd_);
}

bool TopicIdentity::pin(const std::string& topic_dir, std::string* error) {
  const int fd = ::open(topic_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    *error = topic_dir + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  if (fd_ >= 0) ::close(fd_);
  path_ = topic_dir;
  fd_ = fd;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  return true;
}

TopicIdentity::Now TopicIdentity::check() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return errno == ENOENT || errno == ENOTDIR ? Now::kGone : Now::kSame;
  return st.st_dev == dev_ && st.st_ino == ino_ ? Now::kSame : Now::kReplaced;
}

}  // namespace conduit_log
