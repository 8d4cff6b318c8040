#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <stdexcept>
#include <string>

using namespace conduit;

// The text an exception escaping value() carries, or "" when none escaped.
template <class F>
std::string thrown_text(F&& f) {
  try {
    f();
  } catch (const std::exception& e) { return e.what(); }
  return {};
}

TEST_CASE("value() on an error Result fails with the Status text, not a variant error") {
  auto engine = Engine::open().value();
  Result<Topic*> missing = engine->topic("no.such.topic");
  REQUIRE_FALSE(missing.ok());
  CHECK(thrown_text([&] { (void)missing.value(); }) == "NotFound: topic 'no.such.topic' does not exist");
  // The README's style: a temporary's value().
  CHECK(
      thrown_text([&] { (void)engine->create_topic("bad name").value(); }).starts_with("InvalidArgument: topic name"));
  CHECK(thrown_text([&] { (void)*missing; }).starts_with("NotFound:"));
  EngineOptions bad;
  bad.park_timeout = std::chrono::microseconds(0);
  Result<std::unique_ptr<Engine>> engine_result = Engine::open(bad);
  REQUIRE_FALSE(engine_result.ok());
  CHECK(thrown_text([&] { (void)engine_result->get(); }) == "InvalidArgument: park_timeout must be positive");
}

TEST_CASE("conduit::Error carries the Status and is a std::runtime_error") {
  auto engine = Engine::open().value();
  engine->close();
  try {
    (void)engine->create_topic("t").value();
    FAIL("value() of an error returned");
  } catch (const Error& e) {
    CHECK(e.status().code() == Code::kClosed);
    CHECK(e.status().message() == "engine is closed");
    CHECK(std::string(e.what()) == "Closed: engine is closed");
    const std::runtime_error& base = e;
    CHECK(std::string(base.what()) == e.status().to_string());
  }
}

TEST_CASE("value() of a Result holding a value throws nothing") {
  Result<int> r(7);
  CHECK_NOTHROW((void)r.value());
  CHECK(*r == 7);
  const Result<std::string> s(std::string("x"));
  CHECK(s.value() == "x");
  CHECK(s->size() == 1);
  CHECK(Result<std::string>(std::string("moved")).value() == "moved");
  CHECK(s.status().ok());
}
