/* The C API (conduit/conduit_c.h) driven from C99: every function, its
 * errors (bad names, oversized payloads, a closed engine, handles that
 * outlive the engine, NULL arguments) and the zero-copy views. Linked
 * against libconduit.so. Exits non-zero, naming the failed check. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conduit/conduit_c.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* st is the expected status; the error text, when one is expected, must
 * contain `needle`. */
#define CHECK_ERR(call, st, needle)                                                                         \
  do {                                                                                                      \
    char* err_ = NULL;                                                                                      \
    conduit_status got_ = (call);                                                                           \
    if (got_ != (st) || err_ == NULL || strstr(err_, (needle)) == NULL) {                                   \
      fprintf(stderr, "%s:%d: %s: got %s (%s), wanted %s with '%s'\n", __FILE__, __LINE__, #call,           \
              conduit_status_message(got_), err_ ? err_ : "no text", conduit_status_message(st), (needle)); \
      ++failures;                                                                                           \
    }                                                                                                       \
    conduit_error_free(err_);                                                                               \
  } while (0)

#define CHECK_OK(call)                                                                        \
  do {                                                                                        \
    char* err_ = NULL;                                                                        \
    conduit_status got_ = (call);                                                             \
    if (got_ != CONDUIT_OK || err_ != NULL) {                                                 \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, err_ ? err_ : "no text"); \
      ++failures;                                                                             \
    }                                                                                         \
    conduit_error_free(err_);                                                                 \
  } while (0)

static conduit_bytes text(const char* s) {
  conduit_bytes b;
  b.data = s;
  b.len = strlen(s);
  return b;
}

static int equals(conduit_bytes b, const char* s) { return b.len == strlen(s) && memcmp(b.data, s, b.len) == 0; }

static int remove_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int64_t fixed_clock(void* context) { return *(const int64_t*)context; }

static void test_status_and_names(void) {
  char* err = NULL;
  CHECK(strcmp(conduit_status_message(CONDUIT_OK), "OK") == 0);
  CHECK(strcmp(conduit_status_message(CONDUIT_NOT_FOUND), "NotFound") == 0);
  CHECK(strcmp(conduit_status_message(CONDUIT_READ_ONLY), "ReadOnly") == 0);
  CHECK(strcmp(conduit_status_message(CONDUIT_OUT_OF_MEMORY), "OutOfMemory") == 0);
  CHECK(strcmp(conduit_status_message((conduit_status)55), "Unknown") == 0);
  conduit_error_free(NULL);
  /* NULL out-pointers and handles are refused, with or without a text. */
  CHECK(conduit_engine_open(NULL, NULL, NULL) == CONDUIT_INVALID_ARGUMENT);
  CHECK(conduit_engine_open(NULL, NULL, &err) == CONDUIT_INVALID_ARGUMENT && err != NULL);
  conduit_error_free(err);
  CHECK(conduit_topic_publish_bytes(NULL, "x", 1, NULL, NULL) == CONDUIT_INVALID_ARGUMENT);
  CHECK(conduit_subscriber_poll(NULL, NULL, 0, 0, NULL, NULL) == CONDUIT_INVALID_ARGUMENT);
  CHECK(conduit_consumer_ack(NULL, NULL) == CONDUIT_INVALID_ARGUMENT);
  CHECK(conduit_topic_stats_get(NULL, NULL) == CONDUIT_INVALID_ARGUMENT);
  conduit_engine_free(NULL);
  conduit_subscriber_free(NULL);
  conduit_consumer_free(NULL);
  conduit_log_reader_free(NULL);
}

