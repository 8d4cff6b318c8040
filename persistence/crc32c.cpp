// CRC32C (Castagnoli): reflected polynomial 0x82F63B78, register preset to
// all ones and inverted on output. `extend` inverts on entry and exit, so the
// caller passes back the previous result (0 to start) and pieces compose.
#include "persistence/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace conduit::crc32c {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;  // 0x1EDC6F41 bit-reversed

// Slicing-by-8: kTables[0] is the classic byte-at-a-time table; kTables[k][b]
// is the CRC of byte b followed by k zero bytes, so eight table lookups
// advance the register by eight bytes at once.
using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][b] = c;
  }
  for (std::size_t k = 1; k < t.size(); ++k) {
    for (std::size_t b = 0; b < 256; ++b) {
      const std::uint32_t prev = t[k - 1][b];
      t[k][b] = (prev >> 8) ^ t[0][prev & 0xFFu];
    }
  }
  return t;
}

constexpr Tables kTables = make_tables();

// The check value of the catalogue ("123456789" -> 0xE3069283) lives in the
// tests; this pins the table itself at compile time.
static_assert(kTables[0][1] == 0xF26B8303u, "CRC32C byte table is wrong");

// Little-endian load independent of host byte order and alignment; compilers
// fold it into one mov on x86.
inline std::uint32_t load_le32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

inline std::uint32_t step_byte(std::uint32_t c, unsigned char byte) noexcept {
  return (c >> 8) ^ kTables[0][(c ^ byte) & 0xFFu];
}

}  // namespace

std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  while (n >= 8) {
    const std::uint32_t lo = load_le32(p) ^ c;
    const std::uint32_t hi = load_le32(p + 4);
    c = kTables[7][lo & 0xFFu] ^ kTables[6][(lo >> 8) & 0xFFu] ^
        kTables[5][(lo >> 16) & 0xFFu] ^ kTables[4][lo >> 24] ^
        kTables[3][hi & 0xFFu] ^ kTables[2][(hi >> 8) & 0xFFu] ^
        kTables[1][(hi >> 16) & 0xFFu] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = step_byte(c, *p++);
  return ~c;
}

#if defined(__x86_64__)

__attribute__((target("sse4.2")))
std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t c = ~crc;
  // Single bytes up to an 8-byte boundary, so the wide loop's loads never
  // straddle a cache line.
  while (n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7u) != 0) {
    c = _mm_crc32_u8(static_cast<std::uint32_t>(c), *p++);
    --n;
  }
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);  // x86 is little-endian, as CRC32C wants
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = _mm_crc32_u8(static_cast<std::uint32_t>(c), *p++);
  return ~static_cast<std::uint32_t>(c);
}

bool hardware_available() noexcept {
  __builtin_cpu_init();  // idempotent; required if called before static constructors ran
  return __builtin_cpu_supports("sse4.2");
}

#else  // no hardware path on this architecture

std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  return extend_portable(crc, data, n);
}

bool hardware_available() noexcept { return false; }

#endif

std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  // Detected once; the guard of a function-local static is thread-safe.
  static const bool use_hardware = hardware_available();
  return use_hardware ? extend_hardware(crc, data, n) : extend_portable(crc, data, n);
}

}  // namespace conduit::crc32c
