// Fuzz target: the engine's API as a state machine. The input is a sequence
// of engine calls (5 bytes each: call, topic, and three arguments): create
// and delete topics, publish and publish_batch, subscribe, poll, commit,
// work-group poll, ack, nack, dead-letter and commit, and close and reopen
// the engine on its data directory. Every step is checked against the
// reference model of tests/support/engine_model.h (the model test's); a
// divergence aborts with the sequence that led to it.
//
// Each input is kept small: at most kMaxOps calls, at most 8 messages a
// publish, segments of 160 KiB, memory and async topics (no fdatasync on
// the publish path), the data directory in /dev/shm where there is one.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "tests/support/engine_model.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace conduit::test::model;

constexpr std::size_t kMaxOps = 64;

Op take_op(conduit::fuzz::ByteReader& in) {
  Op op{};
  op.kind = static_cast<OpKind>(in.take<std::uint8_t>() % kOpKinds);
  op.topic = in.take<std::uint8_t>() % kTopics;
  const auto a = in.take<std::uint8_t>();
  const auto b = in.take<std::uint8_t>();
  op.who = in.take<std::uint8_t>();
  op.a = a;
  op.b = b;
  switch (op.kind) {
    case OpKind::kPublish:
    case OpKind::kPublishBatch:
      op.a = a % 9;
      // Mostly small payloads; the top of the byte's range reaches the
      // 4096-byte limit, so that segments roll and retention deletes.
      op.b = b < 0xf0 ? b : 4096 - 16u * (b - 0xf0);
      break;
    case OpKind::kSubscribe: op.a = a % 4, op.b = b % 40; break;
    case OpKind::kPoll: op.a = a % 41; break;
    case OpKind::kGroupPoll: op.topic = 1 + op.topic % 2, op.a = 1 + a % 8; break;  // persisted topics only
    case OpKind::kDelete: op.a = a % 2; break;
    default: break;
  }
  return op;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  conduit::fuzz::ByteReader in(data, size);
  std::vector<Op> ops;
  while (in.left() != 0 && ops.size() < kMaxOps) ops.push_back(take_op(in));

  const conduit::test::TempDir dir(conduit::test::scratch_base());
  Harness h(dir.path, nullptr);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (auto e = h.step(ops[i])) {
      std::fprintf(stderr, "fuzz_api: step %zu diverges from the model: %s\nsequence:\n", i, e->c_str());
      for (std::size_t k = 0; k <= i; ++k) std::fprintf(stderr, "  %s\n", describe(ops[k]).c_str());
      std::abort();
    }
  }
  return 0;
}
