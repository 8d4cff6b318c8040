// A shared memory-only topic's segment as another process maps it
// (doc/ipc.md, "Shared memory-only topics"): its memory and its index, two
// memfds the owner passed over the control socket. Attached publishers
// (engine/attached_topic.cpp) and attached subscribers
// (engine/shm_reader.cpp) map them through a ShmSegmentCache, which keeps
// a mapping per memfd: the owner's ring reuses its segments, so the same
// memfd comes back lap after lap and is mapped once.
//
// Thread safety: a ShmSegment is immutable once made (its memory is shared
// and follows the protocols of engine/segment.h); a ShmSegmentCache is used
// by one thread at a time (its owner's lock).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "conduit/status.h"
#include "engine/segment.h"

namespace conduit::detail {

struct ShmSegment {
  std::byte* base = nullptr;  // the segment's bytes (its header first)
  std::size_t capacity = 0;
  std::byte* index_map = nullptr;  // Segment's index layout: a header, then the entries
  std::size_t index_bytes = 0;
  ShmSegment() = default;
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;
  ~ShmSegment();
  std::atomic<std::uint32_t>* index() const noexcept {
    return reinterpret_cast<std::atomic<std::uint32_t>*>(index_map + Segment::kIndexHeaderBytes);
  }
  std::size_t max_records() const noexcept { return (index_bytes - Segment::kIndexHeaderBytes) / 4; }
};

class ShmSegmentCache {
 public:
  explicit ShmSegmentCache(bool writable) : writable_(writable) {}
  // The segment whose index and memory the owner passed (both descriptors
  // are closed here, whatever happens), mapped now or found mapped.
  // `capacity`: what the owner said it holds; `what` names it in errors.
  Result<std::shared_ptr<ShmSegment>> map(int index_fd, int memory_fd, std::size_t capacity, const std::string& what);

 private:
  // How many mappings stay cached: the ring's segments come round again;
  // others (segments the owner let go) are unmapped once older than these.
  static constexpr std::size_t kKeep = 32;
  bool writable_;
  std::uint64_t uses_ = 0;
  struct Entry {
    std::shared_ptr<ShmSegment> seg;
    std::uint64_t used = 0;
  };
  std::map<std::pair<dev_t, ino_t>, Entry> maps_;  // by the memory memfd's identity
};

}  // namespace conduit::detail
