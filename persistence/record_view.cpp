// RecordView's accessors: decoding of the record layout in format.h.
#include "common/format.h"
#include "conduit/message.h"

namespace conduit {
namespace {

using format::load;
namespace rec = format::rec;

// A short-form record (format.h): no envelope, the payload after 24 bytes.
bool is_short(const std::byte* p) noexcept { return (load<std::uint32_t>(p + rec::kLength) & format::kShortFlag) != 0; }

// Offset of the i-th envelope string (0 id, 1 key, 2 correlation, 3 reply-to,
// 4 trace, 5 content type) and its length.
std::string_view string_field(const std::byte* p, int i) noexcept {
  // Empty, inside the record (where a full-form record's empty strings are).
  if (is_short(p)) return {reinterpret_cast<const char*>(p + format::kShortHeaderSize), 0};
  std::size_t off = rec::kStrings;
  for (int k = 0; k < i; ++k) off += load<std::uint16_t>(p + rec::kIdLen + 2 * k);
  const std::size_t len = load<std::uint16_t>(p + rec::kIdLen + 2 * i);
  return {reinterpret_cast<const char*>(p + off), len};
}

std::size_t headers_begin(const std::byte* p) noexcept {
  std::size_t off = rec::kStrings;
  for (int k = 0; k < 6; ++k) off += load<std::uint16_t>(p + rec::kIdLen + 2 * k);
  return off;
}

}  // namespace

std::uint64_t RecordView::sequence() const noexcept { return load<std::uint64_t>(p_ + rec::kSequence); }
std::int64_t RecordView::timestamp_ns() const noexcept { return load<std::int64_t>(p_ + rec::kTimestamp); }
std::uint32_t RecordView::schema_version() const noexcept {
  return is_short(p_) ? 0 : load<std::uint32_t>(p_ + rec::kSchema);
}
std::uint32_t RecordView::size_bytes() const noexcept {
  return load<std::uint32_t>(p_ + rec::kLength) & format::kLengthMask;
}
std::string_view RecordView::id() const noexcept { return string_field(p_, 0); }
std::string_view RecordView::key() const noexcept { return string_field(p_, 1); }
std::string_view RecordView::correlation_id() const noexcept { return string_field(p_, 2); }
std::string_view RecordView::reply_to() const noexcept { return string_field(p_, 3); }
std::string_view RecordView::trace_id() const noexcept { return string_field(p_, 4); }
std::string_view RecordView::content_type() const noexcept { return string_field(p_, 5); }
std::size_t RecordView::header_count() const noexcept {
  return is_short(p_) ? 0 : load<std::uint16_t>(p_ + rec::kHeaderCount);
}

std::string_view RecordView::payload() const noexcept {
  // The payload is the record's last field.
  const std::uint32_t size = size_bytes();
  const std::size_t len = is_short(p_) ? size - format::kShortHeaderSize : load<std::uint32_t>(p_ + rec::kPayloadLen);
  return {reinterpret_cast<const char*>(p_) + size - len, len};
}

Header RecordView::header(std::size_t i) const noexcept {
  std::size_t off = headers_begin(p_);
  for (std::size_t k = 0;; ++k) {
    const std::size_t nlen = load<std::uint16_t>(p_ + off);
    const std::size_t vlen = load<std::uint16_t>(p_ + off + 2);
    if (k == i) {
      const char* base = reinterpret_cast<const char*>(p_ + off + 4);
      return {{base, nlen}, {base + nlen, vlen}};
    }
    off += 4 + nlen + vlen;
  }
}

std::optional<std::string_view> RecordView::find_header(std::string_view name) const noexcept {
  const std::size_t n = header_count();
  for (std::size_t i = 0; i < n; ++i) {
    Header h = header(i);
    if (h.name == name) return h.value;
  }
  return std::nullopt;
}

}  // namespace conduit
