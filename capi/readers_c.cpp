// The C API (include/conduit/conduit_c.h): subscribers, work groups and
// their consumers, LogReader, and the records they hand out.
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "capi/capi_internal.h"

using namespace conduit;

namespace conduit::capi {

void fill_record(const RecordView& v, conduit_record& out, const conduit_header* headers) {
  out = {};
  out.sequence = v.sequence();
  out.size_bytes = v.size_bytes();
  out.reserved = v.data();
  conduit_message& m = out.message;
  m.payload = bytes(v.payload());
  m.id = bytes(v.id());
  m.key = bytes(v.key());
  m.correlation_id = bytes(v.correlation_id());
  m.reply_to = bytes(v.reply_to());
  m.trace_id = bytes(v.trace_id());
  m.content_type = bytes(v.content_type());
  m.schema_version = v.schema_version();
  m.timestamp_ns = v.timestamp_ns();
  m.header_count = v.header_count();
  m.headers = m.header_count == 0 ? nullptr : headers;
}

conduit_poll_result poll_result(const PollResult& r) noexcept { return {r.count, r.lost, r.rewound, r.closed ? 1 : 0}; }

}  // namespace conduit::capi

using namespace conduit::capi;

namespace {

Status poll_args(const void* handle, const void* out, std::size_t max, const conduit_poll_result* result) {
  if (handle == nullptr) return null_argument("handle");
  if (result == nullptr) return null_argument("result");
  if (out == nullptr && max != 0) return null_argument("out");
  return Status::OK();
}

// The views of a record handed out as a C record (its `reserved` field).
RecordView view_of(const conduit_record& r) { return RecordView(static_cast<const std::byte*>(r.reserved)); }

// The C++ delivery a C one stands for: its record, sequence, attempt and lease.
Delivery delivery_of(const conduit_delivery& d) {
  Delivery out;
  out.record = view_of(d.record);
  out.sequence = d.record.sequence;
  out.attempt = d.attempt;
  out.lease = d.lease;
  return out;
}

template <class Answer>
conduit_status answer(conduit_consumer* c, const conduit_delivery* d, Answer&& a) {
  return guard(nullptr, [&]() -> Status {
    if (c == nullptr || d == nullptr) return null_argument("consumer or delivery");
    if (d->record.reserved == nullptr) return Status::InvalidArgument("the delivery was not handed out by a poll");
    if (a(*c->impl, delivery_of(*d))) return Status::OK();
    return Status::NotFound("delivery of sequence " + std::to_string(d->record.sequence) +
                            " is no longer this consumer's");
  });
}

}  // namespace

