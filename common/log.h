// The engine's messages and the threads it starts, for the layers below
// engine/ as well: persistence/ is handed a LogSink and a ThreadStartHook
// (EngineOptions::log, EngineOptions::on_thread_start) rather than the
// engine's options.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "conduit/options.h"

namespace conduit::detail {

using LogSink = std::function<void(LogLevel, std::string_view)>;
using ThreadStartHook = std::function<void(std::string_view)>;

// "debug", "info", "warning", "error".
std::string_view level_name(LogLevel level) noexcept;

// Hands `message` to `sink`, or, when it is empty, writes
// "conduit: <level>: <message>" on stderr. A sink that throws is ignored:
// the engine says these things from places that cannot fail.
void log(const LogSink& sink, LogLevel level, std::string_view message) noexcept;

// Names the calling thread (pthread_setname_np; `name` at most 15
// characters) and runs `hook` with that name, if there is one.
void enter_named_thread(std::string_view name, const ThreadStartHook& hook) noexcept;

// A std::thread that first enters `name` (enter_named_thread), then runs `body`.
template <class Body>
std::thread start_named_thread(std::string_view name, ThreadStartHook hook, Body&& body) {
  return std::thread([name = std::string(name), hook = std::move(hook), body = std::forward<Body>(body)]() mutable {
    enter_named_thread(name, hook);
    body();
  });
}

}  // namespace conduit::detail
