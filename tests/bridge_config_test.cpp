// The bridge's pieces that need no server: the config file and the header
// encoding of the envelope.
#include <doctest/doctest.h>

#include <conduit/bridge.h>

#include <string>

#include "bridge/envelope_headers.h"

using namespace conduit;
using namespace conduit::bridge;
namespace hdr = conduit::bridge::detail;

TEST_CASE("a config file with both kinds of bridge parses, the global url filling in") {
  auto c = parse_config(R"(# the bridges of one host
data_dir = /var/lib/conduit
url = nats://10.0.0.1:4222
stats_interval_ms = 1000

[topic orders]
durability = async
dedup_ids = 4096

[outbound orders]
topic = orders
subscriber = to-nats   # its committed position is the bridge's
stream = ORDERS
subject = orders.created
max_in_flight = 512
ack_timeout_ms = 1500

[inbound replies]
url = nats://10.0.0.2:4222
topic = replies
durable = conduit
stream = REPLIES
subject = replies.>
batch = 64
)");
  REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  const Config& cfg = c.value();
  CHECK(cfg.data_dir == "/var/lib/conduit");
  CHECK(cfg.stats_interval == std::chrono::milliseconds(1000));
  REQUIRE(cfg.topics.size() == 1);
  CHECK(cfg.topics[0].durability == Durability::kAsync);
  CHECK(cfg.topics[0].dedup_ids == 4096);
  REQUIRE(cfg.outbound.size() == 1);
  CHECK(cfg.outbound[0].nats.url == "nats://10.0.0.1:4222");
  CHECK(cfg.outbound[0].subscriber == "to-nats");
  CHECK(cfg.outbound[0].max_in_flight == 512);
  CHECK(cfg.outbound[0].ack_timeout == std::chrono::milliseconds(1500));
  REQUIRE(cfg.inbound.size() == 1);
  CHECK(cfg.inbound[0].nats.url == "nats://10.0.0.2:4222");
  CHECK(cfg.inbound[0].subject == "replies.>");
  CHECK(cfg.inbound[0].batch == 64);
}

TEST_CASE("format_config writes what parse_config reads back the same") {
  auto c = parse_config(
      "data_dir = d\nurl = nats://h:1\n[topic t]\ndurability = memory\n[outbound o]\ntopic = t\n"
      "subscriber = s\nstream = S\nsubject = a.b\ndurable_only = yes\n[inbound i]\nname = own name\n"
      "topic = t\ndurable = d\nstream = S\nsubject = a.>\nack_wait_ms = 7\n");
  REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  const std::string text = format_config(*c);
  auto back = parse_config(text);
  REQUIRE_MESSAGE(back.ok(), back.status().to_string() << "\n" << text);
  CHECK(format_config(*back) == text);
  CHECK(back->topics.at(0).durability == Durability::kMemory);
  CHECK(back->outbound.at(0).nats.name == "conduit-bridge o");  // the section's name
  CHECK(back->outbound.at(0).nats.url == "nats://h:1");         // the global url, written out
  CHECK(back->outbound.at(0).durable_only);
  CHECK(back->inbound.at(0).nats.name == "own name");
  CHECK(back->inbound.at(0).ack_wait == std::chrono::milliseconds(7));
}

TEST_CASE("config errors name the line and what is wrong") {
  auto unknown = parse_config("data_dir = d\n[outbound x]\ntopic = t\nfrobnicate = 1\n");
  CHECK(unknown.status().code() == Code::kInvalidArgument);
  CHECK(unknown.status().message() == "config line 4: unknown key 'frobnicate'");
  CHECK(parse_config("data_dir = d\n[outbound x]\nmax_in_flight = lots\n").status().message() ==
        "config line 3: max_in_flight needs a number, got 'lots'");
  CHECK(parse_config("data_dir = d\n[sideways x]\n").status().message().find("unknown section") != std::string::npos);
  CHECK(parse_config("[outbound x]\ntopic = t\n").status().message() == "config: data_dir is required");
  CHECK(parse_config("data_dir = d\n[outbound x]\ntopic = t\n").status().message().find("needs topic, subscriber") !=
        std::string::npos);
  CHECK(parse_config("data_dir = d\n").status().message().find("no [outbound") != std::string::npos);
  CHECK(parse_config("data_dir = d\n[inbound x]\nack_wait_ms = -5\n").status().message() ==
        "config line 3: ack_wait_ms is a duration and cannot be negative, got -5");
}

TEST_CASE("percent encoding escapes only what a NATS header cannot hold, and decodes back") {
  using hdr::percent_decode;
  using hdr::percent_encode;
  CHECK(percent_encode("application/json; charset=utf-8") == "application/json; charset=utf-8");
  CHECK(percent_encode(" a b ") == "%20a b%20");
  CHECK(percent_encode("100%\r\n") == "100%25%0D%0A");
  CHECK(percent_encode("a=b&c", true) == "a%3Db%26c");
  for (std::string s :
       {std::string("plain"), std::string(" edge "), std::string("\0\x01\x7f%&=", 6), std::string("caf\xc3\xa9")}) {
    CHECK(percent_decode(percent_encode(s, true)).value() == s);
    CHECK(percent_decode(percent_encode(s)).value() == s);
  }
  CHECK(percent_decode("%4").status().code() == Code::kInvalidArgument);
  CHECK(percent_decode("%zz").status().code() == Code::kInvalidArgument);
}

TEST_CASE("a malformed Conduit-Headers value is an error, not a silent loss") {
  REQUIRE(nats_Open(-1) == NATS_OK);  // libnats' global state (a connect does it otherwise)
  natsMsg* m = nullptr;
  REQUIRE(natsMsg_Create(&m, "s", nullptr, "p", 1) == NATS_OK);
  REQUIRE(natsMsgHeader_Set(m, "Conduit-Headers", "1:no-equals-sign") == NATS_OK);
  hdr::Envelope env;
  CHECK(hdr::from_nats(m, "fallback", &env).code() == Code::kInvalidArgument);
  REQUIRE(natsMsgHeader_Set(m, "Conduit-Headers", "1:a=1") == NATS_OK);
  REQUIRE(natsMsgHeader_Set(m, "Conduit-Schema-Version", "x") == NATS_OK);
  CHECK(hdr::from_nats(m, "fallback", &env).code() == Code::kInvalidArgument);
  natsMsg_Destroy(m);
}
