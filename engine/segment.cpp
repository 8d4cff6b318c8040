#include "engine/segment.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "common/format.h"

namespace conduit::detail {
namespace {

Result<std::byte*> map_anonymous(std::size_t bytes) {
  // MAP_NORESERVE: pages are only backed once touched; a ring or an index is
  // mostly untouched until records arrive.
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return Status::IOError(std::string("mmap of ") + std::to_string(bytes) + " bytes: " + std::strerror(errno));
  return static_cast<std::byte*>(p);
}

// Transparent huge pages for big regions where the topic asks
// (TopicOptions::huge_pages). A publisher writing into fresh 4 KiB pages
// takes a page fault every few records; a 2 MiB page faults once per 512
// of those, but that one fault zeroes 2 MiB while the publisher waits: on
// a KVM guest that stalled it for milliseconds, and the p99 of records
// published at 100k msg/s was 1.7 ms with huge pages against 23 us without
// (bench/results/2026-12-07-huge-pages.md). Otherwise, the default, the
// region is marked MADV_NOHUGEPAGE (the kernel's "always" mode too keeps
// off it) and producers map it a page ahead (AnonymousMemory::populate_range). A huge
// one is placed on a 2 MiB boundary so that the kernel can back it with
// huge pages at all (a memfd too, where
// /sys/kernel/mm/transparent_hugepage/shmem_enabled allows); smaller
// regions stay on small pages (their memory would be mostly empty huge pages).
constexpr std::size_t kHugePage = std::size_t{2} << 20;

Result<std::byte*> map_segment_memory(std::size_t bytes, bool huge_pages) {
  if (!huge_pages || bytes < 2 * kHugePage) {
    auto p = map_anonymous(bytes);
    // Advice only: a kernel without THP has nothing to turn off.
    if (p.ok()) (void)madvise(*p, bytes, MADV_NOHUGEPAGE);
    return p;
  }
  auto raw = map_anonymous(bytes + kHugePage);
  if (!raw.ok()) return raw.status();
  const auto addr = reinterpret_cast<std::uintptr_t>(*raw);
  const std::uintptr_t aligned = (addr + kHugePage - 1) & ~(kHugePage - 1);
  const std::size_t head = aligned - addr;
  if (head != 0) munmap(*raw, head);
  if (kHugePage - head != 0) munmap(reinterpret_cast<std::byte*>(aligned) + bytes, kHugePage - head);
  // Advice only: with THP off (or "never") the region keeps small pages.
  (void)madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
  return reinterpret_cast<std::byte*>(aligned);
}

#ifndef MADV_POPULATE_WRITE
constexpr int MADV_POPULATE_WRITE = 23;  // Linux 5.14
#endif

class AnonymousMemory final : public SegmentMemory {
 public:
  AnonymousMemory(std::byte* base, std::size_t capacity) : base_(base), capacity_(capacity) {}
  ~AnonymousMemory() override { munmap(base_, capacity_); }
  std::byte* base() const noexcept override { return base_; }
  std::size_t capacity() const noexcept override { return capacity_; }
  // Fresh pages written first by the producer. Left to faults, a reader
  // waiting at the head reads a page before any producer writes it, which
  // maps the kernel's shared zero page there; the producer's first write
  // then replaces that mapping, and the kernel flushes it from the other
  // CPUs' TLBs with an interrupt to each and waits for them (about 45 us a
  // time on a KVM guest: the ping-pong's p99.9 on small pages,
  // bench/results/2026-12-07-huge-pages.md). Written first, a page never
  // maps the zero page. Errors (a kernel before 5.14) leave the pages to
  // faults, as before.
  void populate_range(std::size_t from, std::size_t to) noexcept override {
    (void)::madvise(base_ + from, to - from, MADV_POPULATE_WRITE);
  }
  bool populated_by_producers() const noexcept override { return true; }

