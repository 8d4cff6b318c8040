#include "engine/shm_segment.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace conduit::detail {

ShmSegment::~ShmSegment() {
  if (base != nullptr) ::munmap(base, capacity);
  if (index_map != nullptr) ::munmap(index_map, index_bytes);
}

Result<std::shared_ptr<ShmSegment>> ShmSegmentCache::map(int index_fd, int memory_fd, std::size_t capacity,
                                                         const std::string& what) {
  struct Closer {
    int a, b;
    ~Closer() {
      if (a >= 0) ::close(a);
      if (b >= 0) ::close(b);
    }
  } closer{index_fd, memory_fd};
  struct stat mem {
  }, idx{};
  if (index_fd < 0 || memory_fd < 0 || ::fstat(memory_fd, &mem) != 0 || ::fstat(index_fd, &idx) != 0 ||
      static_cast<std::size_t>(mem.st_size) < capacity ||
      static_cast<std::size_t>(idx.st_size) < Segment::kIndexHeaderBytes)
    return Status::Corruption(what + ": the owner passed no descriptors, or short ones");
  ++uses_;
  const auto key = std::make_pair(mem.st_dev, mem.st_ino);
  if (auto it = maps_.find(key); it != maps_.end() && it->second.seg->capacity == capacity) {
    it->second.used = uses_;
    return it->second.seg;
  }
  auto seg = std::make_shared<ShmSegment>();
  const int prot = writable_ ? PROT_READ | PROT_WRITE : PROT_READ;
  // MAP_POPULATE: the page tables at once rather than a fault per page as
  // the records are written or read.
  void* base = ::mmap(nullptr, capacity, prot, MAP_SHARED | MAP_POPULATE, memory_fd, 0);
  if (base == MAP_FAILED) return Status::IOError("mmap " + what + ": " + std::strerror(errno));
  seg->base = static_cast<std::byte*>(base);
  seg->capacity = capacity;
  const auto index_bytes = static_cast<std::size_t>(idx.st_size);
  // The index is written by publishers, wherever they are.
  void* index = ::mmap(nullptr, index_bytes, writable_ ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, index_fd, 0);
  if (index == MAP_FAILED) return Status::IOError("mmap the index of " + what + ": " + std::strerror(errno));
  seg->index_map = static_cast<std::byte*>(index);
  seg->index_bytes = index_bytes;
  maps_[key] = {seg, uses_};
  if (maps_.size() > kKeep) {
    // The least recently used goes (its users keep it mapped until done).
    auto oldest = std::min_element(maps_.begin(), maps_.end(),
                                   [](const auto& a, const auto& b) { return a.second.used < b.second.used; });
    maps_.erase(oldest);
  }
  return seg;
}

}  // namespace conduit::detail
