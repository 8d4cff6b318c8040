// Topic::readers() awaited, for the tests of attached subscribers
// (ipc_subscribe_test, ipc_readers_compat_test): a connection ends, and
// its reader leaves the list, in the owner's own time.
//
// Thread safety: one test thread.
#pragma once

#include <conduit/conduit.h>
#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace conduit::test {

// Waits (30 s at most) until `topic` lists `n` readers; then those readers.
inline std::vector<ReaderInfo> readers_once(Topic* topic, std::size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    std::vector<ReaderInfo> rs = topic->readers();
    if (rs.size() == n) return rs;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, rs.size(), " readers, not ", n);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace conduit::test