 private:
  std::byte* base_;
  std::size_t capacity_;
};

// A shared memory-only topic's segment (TopicOptions::shared): a memfd, so
// that the owner can hand it to another process (doc/ipc.md), mapped
// shared. MAP_NORESERVE as map_anonymous. Not the default: where the kernel
// keeps shared memory off huge pages, its first touch faults a page at a
// time (bench/results/2026-12-07-ipc-shm-topic.md).
class MemfdMemory final : public SegmentMemory {
 public:
  static Result<std::unique_ptr<SegmentMemory>> make(std::size_t bytes, bool huge_pages) {
    const int fd = ::memfd_create("conduit-segment", MFD_CLOEXEC);
    if (fd < 0) return Status::IOError(std::string("memfd_create for a segment: ") + std::strerror(errno));
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      const int err = errno;
      ::close(fd);
      return Status::IOError("ftruncate of a segment's memfd to " + std::to_string(bytes) + ": " + std::strerror(err));
    }
    const bool huge = huge_pages && bytes >= 2 * kHugePage;
    // Room to place it on a 2 MiB boundary; the rest is unmapped again.
    const std::size_t reserve = huge ? bytes + kHugePage : bytes;
    void* room = ::mmap(nullptr, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void* p = MAP_FAILED;
    if (room != MAP_FAILED) {
      const auto addr = reinterpret_cast<std::uintptr_t>(room);
      const std::uintptr_t at = huge ? (addr + kHugePage - 1) & ~(kHugePage - 1) : addr;
      p = ::mmap(reinterpret_cast<void*>(at), bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd,
                 0);
      if (p == MAP_FAILED) {
        ::munmap(room, reserve);
      } else {
        if (at != addr) ::munmap(room, at - addr);
        if (at + bytes != addr + reserve) ::munmap(reinterpret_cast<void*>(at + bytes), addr + reserve - at - bytes);
        // Advice only: with shmem THP off the region keeps small pages.
        (void)::madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
      }
    }
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return Status::IOError("mmap of a segment's memfd (" + std::to_string(bytes) + " bytes): " + std::strerror(err));
    }
    return std::unique_ptr<SegmentMemory>(new MemfdMemory(static_cast<std::byte*>(p), bytes, fd));
  }
  ~MemfdMemory() override {
    ::munmap(base_, capacity_);
    ::close(fd_);
  }
  std::byte* base() const noexcept override { return base_; }
  std::size_t capacity() const noexcept override { return capacity_; }
  int shared_fd() const noexcept override { return fd_; }

 private:
  MemfdMemory(std::byte* base, std::size_t capacity, int fd) : base_(base), capacity_(capacity), fd_(fd) {}
  std::byte* base_;
  std::size_t capacity_;
  int fd_;
};

class MemoryStorage final : public TopicStorage {
 public:
  MemoryStorage(bool shared, bool huge_pages) : shared_(shared), huge_pages_(huge_pages) {}
  Result<std::unique_ptr<SegmentMemory>> create_segment(std::uint64_t first_seq, std::size_t capacity,
                                                        std::int64_t /*created_ns*/) override {
    Result<std::unique_ptr<SegmentMemory>> mem = Status::OK();
    if (shared_) {
      mem = MemfdMemory::make(capacity, huge_pages_);
    } else if (auto base = map_segment_memory(capacity, huge_pages_); base.ok()) {
      mem = std::unique_ptr<SegmentMemory>(new AnonymousMemory(*base, capacity));
    } else {
      mem = base.status();
    }
    if (!mem.ok()) return mem.status();
    format::SegmentHeader h;
    h.first_seq = first_seq;
    h.capacity = capacity;
    h.flags = 0;  // memory-only records carry no CRC
    format::encode_segment_header((*mem)->base(), h);
    return mem;
  }
  bool reuse_segment(SegmentMemory& mem, std::uint64_t first_seq) override {
    format::SegmentHeader h;
    h.first_seq = first_seq;
    h.capacity = mem.capacity();
    h.flags = 0;
    format::encode_segment_header(mem.base(), h);
    return true;
  }
  bool records_have_crc() const noexcept override { return false; }

 private:
  bool shared_;
  bool huge_pages_;
};

}  // namespace

// A memfd of `bytes` (zero-filled), mapped shared: {fd, address}.
Result<std::pair<int, std::byte*>> map_shared_memfd(const char* name, std::size_t bytes) {
  const int fd = ::memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return Status::IOError(std::string("memfd_create ") + name + ": " + std::strerror(errno));
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IOError(std::string("ftruncate of memfd ") + name + ": " + std::strerror(err));
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::close(fd);
    return Status::IOError(std::string("mmap of memfd ") + name + ": " + std::strerror(err));
  }
  return std::make_pair(fd, static_cast<std::byte*>(p));
}

std::unique_ptr<TopicStorage> make_memory_storage(bool shared, bool huge_pages) {
  return std::make_unique<MemoryStorage>(shared, huge_pages);
}

