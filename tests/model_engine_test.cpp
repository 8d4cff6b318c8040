// Model-based test: the engine against a plain reference model (a vector of
// records per topic, a position per subscriber, a next/floor/redelivery
// queue per work group) under random operation sequences, compared after
// every step. A failing sequence is shrunk (delta debugging: drop chunks of
// operations while it still fails) and printed, with its seed.
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
// and a topic created again under its name starts empty.
//
// CONDUIT_MODEL_SEED=N runs that seed alone; CONDUIT_MODEL_RUNS=N runs more.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace conduit;
namespace fs = std::filesystem;

namespace {

constexpr int kTopics = 3;
constexpr std::uint32_t kMaxInFlight = 64;
const char* const kTopicNames[kTopics] = {"mem", "log", "retained"};

TopicOptions topic_options(int t) {
  TopicOptions o;
  o.max_payload_bytes = 4096;
  o.segment_bytes = 160u << 10;
  if (t == 0) o.ring_bytes = 2 * o.segment_bytes;
  if (t >= 1) o.durability = Durability::kAsync;
  if (t == 2) o.retain_bytes = 3 * o.segment_bytes;
  return o;
}

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
  kDelete
};

struct Op {
  OpKind kind;
  int topic = 0;  // create, publish, subscribe, group ops
  std::uint32_t a =
      0;  // publish: count; subscribe: start kind; poll: max; ack/nack: which; delete: 1 drops users first
  std::uint32_t b = 0;    // publish: payload size; subscribe: sequence offset / name
  std::uint32_t who = 0;  // poll/drop/commit: which subscriber; group ops: which group
};

std::string describe(const Op& op) {
  std::ostringstream s;
  const char* names[] = {"create",     "publish", "subscribe", "poll",         "drop",   "commit",
                         "group_poll", "ack",     "nack",      "group_commit", "reopen", "delete"};
  s << names[static_cast<int>(op.kind)] << "(topic=" << op.topic << " a=" << op.a << " b=" << op.b << " who=" << op.who
    << ")";
  return s.str();
}

Op random_op(std::mt19937_64& rng) {
  auto pick = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
  Op op{};
  const std::uint32_t r = pick(100);
  op.topic = static_cast<int>(pick(kTopics));
  op.who = pick(8);
  if (r < 4)
    op.kind = OpKind::kCreate;
  else if (r < 6)
    op.kind = OpKind::kDelete, op.a = pick(3) == 0 ? 0 : 1;
  else if (r < 30)
    op.kind = OpKind::kPublish, op.a = 1 + pick(40), op.b = pick(2) == 0 ? pick(4097) : pick(200);
  else if (r < 40)
    op.kind = OpKind::kSubscribe, op.a = pick(4), op.b = pick(40);
  else if (r < 60)
    op.kind = OpKind::kPoll, op.a = 1 + pick(40);
  else if (r < 63)
    op.kind = OpKind::kDrop;
  else if (r < 67)
    op.kind = OpKind::kCommit;
  else if (r < 78)
    op.kind = OpKind::kGroupPoll, op.topic = 1 + static_cast<int>(pick(2)), op.a = 1 + pick(8);
  else if (r < 88)
    op.kind = OpKind::kAck, op.a = pick(16);
  else if (r < 94)
    op.kind = OpKind::kNack, op.a = pick(16);
  else if (r < 98)
    op.kind = OpKind::kGroupCommit;
  else
    op.kind = OpKind::kReopen;
  return op;
}

