/* conduit — the C API (C99; no C++ in this header).
 *
 * The C++ API (conduit/engine.h, conduit/reader.h) seen from C: opaque
 * handles, plain structs for options and envelopes, numeric status codes.
 *
 * Errors
 *   Every function that can fail returns a conduit_status: CONDUIT_OK, or
 *   the code the C++ call failed with (the values are conduit::Code's).
 *   Those taking `char** error` store there, when it is not NULL, the
 *   error's text ("NotFound: topic 'x' does not exist"), allocated with
 *   malloc: free it with conduit_error_free(). On success *error is set to
 *   NULL. No C++ exception ever leaves a function of this API: one that
 *   could (an allocation failing) becomes CONDUIT_OUT_OF_MEMORY or
 *   CONDUIT_INTERNAL. A NULL handle or out-pointer is CONDUIT_INVALID_ARGUMENT.
 *
 * Handles and who frees them
 *   conduit_engine       conduit_engine_open      -> conduit_engine_free
 *   conduit_topic        owned by the engine; never freed (see below)
 *   conduit_work_group   owned by the engine; never freed (see below)
 *   conduit_subscriber   conduit_topic_subscribe  -> conduit_subscriber_free
 *   conduit_consumer     conduit_work_group_consumer -> conduit_consumer_free
 *   conduit_log_reader   conduit_log_reader_open  -> conduit_log_reader_free
 *   Strings and lists the API allocates say their free function where they
 *   are returned. Every handle may outlive its engine, as in C++: topic and
 *   work-group handles stay valid pointers for the rest of the process, and
 *   every call through any handle then fails with CONDUIT_CLOSED (a poll
 *   says closed). Free subscribers and consumers before or after the engine.
 *
 * Views
 *   conduit_bytes are pointer + length views, never NUL-terminated. A
 *   record's views point into the topic's log (zero copy): for a subscriber
 *   or a log reader they stay valid until its next poll or its free; for a
 *   consumer, until the delivery is acked, nacked, failed or dead-lettered,
 *   or the consumer is freed. The `headers` array of a polled record (not
 *   the bytes it points to) is valid until the next poll of the same handle.
 *
 * Threads: as in C++ (conduit/engine.h): engines and topics from any thread;
 * one thread at a time per subscriber, consumer and log reader.
 */
#ifndef CONDUIT_CONDUIT_C_H
#define CONDUIT_CONDUIT_C_H

#include <stddef.h>
#include <stdint.h>

#include "conduit/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- status --- */

/* The values of conduit::Code, then two of the C API's own. */
typedef enum conduit_status {
  CONDUIT_OK = 0,
  CONDUIT_INVALID_ARGUMENT = 1, /* bad name, bad option, malformed message, NULL */
  CONDUIT_TOO_LARGE = 2,        /* payload or envelope field over its limit */
  CONDUIT_CLOSED = 3,           /* the engine was closed (or freed) */
  CONDUIT_NOT_FOUND = 4,        /* also: an ack of a delivery no longer this consumer's */
  CONDUIT_ALREADY_EXISTS = 5,
  CONDUIT_CORRUPTION = 6, /* a record failed its checks; the text names file and offset */
  CONDUIT_IO_ERROR = 7,
  CONDUIT_BUSY = 8,
  CONDUIT_TIMED_OUT = 9,
  CONDUIT_UNSUPPORTED = 10,
  CONDUIT_READ_ONLY = 11,
  CONDUIT_OUT_OF_MEMORY = 100, /* an allocation failed */
  CONDUIT_INTERNAL = 101       /* an unexpected C++ exception (a bug): its text is in *error */
} conduit_status;

/* A static string naming the code ("NotFound"); never freed. */
CONDUIT_EXPORT const char* conduit_status_message(conduit_status status);
/* Frees an error string (any `char** error` out-parameter). NULL is fine. */
CONDUIT_EXPORT void conduit_error_free(char* error);

/* -------------------------------------------------------------- types --- */

/* The opaque handles; who frees each is listed at the top. */
/* @{ */
typedef struct conduit_engine conduit_engine;
typedef struct conduit_topic conduit_topic;
typedef struct conduit_subscriber conduit_subscriber;
typedef struct conduit_work_group conduit_work_group;
typedef struct conduit_consumer conduit_consumer;
typedef struct conduit_log_reader conduit_log_reader;
/* @} */

