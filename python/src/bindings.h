// conduit's Python extension (_conduit): what the binding files share.
//
// The extension binds the C++ API directly (pybind11). Three rules run
// through it:
//   - Errors: every Status that is not OK is raised as the conduit.Error
//     subclass of its code (errors.cpp); no C++ exception crosses into
//     Python unconverted.
//   - The GIL: a call that can block (a poll with a timeout, a sync publish,
//     a publish waiting for ring space, await_durable, wait_drained, engine
//     open and close) runs without it, so other Python threads go on.
//   - Record views: a record's fields and its payload memoryview read the
//     log in place. They are handed out under a Lease that ends at the
//     reader's next poll (a Subscriber or LogReader) or at the delivery's
//     ack/nack/dead-letter (a Consumer). Ending it releases the memoryviews,
//     so a view used afterwards raises ValueError instead of reading freed
//     memory; while something still holds the buffer (a slice, a numpy
//     array over it) the lease cannot end and the poll or ack raises
//     BufferError instead of moving on.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <conduit/conduit.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace conduit::python {

namespace py = pybind11;

// ------------------------------------------------------------------ errors ---
void bind_errors(py::module_& m);
// Raises the conduit.Error subclass of status.code(), carrying code and message.
[[noreturn]] void raise_status(const Status& status);
inline void check(const Status& status) {
  if (!status.ok()) raise_status(status);
}
template <class T>
T take(Result<T>&& result) {
  if (!result.ok()) raise_status(result.status());
  return std::move(*result);
}
// An error of `code` with `message`, not from the engine (a bad option name).
[[noreturn]] void raise_code(Code code, const std::string& message);

// ----------------------------------------------------------------- options ---
Durability durability_of(const std::string& name);
const char* durability_name(Durability d);
WaitStrategy wait_of(const std::string& name);
// "latest", "earliest" or a sequence (int); time_ns, when given, wins.
StartAt start_of(const py::object& start, std::optional<std::int64_t> time_ns);
// Seconds (a float, as time.sleep takes) to nanoseconds; negative is refused.
std::chrono::nanoseconds seconds_to_ns(double seconds, const char* what);
// Bytes from the log (or a Status message) as str: UTF-8, with any byte
// that is not UTF-8 kept as a lone surrogate ("surrogateescape"), so that
// encode_text gives the same bytes back.
py::str decode_text(std::string_view bytes);
// os.fspath(path) as a std::string.
std::string path_of(const py::object& path);

// ----------------------------------------------------------------- messages ---
// A Message and what keeps its views valid: the Python objects and buffers
// its fields point into. Built with the GIL; its `message` may then be used
// without it (the owned buffers stay exported, so a bytearray cannot move).
struct HeldBuffer {
  Py_buffer view{};
  bool held = false;
  HeldBuffer() = default;
  HeldBuffer(const HeldBuffer&) = delete;
  HeldBuffer& operator=(const HeldBuffer&) = delete;
  ~HeldBuffer() {
    if (held) PyBuffer_Release(&view);
  }
};
struct Lowered {
  Message message;
  std::vector<Header> headers;
  std::vector<py::object> keep;
  std::unique_ptr<HeldBuffer> payload;
};
// payload: bytes-like or str; fields: the keyword arguments of Topic.publish
// (key, id, headers, ...), unknown ones refused with TypeError.
void lower(Lowered& out, const py::handle& payload, const py::dict& fields);
// An item of publish_batch: a conduit.Message or a bare payload.
void lower_item(Lowered& out, const py::handle& item);
void bind_message(py::module_& m);

// ------------------------------------------------------------ record views ---
// The views one poll (or one delivery) handed out; see the top. GIL held.
class Lease {
 public:
  bool live() const noexcept { return live_; }
  // A new read-only memoryview of `bytes`, released when the lease ends.
  // `owner` is the reader's Python object: the view keeps it, and so its
  // mapping, alive. `owner_exports` counts the reader's buffers exported.
  py::object view(std::string_view bytes, const py::handle& owner, std::size_t* owner_exports);
  // Releases every view. BufferError (and the lease stays) when something
  // still holds one; `what` names the reader in the message.
  void end(const std::string& what);

 private:
  bool live_ = true;
  std::vector<std::pair<py::weakref, py::weakref>> views_;  // (exporter, memoryview)
};

// A record as Python sees it: its sequence and timestamp are copied, the
// rest is read from the log while the lease lives.
struct Record {
  RecordView view;
  std::uint64_t sequence = 0;
  std::int64_t timestamp_ns = 0;
  std::shared_ptr<Lease> lease;
  py::object owner;  // the reader's Python object: keeps the mapping alive
  std::size_t* owner_exports = nullptr;
  py::object payload;  // the memoryview, made on first use

  RecordView checked() const;
};

// One poll's answer: iterable over its records.
struct Batch {
  py::list records;
  std::uint64_t lost = 0;
  std::uint64_t rewound = 0;
  bool closed = false;
};

// A Batch with the result's counters and no records yet; raises the
// result's error if it has one.
Batch batch_of(const PollResult& result);

// Waits for a poll as Python expects: timeout 0 tries once with the GIL
// held; otherwise the GIL is released and the wait goes in slices of at
// most 100 ms, between which signals are checked (KeyboardInterrupt works).
// None: wait until something comes. `once(nullopt)` is try_poll,
// `once(t)` a poll waiting up to t; both return a PollResult.
template <class Once>
PollResult wait_poll(std::optional<double> timeout, Once&& once);

void bind_records(py::module_& m);

// Something exclusive to one thread at a time (a Subscriber, Consumer,
// LogReader): a second thread gets RuntimeError instead of a data race.
class OneThread {
 public:
  OneThread(std::atomic<bool>& busy, const char* what);
  ~OneThread() { busy_.store(false, std::memory_order_release); }  // pairs with the acquire exchange
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  std::atomic<bool>& busy_;
};

// -------------------------------------------------------------- the engine ---
// The engine and the lock that keeps it alive under calls through its
// topics and work groups: the C++ API leaves a Topic or WorkGroup call
// racing the engine's destruction undefined, and Python threads can make
// one. Shared: such a call; unique: destroying the engine (Engine.close).
// A caller that releases the GIL takes the lock after releasing it, so
// nobody waits for the lock while holding the GIL that a holder of the lock
// needs.
struct EngineBox {
  std::shared_mutex life;
  std::unique_ptr<Engine> engine;  // null once closed
};

void bind_engine(py::module_& m);
void bind_readers(py::module_& m);
void bind_work_groups(py::module_& m);

// The shared record readers' (Subscriber, LogReader) state.
struct ReaderState {
  std::atomic<bool> busy{false};
  std::size_t exports = 0;  // buffers of this reader's records held anywhere (GIL)
  std::shared_ptr<Lease> lease = std::make_shared<Lease>();
  std::vector<RecordView> out;
  bool closed = false;
};
// Ends the last poll's lease and readies `out` for up to max_records.
void begin_poll(ReaderState& state, std::size_t max_records, const std::string& what);
// The Batch of out[0, result.count), raising the result's error if any.
py::object make_batch(const py::handle& owner, ReaderState& state, const PollResult& result);

}  // namespace conduit::python

#include "wait_poll.h"
