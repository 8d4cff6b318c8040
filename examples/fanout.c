/* Fan-out from C: every subscriber of a topic sees every record. */
#include <conduit/conduit_c.h>

#include <stdio.h>

static int fail(conduit_status st, char* error) {
  fprintf(stderr, "%s\n", error ? error : conduit_status_message(st));
  conduit_error_free(error);
  return 1;
}

int main(void) {
  conduit_engine* engine = NULL;
  conduit_topic* prices = NULL;
  conduit_subscriber* subs[2] = {NULL, NULL};
  const char* names[2] = {"chart ", "alerts"};
  conduit_subscriber_options start;
  conduit_record records[16];
  conduit_poll_result r;
  char* error = NULL;
  conduit_status st;
  int i, s, seen = 0;

  if ((st = conduit_engine_open(NULL, &engine, &error)) != CONDUIT_OK) return fail(st, error);
  if ((st = conduit_engine_create_topic(engine, "prices", NULL, &prices, &error)) != CONDUIT_OK) return fail(st, error);

  /* Two independent readers, both from the first record on. */
  conduit_subscriber_options_init(&start);
  start.start.kind = CONDUIT_START_EARLIEST;
  for (s = 0; s < 2; ++s)
    if ((st = conduit_topic_subscribe(prices, &start, &subs[s], &error)) != CONDUIT_OK) return fail(st, error);

  for (i = 0; i < 5; ++i) {
    char tick[32];
    int n = snprintf(tick, sizeof tick, "tick %d", 100 + i);
    if ((st = conduit_topic_publish_bytes(prices, tick, (size_t)n, NULL, &error)) != CONDUIT_OK) return fail(st, error);
  }

  for (s = 0; s < 2; ++s) {
    /* The records' views are valid until this subscriber's next poll. */
    if ((st = conduit_subscriber_poll(subs[s], records, 16, 1000000000, &r, &error)) != CONDUIT_OK)
      return fail(st, error);
    for (i = 0; i < (int)r.count; ++i)
      printf("%s got #%llu %.*s\n", names[s], (unsigned long long)records[i].sequence,
             (int)records[i].message.payload.len, records[i].message.payload.data);
    seen += (int)r.count;
  }

  conduit_subscriber_free(subs[0]);
  conduit_subscriber_free(subs[1]);
  conduit_engine_free(engine);
  return seen == 10 ? 0 : 1; /* each of the two read all five */
}
