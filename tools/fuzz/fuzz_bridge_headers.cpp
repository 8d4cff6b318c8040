// Fuzz target: the inbound bridge's envelope headers (bridge/envelope_headers.h),
// what a NATS peer sends. The first byte picks the property:
//   even: the input is an envelope (strings, user headers, schema, timestamp,
//         payload); it is encoded as a record, turned into NATS headers
//         (to_nats) and read back (from_nats), which must give every field
//         back byte for byte;
//   odd:  the input is NATS headers as a peer may send them (key and value
//         pairs, any bytes but NUL); from_nats gives an envelope or a clear
//         error (kInvalidArgument with a message), and an envelope it gives
//         goes through to_nats and from_nats again unchanged.
#include <nats/nats.h>

#include <conduit/inspect.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bridge/envelope_headers.h"
#include "fuzz_support.h"
#include "record_checks.h"

namespace {

using namespace conduit;
namespace detail = conduit::bridge::detail;

constexpr const char* kTopic = "orders";
constexpr const char* kSubject = "conduit.orders";

std::string take_string(fuzz::ByteReader& in) { return std::string(in.bytes(in.take<std::uint8_t>() % 64)); }

// The record `m` encodes to, read back through a view over `buf`.
RecordView as_record(const Message& m, std::uint64_t seq, std::int64_t ts, std::vector<std::byte>& buf) {
  buf.assign(inspect::padded_size(inspect::record_size(m)), std::byte{0});
  auto n = inspect::encode_record(buf, m, seq, ts);
  FUZZ_CHECK(n.ok());
  return RecordView(buf.data());
}

void check_same(const detail::Envelope& e, const RecordView& r, const std::string& id) {
  FUZZ_CHECK(e.payload == r.payload());
  FUZZ_CHECK(e.id == id);
  FUZZ_CHECK(e.key == r.key() && e.correlation_id == r.correlation_id() && e.reply_to == r.reply_to() &&
             e.trace_id == r.trace_id() && e.content_type == r.content_type());
  FUZZ_CHECK(e.schema_version == r.schema_version() && e.timestamp_ns == r.timestamp_ns());
  FUZZ_CHECK(e.names.size() == r.header_count() && e.values.size() == r.header_count());
  for (std::size_t i = 0; i < r.header_count(); ++i)
    FUZZ_CHECK(e.names[i] == r.header(i).name && e.values[i] == r.header(i).value);
}

// to_nats then from_nats: the envelope of `r` comes back whole.
void round_trip(const RecordView& r, const std::string& fallback) {
  auto msg = detail::to_nats(r, kTopic, kSubject);
  FUZZ_CHECK(msg.ok());
  detail::Envelope back;
  const Status s = detail::from_nats(*msg, fallback, &back);
  natsMsg_Destroy(*msg);
  if (!s.ok()) std::fprintf(stderr, "from_nats: %s\n", s.to_string().c_str());
  FUZZ_CHECK(s.ok());
  const std::string id =
      r.id().empty() ? "conduit:" + std::string(kTopic) + ":" + std::to_string(r.sequence()) : std::string(r.id());
  check_same(back, r, id);
}

void envelope_round_trip(fuzz::ByteReader& in) {
  std::string strings[6];
  for (std::string& s : strings) s = take_string(in);
  const std::size_t count = in.take<std::uint8_t>() % 6;
  std::vector<std::string> names(count), values(count);
  std::vector<Header> headers(count);
  for (std::size_t i = 0; i < count; ++i) {
    names[i] = take_string(in);
    values[i] = take_string(in);
    headers[i] = {names[i], values[i]};
  }
  const auto schema = in.take<std::uint32_t>();
  const auto seq = in.take<std::uint64_t>();
  const auto ts = in.take<std::int64_t>();
  const std::string payload(in.rest());
  std::vector<std::byte> buf;
  round_trip(as_record(fuzz::make_message(payload, strings, schema, headers), seq, ts, buf), "unused");
}

void peer_headers(fuzz::ByteReader& in) {
  natsMsg* msg = nullptr;
  const std::string payload(in.bytes(in.take<std::uint8_t>()));
  FUZZ_CHECK(natsMsg_Create(&msg, kSubject, nullptr, payload.data(), static_cast<int>(payload.size())) == NATS_OK);
  // Keys are drawn mostly from the names the bridge reads, so that their
  // values are what the fuzzer varies.
  static const char* const kKeys[] = {detail::hdr::kMsgId,   detail::hdr::kSequence,      detail::hdr::kTimestamp,
                                      detail::hdr::kKey,     detail::hdr::kCorrelationId, detail::hdr::kReplyTo,
                                      detail::hdr::kTraceId, detail::hdr::kContentType,   detail::hdr::kSchemaVersion,
                                      detail::hdr::kHeaders};
  constexpr std::size_t kKeyCount = sizeof kKeys / sizeof kKeys[0];
  for (int n = in.take<std::uint8_t>() % 8; n > 0 && in.left() != 0; --n) {
    const auto pick = in.take<std::uint8_t>();
    std::string key = pick < 2 * kKeyCount ? kKeys[pick % kKeyCount] : take_string(in);
    std::string value = take_string(in);
    // C strings: a NUL ends them (nor can one cross the wire in a header).
    key = key.substr(0, key.find('\0'));
    value = value.substr(0, value.find('\0'));
    natsMsgHeader_Add(msg, key.c_str(), value.c_str());  // libnats may refuse a key; the rest still counts
  }
  detail::Envelope e;
  const Status s = detail::from_nats(msg, "peer:1", &e);
  natsMsg_Destroy(msg);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == Code::kInvalidArgument && !s.message().empty());
    return;
  }
  FUZZ_CHECK(!e.id.empty() && e.names.size() == e.values.size());
  // What was read back is an envelope like any other: once more through the
  // bridge, it stays as it is.
  const Message m = e.message();
  if (inspect::record_size(m) == 0) return;  // a field over the record format's limit
  std::vector<std::byte> buf;
  round_trip(as_record(m, 1, e.timestamp_ns, buf), "unused");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // libnats' messages need the library opened (its collector frees them).
  static const bool opened = nats_Open(-1) == NATS_OK;
  FUZZ_CHECK(opened);
  fuzz::ByteReader in(data, size);
  if (in.take<std::uint8_t>() % 2 == 0)
    envelope_round_trip(in);
  else
    peer_headers(in);
  return 0;
}
