// The C API fuzzer's property checks on what every call returns: a status
// conduit_c.h documents, and an error text that says which code and why.
//
// Thread safety: none needed; a fuzz target runs one input at a time.
#pragma once

#include <conduit/conduit_c.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_support.h"

namespace conduit::fuzz {

inline bool documented(int st) {
  return (st >= CONDUIT_OK && st <= CONDUIT_READ_ONLY) || st == CONDUIT_OUT_OF_MEMORY || st == CONDUIT_INTERNAL;
}

// An error string the C API returned with `st`: NULL on success, else
// "CodeName: text" with some text. Frees it.
inline void check_error(conduit_status st, char* error) {
  FUZZ_CHECK(documented(st));
  FUZZ_CHECK(st != CONDUIT_INTERNAL);  // an unexpected C++ exception: a bug
  if (st == CONDUIT_OK) {
    FUZZ_CHECK(error == nullptr);
    return;
  }
  FUZZ_CHECK(error != nullptr);
  const std::string prefix = std::string(conduit_status_message(st)) + ": ";
  const std::string_view text(error);
  if (!text.starts_with(prefix) || text.size() == prefix.size()) {
    std::fprintf(stderr, "status %d with error text '%s'\n", static_cast<int>(st), error);
    FUZZ_CHECK(!"an error text is 'CodeName: why'");
  }
  conduit_error_free(error);
}

// Calls an API function taking `char** error` last: checks what it returns.
template <class F, class... A>
conduit_status call(F f, A... args) {
  char* error = reinterpret_cast<char*>(1);  // must be overwritten
  const conduit_status st = f(args..., &error);
  check_error(st, error);
  return st;
}

// A call expected to fail with `want` (a NULL handle, a bad argument).
template <class F, class... A>
void refused(conduit_status want, F f, A... args) {
  const conduit_status st = call(f, args...);
  if (st != want) {
    std::fprintf(stderr, "expected status %d, got %d\n", static_cast<int>(want), static_cast<int>(st));
    FUZZ_CHECK(st == want);
  }
}

}  // namespace conduit::fuzz
