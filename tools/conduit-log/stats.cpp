// stats: payload size histogram, rate over the log's time range, largest keys.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <conduit/inspect.h>

#include "commands.h"

namespace conduit_log {
namespace {

using conduit::inspect::TopicReader;

constexpr const char* kHelp =
    "usage: conduit-log stats DIR TOPIC [--slices N] [--top N] [--json] [--color auto|always|never]\n"
    "\n"
    "Reads every record of TOPIC and prints: the payload size histogram\n"
    "(power-of-two buckets), the records per second over the log's time range\n"
    "(first to last timestamp) and in N equal slices of it (default 10; none\n"
    "when every record has the same timestamp, and none shorter than 1 ns), and\n"
    "the keys with the most payload bytes (default top 10). Read-only.\n";

const FlagSpec kFlags[] = {{"--json", false}, {"--slices", true}, {"--top", true}};

struct KeyStats {
  std::uint64_t records = 0, bytes = 0;
};

// Bucket b holds sizes in [2^(b-1), 2^b); bucket 0 holds size 0.
// "4.000 s", "2.500 ms", "120.000 us", "7 ns": a short span keeps its digits.
std::string format_seconds(double s) {
  char buf[32];
  if (s >= 1)
    std::snprintf(buf, sizeof buf, "%.3f s", s);
  else if (s >= 1e-3)
    std::snprintf(buf, sizeof buf, "%.3f ms", s * 1e3);
  else if (s >= 1e-6)
    std::snprintf(buf, sizeof buf, "%.3f us", s * 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.1f ns", s * 1e9);
  return buf;
}

unsigned bucket_of(std::uint64_t size) { return static_cast<unsigned>(std::bit_width(size)); }
std::uint64_t bucket_low(unsigned b) { return b == 0 ? 0 : 1ull << (b - 1); }
std::uint64_t bucket_high(unsigned b) { return b == 0 ? 0 : (1ull << b) - 1; }

}  // namespace

int run_stats(int argc, char** argv) {
  Args args;
  Style st;
  if (int rc = parse_command("stats", kHelp, argc, argv, kFlags, 2, 2, &args, &st); rc >= 0) return rc;
  std::uint64_t slices = 10, top = 10;
  for (auto [flag, out] : {std::pair{"--slices", &slices}, std::pair{"--top", &top}})
    if (const std::string* v = args.value(flag)) {
      const auto n = parse_u64(*v);
      if (!n || *n == 0 || *n > 1000)
        return fail("stats", std::string(flag) + " needs a number from 1 to 1000", kExitUsage);
      *out = *n;
    }
  std::string error;
  if (topic_dir_of(args.positional[0], args.positional[1], &error).empty()) return fail("stats", error, kExitProblem);
  auto reader = TopicReader::open(args.positional[0], args.positional[1]);
  if (!reader.ok()) return fail("stats", reader.status().to_string(), kExitProblem);

  std::uint64_t records = 0, payload_bytes = 0, first_seq = 0, last_seq = 0, skipped = 0;
  std::vector<std::uint64_t> histogram(65, 0);
  std::vector<std::int64_t> stamps;  // for the slices, in log order
  std::map<std::string, KeyStats> keys;
  for (;;) {
    auto step = (*reader)->next();
    if (!step.ok()) return fail("stats", step.status().to_string(), kExitProblem);
    if (step->kind == TopicReader::Step::kEnd) break;
    if (step->kind == TopicReader::Step::kGap) continue;
    if (step->kind == TopicReader::Step::kSkip) {  // an abandoned claim: counted apart
      ++skipped;
      continue;
    }
    const conduit::RecordView& r = step->record;
    if (records == 0) first_seq = r.sequence();
    last_seq = r.sequence();
    ++records;
    payload_bytes += r.payload().size();
    ++histogram[bucket_of(r.payload().size())];
    stamps.push_back(r.timestamp_ns());
    if (!r.key().empty()) {
      KeyStats& k = keys[std::string(r.key())];
      ++k.records;
      k.bytes += r.payload().size();
    }
  }
  std::int64_t lo = 0, hi = 0;
  if (!stamps.empty()) {
    lo = *std::min_element(stamps.begin(), stamps.end());
    hi = *std::max_element(stamps.begin(), stamps.end());
  }
  const double span_s = static_cast<double>(hi - lo) / 1e9;
  const double rate = span_s > 0 ? static_cast<double>(records) / span_s : 0;
  // Timestamps are whole ns: no slice is shorter than 1 ns, and a log whose
  // records share one timestamp has no slices at all.
  const std::uint64_t asked_slices = slices;
  slices = std::min<std::uint64_t>(slices, static_cast<std::uint64_t>(hi - lo));
  std::vector<std::uint64_t> per_slice(slices, 0);
  for (std::int64_t t : stamps) {
    const auto i = hi > lo ? static_cast<std::uint64_t>(static_cast<double>(t - lo) / static_cast<double>(hi - lo) *
                                                        static_cast<double>(slices))
                           : 0;
    if (slices > 0) ++per_slice[std::min(i, slices - 1)];
  }
  std::vector<std::pair<std::string, KeyStats>> largest(keys.begin(), keys.end());
  std::sort(largest.begin(), largest.end(), [](const auto& a, const auto& b) {
    return a.second.bytes != b.second.bytes ? a.second.bytes > b.second.bytes : a.first < b.first;
  });
  if (largest.size() > top) largest.resize(top);
  const double slice_s = slices > 0 ? span_s / static_cast<double>(slices) : 0;

  if (args.has("--json")) {
    Json j;
    j.begin_object()
        .key("topic")
        .str(args.positional[1])
        .key("records")
        .num(records)
        .key("payload_bytes")
        .num(payload_bytes)
        .key("skipped")
        .num(skipped);
    if (records)
      j.key("first_seq")
          .num(first_seq)
          .key("last_seq")
          .num(last_seq)
          .key("first_timestamp_ns")
          .inum(lo)
          .key("last_timestamp_ns")
          .inum(hi);
    j.key("span_seconds").dbl(span_s).key("span_ns").inum(hi - lo).key("records_per_second");
    if (span_s > 0)
      j.dbl(rate);
    else
      j.null();
    j.key("slice_ns");
    if (slices > 0)
      j.dbl(slice_s * 1e9);
    else
      j.null();
    j.key("payload_size_histogram").begin_array();
    for (unsigned b = 0; b < histogram.size(); ++b)
      if (histogram[b])
        j.begin_object()
            .key("min")
            .num(bucket_low(b))
            .key("max")
            .num(bucket_high(b))
            .key("records")
            .num(histogram[b])
            .end_object();
    j.end_array().key("slices").begin_array();
    for (std::uint64_t i = 0; i < slices; ++i)
      j.begin_object()
          .key("start_ns")
          .inum(lo + static_cast<std::int64_t>(slice_s * 1e9 * static_cast<double>(i)))
          .key("records")
          .num(per_slice[i])
          .key("records_per_second")
          .dbl(static_cast<double>(per_slice[i]) / slice_s)
          .end_object();
    j.end_array().key("largest_keys").begin_array();
    for (const auto& [k, s] : largest)
      j.begin_object().key("key").str(k).key("records").num(s.records).key("payload_bytes").num(s.bytes).end_object();
    j.end_array().end_object();
    std::printf("%s\n", j.text().c_str());
    return kExitOk;
  }

  std::printf("%stopic %s%s: %llu records", st.bold(), args.positional[1].c_str(), st.reset(),
              static_cast<unsigned long long>(records));
  if (skipped != 0) std::printf(", %llu skipped (abandoned claims)", static_cast<unsigned long long>(skipped));
  if (records == 0) {
    std::printf("\n");
    return kExitOk;
  }
  std::printf(" (%llu..%llu), %llu payload bytes\n", static_cast<unsigned long long>(first_seq),
              static_cast<unsigned long long>(last_seq), static_cast<unsigned long long>(payload_bytes));
  if (span_s > 0) {
    std::printf("time range  %s .. %s (%s)\n", format_time(lo).c_str(), format_time(hi).c_str(),
                format_seconds(span_s).c_str());
    std::printf("rate        %.3f records/s over the range\n", rate);
  } else {
    std::printf("time range  %s (every record has this timestamp)\n", format_time(lo).c_str());
    std::printf("rate        n/a (no time passes between the records)\n");
  }
  std::printf("\npayload size (bytes)     records\n");
  const std::uint64_t most = *std::max_element(histogram.begin(), histogram.end());
  for (unsigned b = 0; b < histogram.size(); ++b) {
    if (histogram[b] == 0) continue;
    const std::string range = b == 0 ? "0" : std::to_string(bucket_low(b)) + ".." + std::to_string(bucket_high(b));
    const auto bar = static_cast<std::size_t>(histogram[b] * 40 / most);
    std::printf("  %-20s %8llu  %s%s%s\n", range.c_str(), static_cast<unsigned long long>(histogram[b]), st.cyan(),
                std::string(std::max<std::size_t>(bar, 1), '#').c_str(), st.reset());
  }
  if (slices > 0) {
    std::printf("\nrecords per second, %llu slices of %s", static_cast<unsigned long long>(slices),
                format_seconds(slice_s).c_str());
    if (slices < asked_slices)
      std::printf(" (not %llu: timestamps are whole ns)", static_cast<unsigned long long>(asked_slices));
    std::printf("\n");
    for (std::uint64_t i = 0; i < slices; ++i)
      std::printf("  %s  %8llu records  %12.3f/s\n",
                  format_time(lo + static_cast<std::int64_t>(slice_s * 1e9 * static_cast<double>(i))).c_str(),
                  static_cast<unsigned long long>(per_slice[i]), static_cast<double>(per_slice[i]) / slice_s);
  }
  std::printf("\nlargest keys (payload bytes)\n");
  if (largest.empty()) std::printf("  (no record has a key)\n");
  for (const auto& [k, s] : largest)
    std::printf("  %s%-24s%s %8llu bytes  %6llu records\n", st.green(), escape_text(k).c_str(), st.reset(),
                static_cast<unsigned long long>(s.bytes), static_cast<unsigned long long>(s.records));
  return kExitOk;
}

}  // namespace conduit_log
