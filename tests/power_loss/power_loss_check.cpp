// The check after a cut (power_loss_worker check): the log the engine
// recovers from the copied image, held to what the worker was told before
// the cut (its ack file). Each failed check prints one line
// "FAIL <check>: ..." (with a few examples when it failed many times);
// tests/power_loss/README.md says what each check means.
#include <conduit/conduit.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "tests/power_loss/workload.h"

using namespace conduit;

namespace powerloss {
namespace {

constexpr std::uint64_t kBadTag = ~std::uint64_t{0};  // a record whose payload is not any tag's
// Work-group records the check may find neither handed out again nor
// reported acked: acks the engine made durable while the worker had not
// yet written them to the ack file, at most one batch (32) per consumer.
constexpr std::uint64_t kUnreportedAcks = 2 * 32;
// Records the check appends to each topic, a third by each way of publishing.
constexpr std::uint64_t kAppendEach = 4;

std::string u(std::uint64_t v) { return std::to_string(v); }
std::string who(std::uint64_t tag) {
  return tag == kBadTag ? "a corrupt record" : "producer " + u(tag_producer(tag)) + " counter " + u(tag_counter(tag));
}

// The failures of one check, printed as one line with the first examples.
class Failures {
 public:
  void add(const std::string& check, const std::string& example) {
    Entry& e = by_check_[check];
    if (e.count++ < 3) e.examples.push_back(example);
  }
  bool any() const { return !by_check_.empty(); }
  void print() const {
    for (const auto& [check, e] : by_check_) {
      std::printf("FAIL %s: %s", check.c_str(), e.examples[0].c_str());
      for (std::size_t i = 1; i < e.examples.size(); ++i) std::printf("; %s", e.examples[i].c_str());
      if (e.count > e.examples.size())
        std::printf("; and %llu more", static_cast<unsigned long long>(e.count - e.examples.size()));
      std::printf("\n");
    }
  }

