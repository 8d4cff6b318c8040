// conduit-log, run as a separate process (CONDUIT_LOG_PATH) over logs that
// these tests make: golden output of ls, dump and stats; verify names each
// kind of damage; tail -f follows a log that an engine in another process
// is writing; dump reads a log while its engine writes it; no input makes
// the tool crash or hang.
//
// fork() happens only while this process has no engine open (doctest runs
// one test case at a time), so each child starts single-threaded.
#include <doctest/doctest.h>

#include <conduit/conduit.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/format.h"
#include "conduit/inspect.h"
#include "persistence/data_dir.h"
#include "persistence/segment_file.h"
#include "tests/support/conduit_log_tool.h"

using namespace conduit;
using namespace conduit::test::log_tool;

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
  return s;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

std::size_t count_lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

// `s` as the tool writes it in JSON (these payloads are plain ASCII).
std::string json_string_of(const std::string& s) { return "\"" + s + "\""; }

constexpr std::int64_t kT0 = 1'700'000'000'000'000'000;  // 2023-11-14T22:13:20Z

// An engine on `dir` and its async topic `name` of 160 KiB segments.
struct OpenTopic {
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  OpenTopic(const TempDir& dir, const char* name, std::size_t max_payload) {
    EngineOptions eo;
    eo.data_dir = dir.str();
    engine = Engine::open(eo).value();
    TopicOptions to;
    to.durability = Durability::kAsync;
    to.segment_bytes = 160 << 10;
    to.max_payload_bytes = max_payload;
    topic = engine->create_topic(name, to).value();
  }
};

// A small log with every envelope field, stamped at fixed times; a named
// subscriber at 2 and a work group at 1.
void make_small_log(const TempDir& dir) {
  OpenTopic open(dir, "orders", 1024);
  Topic* t = open.topic;
  Header h1[] = {{"tenant", "acme"}, {"region", "eu"}};
  Message m;
  m.payload = "order 42";
  m.key = "customer-7";
  m.id = "m-1";
  m.correlation_id = "c-9";
  m.trace_id = "t-abc";
  m.content_type = "text/plain";
  m.schema_version = 3;
  m.headers = h1;
  m.timestamp_ns = kT0;
  REQUIRE(t->publish(m).value() == 0);
  Message m2;
  m2.payload = "order 43\nsecond line";
  m2.key = "customer-8";
  m2.reply_to = "replies";
  m2.timestamp_ns = kT0 + 1'000'000'000;
  REQUIRE(t->publish(m2).value() == 1);
  const char bin[] = {'\x00', '\x01', '\xff', 'A'};
  Message m3;
  m3.payload = std::string_view(bin, sizeof bin);
  m3.key = "customer-7";
  m3.timestamp_ns = kT0 + 2'500'000'000;
  REQUIRE(t->publish(m3).value() == 2);
  const std::string zs(300, 'z');
  Message m4;
  m4.payload = zs;
  m4.timestamp_ns = kT0 + 4'000'000'000;
  REQUIRE(t->publish(m4).value() == 3);
  SubscriberOptions so;
  so.name = "audit";
  so.start = StartAt::earliest();
  auto sub = t->subscribe(so).value();
  RecordView views[2];
  REQUIRE(sub->try_poll(views).count == 2);
  REQUIRE(sub->commit().ok());
  WorkGroup* g = t->work_group("billing").value();
  auto c = g->consumer().value();
  Delivery d[1];
  REQUIRE(c->try_poll(d).count == 1);
  c->ack(d[0]);
  REQUIRE(g->commit().ok());
}

}  // namespace

TEST_CASE("every command answers --help, and bad arguments get a clear error and exit 2") {
  for (const char* cmd : {"ls", "dump", "tail", "verify", "stats"}) {
    const Run r = run_tool({cmd, "--help"});
    CHECK(r.code == 0);
    CHECK(r.out.find(std::string("usage: conduit-log ") + cmd) == 0);
  }
  CHECK(run_tool({"--help"}).code == 0);
  Run r = run_tool({});
  CHECK(r.code == 2);
  r = run_tool({"frobnicate"});
  CHECK(r.code == 2);
  CHECK(r.err.find("unknown command 'frobnicate'") != std::string::npos);
  r = run_tool({"dump", "/nonexistent", "orders", "--limit", "ten"});
  CHECK(r.code == 2);
  CHECK(r.err.find("--limit needs a non-negative integer, not 'ten'") != std::string::npos);
  r = run_tool({"dump", "/nonexistent", "orders", "--bogus"});
  CHECK(r.code == 2);
  CHECK(r.err.find("unknown option '--bogus'") != std::string::npos);
  r = run_tool({"stats", "/nonexistent"});
  CHECK(r.code == 2);
  CHECK(r.err.find("missing arguments") != std::string::npos);
  r = run_tool({"ls", "/nonexistent/conduit"});
  CHECK(r.code == 1);
  CHECK(r.err == "conduit-log ls: /nonexistent/conduit: no such data directory\n");
  TempDir dir;
  make_small_log(dir);
  r = run_tool({"dump", dir.str(), "payments"});
  CHECK(r.code == 1);
  CHECK(r.err == "conduit-log dump: no topic 'payments' in " + dir.str() + " (topics: orders)\n");
  r = run_tool({"tail", dir.str(), "../etc"});
  CHECK(r.code == 1);
  CHECK(r.err.find("'../etc'") != std::string::npos);
  r = run_tool({"dump", dir.str(), "orders", "--since", "yesterday"});
  CHECK(r.code == 2);
}

