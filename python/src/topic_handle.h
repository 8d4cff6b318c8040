// What a Python Topic or WorkGroup holds: the C++ handle and the engine's
// box (bindings.h, EngineBox), whose lock every call through the handle
// takes. The C++ handles stay valid after the engine is destroyed (they
// answer kClosed), so only the race with its destruction needs the lock.
#pragma once

#include "bindings.h"

namespace conduit::python {

struct TopicHandle {
  std::shared_ptr<EngineBox> box;
  Topic* topic;
};

struct WorkGroupHandle {
  std::shared_ptr<EngineBox> box;
  WorkGroup* group;
  Durability durability;
};

// f() under the engine's lock, with the GIL held: for calls that never block.
template <class F>
auto locked(EngineBox& box, F&& f) {
  std::shared_lock lock(box.life);
  return f();
}

// f() without the GIL, then under the engine's lock (in that order: see
// EngineBox). f must not touch Python objects.
template <class F>
auto unlocked(EngineBox& box, F&& f) {
  py::gil_scoped_release nogil;
  std::shared_lock lock(box.life);
  return f();
}

// The Engine under the lock, or ClosedError.
template <class F>
auto with_engine(EngineBox& box, F&& f) {
  std::shared_lock lock(box.life);
  if (!box.engine) raise_code(Code::kClosed, "the engine is closed");
  return f(*box.engine);
}

void bind_topic(py::module_& m);

}  // namespace conduit::python
