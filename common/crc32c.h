// CRC32C (Castagnoli), as used by every record and segment header.
// Uses the SSE4.2 instruction when the CPU has it (three interleaved chains
// for inputs of 384 bytes or more), a table otherwise; both give identical
// values (tests/crc32c_test.cpp). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace conduit::crc32c {

// CRC32C of [data, data+n), continuing from `crc` (0 to start).
std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n) noexcept;
inline std::uint32_t value(const void* data, std::size_t n) noexcept { return extend(0, data, n); }

// out[i] = value(data[i], n[i]) for i < count. Short inputs (a small
// record's bytes) each make one dependent chain of the instruction, a third
// of its speed; here up to kLanes of them run side by side instead.
inline constexpr std::size_t kLanes = 4;
void values(const void* const* data, const std::size_t* n, std::uint32_t* out, std::size_t count) noexcept;

// The two implementations, exposed so tests can compare them.
std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t n) noexcept;
std::uint32_t extend_hardware(std::uint32_t crc, const void* data,
                              std::size_t n) noexcept;  // needs hardware_available()
bool hardware_available() noexcept;

}  // namespace conduit::crc32c
