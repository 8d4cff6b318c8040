#include "persistence/journal_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/crc32c.h"
#include "common/format.h"
#include "persistence/disk_io.h"

namespace conduit::persistence {
namespace {

using disk::kJournalMagic;
constexpr std::uint32_t kJournalVersion = 1;
constexpr std::uint32_t kEntryMarker = disk::kJournalEntryMarker;
constexpr std::size_t kMarkerAt = detail::StateJournal::kEntryBytes, kCrcAt = kMarkerAt + 4;
static_assert(kCrcAt + 4 == FileJournal::kFrameBytes);

// Generations of `key` in `dir`, sorted: (generation, path).
Result<std::vector<std::pair<std::uint64_t, std::string>>> list_generations(const std::string& dir,
                                                                            const std::string& key) {
  std::vector<std::pair<std::uint64_t, std::string>> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return Status::IOError("opendir " + dir + ": " + errno_text(errno));
  }
  const std::string prefix = key + std::string(disk::kJournalInfix);
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (!name.starts_with(prefix) || name.size() != prefix.size() + 20) continue;
    const std::string digits = name.substr(prefix.size());
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    out.emplace_back(std::stoull(digits), dir + "/" + name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Appends the intact entries of the file at `path` to `entries`.
Status read_generation(const std::string& path, std::uint64_t generation, std::vector<std::string>* entries) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + path + ": " + errno_text(errno));
  FileHandle handle(fd, path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::IOError("stat " + path + ": " + errno_text(errno));
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < FileJournal::kHeaderBytes) return Status::OK();  // created, never given its header: empty
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Status::IOError("mmap " + path + ": " + errno_text(errno));
  const auto* base = static_cast<const std::byte*>(p);
  Status result;
  const bool zero_header =
      std::all_of(base, base + FileJournal::kHeaderBytes, [](std::byte b) { return b == std::byte{0}; });
  if (!zero_header) {
    if (format::load<std::uint64_t>(base) != kJournalMagic || format::load<std::uint64_t>(base + 8) != generation ||
        format::load<std::uint32_t>(base + 60) != crc32c::value(base, 60)) {
      result = Status::Corruption(path + " offset 0: not an intact journal header");
    } else if (const std::uint32_t v = format::load<std::uint32_t>(base + 16); v != kJournalVersion) {
      result = Status::Unsupported(path + " offset 16: journal version " + std::to_string(v) +
                                   " is not one this build reads");
    } else {
      for (std::size_t off = FileJournal::kHeaderBytes; off + FileJournal::kFrameBytes <= size;
           off += FileJournal::kFrameBytes) {
        const std::byte* f = base + off;
        if (format::load<std::uint32_t>(f + kMarkerAt) != kEntryMarker) continue;
        if (format::load<std::uint32_t>(f + kCrcAt) != crc32c::value(f, kCrcAt)) continue;
        entries->emplace_back(reinterpret_cast<const char*>(f), detail::StateJournal::kEntryBytes);
      }
    }
  }
  ::munmap(p, size);
  return result;
}

}  // namespace

struct FileJournal::Generation {
  std::uint64_t number = 0;
  std::string path;
  std::shared_ptr<FileHandle> file;  // null for a generation found at open (read, not written)
  std::byte* base = nullptr;
  std::size_t capacity = 0;
  std::uint64_t first_ticket = 0;
  std::uint64_t appended = 0;  // entries written
  std::uint64_t synced = 0;    // entries covered by a completed fdatasync (or by a stored state)
  ~Generation() {
    if (base != nullptr) ::munmap(base, capacity);
  }
};

FileJournal::FileJournal(std::string dir, std::string key, Hooks hooks, std::size_t file_bytes)
    : dir_(std::move(dir)),
      key_(std::move(key)),
      hooks_(std::move(hooks)),
      file_bytes_(file_bytes),
      per_file_((file_bytes - kHeaderBytes) / kFrameBytes) {}

FileJournal::~FileJournal() = default;