// What a record holds, derived from its topic and sequence and its size.
std::string payload_of(int topic, std::uint64_t seq, std::uint32_t size) {
  std::string p = std::to_string(topic) + ":" + std::to_string(seq) + ":";
  p.resize(std::max<std::size_t>(p.size(), size), static_cast<char>('a' + (seq + topic) % 26));
  return p;
}

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
  std::set<std::uint64_t> acked;     // at or above the floor
  std::uint64_t unreported_gap = 0;  // a start below earliest: the first poll reports it
  // From the state committed before: sequence -> (done, attempt of its next delivery).
  std::map<std::uint64_t, std::pair<bool, std::uint32_t>> restored;
};
// What WorkGroup::commit() (and the engine's close) stores: the floor, and
// above it what is done and what failed.
struct ModelGroupState {
  std::uint64_t floor = 0;
  std::map<std::uint64_t, std::pair<bool, std::uint32_t>> entries;
};
ModelGroupState snapshot(const ModelGroup& g) {
  ModelGroupState st;
  st.floor = g.floor;
  for (std::uint64_t s : g.acked) st.entries[s] = {true, 0};
  // A nacked record waiting with k deliveries failed comes back as attempt k+1;
  // one out at attempt k had k-1 failures before it: it comes back as k.
  for (std::uint64_t s : g.redeliver) st.entries[s] = {false, g.attempts.at(s) + 1};
  for (const auto& [s, attempt] : g.out)
    if (attempt > 1) st.entries[s] = {false, attempt};
  // Restored entries the group has not reached yet carry over.
  for (const auto& [s, e] : g.restored)
    if (s >= g.next) st.entries[s] = e;
  return st;
}
struct Model {
  std::vector<std::string> records[kTopics];
  std::uint64_t base[kTopics] = {};  // memory topic: sequences restart at 0 per engine; kept 0
  bool created[kTopics] = {};
  // A persisted topic in the data directory (created, not deleted since):
  // after a reopen the engine finds it there before any create.
  bool stored[kTopics] = {};
  std::uint64_t earliest_seen[kTopics] = {};
  std::map<std::string, std::uint64_t> committed[kTopics];          // subscriber name -> position
  std::map<std::string, ModelGroupState> group_committed[kTopics];  // group name -> committed state
};

// What the runs exercised, summed over every run (printed at the end, so
// that a model test which quietly skips everything shows it).
struct Coverage {
  std::uint64_t steps = 0, published = 0, polled = 0, lost = 0, delivered = 0, redelivered = 0, reopens = 0,
                deletes = 0, busy = 0;
};
Coverage g_coverage;

// The system under test, with the model beside it.
class Harness {
 public:
  explicit Harness(fs::path dir) : dir_(std::move(dir)) { open(); }
  ~Harness() { close(); }

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

  void open() {
    EngineOptions o;
    o.data_dir = dir_.string();
    engine_ = Engine::open(o).value();
    for (auto*& t : topics_) t = nullptr;
  }
  void close() {
    subs_.clear();
    groups_.clear();
    engine_.reset();
  }
  std::optional<std::string> compare();
  std::optional<std::string> check_record(const RecordView& v, int topic, std::uint64_t seq);
  std::optional<std::string> group_poll(Group& g, std::uint32_t max);

  fs::path dir_;
  std::unique_ptr<Engine> engine_;
  Topic* topics_[kTopics] = {};
  Model m_;
  std::vector<Sub> subs_;
  std::vector<Group> groups_;
  std::uint32_t names_ = 0;
};

#define MODEL_EXPECT(cond, what)                  \
  do {                                            \
    if (!(cond)) {                                \
      std::ostringstream why_;                    \
      why_ << what;                               \
      return "expected " #cond ": " + why_.str(); \
    }                                             \
  } while (0)

std::optional<std::string> Harness::check_record(const RecordView& v, int topic, std::uint64_t seq) {
  MODEL_EXPECT(v.sequence() == seq, "got sequence " << v.sequence() << ", model says " << seq);
  MODEL_EXPECT(seq < m_.records[topic].size(), "sequence " << seq << " was never published");
  MODEL_EXPECT(v.payload() == m_.records[topic][seq], "payload of " << seq);
  MODEL_EXPECT(v.key() == "k" + std::to_string(seq % 7), "key of " << seq);
  const auto n = v.find_header("n");
  MODEL_EXPECT(n && *n == std::to_string(seq), "header n of " << seq);
  return std::nullopt;
}