static void test_memory_topic(void) {
  conduit_engine* e = NULL;
  conduit_topic* t = NULL;
  conduit_topic* again = NULL;
  conduit_topic_options to;
  conduit_subscriber_options so;
  conduit_subscriber* sub = NULL;
  conduit_record recs[8];
  conduit_poll_result pr;
  conduit_topic_stats st;
  conduit_header hs[2];
  conduit_header h;
  conduit_message m;
  conduit_message batch[3];
  uint64_t seq = 99, seqs[3] = {0, 0, 0};
  size_t published = 99;
  char big[2048];
  int64_t now = 1700000000123456789LL;
  conduit_engine_options eo;

  conduit_engine_options_init(&eo);
  eo.clock = fixed_clock;
  eo.clock_context = &now;
  CHECK_OK(conduit_engine_open(&eo, &e, &err_));
  CHECK(conduit_engine_now_ns(e) == now);
  CHECK(!conduit_engine_closed(e));

  conduit_topic_options_init(&to);
  CHECK(to.durability == CONDUIT_DURABILITY_MEMORY && to.max_payload_bytes == (1u << 20));
  to.max_payload_bytes = 1024;
  to.segment_bytes = 256 * 1024;
  to.ring_bytes = 512 * 1024;
  CHECK_ERR(conduit_engine_create_topic(e, "bad name!", &to, &t, &err_), CONDUIT_INVALID_ARGUMENT, "bad name!");
  CHECK(t == NULL);
  CHECK_OK(conduit_engine_create_topic(e, "orders", &to, &t, &err_));
  CHECK(strcmp(conduit_topic_name(t), "orders") == 0);
  CHECK_OK(conduit_engine_create_topic(e, "orders", &to, &again, &err_));
  CHECK(again == t);
  CHECK_ERR(conduit_engine_create_topic(e, "orders", NULL, &again, &err_), CONDUIT_ALREADY_EXISTS,
            "segment_bytes is 262144");
  CHECK_OK(conduit_engine_topic(e, "orders", &again, &err_));
  CHECK(again == t);
  CHECK_ERR(conduit_engine_topic(e, "missing", &again, &err_), CONDUIT_NOT_FOUND, "missing");
  CHECK(again == NULL);
  to.durability = (conduit_durability)7;
  CHECK_ERR(conduit_engine_create_topic(e, "other", &to, &again, &err_), CONDUIT_INVALID_ARGUMENT,
            "durability 7 is not one of 0..2");

  conduit_subscriber_options_init(&so);
  CHECK(so.start.kind == CONDUIT_START_LATEST && so.wait == CONDUIT_WAIT_ADAPTIVE);
  CHECK(so.stream_gap_ns == 1000); /* SubscriberOptions::stream_gap's default */
  so.wait = (conduit_wait_strategy)-1;
  CHECK_ERR(conduit_topic_subscribe(t, &so, &sub, &err_), CONDUIT_INVALID_ARGUMENT, "wait strategy -1");
  so.wait = CONDUIT_WAIT_ADAPTIVE;
  so.start.kind = (conduit_start_kind)9;
  CHECK_ERR(conduit_topic_subscribe(t, &so, &sub, &err_), CONDUIT_INVALID_ARGUMENT, "start kind 9");
  CHECK(sub == NULL);
  so.start.kind = CONDUIT_START_EARLIEST;
  CHECK_OK(conduit_topic_subscribe(t, &so, &sub, &err_));

  /* A full envelope in, the same fields out. */
  memset(&m, 0, sizeof m);
  hs[0].name = text("tenant");
  hs[0].value = text("acme");
  hs[1].name = text("attempt");
  hs[1].value = text("1");
  m.payload = text("hello");
  m.id = text("id-1");
  m.key = text("k");
  m.correlation_id = text("corr");
  m.reply_to = text("replies");
  m.trace_id = text("trace");
  m.content_type = text("text/plain");
  m.schema_version = 3;
  m.headers = hs;
  m.header_count = 2;
  CHECK_OK(conduit_topic_publish(t, &m, &seq, &err_));
  CHECK(seq == 0);
  CHECK_OK(conduit_topic_publish_bytes(t, "second", 6, &seq, &err_));
  CHECK(seq == 1);

  CHECK_OK(conduit_subscriber_poll(sub, recs, 8, 1000000000, &pr, &err_));
  CHECK(pr.count == 2 && pr.lost == 0 && !pr.closed);
  CHECK(recs[0].sequence == 0 && recs[1].sequence == 1);
  CHECK(equals(recs[0].message.payload, "hello") && equals(recs[0].message.id, "id-1"));
  CHECK(equals(recs[0].message.key, "k") && equals(recs[0].message.correlation_id, "corr"));
  CHECK(equals(recs[0].message.reply_to, "replies") && equals(recs[0].message.trace_id, "trace"));
  CHECK(equals(recs[0].message.content_type, "text/plain") && recs[0].message.schema_version == 3);
  CHECK(recs[0].message.timestamp_ns == now); /* stamped by the injected clock */
  CHECK(recs[0].message.header_count == 2 && recs[0].message.headers != NULL);
  CHECK(equals(recs[0].message.headers[0].name, "tenant") && equals(recs[0].message.headers[0].value, "acme"));
  CHECK(equals(recs[0].message.headers[1].name, "attempt") && equals(recs[0].message.headers[1].value, "1"));
  CHECK(conduit_record_header(&recs[0], 1, &h) == CONDUIT_OK && equals(h.value, "1"));
  CHECK(conduit_record_header(&recs[0], 2, &h) == CONDUIT_INVALID_ARGUMENT);
  CHECK(equals(recs[1].message.payload, "second") && recs[1].message.header_count == 0);
  CHECK(recs[1].message.headers == NULL && recs[1].message.id.len == 0);
  /* Zero copy: the payload is a view into the record in the log, not a copy. */
  CHECK(recs[0].message.payload.data != m.payload.data);
  CHECK(recs[0].message.payload.data > (const char*)recs[0].reserved &&
        recs[0].message.payload.data + 5 <= (const char*)recs[0].reserved + recs[0].size_bytes);
  CHECK(conduit_subscriber_position(sub) == 2 && conduit_subscriber_lag(sub) == 0 && conduit_subscriber_lost(sub) == 0);
  CHECK_ERR(conduit_subscriber_commit(sub, &err_), CONDUIT_INVALID_ARGUMENT, "");

  /* Errors publish nothing. */
  memset(big, 'x', sizeof big);
  CHECK_ERR(conduit_topic_publish_bytes(t, big, sizeof big, &seq, &err_), CONDUIT_TOO_LARGE, "2048");
  CHECK_ERR(conduit_topic_publish_bytes(t, NULL, 5, &seq, &err_), CONDUIT_INVALID_ARGUMENT, "payload");
  memset(&m, 0, sizeof m);
  m.header_count = 1;
  CHECK_ERR(conduit_topic_publish(t, &m, &seq, &err_), CONDUIT_INVALID_ARGUMENT, "header");
  CHECK(conduit_topic_stats_get(t, &st) == CONDUIT_OK);
  CHECK(st.published == 2 && st.claimed == 2 && st.earliest == 0 && st.segments >= 1);

  /* Batches: all or, when one is malformed, none. */
  memset(batch, 0, sizeof batch);
  batch[0].payload = text("b0");
  batch[1].payload = text("b1");
  batch[2].payload = text("b2");
  CHECK_OK(conduit_topic_publish_batch(t, batch, 3, seqs, &published, &err_));
  CHECK(published == 3 && seqs[0] == 2 && seqs[2] == 4);
  batch[1].payload.data = big;
  batch[1].payload.len = sizeof big;
  CHECK_ERR(conduit_topic_publish_batch(t, batch, 3, NULL, &published, &err_), CONDUIT_TOO_LARGE, "1");
  CHECK(published == 0);
  CHECK_OK(conduit_subscriber_poll(sub, recs, 2, 0, &pr, &err_));
  CHECK(pr.count == 2 && equals(recs[0].message.payload, "b0") && equals(recs[1].message.payload, "b1"));
  CHECK(conduit_subscriber_lag(sub) == 1);
  CHECK_ERR(conduit_topic_await_durable(t, 0, 1000, &err_), CONDUIT_UNSUPPORTED, "");
  CHECK_OK(conduit_topic_publish_nowait(t, &batch[0], &seq, &err_));
  CHECK(seq == 5);

  /* Deleting a topic with an open subscriber is refused. */
  CHECK_ERR(conduit_engine_delete_topic(e, "orders", &err_), CONDUIT_BUSY, "orders");
  conduit_subscriber_free(sub);
  CHECK_OK(conduit_engine_delete_topic(e, "orders", &err_));
  CHECK_ERR(conduit_engine_delete_topic(e, "orders", &err_), CONDUIT_NOT_FOUND, "orders");
  CHECK_ERR(conduit_topic_publish_bytes(t, "x", 1, &seq, &err_), CONDUIT_NOT_FOUND, "orders");

  /* A closed engine refuses publishes; a poll says closed. */
  CHECK_OK(conduit_engine_create_topic(e, "after", NULL, &t, &err_));
  sub = NULL;
  CHECK_OK(conduit_topic_subscribe(t, NULL, &sub, &err_));
  conduit_engine_close(e);
  conduit_engine_close(e);
  CHECK(conduit_engine_closed(e));
  CHECK_ERR(conduit_topic_publish_bytes(t, "x", 1, &seq, &err_), CONDUIT_CLOSED, "");
  CHECK_OK(conduit_subscriber_poll(sub, recs, 8, 1000000, &pr, &err_));
  CHECK(pr.count == 0 && pr.closed);
  conduit_subscriber_free(sub);
  conduit_engine_free(e);
}

