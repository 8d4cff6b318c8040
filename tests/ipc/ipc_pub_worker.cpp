// The other processes of ipc_publish_test, started with posix_spawn. One
// job per run:
//
//   ipc_pub_worker publish DIR TOPIC ID N   attaches and publishes "ID I" for
//                                           I in 0..N-1; prints "done SEQ"
//                                           (the last record's sequence)
//   ipc_pub_worker batch DIR TOPIC ID N K   the same with publish_batch, K at a
//                                           time (each batch's sequences
//                                           consecutive, else an error)
//   ipc_pub_worker durable DIR TOPIC N      publishes N records (a kSync
//                                           topic) and, after each, reads the
//                                           control file's durable watermark
//                                           (doc/log-format.md: u64 at 16);
//                                           prints "durable K" with K the
//                                           publishes it already covered
//   ipc_pub_worker read DIR TOPIC TOTAL     a LogReader from the earliest
//                                           record; prints "ok" once TOTAL
//                                           records came, dense and in each
//                                           publisher's order, or what was wrong
//   ipc_pub_worker subscribe DIR TOPIC TOTAL  the same with an attached
//                                           subscriber (prints "ready" first)
//   ipc_pub_worker forever DIR TOPIC ID     publishes "ID I" for I from 0, in
//                                           publishes, batches of 2..6 records
//                                           and claims (AttachedTopic::claim,
//                                           written in place, committed),
//                                           until killed; prints "ready"
//                                           after the first
//   ipc_pub_worker live DIR TOPIC ID STOP   publishes "ID I" (a few at a time,
//                                           pausing) until file STOP exists;
//                                           prints "done N" (N published)
//   ipc_pub_worker hold DIR TOPIC ID        publishes "ID 0", then claims room
//                                           for "ID 1" (AttachedTopic::claim),
//                                           writes half of it and holds the
//                                           claim open until killed; prints
//                                           "claimed SEQ" (the claim's)
#include <conduit/attach.h>
#include <conduit/conduit.h>
#include <conduit/reader.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <thread>
#include <vector>

using namespace conduit;
using namespace std::chrono_literals;

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::printf("error %s\n", what.c_str());
  return 1;
}

AttachedTopic* topic_of(const std::string& dir, const std::string& topic, std::unique_ptr<AttachedEngine>* keep) {
  auto attached = AttachedEngine::attach(dir);
  if (!attached.ok()) std::exit(fail("attach: " + attached.status().to_string()));
  *keep = std::move(attached).value();
  auto t = (*keep)->topic(topic);
  if (!t.ok()) std::exit(fail("topic: " + t.status().to_string()));
  return *t;
}

int publish(const std::string& dir, const std::string& topic, const std::string& id, std::uint64_t n) {
  std::unique_ptr<AttachedEngine> engine;
  AttachedTopic* t = topic_of(dir, topic, &engine);
  std::uint64_t last = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto seq = t->publish(id + " " + std::to_string(i));
    if (!seq.ok()) return fail("publish " + std::to_string(i) + ": " + seq.status().to_string());
    last = *seq;
  }
  std::printf("done %llu\n", static_cast<unsigned long long>(last));
  return 0;
}

int batch(const std::string& dir, const std::string& topic, const std::string& id, std::uint64_t n, std::size_t k) {
  std::unique_ptr<AttachedEngine> engine;
  AttachedTopic* t = topic_of(dir, topic, &engine);
  std::vector<std::string> payloads;
  std::vector<Message> ms;
  std::vector<std::uint64_t> seqs(k);
  for (std::uint64_t i = 0; i < n; i += k) {
    payloads.clear();
    ms.clear();
    for (std::uint64_t j = i; j < std::min<std::uint64_t>(n, i + k); ++j)
      payloads.push_back(id + " " + std::to_string(j));
    for (const auto& p : payloads) {
      Message m;
      m.payload = p;
      ms.push_back(m);
    }
    const PublishBatchResult r = t->publish_batch(ms, seqs);
    if (!r.status.ok() || r.published != ms.size()) return fail("publish_batch: " + r.status.to_string());
    for (std::size_t j = 1; j < ms.size(); ++j)
      if (seqs[j] != seqs[0] + j) return fail("a batch's sequences are not consecutive");
  }
  std::printf("done\n");
  return 0;
}

