// Topic::claim: the payload written in place, commit / commit_nowait /
// abandon, skip records that every reader steps over and counts, recovery of
// a log holding them, claims across a segment's end, claims taken back by
// close() and delete_topic().
#include <conduit/inspect.h>
#include <conduit/reader.h>
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/format.h"
#include "persistence/log_reader.h"
#include "tests/support/helpers.h"

namespace conduit::test {
namespace {

// Claims room for `payload`, copies it in, commits.
std::uint64_t claim_commit(Topic* t, std::string_view payload, const Message& envelope = {}) {
  auto c = t->claim(payload.size(), envelope);
  REQUIRE(c.ok());
  REQUIRE(c->payload().size() == payload.size());
  std::memcpy(c->payload().data(), payload.data(), payload.size());
  auto seq = c->commit();
  REQUIRE(seq.ok());
  CHECK(!c->active());
  return *seq;
}

// Claims and abandons; returns the claim's sequence.
std::uint64_t claim_abandon(Topic* t, std::size_t bytes) {
  auto c = t->claim(bytes);
  REQUIRE(c.ok());
  std::memset(c->payload().data(), 0x5a, bytes);  // garbage a reader must never see
  const std::uint64_t seq = c->sequence();
  c->abandon();
  CHECK(!c->active());
  return seq;
}

struct Read {
  std::vector<std::uint64_t> seqs;
  std::vector<std::string> payloads;
  std::uint64_t skipped = 0;
};

Read read_all(Topic* t) {
  auto sub = t->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  Read out;
  RecordView v[8];
  for (;;) {
    const PollResult r = sub->try_poll(v);
    out.skipped += r.skipped;
    for (std::size_t i = 0; i < r.count; ++i) {
      out.seqs.push_back(v[i].sequence());
      out.payloads.emplace_back(v[i].payload());
    }
    if (r.count == 0) return out;
  }
}

// A mixed log: published, claimed and committed, abandoned, in turns.
// Returns the payloads readers must see, in order.
std::vector<std::string> write_mixed(Topic* t, int rounds) {
  std::vector<std::string> want;
  for (int i = 0; i < rounds; ++i) {
    const std::string a = "published " + std::to_string(i) + std::string(200, 'p');
    REQUIRE(t->publish(a).ok());
    want.push_back(a);
    (void)claim_abandon(t, 200 + i % 7);
    const std::string b = "claimed " + std::to_string(i) + std::string(200 + i % 30, 'c');
    claim_commit(t, b);
    want.push_back(b);
  }
  return want;
}

}  // namespace

TEST_CASE("a committed claim is a record like a published one, envelope included") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("z").value();
  const Header h[] = {{"h1", "v1"}};
  Message env;
  env.key = "k";
  env.id = "id-1";
  env.headers = h;
  env.schema_version = 3;
  env.timestamp_ns = 777;
  CHECK(claim_commit(t, "sixty-four bytes or so: the short form is taken for payloads >= 24") == 0);
  CHECK(claim_commit(t, "tiny") == 1);  // under 24 bytes: the full form
  CHECK(claim_commit(t, "with an envelope", env) == 2);
  CHECK(claim_commit(t, "") == 3);
  auto sub = t->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  RecordView v[4];
  REQUIRE(sub->try_poll(v).count == 4);
  CHECK(v[0].payload() == "sixty-four bytes or so: the short form is taken for payloads >= 24");
  CHECK(v[1].payload() == "tiny");
  CHECK(v[2].payload() == "with an envelope");
  CHECK(v[2].key() == "k");
  CHECK(v[2].id() == "id-1");
  CHECK(v[2].schema_version() == 3);
  CHECK(v[2].timestamp_ns() == 777);
  REQUIRE(v[2].header_count() == 1);
  CHECK(v[2].header(0).value == "v1");
  CHECK(v[3].payload().empty());
  CHECK(v[0].timestamp_ns() != 0);
  CHECK(t->stats().skipped == 0);
}

TEST_CASE("an abandoned claim keeps its sequence; subscribers step over it and count it") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("z").value();
  REQUIRE(t->publish("a").ok());
  CHECK(claim_abandon(t, 64) == 1);
  REQUIRE(t->publish("c").ok());
  const Read r = read_all(t);
  CHECK(r.payloads == std::vector<std::string>{"a", "c"});
  CHECK(r.seqs == std::vector<std::uint64_t>{0, 2});
  CHECK(r.skipped == 1);
  CHECK(t->stats().skipped == 1);
  CHECK(t->published() == 3);
}

