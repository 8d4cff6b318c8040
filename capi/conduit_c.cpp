// The C API (include/conduit/conduit_c.h): status, options, the engine,
// topics and publishing. Readers are in capi/readers_c.cpp.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "capi/capi_internal.h"

using namespace conduit;

// The C codes are conduit::Code's values.
static_assert(CONDUIT_OK == static_cast<int>(Code::kOk));
static_assert(CONDUIT_INVALID_ARGUMENT == static_cast<int>(Code::kInvalidArgument));
static_assert(CONDUIT_TOO_LARGE == static_cast<int>(Code::kTooLarge));
static_assert(CONDUIT_CLOSED == static_cast<int>(Code::kClosed));
static_assert(CONDUIT_NOT_FOUND == static_cast<int>(Code::kNotFound));
static_assert(CONDUIT_ALREADY_EXISTS == static_cast<int>(Code::kAlreadyExists));
static_assert(CONDUIT_CORRUPTION == static_cast<int>(Code::kCorruption));
static_assert(CONDUIT_IO_ERROR == static_cast<int>(Code::kIOError));
static_assert(CONDUIT_BUSY == static_cast<int>(Code::kBusy));
static_assert(CONDUIT_TIMED_OUT == static_cast<int>(Code::kTimedOut));
static_assert(CONDUIT_UNSUPPORTED == static_cast<int>(Code::kUnsupported));
static_assert(CONDUIT_READ_ONLY == static_cast<int>(Code::kReadOnly));
static_assert(CONDUIT_WAIT_ADAPTIVE == static_cast<int>(WaitStrategy::kAdaptive));
static_assert(CONDUIT_DURABILITY_SYNC == static_cast<int>(Durability::kSync));
static_assert(CONDUIT_SLOW_LOSE_OLDEST == static_cast<int>(SlowPolicy::kLoseOldest));
static_assert(CONDUIT_START_TIME == static_cast<int>(StartAt::Kind::kTime));
static_assert(CONDUIT_ON_FAILURE_DEAD_LETTER == static_cast<int>(WorkGroupOptions::OnFailure::kDeadLetter));

namespace conduit::capi {

conduit_status fail(conduit_status code, std::string_view text, char** error) noexcept {
  if (error != nullptr) {
    std::string_view name = conduit_status_message(code);
    auto* s = static_cast<char*>(std::malloc(name.size() + 2 + text.size() + 1));
    if (s != nullptr) {
      std::memcpy(s, name.data(), name.size());
      std::memcpy(s + name.size(), ": ", 2);
      std::memcpy(s + name.size() + 2, text.data(), text.size());
      s[name.size() + 2 + text.size()] = '\0';
    }
    *error = s;
  }
  return code;
}

conduit_status fail(const Status& status, char** error) noexcept {
  return fail(static_cast<conduit_status>(status.code()), status.message(), error);
}

StartAt start_of(const conduit_start& s) {
  switch (enum_of<StartAt::Kind>(s.kind, CONDUIT_START_TIME, "start kind")) {
    case StartAt::Kind::kEarliest: return StartAt::earliest();
    case StartAt::Kind::kLatest: return StartAt::latest();
    case StartAt::Kind::kSequence: return StartAt::at(s.sequence);
    case StartAt::Kind::kTime: return StartAt::time(s.time_ns);
  }
  return StartAt::latest();  // not reached: enum_of checked the kind
}

namespace {
Status bytes_ok(conduit_bytes b, const char* field) {
  if (b.data == nullptr && b.len != 0)
    return Status::InvalidArgument(std::string("message ") + field + " has no data but a length of " +
                                   std::to_string(b.len));
  return Status::OK();
}
}  // namespace

Status to_message(const conduit_message& in, std::vector<Header>& headers, Message& out) {
  const std::pair<conduit_bytes, const char*> fields[] = {{in.payload, "payload"},
                                                          {in.id, "id"},
                                                          {in.key, "key"},
                                                          {in.correlation_id, "correlation_id"},
                                                          {in.reply_to, "reply_to"},
                                                          {in.trace_id, "trace_id"},
                                                          {in.content_type, "content_type"}};
  for (const auto& [b, name] : fields) {
    if (Status s = bytes_ok(b, name); !s.ok()) return s;
  }
  if (in.headers == nullptr && in.header_count != 0)
    return Status::InvalidArgument("message headers are NULL but header_count is " + std::to_string(in.header_count));
  out.payload = view(in.payload);
  out.id = view(in.id);
  out.key = view(in.key);
  out.correlation_id = view(in.correlation_id);
  out.reply_to = view(in.reply_to);
  out.trace_id = view(in.trace_id);
  out.content_type = view(in.content_type);
  out.schema_version = in.schema_version;
  out.timestamp_ns = in.timestamp_ns;
  std::size_t first = headers.size();
  for (std::size_t i = 0; i < in.header_count; ++i) {
    if (Status s = bytes_ok(in.headers[i].name, "header name"); !s.ok()) return s;
    if (Status s = bytes_ok(in.headers[i].value, "header value"); !s.ok()) return s;
    headers.push_back({view(in.headers[i].name), view(in.headers[i].value)});
  }
  // The span is set by the caller once `headers` stops growing (batches).
  out.headers = std::span<const Header>(headers.data() + first, in.header_count);
  return Status::OK();
}

}  // namespace conduit::capi

