// The other processes of the ipc_* tests, started with posix_spawn (fork +
// exec: the tests are threaded). One job per run:
//
//   ipc_worker attach DIR [UID]        setuid(UID) first when given; prints
//                                      "ok" or the status attach() returned
//   ipc_worker consume DIR TOPIC GROUP acks until a poll says closed; prints
//                                      "SEQ ATTEMPT" for each ack that
//                                      returned true
//   ipc_worker hold DIR TOPIC GROUP N  takes N deliveries, prints "held SEQ"
//                                      for each, then "ready", and waits
//                                      without answering them (to be killed)
//   ipc_worker hold-later DIR TOPIC GROUP N
//                                      takes N deliveries and hands them to
//                                      ack_later; takes N more (the first
//                                      poll carries those acks), prints
//                                      "acked SEQ" for the first N once the
//                                      owner said it acked them, "held SEQ"
//                                      for the next N, hands those to
//                                      ack_later too, prints "ready" and
//                                      waits (to be killed with them held)
//   ipc_worker own DIR TOPIC N         opens an engine on DIR, publishes N
//                                      records to TOPIC (kAsync), prints
//                                      "ready" and waits (to be killed)
//   ipc_worker sub-...                 attached subscribers' jobs
//                                      (tests/ipc/sub_jobs.cpp)
//   ipc_worker rr-...                  request-reply jobs (tests/ipc/rr_jobs.cpp)
#include <conduit/attach.h>
#include <conduit/conduit.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/ipc/sub_jobs.h"

using namespace conduit;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<AttachedConsumer> consumer_of(const std::string& dir, const std::string& topic,
                                              const std::string& group) {
  auto attached = AttachedEngine::attach(dir);
  if (!attached.ok()) std::exit(say(attached.status()));
  auto g = (*attached)->work_group(topic, group);
  if (!g.ok()) std::exit(say(g.status()));
  auto c = (*g)->consumer();
  if (!c.ok()) std::exit(say(c.status()));
  return std::move(c).value();
}

int attach(const std::string& dir, const char* uid) {
  if (uid != nullptr) {
    const auto id = static_cast<uid_t>(std::atoi(uid));
    if (::setgid(id) != 0 || ::setuid(id) != 0) {
      std::perror("setuid");
      return 2;
    }
  }
  auto attached = AttachedEngine::attach(dir);
  return say(attached.status());
}

int consume(const std::string& dir, const std::string& topic, const std::string& group) {
  auto c = consumer_of(dir, topic, group);
  std::vector<Delivery> out(64);
  for (;;) {
    PollResult r = c->poll(out, 1s);
    for (std::size_t k = 0; k < r.count; ++k) {
      if (out[k].record.payload() != "record " + std::to_string(out[k].sequence)) {
        std::fprintf(stderr, "record %llu has payload '%.*s'\n", static_cast<unsigned long long>(out[k].sequence),
                     static_cast<int>(out[k].record.payload().size()), out[k].record.payload().data());
        return 3;
      }
      if (c->ack(out[k])) std::printf("%llu %u\n", static_cast<unsigned long long>(out[k].sequence), out[k].attempt);
    }
    if (r.closed) break;
    if (!r.status.ok()) {
      std::fprintf(stderr, "poll: %s\n", r.status.to_string().c_str());
      return 4;
    }
  }
  return 0;
}

int hold(const std::string& dir, const std::string& topic, const std::string& group, std::size_t n) {
  auto c = consumer_of(dir, topic, group);
  std::vector<Delivery> out(n);
  std::size_t held = 0;
  while (held < n) {
    PollResult r = c->poll(std::span<Delivery>(out).subspan(held), 5s);
    if (r.count == 0) return say(r.status.ok() ? Status::TimedOut("nothing to hold") : r.status);
    for (std::size_t k = held; k < held + r.count; ++k)
      std::printf("held %llu\n", static_cast<unsigned long long>(out[k].sequence));
    held += r.count;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) ::pause();
}

// Polls until `out` is full; false (said) when a poll comes back empty.
bool take(AttachedConsumer& c, std::span<Delivery> out) {
  for (std::size_t got = 0; got < out.size();) {
    PollResult r = c.poll(out.subspan(got), 5s);
    if (r.count == 0) {
      say(r.status.ok() ? Status::TimedOut("nothing to take") : r.status);
      return false;
    }
    got += r.count;
  }
  return true;
}

int hold_later(const std::string& dir, const std::string& topic, const std::string& group, std::size_t n) {
  auto c = consumer_of(dir, topic, group);
  std::vector<Delivery> first(n), next(n);
  if (!take(*c, first)) return 1;
  c->ack_later(first);
  if (!take(*c, next)) return 1;
  if (c->acked_later() != n) {
    std::fprintf(stderr, "the owner acked %llu of %zu\n", static_cast<unsigned long long>(c->acked_later()), n);
    return 5;
  }
  for (const Delivery& d : first) std::printf("acked %llu\n", static_cast<unsigned long long>(d.sequence));
  for (const Delivery& d : next) std::printf("held %llu\n", static_cast<unsigned long long>(d.sequence));
  c->ack_later(next);
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) ::pause();
}

int own(const std::string& dir, const std::string& topic, std::uint64_t n) {
  EngineOptions eo;
  eo.data_dir = dir;
  auto engine = Engine::open(eo);
  if (!engine.ok()) return say(engine.status());
  TopicOptions to;
  to.durability = Durability::kAsync;
  to.segment_bytes = 256u << 10;
  to.max_payload_bytes = 1024;
  auto t = (*engine)->create_topic(topic, to);
  if (!t.ok()) return say(t.status());
  for (std::uint64_t i = (*t)->published(); i < n; ++i)
    if (auto s = (*t)->publish("record " + std::to_string(i)); !s.ok()) return say(s.status());
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) ::pause();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::vector<std::string> a(argv, argv + argc);
  if (argc >= 2 && a[1].starts_with("sub-")) return run_sub_job(argc, argv);
  if (argc >= 2 && a[1].starts_with("rr-")) return run_rr_job(argc, argv);
  if (argc >= 3 && a[1] == "attach") return attach(a[2], argc >= 4 ? argv[3] : nullptr);
  if (argc == 5 && a[1] == "consume") return consume(a[2], a[3], a[4]);
  if (argc == 6 && a[1] == "hold") return hold(a[2], a[3], a[4], std::stoul(a[5]));
  if (argc == 6 && a[1] == "hold-later") return hold_later(a[2], a[3], a[4], std::stoul(a[5]));
  if (argc == 5 && a[1] == "own") return own(a[2], a[3], std::stoull(a[4]));
  std::fprintf(stderr, "usage: see tests/ipc/ipc_worker.cpp\n");
  return 2;
}