std::optional<std::string> Harness::step(const Op& op) {
  const int t = op.topic;
  switch (op.kind) {
    case OpKind::kCreate: {
      auto r = engine_->create_topic(kTopicNames[t], topic_options(t));
      MODEL_EXPECT(r.ok(), r.status().to_string());
      MODEL_EXPECT(topics_[t] == nullptr || topics_[t] == *r, "a second create returned another topic");
      topics_[t] = *r;
      m_.created[t] = true;
      m_.stored[t] = t != 0;  // topic 0 is memory-only
      break;
    }
    case OpKind::kPublish: {
      if (!topics_[t]) break;
      for (std::uint32_t i = 0; i < op.a; ++i) {
        const std::uint64_t seq = m_.records[t].size();
        const std::string payload = payload_of(t, seq, op.b);
        const std::string key = "k" + std::to_string(seq % 7), n = std::to_string(seq);
        const Header headers[] = {{"n", n}};
        Message msg;
        msg.payload = payload;
        msg.key = key;
        msg.headers = headers;
        auto r = topics_[t]->publish(msg);
        MODEL_EXPECT(r.ok(), r.status().to_string());
        MODEL_EXPECT(*r == seq, "publish returned " << *r);
        m_.records[t].push_back(payload);
        ++g_coverage.published;
      }
      break;
    }
    case OpKind::kSubscribe: {
      if (!topics_[t]) break;
      SubscriberOptions o;
      o.slow = SlowPolicy::kLoseOldest;
      const std::uint64_t published = m_.records[t].size();
      std::uint64_t start = published;
      if (op.a == 0) o.start = StartAt::earliest(), start = topics_[t]->earliest();
      if (op.a == 1) o.start = StartAt::latest();
      if (op.a == 2) {  // a sequence near the end (perhaps beyond it)
        start = published > op.b ? published - op.b + 20 : op.b % 25;
        o.start = StartAt::at(start);
      }
      if (op.a == 3 && t != 0)
        o.name = "s" + std::to_string(op.b % 3), o.start = StartAt::earliest(), start = topics_[t]->earliest();
      if (!o.name.empty() && m_.committed[t].count(o.name)) start = m_.committed[t][o.name];
      auto r = topics_[t]->subscribe(o);
      MODEL_EXPECT(r.ok(), r.status().to_string());
      subs_.push_back({ModelSub{t, o.name, start}, std::move(r).value()});
      break;
    }
    case OpKind::kPoll: {
      if (subs_.empty()) break;
      Sub& s = subs_[op.who % subs_.size()];
      const int st = s.model.topic;
      // The engine decides what it still holds (ring, retention): the model
      // takes earliest() as given and checks the rest against it.
      const std::uint64_t earliest = topics_[st]->earliest();
      std::vector<RecordView> views(op.a);
      const PollResult r = s.sub->try_poll(views);
      // A subscriber may still read a dropped segment it holds; once it
      // moves past it, it is told the exact gap.
      const std::uint64_t gap = earliest > s.model.pos ? earliest - s.model.pos : 0;
      MODEL_EXPECT(r.lost == 0 || r.lost == gap,
                   "lost " << r.lost << " at position " << s.model.pos << ", earliest " << earliest);
      s.model.pos += r.lost;
      s.model.lost += r.lost;
      const std::uint64_t available = m_.records[st].size() > s.model.pos ? m_.records[st].size() - s.model.pos : 0;
      MODEL_EXPECT(r.count <= std::min<std::uint64_t>(available, op.a), "count " << r.count << " of " << available);
      MODEL_EXPECT(available == 0 || r.count > 0, "nothing read with " << available << " available at " << s.model.pos
                                                                       << " (lost " << r.lost << ", earliest "
                                                                       << earliest << ")");
      for (std::size_t i = 0; i < r.count; ++i)
        if (auto e = check_record(views[i], st, s.model.pos + i)) return e;
      s.model.pos += r.count;
      g_coverage.polled += r.count;
      g_coverage.lost += r.lost;
      MODEL_EXPECT(!r.closed, "closed while open");
      break;
    }
    case OpKind::kDrop:
      if (!subs_.empty()) subs_.erase(subs_.begin() + op.who % subs_.size());
      break;
    case OpKind::kCommit: {
      if (subs_.empty()) break;
      Sub& s = subs_[op.who % subs_.size()];
      const Status st = s.sub->commit();
      if (s.model.name.empty()) {
        MODEL_EXPECT(st.code() == Code::kInvalidArgument, "anonymous commit: " << st.to_string());
      } else {
        MODEL_EXPECT(st.ok(), st.to_string());
        m_.committed[s.model.topic][s.model.name] = s.model.pos;
      }
      break;
    }
    case OpKind::kGroupPoll: {
      if (!topics_[t]) break;
      const std::string name = "g" + std::to_string(op.who % 2);
      Group* g = nullptr;
      for (auto& x : groups_)
        if (x.model.topic == t && x.model.name == name) g = &x;
      if (g == nullptr) {
        WorkGroupOptions o;
        o.max_in_flight = kMaxInFlight;
        auto wg = topics_[t]->work_group(name, o);
        MODEL_EXPECT(wg.ok(), wg.status().to_string());
        auto c = (*wg)->consumer();
        MODEL_EXPECT(c.ok(), c.status().to_string());
        // A committed floor below what retention kept starts at earliest, and says so.
        const std::uint64_t earliest = topics_[t]->earliest();
        const bool committed = m_.group_committed[t].count(name) != 0;
        std::uint64_t start = committed ? m_.group_committed[t][name].floor : earliest;
        const std::uint64_t gap = start < earliest ? earliest - start : 0;
        start += gap;
        ModelGroup mg{t, name, start, start, {}, {}, {}, {}, gap, {}};
        if (committed)
          for (const auto& [s, e] : m_.group_committed[t][name].entries)
            if (s >= start) mg.restored[s] = e;
        groups_.push_back({std::move(mg), *wg, std::move(c).value(), {}});
        g = &groups_.back();
      }
      if (auto e = group_poll(*g, op.a)) return e;
      break;
    }
    case OpKind::kAck:
    case OpKind::kNack: {
      if (groups_.empty()) break;
      Group& g = groups_[op.who % groups_.size()];
      if (g.held.empty()) break;
      auto it = g.held.begin();
      std::advance(it, op.a % g.held.size());
      const std::uint64_t seq = it->first;
      if (op.kind == OpKind::kAck) {
        g.consumer->ack(it->second);
        g.model.acked.insert(seq);
        while (g.model.acked.count(g.model.floor)) g.model.acked.erase(g.model.floor++);
      } else {
        g.consumer->nack(it->second);
        g.model.redeliver.push_back(seq);
      }
      g.model.out.erase(seq);
      g.held.erase(it);
      break;
    }
    case OpKind::kGroupCommit: {
      if (groups_.empty()) break;
      Group& g = groups_[op.who % groups_.size()];
      const Status st = g.group->commit();
      MODEL_EXPECT(st.ok(), st.to_string());
      m_.group_committed[g.model.topic][g.model.name] = snapshot(g.model);
      break;
    }
    case OpKind::kDelete: {
      if (op.a == 1) {
        std::erase_if(subs_, [&](const Sub& x) { return x.model.topic == t; });
        std::erase_if(groups_, [&](const Group& x) { return x.model.topic == t; });
      }
      const Status st = engine_->delete_topic(kTopicNames[t]);
      auto forget = [&] {
        ++g_coverage.deletes;
        topics_[t] = nullptr;
        m_.created[t] = false;
        m_.stored[t] = false;
        m_.records[t].clear();
        m_.earliest_seen[t] = 0;
        m_.committed[t].clear();
        m_.group_committed[t].clear();
      };
      if (!topics_[t]) {
        // Not open in this engine: one still in the data directory is found
        // there and deleted (nothing of it is open after a reopen).
        if (!m_.stored[t]) {
          MODEL_EXPECT(st.code() == Code::kNotFound, "deleting a topic not created: " << st.to_string());
          break;
        }
        MODEL_EXPECT(st.ok(), "deleting a stored topic not opened yet: " << st.to_string());
        forget();
        break;
      }
      const bool used = std::any_of(subs_.begin(), subs_.end(), [&](const Sub& x) { return x.model.topic == t; }) ||
                        std::any_of(groups_.begin(), groups_.end(), [&](const Group& x) { return x.model.topic == t; });
      if (used) {
        MODEL_EXPECT(st.code() == Code::kBusy, "deleting a topic in use: " << st.to_string());
        ++g_coverage.busy;
        break;
      }
      MODEL_EXPECT(st.ok(), st.to_string());
      const std::uint64_t n = m_.records[t].size();
      MODEL_EXPECT(topics_[t]->published() == n, "deleted topic's handle says published " << topics_[t]->published());
      auto late = topics_[t]->publish("late");
      MODEL_EXPECT(late.status().code() == Code::kNotFound, "publish after delete: " << late.status().to_string());
      MODEL_EXPECT(engine_->topic(kTopicNames[t]).status().code() == Code::kNotFound, "deleted topic still found");
      forget();
      break;
    }
    case OpKind::kReopen:
      ++g_coverage.reopens;
      // close() destroys the consumers first, and each hands back what it
      // holds: those deliveries failed (a nack with no delay). Then the
      // engine's close commits every work group's state.
      for (Group& g : groups_) {
        for (const auto& [s, attempt] : g.model.out) g.model.redeliver.push_back(s);
        g.model.out.clear();
        m_.group_committed[g.model.topic][g.model.name] = snapshot(g.model);
      }
      close();
      open();
      // Memory-only topics are gone; persisted ones keep every record (a
      // clean close syncs them).
      m_.records[0].clear();
      m_.earliest_seen[0] = 0;
      for (bool& c : m_.created) c = false;
      break;
  }
  return compare();
}

