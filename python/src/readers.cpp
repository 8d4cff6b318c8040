// conduit.Subscriber (Topic.subscribe) and conduit.LogReader: the readers
// whose records live until their next poll.
#include "topic_handle.h"

namespace conduit::python {
namespace {

using std::chrono::nanoseconds;

// A Subscriber or LogReader as Python holds it. The C++ reader is
// destroyed at close() when none of its records' bytes is held any more,
// else when the last holder lets go (each payload view keeps this object).
template <class Reader>
struct PyReader {
  ReaderState state;
  std::unique_ptr<Reader> reader;
  std::string what;

  void close() {
    if (state.closed) return;
    state.closed = true;
    try {
      state.lease->end(what);
    } catch (py::error_already_set&) { throw; } catch (...) {
      // A view is still held: the reader stays until it is let go.
    }
    if (state.exports == 0 && !state.busy.load(std::memory_order_acquire)) {
      py::gil_scoped_release nogil;  // a Subscriber's destructor may wait for the engine
      reader.reset();
    }
  }
  Reader& open_reader() {
    if (state.closed || !reader) raise_code(Code::kClosed, what + " is closed");
    return *reader;
  }
};

using PySubscriber = PyReader<Subscriber>;
using PyLogReader = PyReader<LogReader>;

template <class Reader, class Once>
py::object poll_reader(const py::handle& self, std::size_t max_records, std::optional<double> timeout, Once&& once) {
  auto& r = self.cast<PyReader<Reader>&>();
  Reader& reader = r.open_reader();
  OneThread guard(r.state.busy, r.what.c_str());
  begin_poll(r.state, max_records, r.what);
  std::span<RecordView> out(r.state.out);
  PollResult result = wait_poll(timeout, [&](std::optional<nanoseconds> t) { return once(reader, out, t); });
  return make_batch(self, r.state, result);
}

template <class Reader, class Class>
void bind_reader_common(Class& cls) {
  cls.def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyReader<Reader>& r, py::args) { r.close(); })
      .def("close", &PyReader<Reader>::close,
           "Ends the last poll's views and frees the reader (once no payload view is held).")
      .def_property_readonly("closed", [](const PyReader<Reader>& r) { return r.state.closed; })
      .def_property_readonly("position", [](PyReader<Reader>& r) { return r.open_reader().position(); })
      .def_property_readonly("lost", [](PyReader<Reader>& r) { return r.open_reader().lost(); });
}

constexpr const char* kPollDoc =
    "poll(max_records=64, timeout=0.0) -> Batch\n\n"
    "Up to max_records records in order. timeout 0: no wait; seconds: wait that long for a record, a loss or "
    "close (without the GIL); None: until one comes. The records' views (payload memoryviews included) are "
    "valid until the next poll, which releases them: a use after raises ValueError. While a payload view is "
    "still held elsewhere (a slice, an object made over it) the next poll raises BufferError instead.";

SubscriberOptions subscriber_options(const py::object& name, const py::object& start,
                                     std::optional<std::int64_t> start_time_ns, const std::string& slow,
                                     const std::string& wait, bool durable_only, std::size_t min_batch, double linger,
                                     const py::object& stream_gap) {
  SubscriberOptions o;
  if (!name.is_none()) o.name = name.cast<std::string>();
  o.start = start_of(start, start_time_ns);
  if (slow == "block")
    o.slow = SlowPolicy::kBlock;
  else if (slow == "lose_oldest")
    o.slow = SlowPolicy::kLoseOldest;
  else
    raise_code(Code::kInvalidArgument, "slow must be 'block' or 'lose_oldest', not '" + slow + "'");
  o.wait = wait_of(wait);
  o.durable_only = durable_only;
  o.min_batch = min_batch;
  o.linger = seconds_to_ns(linger, "linger");
  if (!stream_gap.is_none()) o.stream_gap = seconds_to_ns(stream_gap.cast<double>(), "stream_gap");
  return o;
}

}  // namespace