TEST_CASE("golden output of ls, dump, tail and stats on a small log") {
  TempDir dir;
  make_small_log(dir);
  Run r = run_tool({"ls", dir.str()});
  CHECK(r.code == 0);
  CHECK(replace_all(r.out, dir.str(), "DIR") == R"(DIR: 1 topic
topic orders  (closed cleanly)
  records     0..3 (4 records in 1 segment, 664 of 163840 bytes)
  time        2023-11-14T22:13:20.000000000Z .. 2023-11-14T22:13:24.000000000Z
  watermarks  durable 4, published 4 (as of the last sync)
  segment     00000000000000000000.seg  0..3  4 records  664 of 163840 bytes
  work group  billing  position 1  lag 3  (furthest behind)
  subscriber  audit  position 2  lag 2
)");
  const std::string zs(300, 'z');
  r = run_tool({"dump", dir.str(), "orders"});
  CHECK(r.code == 0);
  CHECK(
      r.out ==
      R"(#0  2023-11-14T22:13:20.000000000Z  113 bytes  key=customer-7  id=m-1  correlation=c-9  trace=t-abc  content-type=text/plain  schema=3
    tenant: acme
    region: eu
    order 42
#1  2023-11-14T22:13:21.000000000Z  85 bytes  key=customer-8  reply-to=replies
    order 43\nsecond line
#2  2023-11-14T22:13:22.500000000Z  62 bytes  key=customer-7
    \x00\x01\xffA
#3  2023-11-14T22:13:24.000000000Z  324 bytes
    )" + zs +
          "\n");
  r = run_tool({"dump", dir.str(), "orders", "--key", "customer-7", "--payload", "hex", "--from", "1"});
  CHECK(r.code == 0);
  CHECK(r.out == R"(#2  2023-11-14T22:13:22.500000000Z  62 bytes  key=customer-7
    000000  0001ff41
)");
  r = run_tool({"dump", dir.str(), "orders", "--header", "tenant=acme", "--payload", "none"});
  CHECK(r.out.find("#0 ") == 0);
  CHECK(count_lines(r.out) == 3);
  r = run_tool({"dump", dir.str(), "orders", "--since", "2023-11-14T22:13:22Z", "--limit", "1", "--payload", "none"});
  CHECK(r.out == "#2  2023-11-14T22:13:22.500000000Z  62 bytes  key=customer-7\n");
  r = run_tool({"dump", dir.str(), "orders", "--json", "--limit", "3"});
  CHECK(r.code == 0);
  CHECK(
      r.out ==
      R"({"seq":0,"timestamp_ns":1700000000000000000,"timestamp_ns_str":"1700000000000000000","time":"2023-11-14T22:13:20.000000000Z","size":113,"id":"m-1","key":"customer-7","correlation_id":"c-9","reply_to":"","trace_id":"t-abc","content_type":"text/plain","schema_version":3,"headers":[{"name":"tenant","value":"acme"},{"name":"region","value":"eu"}],"payload_size":8,"payload":"order 42"}
{"seq":1,"timestamp_ns":1700000001000000000,"timestamp_ns_str":"1700000001000000000","time":"2023-11-14T22:13:21.000000000Z","size":85,"id":"","key":"customer-8","correlation_id":"","reply_to":"replies","trace_id":"","content_type":"","schema_version":0,"headers":[],"payload_size":20,"payload":"order 43\nsecond line"}
{"seq":2,"timestamp_ns":1700000002500000000,"timestamp_ns_str":"1700000002500000000","time":"2023-11-14T22:13:22.500000000Z","size":62,"id":"","key":"customer-7","correlation_id":"","reply_to":"","trace_id":"","content_type":"","schema_version":0,"headers":[],"payload_size":4,"payload_base64":"AAH/QQ=="}
)");
  r = run_tool({"tail", "-n", "2", dir.str(), "orders", "--payload", "base64"});
  CHECK(r.code == 0);
  CHECK(r.out == R"(#2  2023-11-14T22:13:22.500000000Z  62 bytes  key=customer-7
    AAH/QQ==
#3  2023-11-14T22:13:24.000000000Z  324 bytes
    )" + repeat("enp6", 100) +
                     "\n");  // base64 of "zzz" is "enp6"
  r = run_tool({"stats", dir.str(), "orders", "--slices", "4"});
  CHECK(r.code == 0);
  CHECK(r.out == R"(topic orders: 4 records (0..3), 332 payload bytes
time range  2023-11-14T22:13:20.000000000Z .. 2023-11-14T22:13:24.000000000Z (4.000 s)
rate        1.000 records/s over the range

payload size (bytes)     records
  4..7                        1  ########################################
  8..15                       1  ########################################
  16..31                      1  ########################################
  256..511                    1  ########################################

records per second, 4 slices of 1.000 s
  2023-11-14T22:13:20.000000000Z         1 records         1.000/s
  2023-11-14T22:13:21.000000000Z         1 records         1.000/s
  2023-11-14T22:13:22.000000000Z         1 records         1.000/s
  2023-11-14T22:13:23.000000000Z         1 records         1.000/s

largest keys (payload bytes)
  customer-8                     20 bytes       1 records
  customer-7                     12 bytes       2 records
)");
  r = run_tool({"verify", dir.str()});
  CHECK(r.code == 0);
  CHECK(r.out == "topic orders: 1 segment, 4 records (0..3): ok\n");
}