Result<std::shared_ptr<Segment>> Segment::make(std::unique_ptr<SegmentMemory> mem, std::uint64_t first_seq,
                                               bool shared_index) {
  // No record is shorter than a full header (the short form's payload floor,
  // format.h), and readers refuse one that is.
  const std::size_t max_records = (mem->capacity() - format::kSegmentHeaderSize) / format::kRecordHeaderSize + 1;
  const std::size_t bytes = kIndexHeaderBytes + max_records * sizeof(std::atomic<std::uint32_t>);
  int fd = -1;
  Result<std::byte*> index = Status::OK();
  if (shared_index) {
    auto shared = map_shared_memfd("conduit-index", bytes);
    if (!shared.ok()) return shared.status();
    fd = shared->first;
    index = shared->second;
  } else {
    index = map_anonymous(bytes);
    if (!index.ok()) return index.status();
  }
  static_assert(sizeof(std::atomic<std::uint32_t>) == 4 && std::atomic<std::uint32_t>::is_always_lock_free);
  // The control block comes from the engine heap too.
  return std::shared_ptr<Segment>(new Segment(std::move(mem), first_seq, *index, fd, max_records),
                                  std::default_delete<Segment>(), MiAllocator<Segment>());
}

Segment::Segment(std::unique_ptr<SegmentMemory> mem, std::uint64_t first_seq, std::byte* index_map, int index_fd,
                 std::size_t max_records)
    : mem_(std::move(mem)),
      base_(mem_->base()),
      capacity_(mem_->capacity()),
      first_seq_(first_seq),
      index_map_(index_map),
      index_(reinterpret_cast<std::atomic<std::uint32_t>*>(index_map + kIndexHeaderBytes)),
      index_fd_(index_fd),
      max_records_(max_records),
      // New memory is zero-filled (TopicStorage::create_segment); a kSync
      // topic's recovered tail may not be ready yet (SegmentMemory::ready_bytes).
      zeroed_(mem_->ready_bytes()),
      data_ready_(mem_->populated_by_producers() ? 0 : capacity_) {
  // Relaxed: the segment is not shared yet (its topic publishes it).
  zeroed_mirror(index_map_).store(mem_->ready_bytes(), std::memory_order_relaxed);
  sealed_mirror(index_map_).store(kNotSealed, std::memory_order_relaxed);  // likewise
}

void Segment::store_zeroed(std::size_t to) noexcept {
  zeroed_.store(to, std::memory_order_release);  // pairs with the acquire in ensure_zeroed()
  // Release pairs with the acquire of a publisher in another process
  // (engine/attached_topic.cpp): the cleared bytes are cleared before it
  // writes into them.
  zeroed_mirror(index_map_).store(to, std::memory_order_release);
}

void Segment::close_index_fd() noexcept {
  if (index_fd_ >= 0) ::close(index_fd_);
  index_fd_ = -1;
}

void Segment::zero_to(std::size_t end) noexcept {
  std::lock_guard lk(zero_mu_);
  // Relaxed: stored only under zero_mu_ (or before the segment is shared).
  const std::size_t from = zeroed_.load(std::memory_order_relaxed);
  if (from >= end) return;  // another producer cleared it meanwhile
  // Above `from` nothing of this lap is written yet: every producer waits
  // here for its claim's end before writing.
  const std::size_t to = std::min(capacity_, std::max(end, from + mem_->zero_chunk()));
  mem_->zero_range(from, to);
  store_zeroed(to);
}

ZeroAhead Segment::zero_ahead(std::size_t until, std::size_t step) noexcept {
  until = std::min(until, capacity_);
  std::lock_guard lk(zero_mu_);
  // Relaxed: stored only under zero_mu_. Nothing above it is written yet
  // (see zero_to()).
  std::size_t to = zeroed_.load(std::memory_order_relaxed);
  if (to < until) {
    const std::size_t from = to;
    to = std::min(capacity_, from + step);
    mem_->zero_range(from, to);
    store_zeroed(to);
  }
  return to >= capacity_ ? ZeroAhead::kDone : to >= until ? ZeroAhead::kAhead : ZeroAhead::kMore;
}

