// The owner's answers to attached subscribers and to stats requests
// (engine/ipc_wire.h: kSubscribe, kCommit, kGroupStats, kTopicStats), one
// per connection, beside its work-group requests (engine/ipc_server.cpp).
//
// An attached subscriber reads the records itself, from its own mapping
// (conduit/attach_subscriber.h); the owner only resolves where it starts
// (through an in-process Subscriber of that name, made and let go at once),
// stores what it commits, and lists it in Topic::readers() through the
// reader slot where it stores its position (engine/reader_slot.h).
//
// Thread safety: the connection's thread only.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "conduit/engine.h"
#include "engine/ipc_server.h"
#include "engine/ipc_shm_subscription.h"
#include "engine/ipc_wire.h"
#include "engine/reader_slot.h"

namespace conduit::detail {

class ReadRequests {
 public:
  explicit ReadRequests(const IpcServer::FindTopic& find) : find_(find) {}
  // Writes the reply to `op` into `reply`, and the descriptors to pass
  // with it into `pass` (ipc::kMaxFds, each -1 when none). false: a
  // malformed request, which ends the connection (`reply` then holds the
  // refusal to send).
  bool answer(ipc::Op op, ipc::Reader& r, ipc::Writer* reply, std::span<int> pass);

 private:
  bool subscribe(ipc::Reader& r, ipc::Writer* reply, std::span<int> pass);
  bool commit(ipc::Reader& r, ipc::Writer* reply);
  bool group_stats(ipc::Reader& r, ipc::Writer* reply);
  bool topic_stats(ipc::Reader& r, ipc::Writer* reply);

  const IpcServer::FindTopic& find_;
  std::string topic_;                     // the subscriber's (one per connection); empty before
  std::string key_;                       // a named subscriber's position key
  std::unique_ptr<ShmSubscription> shm_;  // a memory-only topic's subscriber
  std::unique_ptr<AttachedReader> slot_;  // a persisted topic's subscriber's reader slot (readers() only)
};

}  // namespace conduit::detail