/* TopicOptions::shared reaches the engine: the topic is created shared
 * (the engine compares the option when it is opened again, naming it), and
 * publishing and reading it in process are as on any memory-only topic. */
static void test_shared_memory_topic(void) {
  conduit_engine* e = NULL;
  conduit_topic* t = NULL;
  conduit_topic* again = NULL;
  conduit_topic_options to;
  conduit_subscriber* sub = NULL;
  conduit_subscriber_options so;
  conduit_record recs[4];
  conduit_poll_result pr;
  uint64_t seq = 99;

  CHECK_OK(conduit_engine_open(NULL, &e, &err_));
  conduit_topic_options_init(&to);
  CHECK(to.shared == 0);
  to.shared = 1;
  to.max_payload_bytes = 1024;
  to.segment_bytes = 256 * 1024;
  to.ring_bytes = 512 * 1024;
  CHECK_OK(conduit_engine_create_topic(e, "shm", &to, &t, &err_));
  CHECK_OK(conduit_engine_create_topic(e, "shm", &to, &again, &err_));
  CHECK(again == t);
  to.shared = 0;
  CHECK_ERR(conduit_engine_create_topic(e, "shm", &to, &again, &err_), CONDUIT_ALREADY_EXISTS, "shared");
  conduit_subscriber_options_init(&so);
  so.start.kind = CONDUIT_START_EARLIEST;
  CHECK_OK(conduit_topic_subscribe(t, &so, &sub, &err_));
  CHECK_OK(conduit_topic_publish_bytes(t, "in memfd", 8, &seq, &err_));
  CHECK(seq == 0);
  CHECK_OK(conduit_subscriber_poll(sub, recs, 4, 1000000000, &pr, &err_));
  CHECK(pr.count == 1 && equals(recs[0].message.payload, "in memfd"));
  conduit_subscriber_free(sub);
  conduit_engine_free(e);
}

