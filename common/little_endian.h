// Little-endian loads and stores of the integers in conduit's files and
// records (common/format.h, doc/log-format.md). The host is little-endian
// (asserted below), so they are plain copies: no alignment is assumed.
#pragma once

#include <bit>
#include <cstddef>
#include <cstring>

namespace conduit::format {

static_assert(std::endian::native == std::endian::little, "conduit's format helpers assume a little-endian host");

template <class T>
inline T load(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
inline void store(std::byte* p, T v) noexcept {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace conduit::format
