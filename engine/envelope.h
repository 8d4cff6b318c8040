// A record's envelope as a Message to publish again elsewhere (a dead
// letter, a delayed record released into its target), and why an envelope
// is over its limits.
//
// Thread safety: a function over a view; the Message refers to the
// record's bytes and to `headers`, which must outlive its publish.
#pragma once

#include <span>
#include <string>

#include "conduit/message.h"

namespace conduit::detail {

// Everything but the timestamp (the new record gets its own) and the
// headers, which the caller chooses.
inline Message republish_message(const RecordView& v, std::span<const Header> headers) noexcept {
  Message m;
  m.payload = v.payload();
  m.id = v.id();
  m.key = v.key();
  m.correlation_id = v.correlation_id();
  m.reply_to = v.reply_to();
  m.trace_id = v.trace_id();
  m.content_type = v.content_type();
  m.schema_version = v.schema_version();
  m.headers = headers;
  return m;
}

// Why `m`'s envelope cannot be published: the field over its limit
// (65535 bytes a string, header name or value; 65535 headers) or, when only
// their sum is over `max_envelope_bytes`, the sum and the largest field,
// with sizes. Empty when it is within the limits.
std::string envelope_too_large(const Message& m, std::size_t max_envelope_bytes);

}  // namespace conduit::detail
