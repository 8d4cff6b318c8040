// conduit — the envelope: what a publisher hands in and what a reader sees.
//
// Message is the publish side: non-owning views of the caller's bytes, copied
// once into the topic's log by publish(). RecordView is the read side: a view
// of one record in the log, valid for as long as the reader that produced it
// says (see Subscriber::poll). Both are plain values; no thread safety needed.
// The byte layout is common/format.h.
#pragma once

#include "conduit/export.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace conduit {

// One application header of a message: a name and a value, both bytes.
struct Header {
  std::string_view name;   // at most 65535 bytes
  std::string_view value;  // at most 65535 bytes
};

// What to publish. Every field but the payload is optional; an empty string
// means "absent". Limits: each string, header name and header value at most
// 65535 bytes; at most 65535 headers; all fields but the payload together at
// most 64 KiB (each header counts 4 bytes more); the payload at most the
// topic's max_payload_bytes. A publish over a limit fails with kTooLarge
// naming the field and its size, and publishes nothing.
struct Message {
  std::string_view payload;          // the body, at most the topic's max_payload_bytes
  std::string_view id;               // unique message id (the dedup key)
  std::string_view key;              // partitioning / ordering key
  std::string_view correlation_id;   // ties a reply to its request
  std::string_view reply_to;         // topic the reply should go to
  std::string_view trace_id;         // carried to readers (conduit/trace.h)
  std::string_view content_type;     // e.g. "application/json"; opaque to conduit
  std::uint32_t schema_version = 0;  // the application's; opaque to conduit
  std::span<const Header> headers;   // in the order given; names may repeat
  // 0: the engine stamps the record with the wall clock (ns since the epoch).
  std::int64_t timestamp_ns = 0;
};

// A record in the log. Cheap to copy (one pointer). Accessors decode lazily.
class CONDUIT_EXPORT RecordView {
 public:
  RecordView() noexcept = default;
  // A view of the record at `record` in a mapped log (the library's readers
  // make these).
  explicit RecordView(const std::byte* record) noexcept : p_(record) {}

  bool valid() const noexcept { return p_ != nullptr; }  // false: default-constructed
  // The record's fields, as Message names them; views into the log (an
  // absent field is empty).
  // @{
  std::uint64_t sequence() const noexcept;
  std::int64_t timestamp_ns() const noexcept;
  std::string_view payload() const noexcept;
  std::string_view id() const noexcept;
  std::string_view key() const noexcept;
  std::string_view correlation_id() const noexcept;
  std::string_view reply_to() const noexcept;
  std::string_view trace_id() const noexcept;
  std::string_view content_type() const noexcept;
  std::uint32_t schema_version() const noexcept;
  std::size_t header_count() const noexcept;
  // @}
  Header header(std::size_t i) const noexcept;  // i < header_count()
  // The value of the first header named `name`; nullopt if there is none.
  std::optional<std::string_view> find_header(std::string_view name) const noexcept;
  // Bytes the record takes in the log (unpadded, header included).
  std::uint32_t size_bytes() const noexcept;
  const std::byte* data() const noexcept { return p_; }  // the record's first byte in the log

 private:
  const std::byte* p_ = nullptr;
};

}  // namespace conduit