std::uint64_t durable_of(const std::string& dir, const std::string& topic) {
  const std::string path = dir + "/topics/" + topic + "/control";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::uint64_t v = 0;
  if (fd < 0 || ::pread(fd, &v, sizeof v, 16) != static_cast<ssize_t>(sizeof v)) std::exit(fail("read " + path));
  ::close(fd);
  return v;  // little-endian on disk; this test runs on little-endian hosts
}

int durable(const std::string& dir, const std::string& topic, std::uint64_t n) {
  std::unique_ptr<AttachedEngine> engine;
  AttachedTopic* t = topic_of(dir, topic, &engine);
  std::uint64_t covered = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto seq = t->publish("sync " + std::to_string(i));
    if (!seq.ok()) return fail("publish: " + seq.status().to_string());
    if (durable_of(dir, topic) > *seq) ++covered;
  }
  std::printf("durable %llu\n", static_cast<unsigned long long>(covered));
  return 0;
}

// Checks what a reader got: dense sequences from 0 and each publisher's
// records (payload "ID I") in its order. `poll` gives a PollResult's
// (status, lost, count) for views read into `out`.
template <class Poll>
int check_all(std::uint64_t total, Poll poll) {
  std::map<std::string, std::uint64_t> next;  // by publisher id
  std::vector<RecordView> out(256);
  std::uint64_t seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (seen < total) {
    if (std::chrono::steady_clock::now() > deadline) return fail("only " + std::to_string(seen) + " records came");
    std::uint64_t lost = 0;
    std::size_t count = 0;
    if (Status s = poll(std::span<RecordView>(out), &lost, &count); !s.ok()) return fail("poll: " + s.to_string());
    if (lost != 0) return fail("lost " + std::to_string(lost));
    for (std::size_t k = 0; k < count; ++k, ++seen) {
      if (out[k].sequence() != seen)
        return fail("sequence " + std::to_string(out[k].sequence()) + " where " + std::to_string(seen) + " was next");
      const std::string p(out[k].payload());
      const auto sp = p.find(' ');
      const std::uint64_t i = std::strtoull(p.c_str() + sp + 1, nullptr, 10);
      auto& want = next[p.substr(0, sp)];
      if (i != want) return fail("'" + p + "' where " + std::to_string(want) + " was next from its publisher");
      ++want;
    }
  }
  std::printf("ok\n");
  return 0;
}

int read(const std::string& dir, const std::string& topic, std::uint64_t total) {
  LogReaderOptions o;
  o.start = StartAt::earliest();
  auto reader = LogReader::open(dir, topic, o);
  if (!reader.ok()) return fail("open: " + reader.status().to_string());
  return check_all(total, [&](std::span<RecordView> out, std::uint64_t* lost, std::size_t* count) {
    auto r = (*reader)->poll(out, 100ms);
    if (!r.ok()) return r.status();
    *lost = r->lost;
    *count = r->count;
    return Status::OK();
  });
}

int subscribe(const std::string& dir, const std::string& topic, std::uint64_t total) {
  auto attached = AttachedEngine::attach(dir);
  if (!attached.ok()) return fail("attach: " + attached.status().to_string());
  SubscriberOptions so;
  so.start = StartAt::earliest();
  auto sub = (*attached)->subscribe(topic, so);
  if (!sub.ok()) return fail("subscribe: " + sub.status().to_string());
  std::printf("ready\n");
  return check_all(total, [&](std::span<RecordView> out, std::uint64_t* lost, std::size_t* count) {
    const PollResult r = (*sub)->poll(out, 100ms);
    *lost = r.lost;
    *count = r.count;
    return r.closed && r.status.ok() ? Status::Closed("the owner closed") : r.status;
  });
}

