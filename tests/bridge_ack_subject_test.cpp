// The JetStream reply subject the inbound bridge acks to, read back into the
// delivery's stream position, delivery count and pending count.
#include <doctest/doctest.h>

#include <string>

#include "bridge/ack_subject.h"

using conduit::bridge::detail::parse_ack_subject;

TEST_CASE("the nine-token ack subject gives stream, consumer and the delivery's numbers") {
  auto a = parse_ack_subject("$JS.ACK.ORDERS.to-conduit.2.1042.77.1796208188593737848.13");
  REQUIRE(a.ok());
  CHECK(a->domain.empty());
  CHECK(a->stream == "ORDERS");
  CHECK(a->consumer == "to-conduit");
  CHECK(a->delivered == 2);
  CHECK(a->stream_seq == 1042);
  CHECK(a->consumer_seq == 77);
  CHECK(a->timestamp_ns == 1796208188593737848);
  CHECK(a->pending == 13);
}

TEST_CASE("the ack subject with domain and account hash is read, with or without its random token") {
  auto a = parse_ack_subject("$JS.ACK.hub.ACCHASH.S.d.1.5.6.1700000000000000000.0.Xy7Rq");
  REQUIRE(a.ok());
  CHECK(a->domain == "hub");
  CHECK(a->stream == "S");
  CHECK(a->consumer == "d");
  CHECK(a->delivered == 1);
  CHECK(a->stream_seq == 5);
  CHECK(a->consumer_seq == 6);
  CHECK(a->pending == 0);
  auto b = parse_ack_subject("$JS.ACK._.ACCHASH.S.d.3.9.10.1700000000000000000.4");
  REQUIRE(b.ok());
  CHECK(b->domain.empty());  // "_": no domain
  CHECK(b->stream_seq == 9);
  CHECK(b->pending == 4);
}

TEST_CASE("a subject that is not a JetStream ack subject is refused") {
  for (std::string s : {"", "_INBOX.abc.1", "$JS.ACK.S.d.1.2.3.4",         // too few tokens
                        "$JS.ACK.S.d.1.2.3.4.5.6",                         // ten: neither form
                        "$JS.NAK.S.d.1.2.3.4.5", "$JS.ACK.S.d.1.x.3.4.5",  // not a number
                        "$JS.ACK.S.d.1.2.3.4.-5", "$JS.ACK.S..1.2.3.4.5",  // negative, empty token
                        "$JS.ACK.S.d.1.2.3.4.5.", "$JS.ACK.S.d.18446744073709551616.2.3.4.5"}) {  // overflow
    CAPTURE(s);
    const auto a = parse_ack_subject(s);
    REQUIRE_FALSE(a.ok());
    CHECK(a.status().message().find("not a JetStream ack subject: ") == 0);
  }
}

TEST_CASE("an ack subject formatted from what was parsed parses to the same") {
  for (std::string s : {"$JS.ACK.ORDERS.to-conduit.2.1042.77.1796208188593737848.13",
                        "$JS.ACK.hub.ACCHASH.S.d.1.5.6.1700000000000000000.0.Xy7Rq",
                        "$JS.ACK._.ACCHASH.S.d.3.9.10.1700000000000000000.4"}) {
    CAPTURE(s);
    auto a = parse_ack_subject(s);
    REQUIRE(a.ok());
    const std::string f = conduit::bridge::detail::format_ack_subject(*a);
    auto b = parse_ack_subject(f);
    REQUIRE(b.ok());
    CHECK(b->domain == a->domain);
    CHECK(b->account == a->account);
    CHECK(b->stream == a->stream);
    CHECK(b->stream_seq == a->stream_seq);
    CHECK(b->timestamp_ns == a->timestamp_ns);
    CHECK(b->pending == a->pending);
  }
  auto plain = parse_ack_subject("$JS.ACK.S.d.1.2.3.4.5");
  REQUIRE(plain.ok());
  CHECK(conduit::bridge::detail::format_ack_subject(*plain) == "$JS.ACK.S.d.1.2.3.4.5");
}