/* A view of bytes: `len` bytes at `data` (data may be NULL when len is 0). */
typedef struct conduit_bytes {
  const char* data; /* the first byte */
  size_t len;       /* how many */
} conduit_bytes;

/* One application header of a message (conduit::Header). */
typedef struct conduit_header {
  conduit_bytes name;  /* at most 65535 bytes */
  conduit_bytes value; /* at most 65535 bytes */
} conduit_header;

/* The envelope. Publishing: every field but the payload is optional (empty
 * means absent), timestamp_ns 0 lets the engine stamp it; the limits are
 * conduit::Message's (conduit/message.h). Reading: the record's fields. */
typedef struct conduit_message {
  conduit_bytes payload;         /* the body */
  conduit_bytes id;              /* the dedup key */
  conduit_bytes key;             /* partitioning / ordering key */
  conduit_bytes correlation_id;  /* ties a reply to its request */
  conduit_bytes reply_to;        /* topic the reply should go to */
  conduit_bytes trace_id;        /* carried to readers */
  conduit_bytes content_type;    /* opaque to conduit */
  uint32_t schema_version;       /* the application's; opaque to conduit */
  const conduit_header* headers; /* header_count headers, in order */
  size_t header_count;           /* how many headers */
  int64_t timestamp_ns;          /* ns since the Unix epoch */
} conduit_message;

/* One record read from a topic. `reserved` is the library's (do not touch). */
typedef struct conduit_record {
  uint64_t sequence;       /* its place in the topic */
  conduit_message message; /* its envelope, views into the log */
  uint32_t size_bytes;     /* bytes the record takes in the log */
  const void* reserved;    /* the library's */
} conduit_record;

/* What a poll returned: records out[0, count). */
typedef struct conduit_poll_result {
  size_t count;     /* records (or deliveries) written to out */
  uint64_t lost;    /* records lost just before out[0] (lose-oldest, retention) */
  uint64_t rewound; /* a committed position past the recovered log was set back this far */
  int closed;       /* the engine is closed and everything before was read */
} conduit_poll_result;

/* The values of conduit::WaitStrategy, Durability, SlowPolicy, StartAt::Kind.
 * Each *_MAX_ENUM only makes the type int-sized, so that any int passed in
 * is a value of it (and refused with CONDUIT_INVALID_ARGUMENT); never pass it. */
typedef enum conduit_wait_strategy {
  CONDUIT_WAIT_BUSY_SPIN = 0,
  CONDUIT_WAIT_YIELD = 1,
  CONDUIT_WAIT_PARK = 2,
  CONDUIT_WAIT_ADAPTIVE = 3,
  CONDUIT_WAIT_MAX_ENUM = 0x7fffffff
} conduit_wait_strategy;
/* Memory-only, or persisted and synced in the background or on each publish. */
typedef enum conduit_durability {
  CONDUIT_DURABILITY_MEMORY = 0,
  CONDUIT_DURABILITY_ASYNC = 1,
  CONDUIT_DURABILITY_SYNC = 2,
  CONDUIT_DURABILITY_MAX_ENUM = 0x7fffffff
} conduit_durability;
/* What a memory-only topic does with a subscriber a whole ring behind. */
typedef enum conduit_slow_policy {
  CONDUIT_SLOW_BLOCK = 0,
  CONDUIT_SLOW_LOSE_OLDEST = 1,
  CONDUIT_SLOW_MAX_ENUM = 0x7fffffff
} conduit_slow_policy;
/* Where a reader starts: the oldest record held, the next one published, a
 * sequence, a time. */
typedef enum conduit_start_kind {
  CONDUIT_START_EARLIEST = 0,
  CONDUIT_START_LATEST = 1,
  CONDUIT_START_SEQUENCE = 2,
  CONDUIT_START_TIME = 3,
  CONDUIT_START_MAX_ENUM = 0x7fffffff
} conduit_start_kind;

/* Where a reader starts (conduit::StartAt). */
typedef struct conduit_start {
  conduit_start_kind kind; /* which of them */
  uint64_t sequence;       /* CONDUIT_START_SEQUENCE */
  int64_t time_ns;         /* CONDUIT_START_TIME: ns since the Unix epoch */
} conduit_start;

