// Model-based test: the engine against the plain reference model of
// tests/support/engine_model.h under random operation sequences, compared
// after every step. A failing sequence is shrunk (delta debugging: drop
// chunks of operations while it still fails) and printed, with its seed.
//
// CONDUIT_MODEL_SEED=N runs that seed alone; CONDUIT_MODEL_RUNS=N runs more.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/engine_model.h"
#include "tests/support/temp_dir.h"

using namespace conduit;
using namespace conduit::test::model;
namespace fs = std::filesystem;

namespace {

Coverage g_coverage;

// Runs `ops` on a fresh engine; the index of the failing step and why.
std::optional<std::pair<std::size_t, std::string>> run(const std::vector<Op>& ops) {
  std::string tmpl = (conduit::test::scratch_base() / "conduit-model-XXXXXX").string();
  const fs::path dir = mkdtemp(tmpl.data());
  std::optional<std::pair<std::size_t, std::string>> failure;
  {
    Harness h(dir, &g_coverage);
    for (std::size_t i = 0; i < ops.size() && !failure; ++i)
      if (auto e = h.step(ops[i])) failure.emplace(i, *e);
  }
  fs::remove_all(dir);
  return failure;
}

// Delta debugging: removes chunks of operations, halving the chunk size,
// while `fails` still holds for what is left.
template <class Fails>
std::vector<Op> shrink(std::vector<Op> ops, Fails fails) {
  for (std::size_t chunk = ops.size() / 2; chunk >= 1; chunk /= 2) {
    for (std::size_t at = 0; at + chunk <= ops.size();) {
      std::vector<Op> shorter(ops.begin(), ops.begin() + static_cast<std::ptrdiff_t>(at));
      shorter.insert(shorter.end(), ops.begin() + static_cast<std::ptrdiff_t>(at + chunk), ops.end());
      if (fails(shorter))
        ops = std::move(shorter);
      else
        at += chunk;
    }
  }
  return ops;
}

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

TEST_CASE("the engine matches the reference model under random operation sequences") {
  const std::uint64_t one_seed = env_or("CONDUIT_MODEL_SEED", 0);
  const std::uint64_t runs = one_seed ? 1 : env_or("CONDUIT_MODEL_RUNS", 100);
  constexpr std::size_t kOps = 400;
  for (std::uint64_t r = 0; r < runs; ++r) {
    const std::uint64_t seed = one_seed ? one_seed : r + 1;
    std::mt19937_64 rng(seed);
    std::vector<Op> ops(kOps);
    for (Op& op : ops) op = random_op(rng);
    auto failure = run(ops);
    if (!failure) continue;
    ops.resize(failure->first + 1);
    const std::vector<Op> small = shrink(ops, [](const std::vector<Op>& s) { return run(s).has_value(); });
    const auto again = run(small);
    std::ostringstream out;
    out << "seed " << seed << " (CONDUIT_MODEL_SEED=" << seed << "): step " << failure->first << ": " << failure->second
        << "\nshrunk to " << small.size()
        << " operations, failing with: " << (again ? again->second : std::string("(no longer fails)")) << "\n";
    for (const Op& op : small) out << "  " << describe(op) << "\n";
    FAIL(out.str());
  }
  const Coverage& c = g_coverage;
  MESSAGE("model runs: " << runs << ", steps " << c.steps << ", records published " << c.published << ", read "
                         << c.polled << ", lost (reported) " << c.lost << ", work group deliveries " << c.delivered
                         << " (redeliveries " << c.redelivered << "), reopens " << c.reopens << ", deletes "
                         << c.deletes << " (refused busy " << c.busy << "), batches " << c.batches << ", dead letters "
                         << c.dead_lettered);
  // The runs must reach what they are meant to test.
  CHECK(c.lost > 0);
  CHECK(c.redelivered > 0);
  CHECK(c.reopens > 0);
  CHECK(c.deletes > 0);
  CHECK(c.busy > 0);
  CHECK(c.batches > 0);
  CHECK(c.dead_lettered > 0);
}

TEST_CASE("the shrinker keeps only the operations a failure needs") {
  // A failure of our own: a publish to topic 1 followed later by a reopen.
  std::mt19937_64 rng(7);
  std::vector<Op> ops(60);
  for (Op& op : ops) op = random_op(rng);
  ops[10] = Op{OpKind::kPublish, 1, 1, 1, 0};
  ops[40] = Op{OpKind::kReopen};
  auto fails = [](const std::vector<Op>& s) {
    bool published = false;
    for (const Op& op : s) {
      if (op.kind == OpKind::kPublish && op.topic == 1) published = true;
      if (op.kind == OpKind::kReopen && published) return true;
    }
    return false;
  };
  REQUIRE(fails(ops));
  const std::vector<Op> small = shrink(ops, fails);
  REQUIRE(small.size() == 2);
  CHECK(small[0].kind == OpKind::kPublish);
  CHECK(small[1].kind == OpKind::kReopen);
}
