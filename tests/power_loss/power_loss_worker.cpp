// power_loss_worker: the process the power-loss test cuts (run) and the
// check of what a cut left (check). tests/power_loss/README.md has the
// method; tests/power_loss/run.sh drives both.
//
//   power_loss_worker run DATA_DIR ACK_FILE [SEED]
//     Publishes to a kSync and a kAsync topic from several threads, consumes
//     through a work group and two named subscribers, and appends to
//     ACK_FILE what each call that returned OK promised. Runs until killed.
//   power_loss_worker check DATA_DIR ACK_FILE
//     Opens DATA_DIR and holds it to ACK_FILE; then appends, closes, reopens
//     and checks again. Exit 0: every check passed; 1: one failed (each
//     failure is a line "FAIL <check>: ..."); 2: it could not run.
//
// Public API only: the test holds the engine to what its headers promise.
#include <conduit/conduit.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tests/power_loss/workload.h"

using namespace conduit;

namespace powerloss {
namespace {

// Worker exit codes; the driver reports any exit other than its SIGKILL.
enum WorkerExit : int {
  kUsage = 2,
  kOpenFailed = 10,
  kCreateFailed,
  kPublishFailed,
  kAckFileFailed,
  kReaderFailed,
  kBadRecord,
  kRanTooLong,
};

[[noreturn]] void die(int code, const char* what, const Status& s = Status::OK()) {
  std::fprintf(stderr, "power_loss_worker: %s%s%s\n", what, s.ok() ? "" : ": ", s.ok() ? "" : s.to_string().c_str());
  std::fflush(stderr);
  ::_exit(code);
}

// Appends entries to the ack file. write(2) with O_APPEND: whole entries
// land in order per writer, and what was written is in the host's page
// cache, which the cut does not touch. Thread-safe (one syscall per call).
class AckLog {
 public:
  explicit AckLog(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ < 0) die(kAckFileFailed, ("open " + path + ": " + std::strerror(errno)).c_str());
  }
  void append(std::span<const AckEntry> entries) const {
    const auto* p = reinterpret_cast<const char*>(entries.data());
    std::size_t left = entries.size_bytes();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) die(kAckFileFailed, "write to the ack file failed");
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  void append(const AckEntry& e) const { append(std::span<const AckEntry>(&e, 1)); }

