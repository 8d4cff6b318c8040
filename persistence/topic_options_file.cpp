#include "persistence/topic_options_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>

#include "common/crc32c.h"
#include "common/disk_names.h"
#include "common/format.h"
#include "persistence/replace_file.h"

namespace conduit::persistence {
namespace {

using disk::kOptionsMagic;
constexpr std::uint32_t kOptionsVersion = 1;
constexpr std::size_t kBody = 76, kSize = kBody + 4;
constexpr std::uint32_t kRetainUntilConsumed = 1u, kSingleProducer = 2u;

}  // namespace

std::string encode_topic_options(const TopicOptions& o) {
  std::string out(kSize, '\0');
  auto* p = reinterpret_cast<std::byte*>(out.data());
  format::store<std::uint64_t>(p, kOptionsMagic);
  format::store<std::uint32_t>(p + 8, kOptionsVersion);
  format::store<std::uint32_t>(p + 12, static_cast<std::uint32_t>(o.durability));
  format::store<std::uint64_t>(p + 16, o.segment_bytes);
  format::store<std::uint64_t>(p + 24, o.max_payload_bytes);
  format::store<std::uint64_t>(p + 32, o.retain_bytes);
  format::store<std::int64_t>(p + 40, o.retain_age.count());
  format::store<std::uint64_t>(p + 48, o.hard_cap_bytes);
  format::store<std::uint64_t>(p + 56, o.dedup.max_ids);
  format::store<std::int64_t>(p + 64, o.dedup.max_age.count());
  format::store<std::uint32_t>(
      p + 72, (o.retain_until_consumed ? kRetainUntilConsumed : 0u) | (o.single_producer ? kSingleProducer : 0u));
  format::store<std::uint32_t>(p + kBody, crc32c::value(p, kBody));
  return out;
}

Result<TopicOptions> decode_topic_options(std::string_view bytes, const std::string& path) {
  const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
  if (bytes.size() < 12 || format::load<std::uint64_t>(p) != kOptionsMagic)
    return Status::Corruption(path + " offset 0: not a topic options file");
  if (const auto v = format::load<std::uint32_t>(p + 8); v != kOptionsVersion)
    return Status::Unsupported(path + " offset 8: options file version " + std::to_string(v) + " is unknown");
  if (bytes.size() != kSize)
    return Status::Corruption(path + " offset " + std::to_string(bytes.size()) + ": an options file is " +
                              std::to_string(kSize) + " bytes, this one " + std::to_string(bytes.size()));
  if (format::load<std::uint32_t>(p + kBody) != crc32c::value(p, kBody))
    return Status::Corruption(path + " offset " + std::to_string(kBody) + ": CRC32C mismatch");
  const std::uint32_t durability = format::load<std::uint32_t>(p + 12);
  if (durability != static_cast<std::uint32_t>(Durability::kAsync) &&
      durability != static_cast<std::uint32_t>(Durability::kSync))
    return Status::Corruption(path + " offset 12: durability " + std::to_string(durability) +
                              " is not a persisted one");
  TopicOptions o;
  o.durability = static_cast<Durability>(durability);
  o.segment_bytes = format::load<std::uint64_t>(p + 16);
  o.max_payload_bytes = format::load<std::uint64_t>(p + 24);
  o.retain_bytes = format::load<std::uint64_t>(p + 32);
  o.retain_age = std::chrono::seconds(format::load<std::int64_t>(p + 40));
  o.hard_cap_bytes = format::load<std::uint64_t>(p + 48);
  o.dedup.max_ids = format::load<std::uint64_t>(p + 56);
  o.dedup.max_age = std::chrono::nanoseconds(format::load<std::int64_t>(p + 64));
  const std::uint32_t flags = format::load<std::uint32_t>(p + 72);
  o.retain_until_consumed = (flags & kRetainUntilConsumed) != 0;
  o.single_producer = (flags & kSingleProducer) != 0;
  return o;
}

Status store_topic_options(DiskIo& io, const std::string& topic_dir, const TopicOptions& o) {
  const std::string bytes = encode_topic_options(o);
  return replace_file(io, topic_dir, kOptionsFileName, std::as_bytes(std::span(bytes)));
}

Result<std::optional<TopicOptions>> load_topic_options(const std::string& topic_dir) {
  const std::string path = topic_dir + "/" + kOptionsFileName;
  errno = 0;  // libstdc++'s open leaves the open(2) errno
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<TopicOptions>{};
    return Status::IOError("open " + path + ": " + std::strerror(errno));
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::IOError("read " + path + ": " + std::strerror(errno));
  auto o = decode_topic_options(bytes, path);
  if (!o.ok()) return o.status();
  return std::optional<TopicOptions>{std::move(o).value()};
}

}  // namespace conduit::persistence
