// A persisted topic's storage: segment files in the topic's directory, its
// control file, recovery on open, and the sync rounds that move `durable`.
//
// Thread safety
//   create_segment(): under the topic's lock (one thread at a time).
//   sync_due()/sync_round(): the persistence thread only.
//   durable()/await_durable(): any thread.
//   Invariant (doc/durability.md): durable only grows, and moves to T only
//   once the disk holds everything a reader of the recovered log needs to
//   find every record below T: each such record; the header of its
//   segment, and the padding of every segment before it; each segment
//   file's directory entry. A journal entry (an ack) becomes durable in a
//   round only with the record it names.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/wait.h"
#include "conduit/options.h"
#include "persistence/data_dir.h"
#include "persistence/disk_io.h"
#include "persistence/journal_file.h"
#include "persistence/segment_file.h"
#include "persistence/storage.h"

namespace conduit::persistence {

class PersistenceThread;

struct FileStorageOptions {
  Durability durability = Durability::kAsync;
  std::chrono::milliseconds flush_interval{10};  // async: fdatasync at least this often
  std::size_t flush_bytes = 4u << 20;            // async: or once this many bytes are published (0: never)
  std::chrono::nanoseconds park_timeout{500'000};
  const std::atomic<bool>* closed = nullptr;  // the engine's closed flag
  bool verify_on_open = false;                // EngineOptions::verify_on_open
  bool read_only_on_corruption = false;       // EngineOptions::read_only_on_corruption
  detail::LogSink log;                        // EngineOptions::log
  std::string readers_dir;                    // DATA_DIR/readers/TOPIC: LogReaders' positions
};

// Reads a committed position file (TOPIC_DIR/cursors/sub-NAME or
// group-NAME) read-only; nullopt when there is none.
Result<std::optional<std::uint64_t>> read_position_file(const std::string& path);

class FileTopicStorage final : public detail::TopicStorage {
 public:
  // Creates the topic directory (0700) and opens its control file.
  static Result<std::unique_ptr<FileTopicStorage>> open(std::string dir, FileStorageOptions options,
                                                        PersistenceThread* thread);
  ~FileTopicStorage() override;

  Result<std::unique_ptr<detail::SegmentMemory>> create_segment(std::uint64_t first_seq, std::size_t capacity,
                                                                std::int64_t created_ns) override;
  bool records_have_crc() const noexcept override { return true; }
  detail::SharedParkingLot* remote_readers() noexcept override { return &control_->readers_lot(); }
  Result<std::vector<detail::RecoveredSegment>> recover() override;
  void attach(detail::WatermarkSource* source) override;
  RecoveryStats recovery_stats() const override { return stats_; }
  std::uint64_t durable() const noexcept override {
    // Acquire pairs with the release in sync_round().
    return durable_.load(std::memory_order_acquire);
  }
  Status await_durable(std::uint64_t seq, std::chrono::steady_clock::time_point deadline) override;
  // Final sync, clean-close record, clean flag. kIOError when the final
  // sync failed, or when the record could not be written (the flag is set
  // all the same; the next open finds no record and checks every record).
  Status close() override;
  Result<std::optional<std::uint64_t>> load_position(const std::string& key) override;
  // Waits until every record below `seq` is durable, then stores it.
  Status store_position(const std::string& key, std::uint64_t seq) override;
  Status make_durable_below(std::uint64_t end) override;
  Result<std::vector<std::pair<std::string, std::uint64_t>>> load_positions() override;
  Result<std::optional<std::uint64_t>> reader_hold() override;
  Status remove_position(const std::string& key) override;
  Status remove_reader_position(const std::string& reader) override;
  Result<std::optional<std::string>> load_state(const std::string& key) override;
  Status store_state(const std::string& key, std::string_view bytes) override;
  void segment_dropped(std::uint64_t first_seq) override;
  // Journals live in cursors/ and are synced with the topic's sync rounds.
  Result<std::shared_ptr<detail::StateJournal>> open_journal(const std::string& key,
                                                             std::vector<std::string>* entries) override;

