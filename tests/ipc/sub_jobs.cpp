// ipc_worker's jobs for ipc_subscribe_test (tests/ipc/ipc_worker.cpp runs
// them: `ipc_worker sub-JOB ...`). Each attaches to the engine that owns DIR:
//
//   sub-follow DIR TOPIC N    an attached subscriber from
//                                        earliest; prints "ready", reads N
//                                        records, checking that each is the
//                                        next sequence with its payload
//                                        "record SEQ", then "got N LOST"
//   sub-named DIR TOPIC NAME K M
//                                        a named attached subscriber (from
//                                        earliest): prints "ready", reads K records,
//                                        commits, prints "committed POS",
//                                        reads M more without committing,
//                                        prints "read POS", waits (killed)
//   sub-resume DIR TOPIC NAME N    the named subscriber again: prints
//                                        "first SEQ LOST" of its first
//                                        record, then reads up to sequence
//                                        N, commits, prints "committed POS"
//   sub-stats DIR TOPIC GROUP prints "topic ...", "group ..."
//                                        and "consumer ..." (stats_text)
//   sub-steps DIR TOPIC NAME K     an attached subscriber named NAME ("-":
//                                        unnamed) from earliest, which
//                                        prints "ready", then at each
//                                        SIGUSR1 reads K records (checked
//                                        as sub-follow does) and prints
//                                        "read POS"; at SIGUSR2 destroys
//                                        the subscriber, prints "dropped"
//                                        and waits (killed)
#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/ipc/stats_text.h"
#include "tests/ipc/sub_jobs.h"

using namespace conduit;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<AttachedSubscriber> subscriber(const std::string& dir, const std::string& topic,
                                               const std::string& name) {
  static std::unique_ptr<AttachedEngine> attached;  // outlives the subscriber
  attached = must(AttachedEngine::attach(dir));
  SubscriberOptions o;
  o.name = name;
  o.start = StartAt::earliest();
  return must(attached->subscribe(topic, o));
}

// Reads up to `n` records into the subscriber's order check; false (and
// a message) at a record out of order or with the wrong payload.
bool read(AttachedSubscriber& s, std::uint64_t n, std::uint64_t* next) {
  std::vector<RecordView> out(256);
  for (std::uint64_t got = 0; got < n;) {
    PollResult r = s.poll(std::span(out).first(std::min<std::size_t>(out.size(), n - got)), 10s);
    if (!r.status.ok() || r.closed || (r.count == 0 && r.lost == 0)) {
      std::printf("poll after %llu: %s%s\n", static_cast<unsigned long long>(got), r.status.to_string().c_str(),
                  r.closed ? " (closed)" : "");
      return false;
    }
    *next += r.lost;
    for (std::size_t k = 0; k < r.count; ++k, ++got, ++*next) {
      const RecordView& v = out[k];
      if (v.sequence() != *next || v.payload() != "record " + std::to_string(*next)) {
        std::printf("record %llu where %llu was expected, payload '%.*s'\n",
                    static_cast<unsigned long long>(v.sequence()), static_cast<unsigned long long>(*next),
                    static_cast<int>(v.payload().size()), v.payload().data());
        return false;
      }
    }
  }
  return true;
}

int follow(const std::string& dir, const std::string& topic, std::uint64_t n) {
  auto s = subscriber(dir, topic, "");
  std::printf("ready\n");
  std::uint64_t next = 0;
  if (!read(*s, n, &next)) return 3;
  std::printf("got %llu %llu\n", static_cast<unsigned long long>(next - s->lost()),
              static_cast<unsigned long long>(s->lost()));
  return 0;
}

int named(const std::string& dir, const std::string& topic, const std::string& name, std::uint64_t k, std::uint64_t m) {
  auto s = subscriber(dir, topic, name);
  std::printf("ready\n");
  std::uint64_t next = s->position();
  if (!read(*s, k, &next)) return 3;
  if (Status st = s->commit(); !st.ok()) return say(st);
  std::printf("committed %llu\n", static_cast<unsigned long long>(s->position()));
  if (!read(*s, m, &next)) return 3;
  std::printf("read %llu\n", static_cast<unsigned long long>(s->position()));
  for (;;) ::pause();
}

int resume(const std::string& dir, const std::string& topic, const std::string& name, std::uint64_t n) {
  auto s = subscriber(dir, topic, name);
  std::vector<RecordView> out(1);
  PollResult r = s->poll(out, 10s);
  if (r.count != 1) return say(r.status.ok() ? Status::TimedOut("no record") : r.status);
  std::printf("first %llu %llu\n", static_cast<unsigned long long>(out[0].sequence()),
              static_cast<unsigned long long>(r.lost));
  std::uint64_t next = out[0].sequence() + 1;
  if (next < n && !read(*s, n - next, &next)) return 3;
  if (Status st = s->commit(); !st.ok()) return say(st);
  std::printf("committed %llu\n", static_cast<unsigned long long>(s->position()));
  return 0;
}

int steps(const std::string& dir, const std::string& topic, const std::string& name, std::uint64_t k) {
  // Blocked before anything starts a thread: they come only through sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return 2;
  auto s = subscriber(dir, topic, name == "-" ? "" : name);
  std::printf("ready\n");
  std::uint64_t next = s->position();
  for (;;) {
    int sig = 0;
    if (::sigwait(&set, &sig) != 0) return 2;
    if (sig == SIGUSR2) break;
    if (!read(*s, k, &next)) return 3;
    std::printf("read %llu\n", static_cast<unsigned long long>(s->position()));
  }
  s.reset();
  std::printf("dropped\n");
  for (;;) ::pause();
}

int stats(const std::string& dir, const std::string& topic, const std::string& group) {
  auto attached = must(AttachedEngine::attach(dir));
  std::printf("topic %s\n", test::stats_text(must(attached->topic_stats(topic))).c_str());
  AttachedWorkGroup* g = must(attached->work_group(topic, group));
  std::printf("group %s\n", test::stats_text(must(g->stats())).c_str());
  auto c = must(g->consumer());
  std::printf("consumer %s\n", test::stats_text(must(c->stats())).c_str());
  return 0;
}

}  // namespace

int run_sub_job(int argc, char** argv) {
  const std::vector<std::string> a(argv, argv + argc);
  if (argc == 5 && a[1] == "sub-follow") return follow(a[2], a[3], std::stoull(a[4]));
  if (argc == 7 && a[1] == "sub-named") return named(a[2], a[3], a[4], std::stoull(a[5]), std::stoull(a[6]));
  if (argc == 6 && a[1] == "sub-resume") return resume(a[2], a[3], a[4], std::stoull(a[5]));
  if (argc == 6 && a[1] == "sub-steps") return steps(a[2], a[3], a[4], std::stoull(a[5]));
  if (argc == 5 && a[1] == "sub-stats") return stats(a[2], a[3], a[4]);
  std::fprintf(stderr, "usage: see tests/ipc/sub_jobs.cpp\n");
  return 2;
}
