// What JetStream says about a delivery in its reply subject, the subject the
// bridge acks to. Two forms:
//   $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>
//   $JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>
//          .<consumer seq>.<timestamp>.<pending>[.<more tokens>]
// (the second from servers 2.9 on, with domain "_" for none). No thread
// safety needed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "conduit/status.h"

namespace conduit::bridge::detail {

// The views point into the parsed subject: valid while it is.
struct AckSubject {
  std::string_view domain;   // empty when none
  std::string_view account;  // the account hash of the newer form; empty in the nine-token form
  std::string_view stream;
  std::string_view consumer;
  std::uint64_t delivered = 0;  // 1 on the first delivery
  std::uint64_t stream_seq = 0;
  std::uint64_t consumer_seq = 0;
  std::int64_t timestamp_ns = 0;
  std::uint64_t pending = 0;  // messages the consumer has not been handed yet
};

// kInvalidArgument, saying which token is wrong, when `reply` is not a
// JetStream ack subject of either form.
Result<AckSubject> parse_ack_subject(std::string_view reply);
// The subject back: the nine-token form when there is neither domain nor
// account, else the newer form without a random suffix ("_" for no domain).
// parse_ack_subject(format_ack_subject(a)) gives `a` back.
std::string format_ack_subject(const AckSubject& a);

// The ack bodies JetStream understands, published to the reply subject.
inline constexpr std::string_view kAck = "+ACK";
inline constexpr std::string_view kNak = "-NAK";
inline constexpr std::string_view kTerm = "+TERM";

}  // namespace conduit::bridge::detail
