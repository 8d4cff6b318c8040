// The one "message with every envelope field" of the tests, the fuzz seeds
// (tools/fuzz/make_seeds.cpp) and the micro benchmarks
// (bench/micro_bench.cpp): a request with tracing and user headers, its
// strings of realistic lengths. Public headers only and free of doctest, so
// that those programs include it too; a test that needs a particular value
// (an id to escape, a header with an empty value) sets it over this one.
#pragma once

#include <conduit/message.h>

#include <string_view>

namespace conduit::test {

inline constexpr Header kEnvelopeHeaders[] = {{"tenant", "acme"}, {"region", "eu-west-1"}, {"priority", "high"}};

// Every field set but the timestamp (0: the engine stamps the record). The
// strings and headers are static: the Message lives as long as `payload`.
inline Message full_envelope(std::string_view payload) {
  Message m;
  m.payload = payload;
  m.id = "order-000000000042";
  m.key = "customer-7";
  m.correlation_id = "req-5f0c2a";
  m.reply_to = "orders.replies";
  m.trace_id = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  m.content_type = "application/json";
  m.schema_version = 3;
  m.headers = kEnvelopeHeaders;
  return m;
}

}  // namespace conduit::test
