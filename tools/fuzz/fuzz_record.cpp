// Fuzz target: the record decoder. The input is one record's bytes as they
// would lie in a segment. Whatever they are, the checked decode must not read
// outside them, and a record it accepts must decode inside its own bytes and
// round-trip through the encoder.
#include <conduit/inspect.h>

#include <cstdint>
#include <vector>

#include "fuzz_support.h"
#include "record_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace conduit;
  if (size < inspect::kRecordHeaderBytes) return 0;
  // An 8-aligned heap copy, zero-padded to a multiple of 8 as a record lies
  // in a segment, and no longer: ASan sees any overread.
  std::vector<std::byte> buf(inspect::padded_size(size));
  std::memcpy(buf.data(), data, size);
  // Fields only (the CRC of random bytes is almost never right); padding
  // and a zero length word are not records.
  auto record = inspect::decode_record(buf, false);
  if (!record.ok()) {
    FUZZ_CHECK(!record.status().message().empty());
    return 0;
  }
  const std::uint32_t length = record->size_bytes();
  FUZZ_CHECK(inspect::padded_size(length) <= buf.size());
  fuzz::check_accepted_record(buf.data(), length);
  // The CRC over an accepted record covers [8, length).
  (void)inspect::crc32c(std::span<const std::byte>(buf).subspan(8, length - 8));
  return 0;
}
