// The consumer project's bridge program (tests/consumer/run.sh, when conduit
// was built with its bridge): conduit::bridge from an installed conduit,
// found with find_package(conduit COMPONENTS bridge). It compiles the
// README's bridge example (readme_bridge.inc, cut from README.md by run.sh)
// and runs what needs no nats-server: a config file parsed, and a start
// against a loopback port nothing listens on, which fails with kIOError.
#include <conduit/bridge.h>
#include <conduit/conduit.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

// Compiled and linked, not run: it would reach for a server on port 4222.
[[maybe_unused]] static void readme_example(std::unique_ptr<conduit::Engine>& engine) {
#include "readme_bridge.inc"
}

static int fail(const std::string& what) {
  std::fprintf(stderr, "consumer_bridge: %s\n", what.c_str());
  return 1;
}

int main() {
  auto config = conduit::bridge::parse_config(
      "data_dir = /var/lib/conduit\n"
      "[outbound orders]\ntopic = orders\nsubscriber = to-nats\nstream = ORDERS\nsubject = orders.created\n");
  if (!config.ok()) return fail(config.status().to_string());
  if (config.value().outbound.size() != 1 || config.value().outbound[0].stream != "ORDERS")
    return fail("parse_config did not return the one outbound bridge");

  char tmpl[] = "/tmp/conduit-consumer-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return fail("mkdtemp failed");
  const std::filesystem::path dir = tmpl;
  int rc = 0;
  {
    conduit::EngineOptions eo;
    eo.data_dir = (dir / "data").string();
    auto engine = conduit::Engine::open(std::move(eo));
    if (!engine.ok()) return fail(engine.status().to_string());
    conduit::TopicOptions t;
    t.durability = conduit::Durability::kAsync;
    if (!engine.value()->create_topic("orders", t).ok()) return fail("create_topic failed");

    conduit::bridge::OutboundOptions o = config.value().outbound[0];
    o.nats.url = "nats://127.0.0.1:1";  // nothing listens there
    auto out = conduit::bridge::Outbound::start(*engine.value(), o);
    if (out.ok() || out.status().code() != conduit::Code::kIOError)
      rc = fail("start against no server: want kIOError, got " + out.status().to_string());
    else
      std::printf("consumer_bridge: %s\n", out.status().to_string().c_str());
  }
  std::filesystem::remove_all(dir);
  return rc;
}