 private:
  struct Entry {
    std::uint64_t count = 0;
    std::vector<std::string> examples;
  };
  std::map<std::string, Entry> by_check_;
};

bool read_acks(const std::string& path, std::vector<AckEntry>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A kill in the middle of a write leaves a partial entry at the end: it
  // reports nothing (its call's report never finished).
  for (std::size_t off = 0; off + sizeof(AckEntry) <= bytes.size(); off += sizeof(AckEntry)) {
    AckEntry e;
    std::memcpy(&e, bytes.data() + off, sizeof e);
    if ((e.kind & 0xffff0000u) != AckEntry::kMagic || e.topic >= kTopics) {
      std::fprintf(stderr, "power_loss_worker: %s offset %zu: not an ack entry\n", path.c_str(), off);
      return false;
    }
    out->push_back(e);
  }
  return true;
}

std::uint32_t kind(const AckEntry& e) { return e.kind & 0xffffu; }

// Every record of topic `t`, from the start of the log to published(),
// through a fresh subscriber: the tag of each, kBadTag for a corrupt one.
// The log must start at 0 (nothing is retained away) and be dense.
std::vector<std::uint64_t> read_log(Topic* topic, std::uint32_t t, const std::string& phase, Failures* f) {
  std::vector<std::uint64_t> tags;
  const std::string where = phase + " topic " + topic_name(t);
  if (topic->earliest() != 0) f->add("log-start", where + ": the log starts at " + u(topic->earliest()) + ", not 0");
  SubscriberOptions o;
  o.start = StartAt::earliest();
  auto sub = topic->subscribe(o);
  if (!sub.ok()) {
    f->add("read", where + ": subscribe: " + sub.status().to_string());
    return tags;
  }
  const std::uint64_t end = topic->published();
  std::vector<RecordView> views(256);
  int idle = 0;
  while (tags.size() < end && idle < 20) {
    const PollResult r = (*sub)->poll(views, std::chrono::milliseconds(50));
    idle = r.count == 0 ? idle + 1 : 0;
    if (r.lost != 0) f->add("read", where + ": " + u(r.lost) + " records lost before " + u(tags.size()));
    for (std::size_t i = 0; i < r.count; ++i) {
      if (views[i].sequence() != tags.size()) {
        f->add("read", where + ": record " + u(views[i].sequence()) + " where " + u(tags.size()) + " was next");
        return tags;
      }
      std::uint64_t tag = 0;
      if (!intact_payload(t, views[i].payload(), &tag)) {
        f->add("corrupt-record", where + " seq " + u(tags.size()) + ": delivered with a payload no producer wrote");
        tag = kBadTag;
      }
      tags.push_back(tag);
    }
  }
  if (tags.size() != end)
    f->add("read", where + ": the reader stopped at " + u(tags.size()) + ", published() is " + u(end));
  // Each producer's records are its counters 0, 1, 2, ... in sequence order:
  // a prefix of what it published, as the log is a prefix of what was claimed.
  std::map<std::uint64_t, std::uint64_t> next;
  for (std::size_t seq = 0; seq < tags.size(); ++seq) {
    if (tags[seq] == kBadTag) continue;
    std::uint64_t& n = next[tag_producer(tags[seq])];
    if (tag_counter(tags[seq]) != n)
      f->add("producer-order",
             where + " seq " + u(seq) + ": " + who(tags[seq]) + " where counter " + u(n) + " was next");
    n = tag_counter(tags[seq]) + 1;
  }
  return tags;
}

struct Opened {
  std::unique_ptr<Engine> engine;
  Topic* topics[kTopics] = {nullptr, nullptr};
};

// Opens the engine and both topics; false (and a failure) when it cannot.
// With `read_only`, a damaged topic opens read-only
// (EngineOptions::read_only_on_corruption) instead of failing.
bool open_engine(const std::string& data_dir, const std::string& phase, bool read_only, Opened* o, Failures* f) {
  EngineOptions eo;
  eo.data_dir = data_dir;
  eo.read_only_on_corruption = read_only;
  auto engine = Engine::open(eo);
  if (!engine.ok()) {
    f->add("open", phase + ": Engine::open: " + engine.status().to_string());
    return false;
  }
  o->engine = std::move(*engine);
  for (std::uint32_t t = 0; t < kTopics; ++t) {
    auto topic = o->engine->create_topic(topic_name(t), topic_options(t));
    if (!topic.ok()) {
      f->add("open", phase + ": create_topic " + topic_name(t) + ": " + topic.status().to_string());
      return false;
    }
    o->topics[t] = *topic;
    const Status ro = (*topic)->recovery_stats().read_only;
    if (!ro.ok() && !read_only)
      f->add("open", phase + ": topic " + topic_name(t) + " opened read-only: " + ro.to_string());
  }
  return true;
}

// What the worker was told, by topic.
struct Promises {
  std::vector<AckEntry> durable[kTopics];    // kDurableRecord
  std::vector<AckEntry> published[kTopics];  // kPublished
  std::uint64_t watermark[kTopics] = {0, 0};
  bool committed[kTopics] = {false, false};
  AckEntry last_commit[kTopics];
  std::unordered_set<std::uint64_t> group_acked;  // tags
  std::uint64_t group_floor = 0;                  // highest floor reported committed
};

Promises sort_promises(const std::vector<AckEntry>& acks) {
  Promises p;
  for (const AckEntry& e : acks) {
    switch (kind(e)) {
      case AckEntry::kDurableRecord: p.durable[e.topic].push_back(e); break;
      case AckEntry::kPublished: p.published[e.topic].push_back(e); break;
      case AckEntry::kWatermark: p.watermark[e.topic] = std::max(p.watermark[e.topic], e.seq); break;
      case AckEntry::kGroupAck: p.group_acked.insert(e.tag); break;
      case AckEntry::kSubCommit:
        p.committed[e.topic] = true;
        p.last_commit[e.topic] = e;  // one thread commits: file order is commit order
        break;
      case AckEntry::kGroupCommit: p.group_floor = std::max(p.group_floor, e.seq); break;
      default: break;
    }
  }
  return p;
}

// Acknowledged records and records below an observed durable watermark are
// in the recovered log, each the record that was acknowledged.
void check_promises(const Promises& p, const std::vector<std::uint64_t> (&tags)[kTopics], Failures* f) {
  for (std::uint32_t t = 0; t < kTopics; ++t) {
    const std::uint64_t end = tags[t].size();
    const std::string topic = std::string("topic ") + topic_name(t);
    auto held = [&](const AckEntry& e, const char* lost_check, const std::string& why) {
      if (e.seq >= end)
        f->add(lost_check,
               topic + " seq " + u(e.seq) + " (" + who(e.tag) + ", " + why + ") is gone: the log ends at " + u(end));
      else if (tags[t][e.seq] != e.tag)
        f->add("acked-record-changed",
               topic + " seq " + u(e.seq) + " holds " + who(tags[t][e.seq]) + ", not the acknowledged " + who(e.tag));
    };
    for (const AckEntry& e : p.durable[t])
      held(e, "acked-record-lost", t == kSync ? "publish returned OK" : "await_durable returned OK");
    if (p.watermark[t] > end)
      f->add("durable-watermark",
             topic + ": durable() returned " + u(p.watermark[t]) + " before the cut; the log ends at " + u(end));
    for (const AckEntry& e : p.published[t])
      if (e.seq < p.watermark[t]) held(e, "durable-record-lost", "below durable() " + u(p.watermark[t]));
  }
}

// Hands every delivery the group makes now to `inspect`, then acks it (one
// journal sync per poll; a record's view is valid until its ack). Records
// already in the log go out at once (no backoff, no ack timeout), so two
// empty polls in a row mean there are no more.
void drain_group(Consumer* consumer, const std::string& where, Failures* f,
                 const std::function<void(const Delivery&)>& inspect) {
  Delivery d[256];
  for (int idle = 0; idle < 2;) {
    const PollResult r = consumer->poll(d, std::chrono::milliseconds(10));
    idle = r.count == 0 ? idle + 1 : 0;
    if (r.lost != 0) f->add("group-lost", where + ": the group reports " + u(r.lost) + " records lost");
    for (std::size_t i = 0; i < r.count; ++i) inspect(d[i]);
    if (const std::size_t n = consumer->ack(std::span<const Delivery>(d, r.count)); n != r.count)
      f->add("group-ack", where + ": " + u(r.count - n) + " of " + u(r.count) + " acks refused");
  }
}

// The tag of a delivered record, checked against the log read before.
std::uint64_t delivered_tag(const RecordView& r, std::uint64_t seq, const std::vector<std::uint64_t>& tags,
                            const std::string& where, Failures* f) {
  std::uint64_t tag = 0;
  if (!intact_payload(kSync, r.payload(), &tag)) {
    f->add("corrupt-record", where + ": seq " + u(seq) + " delivered with a payload no producer wrote");
    return kBadTag;
  }
  if (seq >= tags.size() || tags[seq] != tag)
    f->add("group-delivery", where + ": seq " + u(seq) + " delivered as " + who(tag) + ", the log holds " +
                                 (seq < tags.size() ? who(tags[seq]) : "no such record"));
  return tag;
}

// Appends to each topic in every way the worker publishes: the log goes on.
// The appended tags, by topic; their sequences follow the recovered end.
void append_more(Opened& o, std::vector<std::uint64_t> (&appended)[kTopics], Failures* f) {
  for (std::uint32_t t = 0; t < kTopics; ++t) {
    Topic* topic = o.topics[t];
    const std::string where = std::string("append to topic ") + topic_name(t);
    const std::uint64_t start = topic->published();
    std::vector<std::string> payloads;
    std::vector<std::uint64_t> tags, seqs;
    for (std::uint64_t i = 0; i < 3 * kAppendEach; ++i) {
      tags.push_back(make_tag(kCheckProducer, i));
      payloads.push_back(payload_for(t, tags.back()));
    }
    auto fail = [&](const std::string& what, const Status& s) {
      f->add("append", where + ": " + what + ": " + s.to_string());
    };
    bool ok = true;
    for (std::uint64_t i = 0; ok && i < kAppendEach; ++i) {
      auto r = topic->publish(payloads[i]);
      if (!r.ok())
        fail("publish", r.status()), ok = false;
      else
        seqs.push_back(*r);
    }
    if (ok) {
      std::vector<Message> batch;
      for (std::uint64_t i = kAppendEach; i < 2 * kAppendEach; ++i) batch.push_back(message(payloads[i]));
      std::vector<std::uint64_t> s(batch.size());
      PublishBatchResult r = topic->publish_batch(batch, s);
      if (!r.ok())
        fail("publish_batch", r.status), ok = false;
      else
        seqs.insert(seqs.end(), s.begin(), s.end());
    }
    for (std::uint64_t i = 2 * kAppendEach; ok && i < 3 * kAppendEach; ++i) {
      auto r = topic->publish_nowait(message(payloads[i]));
      if (!r.ok())
        fail("publish_nowait", r.status()), ok = false;
      else
        seqs.push_back(*r);
    }
    if (ok) {
      if (Status s = topic->await_durable(seqs.back(), std::chrono::seconds(10)); !s.ok())
        fail("await_durable", s), ok = false;
    }
    if (!ok) continue;
    for (std::size_t i = 0; i < seqs.size(); ++i)
      if (seqs[i] != start + i) {
        f->add("append", where + ": record " + u(i) + " got seq " + u(seqs[i]) + ", not " + u(start + i));
        ok = false;
        break;
      }
    if (ok) appended[t] = tags;
  }
}

// What the check carries from the log after the cut (phase A) to the log
// after its appends and a reopen (phase B).
struct State {
  Promises p;
  Failures f;
  std::vector<std::uint64_t> tags[kTopics];      // the recovered log
  std::vector<std::uint64_t> appended[kTopics];  // the check's appends
  bool sub_resumed[kTopics] = {false, false};    // phase A left the named subscriber at the end of the log
  std::uint64_t redelivered = 0, unreported = 0;
  std::string disk_io;
};

// Named subscribers resume within the recovered log, and no earlier than
// what their last reported commit stored (at least the part of it that was
// durable then); they read on to its end and commit there.
// With `read_only` (the topics could only be opened so), only where they
// resume is checked.
void check_subscribers(Opened& o, State* st, bool read_only, std::unique_ptr<Subscriber> (&subs)[kTopics]) {
  Failures& f = st->f;
  for (std::uint32_t t = 0; t < kTopics; ++t) {
    const std::vector<std::uint64_t>& tags = st->tags[t];
    const std::uint64_t end = tags.size();
    const std::string where = std::string("subscriber ") + subscriber_name(t);
    SubscriberOptions so;
    so.name = subscriber_name(t);
    so.start = StartAt::earliest();
    auto sub = o.topics[t]->subscribe(so);
    if (!sub.ok()) {
      f.add("commit", where + ": subscribe: " + sub.status().to_string());
      continue;
    }
    subs[t] = std::move(*sub);
    const std::uint64_t pos = subs[t]->position();
    const AckEntry& c = st->p.last_commit[t];
    const bool committed = st->p.committed[t];
    const std::string last = committed
                                 ? " (its last reported commit: " + u(c.seq) + ", durable() then " + u(c.aux) + ")"
                                 : " (no commit reported)";
    if (pos > end) {
      f.add("commit-past-end", where + " resumes at " + u(pos) + "; the log ends at " + u(end) + last);
      continue;
    }
    if (committed && pos < std::min(c.seq, c.aux)) {
      f.add("commit-lost", where + " resumes at " + u(pos) + last);
      continue;
    }
    if (read_only) continue;
    std::vector<RecordView> views(256);
    for (int idle = 0; subs[t]->position() < end && idle < 20;) {
      const PollResult r = subs[t]->poll(views, std::chrono::milliseconds(50));
      idle = r.count == 0 ? idle + 1 : 0;
      for (std::size_t i = 0; i < r.count; ++i) {
        const std::uint64_t seq = views[i].sequence();
        std::uint64_t tag = 0;
        if (!intact_payload(t, views[i].payload(), &tag))
          f.add("corrupt-record", where + ": seq " + u(seq) + " delivered with a payload no producer wrote");
        else if (seq >= end || tags[seq] != tag)
          f.add("read", where + ": seq " + u(seq) + " delivered as " + who(tag));
      }
    }
    if (subs[t]->position() != end) {
      f.add("read", where + ": stopped at " + u(subs[t]->position()) + "; the log ends at " + u(end));
      continue;
    }
    if (Status s = subs[t]->commit(); !s.ok()) {
      f.add("commit", where + ": " + s.to_string());
      continue;
    }
    st->sub_resumed[t] = true;
  }
}

// The work group's consumer, or nullptr (a failure).
std::unique_ptr<Consumer> group_consumer(Topic* topic, WorkGroup** group, const std::string& where, Failures* f) {
  auto g = topic->work_group(kGroup, group_options());
  if (!g.ok()) {
    f->add("group", where + ": " + g.status().to_string());
    return nullptr;
  }
  *group = *g;
  auto c = (*g)->consumer();
  if (!c.ok()) {
    f->add("group", where + ": consumer: " + c.status().to_string());
    return nullptr;
  }
  return std::move(*c);
}

// The work group: its floor within the log; no delivery acked before the
// cut handed out again; every other record handed out again, but for acks
// that were durable before the worker could report them. Acks all it gets.
std::unique_ptr<Consumer> check_group(Opened& o, State* st) {
  const std::string where = std::string("work group ") + kGroup;
  WorkGroup* group = nullptr;
  std::unique_ptr<Consumer> consumer = group_consumer(o.topics[kSync], &group, where, &st->f);
  if (!consumer) return nullptr;
  const std::vector<std::uint64_t>& tags = st->tags[kSync];
  const std::uint64_t end = tags.size();
  if (const std::uint64_t floor = group->stats().ack_floor; floor > end)
    st->f.add("group-floor-past-end", where + ": the ack floor is " + u(floor) + "; the log ends at " + u(end) +
                                          " (highest floor reported committed: " + u(st->p.group_floor) + ")");
  std::set<std::uint64_t> delivered;
  drain_group(consumer.get(), where + " after the cut", &st->f, [&](const Delivery& d) {
    const std::uint64_t tag = delivered_tag(d.record, d.sequence, tags, where, &st->f);
    if (st->p.group_acked.count(tag) != 0)
      st->f.add("acked-delivery-again",
                where + ": seq " + u(d.sequence) + " (" + who(tag) + ") was acked before the cut");
    delivered.insert(d.sequence);
    ++st->redelivered;
  });
  for (std::uint64_t seq = 0; seq < end; ++seq)
    if (delivered.count(seq) == 0 && st->p.group_acked.count(tags[seq]) == 0) ++st->unreported;
  if (st->unreported > kUnreportedAcks)
    st->f.add("group-record-missing", where + ": " + u(st->unreported) +
                                          " records were neither handed out again nor reported acked (at most " +
                                          u(kUnreportedAcks) + " acks can be in flight at the cut)");
  return consumer;
}

// Phase A: the log as the cut left it; then the check appends. false: the
// engine could not open it for writing (phase B has nothing to check).
bool after_the_cut(const std::string& data_dir, State* st) {
  Opened o;
  if (!open_engine(data_dir, "after the cut", false, &o, &st->f)) {
    // The log the engine refused may still hold every promised record:
    // open it read-only to tell a refusal from a loss, and check what can
    // be read.
    o.engine.reset();
    Opened ro;
    if (!open_engine(data_dir, "after the cut, read-only", true, &ro, &st->f)) return false;
    const std::string phase = "after the cut (read-only)";
    for (std::uint32_t t = 0; t < kTopics; ++t) st->tags[t] = read_log(ro.topics[t], t, phase, &st->f);
    std::printf("note: opened read-only, the log of topic %s ends at %zu, of topic %s at %zu; the checks ran on that\n",
                kSyncTopic, st->tags[kSync].size(), kAsyncTopic, st->tags[kAsync].size());
    check_promises(st->p, st->tags, &st->f);
    std::unique_ptr<Subscriber> subs[kTopics];
    check_subscribers(ro, st, true, subs);
    return false;
  }
  st->disk_io = o.engine->disk_io_description();
  for (std::uint32_t t = 0; t < kTopics; ++t) st->tags[t] = read_log(o.topics[t], t, "after the cut", &st->f);
  check_promises(st->p, st->tags, &st->f);
  std::unique_ptr<Subscriber> subs[kTopics];
  check_subscribers(o, st, false, subs);
  std::unique_ptr<Consumer> consumer = check_group(o, st);
  append_more(o, st->appended, &st->f);
  // Readers go before their engine (then `o` closes it).
  consumer.reset();
  for (auto& s : subs) s.reset();
  return true;
}

// Phase B: after a clean close, the log holds what it held plus the
// appends; the named subscribers and the group resume where phase A left
// them and get exactly the appended records.
void after_reopening(const std::string& data_dir, State* st) {
  const std::string phase = "after appending and reopening";
  Failures& f = st->f;
  Opened o;
  if (!open_engine(data_dir, phase, false, &o, &f)) return;
  std::vector<std::uint64_t> now[kTopics];
  for (std::uint32_t t = 0; t < kTopics; ++t) {
    const std::string where = phase + ", topic " + topic_name(t);
    now[t] = read_log(o.topics[t], t, phase, &f);
    std::vector<std::uint64_t> expected = st->tags[t];
    expected.insert(expected.end(), st->appended[t].begin(), st->appended[t].end());
    if (now[t] != expected)
      f.add("reopen", where + ": " + u(now[t].size()) + " records, expected " + u(expected.size()) +
                          " (the log after the cut and the check's appends)");
    if (!st->sub_resumed[t]) continue;  // phase A failed it already
    SubscriberOptions so;
    so.name = subscriber_name(t);
    auto sub = o.topics[t]->subscribe(so);
    if (!sub.ok() || (*sub)->position() != st->tags[t].size()) {
      f.add("reopen", where + ": subscriber " + subscriber_name(t) + " resumes at " +
                          (sub.ok() ? u((*sub)->position()) : sub.status().to_string()) + ", not at its commit " +
                          u(st->tags[t].size()));
      continue;
    }
    std::vector<RecordView> views(256);
    std::vector<std::uint64_t> got;
    for (int idle = 0; got.size() < st->appended[t].size() && idle < 20;) {
      const PollResult r = (*sub)->poll(views, std::chrono::milliseconds(50));
      idle = r.count == 0 ? idle + 1 : 0;
      for (std::size_t i = 0; i < r.count; ++i) {
        std::uint64_t tag = 0;
        got.push_back(intact_payload(t, views[i].payload(), &tag) ? tag : kBadTag);
      }
    }
    if (got != st->appended[t])
      f.add("subscriber-misses-appended", where + ": subscriber " + subscriber_name(t) + " read " + u(got.size()) +
                                              " records after its commit, expected the " + u(st->appended[t].size()) +
                                              " appended");
  }
  const std::string where = std::string("work group ") + kGroup + " " + phase;
  WorkGroup* group = nullptr;
  std::unique_ptr<Consumer> consumer = group_consumer(o.topics[kSync], &group, where, &f);
  if (!consumer) return;
  std::vector<std::uint64_t> got;
  drain_group(consumer.get(), where, &f,
              [&](const Delivery& d) { got.push_back(delivered_tag(d.record, d.sequence, now[kSync], where, &f)); });
  std::vector<std::uint64_t> want = st->appended[kSync];
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  if (got != want)
    f.add("group-misses-appended",
          where + ": handed out " + u(got.size()) + " records, expected the " + u(want.size()) + " appended");
}

}  // namespace

int check_after_cut(const std::string& data_dir, const std::string& ack_path) {
  std::vector<AckEntry> acks;
  if (!read_acks(ack_path, &acks)) {
    std::fprintf(stderr, "power_loss_worker: cannot read the ack file %s\n", ack_path.c_str());
    return 2;
  }
  State st;
  st.p = sort_promises(acks);
  if (after_the_cut(data_dir, &st)) after_reopening(data_dir, &st);
  if (st.f.any()) {
    st.f.print();
    return 1;
  }
  std::printf(
      "ok disk_io=\"%s\" sync_end=%zu sync_acked=%zu async_end=%zu async_acked=%zu async_watermark=%llu "
      "group_acked=%zu group_again=%llu group_unreported=%llu\n",
      st.disk_io.c_str(), st.tags[kSync].size(), st.p.durable[kSync].size(), st.tags[kAsync].size(),
      st.p.durable[kAsync].size(), static_cast<unsigned long long>(st.p.watermark[kAsync]), st.p.group_acked.size(),
      static_cast<unsigned long long>(st.redelivered), static_cast<unsigned long long>(st.unreported));
  return 0;
}

}  // namespace powerloss