static void test_persisted(const char* dir) {
  conduit_engine* e = NULL;
  conduit_engine_options eo;
  conduit_topic_options to;
  conduit_subscriber_options so;
  conduit_log_reader_options lo;
  conduit_topic* t = NULL;
  conduit_subscriber* sub = NULL;
  conduit_log_reader* lr = NULL;
  conduit_record recs[4];
  conduit_poll_result pr;
  char** names = NULL;
  size_t count = 0;
  uint64_t seq = 0;
  int i;

  conduit_engine_options_init(&eo);
  eo.data_dir = dir;
  CHECK_OK(conduit_engine_open(&eo, &e, &err_));
  {
    conduit_engine* second = NULL;
    CHECK_ERR(conduit_engine_open(&eo, &second, &err_), CONDUIT_BUSY, dir);
    CHECK(second == NULL);
  }
  conduit_topic_options_init(&to);
  to.durability = CONDUIT_DURABILITY_SYNC;
  CHECK_OK(conduit_engine_create_topic(e, "ledger", &to, &t, &err_));
  CHECK_OK(conduit_engine_create_topic(e, "aaa", NULL, &t, &err_));
  CHECK_OK(conduit_engine_topic(e, "ledger", &t, &err_));
  CHECK_OK(conduit_engine_topics(e, &names, &count, &err_));
  CHECK(count == 2 && strcmp(names[0], "aaa") == 0 && strcmp(names[1], "ledger") == 0);
  conduit_names_free(names, count);

  conduit_subscriber_options_init(&so);
  so.name = "audit";
  so.start.kind = CONDUIT_START_EARLIEST;
  CHECK_OK(conduit_topic_subscribe(t, &so, &sub, &err_));
  for (i = 0; i < 3; ++i) {
    conduit_message m;
    memset(&m, 0, sizeof m);
    m.payload = text(i == 0 ? "r0" : i == 1 ? "r1" : "r2");
    CHECK_OK(conduit_topic_publish_nowait(t, &m, &seq, &err_));
  }
  CHECK_OK(conduit_topic_await_durable(t, seq, 5000000000LL, &err_));
  {
    conduit_topic_stats st;
    CHECK(conduit_topic_stats_get(t, &st) == CONDUIT_OK && st.durable >= 3);
  }
  CHECK_OK(conduit_subscriber_poll(sub, recs, 2, 1000000000, &pr, &err_));
  CHECK(pr.count == 2);
  CHECK_OK(conduit_subscriber_commit(sub, &err_));
  CHECK_ERR(conduit_subscriber_commit_at(sub, 7, &err_), CONDUIT_INVALID_ARGUMENT, "7");
  CHECK_OK(conduit_subscriber_commit_at(sub, 1, &err_));

  /* The log read as another process would read it. */
  CHECK_ERR(conduit_log_reader_open(dir, "nope", NULL, &lr, &err_), CONDUIT_NOT_FOUND, "nope");
  conduit_log_reader_options_init(&lo);
  lo.start.kind = CONDUIT_START_SEQUENCE;
  lo.start.sequence = 1;
  lo.name = "tail";
  CHECK_OK(conduit_log_reader_open(dir, "ledger", &lo, &lr, &err_));
  CHECK(conduit_log_reader_position(lr) == 1);
  CHECK_OK(conduit_log_reader_poll(lr, recs, 4, 1000000000, &pr, &err_));
  CHECK(pr.count == 2 && recs[0].sequence == 1 && equals(recs[1].message.payload, "r2"));
  CHECK(conduit_log_reader_position(lr) == 3 && conduit_log_reader_lost(lr) == 0);
  CHECK(conduit_log_reader_writer_restarts(lr) == 0 && !conduit_log_reader_writer_closed(lr));
  CHECK_OK(conduit_log_reader_commit(lr, &err_));
  CHECK_OK(conduit_log_reader_poll(lr, recs, 4, 0, &pr, &err_));
  CHECK(pr.count == 0);

  conduit_subscriber_free(sub);
  conduit_engine_free(e);
  CHECK(conduit_log_reader_writer_closed(lr));
  conduit_log_reader_free(lr);

  /* Reopened: the named subscriber resumes from its commit (sequence 1). */
  CHECK_OK(conduit_engine_open(&eo, &e, &err_));
  CHECK_OK(conduit_engine_topic(e, "ledger", &t, &err_));
  CHECK_OK(conduit_topic_subscribe(t, &so, &sub, &err_));
  CHECK(conduit_subscriber_position(sub) == 1);
  conduit_subscriber_free(sub);
  conduit_engine_free(e);
}

