// TopicOptions::single_producer in a child forked after its parent used
// one: close() stops the child's publisher through membarrier(2), which the
// child may have to register for again. fork() happens while this process
// has no engine open, so the child starts from a single-threaded process.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <sys/wait.h>
#include <unistd.h>

#include <string>

using namespace conduit;

namespace {

// Opens an engine, publishes `n` records to a single_producer topic from
// this thread, closes it; true when every step went as it should.
bool publish_and_close(int n) {
  auto engine = Engine::open();
  if (!engine.ok()) return false;
  TopicOptions o;
  o.single_producer = true;
  auto topic = (*engine)->create_topic("t", o);
  if (!topic.ok()) return false;
  for (int i = 0; i < n; ++i)
    if (!(*topic)->publish(std::to_string(i)).ok()) return false;
  (*engine)->close();  // stops the publisher: the process-wide barrier
  return (*topic)->published() == static_cast<std::uint64_t>(n) &&
         (*topic)->publish("late").status().code() == Code::kClosed;
}

}  // namespace

TEST_CASE("a child forked after its parent closed a single_producer topic can close one too") {
  REQUIRE(publish_and_close(1000));  // registers this process for membarrier
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(publish_and_close(1000) ? 0 : 1);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));  // not aborted by a failed barrier
  CHECK(WEXITSTATUS(status) == 0);
}
