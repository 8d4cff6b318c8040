// conduit — looking at a log without an engine.
//
// Read-only inspection of a data directory (what conduit-log is built on):
// the topics and their segments with their header fields, every record of a
// topic with the file and offset it lies at, and a verification that names
// the file and offset of each problem. Every file is opened O_RDONLY and
// mapped PROT_READ; the directory's LOCK is never taken and nothing is
// written, so an engine may be running on the directory meanwhile.
//
// And the format's building blocks over plain buffers, for tests, fuzz
// targets and benchmarks: CRC32C, a record's encoding and its checked
// decoding, a segment header, and the scan of a segment's bytes. The layout
// itself is doc/log-format.md; these functions are its only implementation.
//
// Thread safety: the free functions share no state (any thread, any
// process). One thread at a time per TopicReader; different TopicReaders are
// independent. An engine in another process may append to the log being
// read: a record is read only once its length word, loaded with acquire, is
// non-zero (the writer's commit).
#pragma once

#include "conduit/export.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conduit/message.h"
#include "conduit/status.h"

namespace conduit::inspect {

// ------------------------------------------------------------- CRC32C ---
// CRC32C (Castagnoli) of `data`, continuing from `crc` (0 to start): the
// checksum of every record and segment header. Uses the CPU's instruction
// when it has one (crc32c_hardware()), a table otherwise; both give the same
// values. crc32c_portable always uses the table.
CONDUIT_EXPORT std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;
// crc32c() on the table, whatever the CPU has.
CONDUIT_EXPORT std::uint32_t crc32c_portable(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;
// Whether crc32c() uses the CPU's CRC32C instruction.
CONDUIT_EXPORT bool crc32c_hardware() noexcept;

// ------------------------------------------------------------ records ---
inline constexpr std::uint32_t kFormatVersion = 3;          // of the log format this build writes
inline constexpr std::uint32_t kOldestFormatVersion = 1;    // the oldest it reads
inline constexpr std::size_t kSegmentHeaderBytes = 64;      // a segment file's header
inline constexpr std::size_t kRecordHeaderBytes = 48;       // full form; also every record's least size
inline constexpr std::size_t kShortRecordHeaderBytes = 24;  // short form: no envelope, payload >= 24 B
inline constexpr std::size_t kRecordAlign = 8;              // records start 8-byte aligned
inline constexpr std::size_t kMaxFieldBytes = 0xffff;       // each envelope string, and the header count

// Bytes `m` takes as a record, unpadded; 0 when a field is over its limit.
CONDUIT_EXPORT std::size_t record_size(const Message& m) noexcept;
// What a record of `n` bytes occupies in a segment (n rounded up to 8).
constexpr std::size_t padded_size(std::size_t n) noexcept { return (n + kRecordAlign - 1) & ~(kRecordAlign - 1); }

// Writes `m` as a whole record (length word included) at the start of
// `out`, stamped with `sequence` and `timestamp_ns` (m.timestamp_ns is not
// looked at), zero padding included; returns its unpadded length.
// kInvalidArgument when a field is over its limit or `out` is shorter than
// padded_size(record_size(m)). `with_crc`: false writes 0 as the CRC, as
// memory-only topics do.
CONDUIT_EXPORT Result<std::size_t> encode_record(std::span<std::byte> out, const Message& m, std::uint64_t sequence,
                                                 std::int64_t timestamp_ns, bool with_crc = true) noexcept;
// Writes a padding record over all of `out` (which a segment's end is):
// readers move on to the next segment there. kInvalidArgument when `out`
// is shorter than 8 bytes or not a multiple of 8.
CONDUIT_EXPORT Status encode_padding(std::span<std::byte> out) noexcept;

// Checks the record at the start of `bytes` (which must hold at least its
// padded length) and returns a view of it, valid as long as `bytes` is:
// its length fits, its field lengths add up, and (when `check_crc`) its
// CRC32C matches. kCorruption saying what is wrong; kNotFound for a zero
// length word (no record there) or padding.
CONDUIT_EXPORT Result<RecordView> decode_record(std::span<const std::byte> bytes, bool check_crc = true);

// ----------------------------------------------------------- segments ---
// A segment's header fields.
struct SegmentHeader {
  std::uint32_t version = kFormatVersion;  // the log format's
  std::uint64_t first_seq = 0;             // the sequence of its first record
  std::int64_t created_ns = 0;             // ns since the Unix epoch
  std::uint64_t capacity = 0;              // bytes in the segment, header included
  bool with_crc = true;                    // records carry CRCs (persisted topics do)
};
// Writes the 64 header bytes (magic and header CRC included) to `out`,
// which holds at least kSegmentHeaderBytes.
CONDUIT_EXPORT void encode_segment_header(std::span<std::byte> out, const SegmentHeader& h) noexcept;
// Reads and checks the header at the start of `bytes`: kCorruption naming
// what is wrong (too short, magic, version, header length, CRC).
CONDUIT_EXPORT Result<SegmentHeader> decode_segment_header(std::span<const std::byte> bytes);

// A problem found in a log, where it is.
struct Damage {
  std::string file;        // "" for a buffer (scan_segment)
  std::size_t offset = 0;  // in the file
  std::string what;        // what is wrong there
  // "FILE offset N: what"
  std::string to_string() const { return file + " offset " + std::to_string(offset) + ": " + what; }
};

// What scan_segment found in one segment's bytes.
struct SegmentScan {
  std::uint64_t records = 0;          // intact records from the start
  std::uint64_t skipped = 0;          // of them, skip records (on_record does not see them)
  std::size_t end_offset = 0;         // first byte after the last intact record
  bool sealed = false;                // ended in padding (or exactly at the end)
  std::optional<Damage> damage;       // why the scan stopped early, if it did
  std::uint64_t damage_sequence = 0;  // with damage: the sequence expected there
};
// Walks the records of a whole segment (`segment` is its bytes, header
// included; the header itself is not checked) whose first record is
// `first_seq`: from the header to the first zero length word, padding, or
// problem. Checks each record as decode_record does and that its sequence
// is the next one. `on_record` sees each intact record, its index in the
// segment and its offset; skip records (abandoned claims) hold their index
// but are not messages, and it does not see them.
CONDUIT_EXPORT SegmentScan
scan_segment(std::span<const std::byte> segment, std::uint64_t first_seq, bool with_crc,
             const std::function<void(RecordView, std::uint64_t index, std::size_t offset)>& on_record = {});

// ----------------------------------------------------- data directory ---
// Names of the persisted topics of DATA_DIR, sorted. kNotFound when it has
// no topics directory.
CONDUIT_EXPORT Result<std::vector<std::string>> list_topics(const std::string& data_dir);

// One segment file of a topic, as summarize_topic found it.
struct SegmentSummary {
  std::string path;             // the file
  std::uint64_t first_seq = 0;  // from its header: the sequence of its first record
  std::int64_t created_ns = 0;  // from its header: ns since the Unix epoch
  bool with_crc = true;         // from its header: records carry CRCs
  std::uint64_t records = 0;    // intact records from the start
  std::size_t used_bytes = 0;   // header and records, up to the end of the last intact one
  std::size_t capacity = 0;     // the file's size, header included
  bool sealed = false;          // ended in padding (or exactly at the end): no more records go in
  std::int64_t min_ts = 0;      // the least record timestamp (when records > 0)
  std::int64_t max_ts = 0;      // the greatest record timestamp (when records > 0)
  std::string problem;          // "" or "FILE offset N: what"
};

// The topic's control file (doc/log-format.md).
struct ControlState {
  bool clean = false;           // the last engine closed it cleanly, and none has it open
  std::uint64_t durable = 0;    // every record below it was synced to disk
  std::uint64_t published = 0;  // as of the last sync round
};

// A subscriber's, work group's or named LogReader's committed position.
struct NamedPosition {
  std::string kind;                       // "subscriber", "work group" or "reader" (a LogReader's)
  std::string name;                       // the reader's name
  std::optional<std::uint64_t> position;  // nullopt: the position file is damaged
  bool holds = false;                     // a reader that holds records (LogReaderOptions::hold)
};

// A persisted topic as summarize_topic found it.
struct TopicSummary {
  std::string name;                      // the topic's name
  std::optional<ControlState> control;   // nullopt: missing or damaged
  std::vector<SegmentSummary> segments;  // oldest first
  std::vector<NamedPosition> positions;  // sorted by kind, name
  // The first segment's first sequence; 0 when there are no segments.
  std::uint64_t first_seq() const noexcept { return segments.empty() ? 0 : segments.front().first_seq; }
  std::uint64_t end_seq() const noexcept;  // one past the last intact record
  std::uint64_t records() const noexcept;  // intact records, all segments together
};

// Segments (each scanned up to its first problem), watermarks and committed
// positions of TOPIC. Fails only when its directory cannot be listed
// (kNotFound: no such topic).
CONDUIT_EXPORT Result<TopicSummary> summarize_topic(const std::string& data_dir, const std::string& topic);

// Removes a named reader's committed position from a data directory, so a
// reader gone for good stops holding the log (conduit-log rm-reader).
// `kind`: "subscriber", "group" (a work group: its state and journals go
// too) or "reader" (a LogReader: DATA_DIR/readers/TOPIC/NAME). A
// subscriber or group is removed only while no engine has the directory
// open (its LOCK is taken meanwhile; kBusy otherwise: a running engine
// keeps their positions in memory and writes them again, so use
// Topic::remove_reader there). A LogReader's file can go at any time: it
// is its reader's own, and an engine reads it afresh at each look.
// kNotFound: no such topic or position; kInvalidArgument: a bad kind or name.
CONDUIT_EXPORT Status remove_named_position(const std::string& data_dir, const std::string& topic,
                                            const std::string& kind, const std::string& name);

// What verify_topic found.
struct TopicVerification {
  std::uint64_t segments = 0;      // segment files checked
  std::uint64_t records = 0;       // intact records
  std::uint64_t skipped = 0;       // of the records, skip records (abandoned claims, Topic::claim)
  std::uint64_t first_seq = 0;     // the intact records span [first_seq, end_seq)
  std::uint64_t end_seq = 0;       // one past the last intact record
  std::vector<Damage> problems;    // empty: the log is intact
  std::vector<std::string> notes;  // worth knowing, not problems
};

// Checks every segment header (magic, version, CRC, length, capacity
// against the file size, first sequence against the file name), every
// record (length, CRC32C, sequence, field lengths), the sequence continuity
// across segments, that nothing but zeros follows the end of the log, and
// the control file and position files. Reports every problem it finds.
// A last segment whose header is still all zeros, at or above the durable
// watermark, is a roll in progress (or one a crash cut short): a note, not
// a problem, and the log ends in the segment before it.
CONDUIT_EXPORT TopicVerification verify_topic(const std::string& data_dir, const std::string& topic);

// ------------------------------------------------------- TopicReader ---
// A cursor over one topic's records, with where each lies. It follows the
// log while an engine appends to it (segment rolls included), reports
// records that retention deleted as a gap, and turns a record that fails
// its checks (length, CRC, sequence, fields) into kCorruption naming the
// file and offset. For batches and waiting, use LogReader (conduit/reader.h).
class CONDUIT_EXPORT TopicReader {
 public:
  // kNotFound when TOPIC has no directory in DATA_DIR.
  static Result<std::unique_ptr<TopicReader>> open(const std::string& data_dir, const std::string& topic);
  ~TopicReader();
  TopicReader(const TopicReader&) = delete;
  TopicReader& operator=(const TopicReader&) = delete;

  // What next() found.
  struct Step {
    // kEnd: nothing more yet; kRecord: `record`; kGap: records lost.
    // kSkip: a skip record (an abandoned claim, Topic::claim) holds
    // `sequence` at file/offset; it has no record to read.
    enum Kind { kEnd, kRecord, kGap, kSkip };
    Kind kind = kEnd;            // which of them
    RecordView record;           // kRecord: valid until next() is called again
    std::uint64_t gap_from = 0;  // kGap: records [gap_from, gap_to) are not in
    std::uint64_t gap_to = 0;    // the log any more (retention deleted them)
    std::string file;            // kRecord: the segment file and the record's
    std::size_t offset = 0;      // offset in it
    std::uint64_t sequence = 0;  // kRecord, kSkip: the record's sequence
  };
  // The record at position() (then position() moves past it), a gap before
  // it, or kEnd when the log has nothing there yet: call again to follow.
  Result<Step> next();
  // next() continues at `seq` (or at the gap before it).
  void seek(std::uint64_t seq) noexcept;
  std::uint64_t position() const noexcept;  // the sequence next() reads

  struct State;  // the segment being read (persistence/topic_reader.cpp)

 private:
  explicit TopicReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace conduit::inspect
