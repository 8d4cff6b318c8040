// The envelope as NATS headers, both ways (doc/bridge.md, "Header mapping").
// Values are percent-encoded where NATS headers cannot carry the bytes as
// they are, so every field comes back byte for byte. No thread safety needed.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conduit/message.h"
#include "conduit/status.h"

namespace conduit::bridge::detail {

namespace hdr {
inline constexpr const char* kMsgId = "Nats-Msg-Id";
inline constexpr const char* kSequence = "Conduit-Sequence";  // source sequence (information only)
inline constexpr const char* kTimestamp = "Conduit-Timestamp";
inline constexpr const char* kKey = "Conduit-Key";
inline constexpr const char* kCorrelationId = "Conduit-Correlation-Id";
inline constexpr const char* kReplyTo = "Conduit-Reply-To";
inline constexpr const char* kTraceId = "Conduit-Trace-Id";
inline constexpr const char* kContentType = "Conduit-Content-Type";
inline constexpr const char* kSchemaVersion = "Conduit-Schema-Version";
inline constexpr const char* kHeaders = "Conduit-Headers";
}  // namespace hdr

// '%' and the bytes a NATS header value cannot hold (controls, and spaces at
// either end) become %XX; `list` also escapes '&' and '=' (Conduit-Headers).
std::string percent_encode(std::string_view in, bool list = false);
// kInvalidArgument on a malformed escape.
Result<std::string> percent_decode(std::string_view in);

// A NATS message on `subject` carrying the record's payload and envelope.
// `id` is the Nats-Msg-Id: the record's id, or one made from topic and
// sequence when it has none. kIOError with libnats' text on failure.
Result<natsMsg*> to_nats(const RecordView& record, std::string_view topic, const char* subject);

// The envelope of a NATS message, owning its strings; message() views them.
struct Envelope {
  std::string payload, id, key, correlation_id, reply_to, trace_id, content_type;
  std::uint32_t schema_version = 0;
  std::int64_t timestamp_ns = 0;
  std::vector<std::string> names, values;
  std::vector<Header> headers;
  Message message();
};

// Reads the envelope back. Headers that are not conduit's or NATS' own become
// user headers after those of Conduit-Headers. `fallback_id` is used when
// the message has no Nats-Msg-Id. kInvalidArgument on a malformed value.
Status from_nats(natsMsg* msg, std::string_view fallback_id, Envelope* out);

// "nats: <what>: <libnats' status text> (<last error>)".
Status nats_error(std::string_view what, natsStatus s);

}  // namespace conduit::bridge::detail
