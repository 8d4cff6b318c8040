#include "common/log.h"

#include <pthread.h>

#include <cstdio>

namespace conduit::detail {

std::string_view level_name(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "unknown";
}

void log(const LogSink& sink, LogLevel level, std::string_view message) noexcept {
  if (sink) {
    try {
      sink(level, message);
    } catch (...) {}
    return;
  }
  const std::string_view l = level_name(level);
  std::fprintf(stderr, "conduit: %.*s: %.*s\n", static_cast<int>(l.size()), l.data(), static_cast<int>(message.size()),
               message.data());
}

void enter_named_thread(std::string_view name, const ThreadStartHook& hook) noexcept {
  char buf[16] = {};
  name.copy(buf, sizeof buf - 1);
  pthread_setname_np(pthread_self(), buf);
  if (hook) {
    try {
      hook(name);
    } catch (...) {}
  }
}

}  // namespace conduit::detail
