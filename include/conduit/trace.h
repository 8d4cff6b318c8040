// conduit — trace id propagation: a thread-local scope.
//
// While a TraceScope lives on a thread, every publish on that thread whose
// Message has no trace id gets the scope's (a message that sets its own
// keeps it). Open one around the handling of a consumed record, and what the
// handler publishes carries the record's trace id on:
//
//   for (each record r) { conduit::TraceScope scope(r); handle(r); }
//
// Scopes nest; the innermost wins, and an empty trace id hides the outer
// ones. The scope copies the id, so it may outlive the record's view.
// Thread safety: a scope belongs to the thread that made it; create and
// destroy it on that thread, innermost first (plain stack objects do that).
#pragma once

#include "conduit/export.h"

#include <string>
#include <string_view>

#include "conduit/message.h"

namespace conduit {

// Gives the calling thread's publishes `trace_id` until it is destroyed
// (conduit/trace.h).
class CONDUIT_EXPORT TraceScope {
 public:
  explicit TraceScope(std::string_view trace_id);                                   // copies the id
  explicit TraceScope(const RecordView& record) : TraceScope(record.trace_id()) {}  // the record's trace id
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

  // The calling thread's innermost scope's trace id; empty when none.
  static std::string_view current() noexcept;

 private:
  std::string id_;
  const std::string* outer_;
};

}  // namespace conduit
