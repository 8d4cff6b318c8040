// conduit log format, version 3. The one place the on-disk (and in-memory)
// layout is written down; doc/log-format.md spells it out with an example.
//
// A topic's log is a list of segments. A segment is one contiguous region (a
// preallocated file, or anonymous memory for memory-only topics), named by the
// sequence of its first record. Every integer is little-endian; records start
// 8-byte aligned; zero bytes mean "no record here", so a zero-filled tail
// reads as the end of the log.
//
// Segment header (64 bytes, at offset 0):
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +---------------------------------------------------------------+
//  0|                  magic "CNDTSEG1" (8 bytes)                   |
//   +-------------------------------+-------------------------------+
//  8|        format version         |     header length (64)        |
//   +-------------------------------+-------------------------------+
// 16|                first sequence of the segment                  |
//   +---------------------------------------------------------------+
// 24|             creation time, ns since the Unix epoch            |
//   +---------------------------------------------------------------+
// 32|            capacity: bytes in the segment, header included    |
//   +-------------------------------+-------------------------------+
// 40|     flags (bit 0: CRCs)       |      reserved, zero ...       |
//   +-------------------------------+-------------------------------+
// 48|                  ... reserved, zero ...       |  header CRC32C |
//   +-----------------------------------------------+---------------+
//   (header CRC32C is at 60 and covers bytes [0, 60))
//
// Record (at offset 64 and after, each starting 8-byte aligned), in one of
// two forms. The full form:
//
//   +-------------------------------+-------------------------------+
//  0|P|S|K|  length (29 bits)       |   CRC32C of bytes [8, length) |
//   +-------------------------------+-------------------------------+
//  8|                           sequence                            |
//   +---------------------------------------------------------------+
// 16|                 timestamp, ns since the Unix epoch            |
//   +-------------------------------+-------------------------------+
// 24|         payload length        |         schema version        |
//   +---------------+---------------+---------------+---------------+
// 32|    id len     |    key len    | correlation   |  reply-to len |
//   +---------------+---------------+---------------+---------------+
// 40|  trace len    | content type  | header count  |  flags (0)    |
//   +---------------+---------------+---------------+---------------+
// 48| id, key, correlation id, reply-to, trace id, content type     |
//   | bytes, back to back; then header_count times                  |
//   | [u16 name length][u16 value length][name][value];             |
//   | then the payload. The record is padded with zeros to 8 bytes. |
//   +---------------------------------------------------------------+
//
// The short form (S set; version 2): a record with no envelope field, schema
// version 0 and a payload of at least 24 bytes. The payload follows the
// timestamp and is length - 24 bytes; every envelope field reads as empty
// and the schema version as 0:
//
//   +-------------------------------+-------------------------------+
//  0|0|1|0|  length (29 bits)       |   CRC32C of bytes [8, length) |
//   +-------------------------------+-------------------------------+
//  8|                           sequence                            |
//   +---------------------------------------------------------------+
// 16|                 timestamp, ns since the Unix epoch            |
//   +---------------------------------------------------------------+
// 24| payload, padded with zeros to 8 bytes                         |
//   +---------------------------------------------------------------+
//
// The 24-byte floor on the payload keeps every record at least 48 bytes
// long, the bound a segment's record index and record count are sized by.
// A 64 B payload takes 88 bytes instead of 112: most of a small record's
// cost is its bytes (bench/README.md, "Short records"). A version 2 reader
// reads version 1 segments (no S bit is ever set there: no record or
// padding of version 1 reaches 1 GiB); a version 1 reader refuses version
// 2 segments by their header, and the engine relabels a version 1 open
// tail as version 2 before it appends to it.
//
// The skip record (K set; version 3): a claim (Topic::claim) that was abandoned, or
// taken back at close or delete before its owner committed it. It keeps
// its sequence, so sequences stay dense; every reader steps over it and
// hands nothing out. Only its first 16 bytes mean anything:
//
//   +-------------------------------+-------------------------------+
//  0|0|0|1|  length (29 bits)       |   CRC32C of bytes [8, 16)     |
//   +-------------------------------+-------------------------------+
//  8|                           sequence                            |
//   +---------------------------------------------------------------+
// 16| whatever the claim left there: never read, never checked      |
//   +---------------------------------------------------------------+
//
// `length` is the room the claim took (at least 16; the next record starts
// at align_up(length)). A check covers the length (it fits the segment),
// the sequence (the one expected there) and, in a segment with CRCs, the
// CRC of the sequence; the body is not covered. Anyone who knows a claim's
// offset, byte length and sequence can write it (write_skip()): no other
// field of the claim is needed, so another process can repair the claim
// of a publisher that died holding it. Records are under 512 MiB (a
// segment's most), so the length has 29 bits. A build from before skip
// records would read the K bit as an impossible length and cut the log
// there as a torn tail, so they came with version 3: a version 2 reader
// refuses a version 3 segment by its header, and the engine relabels an
// older open tail as version 3 before it appends to it (as for version 2).
// A version 3 reader reads version 1 and 2 segments as they are, and steps
// over a skip record in any of them (builds of 2026-12-07 wrote them under
// version 2 before the bump; no older build set bit 29).
//
// `length` counts the whole record, this header included, before padding.
// The length word is the commit: a writer fills every other byte, then
// stores the length with release order; a reader acquire-loads it and stops
// at 0. P set (0x8000'0000) marks padding: the segment ends here and the next
// record is in the next segment. The CRC is 0 in segments whose flags say
// "no CRCs" (memory-only topics, which never meet a disk).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/disk_names.h"
#include "common/little_endian.h"
#include "conduit/message.h"

