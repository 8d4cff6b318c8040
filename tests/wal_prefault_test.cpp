// The persistence thread maps a segment's pages writable ahead of its
// producers (MADV_POPULATE_WRITE), and a sync round syncs each segment only
// as far as its records reach, so those pages stay mapped writable: a
// producer's first write to them takes no page fault, before a round or
// after it. Faults are counted on the writing thread (RUSAGE_THREAD).
//
// Built from the engine's parts (as Engine::create_topic wires them), with
// a persistence thread that never ticks: the test runs its rounds.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <sys/mman.h>
#include <sys/resource.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/topic_core.h"
#include "persistence/disk_io.h"
#include "persistence/file_storage.h"
#include "persistence/persistence_thread.h"
#include "tests/support/helpers.h"

using namespace conduit;

namespace {

constexpr std::size_t kSegmentBytes = 8u << 20;
constexpr std::size_t kPage = 4096;

std::uint64_t thread_faults() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return static_cast<std::uint64_t>(u.ru_minflt) + static_cast<std::uint64_t>(u.ru_majflt);
}

// Writes a zero over a zero (past the records, zero means "no record") on
// each page of [from, to) and returns this thread's page faults meanwhile.
// A read of each page first, not counted: under a sanitizer the first
// check of an address faults in its shadow memory (a read maps a page
// read-only, so a page not mapped writable still faults on the write).
// Sanitizers' own bookkeeping may still fault now and then: the checks
// allow kNoise faults where 0 is expected (a page each would be hundreds).
constexpr std::uint64_t kNoise = 4;
std::uint64_t faults_writing(std::byte* base, std::size_t from, std::size_t to) {
  for (std::size_t off = from; off < to; off += kPage) (void)*static_cast<volatile std::byte*>(base + off);
  const std::uint64_t before = thread_faults();
  for (std::size_t off = from; off < to; off += kPage) *static_cast<volatile std::byte*>(base + off) = std::byte{0};
  return thread_faults() - before;
}

bool populate_supported() {
  void* p = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  const bool ok = ::madvise(p, kPage, 23 /* MADV_POPULATE_WRITE */) == 0;
  ::munmap(p, kPage);
  return ok;
}

struct PersistedTopic {
  test::TempDir dir;
  std::unique_ptr<persistence::PersistenceThread> thread;
  persistence::FileTopicStorage* storage = nullptr;
  detail::TopicShared shared;
  std::unique_ptr<detail::TopicCore> core;

  explicit PersistedTopic(std::unique_ptr<persistence::DiskIo> io) {
    // A tick of an hour: only the rounds this test runs (final_round) happen.
    thread = std::make_unique<persistence::PersistenceThread>(std::move(io), std::chrono::hours(1));
    persistence::FileStorageOptions fo;
    fo.durability = Durability::kAsync;
    auto opened = persistence::FileTopicStorage::open((dir.path / "topics" / "t").string(), fo, thread.get());
    REQUIRE_MESSAGE(opened.ok(), opened.status().to_string());
    storage = opened->get();
    TopicOptions options;
    options.durability = Durability::kAsync;
    options.segment_bytes = kSegmentBytes;
    auto made = detail::TopicCore::make("t", options, std::move(opened).value(), &shared);
    REQUIRE_MESSAGE(made.ok(), made.status().to_string());
    core = std::move(made).value();
  }
  ~PersistedTopic() {
    core.reset();
    thread.reset();
  }
  std::byte* head_base() {
    std::uint64_t lost = 0;
    auto seg = core->segment_for(0, &lost);
    REQUIRE(seg != nullptr);
    return seg->base();  // the topic keeps the segment mapped
  }
};

// The io_uring backend, or null (said in a message) where it cannot be set up.
std::unique_ptr<persistence::DiskIo> io_uring_backend() {
  std::string why;
  auto io = persistence::make_disk_io(false, &why);
  if (why.empty()) return io;
  MESSAGE("io_uring is not available (" << why << "): the syscall fallback syncs whole files");
  return nullptr;
}

void publish_records(detail::TopicCore& core, int n) {
  const std::string payload(1000, 'r');
  for (int i = 0; i < n; ++i) {
    Message m;
    m.payload = payload;
    REQUIRE(core.publish(m).ok());
  }
}

}  // namespace

