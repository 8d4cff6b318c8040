// persistence::check_records (records checked in groups, their CRCs side by
// side) must say exactly what check_record says one record at a time:
// the same intact records at the same offsets, and the same verdict where
// they end, on damaged segments as on whole ones, in one call or in chunks.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "common/format.h"
#include "persistence/log_reader.h"

using namespace conduit;
using persistence::RecordCheck;

namespace {

constexpr std::uint32_t kSeed = 0xC4EC4u;  // fixed: failures replay exactly

// A segment of random records from `first_seq` on (short and full forms,
// some with envelope fields and headers), ending in padding, zeros, or
// exactly at its end; then `flips` random bytes changed.
std::vector<std::byte> random_segment(std::mt19937& rng, std::uint64_t first_seq, int flips) {
  std::uniform_int_distribution<std::size_t> cap_of(1, 48);
  const std::size_t capacity = cap_of(rng) * 1024;
  std::vector<std::byte> seg(capacity);
  std::uniform_int_distribution<int> pct(0, 99);
  std::uniform_int_distribution<std::size_t> small(0, 40), big(0, 3000);
  std::size_t off = format::kSegmentHeaderSize;
  std::uint64_t seq = first_seq;
  for (;;) {
    const std::string payload(pct(rng) < 80 ? small(rng) + 20 : big(rng), static_cast<char>('a' + seq % 26));
    const std::string key(pct(rng) < 30 ? small(rng) : 0, 'k');
    const std::string hv(small(rng), 'v');
    const Header header{"h", hv};
    Message m;
    m.payload = payload;
    m.key = key;
    if (pct(rng) < 20) m.headers = std::span<const Header>(&header, 1);
    const std::size_t size = format::align_up(format::encoded_size(m));
    if (size + 8 > capacity - off) break;
    const std::uint32_t word = format::encode_record(seg.data() + off, m, seq++, 1'700'000'000, true);
    format::commit_length(seg.data() + off, word);
    off += size;
  }
  const int end = pct(rng);
  if (end < 60)
    format::commit_length(seg.data() + off, format::kPaddingFlag | static_cast<std::uint32_t>(capacity - off));
  std::uniform_int_distribution<std::size_t> where(format::kSegmentHeaderSize, capacity - 1);
  std::uniform_int_distribution<int> bit(0, 7);
  for (int f = 0; f < flips; ++f) seg[where(rng)] ^= static_cast<std::byte>(1u << bit(rng));
  return seg;
}

// check_record, one record at a time, as recovery's scan walks.
struct OneByOne {
  std::vector<std::size_t> offsets;  // of the intact records
  std::size_t end = 0;
  RecordCheck stop;
};

OneByOne walk(const std::vector<std::byte>& seg, std::uint64_t first_seq, bool with_crc) {
  OneByOne w;
  std::size_t off = format::kSegmentHeaderSize;
  for (;;) {
    if (off >= seg.size()) {
      w.stop.kind = RecordCheck::kPadding;
      break;
    }
    const RecordCheck c = persistence::check_record(seg.data(), seg.size(), off, format::load_length(seg.data() + off),
                                                    first_seq + w.offsets.size(), with_crc);
    if (c.kind != RecordCheck::kRecord) {
      w.stop = c;
      break;
    }
    w.offsets.push_back(off);
    off += format::align_up(c.length);
  }
  w.end = off;
  return w;
}

}  // namespace

TEST_CASE(
    "check_records finds what check_record finds one record at a time, on whole and damaged segments, in any chunks") {
  INFO("seed " << kSeed);
  std::mt19937 rng(kSeed);
  std::uniform_int_distribution<int> flips_of(0, 3);
  std::uniform_int_distribution<std::size_t> chunk_of(1, 8192);
  std::uniform_int_distribution<std::uint64_t> count_of(1, 50);
  for (int round = 0; round < 600; ++round) {
    CAPTURE(round);
    const std::uint64_t first_seq = 1000 + round;
    const std::vector<std::byte> seg = random_segment(rng, first_seq, round % 4 == 0 ? 0 : flips_of(rng));
    for (const bool with_crc : {true, false}) {
      CAPTURE(with_crc);
      const OneByOne want = walk(seg, first_seq, with_crc);

      // One call over the whole segment.
      std::vector<std::uint32_t> offsets(seg.size() / format::kRecordHeaderSize + 1);
      const persistence::RunCheck all =
          persistence::check_records(seg.data(), seg.size(), format::kSegmentHeaderSize, first_seq, ~std::uint64_t{0},
                                     seg.size(), with_crc, offsets.data());
      REQUIRE(all.records == want.offsets.size());
      CHECK(all.end_offset == want.end);
      CHECK(all.stop.kind == want.stop.kind);
      CHECK(all.stop.what == want.stop.what);
      for (std::size_t i = 0; i < want.offsets.size(); ++i) REQUIRE(offsets[i] == want.offsets[i]);

      // In chunks of random size and count, each going on where the last stopped.
      std::uint64_t records = 0;
      std::size_t off = format::kSegmentHeaderSize;
      persistence::RunCheck run;
      for (int calls = 0;; ++calls) {
        REQUIRE(calls < 100'000);
        run = persistence::check_records(seg.data(), seg.size(), off, first_seq + records, count_of(rng),
                                         off + chunk_of(rng), with_crc, offsets.data());
        for (std::size_t i = 0; i < run.records; ++i) REQUIRE(offsets[i] == want.offsets[records + i]);
        records += run.records;
        off = run.end_offset;
        if (run.stop.kind != RecordCheck::kRecord) break;  // a limit stopped it: go on
      }
      CHECK(records == want.offsets.size());
      CHECK(off == want.end);
      CHECK(run.stop.kind == want.stop.kind);
      CHECK(run.stop.what == want.stop.what);
    }
  }
}