using namespace conduit::capi;

extern "C" {

const char* conduit_status_message(conduit_status status) {
  switch (status) {
    case CONDUIT_OUT_OF_MEMORY: return "OutOfMemory";
    case CONDUIT_INTERNAL: return "Internal";
    default:
      if (status >= CONDUIT_OK && status <= CONDUIT_READ_ONLY) return code_name(static_cast<Code>(status));
      return "Unknown";
  }
}

void conduit_error_free(char* error) { std::free(error); }

// ------------------------------------------------------------- options ---

void conduit_engine_options_init(conduit_engine_options* o) {
  if (o == nullptr) return;
  EngineOptions d;
  *o = {};
  o->flush_interval_ms = d.flush_interval.count();
  o->flush_bytes = d.flush_bytes;
  o->force_syscall_io = d.force_syscall_io;
  o->park_timeout_us = d.park_timeout.count();
  o->verify_on_open = d.verify_on_open;
  o->read_only_on_corruption = d.read_only_on_corruption;
}

void conduit_topic_options_init(conduit_topic_options* o) {
  if (o == nullptr) return;
  TopicOptions d;
  *o = {};
  o->durability = static_cast<conduit_durability>(d.durability);
  o->segment_bytes = d.segment_bytes;
  o->ring_bytes = d.ring_bytes;
  o->max_payload_bytes = d.max_payload_bytes;
  o->retain_bytes = d.retain_bytes;
  o->retain_age_s = d.retain_age.count();
  o->retain_until_consumed = d.retain_until_consumed;
  o->hard_cap_bytes = d.hard_cap_bytes;
  o->dedup_max_ids = d.dedup.max_ids;
  o->dedup_max_age_ns = d.dedup.max_age.count();
  o->single_producer = d.single_producer;
  o->shared = d.shared;
  o->huge_pages = d.huge_pages;
}

void conduit_subscriber_options_init(conduit_subscriber_options* o) {
  if (o == nullptr) return;
  SubscriberOptions d;
  *o = {};
  o->start.kind = static_cast<conduit_start_kind>(d.start.kind);
  o->slow = static_cast<conduit_slow_policy>(d.slow);
  o->wait = static_cast<conduit_wait_strategy>(d.wait);
  o->durable_only = d.durable_only;
  o->min_batch = d.min_batch;
  o->linger_ns = d.linger.count();
  o->stream_gap_ns = d.stream_gap.count();
}

void conduit_work_group_options_init(conduit_work_group_options* o) {
  if (o == nullptr) return;
  WorkGroupOptions d;
  *o = {};
  o->start.kind = static_cast<conduit_start_kind>(d.start.kind);
  o->max_in_flight = d.max_in_flight;
  o->ack_timeout_ns = d.ack_timeout.count();
  o->max_attempts = d.max_attempts;
  o->backoff_base_ns = d.backoff_base.count();
  o->backoff_max_ns = d.backoff_max.count();
  o->backoff_jitter = d.backoff_jitter;
  o->on_failure = static_cast<conduit_on_failure>(d.on_failure);
}

void conduit_consumer_options_init(conduit_consumer_options* o) {
  if (o == nullptr) return;
  *o = {};
  o->wait = static_cast<conduit_wait_strategy>(ConsumerOptions{}.wait);
}

void conduit_log_reader_options_init(conduit_log_reader_options* o) {
  if (o == nullptr) return;
  LogReaderOptions d;
  *o = {};
  o->start.kind = static_cast<conduit_start_kind>(d.start.kind);
  o->wait = static_cast<conduit_wait_strategy>(d.wait);
  o->park_timeout_ns = d.park_timeout.count();
}

// -------------------------------------------------------------- engine ---

conduit_status conduit_engine_open(const conduit_engine_options* options, conduit_engine** engine, char** error) {
  return guard(error, [&]() -> Status {
    if (engine == nullptr) return null_argument("engine");
    *engine = nullptr;
    conduit_engine_options o;
    conduit_engine_options_init(&o);
    if (options != nullptr) o = *options;
    EngineOptions eo;
    eo.data_dir = str(o.data_dir);
    eo.flush_interval = std::chrono::milliseconds(o.flush_interval_ms);
    eo.flush_bytes = o.flush_bytes;
    eo.force_syscall_io = o.force_syscall_io != 0;
    eo.park_timeout = std::chrono::microseconds(o.park_timeout_us);
    eo.verify_on_open = o.verify_on_open != 0;
    eo.read_only_on_corruption = o.read_only_on_corruption != 0;
    if (o.clock != nullptr) eo.clock = [clock = o.clock, ctx = o.clock_context] { return clock(ctx); };
    return adopt(Engine::open(std::move(eo)), engine);
  });
}

void conduit_engine_close(conduit_engine* engine) {
  if (engine == nullptr) return;
  try {
    engine->impl->close();
  } catch (...) {
    // close() only flags and wakes; nothing it allocates can be reported
    // through a void function, and an exception must not reach C.
  }
}

void conduit_engine_free(conduit_engine* engine) { delete engine; }

int conduit_engine_closed(const conduit_engine* engine) { return engine == nullptr || engine->impl->closed(); }

int64_t conduit_engine_now_ns(const conduit_engine* engine) { return engine == nullptr ? 0 : engine->impl->now_ns(); }

// -------------------------------------------------------------- topics ---

conduit_status conduit_engine_create_topic(conduit_engine* engine, const char* name,
                                           const conduit_topic_options* options, conduit_topic** topic, char** error) {
  return guard(error, [&]() -> Status {
    if (engine == nullptr) return null_argument("engine");
    if (name == nullptr) return null_argument("topic name");
    if (topic == nullptr) return null_argument("topic");
    *topic = nullptr;
    conduit_topic_options o;
    conduit_topic_options_init(&o);
    if (options != nullptr) o = *options;
    TopicOptions to;
    to.durability = enum_of<Durability>(o.durability, CONDUIT_DURABILITY_SYNC, "durability");
    to.segment_bytes = o.segment_bytes;
    to.ring_bytes = o.ring_bytes;
    to.max_payload_bytes = o.max_payload_bytes;
    to.retain_bytes = o.retain_bytes;
    to.retain_age = std::chrono::seconds(o.retain_age_s);
    to.retain_until_consumed = o.retain_until_consumed != 0;
    to.hard_cap_bytes = o.hard_cap_bytes;
    to.dedup.max_ids = o.dedup_max_ids;
    to.dedup.max_age = std::chrono::nanoseconds(o.dedup_max_age_ns);
    to.single_producer = o.single_producer != 0;
    to.shared = o.shared != 0;
    to.huge_pages = o.huge_pages != 0;
    auto t = engine->impl->create_topic(name, to);
    if (!t.ok()) return t.status();
    *topic = reinterpret_cast<conduit_topic*>(t.value());
    return Status::OK();
  });
}

conduit_status conduit_engine_topic(conduit_engine* engine, const char* name, conduit_topic** topic, char** error) {
  return guard(error, [&]() -> Status {
    if (engine == nullptr) return null_argument("engine");
    if (name == nullptr) return null_argument("topic name");
    if (topic == nullptr) return null_argument("topic");
    *topic = nullptr;
    auto t = engine->impl->topic(name);
    if (!t.ok()) return t.status();
    *topic = reinterpret_cast<conduit_topic*>(t.value());
    return Status::OK();
  });
}

conduit_status conduit_engine_delete_topic(conduit_engine* engine, const char* name, char** error) {
  return guard(error, [&]() -> Status {
    if (engine == nullptr) return null_argument("engine");
    if (name == nullptr) return null_argument("topic name");
    return engine->impl->delete_topic(name);
  });
}

void conduit_names_free(char** names, size_t count) {
  if (names == nullptr) return;
  for (size_t i = 0; i < count; ++i) std::free(names[i]);
  std::free(names);
}

conduit_status conduit_engine_topics(conduit_engine* engine, char*** names, size_t* count, char** error) {
  return guard(error, [&]() -> Status {
    if (engine == nullptr) return null_argument("engine");
    if (names == nullptr || count == nullptr) return null_argument("names or count");
    *names = nullptr;
    *count = 0;
    auto list = engine->impl->topics();
    if (!list.ok()) return list.status();
    auto** out = static_cast<char**>(std::calloc(std::max<std::size_t>(list->size(), 1), sizeof(char*)));
    if (out == nullptr) throw std::bad_alloc();
    for (std::size_t i = 0; i < list->size(); ++i) {
      out[i] = strdup((*list)[i].c_str());
      if (out[i] == nullptr) {
        conduit_names_free(out, i);
        throw std::bad_alloc();
      }
    }
    *names = out;
    *count = list->size();
    return Status::OK();
  });
}

const char* conduit_topic_name(const conduit_topic* topic) {
  return topic == nullptr ? "" : cxx(topic)->name().c_str();
}

conduit_status conduit_topic_stats_get(const conduit_topic* topic, conduit_topic_stats* stats) {
  return guard(nullptr, [&]() -> Status {
    if (topic == nullptr || stats == nullptr) return null_argument("topic or stats");
    const Topic* t = cxx(topic);
    TopicStats s = t->stats();
    *stats = {};
    stats->earliest = s.earliest;
    stats->published = s.published;
    stats->claimed = t->claimed();
    stats->durable = t->durable();
    stats->segments = s.segments;
    stats->cap_deletions = s.cap_deletions;
    stats->cap_lost_records = s.cap_lost_records;
    return Status::OK();
  });
}

// ------------------------------------------------------------- publish ---

}  // extern "C"