static void test_work_group(void) {
  conduit_engine* e = NULL;
  conduit_topic* t = NULL;
  conduit_topic* dlq = NULL;
  conduit_work_group* g = NULL;
  conduit_work_group_options go;
  conduit_consumer_options co;
  conduit_consumer* c = NULL;
  conduit_subscriber* dead = NULL;
  conduit_subscriber_options so;
  conduit_delivery d[4];
  conduit_delivery first;
  conduit_record recs[4];
  conduit_poll_result pr;
  conduit_work_group_stats gs;
  conduit_header h;
  int i, found;

  CHECK_OK(conduit_engine_open(NULL, &e, &err_));
  CHECK_OK(conduit_engine_create_topic(e, "jobs", NULL, &t, &err_));
  conduit_work_group_options_init(&go);
  CHECK(go.start.kind == CONDUIT_START_EARLIEST && go.max_in_flight == 65536);
  go.max_attempts = 2;
  go.backoff_base_ns = 0;
  CHECK_ERR(conduit_topic_work_group(t, "bad/name", &go, &g, &err_), CONDUIT_INVALID_ARGUMENT, "bad/name");
  CHECK_OK(conduit_topic_work_group(t, "workers", &go, &g, &err_));
  CHECK(strcmp(conduit_work_group_name(g), "workers") == 0);
  CHECK_OK(conduit_engine_topic(e, "jobs.dlq", &dlq, &err_));
  conduit_subscriber_options_init(&so);
  so.start.kind = CONDUIT_START_EARLIEST;
  CHECK_OK(conduit_topic_subscribe(dlq, &so, &dead, &err_));
  conduit_consumer_options_init(&co);
  co.name = "w1";
  CHECK_OK(conduit_work_group_consumer(g, &co, &c, &err_));

  CHECK_OK(conduit_topic_publish_bytes(t, "ok", 2, NULL, &err_));
  CHECK_OK(conduit_topic_publish_bytes(t, "flaky", 5, NULL, &err_));
  CHECK_OK(conduit_topic_publish_bytes(t, "poison", 6, NULL, &err_));

  CHECK_OK(conduit_consumer_poll(c, d, 4, 1000000000, &pr, &err_));
  CHECK(pr.count == 3 && d[0].attempt == 1 && d[0].record.sequence == 0);
  CHECK(equals(d[1].record.message.payload, "flaky") && equals(d[2].record.message.payload, "poison"));
  first = d[0];
  CHECK(conduit_consumer_ack(c, &d[0]) == CONDUIT_OK);
  CHECK(conduit_consumer_ack(c, &first) == CONDUIT_NOT_FOUND); /* answered already */
  CHECK(conduit_consumer_dead_letter(c, &d[2], "cannot parse") == CONDUIT_OK);
  CHECK(conduit_consumer_nack(c, &d[1], 0) == CONDUIT_OK);
  CHECK_OK(conduit_consumer_poll(c, d, 4, 1000000000, &pr, &err_));
  CHECK(pr.count == 1 && d[0].attempt == 2 && equals(d[0].record.message.payload, "flaky"));
  CHECK(conduit_consumer_fail(c, &d[0], "still failing") == CONDUIT_OK); /* the last attempt: dead-lettered */

  CHECK(conduit_work_group_stats_get(g, &gs) == CONDUIT_OK);
  CHECK(gs.dead_lettered == 2 && gs.ack_floor == 3 && gs.lag == 0 && gs.redelivered == 1 && gs.in_flight == 0);
  CHECK_OK(conduit_work_group_wait_drained(g, 1000000000, &err_));
  CHECK_ERR(conduit_work_group_commit(g, &err_), CONDUIT_UNSUPPORTED, "memory-only");

  CHECK_OK(conduit_subscriber_poll(dead, recs, 4, 1000000000, &pr, &err_));
  CHECK(pr.count == 2 && equals(recs[0].message.payload, "poison") && equals(recs[1].message.payload, "flaky"));
  found = 0;
  for (i = 0; i < (int)recs[0].message.header_count; ++i) {
    CHECK(conduit_record_header(&recs[0], (size_t)i, &h) == CONDUIT_OK);
    if (equals(h.name, "conduit.dlq.reason")) found += equals(h.value, "rejected");
    if (equals(h.name, "conduit.dlq.error")) found += equals(h.value, "cannot parse");
  }
  CHECK(found == 2);

  /* Handles that outlive the engine answer CONDUIT_CLOSED. */
  CHECK_OK(conduit_topic_publish_bytes(t, "late", 4, NULL, &err_));
  conduit_engine_free(e);
  CHECK_ERR(conduit_topic_publish_bytes(t, "x", 1, NULL, &err_), CONDUIT_CLOSED, "");
  CHECK(strcmp(conduit_topic_name(t), "jobs") == 0);
  CHECK_OK(conduit_consumer_poll(c, d, 4, 0, &pr, &err_));
  CHECK(pr.count == 0 && pr.closed);
  CHECK_OK(conduit_subscriber_poll(dead, recs, 4, 0, &pr, &err_));
  CHECK(pr.count == 0 && pr.closed);
  CHECK(conduit_work_group_stats_get(g, &gs) == CONDUIT_OK && gs.dead_lettered == 0);
  CHECK(conduit_consumer_ack(c, &first) == CONDUIT_NOT_FOUND);
  CHECK_ERR(conduit_topic_work_group(t, "workers", NULL, &g, &err_), CONDUIT_CLOSED, "");
  conduit_consumer_free(c);
  conduit_subscriber_free(dead);
}

int main(void) {
  char dir[] = "/tmp/conduit-c-api-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  test_status_and_names();
  test_memory_topic();
  test_shared_memory_topic();
  test_persisted(dir);
  test_work_group();
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (failures != 0) {
    fprintf(stderr, "c_api_test: %d checks failed\n", failures);
    return 1;
  }
  printf("c_api_test: all checks passed\n");
  return 0;
}
