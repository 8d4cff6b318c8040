#include "persistence/reader_positions.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string_view>

#include "common/disk_names.h"
#include "persistence/disk_io.h"
#include "persistence/segment_file.h"

namespace conduit::persistence {

namespace {
constexpr std::string_view kHoldSuffix = " hold\n";
}  // namespace

std::string reader_position_text(std::uint64_t position, bool holds) {
  return std::to_string(position) + (holds ? std::string(kHoldSuffix) : std::string("\n"));
}

Result<std::optional<ReaderPosition>> read_reader_position(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<ReaderPosition>{};
    return Status::IOError("open " + path + ": " + errno_text(errno));
  }
  char buf[40];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  ReaderPosition p{name, 0, false};
  const char* last = buf + (n > 0 ? n : 0);
  const auto [end, ec] = std::from_chars(buf, last, p.position);
  const std::string_view rest(end, static_cast<std::size_t>(last - end));
  p.holds = rest == kHoldSuffix;
  if (n <= 0 || ec != std::errc() || end == buf || (rest != "\n" && !p.holds))
    return Status::Corruption(path +
                              " offset 0: not a reader position (a decimal sequence, \" hold\" or not, and a newline)");
  return std::optional<ReaderPosition>(std::move(p));
}

Result<std::vector<std::string>> list_reader_names(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return names;
    return Status::IOError("opendir " + dir + ": " + errno_text(errno));
  }
  while (dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name.starts_with(".") || name.ends_with(disk::kTmpSuffix)) continue;
    names.emplace_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<ReaderPosition>> list_reader_positions(const std::string& dir) {
  auto names = list_reader_names(dir);
  if (!names.ok()) return names.status();
  std::vector<ReaderPosition> out;
  for (const std::string& name : *names) {
    auto p = read_reader_position(dir, name);
    if (!p.ok()) return p.status();
    if (p->has_value()) out.push_back(std::move(**p));  // gone since the listing: not there
  }
  return out;
}

Status remove_reader_position(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::NotFound("no reader named '" + name + "' in " + dir);
    return Status::IOError("unlink " + path + ": " + errno_text(errno));
  }
  return sync_dir(dir);
}

Status remove_cursor(const std::string& topic_dir, const std::string& key) {
  const std::string dir = disk::cursors_dir(topic_dir);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return Status::NotFound(dir + " has no position '" + key + "'");
    return Status::IOError("opendir " + dir + ": " + errno_text(errno));
  }
  // The position file last: a removal cut short leaves it, so it can be run again.
  std::vector<std::string> doomed;
  bool position = false;
  while (dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name == key)
      position = true;
    else if (name == disk::state_file_name(key) || name.starts_with(key + std::string(disk::kJournalInfix)))
      doomed.emplace_back(name);
  }
  ::closedir(d);
  if (!position) return Status::NotFound(dir + " has no position '" + key + "'");
  doomed.push_back(key);
  for (const std::string& name : doomed)
    if (::unlink((dir + "/" + name).c_str()) != 0 && errno != ENOENT)
      return Status::IOError("unlink " + dir + "/" + name + ": " + errno_text(errno));
  return sync_dir(dir);
}

}  // namespace conduit::persistence