namespace conduit::format {

using disk::kSegmentMagic;                          // "CNDTSEG1" (common/disk_names.h)
inline constexpr std::uint32_t kVersion = 3;        // written
inline constexpr std::uint32_t kOldestVersion = 1;  // the oldest read
inline constexpr std::size_t kSegmentHeaderSize = 64;
inline constexpr std::size_t kRecordHeaderSize = 48;
inline constexpr std::size_t kShortHeaderSize = 24;
inline constexpr std::size_t kShortMinPayload = kRecordHeaderSize - kShortHeaderSize;
inline constexpr std::size_t kAlign = 8;
inline constexpr std::uint32_t kPaddingFlag = 0x8000'0000u;
inline constexpr std::uint32_t kShortFlag = 0x4000'0000u;
inline constexpr std::uint32_t kSkipFlag = 0x2000'0000u;
inline constexpr std::uint32_t kLengthMask = 0x1fff'ffffu;
inline constexpr std::uint32_t kSkipMinLength = 16;  // the length word, the CRC and the sequence
inline constexpr std::uint32_t kSegmentFlagCrc = 1u;
inline constexpr std::size_t kMaxFieldBytes = 0xffff;

// Segment header field offsets.
namespace seg {
inline constexpr std::size_t kMagic = 0, kVersion = 8, kHeaderLen = 12, kFirstSeq = 16, kCreated = 24, kCapacity = 32,
                             kFlags = 40, kHeaderCrc = 60;
}  // namespace seg

// Record header field offsets.
namespace rec {
inline constexpr std::size_t kLength = 0, kCrc = 4, kSequence = 8, kTimestamp = 16, kPayloadLen = 24, kSchema = 28,
                             kIdLen = 32, kKeyLen = 34, kCorrLen = 36, kReplyLen = 38, kTraceLen = 40, kTypeLen = 42,
                             kHeaderCount = 44, kFlags = 46, kStrings = 48;
}  // namespace rec
static_assert(rec::kStrings == kRecordHeaderSize);
static_assert(seg::kHeaderCrc + 4 == kSegmentHeaderSize);

inline constexpr std::size_t align_up(std::size_t n) noexcept { return (n + kAlign - 1) & ~(kAlign - 1); }

// The commit word of a record. Release pairs with the acquire in
// load_length(): a reader that sees the length sees every byte before it.
inline void commit_length(std::byte* record, std::uint32_t length) noexcept {
  std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(record)).store(length, std::memory_order_release);
}
inline std::uint32_t load_length(const std::byte* record) noexcept {
  // Acquire pairs with commit_length()'s release.
  return std::atomic_ref<const std::uint32_t>(*reinterpret_cast<const std::uint32_t*>(record))
      .load(std::memory_order_acquire);
}

// No envelope field but the payload (and the schema version): the common
// case, encoded without walking the fields.
inline bool envelope_empty(const Message& m) noexcept {
  return (m.id.size() | m.key.size() | m.correlation_id.size() | m.reply_to.size() | m.trace_id.size() |
          m.content_type.size() | m.headers.size()) == 0;
}
// True when `m` is written in the short form (see above).
inline bool short_form(const Message& m) noexcept {
  return m.payload.size() >= kShortMinPayload && m.schema_version == 0 && envelope_empty(m);
}

// Bytes the encoded record takes, unpadded; 0 if a field is over its limit.
// The short form is sized inline (a batch sizes every message before its
// claim); encoded_size_long() does the rest.
std::size_t encoded_size_long(const Message& m) noexcept;
inline std::size_t encoded_size(const Message& m) noexcept {
  if (short_form(m))
    return m.payload.size() <= kLengthMask - kShortHeaderSize ? kShortHeaderSize + m.payload.size() : 0;
  return encoded_size_long(m);
}

// CRC of a committed record (the value its crc field should hold).
std::uint32_t record_crc(const std::byte* record, std::uint32_t length) noexcept;