std::optional<std::string> Harness::group_poll(Group& g, std::uint32_t max) {
  std::vector<Delivery> d(max);
  const PollResult r = g.consumer->try_poll(d);
  MODEL_EXPECT(r.lost == g.model.unreported_gap, "group " << g.model.name << " reported a gap of " << r.lost);
  g.model.unreported_gap = 0;
  // Expected: redeliveries first, oldest nack first, then new sequences
  // within the in-flight window and below the published watermark.
  std::vector<std::pair<std::uint64_t, std::uint32_t>> expect;
  while (expect.size() < max && !g.model.redeliver.empty()) {
    const std::uint64_t s = g.model.redeliver.front();
    g.model.redeliver.pop_front();
    expect.emplace_back(s, ++g.model.attempts[s]);
  }
  while (expect.size() < max && g.model.next < m_.records[g.model.topic].size() &&
         g.model.next < g.model.floor + kMaxInFlight) {
    const std::uint64_t s = g.model.next++;
    std::uint32_t attempt = 1;
    if (auto it = g.model.restored.find(s); it != g.model.restored.end()) {
      if (it->second.first) {  // done before the reopen: skipped, never delivered again
        g.model.acked.insert(s);
        while (g.model.acked.count(g.model.floor)) g.model.acked.erase(g.model.floor++);
        continue;
      }
      attempt = it->second.second;
    }
    g.model.attempts[s] = attempt;
    expect.emplace_back(s, attempt);
  }
  MODEL_EXPECT(r.count == expect.size(),
               "group " << g.model.name << " delivered " << r.count << ", model " << expect.size());
  for (std::size_t i = 0; i < r.count; ++i) {
    MODEL_EXPECT(d[i].sequence == expect[i].first,
                 "delivery " << i << " is " << d[i].sequence << ", model " << expect[i].first);
    MODEL_EXPECT(d[i].attempt == expect[i].second, "attempt of " << d[i].sequence << " is " << d[i].attempt);
    if (auto e = check_record(d[i].record, g.model.topic, d[i].sequence)) return e;
    g.model.out[d[i].sequence] = d[i].attempt;
    g.held[d[i].sequence] = d[i];
    ++g_coverage.delivered;
    if (d[i].attempt > 1) ++g_coverage.redelivered;
  }
  return std::nullopt;
}

