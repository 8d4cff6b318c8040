#include "common/format.h"

#include "common/crc32c.h"

namespace conduit::format {
namespace {

// The six envelope strings in their on-disk order, with the offset of each
// one's u16 length in the record header.
constexpr std::size_t kStringLenOffsets[] = {rec::kIdLen,    rec::kKeyLen,   rec::kCorrLen,
                                             rec::kReplyLen, rec::kTraceLen, rec::kTypeLen};

// Copies `n` bytes, inline where n <= 64: an envelope is a dozen short
// strings, and a libc memcpy call each (through the PLT, then its size
// dispatch) was the largest part of encoding one (perf of engine_bench
// BM_ConduitEnvelope_1P1S). Two fixed-size copies that overlap cover any
// n between their size and twice it; neither reads or writes outside
// [src, src + n) and [dst, dst + n), so a short field next to the end of
// its page or of the record is safe.
[[gnu::always_inline]] inline void copy_bytes(std::byte* dst, const char* src, std::size_t n) noexcept {
  if (n > 64) {
    std::memcpy(dst, src, n);
  } else if (n >= 16) {
    if (n > 32) {
      std::memcpy(dst, src, 32);
      std::memcpy(dst + n - 32, src + n - 32, 32);
    } else {
      std::memcpy(dst, src, 16);
      std::memcpy(dst + n - 16, src + n - 16, 16);
    }
  } else if (n >= 8) {
    std::memcpy(dst, src, 8);
    std::memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(dst, src, 4);
    std::memcpy(dst + n - 4, src + n - 4, 4);
  } else if (n != 0) {  // 1 to 3 bytes; never touches a null view's data()
    dst[0] = static_cast<std::byte>(src[0]);
    dst[n / 2] = static_cast<std::byte>(src[n / 2]);
    dst[n - 1] = static_cast<std::byte>(src[n - 1]);
  }
}

// Writes the string lengths, header count and flags, then the strings and
// headers; returns where the payload goes.
std::byte* encode_envelope(std::byte* dst, const Message& m) noexcept {
  const std::string_view strings[] = {m.id, m.key, m.correlation_id, m.reply_to, m.trace_id, m.content_type};
  std::byte* p = dst + rec::kStrings;
  for (std::size_t i = 0; i < 6; ++i) {
    store<std::uint16_t>(dst + kStringLenOffsets[i], static_cast<std::uint16_t>(strings[i].size()));
    copy_bytes(p, strings[i].data(), strings[i].size());
    p += strings[i].size();
  }
  store<std::uint16_t>(dst + rec::kHeaderCount, static_cast<std::uint16_t>(m.headers.size()));
  store<std::uint16_t>(dst + rec::kFlags, 0);
  for (const Header& h : m.headers) {
    // The two u16 lengths in one store.
    const std::uint32_t lengths = static_cast<std::uint32_t>(h.name.size() | h.value.size() << 16);
    store<std::uint32_t>(p, lengths);
    copy_bytes(p + 4, h.name.data(), h.name.size());
    copy_bytes(p + 4 + h.name.size(), h.value.data(), h.value.size());
    p += 4 + h.name.size() + h.value.size();
  }
  return p;
}

}  // namespace

std::size_t encoded_size_long(const Message& m) noexcept {
  if (envelope_empty(m))
    return m.payload.size() <= kLengthMask - kRecordHeaderSize ? kRecordHeaderSize + m.payload.size() : 0;
  // One pass: the sizes added up and OR-ed together. Some field is over
  // kMaxFieldBytes (all ones) exactly when the OR has a bit above it. (Sums
  // of sizes that big may wrap; such a message is refused either way.)
  std::size_t envelope = m.id.size() + m.key.size() + m.correlation_id.size() + m.reply_to.size() + m.trace_id.size() +
                         m.content_type.size();
  std::size_t fields = m.id.size() | m.key.size() | m.correlation_id.size() | m.reply_to.size() | m.trace_id.size() |
                       m.content_type.size() | m.headers.size();
  for (const Header& h : m.headers) {
    envelope += 4 + h.name.size() + h.value.size();
    fields |= h.name.size() | h.value.size();
  }
  if (fields > kMaxFieldBytes || envelope > kLengthMask - kRecordHeaderSize ||
      m.payload.size() > kLengthMask - kRecordHeaderSize - envelope)
    return 0;
  return kRecordHeaderSize + envelope + m.payload.size();
}

std::uint32_t encode_record(std::byte* dst, const Message& m, std::uint64_t sequence, std::int64_t timestamp_ns,
                            bool with_crc) noexcept {
  if (short_form(m)) return encode_short(dst, m.payload, sequence, timestamp_ns, with_crc);
  store<std::uint64_t>(dst + rec::kSequence, sequence);
  store<std::int64_t>(dst + rec::kTimestamp, timestamp_ns);
  store<std::uint32_t>(dst + rec::kPayloadLen, static_cast<std::uint32_t>(m.payload.size()));
  store<std::uint32_t>(dst + rec::kSchema, m.schema_version);
  // Where the payload goes.
  std::byte* p = dst + rec::kStrings;
  if (envelope_empty(m)) {
    // Six string lengths, the header count and the flags: all zero.
    store<std::uint64_t>(dst + rec::kIdLen, 0);
    store<std::uint64_t>(dst + rec::kTraceLen, 0);
  } else {
    p = encode_envelope(dst, m);
  }
  copy_bytes(p, m.payload.data(), m.payload.size());
  p += m.payload.size();
  const auto length = static_cast<std::uint32_t>(p - dst);
  if (const std::size_t pad = align_up(length) - length; pad != 0) std::memset(p, 0, pad);
  store<std::uint32_t>(dst + rec::kCrc, with_crc ? record_crc(dst, length) : 0u);
  return length;  // the long form: no flag
}

namespace {
bool short_with(const Message& envelope, std::size_t payload_bytes) noexcept {
  return payload_bytes >= kShortMinPayload && envelope.schema_version == 0 && envelope_empty(envelope);
}
}  // namespace

std::size_t encoded_size_with(const Message& envelope, std::size_t payload_bytes) noexcept {
  // The short form first, without the copy below (a claim sizes its record
  // twice: in claim() and in encode_head()).
  if (short_with(envelope, payload_bytes))
    return payload_bytes <= kLengthMask - kShortHeaderSize ? kShortHeaderSize + payload_bytes : 0;
  Message m = envelope;
  m.payload = {};
  const std::size_t head = encoded_size(m);
  if (head == 0 || payload_bytes > kLengthMask - head) return 0;
  return head + payload_bytes;
}

Head encode_head(std::byte* dst, const Message& envelope, std::size_t payload_bytes, std::uint64_t sequence,
                 std::int64_t timestamp_ns) noexcept {
  store<std::uint64_t>(dst + rec::kSequence, sequence);
  store<std::int64_t>(dst + rec::kTimestamp, timestamp_ns);
  const std::size_t length = encoded_size_with(envelope, payload_bytes);
  std::byte* p = dst + kShortHeaderSize;
  std::uint32_t form = kShortFlag;
  if (!short_with(envelope, payload_bytes)) {
    form = 0;
    store<std::uint32_t>(dst + rec::kPayloadLen, static_cast<std::uint32_t>(payload_bytes));
    store<std::uint32_t>(dst + rec::kSchema, envelope.schema_version);
    p = encode_envelope(dst, envelope);
  }
  if (const std::size_t pad = align_up(length) - length; pad != 0) std::memset(dst + length, 0, pad);
  return {static_cast<std::uint32_t>(length) | form, static_cast<std::uint32_t>(p - dst)};
}

std::uint32_t record_crc(const std::byte* record, std::uint32_t length) noexcept {
  return crc32c::value(record + rec::kSequence, length - rec::kSequence);
}

bool record_fields_consistent(const std::byte* record, std::uint32_t length) noexcept {
  if (length < kRecordHeaderSize) return false;                              // either form (see kShortMinPayload)
  if (load<std::uint32_t>(record + rec::kLength) & kShortFlag) return true;  // the payload is the rest
  std::size_t n = kRecordHeaderSize + load<std::uint32_t>(record + rec::kPayloadLen);
  for (std::size_t off : kStringLenOffsets) n += load<std::uint16_t>(record + off);
  if (n > length) return false;
  // Walk the headers without reading past the record.
  const std::size_t count = load<std::uint16_t>(record + rec::kHeaderCount);
  std::size_t pos = kRecordHeaderSize;
  for (std::size_t off : kStringLenOffsets) pos += load<std::uint16_t>(record + off);
  for (std::size_t i = 0; i < count; ++i) {
    if (pos + 4 > length) return false;
    const std::size_t h = 4u + load<std::uint16_t>(record + pos) + load<std::uint16_t>(record + pos + 2);
    pos += h;
    n += h;
    if (n > length) return false;
  }
  return n == length;
}

void encode_segment_header(std::byte* dst, const SegmentHeader& h) noexcept {
  std::memset(dst, 0, kSegmentHeaderSize);
  store<std::uint64_t>(dst + seg::kMagic, kSegmentMagic);
  store<std::uint32_t>(dst + seg::kVersion, h.version);
  store<std::uint32_t>(dst + seg::kHeaderLen, static_cast<std::uint32_t>(kSegmentHeaderSize));
  store<std::uint64_t>(dst + seg::kFirstSeq, h.first_seq);
  store<std::int64_t>(dst + seg::kCreated, h.created_ns);
  store<std::uint64_t>(dst + seg::kCapacity, h.capacity);
  store<std::uint32_t>(dst + seg::kFlags, h.flags);
  store<std::uint32_t>(dst + seg::kHeaderCrc, crc32c::value(dst, seg::kHeaderCrc));
}

HeaderCheck decode_segment_header(const std::byte* src, SegmentHeader* out) noexcept {
  if (load<std::uint64_t>(src + seg::kMagic) != kSegmentMagic) return HeaderCheck::kBadMagic;
  if (load<std::uint32_t>(src + seg::kHeaderCrc) != crc32c::value(src, seg::kHeaderCrc)) return HeaderCheck::kBadCrc;
  out->version = load<std::uint32_t>(src + seg::kVersion);
  if (out->version < kOldestVersion || out->version > kVersion) return HeaderCheck::kBadVersion;
  if (load<std::uint32_t>(src + seg::kHeaderLen) != kSegmentHeaderSize) return HeaderCheck::kBadLength;
  out->first_seq = load<std::uint64_t>(src + seg::kFirstSeq);
  out->created_ns = load<std::int64_t>(src + seg::kCreated);
  out->capacity = load<std::uint64_t>(src + seg::kCapacity);
  out->flags = load<std::uint32_t>(src + seg::kFlags);
  return HeaderCheck::kOk;
}

const char* header_check_name(HeaderCheck c) noexcept {
  switch (c) {
    case HeaderCheck::kOk: return "ok";
    case HeaderCheck::kBadMagic: return "bad magic (not a conduit segment)";
    case HeaderCheck::kBadVersion: return "unknown format version";
    case HeaderCheck::kBadCrc: return "segment header CRC mismatch";
    case HeaderCheck::kBadLength: return "bad segment header length";
  }
  return "?";
}

std::string versions_read() { return std::to_string(kOldestVersion) + " to " + std::to_string(kVersion); }

}  // namespace conduit::format
