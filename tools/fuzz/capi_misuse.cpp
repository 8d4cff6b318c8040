// The C API fuzzer's calls the API must refuse (conduit_c.h promises each
// status): NULL handles and out-pointers, bad names, enum values out of
// range, oversized payloads, answers not from a poll, topic handles of a
// closed engine; and the status names and the topic listing.
#include <algorithm>
#include <cstring>
#include <string>

#include "capi_harness.h"

namespace conduit::fuzz::c_api {

void CHarness::misuse(const Step& s) {
  conduit_topic* t = topics_[s.topic];
  conduit_topic* out = nullptr;
  std::uint64_t seq = 0;
  conduit_topic_options bad;
  conduit_topic_options_init(&bad);
  switch (s.a % 12) {
    case 0:
      refused(CONDUIT_INVALID_ARGUMENT, conduit_engine_create_topic, static_cast<conduit_engine*>(nullptr), "x", &bad,
              &out);
      refused(CONDUIT_INVALID_ARGUMENT, conduit_engine_create_topic, engine_, static_cast<const char*>(nullptr), &bad,
              &out);
      refused(CONDUIT_INVALID_ARGUMENT, conduit_engine_create_topic, engine_, "x",
              static_cast<const conduit_topic_options*>(nullptr), static_cast<conduit_topic**>(nullptr));
      break;
    case 1: {
      static const char* const kBad[] = {"", "a/b", "..", ".hidden", "a\nb"};
      const std::string long_name(201 + s.b, 'n');
      const char* name = s.who % 6 == 5 ? long_name.c_str() : kBad[s.who % 6 % std::size(kBad)];
      refused(CONDUIT_INVALID_ARGUMENT, conduit_engine_create_topic, engine_, name, &bad, &out);
      break;
    }
    case 2: {
      // An int that is no value of the enum (conduit_c.h: refused).
      const int values[] = {-1 - static_cast<int>(s.b), 3 + static_cast<int>(s.b)};
      std::memcpy(&bad.durability, &values[s.who % 2], sizeof(int));
      refused(CONDUIT_INVALID_ARGUMENT, conduit_engine_create_topic, engine_, "x", &bad, &out);
      break;
    }
    case 3: {
      refused(CONDUIT_INVALID_ARGUMENT, conduit_topic_publish, static_cast<conduit_topic*>(nullptr),
              static_cast<const conduit_message*>(nullptr), &seq);
      if (!t) break;
      refused(CONDUIT_INVALID_ARGUMENT, conduit_topic_publish, t, static_cast<const conduit_message*>(nullptr), &seq);
      refused(CONDUIT_INVALID_ARGUMENT, conduit_topic_publish_batch, t, static_cast<const conduit_message*>(nullptr),
              std::size_t{3}, static_cast<std::uint64_t*>(nullptr), static_cast<std::size_t*>(nullptr));
      break;
    }
    case 4: {  // over the topic's 4096-byte limit: refused, nothing published
      if (!t) break;
      const std::string big(4097 + s.b, 'x');
      refused(CONDUIT_TOO_LARGE, conduit_topic_publish_bytes, t, static_cast<const void*>(big.data()), big.size(),
              &seq);
      break;
    }
    case 5: {
      conduit_record r[2];
      conduit_poll_result pr;
      refused(CONDUIT_INVALID_ARGUMENT, conduit_subscriber_poll, static_cast<conduit_subscriber*>(nullptr), r,
              std::size_t{2}, std::int64_t{0}, &pr);
      if (subs_.empty()) break;
      conduit_subscriber* h = subs_[s.who % subs_.size()].h;
      refused(CONDUIT_INVALID_ARGUMENT, conduit_subscriber_poll, h, static_cast<conduit_record*>(nullptr),
              std::size_t{2}, std::int64_t{0}, &pr);
      refused(CONDUIT_INVALID_ARGUMENT, conduit_subscriber_poll, h, r, std::size_t{2}, std::int64_t{0},
              static_cast<conduit_poll_result*>(nullptr));
      break;
    }
    case 6: {
      if (!t) break;
      conduit_subscriber_options o;
      conduit_subscriber_options_init(&o);
      const int v = 4 + static_cast<int>(s.b);
      std::memcpy(s.who % 2 ? static_cast<void*>(&o.wait) : static_cast<void*>(&o.slow), &v, sizeof v);
      conduit_subscriber* h = nullptr;
      refused(CONDUIT_INVALID_ARGUMENT, conduit_topic_subscribe, t, &o, &h);
      FUZZ_CHECK(h == nullptr);
      break;
    }
    case 7: {
      conduit_delivery d{};
      FUZZ_CHECK(conduit_consumer_ack(nullptr, &d) == CONDUIT_INVALID_ARGUMENT);
      if (groups_.empty()) break;
      conduit_consumer* c = groups_[s.who % groups_.size()].consumer;
      FUZZ_CHECK(conduit_consumer_ack(c, nullptr) == CONDUIT_INVALID_ARGUMENT);
      FUZZ_CHECK(conduit_consumer_nack(c, &d, 0) == CONDUIT_INVALID_ARGUMENT);  // not from a poll
      break;
    }
    case 8:
      refused(CONDUIT_NOT_FOUND, conduit_engine_topic, engine_, "nope", &out);
      refused(CONDUIT_NOT_FOUND, conduit_engine_delete_topic, engine_, "nope");
      if (t)
        refused(CONDUIT_INVALID_ARGUMENT, conduit_topic_work_group, t, static_cast<const char*>(nullptr),
                static_cast<const conduit_work_group_options*>(nullptr), static_cast<conduit_work_group**>(nullptr));
      break;
    case 9:
      // Every value of the enum's range in C++ (0..127) gets a name.
      for (int code = 0; code < 128; ++code) {
        conduit_status st;
        std::memcpy(&st, &code, sizeof st);
        const std::string text = conduit_status_message(st);
        FUZZ_CHECK(!text.empty() && (text == "Unknown") != conduit::fuzz::documented(code));
      }
      break;
    case 10: {
      char** names = nullptr;
      std::size_t n = 0;
      FUZZ_CHECK(call(conduit_engine_topics, engine_, &names, &n) == CONDUIT_OK);
      FUZZ_CHECK(std::is_sorted(names, names + n, [](const char* x, const char* y) { return std::strcmp(x, y) < 0; }));
      for (int k = 0; k < md::kTopics; ++k)
        if (topics_[k])
          FUZZ_CHECK(
              std::any_of(names, names + n, [&](const char* x) { return std::strcmp(x, md::kTopicNames[k]) == 0; }));
      conduit_names_free(names, n);
      break;
    }
    case 11: {  // a topic handle whose engine was closed: every call says closed
      refused(CONDUIT_INVALID_ARGUMENT, conduit_log_reader_open, static_cast<const char*>(nullptr), "log",
              static_cast<const conduit_log_reader_options*>(nullptr), static_cast<conduit_log_reader**>(nullptr));
      if (stale_.empty()) break;
      conduit_topic* old = stale_[s.who % stale_.size()];
      refused(CONDUIT_CLOSED, conduit_topic_publish_bytes, old, static_cast<const void*>("x"), std::size_t{1}, &seq);
      conduit_subscriber* h = nullptr;
      refused(CONDUIT_CLOSED, conduit_topic_subscribe, old, static_cast<const conduit_subscriber_options*>(nullptr),
              &h);
      break;
    }
  }
}

}  // namespace conduit::fuzz::c_api
