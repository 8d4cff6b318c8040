// conduit — errors as values.
//
// Every operation that can fail returns a Status or a Result<T>; nothing is
// thrown through the API, except by Result::value() (and `*`, `->`) called on
// an error: that throws conduit::Error carrying the Status, so
// `create_topic(...).value()` in a quick program fails with the reason. A
// Status names what failed (topic, file, offset) in its message. Thread
// safety: values; no shared state.
#pragma once

#include "conduit/export.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace conduit {

// What a Status says went wrong; kOk is success.
enum class Code : std::uint8_t {
  kOk = 0,
  kInvalidArgument,  // bad name, bad option, malformed message
  kTooLarge,         // a payload over max_payload_bytes, or an envelope field over its limit
  kClosed,           // the engine (or topic) was closed
  kNotFound,
  kAlreadyExists,
  kCorruption,  // a record or segment failed its checks
  kIOError,     // the operating system refused (errno in the message)
  kBusy,        // held by someone else (e.g. a locked data directory)
  kTimedOut,
  kUnsupported,
  kReadOnly,  // the topic was opened read-only (its log is damaged; the message says where)
};

// The code's name ("NotFound"), a static string.
CONDUIT_EXPORT const char* code_name(Code code) noexcept;

// The outcome of a call: OK, or a Code with a message saying what failed
// (and where: file and offset for damage).
class [[nodiscard]] CONDUIT_EXPORT Status {
 public:
  Status() noexcept = default;

  // Each makes a Status of the code it is named after, with `msg` as its
  // message (OK: none).
  // @{
  static Status OK() noexcept { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status TooLarge(std::string msg) { return {Code::kTooLarge, std::move(msg)}; }
  static Status Closed(std::string msg) { return {Code::kClosed, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {Code::kAlreadyExists, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status Busy(std::string msg) { return {Code::kBusy, std::move(msg)}; }
  static Status TimedOut(std::string msg) { return {Code::kTimedOut, std::move(msg)}; }
  static Status Unsupported(std::string msg) { return {Code::kUnsupported, std::move(msg)}; }
  static Status ReadOnly(std::string msg) { return {Code::kReadOnly, std::move(msg)}; }
  // @}

  bool ok() const noexcept { return code_ == Code::kOk; }           // code() is kOk
  Code code() const noexcept { return code_; }                      // what went wrong; kOk when nothing did
  const std::string& message() const noexcept { return message_; }  // empty when OK
  // "Corruption: segment 00000000000000000000 offset 4096: bad crc"
  std::string to_string() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// What Result::value() throws when it holds an error: what() is
// Status::to_string() ("NotFound: topic 'x' does not exist").
class CONDUIT_EXPORT Error : public std::runtime_error {
 public:
  explicit Error(Status status);                             // status must not be OK
  const Status& status() const noexcept { return status_; }  // the error it carries

 private:
  Status status_;
};

namespace detail {
[[noreturn]] CONDUIT_EXPORT void throw_error(const Status& status);
}  // namespace detail

// A value or the Status that says why there is none. value(), `*` and `->`
// on an error throw conduit::Error with that Status; check ok() first where
// an error is expected.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be OK

  bool ok() const noexcept { return v_.index() == 0; }      // a value is held
  explicit operator bool() const noexcept { return ok(); }  // ok()
  // The value; throws Error when there is none.
  // @{
  T& value() & {
    check();
    return *std::get_if<0>(&v_);
  }
  const T& value() const& {
    check();
    return *std::get_if<0>(&v_);
  }
  T&& value() && {
    check();
    return std::move(*std::get_if<0>(&v_));
  }
  T& operator*() & { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // @}
  // The error; Status::OK() when a value is held.
  Status status() const { return ok() ? Status::OK() : *std::get_if<1>(&v_); }

 private:
  void check() const {
    if (!ok()) [[unlikely]]
      detail::throw_error(*std::get_if<1>(&v_));
  }
  std::variant<T, Status> v_;
};

}  // namespace conduit
