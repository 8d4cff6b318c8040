// Fuzz target: the C API (conduit/conduit_c.h) as a state machine. The input
// is a sequence of C calls (5 bytes each: call, topic, two arguments, and
// which handle): open and close the engine (on its data directory), create
// and delete topics, publish, publish_batch and publish_nowait, subscriber
// poll and commit, work-group poll, ack, nack and dead-letter, LogReader
// polls, stats, and calls with NULL handles, NULL out-pointers, bad names
// and bad enum values. Properties:
//   - every status is one conduit_c.h documents, never CONDUIT_INTERNAL, and
//     an error text reads "CodeName: why" (capi_checks.h);
//   - what the calls return agrees with the reference model of
//     tests/support/engine_model.h (the API fuzzer's and the model test's):
//     sequences, records, positions, losses, deliveries and their attempts,
//     work-group stats, dead letters;
//   - a call the API promises to refuse is refused with its status;
//   - handles outlive their engine: each call through them then says closed;
//   - nothing leaks (LeakSanitizer at exit; every handle is freed).
// Same limits as `api`: at most kMaxOps calls, small topics in /dev/shm.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "capi_harness.h"
#include "tests/support/temp_dir.h"

namespace conduit::fuzz::c_api {

#define CHECK_MODEL(cond, what)                                  \
  do {                                                           \
    if (!(cond)) return std::string(what) + ": expected " #cond; \
  } while (0)

void CHarness::close(bool subs_last) {
  for (Group& g : groups_) conduit_consumer_free(g.consumer);
  groups_.clear();
  if (!subs_last)
    for (Sub& s : subs_) conduit_subscriber_free(s.h);
  conduit_engine_free(engine_);
  engine_ = nullptr;
  for (Sub& s : subs_) {
    if (subs_last) {
      // Its engine is gone: a poll says closed, once everything before was read.
      conduit_record r[4];
      conduit_poll_result pr;
      for (int i = 0; i < 1000; ++i) {
        const conduit_status st = call(conduit_subscriber_poll, s.h, r, std::size(r), std::int64_t{0}, &pr);
        FUZZ_CHECK(st == CONDUIT_OK || st == CONDUIT_CLOSED);
        if (st == CONDUIT_CLOSED || pr.closed) break;
        FUZZ_CHECK(pr.count > 0 || pr.lost > 0);
      }
      FUZZ_CHECK(pr.closed);
      conduit_subscriber_free(s.h);
    }
  }
  subs_.clear();
  for (conduit_topic* t : topics_)
    if (t) stale_.push_back(t);
}

std::optional<std::string> CHarness::check_record(const conduit_record& r, int t, std::uint64_t seq) {
  CHECK_MODEL(r.sequence == seq, "sequence " + std::to_string(r.sequence) + ", model " + std::to_string(seq));
  CHECK_MODEL(seq < m_.records[t].size(), "sequence never published");
  CHECK_MODEL(view(r.message.payload) == m_.records[t][seq], "payload of " + std::to_string(seq));
  CHECK_MODEL(view(r.message.key) == "k" + std::to_string(seq % 7), "key of " + std::to_string(seq));
  CHECK_MODEL(r.message.header_count == 1 && view(r.message.headers[0].name) == "n" &&
                  view(r.message.headers[0].value) == std::to_string(seq),
              "header n of " + std::to_string(seq));
  conduit_header h;
  CHECK_MODEL(conduit_record_header(&r, 0, &h) == CONDUIT_OK && view(h.value) == std::to_string(seq),
              "conduit_record_header");
  CHECK_MODEL(conduit_record_header(&r, 1, &h) == CONDUIT_INVALID_ARGUMENT, "header past the count");
  return std::nullopt;
}

std::optional<std::string> CHarness::publish(const Step& s) {
  const int t = s.topic;
  if (!topics_[t]) return std::nullopt;
  const std::uint32_t count = s.a % 9, size = s.b < 0xf0 ? s.b : 4096 - 16u * (s.b - 0xf0);
  std::vector<std::string> payloads(count), keys(count), ns(count);
  std::vector<conduit_header> headers(count);
  std::vector<conduit_message> msgs(count);
  const std::uint64_t first = m_.records[t].size();
  for (std::uint32_t i = 0; i < count; ++i) {
    payloads[i] = md::payload_of(t, first + i, size);
    keys[i] = "k" + std::to_string((first + i) % 7);
    ns[i] = std::to_string(first + i);
    headers[i] = {{"n", 1}, {ns[i].data(), ns[i].size()}};
    msgs[i] = {};
    msgs[i].payload = {payloads[i].data(), payloads[i].size()};
    msgs[i].key = {keys[i].data(), keys[i].size()};
    msgs[i].headers = &headers[i];
    msgs[i].header_count = 1;
  }
  if (s.call == Call::kPublishBatch) {
    std::vector<std::uint64_t> seqs(count);
    std::size_t n = 99;
    const conduit_status st =
        call(conduit_topic_publish_batch, topics_[t], msgs.data(), std::size_t{count}, seqs.data(), &n);
    CHECK_MODEL(st == CONDUIT_OK && n == count, "publish_batch");
    for (std::uint32_t i = 0; i < count; ++i) CHECK_MODEL(seqs[i] == first + i, "batch sequence");
  } else {
    for (std::uint32_t i = 0; i < count; ++i) {
      std::uint64_t seq = ~0ull;
      const bool nowait = s.call == Call::kPublishNowait;
      const conduit_status st =
          call(nowait ? conduit_topic_publish_nowait : conduit_topic_publish, topics_[t], &msgs[i], &seq);
      CHECK_MODEL(st == CONDUIT_OK && seq == first + i, "publish of " + std::to_string(first + i));
      // Memory topics are durable at once or never: only persisted ones wait.
      if (nowait && t != 0)
        CHECK_MODEL(call(conduit_topic_await_durable, topics_[t], seq, std::int64_t{5'000'000'000}) == CONDUIT_OK,
                    "await_durable");
    }
  }
  for (std::string& p : payloads) m_.records[t].push_back(std::move(p));
  return std::nullopt;
}

std::optional<std::string> CHarness::poll(Sub& s, std::uint32_t max) {
  const int t = s.model.topic;
  const std::uint64_t e = earliest(topics_[t]);
  std::vector<conduit_record> out(max);
  conduit_poll_result r;
  CHECK_MODEL(call(conduit_subscriber_poll, s.h, out.data(), std::size_t{max}, std::int64_t{0}, &r) == CONDUIT_OK,
              "subscriber poll");
  const std::uint64_t gap = e > s.model.pos ? e - s.model.pos : 0;
  CHECK_MODEL(r.lost == 0 || r.lost == gap, "lost " + std::to_string(r.lost));
  s.model.pos += r.lost;
  s.model.lost += r.lost;
  const std::uint64_t n = m_.records[t].size(), available = n > s.model.pos ? n - s.model.pos : 0;
  CHECK_MODEL(r.count <= std::min<std::uint64_t>(available, max), "poll count");
  CHECK_MODEL(available == 0 || max == 0 || r.count > 0, "nothing read with records available");
  for (std::size_t i = 0; i < r.count; ++i)
    if (auto err = check_record(out[i], t, s.model.pos + i)) return err;
  s.model.pos += r.count;
  CHECK_MODEL(!r.closed, "closed while open");
  return std::nullopt;
}

std::optional<std::string> CHarness::group_poll(const Step& s) {
  const int t = 1 + s.topic % 2;  // persisted topics only, as in the model
  if (!topics_[t]) return std::nullopt;
  const std::string name = "g" + std::to_string(s.who % 2);
  Group* g = nullptr;
  for (Group& x : groups_)
    if (x.model.topic == t && x.model.name == name) g = &x;
  if (g == nullptr) {
    conduit_work_group_options o;
    conduit_work_group_options_init(&o);
    o.max_in_flight = md::kMaxInFlight;
    conduit_work_group* wg = nullptr;
    CHECK_MODEL(call(conduit_topic_work_group, topics_[t], name.c_str(), &o, &wg) == CONDUIT_OK, "work_group");
    CHECK_MODEL(std::string(conduit_work_group_name(wg)) == name, "work group name");
    conduit_consumer* c = nullptr;
    CHECK_MODEL(
        call(conduit_work_group_consumer, wg, static_cast<const conduit_consumer_options*>(nullptr), &c) == CONDUIT_OK,
        "consumer");
    groups_.push_back({md::start_group(m_, t, name, earliest(topics_[t])), wg, c, {}, {}});
    g = &groups_.back();
  }
  const std::uint32_t max = 1 + s.a % 8;
  conduit_delivery d[8];
  conduit_poll_result r;
  CHECK_MODEL(call(conduit_consumer_poll, g->consumer, d, std::size_t{max}, std::int64_t{0}, &r) == CONDUIT_OK,
              "consumer poll");
  CHECK_MODEL(r.lost == g->model.unreported_gap, "group gap " + std::to_string(r.lost));
  g->model.unreported_gap = 0;
  const auto expect = md::expect_poll(g->model, m_.records[t].size(), max);
  CHECK_MODEL(r.count == expect.size(),
              "delivered " + std::to_string(r.count) + ", model " + std::to_string(expect.size()));
  for (std::size_t i = 0; i < r.count; ++i) {
    CHECK_MODEL(d[i].record.sequence == expect[i].first && d[i].attempt == expect[i].second,
                "delivery " + std::to_string(i));
    if (auto err = check_record(d[i].record, t, d[i].record.sequence)) return err;
    g->held[d[i].record.sequence] = d[i];
  }
  return std::nullopt;
}

std::optional<std::string> CHarness::answer(const Step& s) {
  if (groups_.empty()) return std::nullopt;
  Group& g = groups_[s.who % groups_.size()];
  const int how = static_cast<int>(s.b % 4);
  if (how == 3) {  // a second answer to one answered already
    if (g.answered) CHECK_MODEL(conduit_consumer_ack(g.consumer, &*g.answered) == CONDUIT_NOT_FOUND, "second answer");
    return std::nullopt;
  }
  if (g.held.empty()) return std::nullopt;
  auto it = g.held.begin();
  std::advance(it, s.a % g.held.size());
  const conduit_delivery d = it->second;
  const OpKind kind = how == 0 ? OpKind::kAck : how == 1 ? OpKind::kNack : OpKind::kDeadLetter;
  const conduit_status st = kind == OpKind::kAck    ? conduit_consumer_ack(g.consumer, &d)
                            : kind == OpKind::kNack ? conduit_consumer_nack(g.consumer, &d, 0)
                                                    : conduit_consumer_dead_letter(g.consumer, &d, "fuzz");
  CHECK_MODEL(st == CONDUIT_OK, "answer of " + std::to_string(d.record.sequence));
  md::answered(g.model, d.record.sequence, kind);
  g.held.erase(it);
  g.answered = d;
  if (kind == OpKind::kDeadLetter) {
    const int t = g.model.topic;
    ++m_.dead_letters[t];
    conduit_topic* dlq = nullptr;
    const std::string dlq_name = std::string(md::kTopicNames[t]) + ".dlq";
    CHECK_MODEL(call(conduit_engine_topic, engine_, dlq_name.c_str(), &dlq) == CONDUIT_OK, "dead-letter topic");
    CHECK_MODEL(published(dlq) == m_.dead_letters[t], "dead letters");
  }
  return std::nullopt;
}

std::optional<std::string> CHarness::remove(int t, bool drop_users) {
  if (drop_users) {
    for (Sub& x : subs_)
      if (x.model.topic == t) conduit_subscriber_free(x.h);
    std::erase_if(subs_, [&](const Sub& x) { return x.model.topic == t; });
    for (Group& x : groups_)
      if (x.model.topic == t) conduit_consumer_free(x.consumer);
    std::erase_if(groups_, [&](const Group& x) { return x.model.topic == t; });
  }
  const conduit_status st = call(conduit_engine_delete_topic, engine_, md::kTopicNames[t]);
  if (!topics_[t]) {
    CHECK_MODEL(st == (m_.stored[t] ? CONDUIT_OK : CONDUIT_NOT_FOUND), "delete of a topic not open");
    if (st == CONDUIT_OK) md::forget(m_, t);
    return std::nullopt;
  }
  const bool used = std::any_of(subs_.begin(), subs_.end(), [&](const Sub& x) { return x.model.topic == t; }) ||
                    std::any_of(groups_.begin(), groups_.end(), [&](const Group& x) { return x.model.topic == t; });
  CHECK_MODEL(st == (used ? CONDUIT_BUSY : CONDUIT_OK), "delete");
  if (used) return std::nullopt;
  std::uint64_t seq;
  refused(CONDUIT_NOT_FOUND, conduit_topic_publish_bytes, topics_[t], static_cast<const void*>("late"), std::size_t{4},
          &seq);
  topics_[t] = nullptr;
  md::forget(m_, t);
  return std::nullopt;
}

std::optional<std::string> CHarness::log_reader(const Step& s) {
  const int t = 1 + s.topic % 2;
  conduit_log_reader_options o;
  conduit_log_reader_options_init(&o);
  conduit_log_reader* lr = nullptr;
  const conduit_status st = call(conduit_log_reader_open, dir_.c_str(), md::kTopicNames[t], &o, &lr);
  if (!m_.stored[t]) {
    CHECK_MODEL(st == CONDUIT_NOT_FOUND, "log reader of a topic not stored");
    return std::nullopt;
  }
  CHECK_MODEL(st == CONDUIT_OK, "log reader open");
  // It reads what is durable: a prefix of the model's records from earliest.
  std::uint64_t next = 0;
  bool first = true;
  conduit_record out[16];
  for (std::uint32_t polls = 0; polls <= s.a % 4; ++polls) {
    conduit_poll_result r;
    CHECK_MODEL(call(conduit_log_reader_poll, lr, out, std::size(out), std::int64_t{0}, &r) == CONDUIT_OK,
                "log reader poll");
    for (std::size_t i = 0; i < r.count; ++i) {
      if (first) next = out[0].sequence, first = false;
      if (auto err = check_record(out[i], t, next++)) return err;
    }
    if (r.count == 0) break;
  }
  conduit_log_reader_free(lr);
  return std::nullopt;
}

std::optional<std::string> CHarness::compare() {
  for (int t = 0; t < md::kTopics; ++t) {
    if (!topics_[t]) continue;
    conduit_topic_stats st;
    CHECK_MODEL(conduit_topic_stats_get(topics_[t], &st) == CONDUIT_OK, "stats");
    const std::uint64_t n = m_.records[t].size();
    CHECK_MODEL(st.published == n && st.claimed == n, std::string(md::kTopicNames[t]) + " published " +
                                                          std::to_string(st.published) + ", model " +
                                                          std::to_string(n));
    CHECK_MODEL(st.earliest <= n && st.earliest >= m_.earliest_seen[t], "earliest");
    m_.earliest_seen[t] = st.earliest;
    if (t == 1) CHECK_MODEL(st.earliest == 0, "log dropped records");
  }
  for (const Sub& s : subs_) {
    const std::uint64_t n = m_.records[s.model.topic].size();
    CHECK_MODEL(conduit_subscriber_position(s.h) == s.model.pos, "subscriber position");
    CHECK_MODEL(conduit_subscriber_lost(s.h) == s.model.lost, "subscriber lost");
    CHECK_MODEL(conduit_subscriber_lag(s.h) == (n > s.model.pos ? n - s.model.pos : 0), "subscriber lag");
  }
  for (const Group& g : groups_) {
    conduit_work_group_stats st;
    CHECK_MODEL(conduit_work_group_stats_get(g.group, &st) == CONDUIT_OK, "group stats");
    CHECK_MODEL(st.next == g.model.next && st.ack_floor == g.model.floor, "group next/floor");
    CHECK_MODEL(st.pending_redelivery == g.model.redeliver.size(), "pending redelivery");
    CHECK_MODEL(st.dead_lettered == g.model.dead_lettered, "group dead-lettered");
    CHECK_MODEL(st.in_flight == g.model.out.size(), "in flight");
  }
  return std::nullopt;
}

std::optional<std::string> CHarness::step(const Step& s) {
  const int t = s.topic;
  switch (s.call) {
    case Call::kCreate: {
      const conduit_topic_options o = c_options(t);
      conduit_topic* topic = nullptr;
      CHECK_MODEL(call(conduit_engine_create_topic, engine_, md::kTopicNames[t], &o, &topic) == CONDUIT_OK, "create");
      CHECK_MODEL(topics_[t] == nullptr || topics_[t] == topic, "a second create returned another topic");
      CHECK_MODEL(std::string(conduit_topic_name(topic)) == md::kTopicNames[t], "topic name");
      topics_[t] = topic;
      m_.created[t] = true;
      m_.stored[t] = t != 0;
      break;
    }
    case Call::kPublish:
    case Call::kPublishBatch:
    case Call::kPublishNowait:
      if (auto e = publish(s)) return e;
      break;
    case Call::kSubscribe: {
      if (!topics_[t]) break;
      conduit_subscriber_options o;
      conduit_subscriber_options_init(&o);
      o.slow = CONDUIT_SLOW_LOSE_OLDEST;
      const std::uint64_t n = m_.records[t].size();
      std::uint64_t start = n;
      std::string name;
      const std::uint32_t kind = s.a % 4, off = s.b % 40;
      if (kind == 0) o.start.kind = CONDUIT_START_EARLIEST, start = earliest(topics_[t]);
      if (kind == 1) o.start.kind = CONDUIT_START_LATEST;
      if (kind == 2) {
        start = n > off ? n - off + 20 : off % 25;
        o.start.kind = CONDUIT_START_SEQUENCE, o.start.sequence = start;
      }
      if (kind == 3 && t != 0) {
        name = "s" + std::to_string(off % 3);
        o.name = name.c_str(), o.start.kind = CONDUIT_START_EARLIEST, start = earliest(topics_[t]);
        if (m_.committed[t].count(name)) start = m_.committed[t][name];
      }
      conduit_subscriber* h = nullptr;
      CHECK_MODEL(call(conduit_topic_subscribe, topics_[t], &o, &h) == CONDUIT_OK, "subscribe");
      subs_.push_back({md::ModelSub{t, name, start}, h});
      break;
    }
    case Call::kPoll:
      if (!subs_.empty())
        if (auto e = poll(subs_[s.who % subs_.size()], s.a % 41)) return e;
      break;
    case Call::kCommit: {
      if (subs_.empty()) break;
      Sub& x = subs_[s.who % subs_.size()];
      const conduit_status st = call(conduit_subscriber_commit, x.h);
      CHECK_MODEL(st == (x.model.name.empty() ? CONDUIT_INVALID_ARGUMENT : CONDUIT_OK), "commit");
      if (st == CONDUIT_OK) m_.committed[x.model.topic][x.model.name] = x.model.pos;
      break;
    }
    case Call::kFreeSub:
      if (subs_.empty()) break;
      conduit_subscriber_free(subs_[s.who % subs_.size()].h);
      subs_.erase(subs_.begin() + s.who % subs_.size());
      break;
    case Call::kGroupPoll:
      if (auto e = group_poll(s)) return e;
      break;
    case Call::kAnswer:
      if (auto e = answer(s)) return e;
      break;
    case Call::kGroupCommit: {
      if (groups_.empty()) break;
      Group& g = groups_[s.who % groups_.size()];
      CHECK_MODEL(call(conduit_work_group_commit, g.group) == CONDUIT_OK, "group commit");
      m_.group_committed[g.model.topic][g.model.name] = md::snapshot(g.model);
      break;
    }
    case Call::kReopen:
      // As in the model: the consumers hand back what they hold, then the
      // engine's close commits every group.
      for (Group& g : groups_) md::close_group(m_, g.model);
      close(s.who % 2 == 1);
      open();
      m_.records[0].clear();
      m_.earliest_seen[0] = 0;
      for (bool& c : m_.created) c = false;
      break;
    case Call::kDelete:
      if (auto e = remove(t, s.a % 2 == 1)) return e;
      break;
    case Call::kLogReader:
      if (auto e = log_reader(s)) return e;
      break;
    case Call::kMisuse: misuse(s); break;
    case Call::kStats:
      CHECK_MODEL(!conduit_engine_closed(engine_) && conduit_engine_closed(nullptr), "conduit_engine_closed");
      CHECK_MODEL(conduit_topic_stats_get(nullptr, nullptr) == CONDUIT_INVALID_ARGUMENT, "stats of NULL");
      CHECK_MODEL(conduit_work_group_stats_get(nullptr, nullptr) == CONDUIT_INVALID_ARGUMENT, "group stats of NULL");
      break;
    case Call::kCount: break;
  }
  return compare();
}

}  // namespace conduit::fuzz::c_api

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace ca = conduit::fuzz::c_api;
  conduit::fuzz::ByteReader in(data, size);
  std::vector<ca::Step> steps;
  while (in.left() != 0 && steps.size() < ca::kMaxOps) {
    ca::Step s{};
    s.call = static_cast<ca::Call>(in.take<std::uint8_t>() % static_cast<int>(ca::Call::kCount));
    s.topic = in.take<std::uint8_t>() % conduit::test::model::kTopics;
    s.a = in.take<std::uint8_t>();
    s.b = in.take<std::uint8_t>();
    s.who = in.take<std::uint8_t>();
    steps.push_back(s);
  }
  const conduit::test::TempDir dir(conduit::test::scratch_base());
  ca::CHarness h(dir.path.string());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (auto e = h.step(steps[i])) {
      std::fprintf(stderr, "fuzz_capi: step %zu diverges from the model: %s\nsequence (call topic a b who):\n", i,
                   e->c_str());
      for (std::size_t k = 0; k <= i; ++k)
        std::fprintf(stderr, "  %d %d %u %u %u\n", static_cast<int>(steps[k].call), steps[k].topic, steps[k].a,
                     steps[k].b, steps[k].who);
      std::abort();
    }
  }
  return 0;
}
