// conduit.Topic: publishing, and the topic's counters.
#include "topic_handle.h"

namespace conduit::python {
namespace {

using std::chrono::nanoseconds;

// A publish that may wait (ring space, fdatasync) waits without the GIL
// and in slices, so signals are seen; one that cannot wait keeps the GIL.
std::uint64_t publish_one(TopicHandle& t, const Message& m, std::optional<double> timeout) {
  if (t.topic->options().durability != Durability::kSync) {
    // No disk to wait for: only ring space (a memory-only topic with a
    // blocking reader a ring behind), which try_publish reports as kBusy.
    Result<std::uint64_t> r = locked(*t.box, [&] { return t.topic->try_publish(m); });
    if (r.ok() || r.status().code() != Code::kBusy) return take(std::move(r));
    using clock = std::chrono::steady_clock;
    std::optional<clock::time_point> deadline;
    if (timeout) deadline = clock::now() + seconds_to_ns(*timeout, "timeout");
    for (;;) {
      nanoseconds slice = std::chrono::milliseconds(100);
      if (deadline) slice = std::clamp<nanoseconds>(*deadline - clock::now(), nanoseconds(0), slice);
      r = unlocked(*t.box, [&] { return t.topic->publish(m, slice); });
      if (r.ok() || r.status().code() != Code::kTimedOut) return take(std::move(r));
      if (deadline && clock::now() >= *deadline) return take(std::move(r));
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    }
  }
  if (timeout) {
    nanoseconds limit = seconds_to_ns(*timeout, "timeout");
    return take(unlocked(*t.box, [&] { return t.topic->publish(m, limit); }));
  }
  return take(unlocked(*t.box, [&] { return t.topic->publish(m); }));
}

py::list publish_batch(TopicHandle& t, const py::iterable& items) {
  std::vector<Lowered> lowered;
  for (py::handle item : items) lower_item(lowered.emplace_back(), item);
  std::vector<Message> messages;
  messages.reserve(lowered.size());
  for (const Lowered& l : lowered) messages.push_back(l.message);
  std::vector<std::uint64_t> sequences(messages.size());
  // One release of the GIL for the batch: it may wait for ring space or
  // the disk, and the cost is spread over its messages.
  PublishBatchResult r = unlocked(*t.box, [&] { return t.topic->publish_batch(messages, sequences); });
  py::list out;
  for (std::size_t i = 0; i < r.published; ++i) out.append(sequences[i]);
  if (!r.ok()) {
    try {
      raise_status(r.status);
    } catch (py::error_already_set& e) {
      // The error says how far the batch got: its first `published`
      // messages were appended, with these sequences.
      e.value().attr("published") = r.published;
      e.value().attr("sequences") = out;
      throw;
    }
  }
  return out;
}

py::dict publish_fields(py::kwargs& kw, std::optional<double>& timeout) {
  py::dict fields(kw);
  if (fields.contains("timeout")) {
    py::object t = fields.attr("pop")("timeout");
    if (!t.is_none()) timeout = t.cast<double>();
  }
  return fields;
}

const char* kind_name(ReaderInfo::Kind k) { return k == ReaderInfo::Kind::kSubscriber ? "subscriber" : "work_group"; }

}  // namespace

void bind_topic(py::module_& m) {
  py::class_<TopicStats>(m, "TopicStats", "A topic's counters (a snapshot).")
      .def_readonly("earliest", &TopicStats::earliest)
      .def_readonly("published", &TopicStats::published)
      .def_readonly("segments", &TopicStats::segments)
      .def_readonly("cap_deletions", &TopicStats::cap_deletions)
      .def_readonly("cap_lost_records", &TopicStats::cap_lost_records)
      .def("__repr__", [](const TopicStats& s) {
        return "<conduit.TopicStats earliest=" + std::to_string(s.earliest) +
               " published=" + std::to_string(s.published) + " segments=" + std::to_string(s.segments) + ">";
      });
  py::class_<ReaderInfo>(m, "ReaderInfo", "One reader of a topic: a subscriber or a work group.")
      .def_property_readonly("kind", [](const ReaderInfo& r) { return kind_name(r.kind); })
      .def_readonly("name", &ReaderInfo::name)
      .def_readonly("position", &ReaderInfo::position)
      .def_readonly("lag", &ReaderInfo::lag)
      .def_readonly("holds_ring", &ReaderInfo::holds_ring)
      .def_readonly("attached", &ReaderInfo::attached)
      .def("__repr__", [](const ReaderInfo& r) {
        return std::string("<conduit.ReaderInfo ") + kind_name(r.kind) + " '" + r.name +
               "' position=" + std::to_string(r.position) + " lag=" + std::to_string(r.lag) + ">";
      });
  py::class_<RecoveryStats>(m, "RecoveryStats", "How a persisted topic's log was opened.")
      .def_readonly("clean", &RecoveryStats::clean)
      .def_readonly("segments", &RecoveryStats::segments)
      .def_readonly("records_checked", &RecoveryStats::records_checked)
      .def_readonly("bytes_checked", &RecoveryStats::bytes_checked)
      .def_property_readonly("read_only", [](const RecoveryStats& s) {
        return s.read_only.ok() ? py::object(py::none()) : py::object(decode_text(s.read_only.message()));
      });

  py::class_<TopicHandle>(m, "Topic", "A topic of an engine (Engine.create_topic, Engine.topic).")
      .def_property_readonly("name", [](const TopicHandle& t) { return t.topic->name(); })
      .def_property_readonly("durability",
                             [](const TopicHandle& t) { return durability_name(t.topic->options().durability); })
      .def_property_readonly("shared", [](const TopicHandle& t) { return t.topic->options().shared; })
      .def(
          "publish",
          [](TopicHandle& t, const py::object& payload, py::kwargs kw) {
            std::optional<double> timeout;
            py::dict fields = publish_fields(kw, timeout);
            Lowered l;
            lower(l, payload, fields);
            return publish_one(t, l.message, timeout);
          },
          "publish(payload, *, key=None, id=None, headers=None, correlation_id=None, reply_to=None, "
          "trace_id=None, content_type=None, schema_version=0, timestamp_ns=0, timeout=None) -> sequence\n\n"
          "Appends the message and returns its sequence. payload: bytes-like or str (UTF-8); text fields: str or "
          "bytes; headers: a dict or (name, value) pairs. On a 'sync' topic returns once the record is durable. "
          "Waits for ring space (a memory-only topic with a blocking subscriber a ring behind) at most `timeout` "
          "seconds (None: as long as it takes), then raises TimedOutError.",
          py::arg("payload"))
      .def(
          "publish_nowait",
          [](TopicHandle& t, const py::object& payload, py::kwargs kw) {
            Lowered l;
            lower(l, payload, kw);
            return take(locked(*t.box, [&] { return t.topic->publish_nowait(l.message); }));
          },
          "As publish, but never waits for the disk: await_durable(sequence) does.", py::arg("payload"))
      .def(
          "await_durable",
          [](TopicHandle& t, std::uint64_t seq, double timeout) {
            nanoseconds limit = seconds_to_ns(timeout, "timeout");
            check(unlocked(*t.box, [&] { return t.topic->await_durable(seq, limit); }));
          },
          "Waits until `sequence` is durable (persisted topics); TimedOutError after `timeout` seconds.",
          py::arg("sequence"), py::arg("timeout") = 10.0)
      .def("publish_batch", &publish_batch,
           "Appends the messages (bytes-like payloads or conduit.Message) in order; returns their sequences. A "
           "failure raises with .published (how many were appended) and .sequences.",
           py::arg("messages"))
      .def_property_readonly("published",
                             [](TopicHandle& t) { return locked(*t.box, [&] { return t.topic->published(); }); })
      .def_property_readonly("claimed",
                             [](TopicHandle& t) { return locked(*t.box, [&] { return t.topic->claimed(); }); })
      .def_property_readonly("earliest",
                             [](TopicHandle& t) { return locked(*t.box, [&] { return t.topic->earliest(); }); })
      .def_property_readonly("durable",
                             [](TopicHandle& t) { return locked(*t.box, [&] { return t.topic->durable(); }); })
      .def("stats", [](TopicHandle& t) { return locked(*t.box, [&] { return t.topic->stats(); }); })
      .def("recovery_stats", [](TopicHandle& t) { return locked(*t.box, [&] { return t.topic->recovery_stats(); }); })
      .def(
          "readers", [](TopicHandle& t) { return locked(*t.box, [&] { return t.topic->readers(); }); },
          "Every open subscriber (of this process, or attached from another: attached) and work group, with its "
          "position and lag.")
      .def("__repr__", [](const TopicHandle& t) {
        return "<conduit.Topic '" + t.topic->name() + "' " + durability_name(t.topic->options().durability) + ">";
      });
}

}  // namespace conduit::python
