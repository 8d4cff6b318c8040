// The owner's side of DATA_DIR/control.sock (doc/ipc.md, "Attach and work
// groups across processes"): accepts attached processes' connections and,
// on each, serves requests with real in-process work-group consumers
// (engine/ipc_wire.h has the messages).
//
// One thread ("conduit-ipc") accepts; each connection gets a thread of its
// own that answers its requests in turn, a blocking poll included (a
// thread, with its stack, per attached consumer; a poll reply costs a
// wake-up of that thread). A connection's end (EOF, error) means its
// process closed it or died: the kernel closes a dead process's sockets,
// so no heartbeat is needed. Its consumer is destroyed at once, and the
// deliveries it held go back to the group (GroupCore::release). While a
// poll waits, the thread looks at the socket every kPollSlice.
//
// Thread safety: start() and the destructor from one thread (the engine's
// open and destruction); the rest runs on the server's own threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/log.h"
#include "conduit/options.h"
#include "conduit/status.h"

namespace conduit::detail {

class TopicCore;

class IpcServer {
 public:
  // The engine's topic of that name (opened from the data directory if
  // need be), or why not.
  using FindTopic = std::function<Result<TopicCore*>(std::string_view name)>;
  // Engine::create_topic, for a requester's reply topic (kReplyTopic).
  using MakeTopic = std::function<Result<TopicCore*>(std::string_view name, const TopicOptions& options)>;
  // Listens on DATA_DIR/control.sock (mode 0600), replacing a stale one: the
  // caller holds the directory's lock, so no other owner is listening.
  // Its threads ("conduit-ipc" accepts, one "conduit-ipc-c" per
  // connection) run `on_thread_start` first (EngineOptions::on_thread_start).
  static Result<std::unique_ptr<IpcServer>> start(const std::string& data_dir, FindTopic find, MakeTopic make,
                                                  ThreadStartHook on_thread_start = {});
  // Stops accepting, ends every connection (their consumers' deliveries go
  // back to their groups), and removes the socket.
  ~IpcServer();
  IpcServer(const IpcServer&) = delete;
  IpcServer& operator=(const IpcServer&) = delete;

  // How long a waiting poll goes before it looks whether its peer is gone.
  static constexpr std::chrono::milliseconds kPollSlice{10};

 private:
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};  // its thread is about to return
  };
  IpcServer(std::string dir, std::string path, FindTopic find, MakeTopic make, int listen_fd, int wake_fd)
      : dir_(std::move(dir)),
        path_(std::move(path)),
        find_(std::move(find)),
        make_(std::move(make)),
        listen_fd_(listen_fd),
        wake_fd_(wake_fd) {}
  void accept_loop();
  void serve(Connection* c);
  // Joins the connections whose threads ended; mu_ held.
  void reap_locked();

  std::string dir_;
  std::string path_;  // the socket's path as bound
  FindTopic find_;
  MakeTopic make_;
  int listen_fd_;
  int wake_fd_;                      // an eventfd: the destructor wakes the accepting thread
  ThreadStartHook on_thread_start_;  // set before the acceptor starts, then read-only
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::list<std::unique_ptr<Connection>> conns_;  // guarded by mu_
};

}  // namespace conduit::detail
