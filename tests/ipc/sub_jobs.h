// ipc_worker's jobs named sub-* (tests/ipc/sub_jobs.cpp), and what every
// job shares.
#pragma once

#include <conduit/status.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

// Prints "ok" or the status, as every job's answer; the exit code for it.
inline int say(const conduit::Status& s) {
  std::printf("%s\n", s.ok() ? "ok" : s.to_string().c_str());
  return s.ok() ? 0 : 1;
}

// The value, or (having said why) the end of the job.
template <class T>
T must(conduit::Result<T> r) {
  if (!r.ok()) std::exit(say(r.status()));
  return std::move(r).value();
}

// Runs the job argv[1] names; its exit code.
int run_sub_job(int argc, char** argv);
// The same for the jobs named rr-* (tests/ipc/rr_jobs.cpp).
int run_rr_job(int argc, char** argv);