TEST_CASE("a subscriber waiting in poll() steps over a claim abandoned meanwhile") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("z").value();
  auto sub = t->subscribe().value();
  auto c = t->claim(32).value();
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    c.abandon();
    REQUIRE(t->publish("after").ok());
  });
  RecordView v[4];
  const PollResult r = sub->poll(v, std::chrono::seconds(10));
  later.join();
  REQUIRE(r.count == 1);
  CHECK(v[0].payload() == "after");
  CHECK(v[0].sequence() == 1);
  CHECK(r.skipped == 1);
}

TEST_CASE("destroying an uncommitted claim abandons it, also when an exception unwinds") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("z").value();
  { auto c = t->claim(16).value(); }  // dropped
  try {
    auto c = t->claim(16).value();
    std::memcpy(c.payload().data(), "half written", 12);
    throw std::runtime_error("while filling the claim");
  } catch (const std::runtime_error&) {}
  // Moved-from claims end nothing; the moved-to one commits.
  auto c1 = t->claim(4).value();
  Claim c2 = std::move(c1);
  CHECK(!c1.active());
  std::memcpy(c2.payload().data(), "last", 4);
  CHECK(c2.commit().value() == 2);
  CHECK(c2.commit().status().code() == Code::kInvalidArgument);  // once
  const Read r = read_all(t);
  CHECK(r.payloads == std::vector<std::string>{"last"});
  CHECK(r.skipped == 2);
  CHECK(t->stats().skipped == 2);
}

TEST_CASE("claims that are not committed yet hold readers back, in claim order") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("z").value();
  auto first = t->claim(8).value();
  auto second = t->claim(8).value();
  std::memcpy(second.payload().data(), "second!!", 8);
  REQUIRE(second.commit().ok());
  CHECK(t->published() == 0);
  CHECK(read_all(t).payloads.empty());
  std::memcpy(first.payload().data(), "first!!!", 8);
  REQUIRE(first.commit().ok());
  CHECK(read_all(t).payloads == std::vector<std::string>{"first!!!", "second!!"});
}

TEST_CASE("many claims open at once: slots are reused, 4096 at most, then kBusy until one ends") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.segment_bytes = 4u << 20;
  Topic* t = engine->create_topic("z", o).value();
  // Ended out of order, twice over: freed slots are found again.
  for (int round = 0; round < 2; ++round) {
    std::vector<Claim> open;
    for (int i = 0; i < 100; ++i) open.push_back(t->claim(8).value());
    for (int i = 99; i >= 0; --i) {
      std::memcpy(open[static_cast<std::size_t>(i)].payload().data(), "01234567", 8);
      if (i % 10 == 0)
        open[static_cast<std::size_t>(i)].abandon();
      else
        REQUIRE(open[static_cast<std::size_t>(i)].commit().ok());
    }
  }
  const Read r = read_all(t);
  CHECK(r.seqs.size() == 180);
  CHECK(r.skipped == 20);
  std::vector<Claim> open;
  for (int i = 0; i < 4096; ++i) open.push_back(t->claim(1).value());
  auto over = t->claim(1);
  REQUIRE(over.status().code() == Code::kBusy);
  CHECK(over.status().message().find("4096 claims are open") != std::string::npos);
  REQUIRE(open[17].commit().ok());
  auto again = t->claim(1);
  REQUIRE(again.ok());
  open.clear();  // abandoned, every one
  again->abandon();
  // The refused claim's room became a skip record too: readers pass it.
  const Read after = read_all(t);
  CHECK(after.seqs.size() == 181);
  CHECK(after.skipped == 20 + 4096 + 1);
}

TEST_CASE("a work group steps over skip records, acks them itself and counts them") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("z").value();
  const auto want = write_mixed(t, 20);
  WorkGroup* g = t->work_group("g").value();
  auto consumer = g->consumer().value();
  std::vector<std::string> got;
  Delivery d[16];
  for (PollResult r; (r = consumer->try_poll(d)).count != 0;)
    for (std::size_t i = 0; i < r.count; ++i) {
      got.emplace_back(d[i].record.payload());
      REQUIRE(consumer->ack(d[i]));
    }
  CHECK(got == want);
  const WorkGroupStats s = g->stats();
  CHECK(s.skipped == 20);
  CHECK(s.ack_floor == 60);  // the skip records are done too
}

