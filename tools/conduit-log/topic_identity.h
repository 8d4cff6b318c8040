// Which incarnation of a topic conduit-log is reading.
//
// Engine::delete_topic renames the topic's directory away and removes it,
// and create_topic then makes a new directory under the same name. A reader
// keeps the old segments mapped, so without a look at the path it waits on
// the old log forever, or fails listing a directory that is gone, or (once
// the new topic has as many records) reads the new topic's segments as if
// they continued the old one. Holding the directory open keeps its inode
// from being freed, so its number cannot be reused: a directory at the path
// with another (device, inode) is another topic.
#pragma once

#include <sys/types.h>

#include <string>

namespace conduit_log {

class TopicIdentity {
 public:
  enum class Now { kSame, kGone, kReplaced };

  TopicIdentity() = default;
  TopicIdentity(const TopicIdentity&) = delete;
  TopicIdentity& operator=(const TopicIdentity&) = delete;
  ~TopicIdentity();

  // Holds `topic_dir` open from now on (letting go of any earlier one).
  // False with *error when it is not there.
  bool pin(const std::string& topic_dir, std::string* error);
  // What is at the path now: the pinned directory, nothing, or another one.
  // A failure other than "not there" reads as kSame: the reads that follow
  // report it.
  Now check() const;

 private:
  std::string path_;
  int fd_ = -1;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace conduit_log