/* ------------------------------------------------------------ options --- */
/* Each *_init fills the C++ defaults; a NULL options pointer means them too.
 * The fields are those of conduit/options.h, times in ns unless named. */

/* An engine's options (conduit::EngineOptions). */
typedef struct conduit_engine_options {
  const char* data_dir; /* NULL or "": memory-only engine */
  /* As the EngineOptions fields of the same names; ints are flags (0 or 1). */
  /* @{ */
  int64_t flush_interval_ms;
  size_t flush_bytes;
  int force_syscall_io;
  int64_t park_timeout_us;
  int verify_on_open;
  int read_only_on_corruption;
  /* @} */
  /* The engine's clock (ns since the epoch), called from any thread; NULL:
   * the wall clock. clock_context is passed back to it. */
  int64_t (*clock)(void* clock_context);
  void* clock_context; /* passed to clock */
} conduit_engine_options;

/* A topic's options (conduit::TopicOptions). */
typedef struct conduit_topic_options {
  /* As the TopicOptions fields of the same names; ints are flags (0 or 1). */
  /* @{ */
  conduit_durability durability;
  size_t segment_bytes;
  size_t ring_bytes;
  size_t max_payload_bytes;
  size_t retain_bytes;
  int64_t retain_age_s;
  int retain_until_consumed;
  size_t hard_cap_bytes;
  size_t dedup_max_ids;
  int64_t dedup_max_age_ns;
  int single_producer;
  int shared; /* memory-only: attached processes may publish and subscribe */
  int huge_pages; /* memory-only: segments on transparent huge pages; appended after shared */
  /* @} */
} conduit_topic_options;

/* A subscriber's options (conduit::SubscriberOptions). */
typedef struct conduit_subscriber_options {
  const char* name; /* NULL or "": unnamed */
  /* As the SubscriberOptions fields of the same names; ints are flags. */
  /* @{ */
  conduit_start start;
  conduit_slow_policy slow;
  conduit_wait_strategy wait;
  int durable_only;
  size_t min_batch;
  int64_t linger_ns;
  int64_t stream_gap_ns; /* appended after linger_ns: callers built before it rebuild */
  /* @} */
} conduit_subscriber_options;

/* What conduit_consumer_fail does: a nack (redelivered until max_attempts),
 * or a dead letter at once. */
typedef enum conduit_on_failure {
  CONDUIT_ON_FAILURE_REDELIVER = 0,
  CONDUIT_ON_FAILURE_DEAD_LETTER = 1,
  CONDUIT_ON_FAILURE_MAX_ENUM = 0x7fffffff
} conduit_on_failure;

/* A work group's options (conduit::WorkGroupOptions). */
typedef struct conduit_work_group_options {
  /* As the WorkGroupOptions fields of the same names. */
  /* @{ */
  conduit_start start;
  uint32_t max_in_flight;
  int64_t ack_timeout_ns;
  uint32_t max_attempts;
  int64_t backoff_base_ns;
  int64_t backoff_max_ns;
  double backoff_jitter;
  /* @} */
  const char* dead_letter_topic; /* NULL or "": "<topic>.dlq" */
  conduit_on_failure on_failure; /* what conduit_consumer_fail does */
} conduit_work_group_options;

/* A work-group consumer's options (conduit::ConsumerOptions). */
typedef struct conduit_consumer_options {
  const char* name;           /* optional label; the engine does not read it */
  conduit_wait_strategy wait; /* how a poll waits */
} conduit_consumer_options;

/* A log reader's options (conduit::LogReaderOptions). */
typedef struct conduit_log_reader_options {
  conduit_start start;        /* used unless a named reader has a committed position */
  conduit_wait_strategy wait; /* how a poll waits */
  int64_t park_timeout_ns;    /* longest single park */
  const char* name;           /* named readers can commit their position */
} conduit_log_reader_options;

