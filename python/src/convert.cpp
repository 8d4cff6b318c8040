// Python values to the C++ API's options and messages, and back.
#include "bindings.h"

#include <cmath>

namespace conduit::python {

py::str decode_text(std::string_view bytes) {
  PyObject* s = PyUnicode_DecodeUTF8(bytes.data(), static_cast<Py_ssize_t>(bytes.size()), "surrogateescape");
  if (s == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(s);
}

std::string path_of(const py::object& path) {
  py::object p = py::module_::import("os").attr("fsencode")(path);
  return p.cast<std::string>();
}

std::chrono::nanoseconds seconds_to_ns(double seconds, const char* what) {
  // One year bounds a wait far inside int64 nanoseconds.
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 365.0 * 86400)
    raise_code(Code::kInvalidArgument,
               std::string(what) + " must be 0 .. 31536000 seconds, not " + std::to_string(seconds));
  return std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
}

Durability durability_of(const std::string& name) {
  if (name == "memory") return Durability::kMemory;
  if (name == "async") return Durability::kAsync;
  if (name == "sync") return Durability::kSync;
  raise_code(Code::kInvalidArgument, "durability must be 'memory', 'async' or 'sync', not '" + name + "'");
}

const char* durability_name(Durability d) {
  switch (d) {
    case Durability::kMemory: return "memory";
    case Durability::kAsync: return "async";
    case Durability::kSync: return "sync";
  }
  return "unknown";
}

WaitStrategy wait_of(const std::string& name) {
  if (name == "adaptive") return WaitStrategy::kAdaptive;
  if (name == "park") return WaitStrategy::kPark;
  if (name == "yield") return WaitStrategy::kYield;
  if (name == "busy_spin") return WaitStrategy::kBusySpin;
  raise_code(Code::kInvalidArgument, "wait must be 'adaptive', 'park', 'yield' or 'busy_spin', not '" + name + "'");
}

StartAt start_of(const py::object& start, std::optional<std::int64_t> time_ns) {
  if (time_ns) return StartAt::time(*time_ns);
  if (py::isinstance<py::str>(start)) {
    auto name = start.cast<std::string>();
    if (name == "latest") return StartAt::latest();
    if (name == "earliest") return StartAt::earliest();
    raise_code(Code::kInvalidArgument, "start must be 'latest', 'earliest' or a sequence, not '" + name + "'");
  }
  if (py::isinstance<py::int_>(start) && !py::isinstance<py::bool_>(start)) {
    auto seq = start.cast<long long>();
    if (seq < 0) raise_code(Code::kInvalidArgument, "start sequence must not be negative");
    return StartAt::at(static_cast<std::uint64_t>(seq));
  }
  raise_code(Code::kInvalidArgument, "start must be 'latest', 'earliest' or a sequence (int)");
}

namespace {

// A str as UTF-8 (surrogateescape, as decode_text), or bytes as they are;
// the object kept alive in `keep` holds the bytes the view points into.
std::string_view encode_text(const py::handle& value, std::vector<py::object>& keep, const char* field) {
  if (PyBytes_Check(value.ptr())) {
    keep.push_back(py::reinterpret_borrow<py::object>(value));
    return {PyBytes_AS_STRING(value.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(value.ptr()))};
  }
  if (!PyUnicode_Check(value.ptr())) throw py::type_error(std::string(field) + " must be str or bytes");
  PyObject* b = PyUnicode_AsEncodedString(value.ptr(), "utf-8", "surrogateescape");
  if (b == nullptr) throw py::error_already_set();
  keep.push_back(py::reinterpret_steal<py::object>(b));
  return {PyBytes_AS_STRING(b), static_cast<std::size_t>(PyBytes_GET_SIZE(b))};
}

void lower_headers(Lowered& out, const py::handle& headers) {
  py::object items =
      py::isinstance<py::dict>(headers) ? headers.attr("items")() : py::reinterpret_borrow<py::object>(headers);
  for (py::handle item : items) {
    py::tuple pair = py::reinterpret_borrow<py::object>(item).cast<py::tuple>();
    if (pair.size() != 2) throw py::type_error("headers: each item must be a (name, value) pair");
    out.headers.push_back(
        {encode_text(pair[0], out.keep, "header name"), encode_text(pair[1], out.keep, "header value")});
  }
  out.message.headers = out.headers;
}

}  // namespace

void lower(Lowered& out, const py::handle& payload, const py::dict& fields) {
  if (PyUnicode_Check(payload.ptr())) {
    out.message.payload = encode_text(payload, out.keep, "payload");
  } else {
    if (!PyObject_CheckBuffer(payload.ptr())) throw py::type_error("payload must be bytes-like or str");
    auto held = std::make_unique<HeldBuffer>();
    // PyBUF_SIMPLE: contiguous bytes, or the exporter refuses.
    if (PyObject_GetBuffer(payload.ptr(), &held->view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    held->held = true;
    out.message.payload = {static_cast<const char*>(held->view.buf), static_cast<std::size_t>(held->view.len)};
    out.payload = std::move(held);
  }
  for (auto [k, v] : fields) {
    auto name = k.cast<std::string>();
    if (v.is_none()) continue;
    if (name == "key")
      out.message.key = encode_text(v, out.keep, "key");
    else if (name == "id")
      out.message.id = encode_text(v, out.keep, "id");
    else if (name == "correlation_id")
      out.message.correlation_id = encode_text(v, out.keep, "correlation_id");
    else if (name == "reply_to")
      out.message.reply_to = encode_text(v, out.keep, "reply_to");
    else if (name == "trace_id")
      out.message.trace_id = encode_text(v, out.keep, "trace_id");
    else if (name == "content_type")
      out.message.content_type = encode_text(v, out.keep, "content_type");
    else if (name == "schema_version")
      out.message.schema_version = v.cast<std::uint32_t>();
    else if (name == "timestamp_ns")
      out.message.timestamp_ns = v.cast<std::int64_t>();
    else if (name == "headers")
      lower_headers(out, v);
    else
      throw py::type_error("unexpected keyword argument '" + name + "'");
  }
}

struct PyMessage {
  py::object payload;
  py::dict fields;
};

void bind_message(py::module_& m) {
  py::class_<PyMessage>(m, "Message",
                        "A message for Topic.publish_batch: a payload and the keyword arguments of Topic.publish.")
      .def(py::init([](py::object payload, py::kwargs fields) {
             Lowered check;  // refuses a bad field now rather than at publish
             lower(check, payload, fields);
             return PyMessage{std::move(payload), py::dict(fields)};
           }),
           py::arg("payload"))
      .def_property_readonly("payload", [](const PyMessage& m) { return m.payload; })
      .def_property_readonly("fields", [](const PyMessage& m) { return m.fields; });
}

void lower_item(Lowered& out, const py::handle& item) {
  if (py::isinstance<PyMessage>(item)) {
    const auto& m = item.cast<const PyMessage&>();
    lower(out, m.payload, m.fields);
  } else {
    lower(out, item, py::dict());
  }
}

}  // namespace conduit::python