TEST_CASE("a claim over max_payload_bytes or an envelope with a payload is refused") {
  auto engine = Engine::open().value();
  TopicOptions o = small_ring();
  Topic* t = engine->create_topic("z", o).value();
  CHECK(t->claim(o.max_payload_bytes + 1).status().code() == Code::kTooLarge);
  Message env;
  env.payload = "not here";
  CHECK(t->claim(8, env).status().code() == Code::kInvalidArgument);
  std::string huge(70'000, 'x');
  env = {};
  env.key = huge;
  CHECK(t->claim(8, env).status().code() == Code::kTooLarge);
  CHECK(t->claim(o.max_payload_bytes).ok());  // the largest fits (and is abandoned)
  CHECK(t->published() == 1);

  TopicOptions dd;
  dd.dedup.max_ids = 16;
  Topic* d = engine->create_topic("dedup", dd).value();
  env = {};
  env.id = "would need the dedup window";
  CHECK(d->claim(8, env).status().code() == Code::kInvalidArgument);
  env.id = {};
  CHECK(d->claim(8, env).ok());  // without an id, as any claim
}

TEST_CASE("claims crossing segment ends roll as publishes do") {
  auto engine = Engine::open().value();
  TopicOptions o = small_ring();
  o.ring_bytes = 8 * o.segment_bytes;
  Topic* t = engine->create_topic("z", o).value();
  std::vector<std::string> want;
  // ~1 KiB records: a 160 KiB segment ends every ~150 of them, mid-claim
  // for some of the claims held open across the roll.
  for (int i = 0; i < 600; ++i) {
    std::string p = std::to_string(i);
    p.resize(1000 + i % 24, static_cast<char>('a' + i % 26));
    if (i % 5 == 0) {
      auto held = t->claim(1024).value();  // open while the next ones roll past it
      claim_commit(t, p);
      want.push_back(p);
      if (i % 10 == 0) {
        held.abandon();
        continue;
      }
      std::memset(held.payload().data(), 'h', 1024);
      REQUIRE(held.commit().ok());
      want.insert(want.end() - 1, std::string(1024, 'h'));
      continue;
    }
    claim_commit(t, p);
    want.push_back(p);
  }
  CHECK(t->stats().segments > 2);
  const Read r = read_all(t);
  CHECK(r.payloads == want);
  CHECK(r.skipped == 60);
}

TEST_CASE("async topic: a log with skip records reopens intact; every reader steps over them") {
  TempDir dir;
  std::vector<std::string> want;
  {
    auto engine = Engine::open(engine_options(dir, false)).value();
    Topic* t = engine->create_topic("z", small_async()).value();
    want = write_mixed(t, 500);  // two segments and more
    CHECK(t->stats().skipped == 500);
    auto open = t->claim(100).value();  // still open at close: taken back
    CHECK(t->stats().segments >= 2);
  }
  auto engine = Engine::open(engine_options(dir, false)).value();
  Topic* t = engine->create_topic("z", small_async()).value();
  CHECK(t->published() == 1501);  // the skip records kept their sequences
  const Read r = read_all(t);
  CHECK(r.payloads == want);
  CHECK(r.skipped == 501);
  CHECK(t->stats().skipped == 0);  // counts this engine's claims only

  // A new claim after the reopen goes on from there.
  CHECK(claim_commit(t, "after the reopen") == 1501);

  // LogReader (another process's view) steps over them as well.
  LogReaderOptions from_start;
  from_start.start = StartAt::earliest();
  auto reader = LogReader::open(dir.path.string(), "z", from_start).value();
  std::vector<std::string> seen;
  std::uint64_t skipped = 0;
  RecordView v[32];
  for (;;) {
    auto r2 = reader->try_poll(v);
    REQUIRE(r2.ok());
    skipped += r2->skipped;
    for (std::size_t i = 0; i < r2->count; ++i) seen.emplace_back(v[i].payload());
    if (r2->count == 0) break;
  }
  want.push_back("after the reopen");
  CHECK(seen == want);
  CHECK(skipped == 501);

  // conduit-log's view: verify counts them, the topic reader names them.
  const inspect::TopicVerification ver = inspect::verify_topic(dir.path.string(), "z");
  CHECK(ver.problems.empty());
  CHECK(ver.skipped == 501);
  CHECK(ver.records == 1502);
  auto tr = inspect::TopicReader::open(dir.path.string(), "z").value();
  auto step = tr->next().value();
  REQUIRE(step.kind == inspect::TopicReader::Step::kRecord);
  step = tr->next().value();
  CHECK(step.kind == inspect::TopicReader::Step::kSkip);
  CHECK(step.sequence == 1);
  CHECK(!step.record.valid());
}

TEST_CASE("a crash after skip records: recovery's CRC scan keeps them as records") {
  TempDir dir;
  TopicOptions o = small_async();
  o.durability = Durability::kSync;  // everything durable before the "crash"
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child writes and dies without closing (no clean-close record).
    auto engine = Engine::open(engine_options(dir, false));
    if (!engine.ok()) ::_exit(2);
    auto t = (*engine)->create_topic("z", o);
    if (!t.ok()) ::_exit(3);
    for (int i = 0; i < 50; ++i) {
      if (!(*t)->publish("p" + std::to_string(i)).ok()) ::_exit(4);
      auto c = (*t)->claim(64);
      if (!c.ok()) ::_exit(5);
      std::memset(c->payload().data(), 0x33, 64);
      c->abandon();
    }
    if (!(*t)->publish("last").ok()) ::_exit(6);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  auto engine = Engine::open(engine_options(dir, false)).value();
  Topic* t = engine->create_topic("z", o).value();
  CHECK(t->published() == 101);  // nothing cut: the skip records passed the scan
  const Read r = read_all(t);
  CHECK(r.skipped == 50);
  REQUIRE(r.payloads.size() == 51);
  CHECK(r.payloads.back() == "last");
  CHECK(claim_commit(t, "after the crash") == 101);
}

TEST_CASE("sync topic: commit returns once durable; commit_nowait, then await_durable") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir, false)).value();
  TopicOptions o = small_async();
  o.durability = Durability::kSync;
  Topic* t = engine->create_topic("z", o).value();
  const std::uint64_t a = claim_commit(t, "durable at once");
  CHECK(t->durable() > a);
  auto c = t->claim(8).value();
  std::memcpy(c.payload().data(), "nowait!!", 8);
  const std::uint64_t b = c.commit_nowait().value();
  REQUIRE(t->await_durable(b, std::chrono::seconds(10)).ok());
  CHECK(t->durable() > b);
  (void)claim_abandon(t, 30);
  const std::uint64_t d = claim_commit(t, "after a skip");  // durable past the skip record
  CHECK(t->durable() > d);
  CHECK(read_all(t).payloads == std::vector<std::string>{"durable at once", "nowait!!", "after a skip"});
}

