// ipc_worker's jobs for ipc_request_reply_test (tests/ipc/ipc_worker.cpp
// runs them: `ipc_worker rr-JOB ...`), the checks in tests/ipc/rr_exchange.h:
//
//   rr-request DIR TOPIC SILENT N   an attached Requester (after checking that
//                                   a memory-only reply topic is refused);
//                                   prints "reply-topic NAME", runs exchange()
//                                   with N requests, prints "ok" or what failed
//   rr-respond DIR TOPIC            an attached subscriber of TOPIC answering
//                                   every request with publish_reply
//                                   (AttachedEngine); prints "ready" first and
//                                   returns once the owner is gone
//   rr-own DIR TOPIC                opens an engine on DIR with TOPIC (kAsync),
//                                   prints "ready" and waits (to be killed)
#include <conduit/attach.h>
#include <conduit/conduit.h>
#include <conduit/request_reply.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/ipc/rr_exchange.h"
#include "tests/ipc/sub_jobs.h"

using namespace conduit;
using namespace std::chrono_literals;

namespace {

int request(const std::string& dir, const std::string& topic, const std::string& silent, int n) {
  auto attached = must(AttachedEngine::attach(dir));
  // A persisted reply topic, asked for, works as the default one does.
  RequesterOptions persisted;
  persisted.reply_durability = Durability::kAsync;
  auto on_disk = must(Requester::open(*attached, persisted));
  if (const std::string wrong =
          test::exchange(*on_disk, *must(attached->topic(topic)), *must(attached->topic(silent)), n);
      !wrong.empty()) {
    std::printf("with a persisted reply topic: %s\n", wrong.c_str());
    return 1;
  }
  auto rq = must(Requester::open(*attached));
  std::printf("reply-topic %s\n", rq->reply_topic().c_str());
  AttachedTopic* t = must(attached->topic(topic));
  AttachedTopic* s = must(attached->topic(silent));
  const std::string wrong = test::exchange(*rq, *t, *s, n);
  std::printf("%s\n", wrong.empty() ? "ok" : wrong.c_str());
  return wrong.empty() ? 0 : 1;
}

int respond(const std::string& dir, const std::string& topic) {
  auto attached = must(AttachedEngine::attach(dir));
  auto sub = must(attached->subscribe(topic, {}));
  std::printf("ready\n");
  std::vector<RecordView> out(16);
  for (;;) {
    const PollResult r = sub->poll(out, 1s);
    for (std::size_t k = 0; k < r.count; ++k)
      if (Status s = test::answer(*attached, out[k]); !s.ok()) return say(s);
    if (r.closed) return 0;
    if (!r.status.ok()) return say(r.status);
  }
}

int own(const std::string& dir, const std::string& topic) {
  EngineOptions eo;
  eo.data_dir = dir;
  auto engine = must(Engine::open(eo));
  TopicOptions to;
  to.durability = Durability::kAsync;
  to.segment_bytes = 256u << 10;
  to.max_payload_bytes = 1024;
  (void)must(engine->create_topic(topic, to));
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) ::pause();
}

}  // namespace

int run_rr_job(int argc, char** argv) {
  const std::vector<std::string> a(argv, argv + argc);
  if (argc == 6 && a[1] == "rr-request") return request(a[2], a[3], a[4], std::stoi(a[5]));
  if (argc == 4 && a[1] == "rr-respond") return respond(a[2], a[3]);
  if (argc == 4 && a[1] == "rr-own") return own(a[2], a[3]);
  std::fprintf(stderr, "usage: see tests/ipc/rr_jobs.cpp\n");
  return 2;
}