void Segment::populate_index(std::size_t end) noexcept {
  constexpr std::size_t kPage = 4096;
  index_ready_.advance(end, kIndexSlack, kIndexChunk, max_records_, [&](std::size_t from, std::size_t to) {
    const auto first = reinterpret_cast<std::uintptr_t>(index_ + from) & ~(kPage - 1);
    const auto last = reinterpret_cast<std::uintptr_t>(index_ + to);
    // Stores nothing: the entries keep their values (zero, or another
    // producer's offset stored meanwhile). EINVAL: a kernel before 5.14;
    // the pages then come through faults, as before, and no producer asks again.
    const bool done =
        ::madvise(reinterpret_cast<void*>(first), last - first, MADV_POPULATE_WRITE) == 0 || errno != EINVAL;
    return done ? to : max_records_;
  });
}

void Segment::populate_data(std::size_t end) noexcept {
  constexpr std::size_t kPage = 4096;
  data_ready_.advance(end, kDataSlack, kDataChunk, capacity_, [&](std::size_t from, std::size_t to) {
    to = std::min(capacity_, (to + kPage - 1) & ~(kPage - 1));
    mem_->populate_range(from & ~(kPage - 1), to);
    return to;
  });
}

void Segment::build_index(std::uint64_t records) noexcept {
  std::size_t off = format::kSegmentHeaderSize;
  for (std::uint64_t i = 0; i < records && off < capacity_; ++i) {
    set_offset(i, static_cast<std::uint32_t>(off));
    off += format::align_up(format::load_length(base_ + off) & format::kLengthMask);
  }
  indexed_ = true;
}

// Owns one reader's pin; every copy of that reader's pointer shares it.
struct Segment::Pin : MiAllocated {
  explicit Pin(std::shared_ptr<Segment> s) : segment(std::move(s)) {
    // Relaxed: taken under the topic's lock, which the reuse check holds too.
    segment->pins_.fetch_add(1, std::memory_order_relaxed);
  }
  ~Pin() {
    // Release pairs with the acquire in Segment::pinned().
    segment->pins_.fetch_sub(1, std::memory_order_release);
  }
  std::shared_ptr<Segment> segment;
};

std::shared_ptr<Segment> Segment::pin(std::shared_ptr<Segment> s) {
  Segment* raw = s.get();
  try {
    auto owner = std::allocate_shared<Pin>(MiAllocator<Pin>(), s);
    return std::shared_ptr<Segment>(std::move(owner), raw);  // aliasing: shares the pin's lifetime
  } catch (const std::bad_alloc&) {
    // Unpinned, the reference still counts in use_count(), which the ring
    // checks too: the segment is then not reused while it is held.
    return s;
  }
}

void Segment::reuse(std::uint64_t first_seq) noexcept {
  // Sealed: it was dropped only once full and passed by every holder.
  const std::uint64_t used = std::min<std::uint64_t>(sealed_count(), max_records_);
  // Plain stores (one memset: the loop of atomic stores is not vectorized),
  // like the rest of the reset: nobody else holds the segment, and the
  // topic publishes it again with a release store before anyone can look at
  // it. The entries are the index mapping's bytes after its header.
  std::memset(index_map_ + kIndexHeaderBytes, 0, used * sizeof(std::atomic<std::uint32_t>));
  // Zero bytes mean "no record here": the first chunk now, for readers that
  // start at the first record; the rest as producers get there
  // (ensure_zeroed). Clearing memory already backed is cheaper than the
  // fresh pages the kernel would zero on first touch, and no mapping changes.
  // Relaxed, as the rest of the reset; no producer can reach zero_to() yet.
  zeroed_.store(format::kSegmentHeaderSize, std::memory_order_relaxed);
  zeroed_mirror(index_map_).store(format::kSegmentHeaderSize, std::memory_order_relaxed);
  zero_to(format::kSegmentHeaderSize + mem_->zero_chunk());
  // Its pages are backed from the last lap: nothing to populate.
  data_ready_.set(capacity_);
  first_seq_ = first_seq;
  sealed_count_.store(kNotSealed, std::memory_order_relaxed);              // likewise
  sealed_mirror(index_map_).store(kNotSealed, std::memory_order_relaxed);  // likewise
  padded_at_.store(0, std::memory_order_relaxed);                          // likewise
  next_.store(nullptr, std::memory_order_relaxed);                         // likewise
  indexed_ = true;
}

Segment::~Segment() {
  munmap(index_map_, kIndexHeaderBytes + max_records_ * sizeof(std::atomic<std::uint32_t>));
  close_index_fd();
}

}  // namespace conduit::detail