TEST_CASE("JSON output of every command pipes into jq") {
  if (std::system("jq --version > /dev/null 2>&1") != 0) {
    MESSAGE("jq is not installed (scripts/setup.sh installs it): skipped");
    return;
  }
  TempDir dir;
  make_small_log(dir);
  const std::string tool = CONDUIT_LOG_PATH, d = dir.str();
  auto jq = [&](const std::string& args, const std::string& filter) {
    const std::string cmd = tool + " " + args + " | jq -r '" + filter + "' 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    CHECK(::pclose(p) == 0);
    return out;
  };
  CHECK(jq("dump " + d + " orders --json", ".seq") == "0\n1\n2\n3\n");
  CHECK(jq("dump " + d + " orders --json", "select(.key == \"customer-7\") | .headers[0].value // \"-\"") ==
        "acme\n-\n");
  CHECK(jq("dump " + d + " orders --json --payload hex --limit 1", ".payload_hex") == "6f72646572203432\n");
  CHECK(jq("ls " + d + " --json", ".topics[0].positions[] | \"\\(.name) \\(.lag)\"") == "billing 3\naudit 2\n");
  CHECK(jq("verify " + d + " --json", ".ok") == "true\n");
  CHECK(jq("stats " + d + " orders --json", ".largest_keys[0].key, .records_per_second") == "customer-8\n1\n");

  // jq reads numbers as doubles: a timestamp that is not a multiple of 256
  // ns comes out rounded; timestamp_ns_str and time stay exact.
  TempDir exact;
  {
    OpenTopic open(exact, "stamps", 1024);
    Message m;
    m.payload = "x";
    m.timestamp_ns = kT0 + 123'456'789;
    REQUIRE(open.topic->publish(m).ok());
  }
  const std::string e = exact.str();
  CHECK(jq("dump " + e + " stamps --json", ".timestamp_ns_str, .time") ==
        "1700000000123456789\n2023-11-14T22:13:20.123456789Z\n");
}

TEST_CASE("small CLI gaps: -n1, --version, a file for DIR, --from past the end, an empty header name") {
  TempDir dir;
  make_small_log(dir);
  const std::string d = dir.str();
  // A short option's value may follow it directly.
  const Run n1 = run_tool({"tail", "-n1", d, "orders", "--payload", "none"});
  CHECK(n1.code == 0);
  CHECK(n1.out == "#3  2023-11-14T22:13:24.000000000Z  324 bytes\n");
  CHECK(n1.out == run_tool({"tail", "-n", "1", d, "orders", "--payload", "none"}).out);
  CHECK(run_tool({"tail", "-x1", d, "orders"}).err.find("unknown option '-x1'") != std::string::npos);

  const Run v = run_tool({"--version"});
  CHECK(v.code == 0);
  const std::string formats = "(log format " + std::to_string(inspect::kFormatVersion) + "; reads formats " +
                              std::to_string(inspect::kOldestFormatVersion) + " to " +
                              std::to_string(inspect::kFormatVersion) + ")\n";
  CHECK(v.out.starts_with("conduit-log "));
  CHECK(v.out.ends_with(formats));
  CHECK(v.out.find_first_of("0123456789") == std::string("conduit-log ").size());  // the version number

  // A file where the data directory goes: not "no such data directory".
  const std::string file = d + "/topics/orders/control";
  for (const char* cmd : {"ls", "verify"}) {
    const Run r = run_tool({cmd, file});
    CHECK(r.code == 1);
    CHECK(r.err == std::string("conduit-log ") + cmd + ": " + file +
                       ": not a directory (conduit-log takes an engine's data directory)\n");
  }
  CHECK(run_tool({"dump", file, "orders"}).err.find(file + ": not a directory") != std::string::npos);

  // --from at or past the end: nothing on stdout, where the log ends on stderr.
  for (const char* from : {"4", "10"}) {
    CAPTURE(from);
    const Run r = run_tool({"dump", d, "orders", "--from", from});
    CHECK(r.code == 0);
    CHECK(r.out.empty());
    CHECK(r.err == std::string("conduit-log dump: --from ") + from +
                       " is past the end: the log of 'orders' ends at 4 (records 0..3)\n");
  }
  const Run last = run_tool({"dump", d, "orders", "--from", "3", "--payload", "none"});
  CHECK(last.out == "#3  2023-11-14T22:13:24.000000000Z  324 bytes\n");
  CHECK(last.err.empty());
  CHECK(run_tool({"tail", d, "orders", "--from", "7"}).err.find("ends at 4 (records 0..3)") != std::string::npos);

  for (const char* header : {"=x", "", "="}) {
    CAPTURE(header);
    const Run r = run_tool({"dump", d, "orders", "--header", header});
    CHECK(r.code == 2);
    CHECK(r.err == std::string("conduit-log dump: --header needs a name (NAME or NAME=VALUE), not '") + header + "'\n");
  }
}

