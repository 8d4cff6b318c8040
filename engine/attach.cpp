// The attached side (conduit/attach.h): requests to the owner, and the
// records of its deliveries read in place from this process's own
// read-only mappings of the topic's segment files.
#include "conduit/attach.h"

#include <algorithm>
#include <deque>
#include <utility>
#include <vector>

#include "common/disk_names.h"
#include "common/format.h"
#include "engine/ipc_connection.h"
#include "engine/ipc_wire_stats.h"
#include "persistence/log_reader.h"
#include "persistence/segment_file.h"

namespace conduit {
namespace detail {

// One attached consumer: its connection, and the segment files its
// outstanding deliveries' views point into.
//
// With prefetch on, a poll that handed out records and has none left
// sends the next poll (the owner's try_poll, carrying the acks held)
// before it returns, and the next call takes its reply: at most one
// request is in flight, and every other request first takes that reply
// (settle()).
class AttachedConsumerCore {
 public:
  AttachedConsumerCore(std::string topic_dir, std::unique_ptr<IpcConnection> conn)
      : topic_dir_(std::move(topic_dir)), conn_(std::move(conn)) {}
  // What ack_later holds goes before the connection closes; prefetched
  // deliveries never handed out go back to the group with it.
  ~AttachedConsumerCore() { (void)flush_acks(); }
  AttachedConsumerCore(const AttachedConsumerCore&) = delete;
  AttachedConsumerCore& operator=(const AttachedConsumerCore&) = delete;

  PollResult poll(std::span<Delivery> out, std::int64_t timeout_ns) noexcept;
  std::size_t ack(std::span<const Delivery> ds) noexcept;
  void ack_later(std::span<const Delivery> ds) noexcept;
  std::size_t flush_acks() noexcept;
  std::uint64_t acked_later() const noexcept { return acked_later_; }
  bool end(const Delivery& d, ipc::FailKind kind, std::int64_t delay_ns, std::string_view error) noexcept;
  Status owner_status() const { return conn_->broken(); }
  void prefetch(std::size_t ahead) noexcept {
    prefetch_ = static_cast<std::uint32_t>(std::min<std::size_t>(ahead, ipc::kMaxBatch));
  }
  Result<WorkGroupStats> stats() {
    settle();
    return ipc::stats_from<WorkGroupStats>(conn_->call(ipc::group_stats_request(topic_, group_)));
  }
  std::string topic_, group_;  // the group's names, for stats()

 private:
  struct Mapped {
    std::unique_ptr<persistence::SegmentFile> file;
    std::size_t views = 0;  // outstanding deliveries whose record lies in it
  };
  // Points `d` at the record `w` names; kCorruption when what is there is
  // not that record, an open's error when its file cannot be mapped.
  Status place(const ipc::WireDelivery& w, Delivery* d);
  // The delivery is answered: its view need not stay readable.
  void release(const Delivery& d) noexcept;
  // A delivery that cannot be handed to the caller goes back to the group.
  void give_back(const ipc::WireDelivery& w) noexcept;
  // Sends a poll for up to `max` (timeout_ns < 0: the owner's try_poll)
  // carrying the acks held (kPollAck); its reply is taken by settle().
  void send_poll(std::uint32_t max, std::int64_t timeout_ns) noexcept;
  // Takes the reply of the poll in flight, if any: its deliveries join
  // ready_, the rest of what it says head_.
  void settle() noexcept;

