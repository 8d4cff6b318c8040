// The owner's answers to an attached publisher's requests (kPubOpen ..
// kPubDurable, engine/ipc_wire.h; doc/ipc.md, "Publishing from any
// process"). The records themselves never come this way: the attached
// process writes them into its own mapping of the segment files.
//
// Thread safety: called on a connection's own thread (IpcServer).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/ipc_server.h"
#include "engine/ipc_wire.h"
#include "engine/pub_claims.h"

namespace conduit::detail {

// The claim slots handed out on one connection (kPubClaims), by topic.
struct PubSession {
  int peer_pid = 0;
  std::vector<std::pair<TopicCore*, std::shared_ptr<PubClaimBlock>>> claims;
  // The peer closed the connection (it exited, was killed, or let go of
  // its AttachedEngine): every claim it named is ended, and what it may
  // have claimed unnamed is waited for until unblock_timeout skips it, or
  // `stopping`.
  void peer_gone(const std::atomic<bool>& stopping) noexcept;
};

// Answers request `op` (one of the kPub ops; `r` is past the op) on
// connection `fd`; false ends the connection (the peer is gone, or the
// server stops).
bool answer_publish(ipc::Op op, ipc::Reader& r, int fd, const IpcServer::FindTopic& find,
                    const std::atomic<bool>& stopping, PubSession& session);

}  // namespace conduit::detail
