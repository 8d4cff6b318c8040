#include "common/counters.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/disk_names.h"
#include "common/little_endian.h"

namespace conduit::counters {

void RowWriter::set_text(std::size_t first_word, std::string_view text) noexcept {
  for (std::size_t w = 0; w < kTextWords; ++w) {
    char bytes[8] = {};
    for (std::size_t i = 0; i < 8; ++i) {
      const std::size_t at = w * 8 + i;
      // The last byte stays NUL: a name is at most 223 bytes here.
      if (at < text.size() && at + 1 < kTextWords * 8) bytes[i] = text[at];
    }
    std::uint64_t v;
    std::memcpy(&v, bytes, 8);
    set(first_word + w, v);
  }
}

namespace {

std::string text_of(const std::uint64_t* words) {
  char bytes[kTextWords * 8];
  std::memcpy(bytes, words, sizeof bytes);
  return std::string(bytes, strnlen(bytes, sizeof bytes));
}

}  // namespace

bool read_row(const std::uint64_t* file, std::size_t index, Row* out, int max_tries, bool* torn) {
  // Const in the mapping, but atomic_ref needs a mutable object; nothing is stored.
  auto* row = const_cast<std::uint64_t*>(file + (index + 1) * kRowWords);
  std::uint64_t copy[kRowWords];
  for (int tries = 0; tries < max_tries; ++tries) {
    // Acquire pairs with the release store of the even seq in ~RowWriter():
    // the words of that write are visible.
    const std::uint64_t before = std::atomic_ref<std::uint64_t>(row[kSeqWord]).load(std::memory_order_acquire);
    if (before & 1) {
      sched_yield();
      continue;
    }
    // Relaxed: ordered by the acquire above and the fence below.
    for (std::size_t w = 1; w < kRowWords; ++w)
      copy[w] = std::atomic_ref<std::uint64_t>(row[w]).load(std::memory_order_relaxed);
    // Acquire fence pairs with the release fence after the writer's odd
    // store: if any word read above came from a write that started after
    // `before`, the load below sees that write's seq (or a later one).
    std::atomic_thread_fence(std::memory_order_acquire);
    const std::uint64_t after = std::atomic_ref<std::uint64_t>(row[kSeqWord]).load(std::memory_order_relaxed);
    if (after != before) continue;
    if (torn != nullptr) *torn = false;
    out->index = index;
    out->kind = static_cast<RowKind>(copy[kKindWord]);
    if (out->kind == RowKind::kFree) return false;
    out->topic = text_of(copy + kTopicWord);
    out->name = text_of(copy + kNameWord);
    std::memcpy(out->values, copy + kValueWord, sizeof out->values);
    return true;
  }
  if (torn != nullptr) *torn = true;
  return false;
}

CountersMapping CountersMapping::create(const std::string& data_dir, std::size_t rows, std::int64_t start_ns,
                                        std::string* error) {
  const std::string path = disk::counters_path(data_dir), tmp = disk::tmp_path(path);
  CountersMapping m;
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = tmp + ": " + std::strerror(errno);
    return m;
  }
  const std::size_t bytes = (rows + 1) * kRowBytes;
  // 0600 whatever the umask left: the counters name every topic and reader.
  if (::fchmod(fd, 0600) != 0 || ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    *error = tmp + ": " + std::strerror(errno);
    ::close(fd);
    return m;
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    *error = tmp + ": mmap: " + std::strerror(errno);
    return m;
  }
  auto* h = static_cast<std::byte*>(p);
  format::store<std::uint64_t>(h + kMagicWord * 8, disk::kCountersMagic);
  format::store<std::uint64_t>(h + kVersionWord * 8, kVersion);
  format::store<std::uint64_t>(h + kRowBytesWord * 8, kRowBytes);
  format::store<std::uint64_t>(h + kRowCountWord * 8, rows);
  format::store<std::uint64_t>(h + kPidWord * 8, static_cast<std::uint64_t>(::getpid()));
  format::store<std::uint64_t>(h + kStartWord * 8, static_cast<std::uint64_t>(start_ns));
  // Not synced: the file describes a running engine and means nothing after a crash.
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = path + ": rename: " + std::strerror(errno);
    ::munmap(p, bytes);
    return m;
  }
  m.words_ = static_cast<std::uint64_t*>(p);
  m.rows_ = rows;
  return m;
}

