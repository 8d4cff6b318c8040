// wait_poll (bindings.h): a poll's wait in slices, so that a Python thread
// waiting on conduit still sees KeyboardInterrupt and never holds the GIL.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

#include <pybind11/pybind11.h>

#include <conduit/engine.h>

namespace conduit::python {

template <class Once>
PollResult wait_poll(std::optional<double> timeout, Once&& once) {
  using clock = std::chrono::steady_clock;
  constexpr std::chrono::nanoseconds kSlice = std::chrono::milliseconds(100);
  if (timeout && *timeout <= 0) return once(std::optional<std::chrono::nanoseconds>{});
  std::optional<clock::time_point> deadline;
  if (timeout) deadline = clock::now() + seconds_to_ns(*timeout, "timeout");
  for (;;) {
    std::chrono::nanoseconds slice = kSlice;
    if (deadline)
      slice = std::clamp<std::chrono::nanoseconds>(*deadline - clock::now(), std::chrono::nanoseconds(0), kSlice);
    PollResult r;
    {
      pybind11::gil_scoped_release nogil;
      r = once(std::optional<std::chrono::nanoseconds>(slice));
    }
    if (r.count > 0 || r.lost > 0 || r.rewound > 0 || r.closed || !r.status.ok()) return r;
    if (PyErr_CheckSignals() != 0) throw pybind11::error_already_set();
    if (deadline && clock::now() >= *deadline) return r;
  }
}

}  // namespace conduit::python