/* Each fills *options with the C++ defaults. */
/* @{ */
CONDUIT_EXPORT void conduit_engine_options_init(conduit_engine_options* options);
CONDUIT_EXPORT void conduit_topic_options_init(conduit_topic_options* options);
CONDUIT_EXPORT void conduit_subscriber_options_init(conduit_subscriber_options* options);
CONDUIT_EXPORT void conduit_work_group_options_init(conduit_work_group_options* options);
CONDUIT_EXPORT void conduit_consumer_options_init(conduit_consumer_options* options);
CONDUIT_EXPORT void conduit_log_reader_options_init(conduit_log_reader_options* options);
/* @} */

/* ------------------------------------------------------------- engine --- */

/* Opens an engine (conduit::Engine::open); free it with conduit_engine_free. */
CONDUIT_EXPORT conduit_status conduit_engine_open(const conduit_engine_options* options, conduit_engine** engine,
                                                  char** error);
/* Wakes every waiter and refuses new publishes (Engine::close). Idempotent. */
CONDUIT_EXPORT void conduit_engine_close(conduit_engine* engine);
/* Closes, waits for calls in progress on its subscribers and consumers, and
 * frees the engine. NULL is fine. */
CONDUIT_EXPORT void conduit_engine_free(conduit_engine* engine);
/* 1 once the engine is closed, else 0. */
CONDUIT_EXPORT int conduit_engine_closed(const conduit_engine* engine);
/* The engine's clock: ns since the Unix epoch. */
CONDUIT_EXPORT int64_t conduit_engine_now_ns(const conduit_engine* engine);

/* ------------------------------------------------------------- topics --- */

/* Creates the topic, or returns the existing one when its options match. */
CONDUIT_EXPORT conduit_status conduit_engine_create_topic(conduit_engine* engine, const char* name,
                                                          const conduit_topic_options* options, conduit_topic** topic,
                                                          char** error);
/* An open topic, or a persisted one with its stored options. */
CONDUIT_EXPORT conduit_status conduit_engine_topic(conduit_engine* engine, const char* name, conduit_topic** topic,
                                                   char** error);
/* Deletes the topic, its log and its readers' positions (Engine::delete_topic). */
CONDUIT_EXPORT conduit_status conduit_engine_delete_topic(conduit_engine* engine, const char* name, char** error);
/* Every topic's name, sorted: *names is an array of *count NUL-terminated
 * strings; free it (strings and array) with conduit_names_free. */
CONDUIT_EXPORT conduit_status conduit_engine_topics(conduit_engine* engine, char*** names, size_t* count, char** error);
CONDUIT_EXPORT void conduit_names_free(char** names, size_t count); /* NULL is fine */

/* The topic's name, valid as long as the handle (for the process). */
CONDUIT_EXPORT const char* conduit_topic_name(const conduit_topic* topic);

/* A topic's counters (conduit::TopicStats). */
typedef struct conduit_topic_stats {
  uint64_t earliest;         /* oldest sequence still held */
  uint64_t published;        /* every record below it is complete */
  uint64_t claimed;          /* next sequence a producer claims */
  uint64_t durable;          /* every record below it is durable (persisted topics) */
  uint64_t segments;         /* segments held */
  uint64_t cap_deletions;    /* hard-cap deletions of unconsumed records */
  uint64_t cap_lost_records; /* records those took */
} conduit_topic_stats;
/* Fills *stats. */
CONDUIT_EXPORT conduit_status conduit_topic_stats_get(const conduit_topic* topic, conduit_topic_stats* stats);

/* ------------------------------------------------------------ publish --- */

/* Appends the message; *sequence (may be NULL) gets its sequence. On a
 * CONDUIT_DURABILITY_SYNC topic returns once it is durable. */
CONDUIT_EXPORT conduit_status conduit_topic_publish(conduit_topic* topic, const conduit_message* message,
                                                    uint64_t* sequence, char** error);
/* Publishes `len` bytes as a payload with no other field. */
CONDUIT_EXPORT conduit_status conduit_topic_publish_bytes(conduit_topic* topic, const void* data, size_t len,
                                                          uint64_t* sequence, char** error);
/* Appends messages[0, count) in order; *published (may be NULL) gets how
 * many were; sequences (NULL, or count long) gets each one's sequence. */
CONDUIT_EXPORT conduit_status conduit_topic_publish_batch(conduit_topic* topic, const conduit_message* messages,
                                                          size_t count, uint64_t* sequences, size_t* published,
                                                          char** error);
