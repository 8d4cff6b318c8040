// ipc_worker's jobs named sub-* (tests/ipc/sub_jobs.cpp), and what every
// job shares.
#pragma once

#include <conduit/status.h>

#include <cstdio>

// Prints "ok" or the status, as every job's answer; the exit code for it.
inline int say(const conduit::Status& s) {
  std::printf("%s\n", s.ok() ? "ok" : s.to_string().c_str());
  return s.ok() ? 0 : 1;
}

// Runs the job argv[1] names; its exit code.
int run_sub_job(int argc, char** argv);
