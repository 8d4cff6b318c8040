// Fuzz target: the counters file, DATA_DIR/counters (common/counters.h), as
// its reader and `conduit-log stat` read it. The input's first byte picks:
//   bit 0 clear: the rest is the file's bytes, as found on disk;
//   bit 0 set:   the rest chooses rows (kind, topic, name, values) that the
//                engine's writer (CountersMapping, RowWriter) puts in a file;
//   bit 1:       stat is given a TOPIC (the first row's that has one, or "t").
// Properties:
//   - a file the reader refuses gets an error naming the file, and one of at
//     least a header's size also the offset of what is wrong; stat exits 1
//     with that error and prints nothing on stdout;
//   - a file the reader takes: every row it returns lies inside the file;
//   - a written file reads back row for row: the kind, the names (cut at
//     their first NUL and at 223 bytes, as the writer stores them), every
//     value; free rows are skipped;
//   - stat prints it as a table, as JSON that parses (UTF-8 strings, control
//     characters escaped) and as Prometheus text that a scraper accepts
//     (text_checks.h), and exits 0.
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "capture.h"
#include "common/counters.h"
#include "common/disk_names.h"
#include "fuzz_support.h"
#include "tests/support/temp_dir.h"
#include "text_checks.h"

namespace {

namespace ct = conduit::counters;
using conduit::fuzz::ByteReader;

constexpr std::size_t kMaxRows = 6;

// The text a name reads back as: up to its first NUL, at most 223 bytes.
std::string stored_text(std::string_view s) {
  s = s.substr(0, std::min(s.find('\0'), ct::kTextWords * 8 - 1));
  return std::string(s);
}

// Writes the rows the input chooses with the engine's writer; returns them
// as the reader must give them back.
std::vector<ct::Row> write_rows(const std::string& dir, ByteReader& in) {
  const std::size_t rows = 1 + in.take<std::uint8_t>() % kMaxRows;
  std::string error;
  ct::CountersMapping m = ct::CountersMapping::create(dir, rows, in.take<std::int64_t>(), &error);
  FUZZ_CHECK(m.is_open());
  std::vector<ct::Row> expect;
  for (std::size_t i = 0; i < rows; ++i) {
    ct::Row r;
    r.index = i;
    r.kind = static_cast<ct::RowKind>(in.take<std::uint8_t>() % 7);  // 6: no kind stat knows
    const std::string_view topic = in.bytes(in.take<std::uint8_t>());
    const std::string_view name = in.bytes(in.take<std::uint8_t>());
    const std::size_t values = in.take<std::uint8_t>() % (ct::kValueWords + 1);
    for (std::size_t v = 0; v < values; ++v) r.values[v] = in.take<std::uint64_t>();
    {
      ct::RowWriter w(m.row(i));
      w.set_kind(r.kind);
      w.set_text(ct::kTopicWord, topic);
      w.set_text(ct::kNameWord, name);
      for (std::size_t v = 0; v < ct::kValueWords; ++v) w.set_value(v, r.values[v]);
    }
    r.topic = stored_text(topic);
    r.name = stored_text(name);
    if (r.kind != ct::RowKind::kFree) expect.push_back(r);
  }
  return expect;
}

conduit::fuzz::Outcome stat(const std::string& dir, const std::string* topic, const char* format) {
  std::vector<std::string> args{"conduit-log", "stat", dir};
  if (topic) args.push_back(*topic);
  if (format) args.push_back(format);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return conduit::fuzz::run_conduit_log(static_cast<int>(args.size()), argv.data());
}

void report(const char* what, const std::string& why, const std::string& text) {
  if (why.empty()) return;
  std::fprintf(stderr, "%s: %s\n--- output ---\n%s\n", what, why.c_str(), text.c_str());
  FUZZ_CHECK(!"stat's output is well-formed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteReader in(data, size);
  const auto mode = in.take<std::uint8_t>();
  static const conduit::test::TempDir base(conduit::test::scratch_base());
  const std::string dir = base.path.string(), path = conduit::disk::counters_path(dir);
  std::remove(path.c_str());

  const bool written = (mode & 1) != 0;
  std::vector<ct::Row> expect;
  if (written) {
    expect = write_rows(dir, in);
  } else {
    const std::string_view bytes = in.rest();
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  struct stat st {};
  FUZZ_CHECK(::stat(path.c_str(), &st) == 0);
  const auto file_size = static_cast<std::size_t>(st.st_size);

  std::string error;
  const ct::CountersFile file = ct::CountersFile::open(dir, &error);
  std::vector<ct::Row> rows;
  if (!file.is_open()) {
    FUZZ_CHECK(!written);
    FUZZ_CHECK(error.starts_with(path + ": ") && error.size() > path.size() + 2);
    if (file_size >= ct::kRowBytes) FUZZ_CHECK(error.find("offset ") != std::string::npos);
  } else {
    rows = file.rows();
    for (const ct::Row& r : rows) FUZZ_CHECK((r.index + 2) * ct::kRowBytes <= file_size);
  }
  if (written) {
    FUZZ_CHECK(rows.size() == expect.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const ct::Row &a = rows[i], &b = expect[i];
      FUZZ_CHECK(a.index == b.index && a.kind == b.kind && a.topic == b.topic && a.name == b.name);
      FUZZ_CHECK(std::equal(std::begin(a.values), std::end(a.values), std::begin(b.values)));
    }
  }

  std::string topic_arg = "t";
  for (const ct::Row& r : rows)
    if (!r.topic.empty() && r.topic.front() != '-') {
      topic_arg = r.topic;
      break;
    }
  const std::string* topic = (mode & 2) != 0 ? &topic_arg : nullptr;
  for (const char* format : {static_cast<const char*>(nullptr), "--json", "--prometheus"}) {
    const conduit::fuzz::Outcome o = stat(dir, topic, format);
    if (!file.is_open()) {
      FUZZ_CHECK(o.rc == 1 && o.out.empty() && o.err.find(error) != std::string::npos);
      continue;
    }
    FUZZ_CHECK(o.rc == 0);
    if (format == nullptr) {
      FUZZ_CHECK(!o.out.empty());
      continue;
    }
    if (format[2] == 'j')
      report("--json", conduit::fuzz::check_json(o.out), o.out);
    else
      report("--prometheus", conduit::fuzz::check_prometheus(o.out), o.out);
  }
  return 0;
}