TEST_CASE("close takes back open claims: their commit is kClosed, readers finish, nothing hangs") {
  auto engine = Engine::open().value();
  Topic* t = engine->create_topic("z").value();
  auto sub = t->subscribe({.name = {}, .start = StartAt::earliest()}).value();
  auto open = t->claim(24).value();
  REQUIRE(t->publish("published after the claim").ok());
  engine->close();
  std::memcpy(open.payload().data(), "written after the close", 23);  // harmless: nobody reads it
  CHECK(open.commit().status().code() == Code::kClosed);
  CHECK(t->claim(8).status().code() == Code::kClosed);
  RecordView v[4];
  PollResult r = sub->try_poll(v);
  REQUIRE(r.count == 1);
  CHECK(v[0].payload() == "published after the claim");
  CHECK(r.skipped == 1);
  r = sub->try_poll(v);
  CHECK(r.closed);
  CHECK(t->stats().skipped == 1);
}

TEST_CASE("a claim outliving its engine ends quietly, its memory still mapped") {
  TempDir dir;
  std::optional<Claim> held;
  {
    auto engine = Engine::open(engine_options(dir, false)).value();
    Topic* t = engine->create_topic("z", small_async()).value();
    held = t->claim(64).value();
  }
  std::memset(held->payload().data(), 1, 64);
  CHECK(held->commit().status().code() == Code::kClosed);
  auto engine = Engine::open(engine_options(dir, false)).value();
  Topic* t = engine->create_topic("z", small_async()).value();
  CHECK(t->published() == 1);  // the skip record close() wrote
  CHECK(read_all(t).skipped == 1);
}

TEST_CASE("delete_topic takes back open claims: their commit is kNotFound") {
  TempDir dir;
  auto engine = Engine::open(engine_options(dir, false)).value();
  Topic* t = engine->create_topic("z", small_async()).value();
  auto open = t->claim(64).value();
  REQUIRE(engine->delete_topic("z").ok());
  CHECK(open.commit().status().code() == Code::kNotFound);
  CHECK(t->claim(8).status().code() == Code::kNotFound);
}