extern "C" {

// ---------------------------------------------------------- subscribers ---

conduit_status conduit_topic_subscribe(conduit_topic* topic, const conduit_subscriber_options* options,
                                       conduit_subscriber** subscriber, char** error) {
  return guard(error, [&]() -> Status {
    if (topic == nullptr) return null_argument("topic");
    if (subscriber == nullptr) return null_argument("subscriber");
    *subscriber = nullptr;
    conduit_subscriber_options o;
    conduit_subscriber_options_init(&o);
    if (options != nullptr) o = *options;
    SubscriberOptions so;
    so.name = str(o.name);
    so.start = start_of(o.start);
    so.slow = enum_of<SlowPolicy>(o.slow, CONDUIT_SLOW_LOSE_OLDEST, "slow policy");
    so.wait = enum_of<WaitStrategy>(o.wait, CONDUIT_WAIT_ADAPTIVE, "wait strategy");
    so.durable_only = o.durable_only != 0;
    so.min_batch = o.min_batch;
    so.linger = std::chrono::nanoseconds(o.linger_ns);
    so.stream_gap = std::chrono::nanoseconds(o.stream_gap_ns);
    return adopt(cxx(topic)->subscribe(std::move(so)), subscriber);
  });
}

void conduit_subscriber_free(conduit_subscriber* subscriber) { delete subscriber; }

conduit_status conduit_subscriber_poll(conduit_subscriber* s, conduit_record* out, size_t max, int64_t timeout_ns,
                                       conduit_poll_result* result, char** error) {
  return guard(error, [&]() -> Status {
    if (Status a = poll_args(s, out, max, result); !a.ok()) return a;
    *result = {};
    s->views.resize(max);
    std::span<RecordView> views(s->views.data(), max);
    PollResult r =
        timeout_ns > 0 ? s->impl->poll(views, std::chrono::nanoseconds(timeout_ns)) : s->impl->try_poll(views);
    fill_records(
        r.count, [&](std::size_t i) -> const RecordView& { return s->views[i]; },
        [&](std::size_t i) -> conduit_record& { return out[i]; }, s->headers);
    *result = poll_result(r);
    return r.status;
  });
}

conduit_status conduit_subscriber_commit(conduit_subscriber* s, char** error) {
  return guard(error, [&]() -> Status { return s == nullptr ? null_argument("subscriber") : s->impl->commit(); });
}

conduit_status conduit_subscriber_commit_at(conduit_subscriber* s, uint64_t sequence, char** error) {
  return guard(error,
               [&]() -> Status { return s == nullptr ? null_argument("subscriber") : s->impl->commit(sequence); });
}

uint64_t conduit_subscriber_position(const conduit_subscriber* s) { return s == nullptr ? 0 : s->impl->position(); }
uint64_t conduit_subscriber_lag(const conduit_subscriber* s) { return s == nullptr ? 0 : s->impl->lag(); }
uint64_t conduit_subscriber_lost(const conduit_subscriber* s) { return s == nullptr ? 0 : s->impl->lost(); }

// ---------------------------------------------------------- work groups ---

conduit_status conduit_topic_work_group(conduit_topic* topic, const char* name,
                                        const conduit_work_group_options* options, conduit_work_group** group,
                                        char** error) {
  return guard(error, [&]() -> Status {
    if (topic == nullptr) return null_argument("topic");
    if (name == nullptr) return null_argument("work group name");
    if (group == nullptr) return null_argument("group");
    *group = nullptr;
    conduit_work_group_options o;
    conduit_work_group_options_init(&o);
    if (options != nullptr) o = *options;
    WorkGroupOptions wo;
    wo.start = start_of(o.start);
    wo.max_in_flight = o.max_in_flight;
    wo.ack_timeout = std::chrono::nanoseconds(o.ack_timeout_ns);
    wo.max_attempts = o.max_attempts;
    wo.backoff_base = std::chrono::nanoseconds(o.backoff_base_ns);
    wo.backoff_max = std::chrono::nanoseconds(o.backoff_max_ns);
    wo.backoff_jitter = o.backoff_jitter;
    wo.dead_letter_topic = str(o.dead_letter_topic);
    wo.on_failure = enum_of<WorkGroupOptions::OnFailure>(o.on_failure, CONDUIT_ON_FAILURE_DEAD_LETTER, "on_failure");
    auto g = cxx(topic)->work_group(name, std::move(wo));
    if (!g.ok()) return g.status();
    *group = reinterpret_cast<conduit_work_group*>(g.value());
    return Status::OK();
  });
}

const char* conduit_work_group_name(const conduit_work_group* group) {
  return group == nullptr ? "" : cxx(group)->name().c_str();
}

conduit_status conduit_work_group_stats_get(const conduit_work_group* group, conduit_work_group_stats* stats) {
  return guard(nullptr, [&]() -> Status {
    if (group == nullptr || stats == nullptr) return null_argument("group or stats");
    WorkGroupStats s = cxx(group)->stats();
    *stats = {s.next,      s.ack_floor, s.redelivered, s.pending_redelivery, s.depth, s.in_flight, s.dead_lettered,
              s.timed_out, s.stale,     s.lost,        cxx(group)->lag()};
    return Status::OK();
  });
}

conduit_status conduit_work_group_commit(conduit_work_group* group, char** error) {
  return guard(error, [&]() -> Status { return group == nullptr ? null_argument("group") : cxx(group)->commit(); });
}

conduit_status conduit_work_group_wait_drained(conduit_work_group* group, int64_t timeout_ns, char** error) {
  return guard(error, [&]() -> Status {
    return group == nullptr ? null_argument("group") : cxx(group)->wait_drained(std::chrono::nanoseconds(timeout_ns));
  });
}

conduit_status conduit_work_group_consumer(conduit_work_group* group, const conduit_consumer_options* options,
                                           conduit_consumer** consumer, char** error) {
  return guard(error, [&]() -> Status {
    if (group == nullptr) return null_argument("group");
    if (consumer == nullptr) return null_argument("consumer");
    *consumer = nullptr;
    conduit_consumer_options o;
    conduit_consumer_options_init(&o);
    if (options != nullptr) o = *options;
    ConsumerOptions co;
    co.name = str(o.name);
    co.wait = enum_of<WaitStrategy>(o.wait, CONDUIT_WAIT_ADAPTIVE, "wait strategy");
    return adopt(cxx(group)->consumer(std::move(co)), consumer);
  });
}

void conduit_consumer_free(conduit_consumer* consumer) { delete consumer; }

conduit_status conduit_consumer_poll(conduit_consumer* c, conduit_delivery* out, size_t max, int64_t timeout_ns,
                                     conduit_poll_result* result, char** error) {
  return guard(error, [&]() -> Status {
    if (Status a = poll_args(c, out, max, result); !a.ok()) return a;
    *result = {};
    c->deliveries.resize(max);
    std::span<Delivery> ds(c->deliveries.data(), max);
    PollResult r = timeout_ns > 0 ? c->impl->poll(ds, std::chrono::nanoseconds(timeout_ns)) : c->impl->try_poll(ds);
    fill_records(
        r.count, [&](std::size_t i) -> const RecordView& { return ds[i].record; },
        [&](std::size_t i) -> conduit_record& { return out[i].record; }, c->headers);
    for (std::size_t i = 0; i < r.count; ++i) {
      out[i].record.sequence = ds[i].sequence;
      out[i].attempt = ds[i].attempt;
      out[i].lease = ds[i].lease;
    }
    *result = poll_result(r);
    return r.status;
  });
}

conduit_status conduit_consumer_ack(conduit_consumer* c, const conduit_delivery* d) {
  return answer(c, d, [](Consumer& k, const Delivery& x) { return k.ack(x); });
}

conduit_status conduit_consumer_nack(conduit_consumer* c, const conduit_delivery* d, int64_t delay_ns) {
  return answer(c, d, [delay_ns](Consumer& k, const Delivery& x) {
    return delay_ns > 0 ? k.nack(x, std::chrono::nanoseconds(delay_ns)) : k.nack(x);
  });
}

conduit_status conduit_consumer_fail(conduit_consumer* c, const conduit_delivery* d, const char* error_text) {
  return answer(c, d, [error_text](Consumer& k, const Delivery& x) { return k.fail(x, str(error_text)); });
}

conduit_status conduit_consumer_dead_letter(conduit_consumer* c, const conduit_delivery* d, const char* error_text) {
  return answer(c, d, [error_text](Consumer& k, const Delivery& x) { return k.dead_letter(x, str(error_text)); });
}

// ----------------------------------------------------------- log reader ---

conduit_status conduit_log_reader_open(const char* data_dir, const char* topic,
                                       const conduit_log_reader_options* options, conduit_log_reader** reader,
                                       char** error) {
  return guard(error, [&]() -> Status {
    if (data_dir == nullptr || topic == nullptr) return null_argument("data_dir or topic");
    if (reader == nullptr) return null_argument("reader");
    *reader = nullptr;
    conduit_log_reader_options o;
    conduit_log_reader_options_init(&o);
    if (options != nullptr) o = *options;
    LogReaderOptions lo;
    lo.start = start_of(o.start);
    lo.wait = enum_of<WaitStrategy>(o.wait, CONDUIT_WAIT_ADAPTIVE, "wait strategy");
    lo.park_timeout = std::chrono::nanoseconds(o.park_timeout_ns);
    lo.name = str(o.name);
    return adopt(LogReader::open(data_dir, topic, std::move(lo)), reader);
  });
}

void conduit_log_reader_free(conduit_log_reader* reader) { delete reader; }

conduit_status conduit_log_reader_poll(conduit_log_reader* lr, conduit_record* out, size_t max, int64_t timeout_ns,
                                       conduit_poll_result* result, char** error) {
  return guard(error, [&]() -> Status {
    if (Status a = poll_args(lr, out, max, result); !a.ok()) return a;
    *result = {};
    lr->views.resize(max);
    std::span<RecordView> views(lr->views.data(), max);
    auto r = timeout_ns > 0 ? lr->impl->poll(views, std::chrono::nanoseconds(timeout_ns)) : lr->impl->try_poll(views);
    if (!r.ok()) return r.status();
    fill_records(
        r->count, [&](std::size_t i) -> const RecordView& { return lr->views[i]; },
        [&](std::size_t i) -> conduit_record& { return out[i]; }, lr->headers);
    *result = poll_result(r.value());
    return Status::OK();
  });
}

conduit_status conduit_log_reader_commit(conduit_log_reader* lr, char** error) {
  return guard(error, [&]() -> Status { return lr == nullptr ? null_argument("reader") : lr->impl->commit(); });
}

uint64_t conduit_log_reader_position(const conduit_log_reader* lr) { return lr == nullptr ? 0 : lr->impl->position(); }
uint64_t conduit_log_reader_lost(const conduit_log_reader* lr) { return lr == nullptr ? 0 : lr->impl->lost(); }
uint64_t conduit_log_reader_writer_restarts(const conduit_log_reader* lr) {
  return lr == nullptr ? 0 : lr->impl->writer_restarts();
}
int conduit_log_reader_writer_closed(const conduit_log_reader* lr) {
  return lr != nullptr && lr->impl->writer_closed() ? 1 : 0;
}

// -------------------------------------------------------------- records ---

conduit_status conduit_record_header(const conduit_record* record, size_t i, conduit_header* header) {
  return guard(nullptr, [&]() -> Status {
    if (record == nullptr || header == nullptr) return null_argument("record or header");
    if (record->reserved == nullptr) return Status::InvalidArgument("the record was not handed out by a poll");
    RecordView v = view_of(*record);
    if (i >= v.header_count())
      return Status::InvalidArgument("header " + std::to_string(i) + " of a record with " +
                                     std::to_string(v.header_count()));
    Header h = v.header(i);
    *header = {bytes(h.name), bytes(h.value)};
    return Status::OK();
  });
}

}  // extern "C"
