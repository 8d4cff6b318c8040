// The owner's answers to an attached publisher's requests (kPubOpen ..
// kPubDurable, engine/ipc_wire.h; doc/ipc.md, "Publishing from any
// process"). The records themselves never come this way: the attached
// process writes them into its own mapping of the segment files.
//
// Thread safety: called on a connection's own thread (IpcServer).
#pragma once

#include <atomic>
#include <string>

#include "engine/ipc_server.h"
#include "engine/ipc_wire.h"

namespace conduit::detail {

// Answers request `op` (one of the kPub ops; `r` is past the op) on
// connection `fd`; false ends the connection (the peer is gone, or the
// server stops).
bool answer_publish(ipc::Op op, ipc::Reader& r, int fd, const IpcServer::FindTopic& find,
                    const std::atomic<bool>& stopping);

}  // namespace conduit::detail
