// The C API's shared pieces (capi/*.cpp): the guard that turns every C++
// outcome into a conduit_status, option and envelope conversions.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "conduit/conduit_c.h"
#include "conduit/engine.h"
#include "conduit/reader.h"

namespace conduit::capi {

inline std::string_view view(conduit_bytes b) noexcept { return {b.data, b.data == nullptr ? 0 : b.len}; }
inline conduit_bytes bytes(std::string_view s) noexcept { return {s.data(), s.size()}; }
inline std::string_view str(const char* s) noexcept { return s == nullptr ? std::string_view{} : std::string_view{s}; }

// Stores "CodeName: text" in *error (malloc'd; NULL where that fails) and
// returns code. Allocates nothing through C++, so it cannot throw.
conduit_status fail(conduit_status code, std::string_view text, char** error) noexcept;
conduit_status fail(const Status& status, char** error) noexcept;
inline conduit_status done(const Status& status, char** error) noexcept {
  if (status.ok()) {
    if (error != nullptr) *error = nullptr;
    return CONDUIT_OK;
  }
  return fail(status, error);
}

// Runs body (returning a Status) with every exception caught: nothing
// thrown crosses into C.
template <class Body>
conduit_status guard(char** error, Body&& body) noexcept {
  try {
    return done(body(), error);
  } catch (const Error& e) { return fail(e.status(), error); } catch (const std::bad_alloc&) {
    return fail(CONDUIT_OUT_OF_MEMORY, "an allocation failed", error);
  } catch (const std::exception& e) { return fail(CONDUIT_INTERNAL, e.what(), error); } catch (...) {
    return fail(CONDUIT_INTERNAL, "an exception of unknown type", error);
  }
}

// The C enum value `v` as the C++ enum E, when it is one of 0..max. Its
// bytes are read as an int: C may store any int in the field, which read as
// the C enum type would be undefined behaviour in C++.
template <class E, class C>
E enum_of(const C& v, int max, const char* what) {
  static_assert(sizeof(C) == sizeof(int));
  int i;
  std::memcpy(&i, &v, sizeof i);
  if (i < 0 || i > max)
    throw Error(Status::InvalidArgument(std::string(what) + " " + std::to_string(i) + " is not one of 0.." +
                                        std::to_string(max)));
  return static_cast<E>(i);
}

inline Status null_argument(const char* what) { return Status::InvalidArgument(std::string(what) + " is NULL"); }

StartAt start_of(const conduit_start& s);

// A C message as a C++ one; its headers are kept in `headers` (appended to).
Status to_message(const conduit_message& in, std::vector<Header>& headers, Message& out);

void fill_record(const RecordView& v, conduit_record& out, const conduit_header* headers);
conduit_poll_result poll_result(const PollResult& r) noexcept;

// Fills record_at(i) from view_at(i) for i < n, their headers into `headers`
// (replaced): it is sized first, so the records' arrays into it stay put
// until the next call with the same vector.
template <class ViewAt, class RecordAt>
void fill_records(std::size_t n, ViewAt&& view_at, RecordAt&& record_at, std::vector<conduit_header>& headers) {
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) total += view_at(i).header_count();
  headers.clear();
  headers.reserve(total);
  for (std::size_t i = 0; i < n; ++i) {
    const RecordView& v = view_at(i);
    const conduit_header* first = headers.data() + headers.size();
    for (std::size_t h = 0; h < v.header_count(); ++h) {
      Header hd = v.header(h);
      headers.push_back({bytes(hd.name), bytes(hd.value)});
    }
    fill_record(v, record_at(i), first);
  }
}

// A new C handle H owning what `r` holds (H::impl), stored in *out.
template <class H, class T>
Status adopt(Result<std::unique_ptr<T>> r, H** out) {
  if (!r.ok()) return r.status();
  auto handle = std::make_unique<H>();
  handle->impl = std::move(r.value());
  *out = handle.release();
  return Status::OK();
}

}  // namespace conduit::capi

// The handles: topic and work-group handles are the C++ objects themselves.
struct conduit_engine {
  std::unique_ptr<conduit::Engine> impl;
};
struct conduit_subscriber {
  std::unique_ptr<conduit::Subscriber> impl;
  std::vector<conduit::RecordView> views;
  std::vector<conduit_header> headers;
};
struct conduit_consumer {
  std::unique_ptr<conduit::Consumer> impl;
  std::vector<conduit::Delivery> deliveries;
  std::vector<conduit_header> headers;
};
struct conduit_log_reader {
  std::unique_ptr<conduit::LogReader> impl;
  std::vector<conduit::RecordView> views;
  std::vector<conduit_header> headers;
};

inline conduit::Topic* cxx(conduit_topic* t) noexcept { return reinterpret_cast<conduit::Topic*>(t); }
inline const conduit::Topic* cxx(const conduit_topic* t) noexcept { return reinterpret_cast<const conduit::Topic*>(t); }
inline conduit::WorkGroup* cxx(conduit_work_group* g) noexcept { return reinterpret_cast<conduit::WorkGroup*>(g); }
inline const conduit::WorkGroup* cxx(const conduit_work_group* g) noexcept {
  return reinterpret_cast<const conduit::WorkGroup*>(g);
}