// Writes every byte of the record except the length word (left as it is, 0
// for a fresh log) and returns the word to commit: the length, with
// kShortFlag for the short form (word & kLengthMask is the length). `dst`
// has room for align_up(encoded_size(m)) bytes; the padding bytes are zeroed.
std::uint32_t encode_record(std::byte* dst, const Message& m, std::uint64_t sequence, std::int64_t timestamp_ns,
                            bool with_crc) noexcept;
// encode_record() of a message in the short form (short_form(m)), inline:
// the records of a publish or a batch of bare messages are this, and the
// call with its form tests cost about as much as the copy of 64 bytes.
inline std::uint32_t encode_short(std::byte* dst, std::string_view payload, std::uint64_t sequence,
                                  std::int64_t timestamp_ns, bool with_crc) noexcept {
  store<std::uint64_t>(dst + rec::kSequence, sequence);
  store<std::int64_t>(dst + rec::kTimestamp, timestamp_ns);
  std::memcpy(dst + kShortHeaderSize, payload.data(), payload.size());
  const auto length = static_cast<std::uint32_t>(kShortHeaderSize + payload.size());
  if (const std::size_t pad = align_up(length) - length; pad != 0) std::memset(dst + length, 0, pad);
  store<std::uint32_t>(dst + rec::kCrc, with_crc ? record_crc(dst, length) : 0u);
  return length | kShortFlag;
}

// A record whose payload is written in place after its header
// (Topic::claim): encoded_size() of `envelope` with a payload of
// `payload_bytes` (envelope.payload is not looked at); 0 if over a limit.
std::size_t encoded_size_with(const Message& envelope, std::size_t payload_bytes) noexcept;
struct Head {
  std::uint32_t word;            // the length word to commit, as encode_record()'s
  std::uint32_t payload_offset;  // where the payload goes, from the record's start
};
// Writes what encode_record() writes except the payload and the CRC: the
// header, the envelope and the padding after the payload (room for
// align_up(encoded_size_with(envelope, payload_bytes)) bytes). The caller
// writes the payload, then the CRC (seal_crc()), then commits the word.
Head encode_head(std::byte* dst, const Message& envelope, std::size_t payload_bytes, std::uint64_t sequence,
                 std::int64_t timestamp_ns) noexcept;
inline void seal_crc(std::byte* record, std::uint32_t word, bool with_crc) noexcept {
  store<std::uint32_t>(record + rec::kCrc, with_crc ? record_crc(record, word & kLengthMask) : 0u);
}

// Writes and commits (release) a skip record of `length` bytes (at least
// kSkipMinLength) with `sequence` at `record`: its sequence, then its CRC,
// then its length word. The bytes after the sequence are left as they are.
// fill_skip() writes the sequence and CRC alone (the word stored apart).
inline void fill_skip(std::byte* record, std::uint64_t sequence, bool with_crc) noexcept {
  store<std::uint64_t>(record + rec::kSequence, sequence);
  store<std::uint32_t>(record + rec::kCrc, with_crc ? record_crc(record, kSkipMinLength) : 0u);
}
inline void write_skip(std::byte* record, std::uint32_t length, std::uint64_t sequence, bool with_crc) noexcept {
  fill_skip(record, sequence, with_crc);
  commit_length(record, kSkipFlag | length);
}
// commit_length() where the word may have been stored by someone else: the
// owner ending a claim it believes abandoned (doc/ipc.md, "A publisher that
// dies mid-claim"). Stores `length` only over 0; false, with *found the
// word there, when another store came first. Release on success pairs with
// load_length()'s acquire; acquire on failure pairs with the winner's
// release (the caller reads what it wrote).
inline bool commit_length_if_empty(std::byte* record, std::uint32_t length, std::uint32_t* found) noexcept {
  std::uint32_t expected = 0;
  const bool won = std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(record))
                       .compare_exchange_strong(expected, length, std::memory_order_release, std::memory_order_acquire);
  *found = expected;
  return won;
}
inline bool is_skip(std::uint32_t word) noexcept { return (word & (kPaddingFlag | kSkipFlag)) == kSkipFlag; }

// Field-level check of a record whose length is known (its length word says
// which form it is): the lengths inside add up to `length`. Does not look at
// the CRC.
bool record_fields_consistent(const std::byte* record, std::uint32_t length) noexcept;

struct SegmentHeader {
  std::uint32_t version = kVersion;
  std::uint64_t first_seq = 0;
  std::int64_t created_ns = 0;
  std::uint64_t capacity = 0;
  std::uint32_t flags = 0;
};
void encode_segment_header(std::byte* dst, const SegmentHeader& h) noexcept;
enum class HeaderCheck { kOk, kBadMagic, kBadVersion, kBadCrc, kBadLength };
HeaderCheck decode_segment_header(const std::byte* src, SegmentHeader* out) noexcept;
const char* header_check_name(HeaderCheck c) noexcept;
// "1 to 3": the segment format versions this build reads, for errors.
std::string versions_read();

}  // namespace conduit::format
