// A latency histogram with bounded relative error, for the benchmarks.
//
// Values (nanoseconds, or any non-negative integer) are counted in
// log-linear buckets: every value below 256 has a bucket of its own; each
// range [2^k, 2^(k+1)) above that is split into 128 buckets of equal width
// 2^(k-7). A bucket's width is at most 1/128 of its lowest value, and a
// percentile is reported as the middle of its bucket, so a reported
// percentile is within 1/256 (0.4%) of the exact nearest-rank value. 7,424
// counters (58 KiB) cover the whole uint64 range; recording is a few shifts
// and an increment, no allocation after construction.
//
// Thread safety: none. Each thread records into its own histogram; merge()
// them once the threads are joined.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace conduit::bench {

class Histogram {
 public:
  static constexpr unsigned kSubBits = 7;                  // 128 buckets per power of two
  static constexpr std::uint64_t kExact = 2u << kSubBits;  // values below this are exact
  static constexpr std::size_t kBuckets = kExact + (64 - (kSubBits + 1)) * (1u << kSubBits);

  Histogram() : counts_(kBuckets, 0) {}

  void record(std::uint64_t v) noexcept { record_n(v, 1); }
  void record_n(std::uint64_t v, std::uint64_t n) noexcept {
    counts_[index_of(v)] += n;
    count_ += n;
    sum_ += static_cast<double>(v) * static_cast<double>(n);
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  // A signed difference (e.g. receive time - intended time); below 0 counts as 0.
  void record_signed(std::int64_t v) noexcept { record(v < 0 ? 0 : static_cast<std::uint64_t>(v)); }

  void merge(const Histogram& o) noexcept {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const noexcept { return max_; }  // exact
  double mean() const noexcept { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }

  // The nearest-rank p-quantile (0 < p <= 1), within 1/256 of the exact
  // value; 0 when empty. p = 1 gives the exact max.
  std::uint64_t percentile(double p) const noexcept {
    if (count_ == 0) return 0;
    if (p >= 1.0) return max_;
    auto rank = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t lo = lowest_of(i), hi = highest_of(i);
        return std::clamp(lo + (hi - lo) / 2, min_, max_);
      }
    }
    return max_;
  }

  // Bucket arithmetic, public for the tests.
  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < kExact) return static_cast<std::size_t>(v);
    const unsigned k = 63u - static_cast<unsigned>(std::countl_zero(v));  // k > kSubBits
    const std::uint64_t sub = (v >> (k - kSubBits)) - (1u << kSubBits);   // 0..127
    return static_cast<std::size_t>(kExact + (k - kSubBits - 1) * (1u << kSubBits) + sub);
  }
  static std::uint64_t lowest_of(std::size_t i) noexcept {
    if (i < kExact) return i;
    const std::size_t j = i - kExact;
    const unsigned k = static_cast<unsigned>(j >> kSubBits) + kSubBits + 1;
    const std::uint64_t sub = j & ((1u << kSubBits) - 1);
    return ((1u << kSubBits) + sub) << (k - kSubBits);
  }
  static std::uint64_t highest_of(std::size_t i) noexcept {
    if (i < kExact) return i;
    const unsigned k = static_cast<unsigned>((i - kExact) >> kSubBits) + kSubBits + 1;
    return lowest_of(i) + ((std::uint64_t{1} << (k - kSubBits)) - 1);
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

}  // namespace conduit::bench
