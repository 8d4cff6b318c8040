// AttachedSubscriber (conduit/attach_subscriber.h) and the attached
// handles' stats: records are followed in this process's own mapping by a
// LogReader; the connection to the owner carries the rest.
#include "conduit/attach_subscriber.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <utility>

#include "common/disk_names.h"
#include "common/wait.h"
#include "conduit/attach.h"
#include "conduit/reader.h"
#include "engine/ipc_connection.h"
#include "engine/ipc_wire_stats.h"
#include "engine/reader_slot.h"
#include "engine/shm_reader.h"
#include "persistence/data_dir.h"

namespace conduit {
namespace detail {

class AttachedSubscriberCore {
 public:
  // How often a poll that finds nothing looks whether the owner is gone.
  static constexpr std::chrono::milliseconds kOwnerCheck{10};

  PollResult poll(std::span<RecordView> out, std::int64_t timeout_ns) noexcept;
  Status commit(std::uint64_t seq);

  SubscriberOptions options_;
  std::unique_ptr<IpcConnection> conn_;
  std::unique_ptr<LogReader> reader_;
  std::unique_ptr<ShmReader> shm_;                     // instead of reader_: a memory-only topic (engine/shm_reader.h)
  std::unique_ptr<persistence::ControlFile> control_;  // the published watermark, for lag()
  // A persisted topic's reader slot, when the owner passed one (an older
  // owner does not): the position goes there after each poll, for the
  // owner's Topic::readers(). A memory-only topic's is shm_'s.
  std::unique_ptr<PassedReaderSlot> slot_;
  std::string topic_;
  std::uint64_t rewound_ = 0;  // from the owner's subscribe: told at the first poll
  // Written by the poll thread after each poll; read by any thread.
  // Relaxed both ways: figures ordered with nothing else.
  std::atomic<std::uint64_t> position_{0};
  std::atomic<std::uint64_t> lost_{0};

