// Records, their payload memoryviews and the leases that end them
// (bindings.h, "Record views").
#include "bindings.h"

namespace conduit::python {
namespace {

// The exporter behind a payload memoryview: a read-only buffer over the
// record's bytes in the log. It counts its exports, so a lease can tell
// whether anything (a slice of the memoryview, a numpy array) still holds
// the bytes, and once its lease ended it exports nothing more.
struct PayloadRef {
  PyObject_HEAD const char* data;
  Py_ssize_t size;
  Py_ssize_t exports;
  std::size_t* owner_exports;  // the reader's count; valid while `owner` is held
  PyObject* owner;             // the reader's Python object
  PyObject* weakrefs;          // the lease refers to it weakly (no cycle through the reader)
};

int payload_getbuffer(PyObject* self, Py_buffer* view, int flags) {
  auto* ref = reinterpret_cast<PayloadRef*>(self);
  if (ref->data == nullptr) {
    PyErr_SetString(PyExc_ValueError, "conduit: this record's view was released (its reader polled again or acked it)");
    return -1;
  }
  if (PyBuffer_FillInfo(view, self, const_cast<char*>(ref->data), ref->size, /*readonly=*/1, flags) != 0) return -1;
  ++ref->exports;
  ++*ref->owner_exports;
  return 0;
}

void payload_releasebuffer(PyObject* self, Py_buffer*) {
  auto* ref = reinterpret_cast<PayloadRef*>(self);
  --ref->exports;
  --*ref->owner_exports;
}

void payload_dealloc(PyObject* self) {
  auto* ref = reinterpret_cast<PayloadRef*>(self);
  if (ref->weakrefs != nullptr) PyObject_ClearWeakRefs(self);
  Py_XDECREF(ref->owner);
  Py_TYPE(self)->tp_free(self);
}

PyBufferProcs g_payload_buffer{payload_getbuffer, payload_releasebuffer};
PyTypeObject g_payload_type = [] {
  PyTypeObject t{};  // zeros, as PyVarObject_HEAD_INIT but the count
  Py_SET_REFCNT(reinterpret_cast<PyObject*>(&t), 1);
  t.tp_name = "conduit._PayloadRef";
  t.tp_basicsize = sizeof(PayloadRef);
  t.tp_dealloc = payload_dealloc;
  t.tp_as_buffer = &g_payload_buffer;
  t.tp_weaklistoffset = offsetof(PayloadRef, weakrefs);
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "The bytes of one record's payload in the log (behind Record.payload).";
  return t;
}();

std::uint64_t buffer_address(const py::object& o) {
  Py_buffer view;
  if (PyObject_GetBuffer(o.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
  auto address = reinterpret_cast<std::uintptr_t>(view.buf);
  PyBuffer_Release(&view);
  return address;
}

py::dict headers_of(const RecordView& v) {
  py::dict out;
  for (std::size_t i = 0; i < v.header_count(); ++i) {
    Header h = v.header(i);
    out[decode_text(h.name)] = decode_text(h.value);
  }
  return out;
}

py::list header_list_of(const RecordView& v) {
  py::list out;
  for (std::size_t i = 0; i < v.header_count(); ++i) {
    Header h = v.header(i);
    out.append(py::make_tuple(decode_text(h.name), decode_text(h.value)));
  }
  return out;
}

// An absent envelope field (empty) reads as None.
py::object optional_text(std::string_view s) { return s.empty() ? py::object(py::none()) : py::object(decode_text(s)); }

}  // namespace

py::object Lease::view(std::string_view bytes, const py::handle& owner, std::size_t* owner_exports) {
  auto* ref = PyObject_New(PayloadRef, &g_payload_type);
  if (ref == nullptr) throw py::error_already_set();
  ref->data = bytes.data();
  ref->size = static_cast<Py_ssize_t>(bytes.size());
  ref->exports = 0;
  ref->owner_exports = owner_exports;
  ref->owner = owner.inc_ref().ptr();
  ref->weakrefs = nullptr;
  auto exporter = py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(ref));
  auto view = py::reinterpret_steal<py::object>(PyMemoryView_FromObject(exporter.ptr()));
  if (!view) throw py::error_already_set();
  views_.emplace_back(py::weakref(exporter), py::weakref(view));
  return view;
}

void Lease::end(const std::string& what) {
  if (!live_) return;
  // Weak references: a view or exporter already gone holds nothing.
  auto alive = [](const py::weakref& w) -> PyObject* {
    PyObject* o = PyWeakref_GetObject(w.ptr());
    return o == Py_None ? nullptr : o;
  };
  bool held = false;
  for (auto& [exporter, view] : views_) {
    // Fails with BufferError when the memoryview itself is exported
    // (memoryview(v), numpy.frombuffer(v)); the count below then says so.
    if (PyObject* v = alive(view)) {
      if (PyObject* r = PyObject_CallMethod(v, "release", nullptr)) {
        Py_DECREF(r);
      } else {
        PyErr_Clear();
      }
    }
    if (PyObject* e = alive(exporter)) held = held || reinterpret_cast<PayloadRef*>(e)->exports > 0;
  }
  if (held) {
    throw py::buffer_error(what +
                           ": a payload view of the previous records is still held (a slice of it, or an object "
                           "made over it): copy what you keep with bytes(view) and drop the rest first");
  }
  for (auto& [exporter, view] : views_)
    if (PyObject* e = alive(exporter)) reinterpret_cast<PayloadRef*>(e)->data = nullptr;
  views_.clear();
  live_ = false;
}

RecordView Record::checked() const {
  if (!lease->live())
    throw py::value_error("record " + std::to_string(sequence) +
                          ": its view of the log was released (its reader polled again, or the delivery was acked, "
                          "nacked or dead-lettered); copy fields before that");
  return view;
}

OneThread::OneThread(std::atomic<bool>& busy, const char* what) : busy_(busy) {
  // acquire: sees what the previous holder wrote (its release store).
  if (busy_.exchange(true, std::memory_order_acquire))
    throw std::runtime_error(std::string(what) + " is in use by another thread (one thread at a time)");
}

void begin_poll(ReaderState& state, std::size_t max_records, const std::string& what) {
  if (state.closed) raise_code(Code::kClosed, what + " is closed");
  if (max_records == 0) raise_code(Code::kInvalidArgument, "max_records must be at least 1");
  state.lease->end(what);
  state.lease = std::make_shared<Lease>();
  state.out.resize(max_records);
}

Batch batch_of(const PollResult& result) {
  check(result.status);
  Batch batch;
  batch.lost = result.lost;
  batch.rewound = result.rewound;
  batch.closed = result.closed;
  return batch;
}

py::object make_batch(const py::handle& owner, ReaderState& state, const PollResult& result) {
  Batch batch = batch_of(result);
  for (std::size_t i = 0; i < result.count; ++i) {
    const RecordView& v = state.out[i];
    batch.records.append(py::cast(Record{v, v.sequence(), v.timestamp_ns(), state.lease,
                                         py::reinterpret_borrow<py::object>(owner), &state.exports, py::object()}));
  }
  return py::cast(std::move(batch));
}

void bind_records(py::module_& m) {
  if (PyType_Ready(&g_payload_type) != 0) throw py::error_already_set();
  py::class_<Record>(m, "Record",
                     "A record read from a topic. sequence and timestamp_ns are copied; every other field, and the "
                     "payload memoryview, read the mapped log in place (zero copy) and are valid until the reader's "
                     "next poll (a Delivery: until it is acked, nacked, failed or dead-lettered). The memoryview is "
                     "released then, so a use after raises ValueError; bytes(rec.payload) keeps a copy.")
      .def_readonly("sequence", &Record::sequence)
      .def_readonly("timestamp_ns", &Record::timestamp_ns)
      .def_property_readonly(
          "payload",
          [](Record& r) {
            RecordView v = r.checked();
            if (!r.payload) r.payload = r.lease->view(v.payload(), r.owner, r.owner_exports);
            return r.payload;
          },
          "The payload: a read-only memoryview of the log's bytes (no copy).")
      .def_property_readonly("key", [](const Record& r) { return optional_text(r.checked().key()); })
      .def_property_readonly("id", [](const Record& r) { return optional_text(r.checked().id()); })
      .def_property_readonly("correlation_id",
                             [](const Record& r) { return optional_text(r.checked().correlation_id()); })
      .def_property_readonly("reply_to", [](const Record& r) { return optional_text(r.checked().reply_to()); })
      .def_property_readonly("trace_id", [](const Record& r) { return optional_text(r.checked().trace_id()); })
      .def_property_readonly("content_type", [](const Record& r) { return optional_text(r.checked().content_type()); })
      .def_property_readonly("schema_version", [](const Record& r) { return r.checked().schema_version(); })
      .def_property_readonly(
          "headers", [](const Record& r) { return headers_of(r.checked()); },
          "The headers as a dict (a name given twice: the last value).")
      .def_property_readonly(
          "header_list", [](const Record& r) { return header_list_of(r.checked()); },
          "The headers as (name, value) pairs, in order, repeats kept.")
      .def_property_readonly(
          "_payload_address",
          [](const Record& r) { return reinterpret_cast<std::uintptr_t>(r.checked().payload().data()); },
          "Test hook: where the C++ RecordView's payload starts.")
      .def("__repr__", [](const Record& r) {
        return "<conduit.Record sequence=" + std::to_string(r.sequence) + (r.lease->live() ? "" : " released") + ">";
      });

  py::class_<Batch>(m, "Batch",
                    "What one poll returned: iterate it for the records. lost: records this reader lost just "
                    "before the first (lose-oldest or retention); rewound: how far a resumed position was set back "
                    "to the end of the log; closed: the engine closed and everything before was read.")
      .def_readonly("lost", &Batch::lost)
      .def_readonly("rewound", &Batch::rewound)
      .def_readonly("closed", &Batch::closed)
      .def("__len__", [](const Batch& b) { return b.records.size(); })
      .def("__iter__", [](const Batch& b) { return b.records.attr("__iter__")(); })
      .def("__getitem__", [](const Batch& b, py::object i) { return b.records[i]; })
      .def("__repr__", [](const Batch& b) {
        return "<conduit.Batch records=" + std::to_string(b.records.size()) + " lost=" + std::to_string(b.lost) +
               (b.closed ? " closed" : "") + ">";
      });

  m.def("_buffer_address", &buffer_address, "Test hook: the address of an object's buffer.");
}

}  // namespace conduit::python
