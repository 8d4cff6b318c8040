// A work queue: a work group shares jobs among its consumers; a job that
// fails is retried, and after its last attempt goes to a dead-letter topic.
#include <conduit/conduit.h>

#include <cstdio>
#include <string>
#include <string_view>

using namespace std::chrono_literals;

// Job "flaky" fails on its first attempt; job "poison" always fails.
static bool handle(std::string_view job, std::uint32_t attempt) {
  if (job == "poison") return false;
  if (job == "flaky") return attempt > 1;
  return true;
}

int main() {
  auto engine = conduit::Engine::open().value();
  conduit::Topic* jobs = engine->create_topic("jobs").value();
  conduit::WorkGroupOptions retries;
  retries.max_attempts = 3;
  retries.backoff_base = 1ms;  // doubling per attempt
  retries.dead_letter_topic = "jobs.failed";
  conduit::WorkGroup* workers = jobs->work_group("workers", retries).value();
  auto worker = workers->consumer().value();
  conduit::SubscriberOptions from_first;
  from_first.start = conduit::StartAt::earliest();
  auto failed = engine->topic("jobs.failed").value()->subscribe(from_first).value();

  for (const char* job : {"resize", "flaky", "poison", "email"}) jobs->publish(job).value();

  conduit::Delivery d[8];
  while (workers->lag() > 0) {  // until every job is acked or dead-lettered
    conduit::PollResult r = worker->poll(d, 100ms);
    for (std::size_t i = 0; i < r.count; ++i) {
      std::string_view job = d[i].record.payload();
      bool ok = handle(job, d[i].attempt);
      std::printf("%-7.*s attempt %u: %s\n", (int)job.size(), job.data(), d[i].attempt, ok ? "done" : "failed");
      if (ok)
        worker->ack(d[i]);
      else
        worker->fail(d[i], "handler failed");  // retried after a backoff, dead-lettered after the 3rd
    }
  }

  conduit::RecordView dead[8];
  conduit::PollResult r = failed->poll(dead, 1s);
  for (std::size_t i = 0; i < r.count; ++i)
    std::printf("dead letter: %.*s after %.*s attempts\n", (int)dead[i].payload().size(), dead[i].payload().data(),
                (int)dead[i].find_header(conduit::dlq_header::kAttempts).value_or("?").size(),
                dead[i].find_header(conduit::dlq_header::kAttempts).value_or("?").data());
  return r.count == 1 && dead[0].payload() == "poison" ? 0 : 1;
}