std::optional<std::string> Harness::compare() {
  ++g_coverage.steps;
  for (int t = 0; t < kTopics; ++t) {
    if (!topics_[t] || !m_.created[t]) continue;
    Topic* topic = topics_[t];
    const std::uint64_t n = m_.records[t].size();
    MODEL_EXPECT(topic->published() == n, kTopicNames[t] << " published " << topic->published() << ", model " << n);
    MODEL_EXPECT(topic->claimed() == n, kTopicNames[t] << " claimed " << topic->claimed());
    const std::uint64_t e = topic->earliest();
    MODEL_EXPECT(e <= n, kTopicNames[t] << " earliest " << e << " past published " << n);
    MODEL_EXPECT(e >= m_.earliest_seen[t],
                 kTopicNames[t] << " earliest went back from " << m_.earliest_seen[t] << " to " << e);
    m_.earliest_seen[t] = e;
    // Only retention or the ring may drop records: topic 1 keeps everything.
    if (t == 1) MODEL_EXPECT(e == 0, "log dropped records below " << e);
  }
  for (const Sub& s : subs_) {
    MODEL_EXPECT(s.sub->position() == s.model.pos, "subscriber at " << s.sub->position() << ", model " << s.model.pos);
    MODEL_EXPECT(s.sub->lost() == s.model.lost, "subscriber lost " << s.sub->lost() << ", model " << s.model.lost);
    const std::uint64_t n = m_.records[s.model.topic].size();
    MODEL_EXPECT(s.sub->lag() == (n > s.model.pos ? n - s.model.pos : 0), "lag " << s.sub->lag());
  }
  for (const Group& g : groups_) {
    const WorkGroupStats st = g.group->stats();
    MODEL_EXPECT(st.next == g.model.next, "group next " << st.next << ", model " << g.model.next);
    MODEL_EXPECT(st.ack_floor == g.model.floor, "group floor " << st.ack_floor << ", model " << g.model.floor);
    MODEL_EXPECT(st.pending_redelivery == g.model.redeliver.size(), "pending redelivery " << st.pending_redelivery);
  }
  return std::nullopt;
}

