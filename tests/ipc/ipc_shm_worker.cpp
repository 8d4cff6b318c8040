// The other processes of ipc_shm_topic_test (a shared memory-only topic),
// started with posix_spawn. One job per run:
//
//   ipc_shm_worker pub DIR TOPIC ID N       attaches and publishes "ID I" for
//                                           I in 0..N-1; prints "done SEQ"
//                                           (the last record's sequence)
//   ipc_shm_worker sub DIR TOPIC POLICY GO N
//                                           subscribes from the earliest
//                                           record (POLICY block or lose),
//                                           prints "subscribed START", waits
//                                           until the file GO exists (GO "-":
//                                           not at all), then reads until
//                                           sequence START + N is behind it;
//                                           every record checked: its
//                                           sequence the one after the last
//                                           (plus what a loss said), each
//                                           publisher's ("ID I") I one more
//                                           than its last seen unless a loss
//                                           came between; prints
//                                           "ok READ LOST" or what was wrong
#include <conduit/attach.h>
#include <conduit/attach_subscriber.h>
#include <conduit/conduit.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

using namespace conduit;
using namespace std::chrono_literals;

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::printf("error %s\n", what.c_str());
  std::fflush(stdout);
  return 1;
}

int publish(const std::string& dir, const std::string& topic, const std::string& id, std::uint64_t n) {
  auto attached = AttachedEngine::attach(dir);
  if (!attached.ok()) return fail("attach: " + attached.status().to_string());
  auto t = (*attached)->topic(topic);
  if (!t.ok()) return fail("topic: " + t.status().to_string());
  std::uint64_t last = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto seq = (*t)->publish(id + " " + std::to_string(i));
    if (!seq.ok()) return fail("publish " + std::to_string(i) + ": " + seq.status().to_string());
    last = *seq;
  }
  std::printf("done %llu\n", static_cast<unsigned long long>(last));
  return 0;
}

int subscribe(const std::string& dir, const std::string& topic, const std::string& policy, const std::string& go,
              std::uint64_t n) {
  auto attached = AttachedEngine::attach(dir);
  if (!attached.ok()) return fail("attach: " + attached.status().to_string());
  SubscriberOptions so;
  so.start = StartAt::earliest();
  so.slow = policy == "block" ? SlowPolicy::kBlock : SlowPolicy::kLoseOldest;
  auto sub = (*attached)->subscribe(topic, so);
  if (!sub.ok()) return fail("subscribe: " + sub.status().to_string());
  const std::uint64_t start = (*sub)->position();
  std::printf("subscribed %llu\n", static_cast<unsigned long long>(start));
  std::fflush(stdout);
  while (go != "-" && ::access(go.c_str(), F_OK) != 0) std::this_thread::sleep_for(2ms);
  // Per publisher: the I expected next, and whether a loss came since its last.
  struct Next {
    std::uint64_t i = 0;
    bool gap = false;
  };
  std::map<std::string, Next> next;
  std::uint64_t expect = start, read = 0, lost = 0;
  RecordView views[256];
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (expect < start + n) {
    if (std::chrono::steady_clock::now() > deadline)
      return fail("timed out at " + std::to_string(expect) + " after " + std::to_string(read) + " records");
    const PollResult r = (*sub)->poll(views, 100ms);
    if (!r.status.ok()) return fail("poll: " + r.status.to_string());
    if (r.lost != 0) {
      if (so.slow == SlowPolicy::kBlock) return fail("a blocking subscriber lost " + std::to_string(r.lost));
      expect += r.lost;
      lost += r.lost;
      for (auto& [id, want] : next) want.gap = true;
    }
    for (std::size_t k = 0; k < r.count; ++k, ++expect, ++read) {
      if (views[k].sequence() != expect)
        return fail("record " + std::to_string(views[k].sequence()) + " where " + std::to_string(expect) + " was due");
      const std::string p(views[k].payload());
      const auto sp = p.find(' ');
      if (sp == std::string::npos) return fail("payload '" + p + "'");
      const std::uint64_t i = std::stoull(p.substr(sp + 1));
      // A publisher first seen after a loss may start anywhere.
      auto it = next.try_emplace(p.substr(0, sp), Next{0, lost != 0}).first;
      Next& want = it->second;
      if (want.gap ? i < want.i : i != want.i)
        return fail("publisher " + it->first + "'s record " + std::to_string(i) + " where " + std::to_string(want.i) +
                    " was due");
      want = {i + 1, false};
    }
    if ((*sub)->lost() != lost) return fail("lost() says " + std::to_string((*sub)->lost()));
  }
  std::printf("ok %llu %llu\n", static_cast<unsigned long long>(read), static_cast<unsigned long long>(lost));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string job = argc > 1 ? argv[1] : "";
  if (job == "pub" && argc == 6) return publish(argv[2], argv[3], argv[4], std::strtoull(argv[5], nullptr, 10));
  if (job == "sub" && argc == 7)
    return subscribe(argv[2], argv[3], argv[4], argv[5], std::strtoull(argv[6], nullptr, 10));
  return fail("usage: see tests/ipc/ipc_shm_worker.cpp");
}
