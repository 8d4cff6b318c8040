// Fuzz target: conduit-bridge's config file parser (conduit::bridge::parse_config).
// The input is the file's text. One that is refused is refused with a
// message (kInvalidArgument); one that is read formats (format_config) to a
// text that reads back to the same Config, and formats to the same text.
#include <conduit/bridge.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"

namespace {

using namespace conduit::bridge;

bool same(const NatsOptions& a, const NatsOptions& b) {
  return a.url == b.url && a.name == b.name && a.connect_timeout == b.connect_timeout &&
         a.reconnect_wait == b.reconnect_wait && a.reconnect_wait_max == b.reconnect_wait_max &&
         a.max_reconnects == b.max_reconnects && a.request_timeout == b.request_timeout && a.send_asap == b.send_asap;
}

bool same(const Config& a, const Config& b) {
  if (a.data_dir != b.data_dir || a.stats_interval != b.stats_interval || a.topics.size() != b.topics.size() ||
      a.outbound.size() != b.outbound.size() || a.inbound.size() != b.inbound.size())
    return false;
  for (std::size_t i = 0; i < a.topics.size(); ++i)
    if (a.topics[i].name != b.topics[i].name || a.topics[i].durability != b.topics[i].durability ||
        a.topics[i].dedup_ids != b.topics[i].dedup_ids)
      return false;
  for (std::size_t i = 0; i < a.outbound.size(); ++i) {
    const OutboundOptions &x = a.outbound[i], &y = b.outbound[i];
    if (!same(x.nats, y.nats) || x.topic != y.topic || x.subscriber != y.subscriber || x.stream != y.stream ||
        x.subject != y.subject || x.durable_only != y.durable_only || x.create_stream != y.create_stream ||
        x.max_in_flight != y.max_in_flight || x.ack_timeout != y.ack_timeout || x.commit_interval != y.commit_interval)
      return false;
  }
  for (std::size_t i = 0; i < a.inbound.size(); ++i) {
    const InboundOptions &x = a.inbound[i], &y = b.inbound[i];
    if (!same(x.nats, y.nats) || x.topic != y.topic || x.durable != y.durable || x.stream != y.stream ||
        x.subject != y.subject || x.batch != y.batch || x.max_ack_pending != y.max_ack_pending ||
        x.ack_wait != y.ack_wait || x.fetch_wait != y.fetch_wait)
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = parse_config(text);
  if (!c.ok()) {
    FUZZ_CHECK(c.status().code() == conduit::Code::kInvalidArgument && !c.status().message().empty());
    return 0;
  }
  const std::string formatted = format_config(*c);
  auto again = parse_config(formatted);
  if (!again.ok()) std::fprintf(stderr, "%s\n--\n%s", again.status().to_string().c_str(), formatted.c_str());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(same(*c, *again));
  FUZZ_CHECK(format_config(*again) == formatted);
  return 0;
}
