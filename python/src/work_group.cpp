// conduit.WorkGroup (Topic.work_group), conduit.Consumer and its
// deliveries, each with a lease of its own that its ack, nack, fail or
// dead letter ends.
#include "topic_handle.h"

#include <unordered_map>

namespace conduit::python {
namespace {

using std::chrono::nanoseconds;

struct PyDelivery : Record {
  Delivery delivery;
};

struct PyConsumer {
  std::atomic<bool> busy{false};
  std::size_t exports = 0;  // buffers of this consumer's records held anywhere (GIL)
  std::unique_ptr<Consumer> consumer;
  Durability durability = Durability::kMemory;
  std::string what;
  bool closed = false;
  std::vector<Delivery> out;
  // The leases of deliveries not yet answered, by delivery lease number.
  std::unordered_map<std::uint64_t, std::weak_ptr<Lease>> open;

  Consumer& open_consumer() {
    if (closed || !consumer) raise_code(Code::kClosed, what + " is closed");
    return *consumer;
  }
  void close() {
    if (closed) return;
    closed = true;
    for (auto& [id, weak] : open) {
      if (auto lease = weak.lock()) {
        try {
          lease->end(what);
        } catch (py::error_already_set&) { throw; } catch (...) {
          // Still held: the consumer stays until it is let go.
        }
      }
    }
    open.clear();
    if (exports == 0 && !busy.load(std::memory_order_acquire)) {
      py::gil_scoped_release nogil;
      consumer.reset();
    }
  }
};

// Ends the delivery's lease, then answers it through `answer` (with the GIL
// released on a sync topic, whose answers wait for the journal's fdatasync).
// false, as the C++ API says, when it was answered already.
template <class Answer>
bool answer(const py::handle& self, PyDelivery& d, Answer&& f) {
  auto& c = self.cast<PyConsumer&>();
  if (!d.owner.is(self)) throw py::value_error("this delivery belongs to another consumer");
  Consumer& consumer = c.open_consumer();
  OneThread guard(c.busy, c.what.c_str());
  if (!d.lease->live()) return false;
  d.lease->end(c.what);
  c.open.erase(d.delivery.lease);
  if (c.durability == Durability::kSync) {
    py::gil_scoped_release nogil;
    return f(consumer, d.delivery);
  }
  return f(consumer, d.delivery);
}

py::object poll_consumer(const py::handle& self, std::size_t max_records, std::optional<double> timeout) {
  auto& c = self.cast<PyConsumer&>();
  Consumer& consumer = c.open_consumer();
  if (max_records == 0) raise_code(Code::kInvalidArgument, "max_records must be at least 1");
  OneThread guard(c.busy, c.what.c_str());
  c.out.resize(max_records);
  std::span<Delivery> out(c.out);
  PollResult result = wait_poll(
      timeout, [&](std::optional<nanoseconds> t) { return t ? consumer.poll(out, *t) : consumer.try_poll(out); });
  Batch batch = batch_of(result);
  std::erase_if(c.open, [](const auto& entry) { return entry.second.expired(); });
  for (std::size_t i = 0; i < result.count; ++i) {
    const Delivery& d = c.out[i];
    auto lease = std::make_shared<Lease>();
    c.open[d.lease] = lease;
    PyDelivery pd;
    static_cast<Record&>(pd) =
        Record{d.record,   d.sequence,  d.record.timestamp_ns(), lease, py::reinterpret_borrow<py::object>(self),
               &c.exports, py::object()};
    pd.delivery = d;
    batch.records.append(py::cast(std::move(pd)));
  }
  return py::cast(std::move(batch));
}

WorkGroupOptions group_options(const py::object& start, std::optional<std::int64_t> start_time_ns,
                               std::uint32_t max_in_flight, double ack_timeout, std::uint32_t max_attempts,
                               double backoff_base, double backoff_max, double backoff_jitter,
                               const py::object& dead_letter_topic, const std::string& on_failure) {
  WorkGroupOptions o;
  o.start = start_of(start, start_time_ns);
  o.max_in_flight = max_in_flight;
  o.ack_timeout = seconds_to_ns(ack_timeout, "ack_timeout");
  o.max_attempts = max_attempts;
  o.backoff_base = seconds_to_ns(backoff_base, "backoff_base");
  o.backoff_max = seconds_to_ns(backoff_max, "backoff_max");
  o.backoff_jitter = backoff_jitter;
  if (!dead_letter_topic.is_none()) o.dead_letter_topic = dead_letter_topic.cast<std::string>();
  if (on_failure == "redeliver")
    o.on_failure = WorkGroupOptions::OnFailure::kRedeliver;
  else if (on_failure == "dead_letter")
    o.on_failure = WorkGroupOptions::OnFailure::kDeadLetter;
  else
    raise_code(Code::kInvalidArgument, "on_failure must be 'redeliver' or 'dead_letter', not '" + on_failure + "'");
  return o;
}

}  // namespace

void bind_work_groups(py::module_& m) {
  py::class_<WorkGroupStats>(m, "WorkGroupStats", "A work group's counters (a snapshot).")
      .def_readonly("next", &WorkGroupStats::next)
      .def_readonly("ack_floor", &WorkGroupStats::ack_floor)
      .def_readonly("redelivered", &WorkGroupStats::redelivered)
      .def_readonly("pending_redelivery", &WorkGroupStats::pending_redelivery)
      .def_readonly("depth", &WorkGroupStats::depth)
      .def_readonly("in_flight", &WorkGroupStats::in_flight)
      .def_readonly("dead_lettered", &WorkGroupStats::dead_lettered)
      .def_readonly("timed_out", &WorkGroupStats::timed_out)
      .def_readonly("stale", &WorkGroupStats::stale)
      .def_readonly("lost", &WorkGroupStats::lost)
      .def("__repr__", [](const WorkGroupStats& s) {
        return "<conduit.WorkGroupStats next=" + std::to_string(s.next) + " ack_floor=" + std::to_string(s.ack_floor) +
               " in_flight=" + std::to_string(s.in_flight) + " dead_lettered=" + std::to_string(s.dead_lettered) + ">";
      });

  py::class_<PyDelivery, Record>(m, "Delivery",
                                 "A record handed to one consumer of a work group. Its views are valid until the "
                                 "consumer acks, nacks, fails or dead-letters it.")
      .def_property_readonly("attempt", [](const PyDelivery& d) { return d.delivery.attempt; })
      .def_property_readonly("lease", [](const PyDelivery& d) { return d.delivery.lease; });

  py::class_<PyConsumer>(m, "Consumer", "A competing consumer of a work group; one thread at a time.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyConsumer& c, py::args) { c.close(); })
      .def("close", &PyConsumer::close)
      .def_property_readonly("closed", [](const PyConsumer& c) { return c.closed; })
      .def("poll", &poll_consumer,
           "poll(max_records=64, timeout=0.0) -> Batch of Delivery\n\n"
           "Deliveries (redeliveries first); timeout as Subscriber.poll. Each stays valid until it is answered.",
           py::arg("max_records") = 64, py::arg("timeout") = 0.0)
      .def(
          "ack",
          [](py::object self, PyDelivery& d) {
            return answer(self, d, [](Consumer& c, const Delivery& del) { return c.ack(del); });
          },
          "Done with it. False when it was no longer this consumer's (timed out, answered already).",
          py::arg("delivery"))
      .def(
          "nack",
          [](py::object self, PyDelivery& d, std::optional<double> delay) {
            std::optional<nanoseconds> wait;
            if (delay) wait = seconds_to_ns(*delay, "delay");
            return answer(self, d,
                          [&](Consumer& c, const Delivery& del) { return wait ? c.nack(del, *wait) : c.nack(del); });
          },
          "Not done: delivered again after the group's backoff (or `delay` seconds); dead-lettered once "
          "max_attempts deliveries failed.",
          py::arg("delivery"), py::arg("delay") = py::none())
      .def(
          "fail",
          [](py::object self, PyDelivery& d, const std::string& error) {
            return answer(self, d, [&](Consumer& c, const Delivery& del) { return c.fail(del, error); });
          },
          "A failure with its reason, handled by the group's on_failure.", py::arg("delivery"), py::arg("error"))
      .def(
          "dead_letter",
          [](py::object self, PyDelivery& d, const std::string& error) {
            return answer(self, d, [&](Consumer& c, const Delivery& del) { return c.dead_letter(del, error); });
          },
          "Sends the record to the dead-letter topic at once.", py::arg("delivery"), py::arg("error") = "");

  py::class_<WorkGroupHandle>(m, "WorkGroup", "A work group of a topic (Topic.work_group).")
      .def_property_readonly("name", [](const WorkGroupHandle& g) { return g.group->name(); })
      .def(
          "consumer",
          [](WorkGroupHandle& g, const py::object& name, const std::string& wait) {
            ConsumerOptions o;
            if (!name.is_none()) o.name = name.cast<std::string>();
            o.wait = wait_of(wait);
            auto c = std::make_unique<PyConsumer>();
            c->durability = g.durability;
            c->what = "consumer" + (o.name.empty() ? std::string() : " '" + o.name + "'") + " of group '" +
                      g.group->name() + "'";
            c->consumer = take(unlocked(*g.box, [&] { return g.group->consumer(o); }));
            return c;
          },
          "A new competing consumer.", py::kw_only(), py::arg("name") = py::none(), py::arg("wait") = "adaptive")
      .def("stats", [](WorkGroupHandle& g) { return locked(*g.box, [&] { return g.group->stats(); }); })
      .def_property_readonly("lag", [](WorkGroupHandle& g) { return locked(*g.box, [&] { return g.group->lag(); }); })
      .def(
          "commit", [](WorkGroupHandle& g) { check(unlocked(*g.box, [&] { return g.group->commit(); })); },
          "Stores the group's state durably (persisted topics).")
      .def(
          "wait_drained",
          [](WorkGroupHandle& g, double timeout) {
            nanoseconds limit = seconds_to_ns(timeout, "timeout");
            check(unlocked(*g.box, [&] { return g.group->wait_drained(limit); }));
          },
          "Waits until every record published before the call is acked or dead-lettered; TimedOutError after "
          "`timeout` seconds.",
          py::arg("timeout") = 10.0);

  auto topic = py::reinterpret_borrow<py::class_<TopicHandle>>(m.attr("Topic"));
  topic.def(
      "work_group",
      [](TopicHandle& t, const std::string& name, const py::object& start, std::optional<std::int64_t> start_time_ns,
         std::uint32_t max_in_flight, double ack_timeout, std::uint32_t max_attempts, double backoff_base,
         double backoff_max, double backoff_jitter, const py::object& dead_letter_topic,
         const std::string& on_failure) {
        WorkGroupOptions o = group_options(start, start_time_ns, max_in_flight, ack_timeout, max_attempts, backoff_base,
                                           backoff_max, backoff_jitter, dead_letter_topic, on_failure);
        WorkGroup* g = take(unlocked(*t.box, [&] { return t.topic->work_group(name, o); }));
        return WorkGroupHandle{t.box, g, t.topic->options().durability};
      },
      "The work group of that name, created on first use. start defaults to 'earliest'. Times in seconds; "
      "on_failure: 'redeliver' or 'dead_letter'; dead letters go to dead_letter_topic (default '<topic>.dlq').",
      py::arg("name"), py::kw_only(), py::arg("start") = "earliest", py::arg("start_time_ns") = py::none(),
      py::arg("max_in_flight") = 1u << 16, py::arg("ack_timeout") = 30.0, py::arg("max_attempts") = 0,
      py::arg("backoff_base") = 0.0, py::arg("backoff_max") = 60.0, py::arg("backoff_jitter") = 0.0,
      py::arg("dead_letter_topic") = py::none(), py::arg("on_failure") = "redeliver");
}

}  // namespace conduit::python