int forever(const std::string& dir, const std::string& topic, const std::string& id) {
  std::unique_ptr<AttachedEngine> engine;
  AttachedTopic* t = topic_of(dir, topic, &engine);
  std::vector<std::string> payloads;
  std::vector<Message> ms;
  std::uint64_t seqs[8];
  for (std::uint64_t i = 0, round = 0;; ++round) {
    if (round % 4 == 3) {
      const std::string p = id + " " + std::to_string(i);
      auto c = t->claim(p.size());
      if (!c.ok()) return fail("claim: " + c.status().to_string());
      std::memcpy(c->payload().data(), p.data(), p.size());
      if (auto seq = c->commit(); !seq.ok()) return fail("commit: " + seq.status().to_string());
      ++i;
      continue;
    }
    const std::size_t k = round % 3 == 2 ? 2 + round % 5 : 1;
    payloads.clear();
    ms.clear();
    for (std::size_t j = 0; j < k; ++j) payloads.push_back(id + " " + std::to_string(i + j));
    for (const auto& p : payloads) {
      Message m;
      m.payload = p;
      ms.push_back(m);
    }
    const PublishBatchResult r = t->publish_batch(ms, std::span<std::uint64_t>(seqs, k));
    if (!r.status.ok() || r.published != k) return fail("publish_batch: " + r.status.to_string());
    if (i == 0) std::printf("ready\n");
    i += k;
  }
}

int live(const std::string& dir, const std::string& topic, const std::string& id, const std::string& stop) {
  std::unique_ptr<AttachedEngine> engine;
  AttachedTopic* t = topic_of(dir, topic, &engine);
  std::uint64_t i = 0;
  for (; ::access(stop.c_str(), F_OK) != 0; ++i) {
    auto seq = t->publish(id + " " + std::to_string(i));
    if (!seq.ok()) return fail("publish " + std::to_string(i) + ": " + seq.status().to_string());
    if (i % 8 == 7) std::this_thread::sleep_for(200us);
  }
  std::printf("done %llu\n", static_cast<unsigned long long>(i));
  return 0;
}

int hold(const std::string& dir, const std::string& topic, const std::string& id) {
  std::unique_ptr<AttachedEngine> engine;
  AttachedTopic* t = topic_of(dir, topic, &engine);
  if (auto seq = t->publish(id + " 0"); !seq.ok()) return fail("publish: " + seq.status().to_string());
  const std::string payload = id + " 1";
  auto c = t->claim(payload.size());
  if (!c.ok()) return fail("claim: " + c.status().to_string());
  std::memcpy(c->payload().data(), payload.data(), payload.size() / 2);
  std::printf("claimed %llu\n", static_cast<unsigned long long>(c->sequence()));
  for (;;) std::this_thread::sleep_for(1s);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 5 && a[0] == "publish") return publish(a[1], a[2], a[3], std::stoull(a[4]));
  if (a.size() == 6 && a[0] == "batch") return batch(a[1], a[2], a[3], std::stoull(a[4]), std::stoull(a[5]));
  if (a.size() == 4 && a[0] == "durable") return durable(a[1], a[2], std::stoull(a[3]));
  if (a.size() == 4 && a[0] == "read") return read(a[1], a[2], std::stoull(a[3]));
  if (a.size() == 4 && a[0] == "subscribe") return subscribe(a[1], a[2], std::stoull(a[3]));
  if (a.size() == 4 && a[0] == "forever") return forever(a[1], a[2], a[3]);
  if (a.size() == 5 && a[0] == "live") return live(a[1], a[2], a[3], a[4]);
  if (a.size() == 4 && a[0] == "hold") return hold(a[1], a[2], a[3]);
  std::fprintf(stderr, "usage: ipc_pub_worker publish|batch|durable|read|subscribe|forever|live|hold ...\n");
  return 2;
}