TEST_CASE("stats: no slices for records that share one timestamp, and short spans keep their digits") {
  TempDir dir;
  auto publish_at = [](Topic* t, std::initializer_list<std::int64_t> offsets) {
    for (std::int64_t off : offsets) {
      Message m;
      m.payload = "same";
      m.timestamp_ns = kT0 + off;
      REQUIRE(t->publish(m).ok());
    }
  };
  {
    OpenTopic one(dir, "one", 1024);
    publish_at(one.topic, {0, 0, 0, 0, 0});
    TopicOptions to;
    to.durability = Durability::kAsync;
    to.segment_bytes = 160 << 10;
    to.max_payload_bytes = 1024;
    publish_at(one.engine->create_topic("short", to).value(), {0, 300, 700});
    publish_at(one.engine->create_topic("tiny", to).value(), {0, 1, 3});
  }
  Run r = run_tool({"stats", dir.str(), "one"});
  CHECK(r.code == 0);
  CHECK(r.out == R"(topic one: 5 records (0..4), 20 payload bytes
time range  2023-11-14T22:13:20.000000000Z (every record has this timestamp)
rate        n/a (no time passes between the records)

payload size (bytes)     records
  4..7                        5  ########################################

largest keys (payload bytes)
  (no record has a key)
)");
  r = run_tool({"stats", dir.str(), "one", "--json"});
  CHECK(r.out.find("\"span_ns\":0,\"records_per_second\":null,\"slice_ns\":null,") != std::string::npos);
  CHECK(r.out.find("\"slices\":[]") != std::string::npos);

  r = run_tool({"stats", dir.str(), "short"});
  CHECK(r.out.find("(700.0 ns)\n") != std::string::npos);
  CHECK(r.out.find("records per second, 10 slices of 70.0 ns\n") != std::string::npos);
  r = run_tool({"stats", dir.str(), "tiny", "--slices", "10"});
  CHECK(r.out.find("records per second, 3 slices of 1.0 ns (not 10: timestamps are whole ns)\n") != std::string::npos);
}

namespace {

constexpr std::uint64_t kDamageRecords = 400;

std::string payload_of(std::uint64_t seq) { return "rec-" + std::to_string(seq) + std::string(1000, 'p'); }

// A closed log of three segments (about 150 records each).
struct ThreeSegments {
  TempDir dir;
  std::vector<std::string> segs;
  ThreeSegments() {
    {
      OpenTopic open(dir, "ledger", 2048);
      Topic* t = open.topic;
      for (std::uint64_t i = 0; i < kDamageRecords; ++i) REQUIRE(t->publish(payload_of(i)).value() == i);
    }
    auto listed = persistence::list_segments(dir.str() + "/topics/ledger");
    REQUIRE(listed.ok());
    for (auto& [first, path] : *listed) segs.push_back(path);
    REQUIRE(segs.size() == 3);
  }
  std::uint64_t first_of(std::size_t i) const { return std::stoull(fs::path(segs[i]).stem().string()); }
};

// Overwrites bytes of a file in place.
void poke(const std::string& path, std::size_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f);
}

std::string peek(const std::string& path, std::size_t offset, std::size_t n) {
  std::ifstream f(path, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  std::string out(n, '\0');
  f.read(out.data(), static_cast<std::streamsize>(n));
  REQUIRE(f);
  return out;
}

// verify fails (exit 1) and names `file offset N: what`; dump stops with an
// error too, and ls still runs.
void expect_problem(const ThreeSegments& log, const std::string& where_what) {
  const Run v = run_tool({"verify", log.dir.str()});
  CHECK(v.code == 1);
  CHECK_MESSAGE(v.out.find(where_what) != std::string::npos, v.out);
  CHECK(run_tool({"ls", log.dir.str()}).code == 0);
}

}  // namespace

