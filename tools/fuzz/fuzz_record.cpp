// Fuzz target: the record decoder. The input is one record's bytes as they
// would lie in a segment. Whatever they are, the field check must not read
// outside them, and a record it accepts must decode inside its own bytes and
// round-trip through the encoder.
#include <cstdint>
#include <vector>

#include "persistence/format.h"
#include "tools/fuzz/fuzz_support.h"
#include "tools/fuzz/record_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace conduit;
  if (size < format::kRecordHeaderSize) return 0;
  // An 8-aligned heap copy of exactly `size` bytes: ASan sees any overread.
  std::vector<std::byte> buf(size);
  std::memcpy(buf.data(), data, size);
  const std::uint32_t length = format::load_length(buf.data()) & format::kLengthMask;
  if (length > size) return 0;  // a reader never looks past the length it was given room for
  if (!format::record_fields_consistent(buf.data(), length)) return 0;
  fuzz::check_accepted_record(buf.data(), length);
  // The CRC over an accepted record covers [8, length).
  (void)format::record_crc(buf.data(), length);
  return 0;
}
