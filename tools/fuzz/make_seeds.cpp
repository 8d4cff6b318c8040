// Writes a seed corpus for each fuzz target: well-formed inputs built with
// the format's own encoder, so the fuzzers start from valid records,
// segments and logs and mutate from there.
//   fuzz_make_seeds OUT_DIR   ->  OUT_DIR/<target>/seed-N for every target
// (the bridge's too: their seeds are bytes, written in any build).
#include <conduit/inspect.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/engine_model.h"
#include "tests/support/full_envelope.h"

namespace {

using namespace conduit;
namespace fs = std::filesystem;

std::string encode(const Message& m, std::uint64_t seq, bool with_crc) {
  std::string out(inspect::padded_size(inspect::record_size(m)), '\0');
  const auto n = inspect::encode_record(std::as_writable_bytes(std::span(out)), m, seq,
                                        1'700'000'000'000'000'000 + static_cast<std::int64_t>(seq), with_crc);
  if (!n.ok()) std::abort();  // the sample messages are all within the limits
  return out;
}

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// A padding record filling `bytes` (the rest of a segment).
std::string padding(std::size_t bytes) {
  std::string s(bytes, '\0');
  if (!inspect::encode_padding(std::as_writable_bytes(std::span(s))).ok()) std::abort();  // bytes: a multiple of 8
  return s;
}

std::vector<Message> sample_messages() {
  std::vector<Message> ms(4);
  ms[0].payload = "hi";
  ms[0].key = "k";
  ms[0].headers = std::span<const Header>(test::kEnvelopeHeaders, 1);
  ms[1].payload = "";
  ms[2] = test::full_envelope("order 42");
  ms[3].payload = std::string_view("0123456789abcdef0123456789abcdef0123456789");
  return ms;
}

// Records `first`.. encoded back to back (a segment body after its header).
std::string body(std::uint64_t first, std::size_t count, bool with_crc) {
  const auto ms = sample_messages();
  std::string s;
  for (std::size_t i = 0; i < count; ++i) s += encode(ms[i % ms.size()], first + i, with_crc);
  return s;
}

void write(const fs::path& dir, int n, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / ("seed-" + std::to_string(n)), std::ios::binary) << bytes;
}

// The envelope target's input grammar (see fuzz_envelope.cpp).
std::string envelope_input(const Message& m, std::uint64_t seq) {
  std::string s;
  put<std::uint64_t>(s, seq);                       // segment header: first sequence
  put<std::int64_t>(s, 1'700'000'000'000'000'000);  // created
  put<std::uint64_t>(s, 8u << 20);                  // capacity
  put<std::uint32_t>(s, 1);                         // flags
  put<std::uint8_t>(s, 17);                         // flipped byte, mask
  put<std::uint8_t>(s, 0x40);
  for (std::string_view f : {m.id, m.key, m.correlation_id, m.reply_to, m.trace_id, m.content_type}) {
    put<std::uint8_t>(s, static_cast<std::uint8_t>(f.size()));
    s += f;
  }
  put<std::uint8_t>(s, static_cast<std::uint8_t>(m.headers.size()));
  for (const Header& h : m.headers) {
    put<std::uint8_t>(s, static_cast<std::uint8_t>(h.name.size()));
    s += h.name;
    put<std::uint8_t>(s, static_cast<std::uint8_t>(h.value.size()));
    s += h.value;
  }
  put<std::uint32_t>(s, m.schema_version);
  put<std::uint64_t>(s, seq);
  put<std::int64_t>(s, 1'700'000'000'000'000'000);
  put<std::uint32_t>(s, 0x11000005);  // flip
  s += m.payload;
  return s;
}

// The recovery target's input: one segment file.
void recovery_segment(std::string& s, std::uint8_t first_seq, const std::string& seg_body) {
  put<std::uint8_t>(s, first_seq);
  put<std::uint16_t>(s, static_cast<std::uint16_t>(seg_body.size()));
  s += seg_body;
}

// The cli target's input: the mode byte (tool, and 0x80 to end with
// unknown options), then the arguments, NUL-separated.
std::string command_line(std::uint8_t mode, std::initializer_list<std::string_view> args) {
  std::string s(1, static_cast<char>(mode));
  for (std::string_view a : args) (s += a) += '\0';
  return s;
}

// The api target's input: 5 bytes a call (tests/support/engine_model.h's
// OpKind, topic, a, b, who; fuzz_api.cpp maps the arguments).
struct Call {
  conduit::test::model::OpKind kind;
  std::uint8_t topic, a, b, who;
};
std::string calls(std::initializer_list<Call> list) {
  std::string s;
  for (const Call& c : list)
    for (const std::uint8_t byte : {static_cast<std::uint8_t>(c.kind), c.topic, c.a, c.b, c.who}) put(s, byte);
  return s;
}

