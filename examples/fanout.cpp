// Fan-out: every subscriber of a topic sees every record, each at its own pace.
#include <conduit/conduit.h>

#include <cstdio>
#include <string>

int main() {
  auto engine = conduit::Engine::open().value();
  conduit::Topic* prices = engine->create_topic("prices").value();

  // Two independent readers, both from the first record on.
  conduit::SubscriberOptions from_first;
  from_first.start = conduit::StartAt::earliest();
  auto chart = prices->subscribe(from_first).value();
  auto alerts = prices->subscribe(from_first).value();

  for (int i = 0; i < 5; ++i) prices->publish("tick " + std::to_string(100 + i)).value();

  int seen = 0;
  conduit::RecordView views[16];
  for (auto* sub : {chart.get(), alerts.get()}) {
    conduit::PollResult r = sub->poll(views, std::chrono::seconds(1));  // views valid until the next poll
    for (std::size_t i = 0; i < r.count; ++i)
      std::printf("%s got #%llu %.*s\n", sub == chart.get() ? "chart " : "alerts",
                  (unsigned long long)views[i].sequence(), (int)views[i].payload().size(), views[i].payload().data());
    seen += static_cast<int>(r.count);
  }
  return seen == 10 ? 0 : 1;  // each of the two read all five
}
