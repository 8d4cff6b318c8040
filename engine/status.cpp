// Status rendering: "CodeName: message", or "OK".
#include "conduit/status.h"

#include <utility>

namespace conduit {

const char* code_name(Code code) noexcept {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kTooLarge: return "TooLarge";
    case Code::kClosed: return "Closed";
    case Code::kNotFound: return "NotFound";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IOError";
    case Code::kBusy: return "Busy";
    case Code::kTimedOut: return "TimedOut";
    case Code::kUnsupported: return "Unsupported";
    case Code::kReadOnly: return "ReadOnly";
  }
  return "Unknown";
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  std::string out = code_name(code_);
  out += ": ";
  out += message_;
  return out;
}

Error::Error(Status status) : std::runtime_error(status.to_string()), status_(std::move(status)) {}

void detail::throw_error(const Status& status) { throw Error(status); }

}  // namespace conduit