void bridge_seeds(const fs::path& out) {
  // bridge_headers, even: an envelope (6 strings, user headers, schema, sequence, timestamp, payload).
  std::string env(1, '\0');
  for (std::string_view f : {"id-7", "k", "corr", "reply.to", "trace", "text/plain"}) {
    put<std::uint8_t>(env, static_cast<std::uint8_t>(f.size()));
    env += f;
  }
  put<std::uint8_t>(env, 2);
  for (std::string_view f : {"tenant", "acme & co", "a=b", " edge "}) {
    put<std::uint8_t>(env, static_cast<std::uint8_t>(f.size()));
    env += f;
  }
  put<std::uint32_t>(env, 3);
  put<std::uint64_t>(env, 42);
  put<std::int64_t>(env, 1'700'000'000'000'000'000);
  env += "payload %41\r\n";
  write(out / "bridge_headers", 0, env);
  // odd: a peer's headers (payload, then pairs: key pick (< 20: a bridge
  // key, else a string), value).
  std::string peer(1, '\1');
  put<std::uint8_t>(peer, 5);
  peer += "hello";
  put<std::uint8_t>(peer, 4);
  for (auto [pick, value] :
       {std::pair<std::uint8_t, std::string_view>{2, "1700000000000000000"}, {9, "1:a=b&c%3D=d"}, {3, "key%20x"}}) {
    put<std::uint8_t>(peer, pick);
    put<std::uint8_t>(peer, static_cast<std::uint8_t>(value.size()));
    peer += value;
  }
  put<std::uint8_t>(peer, 200);  // a key of the peer's own
  put<std::uint8_t>(peer, 7);
  peer += "X-Other";
  put<std::uint8_t>(peer, 3);
  peer += "yes";
  write(out / "bridge_headers", 1, peer);

  write(out / "ack_subject", 0, "$JS.ACK.ORDERS.to-conduit.2.1042.77.1796208188593737848.13");
  write(out / "ack_subject", 1, "$JS.ACK.hub.ACCHASH.S.d.1.5.6.1700000000000000000.0.Xy7Rq");
  write(out / "ack_subject", 2, "$JS.ACK._.ACCHASH.S.d.3.9.10.1700000000000000000.4");

  write(out / "bridge_config", 0,
        "# the bridges of one host\ndata_dir = /var/lib/conduit\nurl = nats://10.0.0.1:4222\n"
        "stats_interval_ms = 1000\n\n[topic orders]\ndurability = async\ndedup_ids = 4096\n\n"
        "[outbound orders]\ntopic = orders\nsubscriber = to-nats   # comment\nstream = ORDERS\n"
        "subject = orders.created\nmax_in_flight = 512\nack_timeout_ms = 1500\ncreate_stream = no\n\n"
        "[inbound replies]\nurl = nats://10.0.0.2:4222\ntopic = replies\ndurable = conduit\nstream = REPLIES\n"
        "subject = replies.>\nbatch = 64\nname = custom\nfetch_wait_ms = 20\n");
  write(out / "bridge_config", 1, "data_dir = d\n[inbound x]\ntopic = t\ndurable = d\nstream = S\nsubject = s.*\n");
}

}  // namespace