namespace {
enum class PublishKind { kWait, kNoWait };

conduit_status publish_one(conduit_topic* topic, const conduit_message* message, uint64_t* sequence, char** error,
                           PublishKind kind) {
  return guard(error, [&]() -> Status {
    if (topic == nullptr) return null_argument("topic");
    if (message == nullptr) return null_argument("message");
    std::vector<Header> headers;
    headers.reserve(message->header_count);
    Message m;
    if (Status s = to_message(*message, headers, m); !s.ok()) return s;
    auto r = kind == PublishKind::kWait ? cxx(topic)->publish(m) : cxx(topic)->publish_nowait(m);
    if (!r.ok()) return r.status();
    if (sequence != nullptr) *sequence = r.value();
    return Status::OK();
  });
}
}  // namespace

extern "C" {

conduit_status conduit_topic_publish(conduit_topic* topic, const conduit_message* message, uint64_t* sequence,
                                     char** error) {
  return publish_one(topic, message, sequence, error, PublishKind::kWait);
}

conduit_status conduit_topic_publish_nowait(conduit_topic* topic, const conduit_message* message, uint64_t* sequence,
                                            char** error) {
  return publish_one(topic, message, sequence, error, PublishKind::kNoWait);
}

conduit_status conduit_topic_publish_bytes(conduit_topic* topic, const void* data, size_t len, uint64_t* sequence,
                                           char** error) {
  conduit_message m{};
  m.payload = {static_cast<const char*>(data), len};
  return publish_one(topic, &m, sequence, error, PublishKind::kWait);
}

conduit_status conduit_topic_publish_batch(conduit_topic* topic, const conduit_message* messages, size_t count,
                                           uint64_t* sequences, size_t* published, char** error) {
  if (published != nullptr) *published = 0;
  return guard(error, [&]() -> Status {
    if (topic == nullptr) return null_argument("topic");
    if (messages == nullptr && count != 0) return null_argument("messages");
    std::size_t header_total = 0;
    for (std::size_t i = 0; i < count; ++i) header_total += messages[i].header_count;
    std::vector<Header> headers;
    headers.reserve(header_total);  // never reallocates below: the spans stay put
    std::vector<Message> ms(count);
    for (std::size_t i = 0; i < count; ++i) {
      if (Status s = to_message(messages[i], headers, ms[i]); !s.ok())
        return Status(s.code() == Code::kInvalidArgument
                          ? Status::InvalidArgument("message " + std::to_string(i) + ": " + s.message())
                          : s);
    }
    std::span<std::uint64_t> seqs;
    if (sequences != nullptr) seqs = {sequences, count};
    PublishBatchResult r = cxx(topic)->publish_batch(ms, seqs);
    if (published != nullptr) *published = r.published;
    return r.status;
  });
}

conduit_status conduit_topic_await_durable(conduit_topic* topic, uint64_t sequence, int64_t timeout_ns, char** error) {
  return guard(error, [&]() -> Status {
    if (topic == nullptr) return null_argument("topic");
    return cxx(topic)->await_durable(sequence, std::chrono::nanoseconds(timeout_ns));
  });
}

}  // extern "C"
