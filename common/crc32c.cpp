// CRC32C (Castagnoli): reflected polynomial 0x82F63B78, register preset to
// all ones and inverted on output. `extend` inverts on entry and exit, so the
// caller passes back the previous result (0 to start) and pieces compose.
#include "common/crc32c.h"

#include <algorithm>
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

// Running the register over L zero bytes is linear over GF(2), so it is a
// fixed 32x32 bit matrix; ZeroShift keeps it as four byte-indexed tables
// (one lookup per byte of the register). The hardware path uses it to join
// three streams computed side by side: for a block A|B|C of three L-byte
// parts, the register after it is shift(shift(crc(r, A)) ^ crc(0, B)) ^
// crc(0, C), where crc(0, .) runs from a zero register.
struct ZeroShift {
  std::array<std::array<std::uint32_t, 256>, 4> t{};
  std::uint32_t operator()(std::uint32_t c) const noexcept {
    return t[0][c & 0xFFu] ^ t[1][(c >> 8) & 0xFFu] ^ t[2][(c >> 16) & 0xFFu] ^ t[3][c >> 24];
  }
};

constexpr ZeroShift make_zero_shift(std::size_t bytes) {
  std::array<std::uint32_t, 32> image{};  // where each single bit of the register goes
  for (std::size_t bit = 0; bit < 32; ++bit) {
    std::uint32_t c = 1u << bit;
    for (std::size_t i = 0; i < bytes; ++i) c = (c >> 8) ^ kTables[0][c & 0xFFu];
    image[bit] = c;
  }
  ZeroShift z;
  for (std::size_t k = 0; k < 4; ++k)
    for (std::size_t b = 0; b < 256; ++b)
      for (std::size_t i = 0; i < 8; ++i)
        if ((b >> i) & 1u) z.t[k][b] ^= image[8 * k + i];
  return z;
}

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
    c = kTables[7][lo & 0xFFu] ^ kTables[6][(lo >> 8) & 0xFFu] ^ kTables[5][(lo >> 16) & 0xFFu] ^ kTables[4][lo >> 24] ^
        kTables[3][hi & 0xFFu] ^ kTables[2][(hi >> 8) & 0xFFu] ^ kTables[1][(hi >> 16) & 0xFFu] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = step_byte(c, *p++);
  return ~c;
}

#if defined(__x86_64__)

namespace {

// Part sizes of a three-stream block: long records go 3 KiB at a time, the
// rest of them (and records of 384 bytes or more) 384 bytes at a time.
constexpr std::size_t kLongPart = 1024;
constexpr std::size_t kShortPart = 128;
constexpr ZeroShift kShiftLong = make_zero_shift(kLongPart);
constexpr ZeroShift kShiftShort = make_zero_shift(kShortPart);

inline std::uint64_t load_word(const unsigned char* p) noexcept {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof word);  // x86 is little-endian, as CRC32C wants
  return word;
}

// Consumes whole blocks of 3 * kPart bytes from [p, p+n), advancing both.
template <std::size_t kPart>
__attribute__((target("sse4.2"))) std::uint64_t three_streams(std::uint64_t c, const unsigned char*& p, std::size_t& n,
                                                              const ZeroShift& shift) noexcept {
  static_assert(kPart % 8 == 0);
  while (n >= 3 * kPart) {
    std::uint64_t a = c, b = 0, d = 0;
    for (std::size_t i = 0; i < kPart; i += 8) {
      a = _mm_crc32_u64(a, load_word(p + i));
      b = _mm_crc32_u64(b, load_word(p + kPart + i));
      d = _mm_crc32_u64(d, load_word(p + 2 * kPart + i));
    }
    c = shift(shift(static_cast<std::uint32_t>(a)) ^ static_cast<std::uint32_t>(b)) ^ static_cast<std::uint32_t>(d);
    p += 3 * kPart;
    n -= 3 * kPart;
  }
  return c;
}

}  // namespace

__attribute__((target("sse4.2"))) std::uint32_t extend_hardware(std::uint32_t crc, const void* data,
                                                                std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t c = ~crc;
  // Single bytes up to an 8-byte boundary, so the wide loop's loads never
  // straddle a cache line.
  while (n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7u) != 0) {
    c = _mm_crc32_u8(static_cast<std::uint32_t>(c), *p++);
    --n;
  }
  // The instruction's latency is three times its issue interval, so one
  // dependent chain runs at a third of the speed: long inputs go as three
  // interleaved chains over the parts of a block, joined by ZeroShift.
  c = three_streams<kLongPart>(c, p, n, kShiftLong);
  c = three_streams<kShortPart>(c, p, n, kShiftShort);
  while (n >= 8) {
    c = _mm_crc32_u64(c, load_word(p));
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = _mm_crc32_u8(static_cast<std::uint32_t>(c), *p++);
  return ~static_cast<std::uint32_t>(c);
}

namespace {

// kLanes inputs at once: their common length in lockstep (independent
// chains, so the instruction issues every cycle), then each one's rest.
__attribute__((target("sse4.2"))) void lanes_hardware(const void* const* data, const std::size_t* n,
                                                      std::uint32_t* out) noexcept {
  const unsigned char* p[kLanes];
  std::uint64_t c[kLanes];
  std::size_t common = n[0];
  for (std::size_t i = 0; i < kLanes; ++i) {
    p[i] = static_cast<const unsigned char*>(data[i]);
    c[i] = 0xFFFFFFFFu;
    common = std::min(common, n[i]);
  }
  common &= ~std::size_t{7};
  for (std::size_t k = 0; k < common; k += 8)
    for (std::size_t i = 0; i < kLanes; ++i) c[i] = _mm_crc32_u64(c[i], load_word(p[i] + k));
  for (std::size_t i = 0; i < kLanes; ++i) {
    out[i] = ~static_cast<std::uint32_t>(c[i]);
    if (n[i] != common) out[i] = extend_hardware(out[i], p[i] + common, n[i] - common);
  }
}

}  // namespace

bool hardware_available() noexcept {
  __builtin_cpu_init();  // idempotent; required if called before static constructors ran
  return __builtin_cpu_supports("sse4.2");
}

#else  // no hardware path on this architecture

namespace {
void lanes_hardware(const void* const* data, const std::size_t* n, std::uint32_t* out) noexcept {
  for (std::size_t i = 0; i < kLanes; ++i) out[i] = extend_portable(0, data[i], n[i]);
}
}  // namespace

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

void values(const void* const* data, const std::size_t* n, std::uint32_t* out, std::size_t count) noexcept {
  static const bool use_hardware = hardware_available();  // as extend()
  std::size_t i = 0;
  if (use_hardware)
    for (; i + kLanes <= count; i += kLanes) lanes_hardware(data + i, n + i, out + i);
  for (; i < count; ++i) out[i] = extend(0, data[i], n[i]);
}

}  // namespace conduit::crc32c
