// What every fuzz target asserts about a record the format accepted: its
// decoded fields lie inside it, and encoding them again gives its bytes back.
#pragma once

#include <conduit/inspect.h>
#include <conduit/message.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "fuzz_support.h"

namespace conduit::fuzz {

// A Message over the six envelope strings in their on-disk order (id, key,
// correlation id, reply-to, trace id, content type).
template <class Str>
Message make_message(std::string_view payload, const Str (&strings)[6], std::uint32_t schema,
                     std::span<const Header> headers) {
  Message m;
  m.payload = payload;
  m.id = strings[0];
  m.key = strings[1];
  m.correlation_id = strings[2];
  m.reply_to = strings[3];
  m.trace_id = strings[4];
  m.content_type = strings[5];
  m.schema_version = schema;
  m.headers = headers;
  return m;
}

// The record header bytes a round trip must give back: from the sequence
// (offset 8; the length word and CRC before it are the writer's to fill in)
// to the end, except a full-form record's flags at 46-47, which are written
// 0 and not checked by readers (doc/log-format.md).
inline constexpr std::size_t kRecordSequenceOffset = 8;
inline constexpr std::size_t kRecordFlagsOffset = 46;
inline constexpr std::uint32_t kShortFormBit = 0x4000'0000u;  // in the length word
inline constexpr std::uint32_t kPaddingBit = 0x8000'0000u;
inline constexpr std::uint32_t kSkipBit = 0x2000'0000u;  // a skip record (an abandoned claim)
inline constexpr std::uint32_t kSkipLengthMask = 0x1fff'ffffu;
inline constexpr std::uint32_t kSkipMinLength = 16;

// Steps `*index` and `*offset` over the skip records a scan counted but did
// not hand to its callback, up to record `to`.
inline void step_over_skips(const std::byte* segment, std::uint64_t to, std::uint64_t* index, std::size_t* offset) {
  while (*index < to) {
    std::uint32_t word = 0;
    std::memcpy(&word, segment + *offset, sizeof word);
    FUZZ_CHECK((word & (kPaddingBit | kSkipBit)) == kSkipBit);
    *offset += inspect::padded_size(word & kSkipLengthMask);
    ++*index;
  }
}

// `record` holds a record of `length` bytes that inspect::decode_record()
// accepted. Decodes it through RecordView, checks every view stays inside the
// record, and re-encodes it: the bytes from the sequence to the end match,
// or, for a full-form record of a message the writer now puts in the short
// form (as version 1 wrote it), the short record has the same fields.
inline void check_accepted_record(const std::byte* record, std::uint32_t length) {
  std::uint32_t first_word = 0;
  std::memcpy(&first_word, record, sizeof first_word);
  if ((first_word & (kPaddingBit | kSkipBit)) == kSkipBit) {
    FUZZ_CHECK(length >= kSkipMinLength);  // a skip record: its body means nothing
    return;
  }
  const RecordView v(record);
  const std::byte* end = record + length;
  FUZZ_CHECK(v.size_bytes() == length);
  const std::string_view strings[] = {v.id(),       v.key(),      v.correlation_id(),
                                      v.reply_to(), v.trace_id(), v.content_type()};
  for (std::string_view s : strings) FUZZ_CHECK(within(s.data(), s.size(), record, end));
  const std::string_view payload = v.payload();
  FUZZ_CHECK(within(payload.data(), payload.size(), record, end));
  FUZZ_CHECK(reinterpret_cast<const std::byte*>(payload.data()) + payload.size() == end);
  std::vector<Header> headers(v.header_count());
  for (std::size_t i = 0; i < headers.size(); ++i) {
    headers[i] = v.header(i);
    FUZZ_CHECK(within(headers[i].name.data(), headers[i].name.size(), record, end));
    FUZZ_CHECK(within(headers[i].value.data(), headers[i].value.size(), record, end));
    // find_header returns the first header of that name.
    const auto found = v.find_header(headers[i].name);
    FUZZ_CHECK(found.has_value());
    FUZZ_CHECK(within(found->data(), found->size(), record, end));
  }

  const Message m = make_message(payload, strings, v.schema_version(), headers);
  std::uint32_t word = 0;
  std::memcpy(&word, record, sizeof word);
  const bool is_short = (word & kShortFormBit) != 0;
  const std::size_t size = inspect::record_size(m);
  std::vector<std::byte> again(inspect::padded_size(size));
  auto n = inspect::encode_record(again, m, v.sequence(), v.timestamp_ns(), false);
  FUZZ_CHECK(n.ok() && *n == size);
  if (size != length) {
    constexpr std::size_t kSaved = inspect::kRecordHeaderBytes - inspect::kShortRecordHeaderBytes;
    FUZZ_CHECK(!is_short && size + kSaved == length);
    const RecordView w(again.data());
    FUZZ_CHECK(w.sequence() == v.sequence() && w.timestamp_ns() == v.timestamp_ns() && w.payload() == payload);
    FUZZ_CHECK(w.schema_version() == 0 && w.header_count() == 0 && w.key().empty() && w.id().empty());
    return;
  }
  for (std::size_t i = kRecordSequenceOffset; i < length; ++i) {
    if (!is_short && (i == kRecordFlagsOffset || i == kRecordFlagsOffset + 1)) continue;
    FUZZ_CHECK(again[i] == record[i]);
  }
}

}  // namespace conduit::fuzz
