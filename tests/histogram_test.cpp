// The benchmarks' latency histogram (bench/histogram.h): its percentiles
// against exact nearest-rank percentiles of known data.
#include "bench/histogram.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using conduit::bench::Histogram;

namespace {

std::uint64_t exact_percentile(std::vector<std::uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

void check_against_exact(const std::vector<std::uint64_t>& values) {
  Histogram h;
  for (std::uint64_t v : values) h.record(v);
  REQUIRE(h.count() == values.size());
  for (double p : {0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0}) {
    const double exact = static_cast<double>(exact_percentile(values, p));
    const double got = static_cast<double>(h.percentile(p));
    CAPTURE(p);
    CAPTURE(exact);
    CAPTURE(got);
    CHECK(std::abs(got - exact) <= exact / 256.0);
  }
  CHECK(h.max() == *std::max_element(values.begin(), values.end()));
  CHECK(h.min() == *std::min_element(values.begin(), values.end()));
}

}  // namespace

TEST_CASE("values below 256 are counted exactly") {
  Histogram h;
  for (std::uint64_t v = 0; v < 256; ++v) h.record(v);
  CHECK(h.percentile(0.5) == 127);
  CHECK(h.percentile(1.0 / 256) == 0);
  CHECK(h.percentile(1.0) == 255);
  CHECK(h.mean() == doctest::Approx(127.5));
}

TEST_CASE("every value falls inside its bucket, and buckets tile the range without gaps") {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 64);
    const std::size_t b = Histogram::index_of(v);
    REQUIRE(b < Histogram::kBuckets);
    REQUIRE(Histogram::lowest_of(b) <= v);
    REQUIRE(v <= Histogram::highest_of(b));
  }
  for (std::size_t b = 0; b + 1 < Histogram::kBuckets; ++b)
    REQUIRE(Histogram::highest_of(b) + 1 == Histogram::lowest_of(b + 1));
  CHECK(Histogram::index_of(~std::uint64_t{0}) == Histogram::kBuckets - 1);
  CHECK(Histogram::highest_of(Histogram::kBuckets - 1) == ~std::uint64_t{0});
}

TEST_CASE("a bucket is at most 1/128 of its lowest value wide") {
  for (std::size_t b = Histogram::kExact; b < Histogram::kBuckets; ++b) {
    const double lo = static_cast<double>(Histogram::lowest_of(b));
    const double width = static_cast<double>(Histogram::highest_of(b) - Histogram::lowest_of(b)) + 1;
    REQUIRE(width <= lo / 128.0);
  }
}

TEST_CASE("percentiles of a uniform sample are within 1/256 of the exact ones") {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint64_t> d(1, 10'000'000);
  std::vector<std::uint64_t> v(100000);
  for (auto& x : v) x = d(rng);
  check_against_exact(v);
}

TEST_CASE("percentiles of a long-tailed sample are within 1/256 of the exact ones") {
  // Latency-like: mostly around 2 us, a tail out to tens of milliseconds.
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> d(std::log(2000.0), 1.5);
  std::vector<std::uint64_t> v(200000);
  for (auto& x : v) x = static_cast<std::uint64_t>(d(rng));
  check_against_exact(v);
}

TEST_CASE("a single huge outlier is the max and the p99.99 of a small sample") {
  std::vector<std::uint64_t> v(999, 1000);
  v.push_back(5'000'000'000ull);
  check_against_exact(v);
  Histogram h;
  for (auto x : v) h.record(x);
  CHECK(h.percentile(0.999) < 1000 + 1000 / 256 + 1);  // the bulk, not the outlier
  CHECK(h.percentile(0.9999) > 4'980'000'000ull);      // the outlier
}

TEST_CASE("merging two histograms equals recording everything into one") {
  Histogram a, b, all;
  for (std::uint64_t i = 1; i <= 5000; ++i) {
    (i % 3 == 0 ? a : b).record(i * 37);
    all.record(i * 37);
  }
  a.merge(b);
  CHECK(a.count() == all.count());
  CHECK(a.min() == all.min());
  CHECK(a.max() == all.max());
  for (double p : {0.5, 0.9, 0.99, 0.999}) CHECK(a.percentile(p) == all.percentile(p));
}

TEST_CASE("an empty histogram reports zeros and a negative value counts as zero") {
  Histogram h;
  CHECK(h.percentile(0.5) == 0);
  CHECK(h.max() == 0);
  CHECK(h.min() == 0);
  h.record_signed(-5);
  CHECK(h.count() == 1);
  CHECK(h.max() == 0);
}