Result<std::shared_ptr<FileJournal>> FileJournal::open(const std::string& dir, const std::string& key,
                                                       std::vector<std::string>* entries, Hooks hooks,
                                                       std::size_t file_bytes) {
  if (file_bytes < kHeaderBytes + kFrameBytes) return Status::InvalidArgument("journal files too small");
  if (hooks.io == nullptr) return Status::InvalidArgument("a journal needs a DiskIo to write its headers");
  if (Status s = make_dirs(dir); !s.ok()) return s;
  auto listed = list_generations(dir, key);
  if (!listed.ok()) return listed.status();
  std::shared_ptr<FileJournal> j(new FileJournal(dir, key, std::move(hooks), file_bytes));
  std::uint64_t next = 1;
  for (auto& [number, path] : *listed) {
    if (Status s = read_generation(path, number, entries); !s.ok()) return s;
    auto g = std::make_shared<Generation>();
    g->number = number;
    g->path = path;
    j->generations_.push_back(std::move(g));
    next = number + 1;
  }
  std::lock_guard lk(j->mu_);
  auto fresh = j->create_locked(next);
  if (!fresh.ok()) return fresh.status();
  j->generations_.push_back(std::move(fresh).value());
  return j;
}

Result<std::shared_ptr<FileJournal::Generation>> FileJournal::create_locked(std::uint64_t number) {
  auto g = std::make_shared<Generation>();
  g->number = number;
  g->path = dir_ + "/" + journal_file_name(key_, number);
  g->first_ticket = next_ticket_;
  g->capacity = file_bytes_;
  // Made under a temporary name and renamed once its header is whole and
  // durable: under its own name a generation always has an intact header.
  // A header write cut short (or a crash) leaves only the temporary, which
  // no reader lists and the next creation of this generation truncates.
  const std::string tmp = disk::tmp_path(g->path);
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("create " + tmp + ": " + errno_text(errno));
  auto file = std::make_shared<FileHandle>(fd, g->path);
  auto fail = [&](const std::string& what, int err) {
    ::unlink(tmp.c_str());
    return Status::IOError(what + ": " + errno_text(err));
  };
  // Reserved up front, so that writes through the mapping never meet a full
  // disk (SIGBUS); a new generation is rare (one per file of entries).
  if (const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(file_bytes_)); rc != 0)
    return fail("fallocate " + tmp, rc);
  std::byte header[kHeaderBytes] = {};
  format::store<std::uint64_t>(header, kJournalMagic);
  format::store<std::uint64_t>(header + 8, number);
  format::store<std::uint32_t>(header + 16, kJournalVersion);
  format::store<std::uint32_t>(header + 60, crc32c::value(header, 60));
  if (Status s = hooks_.io->write_at(fd, header, 0, tmp); !s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  // The header and the file's name are durable before any entry counts on them.
  if (::fdatasync(fd) != 0) return fail("fdatasync " + tmp, errno);
  if (::rename(tmp.c_str(), g->path.c_str()) != 0) return fail("rename " + tmp + " to " + g->path, errno);
  if (Status s = sync_dir(dir_); !s.ok()) return s;  // an intact, empty generation is left: harmless
  void* p = ::mmap(nullptr, file_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::unlink(g->path.c_str());
    return Status::IOError("mmap " + g->path + ": " + errno_text(err));
  }
  g->base = static_cast<std::byte*>(p);
  g->file = std::move(file);
  return g;
}

Result<std::uint64_t> FileJournal::append(const std::byte* entry) noexcept {
  std::lock_guard lk(mu_);
  Generation* g = generations_.back().get();
  if (g->appended == per_file_) {
    // Full: go on in the next generation; the owner compacts (wants_compaction()).
    auto fresh = create_locked(g->number + 1);
    if (!fresh.ok()) return fresh.status();
    generations_.push_back(std::move(fresh).value());
    g = generations_.back().get();
  }
  std::byte* f = g->base + bytes_of(g->appended);
  std::memcpy(f, entry, kEntryBytes);
  format::store<std::uint32_t>(f + kMarkerAt, kEntryMarker);
  format::store<std::uint32_t>(f + kCrcAt, crc32c::value(f, kCrcAt));
  ++g->appended;
  return next_ticket_++;
}

