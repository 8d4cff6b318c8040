#include "conduit/trace.h"

#include "engine/trace.h"

namespace conduit {
namespace detail {

constinit thread_local const std::string* current_trace __attribute__((tls_model("initial-exec"))) = nullptr;

}  // namespace detail

TraceScope::TraceScope(std::string_view trace_id) : id_(trace_id), outer_(detail::current_trace) {
  detail::current_trace = &id_;
}

TraceScope::~TraceScope() { detail::current_trace = outer_; }

std::string_view TraceScope::current() noexcept {
  return detail::current_trace == nullptr ? std::string_view() : std::string_view(*detail::current_trace);
}

}  // namespace conduit
