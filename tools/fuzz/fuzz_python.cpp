// Fuzz target: the Python module (python/), through CPython embedded in the
// fuzzer. The first input starts the interpreter and imports the built
// package (CONDUIT_PYTHON_DIR) and tools/fuzz/python_driver.py, whose run()
// reads the input as a sequence of calls with arguments of right and wrong
// types (see there). A call may raise what a bad argument may raise; any
// other exception escapes run() and aborts here with its traceback, and a
// crash in the bindings is the sanitizers'. The extension is compiled with
// the fuzz build's coverage instrumentation, so the fuzzer is guided
// through the bindings and the library under them; the interpreter is not
// instrumented (Debian has no Atheris, which would also trace the driver's
// Python lines).
#define PY_SSIZE_T_CLEAN  // Py_ssize_t lengths for "y#"
#include <Python.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_support.h"
#include "tests/support/temp_dir.h"

namespace {

PyObject* g_run = nullptr;

void fail_with_traceback(const char* what) {
  std::fprintf(stderr, "fuzz_python: %s\n", what);
  PyErr_Print();
  std::abort();
}

void start() {
  if (g_run != nullptr) return;
  Py_InitializeEx(0);                        // no signal handlers: libFuzzer's stay
  PyObject* path = PySys_GetObject("path");  // borrowed
  FUZZ_CHECK(path != nullptr);
  for (const char* dir : {CONDUIT_FUZZ_DRIVER_DIR, CONDUIT_PYTHON_DIR}) {
    PyObject* d = PyUnicode_FromString(dir);
    FUZZ_CHECK(d != nullptr && PyList_Insert(path, 0, d) == 0);
    Py_DECREF(d);
  }
  PyObject* driver = PyImport_ImportModule("python_driver");
  if (driver == nullptr) fail_with_traceback("cannot import python_driver (is the conduit_python target built?)");
  g_run = PyObject_GetAttrString(driver, "run");
  Py_DECREF(driver);
  if (g_run == nullptr) fail_with_traceback("python_driver has no run()");
}

}  // namespace

// The interpreter is never finalized, and it and pybind11 keep what they
// allocated to the end: not ours to report as leaks (ASan builds only read this).
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  start();  // before the first input: the extension's coverage counters are registered up front
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  start();
  const conduit::test::TempDir dir(conduit::test::scratch_base());
  PyObject* result = PyObject_CallFunction(g_run, "y#s", reinterpret_cast<const char*>(data),
                                           static_cast<Py_ssize_t>(size), dir.path.c_str());
  if (result == nullptr) fail_with_traceback("a call raised what it must not");
  Py_DECREF(result);
  return 0;
}