 private:
  int fd_;
};

// A producer stops after this long (then idles until the kill), so that a
// kill that comes late cannot fill the small file system.
constexpr auto kPublishFor = std::chrono::seconds(4);
// Nothing kills a worker this late: the driver is gone.
constexpr auto kGiveUp = std::chrono::seconds(60);

struct Context {
  const AckLog* log;
  Topic* topics[kTopics];
  WorkGroup* group;
  std::uint64_t seed;
  std::chrono::steady_clock::time_point start;
  bool publishing() const { return std::chrono::steady_clock::now() - start < kPublishFor; }
};

// One producer's records: payloads kept alive for the Message views.
struct Batch {
  std::vector<std::string> payloads;
  std::vector<Message> messages;
  std::vector<std::uint64_t> tags;
  std::vector<std::uint64_t> seqs;
  void fill(std::uint32_t t, std::uint64_t producer, std::uint64_t* counter, std::size_t n) {
    payloads.clear();
    messages.clear();
    tags.clear();
    for (std::size_t i = 0; i < n; ++i) {
      tags.push_back(make_tag(producer, (*counter)++));
      payloads.push_back(payload_for(t, tags.back()));
    }
    for (const std::string& p : payloads) messages.push_back(message(p));
    seqs.assign(n, 0);
  }
  // Reported once the records are durable (kDurableRecord) or published.
  std::vector<AckEntry> entries(AckEntry::Kind k, std::uint32_t t) const {
    std::vector<AckEntry> out;
    for (std::size_t i = 0; i < tags.size(); ++i) out.push_back(entry(k, t, seqs[i], tags[i]));
    return out;
  }
};

// How a producer publishes: one call per record, publish_batch, or
// publish_nowait for a run of records and then one await_durable.
enum class Way { kOne, kBatch, kNowait };

void produce(const Context& c, std::uint32_t t, Way way, std::uint64_t producer) {
  std::mt19937_64 rng(c.seed * 1000003 + producer);
  Topic* topic = c.topics[t];
  const bool sync = t == kSync;
  Batch b;
  std::vector<AckEntry> pending;  // async publishes, reported in groups (fewer syscalls)
  std::uint64_t counter = 0;
  std::size_t unpaused = 0;  // async records since the last pause
  while (c.publishing()) {
    const std::size_t n = way == Way::kOne ? 1 : 1 + rng() % (sync ? 16 : 32);
    b.fill(t, producer, &counter, n);
    if (way == Way::kOne) {
      auto r = topic->publish(b.messages[0]);
      if (!r.ok()) die(kPublishFailed, "publish", r.status());
      b.seqs[0] = *r;
    } else if (way == Way::kBatch) {
      PublishBatchResult r = topic->publish_batch(b.messages, b.seqs);
      if (!r.ok()) die(kPublishFailed, "publish_batch", r.status);
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        auto r = topic->publish_nowait(b.messages[i]);
        if (!r.ok()) die(kPublishFailed, "publish_nowait", r.status());
        b.seqs[i] = *r;
      }
      if (Status s = topic->await_durable(b.seqs.back(), std::chrono::seconds(10)); !s.ok())
        die(kPublishFailed, "await_durable", s);
    }
    // kSync publishes return once durable; await_durable covers every
    // sequence below the one awaited, so the whole run.
    if (sync || way == Way::kNowait) {
      c.log->append(b.entries(AckEntry::kDurableRecord, t));
    } else {
      for (const AckEntry& e : b.entries(AckEntry::kPublished, t)) pending.push_back(e);
      if (pending.size() >= 64) {
        c.log->append(pending);
        pending.clear();
      }
      // Async producers would outrun the disk by far; a pause every few
      // records keeps the log to a few MiB a second.
      unpaused += n;
      if (unpaused >= 16) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        unpaused = 0;
      }
    }
  }
  if (!pending.empty()) c.log->append(pending);
}

