#include "persistence/clean_record.h"

#include "common/crc32c.h"
#include "common/disk_names.h"
#include "common/format.h"

namespace conduit::persistence {
namespace {

using disk::kCleanMagic;
constexpr std::uint32_t kCleanVersion = 1;
constexpr std::size_t kHead = 32, kEntry = 40, kCrc = 4;

}  // namespace

std::string encode_clean_record(const CleanRecord& r) {
  std::string out(kHead + r.segments.size() * kEntry + kCrc, '\0');
  auto* p = reinterpret_cast<std::byte*>(out.data());
  format::store<std::uint64_t>(p, kCleanMagic);
  format::store<std::uint32_t>(p + 8, kCleanVersion);
  format::store<std::uint32_t>(p + 12, static_cast<std::uint32_t>(r.segments.size()));
  format::store<std::uint64_t>(p + 16, r.generation);
  format::store<std::uint64_t>(p + 24, r.durable);
  std::byte* e = p + kHead;
  for (const CleanSegment& s : r.segments) {
    format::store<std::uint64_t>(e, s.first_seq);
    format::store<std::uint64_t>(e + 8, s.records);
    format::store<std::uint64_t>(e + 16, s.end_offset);
    format::store<std::uint64_t>(e + 24, s.capacity);
    format::store<std::uint32_t>(e + 32, s.sealed ? 1u : 0u);
    e += kEntry;
  }
  format::store<std::uint32_t>(e, crc32c::value(p, static_cast<std::size_t>(e - p)));
  return out;
}

Result<CleanRecord> decode_clean_record(std::string_view bytes, const std::string& path) {
  const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
  if (bytes.size() < kHead + kCrc || format::load<std::uint64_t>(p) != kCleanMagic)
    return Status::Corruption(path + " offset 0: not a clean-close record");
  if (const auto v = format::load<std::uint32_t>(p + 8); v != kCleanVersion)
    return Status::Unsupported(path + " offset 8: clean-close record version " + std::to_string(v) + " is unknown");
  const std::uint32_t count = format::load<std::uint32_t>(p + 12);
  if (bytes.size() != kHead + std::size_t{count} * kEntry + kCrc)
    return Status::Corruption(path + " offset 12: " + std::to_string(count) + " segments do not fit the file's " +
                              std::to_string(bytes.size()) + " bytes");
  const std::size_t body = bytes.size() - kCrc;
  if (format::load<std::uint32_t>(p + body) != crc32c::value(p, body))
    return Status::Corruption(path + " offset " + std::to_string(body) + ": CRC32C mismatch");
  CleanRecord r;
  r.generation = format::load<std::uint64_t>(p + 16);
  r.durable = format::load<std::uint64_t>(p + 24);
  r.segments.reserve(count);
  for (const std::byte* e = p + kHead; e < p + body; e += kEntry)
    r.segments.push_back({format::load<std::uint64_t>(e), format::load<std::uint64_t>(e + 8),
                          format::load<std::uint64_t>(e + 16), format::load<std::uint64_t>(e + 24),
                          (format::load<std::uint32_t>(e + 32) & 1u) != 0});
  return r;
}

}  // namespace conduit::persistence