  // The persistence thread's side.
  bool sync_due(std::chrono::steady_clock::time_point now);
  // false: the round's sync failed.
  bool sync_round(DiskIo& io);
  detail::SyncStats sync_stats() const override;
  // Before a round a publisher asked for: gives the publishers the last
  // round let go a moment to publish again (see the definition).
  void gather_publishers();
  // Whether a journal holds entries not synced yet.
  bool journals_pending();
  // Prepares the next segment file (reserved through `io`, mapped; a kSync
  // topic's also written with zeros, one step per call) so that a roll
  // only renames it. Cheap when one is ready.
  void prepare_spare(DiskIo& io);
  // DIR/.spare, reserved through `io` and mapped.
  Result<std::unique_ptr<SegmentFile>> reserve_spare(DiskIo& io, std::size_t bytes);
  // One step of writing zeros ahead of the producers in a kSync topic's
  // recovered tail (SegmentFile::prepare_for_appends, zero_range), while
  // they are less than kZeroAhead ahead of the producers' tail. On the
  // persistence thread's second thread (PersistenceThread::run_zeros), so
  // that no round waits behind a step. Each step's sync converts the
  // step's extents, a journal commit that the head's next sync round may
  // wait for too: few large steps, spread over the segment's life, rather
  // than many small ones bunched at its start. Once it answers kDone,
  // zeros_pending() is false.
  detail::ZeroAhead zero_head_step();
  // Set by recover() when the tail needs zeros ahead of the producers.
  bool zeros_pending() const noexcept {
    return zeros_pending_.load(std::memory_order_relaxed);
  }  // relaxed: a flag, set before add()
  // A kSync topic's new segments are written with zeros before use
  // (SegmentFile::map_for_appends() says why); others are only reserved.
  bool zero_segments() const noexcept { return options_.durability == Durability::kSync; }
  static constexpr std::size_t kZeroAhead = std::size_t{8} << 20;
  static constexpr std::size_t kZeroAheadStep = std::size_t{4} << 20;
  // One step of zeroing a kSync topic's spare; the spare once it is done.
  std::unique_ptr<SegmentFile> zero_spare_step(DiskIo& io, std::size_t bytes);
  // Maps the head segment's pages from the producers' tail to
  // kPopulateAhead past it writable (MADV_POPULATE_WRITE), so that the
  // producers do not take a page fault per page; called every tick and
  // while a sync round waits. Rounds sync each segment only up to its
  // records (SyncRange::length), so these pages stay dirty and mapped:
  // they are neither written as zeros nor write-protected.
  void populate_ahead();
  static constexpr std::size_t kPopulateAhead = std::size_t{4} << 20;

 private:
  FileTopicStorage(std::string dir, FileStorageOptions options, PersistenceThread* thread,
                   std::unique_ptr<ControlFile> control);

  // The log as the clean-close record describes it, or nullopt (then the
  // caller scans it): used only when the control file says the last close
  // was clean, and only after checking the record against the files.
  std::optional<std::vector<detail::RecoveredSegment>> recover_clean(
      const std::vector<std::pair<std::uint64_t, std::string>>& listed, std::uint64_t durable);
  // What recover()'s scan decided, before anything is written.
  struct RecoveryScan {
    std::vector<std::unique_ptr<SegmentFile>> files;  // the listed files opened, in order, up to the damage or the cut
    std::size_t cut_files_from = 0;                   // listed files from here on are past the log's end
    std::optional<Status> damage;                     // corruption below the durable watermark
    std::vector<detail::RecoveredSegment> out;        // the log as it is kept
    std::optional<std::size_t> zero_tail_at;          // the torn tail's intact end, in out.back()
    std::vector<std::size_t> repairs;                 // indexes in `out` of segments to seal with padding
  };
  // recover()'s steps after the clean-close shortcut, in order. open_listed:
  // opens the listed files up to the first that is past the end or damaged.
  Status open_listed(const std::vector<std::pair<std::uint64_t, std::string>>& listed, std::uint64_t durable,
                     RecoveryScan& scan);
  // No segment is kept: the listed files from `cut_files_from` go aside.
  Status cut_whole_log(const std::vector<std::pair<std::uint64_t, std::string>>& listed, std::size_t cut_files_from);
  // Checks every record of the opened files; decides where the log ends.
  Status scan_opened(std::uint64_t durable, RecoveryScan& scan);
  // Damaged below the durable watermark: the kept files mapped read-only.
  Status reopen_read_only(RecoveryScan& scan);
  // Seals the repaired segments, moves aside what is cut, zeroes the torn tail.
  Status write_recovered(const std::vector<std::pair<std::uint64_t, std::string>>& listed, std::uint64_t durable,
                         RecoveryScan& scan);
  // The files recovery keeps may now be written: bumps the control file's
  // generation (readers in other processes look again) and removes the
  // clean-close record.
  void begin_writing();
  // Writes TOPIC_DIR/clean for the log as it is now (close, after the final sync).
  Status write_clean_record();
  // recover()'s end for a writable log: which files to sync, and durable.
  Status track_recovered(std::vector<detail::RecoveredSegment>& out, std::uint64_t durable);

