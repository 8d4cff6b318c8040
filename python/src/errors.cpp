// conduit.Error and one subclass per status code. Each carries `code` (the
// number of conduit::Code), `code_name` ("NotFound") and `message` (the
// Status message: what failed, with its file and offset where there is
// one); str(e) is Status::to_string(). Some subclasses are also the
// built-in exception Python code already catches for that case.
#include "bindings.h"

#include <array>

namespace conduit::python {
namespace {

struct Kind {
  Code code;
  const char* name;
  PyObject* builtin;  // a second base, or null
};

// Filled in bind_errors, with the GIL; the classes live as long as the
// interpreter (the module keeps them), so plain pointers do.
constexpr std::size_t kCodes = static_cast<std::size_t>(Code::kReadOnly) + 1;
std::array<PyObject*, kCodes> g_classes{};
PyObject* g_error = nullptr;

}  // namespace

void bind_errors(py::module_& m) {
  g_error = PyErr_NewExceptionWithDoc("conduit.Error",
                                      "An error from conduit. code: the status code (int), code_name: its name, "
                                      "message: what failed, naming the file and offset where there is one.",
                                      PyExc_Exception, nullptr);
  if (g_error == nullptr) throw py::error_already_set();
  m.attr("Error") = py::handle(g_error);
  const std::array<Kind, kCodes - 1> kinds{{
      {Code::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError},
      {Code::kTooLarge, "TooLargeError", PyExc_ValueError},
      {Code::kClosed, "ClosedError", nullptr},
      {Code::kNotFound, "NotFoundError", PyExc_LookupError},
      {Code::kAlreadyExists, "AlreadyExistsError", nullptr},
      {Code::kCorruption, "CorruptionError", nullptr},
      {Code::kIOError, "IOFailureError", PyExc_OSError},
      {Code::kBusy, "BusyError", nullptr},
      {Code::kTimedOut, "TimedOutError", PyExc_TimeoutError},
      {Code::kUnsupported, "UnsupportedError", nullptr},
      {Code::kReadOnly, "ReadOnlyError", nullptr},
  }};
  for (const Kind& k : kinds) {
    std::string qualified = std::string("conduit.") + k.name;
    py::tuple bases = k.builtin != nullptr ? py::make_tuple(py::handle(g_error), py::handle(k.builtin))
                                           : py::make_tuple(py::handle(g_error));
    PyObject* cls = PyErr_NewException(qualified.c_str(), bases.ptr(), nullptr);
    if (cls == nullptr) throw py::error_already_set();
    g_classes[static_cast<std::size_t>(k.code)] = cls;
    m.attr(k.name) = py::handle(cls);
  }
  // An argument the bindings take as an object and cast themselves (a name
  // that may be None, a start that is a str or an int) is TypeError when it
  // is neither, as for the arguments pybind11 converts; pybind11 itself
  // would say RuntimeError (the python fuzzer's
  // regression-cast-error-is-type-error).
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const py::cast_error& e) { PyErr_SetString(PyExc_TypeError, e.what()); }
  });
  // The codes by name, as Error.code carries them.
  py::dict codes;
  for (std::size_t c = 0; c < kCodes; ++c) codes[code_name(static_cast<Code>(c))] = c;
  m.attr("CODES") = codes;
}

void raise_code(Code code, const std::string& message) {
  PyObject* cls = g_classes[static_cast<std::size_t>(code)];
  if (cls == nullptr) cls = g_error;
  std::string text = std::string(code_name(code)) + ": " + message;
  py::object error = py::handle(cls)(decode_text(text));
  error.attr("code") = static_cast<int>(code);
  error.attr("code_name") = code_name(code);
  error.attr("message") = decode_text(message);
  PyErr_SetObject(cls, error.ptr());
  throw py::error_already_set();
}

void raise_status(const Status& status) { raise_code(status.code(), status.message()); }

}  // namespace conduit::python