CountersMapping::CountersMapping(CountersMapping&& o) noexcept
    : words_(std::exchange(o.words_, nullptr)), rows_(o.rows_) {}

CountersMapping& CountersMapping::operator=(CountersMapping&& o) noexcept {
  if (this != &o) {
    this->~CountersMapping();
    words_ = std::exchange(o.words_, nullptr);
    rows_ = o.rows_;
  }
  return *this;
}

CountersMapping::~CountersMapping() {
  if (words_ != nullptr) ::munmap(words_, (rows_ + 1) * kRowBytes);
}

CountersFile CountersFile::open(const std::string& data_dir, std::string* error) {
  const std::string path = disk::counters_path(data_dir);
  CountersFile f;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": " + std::strerror(errno) +
             (errno == ENOENT ? " (no engine with counters has opened this data directory)" : "");
    return f;
  }
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  const auto size = stat_ok ? static_cast<std::size_t>(st.st_size) : 0;
  if (!stat_ok || size < kRowBytes) {
    ::close(fd);
    *error =
        path + ": " + std::to_string(size) + " bytes, shorter than its " + std::to_string(kRowBytes) + "-byte header";
    return f;
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) {
    *error = path + ": mmap: " + std::strerror(errno);
    return f;
  }
  f.words_ = static_cast<const std::uint64_t*>(m);
  f.bytes_ = size;
  // The header is written before the file is renamed into place: plain loads.
  const auto* h = static_cast<const std::byte*>(m);
  const auto magic = format::load<std::uint64_t>(h + kMagicWord * 8);
  const auto version = format::load<std::uint64_t>(h + kVersionWord * 8);
  const auto row_bytes = format::load<std::uint64_t>(h + kRowBytesWord * 8);
  const auto rows = format::load<std::uint64_t>(h + kRowCountWord * 8);
  std::string bad;
  if (magic != disk::kCountersMagic)
    bad = "offset 0: magic is not CNDTCNT1";
  else if (version != kVersion)
    bad = "offset 8: version " + std::to_string(version) + ", this build reads " + std::to_string(kVersion);
  else if (row_bytes != kRowBytes)
    bad = "offset 16: rows of " + std::to_string(row_bytes) + " bytes, expected " + std::to_string(kRowBytes);
  else if (rows > size / kRowBytes - 1)
    bad = "offset 24: " + std::to_string(rows) + " rows do not fit in " + std::to_string(size) + " bytes";
  if (!bad.empty()) {
    *error = path + ": " + bad;
    return CountersFile{};  // f's destructor unmaps
  }
  f.rows_ = rows;
  return f;
}

CountersFile::CountersFile(CountersFile&& o) noexcept
    : words_(std::exchange(o.words_, nullptr)), bytes_(o.bytes_), rows_(o.rows_) {}

CountersFile& CountersFile::operator=(CountersFile&& o) noexcept {
  if (this != &o) {
    this->~CountersFile();
    words_ = std::exchange(o.words_, nullptr);
    bytes_ = o.bytes_;
    rows_ = o.rows_;
  }
  return *this;
}

CountersFile::~CountersFile() {
  if (words_ != nullptr) ::munmap(const_cast<std::uint64_t*>(words_), bytes_);
}

std::uint64_t CountersFile::writer_pid() const noexcept {
  return words_ == nullptr ? 0 : format::load<std::uint64_t>(reinterpret_cast<const std::byte*>(words_) + kPidWord * 8);
}

std::vector<Row> CountersFile::rows() const {
  std::vector<Row> out;
  for (std::size_t i = 0; i < rows_; ++i) {
    Row r;
    if (read_row(words_, i, &r)) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace conduit::counters
