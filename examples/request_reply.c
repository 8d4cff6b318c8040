/* Request-reply from C. The C API has no Requester (conduit/request_reply.h
 * is C++ only), so this does by hand what it does: each request carries a
 * correlation id and reply_to, the name of the topic its reply goes to; the
 * responder publishes the reply there with the same correlation id, and the
 * requester matches replies to requests by it. One thread plays both sides
 * here, in turn. */
#include <conduit/conduit_c.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int fail(conduit_status st, char* error) {
  fprintf(stderr, "%s\n", error ? error : conduit_status_message(st));
  conduit_error_free(error);
  return 1;
}

static conduit_bytes text(const char* s) {
  conduit_bytes b;
  b.data = s;
  b.len = strlen(s);
  return b;
}

/* The responder: answers each request waiting on `inbox` with its payload in
 * capitals, on the request's reply_to topic, with its correlation id. */
static conduit_status serve(conduit_engine* engine, conduit_subscriber* inbox, char** error) {
  conduit_record req[8];
  conduit_poll_result r;
  conduit_status st;
  size_t i, k;
  if ((st = conduit_subscriber_poll(inbox, req, 8, 0, &r, error)) != CONDUIT_OK) return st;
  for (i = 0; i < r.count; ++i) {
    char name[256], loud[256];
    const conduit_message* m = &req[i].message;
    conduit_topic* replies = NULL;
    conduit_message reply;
    if (m->reply_to.len >= sizeof name || m->payload.len >= sizeof loud) return CONDUIT_TOO_LARGE;
    memcpy(name, m->reply_to.data, m->reply_to.len);
    name[m->reply_to.len] = '\0';
    for (k = 0; k < m->payload.len; ++k) loud[k] = (char)toupper((unsigned char)m->payload.data[k]);
    if ((st = conduit_engine_topic(engine, name, &replies, error)) != CONDUIT_OK) return st;
    memset(&reply, 0, sizeof reply);
    reply.payload.data = loud;
    reply.payload.len = m->payload.len;
    reply.correlation_id = m->correlation_id;
    if ((st = conduit_topic_publish(replies, &reply, NULL, error)) != CONDUIT_OK) return st;
  }
  return CONDUIT_OK;
}

int main(void) {
  const char* words[3] = {"hello", "request", "reply"};
  const char* expected[3] = {"HELLO", "REQUEST", "REPLY"};
  conduit_engine* engine = NULL;
  conduit_topic *requests = NULL, *replies = NULL;
  conduit_subscriber *inbox = NULL, *answers = NULL;
  conduit_record rec;
  conduit_poll_result r;
  char* error = NULL;
  conduit_status st;
  int i, answered = 0;

  if ((st = conduit_engine_open(NULL, &engine, &error)) != CONDUIT_OK) return fail(st, error);
  if ((st = conduit_engine_create_topic(engine, "shout", NULL, &requests, &error)) != CONDUIT_OK ||
      (st = conduit_engine_create_topic(engine, "shout.replies", NULL, &replies, &error)) != CONDUIT_OK ||
      (st = conduit_topic_subscribe(requests, NULL, &inbox, &error)) != CONDUIT_OK ||
      (st = conduit_topic_subscribe(replies, NULL, &answers, &error)) != CONDUIT_OK)
    return fail(st, error);

  for (i = 0; i < 3; ++i) {
    char id[16];
    conduit_message m;
    snprintf(id, sizeof id, "req-%d", i);
    memset(&m, 0, sizeof m);
    m.payload = text(words[i]);
    m.correlation_id = text(id);
    m.reply_to = text("shout.replies");
    if ((st = conduit_topic_publish(requests, &m, NULL, &error)) != CONDUIT_OK) return fail(st, error);
    if ((st = serve(engine, inbox, &error)) != CONDUIT_OK) return fail(st, error);

    /* The reply that carries this request's correlation id. */
    if ((st = conduit_subscriber_poll(answers, &rec, 1, 1000000000, &r, &error)) != CONDUIT_OK) return fail(st, error);
    if (r.count == 1 && rec.message.correlation_id.len == strlen(id) &&
        memcmp(rec.message.correlation_id.data, id, strlen(id)) == 0) {
      printf("%-7s -> %.*s\n", words[i], (int)rec.message.payload.len, rec.message.payload.data);
      answered += rec.message.payload.len == strlen(expected[i]) &&
                  memcmp(rec.message.payload.data, expected[i], rec.message.payload.len) == 0;
    }
  }

  conduit_subscriber_free(inbox);
  conduit_subscriber_free(answers);
  conduit_engine_free(engine);
  return answered == 3 ? 0 : 1;
}
