// CRC32C: known vectors, and the hardware and portable paths agree.
#include "common/crc32c.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace crc32c = conduit::crc32c;

namespace {

constexpr std::uint32_t kSeed = 0xC0FFEEu;  // fixed: failures replay exactly

std::vector<unsigned char> random_bytes(std::size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<unsigned char> out(n);
  for (auto& b : out) b = static_cast<unsigned char>(byte(rng));
  return out;
}

}  // namespace

TEST_CASE("crc32c of \"123456789\" is the catalogue check value 0xE3069283") {
  CHECK(crc32c::value("123456789", 9) == 0xE3069283u);
  CHECK(crc32c::extend_portable(0, "123456789", 9) == 0xE3069283u);
  if (crc32c::hardware_available()) CHECK(crc32c::extend_hardware(0, "123456789", 9) == 0xE3069283u);
}

TEST_CASE("crc32c matches the RFC 3720 iSCSI test vectors") {
  unsigned char buf[32];

  std::memset(buf, 0x00, sizeof buf);
  CHECK(crc32c::value(buf, sizeof buf) == 0x8A9136AAu);
  CHECK(crc32c::extend_portable(0, buf, sizeof buf) == 0x8A9136AAu);

  std::memset(buf, 0xFF, sizeof buf);
  CHECK(crc32c::value(buf, sizeof buf) == 0x62A8AB43u);
  CHECK(crc32c::extend_portable(0, buf, sizeof buf) == 0x62A8AB43u);

  for (int i = 0; i < 32; ++i) buf[i] = static_cast<unsigned char>(i);
  CHECK(crc32c::value(buf, sizeof buf) == 0x46DD794Eu);
  CHECK(crc32c::extend_portable(0, buf, sizeof buf) == 0x46DD794Eu);
}

TEST_CASE("crc32c of no bytes is zero and extending by no bytes changes nothing") {
  CHECK(crc32c::value(nullptr, 0) == 0u);
  CHECK(crc32c::extend(0xE3069283u, nullptr, 0) == 0xE3069283u);
}

TEST_CASE("the hardware path equals the portable path for every length and alignment") {
  if (!crc32c::hardware_available()) {
    MESSAGE("SSE4.2 CRC32 not available on this CPU; nothing to compare");
    return;
  }
  INFO("seed " << kSeed);
  std::mt19937 rng(kSeed);
  const std::vector<unsigned char> buf = random_bytes(300 + 16, rng);
  for (std::size_t offset = 0; offset < 16; ++offset) {
    for (std::size_t len = 0; len <= 300; ++len) {
      const unsigned char* p = buf.data() + offset;
      const std::uint32_t portable = crc32c::extend_portable(0, p, len);
      const std::uint32_t hardware = crc32c::extend_hardware(0, p, len);
      if (portable != hardware) {
        FAIL_CHECK("offset " << offset << " length " << len << ": portable " << portable << " hardware " << hardware);
      }
      // Continuing from a non-zero value must agree as well.
      CHECK(crc32c::extend_portable(portable, p, len) == crc32c::extend_hardware(hardware, p, len));
    }
  }
}

// The hardware path runs inputs of 384 bytes or more as three interleaved
// streams (blocks of 3 x 128 and 3 x 1024 bytes) joined by a zero-byte shift;
// every length around those block sizes, from every alignment, must still
// give the portable value.
TEST_CASE("the hardware path equals the portable path across its three-stream block sizes") {
  if (!crc32c::hardware_available()) {
    MESSAGE("SSE4.2 CRC32 not available on this CPU; nothing to compare");
    return;
  }
  INFO("seed " << kSeed);
  std::mt19937 rng(kSeed);
  const std::vector<unsigned char> buf = random_bytes(3 * 3072 + 64, rng);
  std::vector<std::size_t> lengths;
  for (std::size_t block : {384u, 768u, 3072u, 3072u + 384u, 6144u, 9216u})
    for (std::size_t len = block - 9; len <= block + 9; ++len) lengths.push_back(len);
  std::uniform_int_distribution<std::size_t> any(0, 3 * 3072);
  for (int i = 0; i < 200; ++i) lengths.push_back(any(rng));
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t len : lengths) {
      const unsigned char* p = buf.data() + offset;
      const std::uint32_t start = static_cast<std::uint32_t>(len * 2654435761u);  // also from a non-zero value
      if (crc32c::extend_portable(0, p, len) != crc32c::extend_hardware(0, p, len) ||
          crc32c::extend_portable(start, p, len) != crc32c::extend_hardware(start, p, len))
        FAIL_CHECK("offset " << offset << " length " << len);
    }
  }
}

TEST_CASE("extending piece by piece gives the same value as one call over the whole buffer") {
  INFO("seed " << kSeed);
  std::mt19937 rng(kSeed + 1);
  for (int round = 0; round < 200; ++round) {
    std::uniform_int_distribution<std::size_t> length(0, 1000);
    const std::vector<unsigned char> buf = random_bytes(length(rng), rng);
    const std::uint32_t whole = crc32c::value(buf.data(), buf.size());
    CHECK(whole == crc32c::extend_portable(0, buf.data(), buf.size()));

    std::uint32_t pieced = 0;
    std::uint32_t pieced_portable = 0;
    std::size_t at = 0;
    while (at < buf.size()) {
      std::uniform_int_distribution<std::size_t> piece(0, buf.size() - at);
      const std::size_t n = piece(rng);
      pieced = crc32c::extend(pieced, buf.data() + at, n);
      pieced_portable = crc32c::extend_portable(pieced_portable, buf.data() + at, n);
      at += n;
    }
    CHECK(pieced == whole);
    CHECK(pieced_portable == whole);
  }
}

TEST_CASE("a single flipped bit changes the crc32c") {
  std::mt19937 rng(kSeed + 2);
  std::vector<unsigned char> buf = random_bytes(64, rng);
  const std::uint32_t before = crc32c::value(buf.data(), buf.size());
  for (std::size_t bit = 0; bit < buf.size() * 8; ++bit) {
    buf[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
    CHECK(crc32c::value(buf.data(), buf.size()) != before);
    buf[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
  }
}

// values() runs its inputs kLanes at a time side by side, over their common
// length and then each one's rest: lengths equal and unequal, short and
// long, any alignment and any count must give each input's own value.
TEST_CASE("values() gives every input its own crc32c, whatever the lengths, alignments and count") {
  INFO("seed " << kSeed);
  std::mt19937 rng(kSeed + 3);
  const std::vector<unsigned char> buf = random_bytes(8192, rng);
  std::uniform_int_distribution<std::size_t> start(0, 4096);
  for (int round = 0; round < 300; ++round) {
    std::uniform_int_distribution<std::size_t> count_of(0, 3 * crc32c::kLanes + 1);
    const std::size_t count = count_of(rng);
    // Half the rounds have one length for all (as a run of equal records).
    std::uniform_int_distribution<std::size_t> length(0, round % 3 == 0 ? 4000 : 200);
    const std::size_t same = length(rng);
    std::vector<const void*> data(count);
    std::vector<std::size_t> n(count);
    std::vector<std::uint32_t> out(count, 0);
    for (std::size_t i = 0; i < count; ++i) {
      data[i] = buf.data() + start(rng);
      n[i] = round % 2 == 0 ? same : length(rng);
    }
    crc32c::values(data.data(), n.data(), out.data(), count);
    for (std::size_t i = 0; i < count; ++i)
      if (out[i] != crc32c::extend_portable(0, data[i], n[i]))
        FAIL_CHECK("round " << round << " input " << i << " of " << count << ", length " << n[i]);
  }
}
