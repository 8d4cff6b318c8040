// conduit-bridge: runs the outbound and inbound bridges of a config file
// (doc/bridge.md) until SIGINT or SIGTERM, then stops them cleanly.
//
//   conduit-bridge CONFIG          run
//   conduit-bridge --check CONFIG  parse the file and exit
//
// A bridge whose server cannot be reached at start is tried again with
// backoff, and each failure is printed; once connected, libnats reconnects.
#include <conduit/bridge.h>
#include <conduit/conduit.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

bool stopped() { return g_stop != 0; }

template <class Bridge, class Options>
std::unique_ptr<Bridge> start_with_backoff(conduit::Engine& engine, const Options& o, const char* what) {
  auto wait = o.nats.reconnect_wait;
  while (!stopped()) {
    auto b = Bridge::start(engine, o);
    if (b.ok()) {
      std::fprintf(stderr, "conduit-bridge: %s '%s' started\n", what, o.topic.c_str());
      return std::move(b).value();
    }
    std::fprintf(stderr, "conduit-bridge: %s '%s': %s; retrying in %lld ms\n", what, o.topic.c_str(),
                 b.status().to_string().c_str(), static_cast<long long>(wait.count()));
    if (b.status().code() != conduit::Code::kIOError) return nullptr;  // not a connection problem
    for (auto slept = std::chrono::milliseconds(0); slept < wait && !stopped(); slept += std::chrono::milliseconds(10))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    wait = std::min(wait * 2, o.nats.reconnect_wait_max);
  }
  return nullptr;
}

void print_stats(const char* what, const std::string& topic, const conduit::bridge::BridgeStats& s) {
  std::fprintf(stderr,
               "conduit-bridge: %s '%s': forwarded %llu in_flight %llu lag %llu committed %llu duplicates %llu "
               "retries %llu %s\n",
               what, topic.c_str(), static_cast<unsigned long long>(s.forwarded),
               static_cast<unsigned long long>(s.in_flight), static_cast<unsigned long long>(s.lag),
               static_cast<unsigned long long>(s.committed), static_cast<unsigned long long>(s.duplicates),
               static_cast<unsigned long long>(s.retries), s.connected ? "connected" : "disconnected");
}

}  // namespace

int main(int argc, char** argv) {
  const bool check = argc == 3 && std::string(argv[1]) == "--check";
  if (argc != 2 && !check) {
    std::fprintf(stderr, "usage: conduit-bridge [--check] CONFIG\n");
    return 2;
  }
  const char* path = argv[argc - 1];
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "conduit-bridge: cannot read %s\n", path);
    return 2;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto config = conduit::bridge::parse_config(text.str());
  if (!config.ok()) {
    std::fprintf(stderr, "conduit-bridge: %s: %s\n", path, config.status().to_string().c_str());
    return 2;
  }
  if (check) return 0;
  const conduit::bridge::Config& c = config.value();

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  conduit::EngineOptions eo;
  eo.data_dir = c.data_dir;
  auto engine = conduit::Engine::open(std::move(eo));
  if (!engine.ok()) {
    std::fprintf(stderr, "conduit-bridge: %s\n", engine.status().to_string().c_str());
    return 1;
  }
  for (const auto& t : c.topics) {
    conduit::TopicOptions to;
    to.durability = t.durability;
    to.dedup.max_ids = t.dedup_ids;
    if (auto r = engine.value()->create_topic(t.name, to); !r.ok()) {
      std::fprintf(stderr, "conduit-bridge: topic '%s': %s\n", t.name.c_str(), r.status().to_string().c_str());
      return 1;
    }
  }

  std::vector<std::unique_ptr<conduit::bridge::Outbound>> outs;
  std::vector<std::unique_ptr<conduit::bridge::Inbound>> ins;
  for (const auto& o : c.outbound) {
    auto b = start_with_backoff<conduit::bridge::Outbound>(*engine.value(), o, "outbound");
    if (!b) return stopped() ? 0 : 1;
    outs.push_back(std::move(b));
  }
  for (const auto& o : c.inbound) {
    auto b = start_with_backoff<conduit::bridge::Inbound>(*engine.value(), o, "inbound");
    if (!b) return stopped() ? 0 : 1;
    ins.push_back(std::move(b));
  }

  std::vector<std::string> last_errors(outs.size() + ins.size());
  auto next_stats = std::chrono::steady_clock::now() + c.stats_interval;
  while (!stopped()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    // New errors are printed once each.
    for (std::size_t i = 0; i < outs.size() + ins.size(); ++i) {
      std::string e = i < outs.size() ? outs[i]->last_error() : ins[i - outs.size()]->last_error();
      if (!e.empty() && e != last_errors[i]) std::fprintf(stderr, "conduit-bridge: %s\n", e.c_str());
      last_errors[i] = std::move(e);
    }
    if (c.stats_interval.count() > 0 && std::chrono::steady_clock::now() >= next_stats) {
      next_stats += c.stats_interval;
      for (std::size_t i = 0; i < outs.size(); ++i) print_stats("outbound", c.outbound[i].topic, outs[i]->stats());
      for (std::size_t i = 0; i < ins.size(); ++i) print_stats("inbound", c.inbound[i].topic, ins[i]->stats());
    }
  }
  int rc = 0;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    auto& b = outs[i];
    if (conduit::Status s = b->stop(); !s.ok()) {
      std::fprintf(stderr, "conduit-bridge: %s\n", s.to_string().c_str());
      rc = 1;
    }
    print_stats("outbound", c.outbound[i].topic, b->stats());
  }
  for (std::size_t i = 0; i < ins.size(); ++i) {
    (void)ins[i]->stop();
    print_stats("inbound", c.inbound[i].topic, ins[i]->stats());
  }
  std::fprintf(stderr, "conduit-bridge: stopped\n");
  return rc;
}
