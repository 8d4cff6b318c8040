// Corruption: what recovery does with damaged segment files. A torn tail
// above the durable watermark is cut back to its intact prefix; damage below
// the watermark, or in a segment header, is an error naming the file and the
// offset, and nothing is truncated.
//
// Each case builds a log with a clean close, damages the files while no
// engine is open, and reopens with verify_on_open.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/format.h"
#include "persistence/data_dir.h"
#include "persistence/segment_file.h"
#include "tests/support/helpers.h"

using namespace conduit;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const fs::path& base = "/tmp") {
    std::string tmpl = (base / "conduit-test-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

// The torn-tail table reopens the log hundreds of times, each with a few
// fdatasyncs; on tmpfs they cost nothing, and recovery's logic is the same
// (its zeroing takes the punch-hole path there, where ext4 zeroes a range).
fs::path scratch_base() { return fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::path("/tmp"); }

constexpr const char* kTopic = "ledger";
constexpr std::uint64_t kRecords = 300;
// The last records are small, so that the torn-tail table covers every byte
// of them, and take both record forms (format.h) in turn.
constexpr std::uint64_t kSmallTail = 4;

TopicOptions topic_options() {
  TopicOptions t;
  t.durability = Durability::kAsync;
  t.segment_bytes = 160 << 10;  // about 110 of the large records: the log spans three segments
  t.max_payload_bytes = 4096;
  return t;
}

// Every case damages a cleanly closed log: only a full check on open finds
// damage below the durable watermark then (a clean reopen reads no record).
EngineOptions engine_options(const TempDir& dir) {
  EngineOptions o;
  o.data_dir = dir.path.string();
  o.verify_on_open = true;
  return o;
}

fs::path topic_dir(const TempDir& dir) { return dir.path / "topics" / kTopic; }

// Record `seq`'s payload; it ends in a non-zero byte, so zeroing any suffix
// of a record changes it. Every payload has no envelope: at 24 bytes or
// more it is a short-form record, below that a full-form one.
std::string payload_for(std::uint64_t seq) {
  std::string p = "rec-" + std::to_string(seq);
  if (seq >= kRecords - kSmallTail) return seq % 2 == 0 ? p + std::string(20, 's') + "!" : p;
  p.append(1000 + (seq * 7919) % 400, static_cast<char>('a' + seq % 26));
  return p + "!";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::string bytes(fs::file_size(path), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(in);
  return bytes;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  REQUIRE(out);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

const std::byte* bytes_of(const std::string& s) { return reinterpret_cast<const std::byte*>(s.data()); }

// A committed record found by walking a segment's length words.
struct RecordAt {
  std::uint64_t seq;
  std::size_t offset;
  std::uint32_t length;  // unpadded
};

// Walks a segment file's records with the format's helpers, from the header
// to the first zero length or padding record.
std::vector<RecordAt> walk_records(const std::string& segment) {
  std::vector<RecordAt> out;
  std::size_t off = format::kSegmentHeaderSize;
  while (off + format::kRecordHeaderSize <= segment.size()) {
    const auto word = format::load<std::uint32_t>(bytes_of(segment) + off);
    if (word == 0 || (word & format::kPaddingFlag) != 0) break;
    const std::uint32_t length = word & format::kLengthMask;
    out.push_back({format::load<std::uint64_t>(bytes_of(segment) + off + format::rec::kSequence), off, length});
    off += format::align_up(length);
  }
  return out;
}

std::size_t end_of(const RecordAt& r) { return r.offset + format::align_up(r.length); }

// The log as a clean close left it, to damage again and again.
struct Log {
  TempDir dir;
  std::map<fs::path, std::string> pristine;  // every file of the topic
  std::vector<fs::path> segments;            // oldest first
  std::vector<RecordAt> tail_records;

  explicit Log(const fs::path& base = "/tmp") : dir(base) {
    {
      auto engine = Engine::open(engine_options(dir)).value();
      Topic* t = engine->create_topic(kTopic, topic_options()).value();
      for (std::uint64_t i = 0; i < kRecords; ++i) REQUIRE(t->publish(payload_for(i)).value() == i);
    }
    for (auto& e : fs::recursive_directory_iterator(topic_dir(dir)))
      if (e.is_regular_file()) pristine[e.path()] = read_file(e.path());
    auto listed = persistence::list_segments(topic_dir(dir).string());
    REQUIRE(listed.ok());
    for (auto& [first, path] : *listed) segments.emplace_back(path);
    REQUIRE(segments.size() >= 3);
    tail_records = walk_records(pristine.at(segments.back()));
    REQUIRE(tail_records.size() > kSmallTail);
    REQUIRE(tail_records.back().seq == kRecords - 1);
    // The small tail alternates the two record forms.
    const std::string& tail = pristine.at(segments.back());
    for (std::size_t i = tail_records.size() - kSmallTail; i < tail_records.size(); ++i) {
      const bool is_short =
          (format::load<std::uint32_t>(bytes_of(tail) + tail_records[i].offset) & format::kShortFlag) != 0;
      REQUIRE(is_short == (tail_records[i].seq % 2 == 0));
    }
  }

  // Puts every file back as the clean close left it (and removes any other).
  void restore() {
    std::vector<fs::path> extra;
    for (auto& e : fs::recursive_directory_iterator(topic_dir(dir)))
      if (e.is_regular_file() && !pristine.count(e.path())) extra.push_back(e.path());
    for (const fs::path& p : extra) fs::remove(p);
    for (auto& [path, bytes] : pristine) write_file(path, bytes);
  }

  // Applies `damage` to a copy of a pristine file and writes it back.
  std::string damage(const fs::path& file, const std::function<void(std::string&)>& damage) {
    std::string bytes = pristine.at(file);
    damage(bytes);
    write_file(file, bytes);
    return bytes;
  }

  const fs::path& tail() const { return segments.back(); }
};

// As after a crash: the control file is not marked clean and says nothing
// is known durable, so recovery may cut the tail back.
void forget_durable(const TempDir& dir) {
  auto control = persistence::ControlFile::open(topic_dir(dir).string());
  REQUIRE(control.ok());
  (*control)->set_durable(0);
  (*control)->set_published(0);
  REQUIRE((*control)->mark_open().ok());
}

// The files in TOPIC_DIR/torn/ (what recovery moved aside), by name.
std::map<std::string, std::string> torn_files(const TempDir& dir) {
  std::map<std::string, std::string> out;
  const fs::path torn = topic_dir(dir) / "torn";
  if (fs::is_directory(torn))
    for (auto& e : fs::directory_iterator(torn)) out[e.path().filename().string()] = read_file(e.path());
  return out;
}

// Reopens; the log must hold exactly records [0, expected), intact, and go
// on at `expected`. Afterwards the tail file holds those records, the new
// one, and zeros: nothing of the damage is left behind.
void expect_log_of(const Log& log, std::uint64_t expected) {
  {
    auto engine = Engine::open(engine_options(log.dir)).value();
    auto topic = engine->create_topic(kTopic, topic_options());
    REQUIRE_MESSAGE(topic.ok(), topic.status().to_string());
    Topic* t = *topic;
    REQUIRE(t->published() == expected);
    REQUIRE(test::read_dense_log(t, payload_for) == expected);
    REQUIRE(t->publish(payload_for(expected)).value() == expected);
  }
  const std::string tail = read_file(log.tail());
  const std::vector<RecordAt> records = walk_records(tail);
  REQUIRE(!records.empty());
  const std::uint64_t first = records.front().seq;
  for (std::size_t i = 0; i < records.size(); ++i) REQUIRE(records[i].seq == first + i);
  REQUIRE(records.back().seq == expected);
  const std::size_t end = end_of(records.back());
  REQUIRE(tail.find_first_not_of('\0', end) == std::string::npos);
}

// Opening must fail with `code`, naming `file` (and `offset` when given),
// and leave every segment file as it was: an error, not a truncation.
void expect_open_error(const Log& log, Code code, const fs::path& file, std::optional<std::size_t> offset) {
  std::map<fs::path, std::string> before;
  for (const fs::path& s : log.segments)
    if (fs::exists(s)) before[s] = read_file(s);
  {
    auto engine = Engine::open(engine_options(log.dir)).value();
    auto topic = engine->create_topic(kTopic, topic_options());
    REQUIRE_FALSE(topic.ok());
    const Status s = topic.status();
    CAPTURE(s.to_string());
    CHECK(s.code() == code);
    CHECK(s.message().find(file.string()) != std::string::npos);
    if (offset) CHECK(s.message().find("offset " + std::to_string(*offset)) != std::string::npos);
  }
  for (auto& [path, bytes] : before) {
    REQUIRE(fs::exists(path));
    CHECK(read_file(path) == bytes);
  }
}

}  // namespace

TEST_CASE("a torn tail is cut back to exactly the records before the damage, wherever the tear falls") {
  Log log(scratch_base());
  const auto& recs = log.tail_records;
  const std::size_t from = recs.size() - kSmallTail;
  struct Tear {
    const char* name;
    std::function<void(std::string&, std::size_t)> apply;
    // The records recovery keeps when the byte at `offset` of record `k`
    // (or of its padding, when `in_padding`) is damaged.
    std::function<std::uint64_t(std::uint64_t k, bool in_padding)> keeps;
  };
  const Tear tears[] = {
      // A truncated write: the file is preallocated, so the rest reads zero.
      {"zeroed from the offset to the end",
       [](std::string& f, std::size_t off) { std::fill(f.begin() + static_cast<std::ptrdiff_t>(off), f.end(), '\0'); },
       [](std::uint64_t k, bool in_padding) { return in_padding ? k + 1 : k; }},
      // A flipped byte: the record's CRC (or length) no longer holds. Padding
      // is no part of a record, so a flip there changes nothing.
      {"one byte flipped at the offset", [](std::string& f, std::size_t off) { f[off] = static_cast<char>(~f[off]); },
       [](std::uint64_t k, bool in_padding) { return in_padding ? kRecords : k; }},
  };
  int cases = 0;
  for (const Tear& tear : tears) {
    CAPTURE(tear.name);
    for (std::size_t i = from; i < recs.size(); ++i) {
      for (std::size_t off = recs[i].offset; off < end_of(recs[i]); ++off) {
        CAPTURE(recs[i].seq);
        CAPTURE(off);
        log.restore();
        log.damage(log.tail(), [&](std::string& f) { tear.apply(f, off); });
        forget_durable(log.dir);
        expect_log_of(log, tear.keeps(recs[i].seq, off >= recs[i].offset + recs[i].length));
        ++cases;
      }
    }
  }
  MESSAGE(cases << " torn tails recovered");
}

TEST_CASE("a damaged record in the tail below the durable watermark is an error naming the file and offset") {
  Log log;
  const RecordAt& victim = log.tail_records[log.tail_records.size() - 2];
  log.damage(log.tail(), [&](std::string& f) { f[victim.offset + format::rec::kStrings] ^= 0x01; });
  expect_open_error(log, Code::kCorruption, log.tail(), victim.offset);
}

TEST_CASE("a damaged record in an earlier segment below the durable watermark is an error naming the file and offset") {
  Log log;
  const fs::path& first = log.segments.front();
  const std::vector<RecordAt> records = walk_records(log.pristine.at(first));
  REQUIRE(records.size() > 20);
  SUBCASE("a payload byte") {
    log.damage(first, [&](std::string& f) { f[records[10].offset + records[10].length - 1] ^= 0x40; });
    expect_open_error(log, Code::kCorruption, first, records[10].offset);
  }
  SUBCASE("a length word") {
    log.damage(first, [&](std::string& f) { f[records[10].offset] ^= 0x08; });
    expect_open_error(log, Code::kCorruption, first, records[10].offset);
  }
  SUBCASE("a record zeroed") {
    log.damage(first, [&](std::string& f) {
      std::fill_n(f.begin() + static_cast<std::ptrdiff_t>(records[10].offset), format::align_up(records[10].length),
                  '\0');
    });
    expect_open_error(log, Code::kCorruption, first, records[10].offset);
  }
}

TEST_CASE("a segment header with a bad magic is an error naming the file, in any segment") {
  Log log;
  for (const fs::path& file : {log.segments.front(), log.segments.back()}) {
    CAPTURE(file);
    log.restore();
    log.damage(file, [](std::string& f) { f[format::seg::kMagic] ^= 0x20; });
    expect_open_error(log, Code::kCorruption, file, 0);
  }
}

TEST_CASE("a zeroed header on a segment holding durable records is an error, not an unfinished roll") {
  Log log;
  log.damage(log.tail(), [](std::string& f) { std::fill_n(f.begin(), format::kSegmentHeaderSize, '\0'); });
  expect_open_error(log, Code::kCorruption, log.tail(), 0);
}

TEST_CASE("a last segment whose header never reached the disk, above the durable watermark, is an unfinished roll") {
  Log log;
  // What a roll that died between reserving the file and writing its header
  // leaves: the next segment's name, its size, zeros.
  const fs::path unfinished = topic_dir(log.dir) / persistence::segment_file_name(kRecords);
  write_file(unfinished, std::string(topic_options().segment_bytes, '\0'));
  expect_log_of(log, kRecords);
  CHECK_FALSE(fs::exists(unfinished));
  // Moved aside, not deleted.
  const auto torn = torn_files(log.dir);
  REQUIRE(torn.size() == 1);
  CHECK(torn.begin()->first.ends_with("-" + unfinished.filename().string()));
}

TEST_CASE("a segment whose padding never reached the disk, followed by one that continues it, is repaired, not cut") {
  // What a power cut left when a round synced a segment's records, not yet
  // its padding, and later rounds synced the segments after it.
  Log log;
  for (std::size_t i = 0; i + 1 < log.segments.size(); ++i) {
    CAPTURE(log.segments[i]);
    log.restore();
    forget_durable(log.dir);  // nothing says durable: only the next segment's records show the roll happened
    const std::vector<RecordAt> records = walk_records(log.pristine.at(log.segments[i]));
    const std::size_t padding_at = end_of(records.back());
    log.damage(log.segments[i], [&](std::string& f) {
      REQUIRE((format::load<std::uint32_t>(bytes_of(f) + padding_at) & format::kPaddingFlag) != 0);
      std::fill_n(f.begin() + static_cast<std::ptrdiff_t>(padding_at), 4, '\0');
    });
    expect_log_of(log, kRecords);
    // Sealed again, as the roll had left it.
    CHECK(read_file(log.segments[i]) == log.pristine.at(log.segments[i]));
    CHECK(torn_files(log.dir).empty());
  }
}

TEST_CASE("records after a hole are moved aside, never deleted, and named once on stderr") {
  // A hole in the middle segment: its third record never reached the disk,
  // and nothing says it was durable. The log ends before it; the records
  // after it in that segment, and the whole last segment, go to torn/.
  Log log;
  forget_durable(log.dir);
  const fs::path& middle = log.segments[1];
  const std::vector<RecordAt> records = walk_records(log.pristine.at(middle));
  const RecordAt hole = records[2];
  log.damage(middle,
             [&](std::string& f) { std::fill_n(f.begin() + static_cast<std::ptrdiff_t>(hole.offset), 4, '\0'); });
  const std::string damaged = read_file(middle);
  std::string err;
  {
    std::unique_ptr<Engine> engine;
    err = test::stderr_of([&] {
      engine = Engine::open(engine_options(log.dir)).value();
      auto topic = engine->create_topic(kTopic, topic_options());
      REQUIRE_MESSAGE(topic.ok(), topic.status().to_string());
      REQUIRE((*topic)->published() == hole.seq);
      REQUIRE(test::read_dense_log(*topic, payload_for) == hole.seq);
      REQUIRE((*topic)->publish(payload_for(hole.seq)).value() == hole.seq);  // the log goes on
    });
  }
  CAPTURE(err);
  const auto torn = torn_files(log.dir);
  REQUIRE(torn.size() == 2);
  // The last segment, renamed whole.
  const std::string last_name = log.segments.back().filename().string();
  auto whole = std::find_if(torn.begin(), torn.end(), [&](auto& kv) { return kv.first.ends_with("-" + last_name); });
  REQUIRE(whole != torn.end());
  CHECK(whole->second == log.pristine.at(log.segments.back()));
  CHECK_FALSE(fs::exists(log.segments.back()));
  // The middle segment's bytes from the hole on, up to its last non-zero byte.
  const std::string piece_suffix = "-" + middle.filename().string() + ".at-" + std::to_string(hole.offset);
  auto piece = std::find_if(torn.begin(), torn.end(), [&](auto& kv) { return kv.first.ends_with(piece_suffix); });
  REQUIRE(piece != torn.end());
  const std::size_t last_byte = damaged.find_last_not_of('\0');
  CHECK(piece->second == damaged.substr(hole.offset, last_byte + 1 - hole.offset));
  // Named once.
  CHECK(err.find(whole->first) != std::string::npos);
  CHECK(err.find(piece->first) != std::string::npos);
  CHECK(err.find("moved aside") == err.rfind("moved aside"));
}

TEST_CASE("a segment written by an unknown format version is refused with kUnsupported naming the file") {
  Log log;
  for (const fs::path& file : {log.segments.front(), log.segments.back()}) {
    CAPTURE(file);
    log.restore();
    // As a later build would write it: a well-formed header, CRC included.
    log.damage(file, [](std::string& f) {
      format::SegmentHeader h;
      REQUIRE(format::decode_segment_header(bytes_of(f), &h) == format::HeaderCheck::kOk);
      h.version = format::kVersion + 1;
      format::encode_segment_header(reinterpret_cast<std::byte*>(f.data()), h);
    });
    expect_open_error(log, Code::kUnsupported, file, std::nullopt);
  }
}

TEST_CASE("garbage after the last record is never delivered, and is zeroed on open") {
  Log log;
  const RecordAt last = log.tail_records.back();
  const std::size_t end = end_of(last);
  std::mt19937_64 rng(0xc0ffee);
  struct Garbage {
    std::string name;
    std::string bytes;
  };
  std::vector<Garbage> table;
  for (int i = 0; i < 16; ++i) {
    std::string g(1 + rng() % 300, '\0');
    for (char& c : g) c = static_cast<char>(rng());
    table.push_back({"random bytes #" + std::to_string(i), g});
  }
  {
    // A plausible length and sequence, with a CRC that does not match.
    std::string g(64, 'x');
    format::store<std::uint32_t>(reinterpret_cast<std::byte*>(g.data()), 64);
    format::store<std::uint64_t>(reinterpret_cast<std::byte*>(g.data()) + format::rec::kSequence, kRecords);
    table.push_back({"a record header whose CRC does not match", g});
  }
  {
    // A padding record that does not end at the segment's end.
    std::string g(8, '\0');
    format::store<std::uint32_t>(reinterpret_cast<std::byte*>(g.data()), format::kPaddingFlag | 64);
    table.push_back({"a padding word in mid-segment", g});
  }
  {
    // An intact record from an earlier life of the log: right CRC, wrong sequence.
    table.push_back(
        {"a stale copy of the last record", log.pristine.at(log.tail()).substr(last.offset, end - last.offset)});
  }
  for (const Garbage& g : table) {
    CAPTURE(g.name);
    log.restore();
    log.damage(log.tail(), [&](std::string& f) { f.replace(end, g.bytes.size(), g.bytes); });
    expect_log_of(log, kRecords);
  }
}

// ---- read_only_on_corruption: open read-only up to the damage ----

namespace {

// Every file under the data directory and its bytes, but for DATA_DIR/counters:
// the live counters of whichever engine runs there, which every engine makes
// anew (doc/observability.md), and no part of the log.
std::map<fs::path, std::string> snapshot(const TempDir& dir) {
  std::map<fs::path, std::string> files;
  for (auto& e : fs::recursive_directory_iterator(dir.path))
    if (e.is_regular_file() && e.path() != dir.path / "counters") files[e.path()] = read_file(e.path());
  return files;
}

EngineOptions read_only_options(const TempDir& dir) {
  EngineOptions o = engine_options(dir);
  o.read_only_on_corruption = true;
  return o;
}

// Opening with read_only_on_corruption must give a read-only topic whose
// reason names `file` and `offset`, holding exactly records [0, intact);
// every write is refused with kReadOnly, and no file changes.
void expect_read_only(const Log& log, const fs::path& file, std::size_t offset, std::uint64_t intact) {
  const auto before = snapshot(log.dir);
  {
    auto engine = Engine::open(read_only_options(log.dir)).value();
    auto topic = engine->create_topic(kTopic, topic_options());
    REQUIRE_MESSAGE(topic.ok(), topic.status().to_string());
    Topic* t = *topic;
    const RecoveryStats stats = t->recovery_stats();
    CAPTURE(stats.read_only.to_string());
    REQUIRE(stats.read_only.code() == Code::kReadOnly);
    CHECK(stats.read_only.message().find(file.string()) != std::string::npos);
    CHECK(stats.read_only.message().find("offset " + std::to_string(offset)) != std::string::npos);
    CHECK(t->published() == intact);
    CHECK(t->earliest() == 0);

    SubscriberOptions named;
    named.name = "auditor";
    named.start = StartAt::earliest();
    auto sub = t->subscribe(named).value();
    std::vector<RecordView> views(64);
    std::uint64_t next = 0;
    for (PollResult r; (r = sub->try_poll(views)).count != 0;)
      for (std::size_t i = 0; i < r.count; ++i, ++next) {
        REQUIRE(views[i].sequence() == next);
        REQUIRE(views[i].payload() == payload_for(next));
      }
    CHECK(next == intact);

    const auto published = t->publish("more");
    REQUIRE_FALSE(published.ok());
    CHECK(published.status().code() == Code::kReadOnly);
    CHECK(published.status().message().find(kTopic) != std::string::npos);
    CHECK(published.status().message().find(file.string()) != std::string::npos);
    Message m;
    m.payload = "more";
    CHECK(t->publish_nowait(m).status().code() == Code::kReadOnly);
    CHECK(t->published() == intact);
    CHECK(t->await_durable(intact, std::chrono::milliseconds(1)).code() == Code::kReadOnly);
    CHECK(sub->commit().code() == Code::kReadOnly);
    CHECK(engine->delete_topic(kTopic).code() == Code::kReadOnly);
  }
  const auto after = snapshot(log.dir);
  CHECK(after.size() == before.size());
  for (const auto& entry : before) {  // not a structured binding: clang 14's CAPTURE lambda cannot name one
    const auto& path = entry.first;
    CAPTURE(path);
    REQUIRE(after.count(path) == 1);
    CHECK(after.at(path) == entry.second);
  }
}

}  // namespace

TEST_CASE(
    "with read_only_on_corruption a record damaged below the durable watermark opens the log read-only up to it") {
  Log log;
  SUBCASE("in the first segment") {
    const fs::path& first = log.segments.front();
    const std::vector<RecordAt> records = walk_records(log.pristine.at(first));
    REQUIRE(records.size() > 20);
    log.damage(first, [&](std::string& f) { f[records[10].offset + records[10].length - 1] ^= 0x40; });
    expect_read_only(log, first, records[10].offset, records[10].seq);
  }
  SUBCASE("in the tail") {
    const RecordAt& victim = log.tail_records[log.tail_records.size() - 2];
    log.damage(log.tail(), [&](std::string& f) { f[victim.offset + format::rec::kStrings] ^= 0x01; });
    expect_read_only(log, log.tail(), victim.offset, victim.seq);
  }
  SUBCASE("its first record") {
    const fs::path& second = log.segments[1];
    const std::vector<RecordAt> records = walk_records(log.pristine.at(second));
    log.damage(second, [&](std::string& f) { f[records[0].offset + format::rec::kCrc] ^= 0x01; });
    expect_read_only(log, second, records[0].offset, records[0].seq);
  }
}

TEST_CASE("with read_only_on_corruption a damaged segment header after the first opens the log read-only before it") {
  Log log;
  const fs::path& second = log.segments[1];
  const std::uint64_t first_of_second = walk_records(log.pristine.at(second)).front().seq;
  log.damage(second, [](std::string& f) { f[format::seg::kMagic] ^= 0x20; });
  expect_read_only(log, second, 0, first_of_second);
}

TEST_CASE("with read_only_on_corruption a log without damage below the durable watermark opens writable") {
  Log log;
  SUBCASE("intact") {}
  SUBCASE("with a torn tail, cut back as usual") {
    log.damage(log.tail(), [&](std::string& f) { f[log.tail_records.back().offset + format::rec::kStrings] ^= 0x01; });
    forget_durable(log.dir);
  }
  auto engine = Engine::open(read_only_options(log.dir)).value();
  Topic* t = engine->create_topic(kTopic, topic_options()).value();
  CHECK(t->recovery_stats().read_only.ok());
  const std::uint64_t end = t->published();
  CHECK(end >= kRecords - 1);
  CHECK(t->publish("after").value() == end);
}

TEST_CASE("without read_only_on_corruption nothing is read-only: the damaged log is refused") {
  Log log;
  const RecordAt& victim = log.tail_records[log.tail_records.size() - 2];
  log.damage(log.tail(), [&](std::string& f) { f[victim.offset + format::rec::kStrings] ^= 0x01; });
  expect_open_error(log, Code::kCorruption, log.tail(), victim.offset);
}
