// What TopicCore's source files share (engine/topic_*.cpp): not for other
// parts of the engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/format.h"
#include "conduit/engine.h"
#include "engine/topic_core.h"

namespace conduit::detail {

constexpr std::size_t kMaxEnvelopeBytes = 64u << 10;  // everything but the payload

inline std::string topic_error(const std::string& topic, const std::string& what) {
  return "topic '" + topic + "': " + what;
}

// Whether message `m` can be a record of a topic whose payloads are at most
// `max_payload` bytes; sets *length to its encoded size. (TopicCore's and
// AttachedTopic's checks; unpublishable_message() says why not.)
[[gnu::always_inline]] inline bool publishable_message(const Message& m, std::size_t max_payload,
                                                       std::size_t* length) noexcept {
  if (m.payload.size() > max_payload) return false;
  *length = format::encoded_size(m);
  return *length != 0 && *length - m.payload.size() <= format::kRecordHeaderSize + kMaxEnvelopeBytes;
}
Status unpublishable_message(const std::string& topic, const Message& m, std::size_t max_payload,
                             std::string_view which);
// The same for a claim of `payload_bytes` with `envelope` (Topic::claim,
// AttachedTopic::claim): whether it can be made (*length: the record's
// encoded size); claim_refusal() says why not (an envelope with a payload,
// a payload over `max_payload`, an envelope too large).
[[gnu::always_inline]] inline bool claimable(std::size_t payload_bytes, const Message& envelope,
                                             std::size_t max_payload, std::size_t* length) noexcept {
  if (!envelope.payload.empty() || payload_bytes > max_payload) return false;
  *length = format::encoded_size_with(envelope, payload_bytes);
  return *length != 0 && *length - payload_bytes <= format::kRecordHeaderSize + kMaxEnvelopeBytes;
}
Status claim_refusal(const std::string& topic, std::size_t payload_bytes, const Message& envelope,
                     std::size_t max_payload);

// publish_batch's checks before anything is claimed (in process, and
// AttachedTopic's). batch_seqs_fit: kInvalidArgument when `seqs` is given
// and shorter than `messages`. check_batch_messages: every message is
// publishable (a bad one publishes none: its error names its place); sets
// *total to their aligned encoded sizes added up (claim_in_chunks' total)
// and, when given, *all_short to whether every one is in the short form
// (its size is the short header and the payload: the full form's header
// alone is longer, kRecordHeaderSize).
Status batch_seqs_fit(const std::string& topic, std::size_t messages, std::size_t seqs);
inline Status check_batch_messages(const std::string& topic, std::span<const Message> ms, std::size_t max_payload,
                                   std::uint64_t* total, bool* all_short = nullptr) {
  static_assert(format::kShortHeaderSize < format::kRecordHeaderSize);
  std::size_t length = 0;
  bool short_only = true;
  *total = 0;
  for (std::size_t i = 0; i < ms.size(); ++i) {
    if (!publishable_message(ms[i], max_payload, &length)) [[unlikely]]
      return unpublishable_message(topic, ms[i], max_payload, "message " + std::to_string(i) + " of the batch: ");
    *total += format::align_up(length);
    short_only &= length == format::kShortHeaderSize + ms[i].payload.size();
  }
  if (all_short != nullptr) *all_short = short_only;
  return Status::OK();
}

// publish_batch's claims (in process, and AttachedTopic's): the checked
// messages `ms` in claims of at most `most` bytes and kMaxClaimRecords
// records each, `claim(span, bytes)` claiming and writing one and returning
// its first sequence. Sets r.published (and r.status on a failure) and the
// sequences into `seqs` (unless empty); returns the last sequence.
// `total`: every message's aligned encoded size added up, so that the
// common batch is one claim without sizing its messages again.
template <class ClaimFn>
std::uint64_t claim_in_chunks(std::span<const Message> ms, std::span<std::uint64_t> seqs, std::uint64_t most,
                              std::uint64_t total, PublishBatchResult& r, ClaimFn&& claim) {
  std::uint64_t last = 0;
  if (ms.empty()) return last;  // nothing to claim (and no last sequence)
  if (ms.size() <= kMaxClaimRecords && total <= most) {
    Result<std::uint64_t> seq = claim(ms, total);
    if (!seq.ok()) {
      r.status = seq.status();
      return last;
    }
    for (std::size_t i = 0; i < ms.size() && !seqs.empty(); ++i) seqs[i] = *seq + i;
    r.published = ms.size();
    return *seq + (ms.size() - 1);
  }
  while (r.published < ms.size()) {
    const std::size_t first = r.published;
    std::size_t end = first;
    std::uint64_t bytes = 0;
    while (end < ms.size() && end - first < kMaxClaimRecords) {
      const std::uint64_t need = format::align_up(format::encoded_size(ms[end]));
      if (end > first && bytes + need > most) break;
      bytes += need;
      ++end;
    }
    Result<std::uint64_t> seq = claim(ms.subspan(first, end - first), bytes);
    if (!seq.ok()) {
      r.status = seq.status();
      return last;
    }
    for (std::size_t i = first; i < end && !seqs.empty(); ++i) seqs[i] = *seq + (i - first);
    last = *seq + (end - first - 1);
    r.published = end;
  }
  return last;
}

}  // namespace conduit::detail