void bind_readers(py::module_& m) {
  py::class_<PySubscriber> sub(m, "Subscriber",
                               "A subscriber of a topic (Topic.subscribe): its own cursor; one thread at a time.");
  bind_reader_common<Subscriber>(sub);
  sub.def(
         "poll",
         [](py::object self, std::size_t max_records, std::optional<double> timeout) {
           return poll_reader<Subscriber>(self, max_records, timeout,
                                          [](Subscriber& s, std::span<RecordView> out, std::optional<nanoseconds> t) {
                                            return t ? s.poll(out, *t) : s.try_poll(out);
                                          });
         },
         kPollDoc, py::arg("max_records") = 64, py::arg("timeout") = 0.0)
      .def_property_readonly("lag", [](PySubscriber& s) { return s.open_reader().lag(); })
      .def(
          "commit",
          [](PySubscriber& s, std::optional<std::uint64_t> seq) {
            Subscriber& sub = s.open_reader();
            OneThread guard(s.state.busy, s.what.c_str());
            Status st;
            {
              py::gil_scoped_release nogil;  // waits for the log to be durable up to the position
              st = seq ? sub.commit(*seq) : sub.commit();
            }
            check(st);
          },
          "Stores the position (or `sequence`) durably for a named subscriber of a persisted topic.",
          py::arg("sequence") = py::none());

  auto topic = py::reinterpret_borrow<py::class_<TopicHandle>>(m.attr("Topic"));
  topic.def(
      "subscribe",
      [](TopicHandle& t, const py::object& name, const py::object& start, std::optional<std::int64_t> start_time_ns,
         const std::string& slow, const std::string& wait, bool durable_only, std::size_t min_batch, double linger,
         const py::object& stream_gap) {
        SubscriberOptions o =
            subscriber_options(name, start, start_time_ns, slow, wait, durable_only, min_batch, linger, stream_gap);
        auto r = std::make_unique<PySubscriber>();
        r->what =
            "subscriber" + (o.name.empty() ? std::string() : " '" + o.name + "'") + " of '" + t.topic->name() + "'";
        r->reader = take(unlocked(*t.box, [&] { return t.topic->subscribe(o); }));
        return r;
      },
      "A new subscriber. start: 'latest' (the default: only what is published from now on), 'earliest' or a "
      "sequence; start_time_ns: the first record stamped at or after it. slow (memory-only topics): 'block' "
      "makes publishers wait for it, 'lose_oldest' lets it lose records. linger, stream_gap: seconds (stream_gap "
      "None: the default, 1 us).",
      py::kw_only(), py::arg("name") = py::none(), py::arg("start") = "latest", py::arg("start_time_ns") = py::none(),
      py::arg("slow") = "block", py::arg("wait") = "adaptive", py::arg("durable_only") = false,
      py::arg("min_batch") = 0, py::arg("linger") = 0.0, py::arg("stream_gap") = py::none());

  py::class_<PyLogReader> log(m, "LogReader",
                              "Follows a persisted topic of a data directory that an engine in another process (or "
                              "this one) writes: maps its segments read-only, takes no lock. One thread at a time.");
  bind_reader_common<LogReader>(log);
  log.def(py::init([](const py::object& data_dir, const std::string& topic, const py::object& start,
                      std::optional<std::int64_t> start_time_ns, const py::object& name, const std::string& wait,
                      double park_timeout) {
            LogReaderOptions o;
            o.start = start_of(start, start_time_ns);
            if (!name.is_none()) o.name = name.cast<std::string>();
            o.wait = wait_of(wait);
            o.park_timeout = seconds_to_ns(park_timeout, "park_timeout");
            std::string dir = path_of(data_dir);
            auto r = std::make_unique<PyLogReader>();
            r->what = "log reader of '" + topic + "'";
            Result<std::unique_ptr<LogReader>> opened = Status::OK();
            {
              py::gil_scoped_release nogil;
              opened = LogReader::open(dir, topic, o);
            }
            r->reader = take(std::move(opened));
            return r;
          }),
          py::arg("data_dir"), py::arg("topic"), py::kw_only(), py::arg("start") = "latest",
          py::arg("start_time_ns") = py::none(), py::arg("name") = py::none(), py::arg("wait") = "adaptive",
          py::arg("park_timeout") = 0.0005)
      .def(
          "poll",
          [](py::object self, std::size_t max_records, std::optional<double> timeout) {
            return poll_reader<LogReader>(self, max_records, timeout,
                                          [](LogReader& r, std::span<RecordView> out, std::optional<nanoseconds> t) {
                                            Result<PollResult> res = t ? r.poll(out, *t) : r.try_poll(out);
                                            if (!res.ok()) {
                                              PollResult failed;
                                              failed.status = res.status();
                                              return failed;
                                            }
                                            return *res;
                                          });
          },
          kPollDoc, py::arg("max_records") = 64, py::arg("timeout") = 0.0)
      .def_property_readonly("writer_restarts", [](PyLogReader& r) { return r.open_reader().writer_restarts(); })
      .def_property_readonly("writer_closed", [](PyLogReader& r) { return r.open_reader().writer_closed(); })
      .def(
          "commit",
          [](PyLogReader& r) {
            LogReader& reader = r.open_reader();
            OneThread guard(r.state.busy, r.what.c_str());
            Status st;
            {
              py::gil_scoped_release nogil;
              st = reader.commit();
            }
            check(st);
          },
          "Named readers: stores the position (no further than the log's durable watermark).");
}

}  // namespace conduit::python
