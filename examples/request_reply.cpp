// Request-reply: a Requester sends each request with a fresh correlation id
// and its own reply topic as reply_to; a responder thread answers with
// publish_reply, and the Requester hands back the matching reply.
#include <conduit/conduit.h>

#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>

using namespace std::chrono_literals;

static std::string shout(std::string_view text) {
  std::string loud(text);
  for (char& c : loud) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return loud;
}

int main() {
  auto engine = conduit::Engine::open().value();
  conduit::Topic* requests = engine->create_topic("shout").value();
  auto inbox = requests->subscribe().value();  // subscribed before any request is sent

  // The responder: answers every request with its payload in capitals.
  std::thread responder([&] {
    conduit::RecordView views[16];
    for (;;) {
      conduit::PollResult r = inbox->poll(views, 1s);
      if (r.closed) return;
      for (std::size_t i = 0; i < r.count; ++i) {
        std::string loud = shout(views[i].payload());
        conduit::Message reply;
        reply.payload = loud;
        conduit::publish_reply(*engine, views[i], reply).value();
      }
    }
  });

  auto requester = conduit::Requester::open(*engine).value();
  int answered = 0;
  for (const char* text : {"hello", "request", "reply"}) {
    conduit::Reply reply = requester->request(*requests, text, 5s).value();  // fails only if not sent
    if (!reply.status.ok()) break;                                           // e.g. kTimedOut
    std::printf("%-7s -> %s\n", text, reply.payload.c_str());
    answered += reply.payload == shout(text) ? 1 : 0;
  }
  engine->close();  // the responder's poll says closed
  responder.join();
  return answered == 3 ? 0 : 1;
}