  std::string topic_dir_;
  std::unique_ptr<IpcConnection> conn_;
  std::map<std::uint64_t, Mapped> segments_;  // by first sequence
  std::uint64_t newest_ = 0;                  // kept mapped while idle: the next deliveries are likely there
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> outstanding_;  // (seq, lease) -> segment
  std::vector<Delivery> later_;          // ack_later's, for the next poll (at most kMaxBatch)
  std::uint64_t acked_later_ = 0;        // of those, acked by the owner
  std::uint32_t prefetch_ = 0;           // how many a prefetch asks for; 0: none
  bool in_flight_ = false;               // a poll's reply is to come
  bool carried_ = false;                 // and that poll carried acks
  std::deque<ipc::WireDelivery> ready_;  // received, not yet handed out
  PollResult head_;                      // received, not yet told: lost, rewound, closed, an error
};

namespace {
// A kAck's or kPollAck's acks.
void put_acks(ipc::Writer& w, std::span<const Delivery> ds) {
  w.put(static_cast<std::uint32_t>(ds.size()));
  for (const Delivery& d : ds) w.put(d.sequence).put(d.lease);
}
}  // namespace

Status AttachedConsumerCore::place(const ipc::WireDelivery& w, Delivery* d) {
  auto it = segments_.find(w.segment_first);
  if (it == segments_.end()) {
    const std::string path = disk::topic_file(topic_dir_, disk::segment_file_name(w.segment_first));
    auto file = persistence::SegmentFile::open(path, false);
    if (!file.ok()) return file.status();
    it = segments_.emplace(w.segment_first, Mapped{std::move(file).value(), 0}).first;
  }
  const persistence::SegmentFile& f = *it->second.file;
  const std::string where = f.path() + " offset " + std::to_string(w.offset);
  if (w.offset < format::kSegmentHeaderSize || w.offset + format::kRecordHeaderSize > f.capacity())
    return Status::Corruption(where + ": the owner named a place outside the segment");
  // The owner checked the record (CRC32C included) before handing it out:
  // this only checks that it is the one named.
  const std::uint32_t word = format::load_length(f.base() + w.offset);
  const persistence::RecordCheck c =
      persistence::check_record(f.base(), f.capacity(), w.offset, word, w.sequence, false);
  if (c.kind != persistence::RecordCheck::kRecord)
    return Status::Corruption(where + ": not record " + std::to_string(w.sequence) + " there" +
                              (c.what.empty() ? "" : " (" + c.what + ")"));
  d->record = RecordView(f.base() + w.offset);
  d->sequence = w.sequence;
  d->attempt = w.attempt;
  d->lease = w.lease;
  ++it->second.views;
  newest_ = std::max(newest_, w.segment_first);
  outstanding_.emplace(std::make_pair(w.sequence, w.lease), w.segment_first);
  return Status::OK();
}

void AttachedConsumerCore::release(const Delivery& d) noexcept {
  auto o = outstanding_.find({d.sequence, d.lease});
  if (o == outstanding_.end()) return;
  auto it = segments_.find(o->second);
  outstanding_.erase(o);
  if (it == segments_.end()) return;
  if (--it->second.views == 0 && it->first != newest_) segments_.erase(it);
}

void AttachedConsumerCore::give_back(const ipc::WireDelivery& w) noexcept {
  ipc::Writer req(ipc::Op::kFail);
  req.put(static_cast<std::uint8_t>(ipc::FailKind::kNack)).put(w.sequence).put(w.lease).put(std::int64_t{0}).str("");
  (void)conn_->call(req);
}

void AttachedConsumerCore::send_poll(std::uint32_t max, std::int64_t timeout_ns) noexcept {
  // Held acks ride on this request (kPollAck): one round trip for both.
  carried_ = !later_.empty();
  ipc::Writer req(carried_ ? ipc::Op::kPollAck : ipc::Op::kPoll);
  if (carried_) put_acks(req, later_);
  req.put(max).put(timeout_ns);
  (void)conn_->send(req);  // a failure is receive()'s to say
  in_flight_ = true;
  // Sent, or the owner is gone: either way they are not held any more.
  for (const Delivery& d : later_) release(d);
  later_.clear();
}

void AttachedConsumerCore::settle() noexcept {
  if (!in_flight_) return;
  in_flight_ = false;
  auto keep = [this](Status s) {
    if (head_.status.ok()) head_.status = std::move(s);
  };
  auto reply = conn_->receive();
  if (!reply.ok()) {
    head_.closed = true;
    keep(reply.status());
    return;
  }
  ipc::Reader rd(*reply);
  Status status = rd.status();
  const std::uint32_t acked = carried_ ? rd.get<std::uint32_t>() : 0;
  const auto lost = rd.get<std::uint64_t>();
  const auto rewound = rd.get<std::uint64_t>();
  const bool closed = rd.get<std::uint8_t>() != 0;
  std::vector<ipc::WireDelivery> ws(std::min(rd.get<std::uint32_t>(), ipc::kMaxBatch));
  for (auto& w : ws) w = rd.get<ipc::WireDelivery>();
  if (!rd.ok()) {
    keep(Status::Corruption("a poll's reply from the owner of the topic in " + topic_dir_ + " is short"));
    return;
  }
  acked_later_ += acked;
  head_.lost += lost;
  head_.rewound += rewound;
  head_.closed = head_.closed || closed;
  keep(std::move(status));
  ready_.insert(ready_.end(), ws.begin(), ws.end());
}

PollResult AttachedConsumerCore::poll(std::span<Delivery> out, std::int64_t timeout_ns) noexcept {
  const auto max = static_cast<std::uint32_t>(std::min<std::size_t>(out.size(), ipc::kMaxBatch));
  settle();  // a prefetched batch
  if (ready_.empty() && head_.lost == 0 && head_.rewound == 0 && !head_.closed && head_.status.ok()) {
    send_poll(max, timeout_ns);
    settle();
  }
  PollResult r = std::exchange(head_, PollResult{});
  while (r.count < out.size() && !ready_.empty()) {
    if (Status s = place(ready_.front(), &out[r.count]); !s.ok()) {
      // Never lost: what cannot be handed out goes back to the group.
      for (const ipc::WireDelivery& w : ready_) give_back(w);
      ready_.clear();
      if (r.status.ok()) r.status = std::move(s);
      break;
    }
    ready_.pop_front();
    ++r.count;
  }
  // The next batch on its way while the caller works on this one.
  if (prefetch_ != 0 && r.count != 0 && ready_.empty() && r.status.ok() && !r.closed) send_poll(prefetch_, -1);
  return r;
}

std::size_t AttachedConsumerCore::ack(std::span<const Delivery> ds) noexcept {
  settle();
  std::size_t acked = 0;
  while (!ds.empty()) {
    const std::size_t n = std::min<std::size_t>(ds.size(), ipc::kMaxBatch);
    ipc::Writer req(ipc::Op::kAck);
    put_acks(req, ds.first(n));
    auto reply = conn_->call(req);
    for (std::size_t k = 0; k < n; ++k) release(ds[k]);
    ds = ds.subspan(n);
    if (!reply.ok()) continue;  // the owner is gone: the rest are released, not acked
    ipc::Reader rd(*reply);
    if (rd.status().ok()) acked += rd.get<std::uint32_t>();
  }
  return acked;
}

void AttachedConsumerCore::ack_later(std::span<const Delivery> ds) noexcept {
  for (const Delivery& d : ds) {
    // One message carries at most kMaxBatch: a full hold goes now.
    if (later_.size() == ipc::kMaxBatch) (void)flush_acks();
    later_.push_back(d);
  }
}

std::size_t AttachedConsumerCore::flush_acks() noexcept {
  settle();
  if (later_.empty()) return 0;
  const std::size_t n = ack(later_);
  later_.clear();
  acked_later_ += n;
  return n;
}

bool AttachedConsumerCore::end(const Delivery& d, ipc::FailKind kind, std::int64_t delay_ns,
                               std::string_view error) noexcept {
  settle();
  ipc::Writer req(ipc::Op::kFail);
  req.put(static_cast<std::uint8_t>(kind)).put(d.sequence).put(d.lease).put(delay_ns).str(error);
  auto reply = conn_->call(req);
  release(d);
  if (!reply.ok()) return false;
  ipc::Reader rd(*reply);
  return rd.status().ok() && rd.get<std::uint8_t>() != 0;
}

}  // namespace detail

Result<std::unique_ptr<AttachedEngine>> AttachedEngine::attach(std::string_view data_dir) {
  std::string dir(data_dir);
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  auto conn = detail::IpcConnection::open(dir);
  if (!conn.ok()) return conn.status();
  return std::unique_ptr<AttachedEngine>(new AttachedEngine(std::move(dir), std::move(conn).value()));
}

AttachedEngine::AttachedEngine(std::string dir, std::unique_ptr<detail::IpcConnection> conn)
    : dir_(std::move(dir)), conn_(std::move(conn)) {}
AttachedEngine::~AttachedEngine() = default;

Result<AttachedWorkGroup*> AttachedEngine::work_group(std::string_view topic, std::string_view group,
                                                      WorkGroupOptions options) {
  std::lock_guard lk(mu_);
  const std::string key = std::string(topic) + "/" + std::string(group);
  if (auto it = groups_.find(key); it != groups_.end()) return it->second.get();
  detail::ipc::Writer req(detail::ipc::Op::kOpenGroup);
  req.str(topic).str(group);
  detail::ipc::put_options(req, options);
  auto reply = conn_->call(req);
  if (!reply.ok()) return reply.status();
  detail::ipc::Reader rd(*reply);
  if (Status s = rd.status(); !s.ok()) return s;
  auto g = std::unique_ptr<AttachedWorkGroup>(
      new AttachedWorkGroup(dir_, std::string(topic), std::string(group), std::move(options)));
  AttachedWorkGroup* handle = g.get();
  handle->engine_ = this;
  groups_.emplace(key, std::move(g));
  return handle;
}

Result<std::unique_ptr<AttachedConsumer>> AttachedWorkGroup::consumer(ConsumerOptions options) {
  auto conn = detail::IpcConnection::open(dir_);
  if (!conn.ok()) return conn.status();
  detail::ipc::Writer req(detail::ipc::Op::kConsumer);
  req.str(topic_).str(name_);
  detail::ipc::put_options(req, options_);
  req.str(options.name).put(static_cast<std::uint8_t>(options.wait));
  auto reply = (*conn)->call(req);
  if (!reply.ok()) return reply.status();
  detail::ipc::Reader rd(*reply);
  if (Status s = rd.status(); !s.ok()) return s;
  auto core = std::make_unique<detail::AttachedConsumerCore>(disk::topic_dir(dir_, topic_), std::move(conn).value());
  core->topic_ = topic_;
  core->group_ = name_;
  return std::unique_ptr<AttachedConsumer>(new AttachedConsumer(std::move(core)));
}

AttachedConsumer::AttachedConsumer(std::unique_ptr<detail::AttachedConsumerCore> core) : core_(std::move(core)) {}
// The acks ack_later held go first (~AttachedConsumerCore). Closing the
// connection then tells the owner: it destroys its consumer, and the
// deliveries still out go back to the group at once.
AttachedConsumer::~AttachedConsumer() = default;

PollResult AttachedConsumer::try_poll(std::span<Delivery> out) noexcept { return core_->poll(out, -1); }
PollResult AttachedConsumer::poll(std::span<Delivery> out, std::chrono::nanoseconds timeout) noexcept {
  return core_->poll(out, std::max<std::int64_t>(timeout.count(), 0));
}
bool AttachedConsumer::ack(const Delivery& d) noexcept { return core_->ack(std::span<const Delivery>(&d, 1)) == 1; }
std::size_t AttachedConsumer::ack(std::span<const Delivery> deliveries) noexcept { return core_->ack(deliveries); }
void AttachedConsumer::ack_later(std::span<const Delivery> deliveries) noexcept { core_->ack_later(deliveries); }
std::size_t AttachedConsumer::flush_acks() noexcept { return core_->flush_acks(); }
std::uint64_t AttachedConsumer::acked_later() const noexcept { return core_->acked_later(); }
void AttachedConsumer::prefetch(std::size_t ahead) noexcept { core_->prefetch(ahead); }
bool AttachedConsumer::nack(const Delivery& d) noexcept { return core_->end(d, detail::ipc::FailKind::kNack, -1, {}); }
bool AttachedConsumer::nack(const Delivery& d, std::chrono::nanoseconds delay) noexcept {
  return core_->end(d, detail::ipc::FailKind::kNackDelay, std::max<std::int64_t>(delay.count(), 0), {});
}
bool AttachedConsumer::fail(const Delivery& d, std::string_view error) noexcept {
  return core_->end(d, detail::ipc::FailKind::kFail, -1, error);
}
bool AttachedConsumer::dead_letter(const Delivery& d, std::string_view error) noexcept {
  return core_->end(d, detail::ipc::FailKind::kDeadLetter, -1, error);
}
Status AttachedConsumer::owner_status() const { return core_->owner_status(); }
Result<WorkGroupStats> AttachedConsumer::stats() noexcept { return core_->stats(); }

}  // namespace conduit
