// The C API fuzzer's harness (fuzz_capi.cpp has the target and what it
// checks): the calls an input's 5-byte steps stand for, and the handles and
// the reference model they act on. capi_misuse.cpp has the calls the API
// must refuse.
//
// Thread safety: none; one thread drives a CHarness.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capi_checks.h"
#include "tests/support/engine_model.h"

namespace conduit::fuzz::c_api {

namespace md = conduit::test::model;
using md::OpKind;

constexpr std::size_t kMaxOps = 64;

enum class Call : std::uint8_t {
  kCreate,
  kPublish,
  kPublishBatch,
  kPublishNowait,
  kSubscribe,
  kPoll,
  kCommit,
  kFreeSub,
  kGroupPoll,
  kAnswer,
  kGroupCommit,
  kReopen,
  kDelete,
  kLogReader,
  kMisuse,
  kStats,
  kCount
};

struct Step {
  Call call;
  int topic;
  std::uint32_t a, b, who;
};

inline conduit_topic_options c_options(int t) {
  const conduit::TopicOptions o = md::topic_options(t);
  conduit_topic_options c;
  conduit_topic_options_init(&c);
  c.durability = static_cast<conduit_durability>(o.durability);
  c.segment_bytes = o.segment_bytes;
  c.ring_bytes = o.ring_bytes;
  c.max_payload_bytes = o.max_payload_bytes;
  c.retain_bytes = o.retain_bytes;
  return c;
}

inline std::string_view view(conduit_bytes b) { return {b.data, b.len}; }

class CHarness {
 public:
  explicit CHarness(std::string dir) : dir_(std::move(dir)) { open(); }
  ~CHarness() { close(false); }
  std::optional<std::string> step(const Step& s);

 private:
  struct Sub {
    md::ModelSub model;
    conduit_subscriber* h;
  };
  struct Group {
    md::ModelGroup model;
    conduit_work_group* group;
    conduit_consumer* consumer;
    std::map<std::uint64_t, conduit_delivery> held;
    std::optional<conduit_delivery> answered;  // the last one answered (a second answer is NotFound)
  };

  void open() {
    conduit_engine_options o;
    conduit_engine_options_init(&o);
    o.data_dir = dir_.c_str();
    FUZZ_CHECK(call(conduit_engine_open, &o, &engine_) == CONDUIT_OK);
    std::fill(std::begin(topics_), std::end(topics_), nullptr);
  }
  // Subscribers freed after the engine when `subs_last` (the API allows either order).
  void close(bool subs_last);
  std::optional<std::string> publish(const Step& s);
  std::optional<std::string> check_record(const conduit_record& r, int t, std::uint64_t seq);
  std::optional<std::string> poll(Sub& s, std::uint32_t max);
  std::optional<std::string> group_poll(const Step& s);
  std::optional<std::string> answer(const Step& s);
  std::optional<std::string> remove(int t, bool drop_users);
  std::optional<std::string> log_reader(const Step& s);
  void misuse(const Step& s);
  std::optional<std::string> compare();
  std::uint64_t published(conduit_topic* t) {
    conduit_topic_stats st;
    FUZZ_CHECK(conduit_topic_stats_get(t, &st) == CONDUIT_OK);
    return st.published;
  }
  std::uint64_t earliest(conduit_topic* t) {
    conduit_topic_stats st;
    FUZZ_CHECK(conduit_topic_stats_get(t, &st) == CONDUIT_OK);
    return st.earliest;
  }

  std::string dir_;
  conduit_engine* engine_ = nullptr;
  conduit_topic* topics_[md::kTopics] = {};
  std::vector<conduit_topic*> stale_;  // topic handles of engines closed since
  md::Model m_;
  std::vector<Sub> subs_;
  std::vector<Group> groups_;
};

}  // namespace conduit::fuzz::c_api
