// The extension module conduit._conduit; python/conduit/__init__.py
// re-exports it. Each area binds itself from its own file.
#include "bindings.h"

PYBIND11_MODULE(_conduit, m) {
  namespace cp = conduit::python;
  m.doc() = "conduit: topics with fan-out, work queues and a write-ahead log (the C++ engine's bindings).";
  cp::bind_errors(m);
  cp::bind_message(m);
  cp::bind_records(m);
  cp::bind_engine(m);
  cp::bind_readers(m);
  cp::bind_work_groups(m);
}
