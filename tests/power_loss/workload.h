// The power-loss test's shared vocabulary (tests/power_loss/README.md): the
// topics and their options, the records' payloads, and the entries the
// worker appends to its ack file for each call that returned OK.
//
// The ack file lives outside the file system under test, so it survives the
// cut whole: it is what the process was told, and the check holds the
// recovered log to it.
#pragma once

#include <conduit/conduit.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace powerloss {

inline constexpr const char* kSyncTopic = "s";
inline constexpr const char* kAsyncTopic = "a";
inline constexpr const char* kGroup = "g";  // the work group, on the kSync topic

// Per-topic numbering of the topics in ack entries.
enum TopicId : std::uint32_t { kSync = 0, kAsync = 1, kTopics = 2 };

inline const char* topic_name(std::uint32_t t) { return t == kSync ? kSyncTopic : kAsyncTopic; }
inline const char* subscriber_name(std::uint32_t t) { return t == kSync ? "sub-s" : "sub-a"; }

// Small segments, so that the workload crosses a roll every few dozen
// milliseconds: the smallest size that holds two of the largest records
// (TopicOptions::segment_bytes: 2 * align64(48 + 64 KiB + max_payload_bytes)).
inline conduit::TopicOptions topic_options(std::uint32_t t) {
  conduit::TopicOptions o;
  o.durability = t == kSync ? conduit::Durability::kSync : conduit::Durability::kAsync;
  o.max_payload_bytes = 2048;
  o.segment_bytes = 136u << 10;
  return o;
}

// The work group never times a delivery out: in the worker every delivery is
// acked, and after a cut what was in flight is handed out again on open.
inline conduit::WorkGroupOptions group_options() {
  conduit::WorkGroupOptions o;
  o.ack_timeout = std::chrono::nanoseconds(0);
  return o;
}

// Who wrote a record: producer (a number below 256; the check's own
// appends use kCheckProducer and up) and that producer's counter, from 0.
inline constexpr std::uint64_t kCheckProducer = 200;
inline std::uint64_t make_tag(std::uint64_t producer, std::uint64_t counter) { return producer << 40 | counter; }
inline std::uint64_t tag_producer(std::uint64_t tag) { return tag >> 40; }
inline std::uint64_t tag_counter(std::uint64_t tag) { return tag & ((std::uint64_t{1} << 40) - 1); }

inline std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The payload of the record `tag` on topic `t`: the tag's 8 bytes, then
// bytes and a length that only the tag decides. Sync payloads are larger
// (fewer records per sync, still many rolls), async ones small.
inline std::string payload_for(std::uint32_t t, std::uint64_t tag) {
  const std::size_t extra_limit = t == kSync ? 1500 : 160;
  std::uint64_t h = mix(tag ^ (std::uint64_t{t} << 56));
  std::string p(8 + h % extra_limit, '\0');
  for (int i = 0; i < 8; ++i) p[static_cast<std::size_t>(i)] = static_cast<char>(tag >> (8 * i));
  for (std::size_t i = 8; i < p.size(); ++i) {
    if (i % 8 == 0) h = mix(h);
    p[i] = static_cast<char>(h >> (8 * (i % 8)));
  }
  return p;
}

inline conduit::Message message(std::string_view payload) {
  conduit::Message m;
  m.payload = payload;
  return m;
}

// The tag a payload claims, when the payload is exactly that tag's.
inline bool intact_payload(std::uint32_t t, std::string_view payload, std::uint64_t* tag) {
  if (payload.size() < 8) return false;
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= std::uint64_t{static_cast<unsigned char>(payload[static_cast<std::size_t>(i)])} << (8 * i);
  *tag = v;
  return payload == payload_for(t, v);
}

// One line of the ack file: 32 bytes, appended with write(2) (O_APPEND)
// after the call it reports returned OK.
struct AckEntry {
  enum Kind : std::uint32_t {
    kDurableRecord = 1,  // seq/tag: publish (kSync) or await_durable returned OK for it
    kPublished = 2,      // seq/tag: an async publish returned; durable once below a kWatermark
    kWatermark = 3,      // seq: a value durable() returned
    kGroupAck = 4,       // seq/tag: Consumer::ack returned true (kSync topic: the ack is durable)
    kSubCommit = 5,      // seq: the position Subscriber::commit stored; aux: durable() just before
    kGroupCommit = 6,    // seq: the ack floor just before WorkGroup::commit returned OK
  };
  static constexpr std::uint32_t kMagic = 0x504c0000;  // "PL" in the high half of `kind`
  std::uint32_t kind = 0;                              // kMagic | Kind
  std::uint32_t topic = 0;
  std::uint64_t seq = 0;
  std::uint64_t tag = 0;
  std::uint64_t aux = 0;
};
static_assert(sizeof(AckEntry) == 32);

inline AckEntry entry(AckEntry::Kind k, std::uint32_t topic, std::uint64_t seq, std::uint64_t tag = 0,
                      std::uint64_t aux = 0) {
  return AckEntry{AckEntry::kMagic | k, topic, seq, tag, aux};
}

int run_workload(const std::string& data_dir, const std::string& ack_path, std::uint64_t seed);
int check_after_cut(const std::string& data_dir, const std::string& ack_path);

}  // namespace powerloss
