// The engine against a plain reference model (a vector of records per topic,
// a position per subscriber, a next/floor/redelivery queue per work group),
// compared after every step. Shared by the model test (random sequences,
// tests/model_engine_test.cpp) and the stateful API fuzzer (sequences from
// the fuzzer's bytes, tools/fuzz/fuzz_api.cpp).
//
// Topics: 0 memory-only with a small ring (its subscribers lose the oldest),
// 1 async persisted, 2 async persisted with retention by bytes. Work groups
// live on the persisted topics (a group on a memory topic would hold the
// ring and block this single thread's publishes). "reopen" closes the engine
// and opens it again on the same data directory: memory topics are gone,
// persisted ones keep every record, named subscribers and work groups resume
// from their committed positions. "delete" deletes a topic: refused (kBusy)
// while the model has subscribers or a consumer on it, unless the op first
// drops them; a deleted topic forgets its records and committed positions,
// and a topic created again under its name starts empty. A dead letter is
// done for its group (as an ack) and one more record of "<topic>.dlq", a
// persisted topic the parent's delete leaves alone.
//
// Thread safety: none; one thread drives a Harness.
#pragma once

#include <conduit/conduit.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace conduit::test::model {

constexpr int kTopics = 3;
constexpr std::uint32_t kMaxInFlight = 64;
extern const char* const kTopicNames[kTopics];

TopicOptions topic_options(int t);

enum class OpKind {
  kCreate,
  kPublish,
  kSubscribe,
  kPoll,
  kDrop,
  kCommit,
  kGroupPoll,
  kAck,
  kNack,
  kGroupCommit,
  kReopen,
  kDelete,
  kPublishBatch,
  kDeadLetter,
};
inline constexpr int kOpKinds = static_cast<int>(OpKind::kDeadLetter) + 1;

struct Op {
  OpKind kind;
  int topic = 0;  // create, publish, subscribe, group ops
  // publish, publish_batch: count; subscribe: start kind; poll: max;
  // ack/nack/dead_letter: which; delete: 1 drops users first
  std::uint32_t a = 0;
  std::uint32_t b = 0;    // publish: payload size; subscribe: sequence offset / name
  std::uint32_t who = 0;  // poll/drop/commit: which subscriber; group ops: which group
};

std::string describe(const Op& op);
Op random_op(std::mt19937_64& rng);

// What a record holds, derived from its topic and sequence and its size.
std::string payload_of(int topic, std::uint64_t seq, std::uint32_t size);

// The reference model: plain containers, no concurrency.
struct ModelSub {
  int topic;
  std::string name;  // empty: anonymous
  std::uint64_t pos;
  std::uint64_t lost = 0;
};
struct ModelGroup {
  int topic;
  std::string name;
  std::uint64_t next, floor;
  std::deque<std::uint64_t> redeliver;
  std::map<std::uint64_t, std::uint32_t> out;  // delivered, not yet acked or nacked: attempt
  std::map<std::uint64_t, std::uint32_t> attempts;
  std::set<std::uint64_t> acked;     // at or above the floor (acked or dead-lettered)
  std::uint64_t unreported_gap = 0;  // a start below earliest: the first poll reports it
  std::uint64_t dead_lettered = 0;   // by this group object
  // From the state committed before: sequence -> (done, attempt of its next delivery).
  std::map<std::uint64_t, std::pair<bool, std::uint32_t>> restored;
};
// What WorkGroup::commit() (and the engine's close) stores: the floor, and
// above it what is done and what failed.
struct ModelGroupState {
  std::uint64_t floor = 0;
  std::map<std::uint64_t, std::pair<bool, std::uint32_t>> entries;
};
ModelGroupState snapshot(const ModelGroup& g);

struct Model {
  std::vector<std::string> records[kTopics];
  bool created[kTopics] = {};
  // A persisted topic in the data directory (created, not deleted since):
  // after a reopen the engine finds it there before any create.
  bool stored[kTopics] = {};
  std::uint64_t earliest_seen[kTopics] = {};
  std::map<std::string, std::uint64_t> committed[kTopics];          // subscriber name -> position
  std::map<std::string, ModelGroupState> group_committed[kTopics];  // group name -> committed state
  std::uint64_t dead_letters[kTopics] = {};                         // records in "<topic>.dlq"
};

// The group's model when a group object is made for topic t: from its
// committed state, or at earliest (a committed floor below earliest starts
// there, and its first poll reports the gap).
ModelGroup start_group(const Model& m, int t, const std::string& name, std::uint64_t earliest);
// What a poll of up to `max` deliveries hands out, in order (sequence,
// attempt): redeliveries first, oldest nack first, then new sequences within
// the in-flight window below `published`. Updates g as that poll does.
std::vector<std::pair<std::uint64_t, std::uint32_t>> expect_poll(ModelGroup& g, std::uint64_t published,
                                                                 std::uint32_t max);
// Delivery `seq` answered: kAck, kNack or kDeadLetter.
void answered(ModelGroup& g, std::uint64_t seq, OpKind how);
// The group object closes (its consumer hands back what it holds, and the
// engine's close commits): the model's committed state for it.
void close_group(Model& m, ModelGroup& g);
// Topic t deleted: its records and committed positions are forgotten.
void forget(Model& m, int t);

// What the steps exercised, summed over every harness given the same one
// (so that a run which quietly skips everything shows it).
struct Coverage {
  std::uint64_t steps = 0, published = 0, polled = 0, lost = 0, delivered = 0, redelivered = 0, reopens = 0,
                deletes = 0, busy = 0, batches = 0, dead_lettered = 0;
};

// The system under test, with the model beside it.
class Harness {
 public:
  Harness(std::filesystem::path dir, Coverage* coverage);
  ~Harness();

  // Runs one operation; a mismatch with the model is returned as text.
  std::optional<std::string> step(const Op& op);

 private:
  struct Sub {
    ModelSub model;
    std::unique_ptr<Subscriber> sub;
  };
  struct Group {
    ModelGroup model;
    WorkGroup* group;
    std::unique_ptr<Consumer> consumer;
    std::map<std::uint64_t, Delivery> held;
  };

  void open();
  void close();
  std::optional<std::string> publish(int t, std::uint32_t count, std::uint32_t size, bool batch);
  std::optional<std::string> answer(const Op& op);
  std::optional<std::string> remove(int t, bool drop_users);
  std::optional<std::string> compare();
  std::optional<std::string> check_record(const RecordView& v, int topic, std::uint64_t seq);
  std::optional<std::string> group_poll(Group& g, std::uint32_t max);

  std::filesystem::path dir_;
  Coverage* cov_;
  std::unique_ptr<Engine> engine_;
  Topic* topics_[kTopics] = {};
  Model m_;
  std::vector<Sub> subs_;
  std::vector<Group> groups_;
};

}  // namespace conduit::test::model
