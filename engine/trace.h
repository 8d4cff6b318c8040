// The thread's current trace id (TraceScope), read by publish.
//
// Thread safety: thread-local; each thread sees only its own scopes.
#pragma once

#include <string>

namespace conduit::detail {

// The innermost TraceScope's id on this thread, or nullptr. constinit: no
// dynamic initialisation, so reading it is one TLS load (initial-exec: the
// library is linked into the program, not dlopen'ed).
extern constinit thread_local const std::string* current_trace __attribute__((tls_model("initial-exec")));

}  // namespace conduit::detail
