// An attached process's connection to the engine that owns a data
// directory (conduit/attach.h): connect and greet, then one request and
// its reply at a time (engine/ipc_wire.h).
//
// Thread safety: one caller at a time (its owner's lock, or its one
// consumer thread). gone() from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "conduit/status.h"
#include "engine/ipc_wire.h"

namespace conduit::detail {

class IpcConnection {
 public:
  // Connects to DATA_DIR/control.sock and says hello. kNotFound "no engine
  // owns DIR", kIOError for another user's directory, or the owner's
  // refusal (another user, another protocol version).
  static Result<std::unique_ptr<IpcConnection>> open(const std::string& data_dir);
  ~IpcConnection();
  IpcConnection(const IpcConnection&) = delete;
  IpcConnection& operator=(const IpcConnection&) = delete;

  // Sends `request` and returns its reply packet (a status first, then
  // what the op returns). Once the owner is gone (or the socket failed)
  // every call returns the same kClosed (or error) without trying.
  Result<std::string> call(const ipc::Writer& request) { return call_fd(request, nullptr); }
  // call(), taking the descriptor the reply carries (*fd, -1 when none;
  // the caller closes it). `fd` null: none is taken.
  Result<std::string> call_fd(const ipc::Writer& request, int* fd) {
    return call_fds(request, fd != nullptr ? std::span<int>(fd, 1) : std::span<int>());
  }
  // call_fd() for a reply with up to ipc::kMaxFds descriptors (each -1
  // when it did not come).
  Result<std::string> call_fds(const ipc::Writer& request, std::span<int> fds);
  // call() in its two halves, for a request whose reply is taken later (an
  // attached consumer's prefetched poll): nothing else is sent between.
  // send() fails only once the connection is broken; a failed send shows
  // in the receive() after it.
  Status send(const ipc::Writer& request);
  Result<std::string> receive(std::span<int> fds = {});
  // OK, or why the connection is unusable (kept from the first failure).
  Status broken() const;
  // Without waiting or sending: whether the owner closed its end (it died
  // or destroyed its engine); then broken() says kClosed. A poll(2) of the
  // socket. Between calls only (one caller at a time, as call()).
  bool owner_gone();

 private:
  IpcConnection(std::string dir, int fd) : dir_(std::move(dir)), fd_(fd) {}
  Status fail(Status s);
  Status closed() const;  // the owner closed its end
  std::string dir_;
  int fd_;
  int send_errno_ = 0;  // of the last send(), when it failed; for receive()
  mutable std::mutex broken_mu_;
  Status broken_;  // guarded by broken_mu_
};

}  // namespace conduit::detail
