// conduit — reading a persisted topic from another process.
//
// A LogReader follows one topic of a data directory that an engine in some
// other process (or this one) is writing. It maps the topic's segment files
// read-only and reads records in place, the way an in-process Subscriber
// does, so a record is visible to it as soon as its publisher commits it.
// It takes no lock and never writes to the log; it waits with the same
// strategies as a Subscriber, and a writer wakes a parked reader through a
// futex in the topic's control file.
//
// What it copes with:
//   - The writer crashing and an engine reopening the log: the reader keeps
//     its place (recovery never removes a committed record) and carries on
//     with what the new engine appends; writer_restarts() counts them.
//   - Retention deleting segments it has not read: the next poll says how
//     many records it lost (PollResult::lost), exactly, before the records
//     after the gap.
// Memory-only topics have no files and cannot be read from another process.
//
// Thread safety: one thread at a time per LogReader; different readers on
// different threads (or processes) are independent.
#pragma once

#include "conduit/export.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "conduit/engine.h"
#include "conduit/message.h"
#include "conduit/options.h"
#include "conduit/status.h"

namespace conduit {

namespace detail {
class LogReaderCore;
}

// How a LogReader reads (LogReader::open).
struct LogReaderOptions {
  // Where to start: earliest retained, latest (what is there when the reader
  // opens), a sequence, or a time. A named reader with a committed position
  // starts there instead.
  StartAt start = StartAt::latest();
  WaitStrategy wait = WaitStrategy::kAdaptive;  // how poll() waits
  // Longest single park; a reader that cannot write the control file (no
  // write permission) is never woken early and sleeps this long each time.
  std::chrono::nanoseconds park_timeout{500'000};
  // Named readers commit their position to DATA_DIR/readers/TOPIC/NAME, a
  // file of their own beside the log (the log is not touched). Same rules as
  // topic names.
  std::string name;
  // Named readers of a topic with TopicOptions::retain_until_consumed: the
  // committed position holds records as a named subscriber's does, so
  // retention deletes no segment this reader has not committed past (it
  // looks at the reader's file at each segment roll and each commit in
  // the engine). It holds from open(), which commits the start position.
  // To stop holding: remove it (Topic::remove_reader, `conduit-log
  // rm-reader`), or commit from a reader of that name opened without hold.
  // Off by default: a reader then never holds records.
  bool hold = false;
};

// Reads a persisted topic's log from any process, without the engine and
// without a lock (conduit/reader.h).
class CONDUIT_EXPORT LogReader {
 public:
  // Opens TOPIC of the engine data directory `data_dir`, read-only.
  // kNotFound: no such persisted topic; kCorruption: its files are not a
  // conduit log.
  static Result<std::unique_ptr<LogReader>> open(std::string_view data_dir, std::string_view topic,
                                                 LogReaderOptions options = {});
  ~LogReader();
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;

  // Up to out.size() records, in sequence order. Views stay valid until the
  // next poll. Every record is checked before it is returned (CRC32C,
  // length, sequence, field lengths: this process wrote none of them). An
  // error (a segment that cannot be opened; kCorruption naming the file and
  // offset of a record that failed its check) comes once the records
  // before it were returned, and leaves the position where it was: every
  // later poll stops there with the same error.
  Result<PollResult> try_poll(std::span<RecordView> out);
  // As try_poll, waiting up to `timeout` for something to read.
  Result<PollResult> poll(std::span<RecordView> out, std::chrono::nanoseconds timeout);

  // The next sequence this reader will return.
  std::uint64_t position() const noexcept;
  // Records lost to retention so far.
  std::uint64_t lost() const noexcept;
  // Times an engine opened the log since this reader opened it.
  std::uint64_t writer_restarts() const noexcept;
  // Whether the engine that writes the log closed it cleanly (no writer now).
  bool writer_closed() const noexcept;
  // Named readers: writes position() to the reader's own file (atomically:
  // a temporary file, fsync, rename), but no further than the log's durable
  // watermark: a reader cannot make the log durable, and a position past it
  // could outlive the records after a power cut. A reader that opens on a
  // stored position past the end of the log resumes at the end and is told
  // at its first poll (PollResult::rewound).
  Status commit();

 private:
  explicit LogReader(std::unique_ptr<detail::LogReaderCore> core);
  std::unique_ptr<detail::LogReaderCore> core_;
};

}  // namespace conduit