// Reports each new value of the topics' durable watermarks.
void watch_durable(const Context& c) {
  std::uint64_t seen[kTopics] = {0, 0};
  while (c.publishing()) {
    for (std::uint32_t t = 0; t < kTopics; ++t) {
      const std::uint64_t d = c.topics[t]->durable();
      if (d > seen[t]) {
        c.log->append(entry(AckEntry::kWatermark, t, d));
        seen[t] = d;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// The record's tag; a corrupt record ends the worker (the driver reports it).
std::uint64_t check_record(std::uint32_t t, const RecordView& r) {
  std::uint64_t tag = 0;
  if (!intact_payload(t, r.payload(), &tag)) {
    std::fprintf(stderr, "power_loss_worker: topic %s record %llu is corrupt\n", topic_name(t),
                 static_cast<unsigned long long>(r.sequence()));
    die(kBadRecord, "a corrupt record was delivered");
  }
  return tag;
}

// A work-group consumer: acks every delivery, reports each ack that
// returned true (on a kSync topic it returns once the ack is durable), and,
// when `commits`, commits the group every few polls.
void consume(const Context& c, bool commits) {
  auto consumer = c.group->consumer();
  if (!consumer.ok()) die(kReaderFailed, "consumer", consumer.status());
  Delivery d[32];
  std::vector<AckEntry> acked;
  for (std::uint64_t round = 1;; ++round) {
    const PollResult r = (*consumer)->poll(d, std::chrono::milliseconds(5));
    // Read before the ack: a delivery's view is valid until it is acked.
    acked.clear();
    for (std::size_t i = 0; i < r.count; ++i)
      acked.push_back(entry(AckEntry::kGroupAck, kSync, d[i].sequence, check_record(kSync, d[i].record)));
    if (r.count > 0) {
      const std::size_t n = (*consumer)->ack(std::span<const Delivery>(d, r.count));
      // No delivery times out (ack_timeout 0) and each is acked once.
      if (n != r.count) die(kReaderFailed, "Consumer::ack refused a delivery of its own");
      c.log->append(acked);
    }
    if (commits && round % 16 == 0) {
      const std::uint64_t floor = c.group->stats().ack_floor;
      if (Status s = c.group->commit(); !s.ok()) die(kReaderFailed, "WorkGroup::commit", s);
      c.log->append(entry(AckEntry::kGroupCommit, kSync, floor));
    }
    if (std::chrono::steady_clock::now() - c.start > kGiveUp) die(kRanTooLong, "not killed in time");
  }
}

// Named subscribers (default options: they read past the durable
// watermark) that commit every few polls and report each commit.
void subscribe_and_commit(const Context& c) {
  std::unique_ptr<Subscriber> subs[kTopics];
  for (std::uint32_t t = 0; t < kTopics; ++t) {
    SubscriberOptions o;
    o.name = subscriber_name(t);
    o.start = StartAt::earliest();
    auto s = c.topics[t]->subscribe(o);
    if (!s.ok()) die(kReaderFailed, "subscribe", s.status());
    subs[t] = std::move(*s);
  }
  std::vector<RecordView> views(256);
  for (std::uint64_t round = 1;; ++round) {
    for (std::uint32_t t = 0; t < kTopics; ++t) {
      const PollResult r = subs[t]->poll(views, std::chrono::milliseconds(1));
      for (std::size_t i = 0; i < r.count; ++i) (void)check_record(t, views[i]);
      if (round % 8 == 0) {
        const std::uint64_t durable = c.topics[t]->durable();
        const std::uint64_t pos = subs[t]->position();  // commit() stores this: only this thread polls
        if (Status s = subs[t]->commit(); !s.ok()) die(kReaderFailed, "Subscriber::commit", s);
        c.log->append(entry(AckEntry::kSubCommit, t, pos, 0, durable));
      }
    }
    if (std::chrono::steady_clock::now() - c.start > kGiveUp) die(kRanTooLong, "not killed in time");
  }
}

}  // namespace

int run_workload(const std::string& data_dir, const std::string& ack_path, std::uint64_t seed) {
  const AckLog log(ack_path);
  EngineOptions eo;
  eo.data_dir = data_dir;
  auto engine = Engine::open(eo);
  if (!engine.ok()) die(kOpenFailed, "Engine::open", engine.status());
  // The driver checks that the mode it asked for is the one in use.
  std::fprintf(stderr, "power_loss_worker: disk io: %s\n", (*engine)->disk_io_description().c_str());
  std::fflush(stderr);
  Context c{&log, {}, nullptr, seed, std::chrono::steady_clock::now()};
  for (std::uint32_t t = 0; t < kTopics; ++t) {
    auto topic = (*engine)->create_topic(topic_name(t), topic_options(t));
    if (!topic.ok()) die(kCreateFailed, "create_topic", topic.status());
    c.topics[t] = *topic;
  }
  auto group = c.topics[kSync]->work_group(kGroup, group_options());
  if (!group.ok()) die(kCreateFailed, "work_group", group.status());
  c.group = *group;

  std::vector<std::thread> threads;
  const Way ways[] = {Way::kOne, Way::kBatch, Way::kNowait};
  for (std::uint32_t t = 0; t < kTopics; ++t)
    for (std::uint64_t i = 0; i < 3; ++i) threads.emplace_back(produce, std::cref(c), t, ways[i], 1 + 10 * t + i);
  threads.emplace_back(watch_durable, std::cref(c));
  threads.emplace_back(consume, std::cref(c), true);
  threads.emplace_back(consume, std::cref(c), false);
  threads.emplace_back(subscribe_and_commit, std::cref(c));
  for (auto& th : threads) th.join();  // the readers never return: the kill (or kGiveUp) ends the process
  return kRanTooLong;
}

}  // namespace powerloss

int main(int argc, char** argv) {
  // Never outlive the driver (a lane it stopped, say): the cut file system
  // could not be unmounted while this runs.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "run" && (argc == 4 || argc == 5))
    return powerloss::run_workload(argv[2], argv[3], argc == 5 ? std::strtoull(argv[4], nullptr, 10) : 1);
  if (mode == "check" && argc == 4) return powerloss::check_after_cut(argv[2], argv[3]);
  std::fprintf(stderr,
               "usage: power_loss_worker run DATA_DIR ACK_FILE [SEED]\n"
               "       power_loss_worker check DATA_DIR ACK_FILE\n");
  return powerloss::kUsage;
}