/* publish without waiting for the disk; the completion is await_durable. */
CONDUIT_EXPORT conduit_status conduit_topic_publish_nowait(conduit_topic* topic, const conduit_message* message,
                                                           uint64_t* sequence, char** error);
/* Waits up to timeout_ns until `sequence` is durable. */
CONDUIT_EXPORT conduit_status conduit_topic_await_durable(conduit_topic* topic, uint64_t sequence, int64_t timeout_ns,
                                                          char** error);

/* -------------------------------------------------------- subscribers --- */

/* A new subscriber (conduit::Topic::subscribe); free it with
 * conduit_subscriber_free. */
CONDUIT_EXPORT conduit_status conduit_topic_subscribe(conduit_topic* topic, const conduit_subscriber_options* options,
                                                      conduit_subscriber** subscriber, char** error);
CONDUIT_EXPORT void conduit_subscriber_free(conduit_subscriber* subscriber); /* NULL is fine */
/* Up to `max` records into out; waits up to timeout_ns (0: not at all) for
 * one. The views stay valid until the next poll or the free. A record that
 * failed its check is CONDUIT_CORRUPTION, with count 0. */
CONDUIT_EXPORT conduit_status conduit_subscriber_poll(conduit_subscriber* subscriber, conduit_record* out, size_t max,
                                                      int64_t timeout_ns, conduit_poll_result* result, char** error);
/* Stores the position (named subscribers of persisted topics). */
CONDUIT_EXPORT conduit_status conduit_subscriber_commit(conduit_subscriber* subscriber, char** error);
/* Stores `sequence` instead of the position (<= it), for records finished
 * out of order (Subscriber::commit(seq)). */
CONDUIT_EXPORT conduit_status conduit_subscriber_commit_at(conduit_subscriber* subscriber, uint64_t sequence,
                                                           char** error);
/* The next sequence it reads. */
CONDUIT_EXPORT uint64_t conduit_subscriber_position(const conduit_subscriber* subscriber);
/* Records published and not yet read. */
CONDUIT_EXPORT uint64_t conduit_subscriber_lag(const conduit_subscriber* subscriber);
/* Records lost in total (lose-oldest or retention). */
CONDUIT_EXPORT uint64_t conduit_subscriber_lost(const conduit_subscriber* subscriber);

/* -------------------------------------------------------- work groups --- */

/* The work group of that name, created on first use. */
CONDUIT_EXPORT conduit_status conduit_topic_work_group(conduit_topic* topic, const char* name,
                                                       const conduit_work_group_options* options,
                                                       conduit_work_group** group, char** error);
/* The group's name, valid as long as the handle. */
CONDUIT_EXPORT const char* conduit_work_group_name(const conduit_work_group* group);

/* A work group's counters (conduit::WorkGroupStats). */
typedef struct conduit_work_group_stats {
  uint64_t next;               /* next sequence to hand out */
  uint64_t ack_floor;          /* every sequence below it is acked or dead-lettered */
  uint64_t redelivered;        /* deliveries that were redeliveries */
  uint64_t pending_redelivery; /* nacked or timed out, waiting to go out again */
  uint64_t depth;              /* published, not yet handed out, and pending_redelivery */
  uint64_t in_flight;          /* handed out, neither acked nor nacked yet */
  uint64_t dead_lettered;      /* records sent to the dead-letter topic */
  uint64_t timed_out;          /* deliveries whose ack timeout passed */
  uint64_t stale;              /* answers refused: the delivery had timed out or was done */
  uint64_t lost;               /* records lost before they were acked */
  uint64_t lag;                /* published - ack floor */
} conduit_work_group_stats;
/* Fills *stats. */
CONDUIT_EXPORT conduit_status conduit_work_group_stats_get(const conduit_work_group* group,
                                                           conduit_work_group_stats* stats);
/* Stores the group's state durably (persisted topics; WorkGroup::commit). */
CONDUIT_EXPORT conduit_status conduit_work_group_commit(conduit_work_group* group, char** error);
/* Waits up to timeout_ns until every record published before the call is
 * acked or dead-lettered (WorkGroup::wait_drained). */
CONDUIT_EXPORT conduit_status conduit_work_group_wait_drained(conduit_work_group* group, int64_t timeout_ns,
                                                              char** error);

