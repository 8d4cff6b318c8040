// Starting a program from a test or a benchmark that may be running other
// threads (a NATS client's, an engine's).
//
// fork() copies only the calling thread; a lock another thread held at that
// moment (the sanitizers' allocator, a library's) stays locked in the child
// forever, and anything the child does before exec that takes it (building
// an argv vector allocates) hangs. posix_spawn() runs nothing of ours in the
// child: the file actions below are the kernel's dup2 calls.
//
// Thread safety: callable from any thread.
#pragma once

#include <spawn.h>
#include <unistd.h>

#include <string>
#include <vector>

extern char** environ;

namespace conduit::test {

// Starts `argv[0]` (found on PATH when it has no '/') with stdout on
// `out_fd` and stderr on `err_fd`; -1 when it could not be started. The
// caller opens both with O_CLOEXEC (pipe2, open) so that the child keeps
// only the copies made here, and closes its own after the call.
inline pid_t spawn_with(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  if (::posix_spawn_file_actions_init(&actions) != 0) return -1;
  ::posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

}  // namespace conduit::test
