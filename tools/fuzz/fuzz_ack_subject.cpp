// Fuzz target: the $JS.ACK reply subject the inbound bridge reads a
// delivery's position from (bridge/ack_subject.h), as a NATS peer sends it.
// The input is the subject. One that is refused is refused with a message
// (kInvalidArgument); one that is read formats to a subject that reads back
// to the same fields, and formatting that gives the same text again.
#include <cstdint>
#include <string>
#include <string_view>

#include "bridge/ack_subject.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace conduit;
  using namespace conduit::bridge::detail;
  const std::string_view subject(reinterpret_cast<const char*>(data), size);
  auto a = parse_ack_subject(subject);
  if (!a.ok()) {
    FUZZ_CHECK(a.status().code() == Code::kInvalidArgument && !a.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(!a->stream.empty() && !a->consumer.empty());
  const std::string text = format_ack_subject(*a);
  auto b = parse_ack_subject(text);
  FUZZ_CHECK(b.ok());
  FUZZ_CHECK(b->domain == a->domain && b->account == a->account && b->stream == a->stream &&
             b->consumer == a->consumer && b->delivered == a->delivered && b->stream_seq == a->stream_seq &&
             b->consumer_seq == a->consumer_seq && b->timestamp_ns == a->timestamp_ns && b->pending == a->pending);
  FUZZ_CHECK(format_ack_subject(*b) == text);
  return 0;
}
