#include "engine/reader_slot.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "engine/segment.h"

namespace conduit::detail {

Result<std::unique_ptr<AttachedReader>> AttachedReader::make(TopicCore* topic, std::string name, bool holds_ring) {
  auto mapped = map_shared_memfd("conduit-reader-slot", sizeof(ReaderSlot));
  if (!mapped.ok()) return mapped.status();
  auto* slot = new (mapped->second) ReaderSlot();
  return std::unique_ptr<AttachedReader>(new AttachedReader(topic, mapped->first, slot, std::move(name), holds_ring));
}

void AttachedReader::list() { topic_->list_attached(this); }

AttachedReader::~AttachedReader() {
  topic_->unlist_attached(this);  // none if never listed
  ::munmap(slot_, sizeof(ReaderSlot));
  ::close(fd_);
}

Result<std::byte*> map_passed(int fd, std::size_t bytes, const std::string& what) {
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < bytes) {
    if (fd >= 0) ::close(fd);
    return Status::Corruption(what + ": the owner passed no descriptor, or a short one");
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return Status::IOError("mmap " + what + ": " + std::strerror(errno));
  return static_cast<std::byte*>(p);
}

Result<std::unique_ptr<PassedReaderSlot>> PassedReaderSlot::map(int fd, const std::string& what) {
  auto mapped = map_passed(fd, sizeof(ReaderSlot), what);
  if (!mapped.ok()) return mapped.status();
  std::unique_ptr<PassedReaderSlot> s(new PassedReaderSlot(reinterpret_cast<ReaderSlot*>(*mapped)));
  if (s->slot_->magic != kReaderSlotMagic)
    return Status::Corruption(what + ": the owner's reader slot is not one this build knows");
  return s;
}

PassedReaderSlot::~PassedReaderSlot() { ::munmap(slot_, sizeof(ReaderSlot)); }

}  // namespace conduit::detail