bool FileJournal::wants_compaction() const noexcept {
  std::lock_guard lk(mu_);
  return generations_.size() > 2;
}

Result<std::uint64_t> FileJournal::rotate() {
  std::lock_guard lk(mu_);
  // Nothing written to the current one yet: it is already "fresh".
  if (generations_.back()->appended == 0) return generations_.back()->number;
  auto fresh = create_locked(generations_.back()->number + 1);
  if (!fresh.ok()) return fresh.status();
  generations_.push_back(std::move(fresh).value());
  return generations_.back()->number;
}

void FileJournal::retire(std::uint64_t generation) {
  std::vector<std::string> gone;
  {
    std::lock_guard lk(mu_);
    while (generations_.size() > 1 && generations_.front()->number < generation) {
      gone.push_back(generations_.front()->path);
      generations_.erase(generations_.begin());
    }
    publish_durable_locked();
  }
  lot_.wake_all();
  // A crash before these unlinks leaves entries the stored state covers;
  // replaying them again is harmless (see GroupState::merge).
  for (const std::string& path : gone)
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      detail::log(hooks_.log, LogLevel::kError, "could not delete journal " + path + ": " + errno_text(errno));
}

void FileJournal::publish_durable_locked() {
  // Retired generations are gone from the list: their entries are covered.
  std::uint64_t d = next_ticket_;
  for (const auto& g : generations_)
    if (g->synced < g->appended) {
      d = g->first_ticket + g->synced;
      break;
    }
  // Release pairs with the acquire in await_durable(): a waiter that sees it
  // knows its entry is on disk.
  durable_ticket_.store(d, std::memory_order_release);
}

void FileJournal::pending(std::vector<Pending>* out) {
  std::lock_guard lk(mu_);
  for (const auto& g : generations_)
    if (g->synced < g->appended) out->push_back({g->file, g->number, g->appended});
}

void FileJournal::synced(const std::vector<Pending>& done) {
  {
    std::lock_guard lk(mu_);
    for (const Pending& p : done)
      for (const auto& g : generations_)
        if (g->number == p.generation) g->synced = std::max(g->synced, p.appended);
    publish_durable_locked();
  }
  lot_.wake_all();
}

void FileJournal::sync_failed(const Status& why) {
  {
    std::lock_guard lk(mu_);
    last_error_ = why;
  }
  // Release pairs with the acquire in await_durable().
  failed_rounds_.fetch_add(1, std::memory_order_release);
  lot_.wake_all();
}

Status FileJournal::await_durable(std::uint64_t ticket) noexcept {
  // Acquire pairs with the release in publish_durable_locked().
  if (durable_ticket_.load(std::memory_order_acquire) > ticket) return Status::OK();
  // Acquire pairs with the release increment in sync_failed().
  const std::uint64_t failures_before = failed_rounds_.load(std::memory_order_acquire);
  hooks_.want_sync();
  detail::Backoff backoff(WaitStrategy::kPark, lot_, hooks_.park_timeout, std::chrono::steady_clock::time_point::max());
  // Acquire loads as above; closed: pairs with the release store in the storage's close().
  auto durable = [&] { return durable_ticket_.load(std::memory_order_acquire) > ticket; };
  auto failed = [&] { return failed_rounds_.load(std::memory_order_acquire) != failures_before; };
  auto closed = [&] { return hooks_.closed != nullptr && hooks_.closed->load(std::memory_order_acquire); };
  for (;;) {
    if (durable()) return Status::OK();
    if (failed()) {
      std::lock_guard lk(mu_);
      return last_error_;
    }
    if (closed()) {
      // The last round's watermark is visible now (the acquire above).
      if (durable()) return Status::OK();
      return Status::Closed(dir_ + "/" + key_ + ": closed before the journal entry was durable");
    }
    (void)backoff.idle([&] { return durable() || failed() || closed(); });
  }
}

}  // namespace conduit::persistence