fs::path scratch_base() { return fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path(); }

// Runs `ops` on a fresh engine; the index of the failing step and why.
std::optional<std::pair<std::size_t, std::string>> run(const std::vector<Op>& ops) {
  std::string tmpl = (scratch_base() / "conduit-model-XXXXXX").string();
  const fs::path dir = mkdtemp(tmpl.data());
  std::optional<std::pair<std::size_t, std::string>> failure;
  {
    Harness h(dir);
    for (std::size_t i = 0; i < ops.size() && !failure; ++i)
      if (auto e = h.step(ops[i])) failure.emplace(i, *e);
  }
  fs::remove_all(dir);
  return failure;
}

// Delta debugging: removes chunks of operations, halving the chunk size,
// while `fails` still holds for what is left.
template <class Fails>
std::vector<Op> shrink(std::vector<Op> ops, Fails fails) {
  for (std::size_t chunk = ops.size() / 2; chunk >= 1; chunk /= 2) {
    for (std::size_t at = 0; at + chunk <= ops.size();) {
      std::vector<Op> shorter(ops.begin(), ops.begin() + static_cast<std::ptrdiff_t>(at));
      shorter.insert(shorter.end(), ops.begin() + static_cast<std::ptrdiff_t>(at + chunk), ops.end());
      if (fails(shorter))
        ops = std::move(shorter);
      else
        at += chunk;
    }
  }
  return ops;
}

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

TEST_CASE("the engine matches the reference model under random operation sequences") {
  const std::uint64_t one_seed = env_or("CONDUIT_MODEL_SEED", 0);
  const std::uint64_t runs = one_seed ? 1 : env_or("CONDUIT_MODEL_RUNS", 100);
  constexpr std::size_t kOps = 400;
  for (std::uint64_t r = 0; r < runs; ++r) {
    const std::uint64_t seed = one_seed ? one_seed : r + 1;
    std::mt19937_64 rng(seed);
    std::vector<Op> ops(kOps);
    for (Op& op : ops) op = random_op(rng);
    auto failure = run(ops);
    if (!failure) continue;
    ops.resize(failure->first + 1);
    const std::vector<Op> small = shrink(ops, [](const std::vector<Op>& s) { return run(s).has_value(); });
    const auto again = run(small);
    std::ostringstream out;
    out << "seed " << seed << " (CONDUIT_MODEL_SEED=" << seed << "): step " << failure->first << ": " << failure->second
        << "\nshrunk to " << small.size()
        << " operations, failing with: " << (again ? again->second : std::string("(no longer fails)")) << "\n";
    for (const Op& op : small) out << "  " << describe(op) << "\n";
    FAIL(out.str());
  }
  const Coverage& c = g_coverage;
  MESSAGE("model runs: " << runs << ", steps " << c.steps << ", records published " << c.published << ", read "
                         << c.polled << ", lost (reported) " << c.lost << ", work group deliveries " << c.delivered
                         << " (redeliveries " << c.redelivered << "), reopens " << c.reopens << ", deletes "
                         << c.deletes << " (refused busy " << c.busy << ")");
  // The runs must reach what they are meant to test.
  CHECK(c.lost > 0);
  CHECK(c.redelivered > 0);
  CHECK(c.reopens > 0);
  CHECK(c.deletes > 0);
  CHECK(c.busy > 0);
}

TEST_CASE("the shrinker keeps only the operations a failure needs") {
  // A failure of our own: a publish to topic 1 followed later by a reopen.
  std::mt19937_64 rng(7);
  std::vector<Op> ops(60);
  for (Op& op : ops) op = random_op(rng);
  ops[10] = Op{OpKind::kPublish, 1, 1, 1, 0};
  ops[40] = Op{OpKind::kReopen};
  auto fails = [](const std::vector<Op>& s) {
    bool published = false;
    for (const Op& op : s) {
      if (op.kind == OpKind::kPublish && op.topic == 1) published = true;
      if (op.kind == OpKind::kReopen && published) return true;
    }
    return false;
  };
  REQUIRE(fails(ops));
  const std::vector<Op> small = shrink(ops, fails);
  REQUIRE(small.size() == 2);
  CHECK(small[0].kind == OpKind::kPublish);
  CHECK(small[1].kind == OpKind::kReopen);
}
