// conduit/inspect.h's format half: the building blocks over plain buffers.
// Each is a checked front for the one implementation in persistence/
// (format.h, crc32c.h, log_reader.h), so what tests and benchmarks measure
// is what the engine runs.
#include <algorithm>

#include "common/crc32c.h"
#include "common/format.h"
#include "conduit/inspect.h"
#include "persistence/log_reader.h"

namespace conduit::inspect {

static_assert(kFormatVersion == format::kVersion && kOldestFormatVersion == format::kOldestVersion);
static_assert(kSegmentHeaderBytes == format::kSegmentHeaderSize);
static_assert(kRecordHeaderBytes == format::kRecordHeaderSize && kShortRecordHeaderBytes == format::kShortHeaderSize);
static_assert(kRecordAlign == format::kAlign);
static_assert(kMaxFieldBytes == format::kMaxFieldBytes);

std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  return crc32c::extend(crc, data.data(), data.size());
}

std::uint32_t crc32c_portable(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  return crc32c::extend_portable(crc, data.data(), data.size());
}

bool crc32c_hardware() noexcept { return crc32c::hardware_available(); }

std::size_t record_size(const Message& m) noexcept { return format::encoded_size(m); }

Result<std::size_t> encode_record(std::span<std::byte> out, const Message& m, std::uint64_t sequence,
                                  std::int64_t timestamp_ns, bool with_crc) noexcept {
  const std::size_t n = format::encoded_size(m);
  if (n == 0) return Status::InvalidArgument("a field of the message is over its limit of 65535 bytes");
  if (out.size() < format::align_up(n))
    return Status::InvalidArgument("record of " + std::to_string(n) + " bytes does not fit in " +
                                   std::to_string(out.size()));
  const std::uint32_t word = format::encode_record(out.data(), m, sequence, timestamp_ns, with_crc);
  format::store<std::uint32_t>(out.data(), word);  // a private buffer: no reader to publish to
  return std::size_t{word & format::kLengthMask};
}

Status encode_padding(std::span<std::byte> out) noexcept {
  if (out.size() < format::kAlign || out.size() % format::kAlign != 0 || out.size() > format::kLengthMask)
    return Status::InvalidArgument("padding of " + std::to_string(out.size()) +
                                   " bytes: needs a multiple of 8, at least 8");
  std::fill(out.begin(), out.end(), std::byte{0});
  format::store<std::uint32_t>(out.data(), format::kPaddingFlag | static_cast<std::uint32_t>(out.size()));
  return Status::OK();
}

Result<RecordView> decode_record(std::span<const std::byte> bytes, bool check_crc) {
  if (bytes.size() < sizeof(std::uint32_t)) return Status::Corruption("fewer than 4 bytes: no length word");
  const std::uint32_t word = format::load<std::uint32_t>(bytes.data());
  if (word == 0) return Status::NotFound("no record: zero length word");
  if (word & format::kPaddingFlag) return Status::NotFound("padding, not a record");
  // check_record wants the record's sequence; take the one the record says
  // so that only length, CRC and fields are judged here.
  const std::uint64_t seq = bytes.size() >= format::kRecordHeaderSize
                                ? format::load<std::uint64_t>(bytes.data() + format::rec::kSequence)
                                : 0;
  const persistence::RecordCheck c = persistence::check_record(bytes.data(), bytes.size(), 0, word, seq, check_crc);
  if (c.kind != persistence::RecordCheck::kRecord) return Status::Corruption(c.what);
  if (c.skip) return Status::NotFound("a skip record (an abandoned claim), not a message");
  return RecordView(bytes.data());
}

void encode_segment_header(std::span<std::byte> out, const SegmentHeader& h) noexcept {
  if (out.size() < format::kSegmentHeaderSize) return;
  format::SegmentHeader f;
  f.version = h.version;
  f.first_seq = h.first_seq;
  f.created_ns = h.created_ns;
  f.capacity = h.capacity;
  f.flags = h.with_crc ? format::kSegmentFlagCrc : 0;
  format::encode_segment_header(out.data(), f);
}

Result<SegmentHeader> decode_segment_header(std::span<const std::byte> bytes) {
  if (bytes.size() < format::kSegmentHeaderSize)
    return Status::Corruption(std::to_string(bytes.size()) + " bytes, shorter than a segment header");
  format::SegmentHeader f;
  if (const format::HeaderCheck c = format::decode_segment_header(bytes.data(), &f); c != format::HeaderCheck::kOk)
    return Status::Corruption(format::header_check_name(c));
  return SegmentHeader{f.version, f.first_seq, f.created_ns, f.capacity, (f.flags & format::kSegmentFlagCrc) != 0};
}

SegmentScan scan_segment(std::span<const std::byte> segment, std::uint64_t first_seq, bool with_crc,
                         const std::function<void(RecordView, std::uint64_t, std::size_t)>& on_record) {
  SegmentScan out;
  if (segment.size() < format::kSegmentHeaderSize) {
    out.damage = Damage{"", 0, "shorter than a segment header"};
    out.damage_sequence = first_seq;
    return out;
  }
  const std::byte* base = segment.data();
  const persistence::SegmentScan s = persistence::scan_segment(
      base, segment.size(), first_seq, with_crc, [&](std::uint64_t index, std::size_t offset) {
        if (on_record && !format::is_skip(format::load<std::uint32_t>(base + offset)))
          on_record(RecordView(base + offset), index, offset);
      });
  out.records = s.records;
  out.skipped = s.skipped;
  out.end_offset = s.end_offset;
  out.sealed = s.sealed;
  if (s.problem) {
    out.damage = Damage{"", s.problem->offset, s.problem->what};
    out.damage_sequence = s.problem->sequence;
  }
  return out;
}

}  // namespace conduit::inspect
