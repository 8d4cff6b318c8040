#include "engine/counters_refresher.h"

#include <algorithm>

#include "common/disk_names.h"
#include "common/log.h"
#include "engine/topic_core.h"
#include "engine/work_group_core.h"
#include "persistence/file_storage.h"
#include "persistence/reader_positions.h"
#include "persistence/persistence_thread.h"

namespace conduit::detail {

using counters::RowKind;

Result<std::unique_ptr<CountersRefresher>> CountersRefresher::start(Sources sources, std::chrono::milliseconds interval,
                                                                    std::size_t rows) {
  std::string error;
  auto file = counters::CountersMapping::create(sources.data_dir, rows, sources.shared->now(), &error);
  if (!file.is_open()) return Status::IOError("counters file " + error);
  return std::unique_ptr<CountersRefresher>(new CountersRefresher(std::move(sources), std::move(file), interval));
}

CountersRefresher::CountersRefresher(Sources sources, counters::CountersMapping file,
                                     std::chrono::milliseconds interval)
    : sources_(std::move(sources)), interval_(interval), file_(std::move(file)) {
  // Row 0 is the engine's; the rest are handed out lowest first.
  for (std::size_t i = file_.rows(); i > 1; --i) free_.push_back(i - 1);
  live_[{RowKind::kEngine, "", "", nullptr}] = 0;
  refresh();
  thread_ = start_named_thread("conduit-counter", sources_.shared->on_thread_start, [this] { run(); });
}

CountersRefresher::~CountersRefresher() { stop(); }

void CountersRefresher::stop() {
  {
    std::lock_guard lk(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void CountersRefresher::run() {
  for (;;) {
    {
      std::unique_lock lk(stop_mu_);
      if (stop_cv_.wait_for(lk, interval_, [this] { return stopping_; })) break;
    }
    refresh();
  }
  refresh();  // the last values stay in the file after the engine is gone
}

std::uint64_t* CountersRefresher::row_for(const Key& key) {
  seen_[key] = true;
  if (auto it = live_.find(key); it != live_.end()) return file_.row(it->second);
  if (free_.empty()) {
    ++missing_;
    return nullptr;
  }
  const std::size_t r = free_.back();
  free_.pop_back();
  live_[key] = r;
  return file_.row(r);
}

void CountersRefresher::refresh() {
  std::lock_guard lk(mu_);
  seen_.clear();
  missing_ = 0;
  const std::int64_t now = sources_.shared->now();
  for (TopicCore* t : sources_.topics()) {
    if (t->deleted()) continue;
    // One published watermark for the topic's row and its readers' lag:
    // rows of one refresh agree, and the scanner's lock is taken once.
    const std::uint64_t published = write_topic(*t);
    write_readers(*t, published, now);
  }
  // Rows whose topic or reader went: marked free, so readers skip them.
  for (auto it = live_.begin(); it != live_.end();) {
    if (std::get<0>(it->first) == RowKind::kEngine || seen_.count(it->first) != 0) {
      ++it;
      continue;
    }
    counters::RowWriter(file_.row(it->second)).set_kind(RowKind::kFree);
    free_.push_back(it->second);
    it = live_.erase(it);
  }
  std::sort(free_.begin(), free_.end(), std::greater<>());
  ++refreshes_;
  counters::RowWriter w(file_.row(0));
  w.set_kind(RowKind::kEngine);
  w.set_text(counters::kTopicWord, "");
  w.set_text(counters::kNameWord, sources_.disk_io);
  w.set_value(counters::kPersistenceRounds, sources_.disk ? sources_.disk->rounds() : 0);
  w.set_value(counters::kPersistenceErrors, sources_.disk ? sources_.disk->errors() : 0);
  w.set_value(counters::kRefreshes, refreshes_);
  w.set_value(counters::kRefreshedAtNs, static_cast<std::uint64_t>(now));
  w.set_value(counters::kRowsMissing, missing_);
}

std::uint64_t CountersRefresher::write_topic(TopicCore& t) {
  // claimed() before stats(): claimed >= published holds in the row too.
  const std::uint64_t claimed = t.claimed();
  const TopicStats st = t.stats();
  std::uint64_t* row = row_for({RowKind::kTopic, t.name(), "", nullptr});
  if (row == nullptr) return st.published;
  const SyncStats sync = t.storage().sync_stats();
  counters::RowWriter w(row);
  w.set_kind(RowKind::kTopic);
  w.set_text(counters::kTopicWord, t.name());
  w.set_text(counters::kNameWord, "");
  w.set_value(counters::kPublished, st.published);
  w.set_value(counters::kDurable, t.options().durability == Durability::kMemory ? 0 : t.durable());
  w.set_value(counters::kClaimed, std::max(claimed, st.published));
  w.set_value(counters::kEarliest, st.earliest);
  w.set_value(counters::kSegments, st.segments);
  w.set_value(counters::kBytes, st.segments * t.options().segment_bytes);
  w.set_value(counters::kRetentionDeletions, st.retention_deletions);
  w.set_value(counters::kCapDeletions, st.cap_deletions);
  w.set_value(counters::kCapLostRecords, st.cap_lost_records);
  w.set_value(counters::kSyncRounds, sync.rounds);
  w.set_value(counters::kSyncFailures, sync.failures);
  w.set_value(counters::kSyncLatencySumNs, sync.latency_sum_ns);
  for (std::size_t i = 0; i < counters::kLatencyBuckets; ++i) w.set_value(counters::kSyncLatency + i, sync.latency[i]);
  return st.published;
}

void CountersRefresher::write_reader(const Key& key, std::uint64_t published, std::uint64_t position, std::int64_t now,
                                     TopicCore& t, const std::uint64_t (&extra)[counters::kReaderFields]) {
  std::uint64_t* row = row_for(key);
  if (row == nullptr) return;
  std::uint64_t lag_ns = 0, known = 1;
  if (position < published) {
    // The oldest record not yet read, on the engine's clock.
    const auto ts = t.timestamp_of(position);
    known = ts.has_value() ? 1 : 0;
    if (ts && now > *ts) lag_ns = static_cast<std::uint64_t>(now - *ts);
  }
  counters::RowWriter w(row);
  w.set_kind(std::get<0>(key));
  w.set_text(counters::kTopicWord, std::get<1>(key));
  w.set_text(counters::kNameWord, std::get<2>(key));
  for (std::size_t f = 0; f < counters::kReaderFields; ++f) w.set_value(f, extra[f]);
  w.set_value(counters::kPosition, position);
  w.set_value(counters::kLagRecords, published > position ? published - position : 0);
  w.set_value(counters::kLagNs, lag_ns);
  w.set_value(counters::kLagKnown, known);
}

void CountersRefresher::write_readers(TopicCore& t, std::uint64_t published, std::int64_t now) {
  for (const auto& s : t.subscriber_samples()) {
    std::uint64_t extra[counters::kReaderFields] = {};
    extra[counters::kLost] = s.lost;
    // Unnamed subscribers are told apart by address; named ones by name.
    const Key key{RowKind::kSubscriber, t.name(), s.info.name, s.info.name.empty() ? s.id : nullptr};
    write_reader(key, published, s.info.position, now, t, extra);
  }
  std::vector<GroupCore*> groups;
  {
    // Groups live as long as the topic: their pointers outlive the lock.
    std::lock_guard gl(t.groups_mutex());
    for (const auto& g : t.groups()) groups.push_back(g.get());
  }
  for (GroupCore* g : groups) {
    const WorkGroupStats st = g->stats();
    std::uint64_t extra[counters::kReaderFields] = {};
    extra[counters::kRedelivered] = st.redelivered;
    extra[counters::kDeadLettered] = st.dead_lettered;
    extra[counters::kTimedOut] = st.timed_out;
    extra[counters::kLost] = st.lost;
    extra[counters::kInFlight] = st.in_flight;
    write_reader({RowKind::kWorkGroup, t.name(), g->name(), nullptr}, published, st.ack_floor, now, t, extra);
  }
  if (t.options().durability == Durability::kMemory) return;
  // Named LogReaders (other processes): their committed positions.
  const std::string dir = disk::reader_positions_dir(sources_.data_dir, t.name());
  auto names = persistence::list_reader_names(dir);
  if (!names.ok()) return;  // next refresh
  for (const std::string& n : *names) {
    auto pos = persistence::read_reader_position(dir, n);
    if (!pos.ok() || !pos->has_value()) continue;  // half-written or gone: next refresh
    const std::uint64_t extra[counters::kReaderFields] = {};
    write_reader({RowKind::kLogReader, t.name(), n, nullptr}, published, (*pos)->position, now, t, extra);
  }
}

}  // namespace conduit::detail
