// conduit.Engine and conduit.Topic.
#include "bindings.h"

#include "topic_handle.h"

namespace conduit::python {
namespace {

struct PyEngine {
  std::shared_ptr<EngineBox> box = std::make_shared<EngineBox>();

  // Engine::close, then destroys the engine (which frees its data directory
  // for another engine) once no call through a topic or work group is in
  // progress: close() made those return.
  void close() {
    py::gil_scoped_release nogil;
    {
      std::shared_lock lock(box->life);
      if (box->engine) box->engine->close();
    }
    std::unique_lock lock(box->life);
    box->engine.reset();
  }
};

TopicOptions topic_options(const std::string& durability, std::size_t segment_bytes, std::size_t ring_bytes,
                           std::size_t max_payload_bytes, std::size_t retain_bytes, double retain_age,
                           bool retain_until_consumed, std::size_t hard_cap_bytes, std::size_t dedup_max_ids,
                           double dedup_max_age, bool single_producer, bool shared, bool huge_pages) {
  TopicOptions o;
  o.durability = durability_of(durability);
  o.segment_bytes = segment_bytes;
  o.ring_bytes = ring_bytes;
  o.max_payload_bytes = max_payload_bytes;
  o.retain_bytes = retain_bytes;
  o.retain_age = std::chrono::duration_cast<std::chrono::seconds>(seconds_to_ns(retain_age, "retain_age"));
  o.retain_until_consumed = retain_until_consumed;
  o.hard_cap_bytes = hard_cap_bytes;
  o.dedup.max_ids = dedup_max_ids;
  o.dedup.max_age = seconds_to_ns(dedup_max_age, "dedup_max_age");
  o.single_producer = single_producer;
  o.shared = shared;
  o.huge_pages = huge_pages;
  return o;
}

}  // namespace

void bind_engine(py::module_& m) {
  py::class_<PyEngine>(m, "Engine",
                       "An engine. With data_dir, persisted topics live there and the directory is locked for this "
                       "engine until close() (or the end of a `with` block). Without, topics are memory-only.")
      .def(py::init([](py::object data_dir, double flush_interval, std::size_t flush_bytes, bool force_syscall_io,
                       double park_timeout, bool verify_on_open, bool read_only_on_corruption) {
             EngineOptions o;
             if (!data_dir.is_none()) o.data_dir = path_of(data_dir);
             o.flush_interval =
                 std::chrono::duration_cast<std::chrono::milliseconds>(seconds_to_ns(flush_interval, "flush_interval"));
             o.flush_bytes = flush_bytes;
             o.force_syscall_io = force_syscall_io;
             o.park_timeout =
                 std::chrono::duration_cast<std::chrono::microseconds>(seconds_to_ns(park_timeout, "park_timeout"));
             o.verify_on_open = verify_on_open;
             o.read_only_on_corruption = read_only_on_corruption;
             PyEngine e;
             Result<std::unique_ptr<Engine>> opened = Status::OK();
             {
               py::gil_scoped_release nogil;
               opened = Engine::open(std::move(o));
             }
             e.box->engine = take(std::move(opened));
             return e;
           }),
           py::arg("data_dir") = py::none(), py::kw_only(), py::arg("flush_interval") = 0.01,
           py::arg("flush_bytes") = std::size_t{4} << 20, py::arg("force_syscall_io") = false,
           py::arg("park_timeout") = 0.0005, py::arg("verify_on_open") = false,
           py::arg("read_only_on_corruption") = false)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyEngine& e, py::args) { e.close(); })
      .def("close", &PyEngine::close,
           "Wakes every waiter, refuses new publishes and frees the engine and its data directory. Topics, "
           "subscribers and consumers left open then raise ClosedError; records they handed out stay readable "
           "until their reader's next poll. Idempotent.")
      .def_property_readonly(
          "closed",
          [](PyEngine& e) { return locked(*e.box, [&] { return !e.box->engine || e.box->engine->closed(); }); })
      .def_property_readonly(
          "disk_io",
          [](PyEngine& e) { return with_engine(*e.box, [](Engine& en) { return en.disk_io_description(); }); })
      .def("now_ns", [](PyEngine& e) { return with_engine(*e.box, [](Engine& en) { return en.now_ns(); }); })
      .def(
          "create_topic",
          [](PyEngine& e, const std::string& name, const std::string& durability, std::size_t segment_bytes,
             std::size_t ring_bytes, std::size_t max_payload_bytes, std::size_t retain_bytes, double retain_age,
             bool retain_until_consumed, std::size_t hard_cap_bytes, std::size_t dedup_max_ids, double dedup_max_age,
             bool single_producer, bool shared, bool huge_pages) {
            TopicOptions o = topic_options(durability, segment_bytes, ring_bytes, max_payload_bytes, retain_bytes,
                                           retain_age, retain_until_consumed, hard_cap_bytes, dedup_max_ids,
                                           dedup_max_age, single_producer, shared, huge_pages);
            Result<Topic*> t = Status::OK();
            {
              py::gil_scoped_release nogil;
              std::shared_lock lock(e.box->life);
              t = e.box->engine ? e.box->engine->create_topic(name, o) : Status::Closed("the engine is closed");
            }
            return TopicHandle{e.box, take(std::move(t))};
          },
          "Creates the topic, or returns the existing one when its options match (AlreadyExistsError naming the "
          "first that differs). durability: 'memory', 'async' or 'sync'; ages in seconds. shared: a memory-only "
          "topic that processes attached to the engine may publish into and subscribe to. huge_pages: a memory-only "
          "topic's segments on transparent huge pages (fewer page faults, but each zeroes 2 MiB while a publisher "
          "waits).",
          py::arg("name"), py::kw_only(), py::arg("durability") = "memory", py::arg("segment_bytes") = 0,
          py::arg("ring_bytes") = std::size_t{64} << 20, py::arg("max_payload_bytes") = std::size_t{1} << 20,
          py::arg("retain_bytes") = 0, py::arg("retain_age") = 0.0, py::arg("retain_until_consumed") = false,
          py::arg("hard_cap_bytes") = 0, py::arg("dedup_max_ids") = 0, py::arg("dedup_max_age") = 0.0,
          py::arg("single_producer") = false, py::arg("shared") = false, py::arg("huge_pages") = false)
      .def(
          "topic",
          [](PyEngine& e, const std::string& name) {
            Result<Topic*> t = Status::OK();
            {
              py::gil_scoped_release nogil;
              std::shared_lock lock(e.box->life);
              t = e.box->engine ? e.box->engine->topic(name) : Status::Closed("the engine is closed");
            }
            return TopicHandle{e.box, take(std::move(t))};
          },
          "An existing topic (one of this engine's, or a persisted one in the data directory).", py::arg("name"))
      .def("topics", [](PyEngine& e) { return take(with_engine(*e.box, [](Engine& en) { return en.topics(); })); })
      .def(
          "delete_topic",
          [](PyEngine& e, const std::string& name) {
            Status s;
            {
              py::gil_scoped_release nogil;
              std::shared_lock lock(e.box->life);
              s = e.box->engine ? e.box->engine->delete_topic(name) : Status::Closed("the engine is closed");
            }
            check(s);
          },
          "Deletes the topic and its files. BusyError while subscribers or consumers of it are open.", py::arg("name"));

  bind_topic(m);
}

}  // namespace conduit::python