// The counters target's input: mode 1 (rows the writer writes; 3 also
// names a TOPIC), or mode 0 and a file's bytes (common/counters.h's layout).
void counters_seeds(const fs::path& out) {
  auto row = [](std::string& s, std::uint8_t kind, std::string_view topic, std::string_view name, std::uint8_t values) {
    put<std::uint8_t>(s, kind);
    put<std::uint8_t>(s, static_cast<std::uint8_t>(topic.size()));
    s += topic;
    put<std::uint8_t>(s, static_cast<std::uint8_t>(name.size()));
    s += name;
    put<std::uint8_t>(s, values);
    for (std::uint64_t v = 0; v < values; ++v) put<std::uint64_t>(s, v * 1000003u + 1);
  };
  for (const std::uint8_t mode : {1, 3}) {
    std::string s;
    put<std::uint8_t>(s, mode);
    put<std::uint8_t>(s, 4);                                    // rows
    put<std::int64_t>(s, 1'700'000'000'000'000'000);            // engine start
    row(s, 1, "", "io_uring", 5);                               // engine
    row(s, 2, "orders", "", 52);                                // topic, with its latency histogram
    row(s, 3, "orders", mode == 1 ? "" : "sub \\\"\n\xff", 9);  // subscriber (unnamed; odd bytes)
    row(s, 4, "orders", "workers", 9);                          // work group
    write(out / "counters", mode, s);
  }
  // A file as found on disk: the header, one topic row.
  std::string f(2048, '\0');
  auto word = [&](std::size_t w, std::uint64_t v) { std::memcpy(f.data() + w * 8, &v, 8); };
  word(0, 0x31544e4354444e43ull);  // "CNDTCNT1"
  word(1, 1), word(2, 1024), word(3, 1), word(4, 1), word(5, 0);
  word(128 + 1, 2);
  std::memcpy(f.data() + 1024 + 16, "orders", 6);
  word(128 + 58, 42);
  write(out / "counters", 0, std::string(1, '\0') + f);
  write(out / "counters", 2, std::string(1, '\0') + f.substr(0, 1000));  // shorter than the header
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  const auto ms = sample_messages();

  for (std::size_t i = 0; i < ms.size(); ++i) write(out / "record", static_cast<int>(i), encode(ms[i], 5 + i, true));

  for (std::size_t i = 0; i < ms.size(); ++i)
    write(out / "envelope", static_cast<int>(i), envelope_input(ms[i], 7 * i));

  // segment_scan: mode byte (bit 0: CRCs, the rest: first sequence >> 1), then the body.
  write(out / "segment_scan", 0, std::string(1, char(1 | (3 << 1))) + body(3, 5, true) + std::string(64, '\0'));
  write(out / "segment_scan", 1, std::string(1, char(0)) + body(0, 3, false) + std::string(16, '\0'));
  {
    std::string b = body(0, 3, true);
    b += padding(64);
    write(out / "segment_scan", 2, std::string(1, char(1)) + b);
  }
  {
    std::string b = body(0, 4, true);
    b.resize(b.size() - 5);  // a torn last record
    write(out / "segment_scan", 3, std::string(1, char(1)) + b + std::string(8, '\0'));
  }

  // recovery: mode (segments - 1 in bits 0-1), durable, then each segment.
  {
    std::string s;
    put<std::uint8_t>(s, 1);  // two segments
    put<std::uint8_t>(s, 4);  // durable: records below 4
    recovery_segment(s, 0, body(0, 3, true) + padding(32));
    recovery_segment(s, 3, body(3, 4, true) + std::string(128, '\0'));
    write(out / "recovery", 0, s);
  }
  {
    std::string s;
    put<std::uint8_t>(s, 0);  // one segment with a torn tail above the durable watermark
    put<std::uint8_t>(s, 2);
    std::string b = body(0, 4, true);
    b.resize(b.size() - 9);
    recovery_segment(s, 0, b + std::string(64, '\0'));
    write(out / "recovery", 1, s);
  }
  {
    std::string s;
    put<std::uint8_t>(s, 2);  // three segments, the last an unfinished roll (no header)
    put<std::uint8_t>(s, 5);
    recovery_segment(s, 0, body(0, 2, true) + padding(24));
    recovery_segment(s, 2, body(2, 4, true) + padding(40));
    recovery_segment(s, 6, std::string());
    write(out / "recovery", 2, s);
  }
  {
    std::string s;
    put<std::uint8_t>(s, 0);  // corruption below the durable watermark
    put<std::uint8_t>(s, 4);
    std::string b = body(0, 4, true);
    b[20] ^= 1;
    recovery_segment(s, 0, b);
    write(out / "recovery", 3, s);
  }
  // inspect reads the same crafted topic directories as recovery.
  std::filesystem::copy(out / "recovery", out / "inspect",
                        std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);

  // cli: 0 conduit-log, 1 conduit-bench, 2 conduit-demo.
  int n = 0;
  for (const std::string& c :
       {command_line(0, {"ls", "."}), command_line(0, {"dump", "--json", "--limit", "3", "data", "t"}),
        command_line(0, {"tail", "-n5", "-f", "data", "t"}), command_line(0x80, {"verify", "--color=never", "data"}),
        command_line(0, {"stats", "--top", "5", "data", "t"}), command_line(0, {"--version"}),
        command_line(1, {"--durability", "async", "--duration", "500ms", "--payload", "1KiB"}),
        command_line(0x81, {"--rate", "2k", "--producers", "2", "--json"}),
        command_line(2, {"--messages", "10", "--payload", "8", "--data-dir", "d"}),
        command_line(0x82, {"--messages", "5"})})
    write(out / "cli", n++, c);

  using enum conduit::test::model::OpKind;
  write(out / "api", 0,
        calls({{kCreate, 1, 0, 0, 0},
               {kPublish, 1, 5, 20, 0},
               {kSubscribe, 1, 0, 0, 0},
               {kPoll, 1, 3, 0, 0},
               {kGroupPoll, 1, 4, 0, 0},
               {kAck, 1, 0, 0, 0},
               {kNack, 1, 0, 0, 0},
               {kDeadLetter, 1, 1, 0, 0},
               {kGroupCommit, 1, 0, 0, 0},
               {kReopen, 0, 0, 0, 0},
               {kCreate, 1, 0, 0, 0},
               {kGroupPoll, 1, 4, 0, 0}}));
  write(out / "api", 1,
        calls({{kCreate, 0, 0, 0, 0},
               {kSubscribe, 0, 0, 0, 0},
               {kPublishBatch, 0, 8, 0xff, 0},
               {kPublishBatch, 0, 8, 0xff, 0},
               {kPoll, 0, 40, 0, 0},
               {kDrop, 0, 0, 0, 0},
               {kDelete, 0, 0, 0, 0}}));
  write(out / "api", 2,
        calls({{kCreate, 2, 0, 0, 0},
               {kSubscribe, 2, 3, 1, 0},
               {kPublish, 2, 8, 0xf0, 0},
               {kPoll, 2, 5, 0, 0},
               {kCommit, 2, 0, 0, 0},
               {kReopen, 0, 0, 0, 0},
               {kCreate, 2, 0, 0, 0},
               {kSubscribe, 2, 3, 1, 0},
               {kPoll, 2, 40, 0, 0},
               {kDelete, 2, 1, 0, 0}}));
  // capi: 5 bytes a call too (fuzz_capi.cpp's Call: 0 create, 1 publish,
  // 2 batch, 3 nowait, 4 subscribe, 5 poll, 6 commit, 7 free, 8 group poll,
  // 9 answer, 10 group commit, 11 reopen, 12 delete, 13 log reader, 14
  // misuse, 15 stats; then topic, a, b, who).
  const std::uint8_t capi_seeds[][12][5] = {
      {{0, 1, 0, 0, 0},
       {1, 1, 5, 20, 0},
       {4, 1, 3, 1, 0},
       {5, 1, 3, 0, 0},
       {6, 1, 0, 0, 0},
       {8, 1, 4, 0, 0},
       {9, 0, 0, 0, 0},
       {9, 0, 0, 1, 0},
       {9, 0, 0, 2, 0},
       {9, 0, 0, 3, 0},
       {10, 0, 0, 0, 0},
       {11, 0, 0, 0, 1}},
      {{0, 0, 0, 0, 0},
       {4, 0, 0, 0, 0},
       {2, 0, 8, 0xff, 0},
       {2, 0, 8, 0xff, 0},
       {5, 0, 40, 0, 0},
       {7, 0, 0, 0, 0},
       {12, 0, 0, 0, 0},
       {14, 0, 9, 0, 0},
       {14, 0, 10, 0, 0},
       {14, 0, 0, 0, 0},
       {14, 0, 1, 0, 5},
       {14, 0, 2, 0, 1}},
      {{0, 2, 0, 0, 0},
       {3, 2, 4, 0xf0, 0},
       {13, 2, 3, 0, 0},
       {11, 0, 0, 0, 0},
       {14, 1, 11, 0, 0},
       {0, 2, 0, 0, 0},
       {14, 2, 3, 0, 0},
       {14, 2, 4, 0, 0},
       {14, 2, 6, 0, 1},
       {14, 2, 8, 0, 0},
       {15, 0, 0, 0, 0},
       {12, 2, 1, 0, 0}},
  };
  for (std::size_t i = 0; i < std::size(capi_seeds); ++i)
    write(out / "capi", static_cast<int>(i),
          std::string(reinterpret_cast<const char*>(capi_seeds[i]), sizeof capi_seeds[i]));
  counters_seeds(out);
  // python: python_driver.py's byte code (an op, then the picks it makes).
  const std::vector<std::vector<std::uint8_t>> python_seeds = {
      {0, 0, 0, 4, 1, 0, 0, 0, 1, 4, 1, 0, 0, 0, 1, 8, 1, 0, 1, 4, 1, 0, 1, 9, 0, 3, 0, 0, 18, 19, 0, 0, 3},
      {0, 1,  1, 3, 1, 1, 6, 1,  0, 3, 0, 1, 0,  1, 1, 1, 0, 1, 12, 1, 0, 2,  0, 0, 13, 0, 4, 0, 0,  14, 0, 1, 0,
       0, 14, 0, 1, 0, 1, 0, 13, 0, 4, 0, 0, 14, 0, 1, 1, 3, 0, 17, 0, 0, 15, 0, 1, 1,  3, 0, 0, 16, 1,  0, 0, 0},
  };
  for (std::size_t i = 0; i < python_seeds.size(); ++i)
    write(out / "python", static_cast<int>(i), std::string(python_seeds[i].begin(), python_seeds[i].end()));
  bridge_seeds(out);
  std::printf("seeds written to %s\n", out.c_str());
  return 0;
}
