#include "tests/support/engine_model.h"

#include <algorithm>
#include <sstream>

namespace conduit::test::model {

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

std::string describe(const Op& op) {
  std::ostringstream s;
  const char* names[kOpKinds] = {"create", "publish",    "subscribe",     "poll",       "drop",
                                 "commit", "group_poll", "ack",           "nack",       "group_commit",
                                 "reopen", "delete",     "publish_batch", "dead_letter"};
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
    op.kind = r < 25 ? OpKind::kPublish : OpKind::kPublishBatch, op.a = 1 + pick(40),
    op.b = pick(2) == 0 ? pick(4097) : pick(200);
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
    op.kind = r < 86 ? OpKind::kAck : OpKind::kDeadLetter, op.a = pick(16);
  else if (r < 94)
    op.kind = OpKind::kNack, op.a = pick(16);
  else if (r < 98)
    op.kind = OpKind::kGroupCommit;
  else
    op.kind = OpKind::kReopen;
  return op;
}

std::string payload_of(int topic, std::uint64_t seq, std::uint32_t size) {
  std::string p = std::to_string(topic) + ":" + std::to_string(seq) + ":";
  p.resize(std::max<std::size_t>(p.size(), size), static_cast<char>('a' + (seq + topic) % 26));
  return p;
}

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

ModelGroup start_group(const Model& m, int t, const std::string& name, std::uint64_t earliest) {
  const auto committed = m.group_committed[t].find(name);
  std::uint64_t start = committed != m.group_committed[t].end() ? committed->second.floor : earliest;
  const std::uint64_t gap = start < earliest ? earliest - start : 0;
  start += gap;
  ModelGroup g{t, name, start, start, {}, {}, {}, {}, gap, 0, {}};
  if (committed != m.group_committed[t].end())
    for (const auto& [s, e] : committed->second.entries)
      if (s >= start) g.restored[s] = e;
  return g;
}

std::vector<std::pair<std::uint64_t, std::uint32_t>> expect_poll(ModelGroup& g, std::uint64_t published,
                                                                 std::uint32_t max) {
  std::vector<std::pair<std::uint64_t, std::uint32_t>> expect;
  while (expect.size() < max && !g.redeliver.empty()) {
    const std::uint64_t s = g.redeliver.front();
    g.redeliver.pop_front();
    expect.emplace_back(s, ++g.attempts[s]);
  }
  while (expect.size() < max && g.next < published && g.next < g.floor + kMaxInFlight) {
    const std::uint64_t s = g.next++;
    std::uint32_t attempt = 1;
    if (auto it = g.restored.find(s); it != g.restored.end()) {
      if (it->second.first) {  // done before the reopen: skipped, never delivered again
        g.acked.insert(s);
        while (g.acked.count(g.floor)) g.acked.erase(g.floor++);
        continue;
      }
      attempt = it->second.second;
    }
    g.attempts[s] = attempt;
    expect.emplace_back(s, attempt);
  }
  for (const auto& [s, attempt] : expect) g.out[s] = attempt;
  return expect;
}

void answered(ModelGroup& g, std::uint64_t seq, OpKind how) {
  if (how == OpKind::kNack) {
    g.redeliver.push_back(seq);
  } else {
    if (how == OpKind::kDeadLetter) ++g.dead_lettered;
    g.acked.insert(seq);
    while (g.acked.count(g.floor)) g.acked.erase(g.floor++);
  }
  g.out.erase(seq);
}

void close_group(Model& m, ModelGroup& g) {
  for (const auto& [s, attempt] : g.out) g.redeliver.push_back(s);
  g.out.clear();
  m.group_committed[g.topic][g.name] = snapshot(g);
}

void forget(Model& m, int t) {
  m.created[t] = false;
  m.stored[t] = false;
  m.records[t].clear();
  m.earliest_seen[t] = 0;
  m.committed[t].clear();
  m.group_committed[t].clear();
}

Harness::Harness(std::filesystem::path dir, Coverage* coverage) : dir_(std::move(dir)), cov_(coverage) { open(); }
Harness::~Harness() { close(); }

void Harness::open() {
  EngineOptions o;
  o.data_dir = dir_.string();
  engine_ = Engine::open(o).value();
  for (auto*& t : topics_) t = nullptr;
}

void Harness::close() {
  subs_.clear();
  groups_.clear();
  engine_.reset();
}

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

std::optional<std::string> Harness::publish(int t, std::uint32_t count, std::uint32_t size, bool batch) {
  if (!topics_[t]) return std::nullopt;
  // Each message's strings live until the batch is published.
  std::vector<std::string> payloads(count), keys(count), ns(count);
  std::vector<Header> headers(count);
  std::vector<Message> msgs(count);
  const std::uint64_t first = m_.records[t].size();
  for (std::uint32_t i = 0; i < count; ++i) {
    payloads[i] = payload_of(t, first + i, size);
    keys[i] = "k" + std::to_string((first + i) % 7);
    ns[i] = std::to_string(first + i);
    headers[i] = {"n", ns[i]};
    msgs[i].payload = payloads[i];
    msgs[i].key = keys[i];
    msgs[i].headers = std::span<const Header>(&headers[i], 1);
  }
  if (batch) {
    std::vector<std::uint64_t> seqs(count);
    const PublishBatchResult r = topics_[t]->publish_batch(msgs, seqs);
    MODEL_EXPECT(r.ok() && r.published == count,
                 "batch of " << count << " published " << r.published << ": " << r.status.to_string());
    for (std::uint32_t i = 0; i < count; ++i)
      MODEL_EXPECT(seqs[i] == first + i, "batch message " << i << " got sequence " << seqs[i]);
    if (cov_) ++cov_->batches;
  } else {
    for (std::uint32_t i = 0; i < count; ++i) {
      auto r = topics_[t]->publish(msgs[i]);
      MODEL_EXPECT(r.ok(), r.status().to_string());
      MODEL_EXPECT(*r == first + i, "publish returned " << *r);
    }
  }
  for (std::string& p : payloads) m_.records[t].push_back(std::move(p));
  if (cov_) cov_->published += count;
  return std::nullopt;
}

// Ack, nack or dead-letter one of the deliveries a group holds.
std::optional<std::string> Harness::answer(const Op& op) {
  if (groups_.empty()) return std::nullopt;
  Group& g = groups_[op.who % groups_.size()];
  if (g.held.empty()) return std::nullopt;
  auto it = g.held.begin();
  std::advance(it, op.a % g.held.size());
  const std::uint64_t seq = it->first;
  if (op.kind == OpKind::kNack) {
    MODEL_EXPECT(g.consumer->nack(it->second), "nack of " << seq << " refused");
  } else {
    if (op.kind == OpKind::kAck) {
      MODEL_EXPECT(g.consumer->ack(it->second), "ack of " << seq << " refused");
    } else {
      MODEL_EXPECT(g.consumer->dead_letter(it->second, "fuzz"), "dead letter of " << seq << " refused");
      const int t = g.model.topic;
      ++m_.dead_letters[t];
      if (cov_) ++cov_->dead_lettered;
      auto dlq = engine_->topic(std::string(kTopicNames[t]) + ".dlq");
      MODEL_EXPECT(dlq.ok(), "dead-letter topic: " << dlq.status().to_string());
      MODEL_EXPECT((*dlq)->published() == m_.dead_letters[t],
                   "dead-letter topic published " << (*dlq)->published() << ", model " << m_.dead_letters[t]);
    }
  }
  answered(g.model, seq, op.kind);
  g.held.erase(it);
  return std::nullopt;
}

std::optional<std::string> Harness::remove(int t, bool drop_users) {
  if (drop_users) {
    std::erase_if(subs_, [&](const Sub& x) { return x.model.topic == t; });
    std::erase_if(groups_, [&](const Group& x) { return x.model.topic == t; });
  }
  const Status st = engine_->delete_topic(kTopicNames[t]);
  auto forget = [&] {
    if (cov_) ++cov_->deletes;
    topics_[t] = nullptr;
    model::forget(m_, t);
  };
  if (!topics_[t]) {
    // Not open in this engine: one still in the data directory is found
    // there and deleted (nothing of it is open after a reopen).
    if (!m_.stored[t]) {
      MODEL_EXPECT(st.code() == Code::kNotFound, "deleting a topic not created: " << st.to_string());
      return std::nullopt;
    }
    MODEL_EXPECT(st.ok(), "deleting a stored topic not opened yet: " << st.to_string());
    forget();
    return std::nullopt;
  }
  const bool used = std::any_of(subs_.begin(), subs_.end(), [&](const Sub& x) { return x.model.topic == t; }) ||
                    std::any_of(groups_.begin(), groups_.end(), [&](const Group& x) { return x.model.topic == t; });
  if (used) {
    MODEL_EXPECT(st.code() == Code::kBusy, "deleting a topic in use: " << st.to_string());
    if (cov_) ++cov_->busy;
    return std::nullopt;
  }
  MODEL_EXPECT(st.ok(), st.to_string());
  const std::uint64_t n = m_.records[t].size();
  MODEL_EXPECT(topics_[t]->published() == n, "deleted topic's handle says published " << topics_[t]->published());
  auto late = topics_[t]->publish("late");
  MODEL_EXPECT(late.status().code() == Code::kNotFound, "publish after delete: " << late.status().to_string());
  MODEL_EXPECT(engine_->topic(kTopicNames[t]).status().code() == Code::kNotFound, "deleted topic still found");
  forget();
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
    case OpKind::kPublish:
    case OpKind::kPublishBatch:
      if (auto e = publish(t, op.a, op.b, op.kind == OpKind::kPublishBatch)) return e;
      break;
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
      MODEL_EXPECT(available == 0 || op.a == 0 || r.count > 0,
                   "nothing read with " << available << " available at " << s.model.pos << " (lost " << r.lost
                                        << ", earliest " << earliest << ")");
      for (std::size_t i = 0; i < r.count; ++i)
        if (auto e = check_record(views[i], st, s.model.pos + i)) return e;
      s.model.pos += r.count;
      if (cov_) cov_->polled += r.count, cov_->lost += r.lost;
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
        groups_.push_back({start_group(m_, t, name, topics_[t]->earliest()), *wg, std::move(c).value(), {}});
        g = &groups_.back();
      }
      if (auto e = group_poll(*g, op.a)) return e;
      break;
    }
    case OpKind::kAck:
    case OpKind::kNack:
    case OpKind::kDeadLetter:
      if (auto e = answer(op)) return e;
      break;
    case OpKind::kGroupCommit: {
      if (groups_.empty()) break;
      Group& g = groups_[op.who % groups_.size()];
      const Status st = g.group->commit();
      MODEL_EXPECT(st.ok(), st.to_string());
      m_.group_committed[g.model.topic][g.model.name] = snapshot(g.model);
      break;
    }
    case OpKind::kDelete:
      if (auto e = remove(t, op.a == 1)) return e;
      break;
    case OpKind::kReopen:
      if (cov_) ++cov_->reopens;
      // close() destroys the consumers first, and each hands back what it
      // holds: those deliveries failed (a nack with no delay). Then the
      // engine's close commits every work group's state.
      for (Group& g : groups_) close_group(m_, g.model);
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
  const auto expect = expect_poll(g.model, m_.records[g.model.topic].size(), max);
  MODEL_EXPECT(r.count == expect.size(),
               "group " << g.model.name << " delivered " << r.count << ", model " << expect.size());
  for (std::size_t i = 0; i < r.count; ++i) {
    MODEL_EXPECT(d[i].sequence == expect[i].first,
                 "delivery " << i << " is " << d[i].sequence << ", model " << expect[i].first);
    MODEL_EXPECT(d[i].attempt == expect[i].second, "attempt of " << d[i].sequence << " is " << d[i].attempt);
    if (auto e = check_record(d[i].record, g.model.topic, d[i].sequence)) return e;
    g.held[d[i].sequence] = d[i];
    if (cov_) ++cov_->delivered;
    if (d[i].attempt > 1 && cov_) ++cov_->redelivered;
  }
  return std::nullopt;
}
std::optional<std::string> Harness::compare() {
  if (cov_) ++cov_->steps;
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
    MODEL_EXPECT(st.dead_lettered == g.model.dead_lettered, "group dead-lettered " << st.dead_lettered);
  }
  return std::nullopt;
}

}  // namespace conduit::test::model
