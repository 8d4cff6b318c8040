/* A work queue from C: a work group shares jobs among its consumers; a job
 * that fails is retried, and after its last attempt goes to a dead-letter
 * topic. */
#include <conduit/conduit_c.h>

#include <stdio.h>
#include <string.h>

static int fail(conduit_status st, char* error) {
  fprintf(stderr, "%s\n", error ? error : conduit_status_message(st));
  conduit_error_free(error);
  return 1;
}

static int is(conduit_bytes b, const char* s) { return b.len == strlen(s) && memcmp(b.data, s, b.len) == 0; }

/* Job "flaky" fails on its first attempt; job "poison" always fails. */
static int handle(conduit_bytes job, uint32_t attempt) {
  if (is(job, "poison")) return 0;
  if (is(job, "flaky")) return attempt > 1;
  return 1;
}

int main(void) {
  const char* job_names[] = {"resize", "flaky", "poison", "email"};
  conduit_engine* engine = NULL;
  conduit_topic *jobs = NULL, *dead_topic = NULL;
  conduit_work_group* workers = NULL;
  conduit_work_group_options group;
  conduit_work_group_stats stats;
  conduit_consumer* worker = NULL;
  conduit_subscriber* failed = NULL;
  conduit_subscriber_options from_first;
  conduit_delivery d[8];
  conduit_record dead[8];
  conduit_header h;
  conduit_poll_result r;
  char* error = NULL;
  conduit_status st;
  size_t i;

  if ((st = conduit_engine_open(NULL, &engine, &error)) != CONDUIT_OK) return fail(st, error);
  if ((st = conduit_engine_create_topic(engine, "jobs", NULL, &jobs, &error)) != CONDUIT_OK) return fail(st, error);
  conduit_work_group_options_init(&group);
  group.max_attempts = 3;
  group.backoff_base_ns = 1000000; /* 1 ms, doubling per attempt */
  group.dead_letter_topic = "jobs.failed";
  if ((st = conduit_topic_work_group(jobs, "workers", &group, &workers, &error)) != CONDUIT_OK) return fail(st, error);
  if ((st = conduit_work_group_consumer(workers, NULL, &worker, &error)) != CONDUIT_OK) return fail(st, error);
  conduit_subscriber_options_init(&from_first);
  from_first.start.kind = CONDUIT_START_EARLIEST;
  if ((st = conduit_engine_topic(engine, "jobs.failed", &dead_topic, &error)) != CONDUIT_OK ||
      (st = conduit_topic_subscribe(dead_topic, &from_first, &failed, &error)) != CONDUIT_OK)
    return fail(st, error);

  for (i = 0; i < 4; ++i)
    if ((st = conduit_topic_publish_bytes(jobs, job_names[i], strlen(job_names[i]), NULL, &error)) != CONDUIT_OK)
      return fail(st, error);

  /* Until every job is acked or dead-lettered. */
  while (conduit_work_group_stats_get(workers, &stats) == CONDUIT_OK && stats.lag > 0) {
    if ((st = conduit_consumer_poll(worker, d, 8, 100000000, &r, &error)) != CONDUIT_OK) return fail(st, error);
    for (i = 0; i < r.count; ++i) {
      conduit_bytes job = d[i].record.message.payload;
      int ok = handle(job, d[i].attempt);
      printf("%-7.*s attempt %u: %s\n", (int)job.len, job.data, (unsigned)d[i].attempt, ok ? "done" : "failed");
      /* A failure is retried after a backoff, dead-lettered after the 3rd. */
      st = ok ? conduit_consumer_ack(worker, &d[i]) : conduit_consumer_fail(worker, &d[i], "handler failed");
      if (st != CONDUIT_OK) return fail(st, NULL);
    }
  }

  if ((st = conduit_subscriber_poll(failed, dead, 8, 1000000000, &r, &error)) != CONDUIT_OK) return fail(st, error);
  for (i = 0; i < r.count; ++i) {
    size_t k;
    for (k = 0; k < dead[i].message.header_count; ++k) {
      h = dead[i].message.headers[k];
      if (is(h.name, "conduit.dlq.attempts"))
        printf("dead letter: %.*s after %.*s attempts\n", (int)dead[i].message.payload.len,
               dead[i].message.payload.data, (int)h.value.len, h.value.data);
    }
  }
  st = r.count == 1 && is(dead[0].message.payload, "poison") ? CONDUIT_OK : CONDUIT_INTERNAL;

  conduit_subscriber_free(failed);
  conduit_consumer_free(worker);
  conduit_engine_free(engine);
  return st == CONDUIT_OK ? 0 : 1;
}