 private:
  // Nothing to read: whether the owner is gone (kClosed) or closed its log
  // cleanly (OK); looked at no more often than kOwnerCheck.
  bool ended(PollResult* r);
  std::chrono::steady_clock::time_point check_at_{};
  StreamGap gap_;  // SubscriberOptions::stream_gap
};

bool AttachedSubscriberCore::ended(PollResult* r) {
  const auto now = std::chrono::steady_clock::now();
  if (now < check_at_) return false;
  check_at_ = now + kOwnerCheck;
  if (conn_->owner_gone()) {
    r->status = conn_->broken();
  } else if (shm_) {
    shm_->look_for_close();  // the owner's close is told by a poll (engine/shm_reader.h)
    return false;
  } else if (!reader_->writer_closed()) {
    return false;
  }
  r->closed = true;
  return true;
}

PollResult AttachedSubscriberCore::poll(std::span<RecordView> out, std::int64_t timeout_ns) noexcept {
  PollResult r;
  r.rewound = std::exchange(rewound_, 0);
  // A poll (not a try_poll) waits out a stream gap, then looks once
  // without waiting: whether that look found records says whether it streams.
  if (timeout_ns >= 0) gap_.wait();
  const auto deadline = deadline_after(std::chrono::nanoseconds(std::max<std::int64_t>(timeout_ns, 0)));
  for (bool last = false, first = true;; first = false) {
    const auto left = deadline - std::chrono::steady_clock::now();
    // A wait in slices, each parked on the topic's futex: a publish wakes
    // it at once; between slices it looks at the owner.
    const auto slice = std::clamp<std::chrono::nanoseconds>(left, {}, kOwnerCheck);
    Result<PollResult> got = timeout_ns < 0 || last || first
                                 ? (shm_ ? shm_->try_poll(out) : reader_->try_poll(out))
                                 : (shm_ ? shm_->poll(out, slice) : reader_->poll(out, slice));
    if (!got.ok()) {
      r.status = got.status();
      // A memory-only topic's next segment comes from the owner: gone, it is the end.
      r.closed = r.status.code() == Code::kClosed;
      return r;
    }
    r.count = got->count;
    r.lost = got->lost;
    r.rewound += got->rewound;
    r.skipped += got->skipped;
    const std::uint64_t pos = shm_ ? shm_->position() : reader_->position();
    // Relaxed: see the members.
    position_.store(pos, std::memory_order_relaxed);
    if (slot_) slot_->store(pos);  // release (engine/reader_slot.h)
    lost_.store(shm_ ? shm_->lost() : reader_->lost(), std::memory_order_relaxed);
    if (r.count != 0 || r.lost != 0 || r.rewound != 0) {
      if (first && timeout_ns >= 0) gap_.note(r.count, out.size(), options_.stream_gap);
      r.closed = false;
      r.status = Status::OK();
      return r;
    }
    if (shm_ && got->closed) {  // the owner's Engine::close, and everything was read
      r.closed = true;
      // Its engine destroyed since: said as by ended().
      r.status = conn_->owner_gone() ? conn_->broken() : Status::OK();
      return r;
    }
    if (last) return r;  // the end, and everything before it was read
    // Once the end is seen, one more look: what the owner published just
    // before it went is read before closed is said.
    if (ended(&r)) {
      last = true;
      continue;
    }
    if (timeout_ns < 0 || left <= left.zero()) return r;
  }
}

Status AttachedSubscriberCore::commit(std::uint64_t seq) {
  if (options_.name.empty()) return Status::InvalidArgument("only a named subscriber can commit its position");
  if (shm_) return Status::Unsupported("a memory-only topic keeps no positions");  // as in process
  if (seq > position_.load(std::memory_order_relaxed))
    return Status::InvalidArgument("subscriber '" + options_.name + "' cannot commit " + std::to_string(seq) +
                                   ", past its position " + std::to_string(position_.load(std::memory_order_relaxed)));
  ipc::Writer req(ipc::Op::kCommit);
  req.put(seq);
  auto reply = conn_->call(req);
  if (!reply.ok()) return reply.status();
  ipc::Reader rd(*reply);
  return rd.status();
}

}  // namespace detail

Result<std::unique_ptr<AttachedSubscriber>> AttachedEngine::subscribe(std::string_view topic,
                                                                      SubscriberOptions options) {
  if (options.durable_only)
    return Status::Unsupported("subscriber of topic '" + std::string(topic) +
                               "': durable_only is not offered in an attached process");
  auto conn = detail::IpcConnection::open(dir_);
  if (!conn.ok()) return conn.status();
  detail::ipc::Writer req(detail::ipc::Op::kSubscribe);
  req.str(topic).str(options.name).put(static_cast<std::uint8_t>(options.start.kind));
  req.put(options.start.sequence).put(options.start.time_ns).put(static_cast<std::uint8_t>(options.slow));
  int fds[2] = {-1, -1};  // a memory-only topic's claim block and reader slot
  auto reply = (*conn)->call_fds(req, fds);
  if (!reply.ok()) return reply.status();
  detail::ipc::Reader rd(*reply);
  const Status said = rd.status();
  const auto start = rd.get<std::uint64_t>();
  const auto rewound = rd.get<std::uint64_t>();
  const bool memory = !rd.at_end() && rd.get<std::uint8_t>() != 0;
  // Left off by an older owner, which passes no slot for a persisted topic.
  const std::uint8_t flags = rd.at_end() ? 0 : rd.get<std::uint8_t>();
  const bool slot = !memory && (flags & detail::ipc::kSubscribeReaderSlot) != 0;
  if (!said.ok() || !rd.ok() || !memory) {
    // A persisted topic's reader slot, its first descriptor, is kept (mapped below).
    const bool keep = slot && said.ok() && rd.ok();
    for (std::size_t k = keep ? 1 : 0; k < std::size(fds); ++k)
      if (fds[k] >= 0) ::close(fds[k]);
    if (!said.ok()) return said;
    if (!rd.ok()) return Status::Corruption("a subscribe's reply from the owner of " + dir_ + " is short");
  }
  if (memory) {
    auto shm = detail::ShmReader::open(**conn, std::string(topic), fds[0], fds[1], start, options.wait);
    if (!shm.ok()) return shm.status();
    auto core = std::make_unique<detail::AttachedSubscriberCore>();
    core->options_ = std::move(options);
    core->shm_ = std::move(shm).value();
    core->conn_ = std::move(conn).value();  // after: shm_ refers to it, and goes first
    core->topic_ = std::string(topic);
    // Relaxed: no other thread has the handle yet.
    core->position_.store(start, std::memory_order_relaxed);
    return std::unique_ptr<AttachedSubscriber>(new AttachedSubscriber(std::move(core)));
  }
  std::unique_ptr<detail::PassedReaderSlot> passed;
  if (slot) {
    auto mapped = detail::PassedReaderSlot::map(fds[0], "the reader slot of topic '" + std::string(topic) + "'");
    if (!mapped.ok()) return mapped.status();
    passed = std::move(mapped).value();
  }
  // Where the owner said, exactly: its start is the in-process one's.
  LogReaderOptions lo;
  lo.start = StartAt::at(start);
  lo.wait = options.wait;
  auto reader = LogReader::open(dir_, topic, lo);
  if (!reader.ok()) return reader.status();
  auto control = persistence::ControlFile::open_for_reader(disk::topic_dir(dir_, std::string(topic)));
  if (!control.ok()) return control.status();
  auto core = std::make_unique<detail::AttachedSubscriberCore>();
  core->options_ = std::move(options);
  core->conn_ = std::move(conn).value();
  core->reader_ = std::move(reader).value();
  core->control_ = std::move(control).value();
  core->slot_ = std::move(passed);
  core->topic_ = std::string(topic);
  core->rewound_ = rewound;
  // Relaxed: no other thread has the handle yet.
  core->position_.store(start, std::memory_order_relaxed);
  return std::unique_ptr<AttachedSubscriber>(new AttachedSubscriber(std::move(core)));
}

Result<std::string> AttachedEngine::call(const detail::ipc::Writer& request) {
  std::lock_guard lk(mu_);
  return conn_->call(request);
}

Result<TopicStats> AttachedEngine::topic_stats(std::string_view topic) {
  detail::ipc::Writer req(detail::ipc::Op::kTopicStats);
  req.str(topic);
  return detail::ipc::stats_from<TopicStats>(call(req));
}

Result<WorkGroupStats> AttachedWorkGroup::stats() {
  return detail::ipc::stats_from<WorkGroupStats>(engine_->call(detail::ipc::group_stats_request(topic_, name_)));
}

AttachedSubscriber::AttachedSubscriber(std::unique_ptr<detail::AttachedSubscriberCore> core) : core_(std::move(core)) {}
// Closing the connection tells the owner, which lets its subscriber of
// that name go; a committed position stays.
AttachedSubscriber::~AttachedSubscriber() = default;

PollResult AttachedSubscriber::try_poll(std::span<RecordView> out) noexcept { return core_->poll(out, -1); }
PollResult AttachedSubscriber::poll(std::span<RecordView> out, std::chrono::nanoseconds timeout) noexcept {
  return core_->poll(out, std::max<std::int64_t>(timeout.count(), 0));
}
// Relaxed loads: see the members.
std::uint64_t AttachedSubscriber::position() const noexcept { return core_->position_.load(std::memory_order_relaxed); }
std::uint64_t AttachedSubscriber::lag() const noexcept {
  // Memory-only: from the claim block (engine/shm_reader.h); else from the
  // control file, as of the owner's last sync round.
  const std::uint64_t published = core_->shm_ ? core_->shm_->claimed() : core_->control_->published();
  const std::uint64_t pos = position();
  return published > pos ? published - pos : 0;
}
std::uint64_t AttachedSubscriber::lost() const noexcept { return core_->lost_.load(std::memory_order_relaxed); }
const SubscriberOptions& AttachedSubscriber::options() const noexcept { return core_->options_; }
Status AttachedSubscriber::commit() { return core_->commit(position()); }
Status AttachedSubscriber::commit(std::uint64_t seq) { return core_->commit(seq); }
Result<TopicStats> AttachedSubscriber::topic_stats() {
  detail::ipc::Writer req(detail::ipc::Op::kTopicStats);
  req.str(core_->topic_);
  return detail::ipc::stats_from<TopicStats>(core_->conn_->call(req));
}
Status AttachedSubscriber::owner_status() const { return core_->conn_->broken(); }

}  // namespace conduit