/* A new competing consumer; free it with conduit_consumer_free. */
CONDUIT_EXPORT conduit_status conduit_work_group_consumer(conduit_work_group* group,
                                                          const conduit_consumer_options* options,
                                                          conduit_consumer** consumer, char** error);
/* Hands the deliveries it holds back to the group (as ~Consumer), then
 * frees it; NULL is fine. */
CONDUIT_EXPORT void conduit_consumer_free(conduit_consumer* consumer);

/* One record handed to one consumer. */
typedef struct conduit_delivery {
  conduit_record record; /* valid until the delivery is answered */
  uint32_t attempt;      /* 1 on first delivery, +1 per redelivery */
  uint64_t lease;        /* names this hand-out */
} conduit_delivery;

/* Up to `max` deliveries (redeliveries first); waits up to timeout_ns (0:
 * not at all). Each record stays valid until answered (see the top). */
CONDUIT_EXPORT conduit_status conduit_consumer_poll(conduit_consumer* consumer, conduit_delivery* out, size_t max,
                                                    int64_t timeout_ns, conduit_poll_result* result, char** error);
/* The answers. CONDUIT_NOT_FOUND: the delivery was no longer this
 * consumer's (its ack timeout passed, it was answered already, the hard cap
 * took it, or the engine is gone); nothing changed. */
CONDUIT_EXPORT conduit_status conduit_consumer_ack(conduit_consumer* consumer, const conduit_delivery* delivery);
/* Back to the group: delivered again after the backoff, or after delay_ns
 * when it is > 0; dead-lettered once max_attempts deliveries failed. */
CONDUIT_EXPORT conduit_status conduit_consumer_nack(conduit_consumer* consumer, const conduit_delivery* delivery,
                                                    int64_t delay_ns);
/* A failure with a reason, handled by on_failure; `error_text` (may be
 * NULL) goes into the dead-letter headers. */
CONDUIT_EXPORT conduit_status conduit_consumer_fail(conduit_consumer* consumer, const conduit_delivery* delivery,
                                                    const char* error_text);
/* To the dead-letter topic at once (reason "rejected"). */
CONDUIT_EXPORT conduit_status conduit_consumer_dead_letter(conduit_consumer* consumer, const conduit_delivery* delivery,
                                                           const char* error_text);

/* --------------------------------------------------------- log reader --- */

/* Reads TOPIC of the engine data directory `data_dir`, read-only, from any
 * process (conduit/reader.h). */
CONDUIT_EXPORT conduit_status conduit_log_reader_open(const char* data_dir, const char* topic,
                                                      const conduit_log_reader_options* options,
                                                      conduit_log_reader** reader, char** error);
CONDUIT_EXPORT void conduit_log_reader_free(conduit_log_reader* reader); /* NULL is fine */
/* As conduit_subscriber_poll. */
CONDUIT_EXPORT conduit_status conduit_log_reader_poll(conduit_log_reader* reader, conduit_record* out, size_t max,
                                                      int64_t timeout_ns, conduit_poll_result* result, char** error);
/* Stores the position (named readers), beside the log. */
CONDUIT_EXPORT conduit_status conduit_log_reader_commit(conduit_log_reader* reader, char** error);
/* The next sequence it reads. */
CONDUIT_EXPORT uint64_t conduit_log_reader_position(const conduit_log_reader* reader);
/* Records lost to retention so far. */
CONDUIT_EXPORT uint64_t conduit_log_reader_lost(const conduit_log_reader* reader);
/* Times an engine opened the log since this reader opened it. */
CONDUIT_EXPORT uint64_t conduit_log_reader_writer_restarts(const conduit_log_reader* reader);
/* 1 when the engine that writes the log closed it cleanly (no writer now),
 * else 0. */
CONDUIT_EXPORT int conduit_log_reader_writer_closed(const conduit_log_reader* reader);

/* ------------------------------------------------------------ records --- */

/* Header i (< record->message.header_count) read from the log itself: valid
 * as long as the record's views, beyond the next poll's headers array. */
CONDUIT_EXPORT conduit_status conduit_record_header(const conduit_record* record, size_t i, conduit_header* header);

#ifdef __cplusplus
}
#endif

#endif /* CONDUIT_CONDUIT_C_H */
