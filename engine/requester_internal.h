// What Requester::open and publish_reply share between the in-process and
// the attached side (engine/requester.cpp, engine/attached_requester.cpp).
//
// Thread safety: plain functions.
#pragma once

#include <cstdint>
#include <string>

#include "conduit/engine.h"

namespace conduit::detail {

// A requester's random nonce: the start of each of its correlation ids.
std::uint64_t fresh_nonce();
// "conduit.replies.<the nonce in 16 hex digits>".
std::string default_reply_topic(std::uint64_t nonce);
// Makes `reply` the answer to `request`: its correlation id, and its trace
// id unless `reply` has one. kInvalidArgument when `request` is none (no
// reply_to or no correlation id).
Status as_reply(const RecordView& request, Message& reply);

}  // namespace conduit::detail