TEST_CASE("single_producer topics take claims from their publishing thread only") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.single_producer = true;
  Topic* t = engine->create_topic("z", o).value();
  REQUIRE(t->publish("first").ok());
  CHECK(claim_commit(t, "claimed") == 1);
  (void)claim_abandon(t, 8);
  std::thread other([&] { CHECK(t->claim(8).status().code() == Code::kInvalidArgument); });
  other.join();
  const Read r = read_all(t);
  CHECK(r.payloads == std::vector<std::string>{"first", "claimed"});
  CHECK(r.skipped == 1);
}

TEST_CASE("single_producer claims: nested, moved to another thread, taken back by close") {
  auto engine = Engine::open().value();
  TopicOptions o;
  o.single_producer = true;
  Topic* t = engine->create_topic("z", o).value();
  // Two open at once: the second is listed under the lock, the first in the
  // producer's own slot; they commit out of order and readers see both.
  auto a = t->claim(1).value();
  auto b = t->claim(1).value();
  b.payload()[0] = std::byte{'b'};
  a.payload()[0] = std::byte{'a'};
  REQUIRE(b.commit().ok());
  REQUIRE(a.commit().ok());
  // A claim moved to another thread and committed there frees the slot for
  // the producer's next claim, which lists itself without the lock again.
  auto moved = t->claim(1).value();
  moved.payload()[0] = std::byte{'m'};
  std::thread other([c = std::move(moved)]() mutable { CHECK(c.commit().ok()); });
  other.join();
  CHECK(claim_commit(t, "after") == 3);
  const Read r = read_all(t);
  CHECK(r.payloads == std::vector<std::string>{"a", "b", "m", "after"});
  CHECK(r.seqs == std::vector<std::uint64_t>{0, 1, 2, 3});
  // Open claims in both kinds of slot when the engine closes: both taken
  // back (skip records), both commits kClosed, the reader finishes.
  auto sub = t->subscribe({.name = {}, .start = StartAt::at(4)}).value();
  auto open1 = t->claim(4).value();
  auto open2 = t->claim(4).value();
  engine->close();
  CHECK(open1.commit().status().code() == Code::kClosed);
  CHECK(open2.commit().status().code() == Code::kClosed);
  CHECK(t->claim(4).status().code() == Code::kClosed);
  RecordView v[8];
  const PollResult p = sub->try_poll(v);
  CHECK(p.count == 0);
  CHECK(p.skipped == 2);
  CHECK(t->stats().skipped == 2);
}

TEST_CASE("a skip record written by a third party from offset, length and sequence alone checks") {
  // A segment with a record, then a claim's room holding garbage, then a record.
  std::vector<std::byte> seg(4096);
  Message m;
  m.payload = "a record before the claim";
  const std::size_t first = format::kSegmentHeaderSize;
  const std::uint32_t w = format::encode_record(seg.data() + first, m, 10, 1, true);
  format::commit_length(seg.data() + first, w);
  const std::size_t claim_at = first + format::align_up(w & format::kLengthMask);
  const std::uint32_t claim_len = 200;
  std::memset(seg.data() + claim_at + 8, 0x77, claim_len - 8);  // whatever the dead owner left
  format::write_skip(seg.data() + claim_at, claim_len, 11, true);
  const std::size_t after = claim_at + format::align_up(claim_len);
  format::commit_length(seg.data() + after, format::encode_record(seg.data() + after, m, 12, 2, true));
  const persistence::SegmentScan scan =
      persistence::scan_segment(seg.data(), seg.size(), 10, true, [](std::uint64_t, std::size_t) {});
  CHECK(!scan.problem);
  CHECK(scan.records == 3);
  CHECK(scan.skipped == 1);
  const persistence::RunCheck run =
      persistence::check_records(seg.data(), seg.size(), first, 10, 100, seg.size(), true);
  CHECK(run.records == 3);
  CHECK(run.stop.kind == persistence::RecordCheck::kEnd);

  // What its check covers: the sequence (and its CRC), not the body.
  std::memset(seg.data() + claim_at + 16, 0x11, 8);
  CHECK(
      persistence::check_record(seg.data(), seg.size(), claim_at, format::load_length(seg.data() + claim_at), 11, true)
          .skip);
  seg[claim_at + 8] = std::byte{12};
  const persistence::RecordCheck bad =
      persistence::check_record(seg.data(), seg.size(), claim_at, format::load_length(seg.data() + claim_at), 11, true);
  CHECK(bad.kind == persistence::RecordCheck::kBad);
  CHECK(bad.what == "CRC32C mismatch");
}

}  // namespace conduit::test