TEST_CASE("populate_head maps the head segment's pages from the producers' tail to `ahead` past it, once") {
  if (!populate_supported()) {
    MESSAGE("MADV_POPULATE_WRITE is not supported by this kernel: nothing to test");
    return;
  }
  PersistedTopic t(persistence::make_syscall_disk_io());
  publish_records(*t.core, 100);  // about 100 KiB of records
  const std::size_t tail = t.core->settled_bytes(0, t.core->published());
  REQUIRE(tail > 100'000);
  std::byte* base = t.head_base();
  constexpr std::size_t kAhead = 1u << 20;

  const auto mark = t.core->populate_head({}, kAhead);
  CHECK(mark.first_seq == 0);
  CHECK(mark.to == (tail + kAhead + kPage - 1) / kPage * kPage);
  // Asked again with its answer and the tail where it was: nothing more.
  const auto again = t.core->populate_head(mark, kAhead);
  CHECK(again.first_seq == mark.first_seq);
  CHECK(again.to == mark.to);

  const std::size_t first_page = (tail + kPage - 1) / kPage * kPage;
  CHECK(faults_writing(base, first_page, mark.to) <= kNoise);
  // Far past the window, nothing was mapped: the same writes fault there,
  // one write-protect fault per page after the read.
  CHECK(faults_writing(base, 6u << 20, (6u << 20) + 64 * kPage) >= 32);

  // Never past the segment's end.
  const auto whole = t.core->populate_head({}, 64u << 20);
  CHECK(whole.to == kSegmentBytes);
}

TEST_CASE("a sync round on io_uring leaves the pages mapped past the records writable, and the records durable") {
  if (!populate_supported()) {
    MESSAGE("MADV_POPULATE_WRITE is not supported by this kernel: nothing to test");
    return;
  }
  auto io = io_uring_backend();
  if (!io) return;
  PersistedTopic t(std::move(io));
  publish_records(*t.core, 100);
  const std::uint64_t published = t.core->published();
  const std::size_t tail = t.core->settled_bytes(0, published);
  std::byte* base = t.head_base();
  const auto mark = t.core->populate_head({}, 1u << 20);
  REQUIRE(mark.to > tail + (512u << 10));

  t.thread->final_round(t.storage);
  CHECK(t.core->durable() == published);
  // Writeback of these pages would have write-protected them (the next
  // write a fault each); a round that syncs only [0, records) leaves them.
  const std::size_t from = (tail + kPage - 1) / kPage * kPage + kPage;  // clear of the records' last page
  CHECK(faults_writing(base, from, mark.to) <= kNoise);
}

TEST_CASE("the syscall fallback syncs whole files: its round covers the records too") {
  PersistedTopic t(persistence::make_syscall_disk_io());
  publish_records(*t.core, 100);
  const std::uint64_t published = t.core->published();
  (void)t.core->populate_head({}, 1u << 20);
  t.thread->final_round(t.storage);
  CHECK(t.core->durable() == published);
}

TEST_CASE("the storage maps pages ahead only on a backend that syncs ranges") {
  if (!populate_supported()) {
    MESSAGE("MADV_POPULATE_WRITE is not supported by this kernel: nothing to test");
    return;
  }
  // A backend that syncs whole files would write those pages (zeros) in
  // every round: on the syscall fallback nothing is mapped ahead, and the
  // producer's writes past its tail fault as on a fresh mapping.
  PersistedTopic fallback(persistence::make_syscall_disk_io());
  publish_records(*fallback.core, 100);
  fallback.storage->populate_ahead();
  const std::size_t tail = fallback.core->settled_bytes(0, fallback.core->published());
  const std::size_t first_page = (tail + kPage - 1) / kPage * kPage;
  CHECK(faults_writing(fallback.head_base(), first_page, first_page + 64 * kPage) >= 32);

  auto io = io_uring_backend();
  if (!io) return;  // only the fallback was checked
  PersistedTopic ranged(std::move(io));
  publish_records(*ranged.core, 100);
  ranged.storage->populate_ahead();
  CHECK(faults_writing(ranged.head_base(), first_page, first_page + 64 * kPage) <= kNoise);
}
