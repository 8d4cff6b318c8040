/* A reader in another process, from C: one process writes a persisted topic
 * through its engine; a second one, forked here, follows the topic with a
 * log reader, which reads the log files directly (no engine, no lock). */
#define _XOPEN_SOURCE 700 /* fork, mkdtemp, nanosleep, nftw */
#include <conduit/conduit_c.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COUNT 100

static int fail(const char* who, conduit_status st, char* error) {
  fprintf(stderr, "%s: %s\n", who, error ? error : conduit_status_message(st));
  conduit_error_free(error);
  return 1;
}

static void sleep_ms(long ms) {
  struct timespec t;
  t.tv_sec = 0;
  t.tv_nsec = ms * 1000000L;
  nanosleep(&t, NULL);
}

/* The reader process: waits for the topic, then reads until the writer
 * closed it. Exit status 0 when it saw every record, in order. */
static int follow(const char* dir) {
  conduit_log_reader_options from_first;
  conduit_log_reader* reader = NULL;
  conduit_record rec[32];
  conduit_poll_result r;
  char* error = NULL;
  conduit_status st;
  int tries, seen = 0;
  size_t i;

  conduit_log_reader_options_init(&from_first);
  from_first.start.kind = CONDUIT_START_EARLIEST;
  for (tries = 0; (st = conduit_log_reader_open(dir, "events", &from_first, &reader, &error)) != CONDUIT_OK; ++tries) {
    if (tries == 500) return fail("reader", st, error); /* the writer may not have created it yet */
    conduit_error_free(error);
    sleep_ms(10);
  }
  while (seen < COUNT || !conduit_log_reader_writer_closed(reader)) {
    if ((st = conduit_log_reader_poll(reader, rec, 32, seen < COUNT ? 5000000000 : 100000000, &r, &error)) != CONDUIT_OK)
      return fail("reader", st, error);
    if (r.count == 0 && seen < COUNT) return fail("reader", CONDUIT_TIMED_OUT, NULL);
    for (i = 0; i < r.count; ++i, ++seen) {
      char want[32];
      int n = snprintf(want, sizeof want, "event %d", seen);
      if (rec[i].message.payload.len != (size_t)n || memcmp(rec[i].message.payload.data, want, (size_t)n) != 0)
        return 1;
    }
  }
  printf("reader: followed %d records the writer process published\n", seen);
  conduit_log_reader_free(reader);
  return seen == COUNT ? 0 : 1;
}

static int remove_entry(const char* path, const struct stat* sb, int flag, struct FTW* ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

int main(void) {
  char dir[] = "/tmp/conduit-example-XXXXXX";
  conduit_engine_options options;
  conduit_topic_options persisted;
  conduit_engine* engine = NULL;
  conduit_topic* events = NULL;
  char* error = NULL;
  conduit_status st;
  pid_t child;
  int i, status = 1;

  if (mkdtemp(dir) == NULL) return 1;
  child = fork(); /* before the engine starts its threads */
  if (child == 0) {
    status = follow(dir);
    fflush(stdout); /* _exit does not */
    _exit(status);
  }

  /* The writer process. */
  conduit_engine_options_init(&options);
  options.data_dir = dir;
  conduit_topic_options_init(&persisted);
  persisted.durability = CONDUIT_DURABILITY_ASYNC; /* synced in the background */
  if ((st = conduit_engine_open(&options, &engine, &error)) != CONDUIT_OK ||
      (st = conduit_engine_create_topic(engine, "events", &persisted, &events, &error)) != CONDUIT_OK)
    return fail("writer", st, error);
  for (i = 0; i < COUNT; ++i) {
    char payload[32];
    int n = snprintf(payload, sizeof payload, "event %d", i);
    if ((st = conduit_topic_publish_bytes(events, payload, (size_t)n, NULL, &error)) != CONDUIT_OK)
      return fail("writer", st, error);
    if (i % 10 == 9) sleep_ms(5); /* the reader follows as records come */
  }
  conduit_engine_free(engine); /* closes: the reader sees writer_closed */

  waitpid(child, &status, 0);
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