  struct DirtyFile {
    std::uint64_t first_seq;
    std::shared_ptr<FileHandle> file;
    std::size_t capacity;     // a round that synced this many bytes synced all of it, padding included
    std::size_t dropped = 0;  // pages below this offset are out of the writer's mapping
  };
  using PendingJournals = std::vector<std::pair<FileJournal*, std::vector<FileJournal::Pending>>>;
  PendingJournals pending_journals();
  // One file a round syncs: a segment file as far as the round's target
  // reaches, or a journal file whole.
  struct SyncItem {
    std::shared_ptr<FileHandle> file;  // a segment's matches its DirtyFile once files_mu_ was let go
    FileJournal* journal = nullptr;    // the journal whose entries the file holds; null: a segment
    std::uint64_t first_seq = 0;       // a segment's
    std::size_t capacity = 0;          // a segment's
    std::size_t dropped = 0;           // a segment's: pages below this offset are out of the writer's mapping
    std::uint64_t appended = 0;        // a journal's: entries written when collected
    std::size_t length = 0;  // bytes below the round's target (SyncRange::length); 0 for a journal: the whole file
    bool whole = false;      // a segment synced whole, padding included: it leaves dirty_ once synced
  };
  // A round: what it syncs and what it moves once the syncs succeed.
  struct SyncRound {
    PendingJournals journals;
    std::uint64_t target = 0;     // the published watermark when the round started
    bool records = false;         // target is past durable: segments to sync, durable to move
    bool sync_directory = false;  // a segment name changed since the last directory sync
    bool segments = false;        // items hold a segment file
    std::vector<SyncItem> items;  // segment files first, oldest first, then journal files
  };
  // sync_round()'s steps, in order.
  void begin_round();
  SyncRound plan_round();
  void measure_segments(SyncRound& round);
  void drop_settled(SyncRound& round);
  Status sync_items(DiskIo& io, const SyncRound& round);
  void finish_round(const SyncRound& round);
  void fail_round(DiskIo& io, SyncRound& round, Status s);
  // After a failed batch: dirties again what it should have written.
  Status redirty_failed(DiskIo& io, const SyncRound& round, Status s);

  std::string dir_;
  FileStorageOptions options_;
  PersistenceThread* thread_;
  std::unique_ptr<ControlFile> control_;
  detail::WatermarkSource* source_ = nullptr;
  RecoveryStats stats_;  // written by recover(), before the topic is shared
  // The persistence thread's. Steady time, not the engine's clock:
  // flush_interval paces fdatasync in real time, whatever a test clock says.
  std::chrono::steady_clock::time_point last_sync_{};
  std::uint64_t bytes_at_last_sync_ = 0;              // the persistence thread's
  detail::WatermarkSource::PopulatedMark populated_;  // the persistence thread's (under its round lock)

  std::mutex files_mu_;
  std::deque<DirtyFile> dirty_;  // guarded by files_mu_: files not yet fully durable, oldest first
  // Guarded by files_mu_: a segment file was created or renamed into dir_
  // since the last round that synced the directory.
  bool dir_dirty_ = false;
  std::unique_ptr<SegmentFile> spare_;  // guarded by files_mu_
  // A kSync topic's spare while its zeros are written, and how far: the
  // persistence thread's (close() takes them after remove()).
  std::unique_ptr<SegmentFile> zeroing_;
  std::size_t zeroed_ = 0;
  std::atomic<bool> zeros_pending_{false};              // see zeros_pending()
  std::size_t segment_bytes_ = 0;                       // guarded by files_mu_; known after the first segment
  std::vector<std::shared_ptr<FileJournal>> journals_;  // guarded by files_mu_

  alignas(64) std::atomic<std::uint64_t> durable_{0};
  std::atomic<std::uint64_t> failed_rounds_{0};
  // Written by the round's thread, read by the counters' refresher; relaxed
  // (counters, ordered with nothing).
  std::atomic<std::uint64_t> sync_rounds_{0};
  std::atomic<std::uint64_t> sync_latency_sum_ns_{0};
  std::atomic<std::uint64_t> sync_latency_[counters::kLatencyBuckets] = {};
  std::atomic<bool> sync_wanted_{false};
  // For gather_publishers(): threads in await_durable() now, and calls of
  // it so far; how many waited when the last round started, and the calls
  // when it ended (those two: only rounds touch them, and rounds take turns
  // under the persistence thread's round lock).
  std::atomic<std::uint32_t> sync_waiters_{0};
  std::atomic<std::uint64_t> sync_arrivals_{0};
  std::uint32_t last_round_waiters_ = 0;
  std::uint64_t arrivals_at_round_end_ = 0;
  std::atomic<bool> closed_{false};
  // Set once close() has made its last sync round (or found none to make):
  // await_durable() and the journals' waits stop waiting then, so a record
  // or journal entry that round made durable is reported durable, not closed.
  std::atomic<bool> final_synced_{false};
  std::mutex error_mu_;
  Status last_error_;  // guarded by error_mu_
  detail::ParkingLot durable_lot_;
};

}  // namespace conduit::persistence