TEST_CASE("verify passes an intact log and names the file and offset of each kind of damage") {
  ThreeSegments log;
  const std::string& mid = log.segs[1];
  const std::uint64_t mid_first = log.first_of(1);

  SUBCASE("intact") {
    const Run v = run_tool({"verify", log.dir.str(), "ledger"});
    CHECK(v.code == 0);
    CHECK(v.out == "topic ledger: 3 segments, 400 records (0..399): ok\n");
    const Run d = run_tool({"dump", log.dir.str(), "ledger", "--json", "--payload", "none"});
    CHECK(d.code == 0);
    CHECK(count_lines(d.out) == kDamageRecords);
  }
  SUBCASE("a record's CRC") {
    poke(mid, 64 + 200, "X");
    expect_problem(log, mid + " offset 64: CRC32C mismatch (sequence " + std::to_string(mid_first) + ")");
    const Run d = run_tool({"dump", log.dir.str(), "ledger", "--payload", "none"});
    CHECK(d.code == 1);
    CHECK(d.err.find(mid + " offset 64: CRC32C mismatch") != std::string::npos);
    CHECK(count_lines(d.out) == mid_first);  // every record before it, none after
  }
  SUBCASE("a segment header") {
    poke(mid, 24, "\x01");  // the creation time, under the header's CRC
    expect_problem(log, mid + " offset 60: bad segment header: CRC32C mismatch");
    CHECK(run_tool({"dump", log.dir.str(), "ledger"}).code == 1);
  }
  SUBCASE("a segment that is not one (magic)") {
    poke(mid, 0, "XXXXXXXX");
    expect_problem(log, mid + " offset 0: bad segment header: not a conduit segment (magic)");
  }
  SUBCASE("a sequence gap: a segment missing in the middle") {
    fs::remove(mid);
    expect_problem(log, log.segs[2] + " offset 16: sequence gap: records " + std::to_string(mid_first) + " to " +
                            std::to_string(log.first_of(2) - 1) + " are missing before this segment");
    // dump reports the gap, in text and in JSON.
    const Run d = run_tool({"dump", log.dir.str(), "ledger", "--json", "--payload", "none"});
    CHECK(d.code == 0);
    CHECK(d.out.find("{\"gap_from\":" + std::to_string(mid_first) + ",\"gap_to\":" + std::to_string(log.first_of(2)) +
                     "}") != std::string::npos);
  }
  SUBCASE("a record with the wrong sequence (and a CRC that matches it)") {
    std::string rec = peek(mid, 64, 8 + 48);
    const auto len = format::load<std::uint32_t>(reinterpret_cast<const std::byte*>(rec.data())) & format::kLengthMask;
    rec = peek(mid, 64, len);
    format::store<std::uint64_t>(reinterpret_cast<std::byte*>(rec.data()) + 8, mid_first + 7);
    format::store<std::uint32_t>(reinterpret_cast<std::byte*>(rec.data()) + 4,
                                 format::record_crc(reinterpret_cast<const std::byte*>(rec.data()), len));
    poke(mid, 64, rec);
    expect_problem(log, mid + " offset 64: sequence " + std::to_string(mid_first + 7) + " where " +
                            std::to_string(mid_first) + " was expected");
  }
  SUBCASE("a truncated file") {
    fs::resize_file(log.segs[2], 100000);
    expect_problem(log, log.segs[2] + " offset 100000: truncated: the file is 100000 bytes, its header says 163840");
    CHECK(run_tool({"dump", log.dir.str(), "ledger"}).code == 1);
  }
  SUBCASE("garbage after the end of the log") {
    poke(log.segs[2], 150000, "garbage");
    expect_problem(log, log.segs[2] + " offset 150000: garbage: non-zero bytes after the end of the log");
  }
  SUBCASE("a damaged control file") {
    const std::string control = log.dir.str() + "/topics/ledger/control";
    poke(control, 0, "garbage!");
    expect_problem(log, control + " offset 0: not a conduit control file (or an unknown version)");
  }
  SUBCASE("a garbage file named as a segment") {
    const std::string junk = log.dir.str() + "/topics/ledger/" + persistence::segment_file_name(100000);
    std::mt19937 rng(7);
    std::string bytes(70000, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    std::ofstream(junk, std::ios::binary) << bytes;
    expect_problem(log, junk + " offset 0: bad segment header: not a conduit segment (magic)");
  }
}

TEST_CASE("verify calls a last segment whose header is still zeros a roll in progress, not a gap") {
  // As a roll looks between creating the new file (or renaming the spare to
  // its name) and writing its header: the segment before it ends in its
  // padding record, but two producers that claimed space before the roll
  // have not committed their records yet (a hole before the padding), so
  // the new file's name is past the last committed record. The engine that
  // rolls has the log open: its control file says "not clean".
  ThreeSegments log;
  const std::string topic_dir = log.dir.str() + "/topics/ledger";
  REQUIRE(persistence::ControlFile::open(topic_dir).value()->mark_open().ok());
  const std::string& tail = log.segs[2];
  const auto summary = inspect::summarize_topic(log.dir.str(), "ledger").value();
  REQUIRE(summary.end_seq() == kDamageRecords);
  const std::size_t end = summary.segments[2].used_bytes, capacity = summary.segments[2].capacity;
  const std::size_t padding_at = end + 2 * 1088;  // two claims of a 1000-byte payload's record
  std::string word(4, '\0');
  format::store<std::uint32_t>(reinterpret_cast<std::byte*>(word.data()),
                               format::kPaddingFlag | static_cast<std::uint32_t>(capacity - padding_at));
  poke(tail, padding_at, word);
  const std::string rolling = topic_dir + "/" + persistence::segment_file_name(kDamageRecords + 2);
  std::ofstream(rolling, std::ios::binary) << std::string(capacity, '\0');

  const Run v = run_tool({"verify", log.dir.str(), "ledger"});
  CHECK_MESSAGE(v.code == 0, v.out);
  CHECK(v.out.starts_with("topic ledger: 4 segments, 400 records (0..399): ok\n"));
  CHECK(v.out.find(rolling + ": no header yet: a roll in progress") != std::string::npos);
  CHECK(v.out.find("gap") == std::string::npos);
  CHECK(v.out.find("padding") == std::string::npos);
  const Run j = run_tool({"verify", log.dir.str(), "ledger", "--json"});
  CHECK(j.code == 0);
  CHECK(j.out.find("\"problems\":[]") != std::string::npos);
  CHECK(j.out.find("\"ok\":true") != std::string::npos);

  SUBCASE("a file after it makes the zeros damage again") {
    // Not the last segment: a header that never reached the disk under a
    // later segment is lost data, whatever its name.
    fs::copy_file(log.segs[0], topic_dir + "/" + persistence::segment_file_name(kDamageRecords + 500));
    const Run w = run_tool({"verify", log.dir.str(), "ledger"});
    CHECK(w.code == 1);
    CHECK_MESSAGE(w.out.find(rolling + " offset 0: bad segment header") != std::string::npos, w.out);
  }
  SUBCASE("a durable watermark above its name makes the zeros damage again") {
    // Records at or above its first sequence were durable: its header was
    // synced, so zeros there are lost data, not a roll in progress.
    auto control = persistence::ControlFile::open(topic_dir).value();
    control->set_durable(kDamageRecords + 3);
    REQUIRE(control->mark_open().ok());
    const Run w = run_tool({"verify", log.dir.str(), "ledger"});
    CHECK(w.code == 1);
    CHECK_MESSAGE(w.out.find(rolling + " offset 0: bad segment header") != std::string::npos, w.out);
  }
}

TEST_CASE("no damage makes a command crash or hang") {
  ThreeSegments log;
  std::mt19937_64 rng(20261123);
  std::vector<std::string> pristine;
  for (const auto& s : log.segs) pristine.push_back(slurp(s));
  for (int round = 0; round < 12; ++round) {
    CAPTURE(round);
    for (std::size_t i = 0; i < log.segs.size(); ++i) std::ofstream(log.segs[i], std::ios::binary) << pristine[i];
    const std::size_t which = rng() % log.segs.size();
    const std::size_t size = pristine[which].size();
    switch (rng() % 3) {
      case 0:  // scattered byte flips, headers included
        for (int k = 0; k < 8; ++k)
          poke(log.segs[which], rng() % (k < 2 ? 128 : size), std::string(1, static_cast<char>(rng())));
        break;
      case 1:  // a plausible length word somewhere
        poke(log.segs[which], (rng() % (size / 8)) * 8, std::string("\xff\xff\x00\x00", 4));
        break;
      default: fs::resize_file(log.segs[which], rng() % size);
    }
    for (const std::vector<std::string>& args : {std::vector<std::string>{"verify", log.dir.str()},
                                                 {"ls", log.dir.str()},
                                                 {"dump", log.dir.str(), "ledger", "--json"},
                                                 {"stats", log.dir.str(), "ledger"},
                                                 {"tail", "-n", "5", log.dir.str(), "ledger"}}) {
      const Run r = run_tool(args);
      CAPTURE(args[0]);
      CHECK((r.code == 0 || r.code == 1));
    }
  }
}

namespace {

std::string live_payload(std::uint64_t seq) {
  return "live-" + std::to_string(seq) + std::string(seq % 3 == 0 ? 12000 : 100, 'q');
}

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("tail -f sees records that an engine in another process appends, across segment rolls") {
  TempDir dir;
  constexpr std::uint64_t kRecords = 100;  // three segments: the large records roll them
  EngineChild child(dir.str(), [](Topic* t, int tell_fd, int wait_fd) {
    if (!t->publish(live_payload(0)).ok() || !tell(tell_fd) || !wait_for(wait_fd)) return 1;
    for (std::uint64_t i = 1; i < kRecords; ++i) {
      if (!t->publish(live_payload(i)).ok()) return 1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return wait_for(wait_fd) ? 0 : 1;  // stay open until the parent has read everything
  });
  child.await_signal();
  const std::string err_path = dir.str() + "/../conduit-log-tail-err-" + std::to_string(::getpid());
  int fd = -1;
  const pid_t tail = spawn(
      {"tail", "-f", "--from", "0", "--json", "--limit", std::to_string(kRecords), dir.str(), "live"}, &fd, err_path);
  std::string buffered;
  std::vector<std::int64_t> latency_us;
  std::uint64_t next = 0;
  bool started = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (next < kRecords && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[65536];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    const std::int64_t now = wall_ns();
    buffered.append(buf, static_cast<std::size_t>(n));
    for (std::size_t eol; (eol = buffered.find('\n')) != std::string::npos; buffered.erase(0, eol + 1)) {
      const std::string line = buffered.substr(0, eol);
      REQUIRE(json_int(line, "seq") == static_cast<std::int64_t>(next));
      REQUIRE(line.find("\"payload\":" + json_string_of(live_payload(next))) != std::string::npos);
      if (next > 0) latency_us.push_back((now - json_int(line, "timestamp_ns")) / 1000);
      ++next;
    }
    if (!started && next >= 1) {
      started = true;
      child.signal();  // now publish the rest, while tail follows
    }
  }
  CHECK(next == kRecords);
  CHECK(wait_code(tail) == 0);                                                 // --limit reached
  CHECK(persistence::list_segments(dir.str() + "/topics/live")->size() >= 3);  // it followed two rolls
  ::close(fd);
  fs::remove(err_path);
  child.signal();
  CHECK(child.finish() == 0);
  REQUIRE(!latency_us.empty());
  std::sort(latency_us.begin(), latency_us.end());
  const std::int64_t median = latency_us[latency_us.size() / 2], worst = latency_us.back();
  MESSAGE("publish-to-tail-output latency over " << latency_us.size() << " records: median " << median << " us, max "
                                                 << worst << " us");
  // The documented expectation is 50 ms (the tool polls every 1 ms); the
  // median is asserted against it, the maximum only reported, since a
  // shared machine can stall one process for longer now and then.
  CHECK(median < 50'000);
}

TEST_CASE("a log that an engine in another process is writing reads correctly, lock held and all") {
  TempDir dir;
  constexpr std::uint64_t kHalf = 600;
  EngineChild child(dir.str(), [](Topic* t, int tell_fd, int wait_fd) {
    for (std::uint64_t i = 0; i < kHalf; ++i)
      if (!t->publish(live_payload(i)).ok()) return 1;
    if (!tell(tell_fd) || !wait_for(wait_fd)) return 1;
    for (std::uint64_t i = kHalf; i < 2 * kHalf; ++i) {
      if (!t->publish(live_payload(i)).ok()) return 1;
      if (i % 2 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return tell(tell_fd) && wait_for(wait_fd) ? 0 : 1;
  });
  child.await_signal();
  // The engine holds the LOCK and is idle: exactly the first half.
  auto check_prefix = [&](const Run& r) {
    REQUIRE(r.code == 0);
    std::uint64_t seq = 0;
    std::size_t pos = 0;
    for (std::size_t eol; (eol = r.out.find('\n', pos)) != std::string::npos; pos = eol + 1, ++seq) {
      const std::string line = r.out.substr(pos, eol - pos);
      REQUIRE(json_int(line, "seq") == static_cast<std::int64_t>(seq));
      REQUIRE(line.find("\"payload\":" + json_string_of(live_payload(seq))) != std::string::npos);
    }
    return seq;
  };
  CHECK(check_prefix(run_tool({"dump", dir.str(), "live", "--json"})) == kHalf);
  const Run v = run_tool({"verify", dir.str()});
  CHECK(v.code == 0);
  CHECK(v.out.find("600 records (0..599): ok") != std::string::npos);
  const Run l = run_tool({"ls", dir.str()});
  CHECK(l.out.find("(open, or not closed cleanly)") != std::string::npos);
  // The second half is published while dump and verify read.
  child.signal();
  int reads = 0, partial = 0;
  for (bool done = false; !done;) {
    pollfd p{child.from_child, POLLIN, 0};
    done = ::poll(&p, 1, 0) == 1;  // the child has published everything
    const std::uint64_t n = check_prefix(run_tool({"dump", dir.str(), "live", "--json", "--payload", "text"}));
    CHECK(n >= kHalf);
    partial += n < 2 * kHalf ? 1 : 0;
    ++reads;
    const Run vv = run_tool({"verify", dir.str(), "live"});
    CHECK_MESSAGE(vv.code == 0, vv.out);
  }
  MESSAGE(reads << " dumps while the log grew, " << partial << " of them saw it part-written");
  CHECK(persistence::list_segments(dir.str() + "/topics/live")->size() > 10);
  CHECK(check_prefix(run_tool({"dump", dir.str(), "live", "--json"})) == 2 * kHalf);
  child.await_signal();
  child.signal();
  CHECK(child.finish() == 0);
}

TEST_CASE("tail -f reports the exact gap when retention deletes segments it has not read yet") {
  TempDir dir;
  constexpr std::uint64_t kFirst = 10, kTotal = 310;
  EngineChild child(
      dir.str(),
      [](Topic* t, int tell_fd, int wait_fd) {
        const std::string big(4000, 'b');
        for (std::uint64_t i = 0; i < kFirst; ++i)
          if (!t->publish(big).ok()) return 1;
        if (!tell(tell_fd) || !wait_for(wait_fd)) return 1;
        for (std::uint64_t i = kFirst; i < kTotal; ++i)
          if (!t->publish(big).ok()) return 1;
        return tell(tell_fd) && wait_for(wait_fd) ? 0 : 1;
      },
      /*retain_bytes=*/400 << 10);
  child.await_signal();
  const std::string err_path = dir.str() + "/../conduit-log-gap-err-" + std::to_string(::getpid());
  int fd = -1;
  const pid_t tail =
      spawn({"tail", "-f", "--from", "0", "--json", "--payload", "none", dir.str(), "live"}, &fd, err_path);
  LineReader out{fd};
  std::vector<std::string>& lines = out.lines;
  auto read_until = [&](const std::function<bool()>& done) { out.read_until(done); };
  read_until([&] { return lines.size() >= kFirst; });
  REQUIRE(lines.size() == kFirst);
  // Stopped, tail keeps its mapping of the first segment while retention
  // deletes the segments after it; resumed, it must say what it missed.
  REQUIRE(::kill(tail, SIGSTOP) == 0);
  child.signal();
  child.await_signal();
  const auto segments = persistence::list_segments(dir.str() + "/topics/live");
  REQUIRE(segments.ok());
  const std::uint64_t oldest = segments->front().first;
  REQUIRE(oldest > kFirst);  // retention deleted the first segment and more
  REQUIRE(::kill(tail, SIGCONT) == 0);
  read_until([&] {
    return !lines.empty() && lines.back().find("\"seq\":" + std::to_string(kTotal - 1) + ",") != std::string::npos;
  });
  ::kill(tail, SIGTERM);
  wait_code(tail);
  ::close(fd);
  fs::remove(err_path);
  child.signal();
  CHECK(child.finish() == 0);
  // Records 0.. up to the end of the first segment, one gap line, then
  // every record from the oldest segment left to the end.
  std::uint64_t expect = 0;
  int gaps = 0;
  for (const std::string& line : lines) {
    if (line.starts_with("{\"gap_from\":")) {
      ++gaps;
      CHECK(json_int(line, "gap_from") == static_cast<std::int64_t>(expect));
      CHECK(json_int(line, "gap_to") == static_cast<std::int64_t>(oldest));
      expect = oldest;
      continue;
    }
    REQUIRE(json_int(line, "seq") == static_cast<std::int64_t>(expect));
    ++expect;
  }
  CHECK(gaps == 1);
  CHECK(expect == kTotal);
}

TEST_CASE("a TopicReader asked for a sequence not yet written finds it once the log reaches it, rolls and all") {
  TempDir dir;
  OpenTopic open(dir, "ledger", 2048);
  Topic* t = open.topic;
  for (std::uint64_t i = 0; i < 5; ++i) REQUIRE(t->publish(payload_of(i)).ok());
  auto reader = inspect::TopicReader::open(dir.str(), "ledger").value();
  reader->seek(300);
  REQUIRE(reader->next().value().kind == inspect::TopicReader::Step::kEnd);
  for (std::uint64_t i = 5; i < 350; ++i) {
    REQUIRE(t->publish(payload_of(i)).ok());
    if (i % 50 == 0 && i < 300) REQUIRE(reader->next().value().kind == inspect::TopicReader::Step::kEnd);  // not yet
  }
  REQUIRE(persistence::list_segments(dir.str() + "/topics/ledger")->size() == 3);
  for (std::uint64_t want = 300; want < 350; ++want) {
    auto step = reader->next();
    REQUIRE(step.ok());
    REQUIRE(step->kind == inspect::TopicReader::Step::kRecord);
    CHECK(step->record.sequence() == want);
    CHECK(step->record.payload() == payload_of(want));
  }
  CHECK(reader->next().value().kind == inspect::TopicReader::Step::kEnd);
}
