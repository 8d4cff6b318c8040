// Topic: the public handle over TopicCore.
#include <bit>

#include "common/disk_names.h"
#include "engine/topic_core.h"
#include "engine/work_group_core.h"

namespace conduit {

void detail::TopicCore::commit_groups() {
  std::lock_guard lk(groups_mu_);
  for (auto& g : groups_)
    if (Status s = g->commit(); !s.ok())
      shared_->say(LogLevel::kError,
                   "work group '" + g->name() + "' of topic '" + name_ + "': commit on close: " + s.to_string());
}

const std::string& Topic::name() const noexcept { return name_; }
const TopicOptions& Topic::options() const noexcept { return options_; }
Status Topic::gone() const { return Status::Closed("topic '" + name_ + "': its engine was destroyed"); }
// Each call checks core_ first: null once the engine is destroyed (engine.h).
Result<std::uint64_t> Topic::publish(const Message& message) noexcept {
  if (core_ == nullptr) [[unlikely]]
    return gone();
  return core_->publish(message);
}
Result<std::uint64_t> Topic::publish(std::string_view payload) noexcept {
  if (core_ == nullptr) [[unlikely]]
    return gone();
  Message m;
  m.payload = payload;
  return core_->publish(m);
}
PublishBatchResult Topic::publish_batch(std::span<const Message> messages,
                                        std::span<std::uint64_t> sequences) noexcept {
  if (core_ == nullptr) [[unlikely]]
    return {.published = 0, .status = gone()};
  return core_->publish_batch(messages, sequences);
}
Result<std::uint64_t> Topic::publish_nowait(const Message& message) noexcept {
  if (core_ == nullptr) [[unlikely]]
    return gone();
  return core_->publish(message, true);
}
Status Topic::await_durable(std::uint64_t seq, std::chrono::nanoseconds timeout) noexcept {
  if (core_ == nullptr) return gone();
  return core_->await_durable(seq, timeout);
}
std::uint64_t Topic::durable() const noexcept { return core_ == nullptr ? 0 : core_->durable(); }
std::uint64_t Topic::published() const noexcept { return core_ == nullptr ? 0 : core_->published(); }
std::uint64_t Topic::claimed() const noexcept { return core_ == nullptr ? 0 : core_->claimed(); }
std::uint64_t Topic::earliest() const noexcept { return core_ == nullptr ? 0 : core_->earliest(); }
RecoveryStats Topic::recovery_stats() const {
  return core_ == nullptr ? RecoveryStats{} : core_->storage().recovery_stats();
}
TopicStats Topic::stats() const noexcept { return core_ == nullptr ? TopicStats{} : core_->stats(); }

namespace {

// Topic::work_group()'s checks of the name and the options.
Status check_group_options(std::string_view name, const WorkGroupOptions& options) {
  if (Status s = validate_topic_name(name); !s.ok()) return Status::InvalidArgument("work group name: " + s.message());
  // cursors/group-NAME.state holds a group's state: a group named "x.state"
  // would have its position file collide with the state file of group "x".
  // Its journal files are cursors/group-NAME.journal-GENERATION.
  if (disk::is_cursor_side_file(name))
    return Status::InvalidArgument("work group name '" + std::string(name) +
                                   "': may not end in .state or .tmp, nor hold .journal-");
  if (!std::has_single_bit(options.max_in_flight) || options.max_in_flight < 64 || options.max_in_flight > (1u << 24))
    return Status::InvalidArgument("work group '" + std::string(name) +
                                   "': max_in_flight must be a power of two in 64..2^24");
  const std::string where = "work group '" + std::string(name) + "': ";
  if (options.ack_timeout.count() < 0 || options.backoff_base.count() < 0 || options.backoff_max.count() < 0)
    return Status::InvalidArgument(where + "ack_timeout, backoff_base and backoff_max must not be negative");
  if (!(options.backoff_jitter >= 0.0 && options.backoff_jitter <= 1.0))
    return Status::InvalidArgument(where + "backoff_jitter must be within 0..1");
  if (!options.dead_letter_topic.empty())
    if (Status s = validate_topic_name(options.dead_letter_topic); !s.ok())
      return Status::InvalidArgument(where + "dead_letter_topic: " + s.message());
  return Status::OK();
}

// A persisted group's state as the last engine left it.
struct RestoredGroup {
  detail::GroupState state;
  std::shared_ptr<detail::StateJournal> journal;
  std::uint64_t rewound = 0;  // by how much the stored floor was set back (PollResult::rewound)
};

// Reads a persisted group's state file (or position file) and journal;
// sets options->start from them.
Result<RestoredGroup> restore_group(detail::TopicCore& core, std::string_view name, WorkGroupOptions* options) {
  RestoredGroup g;
  // The group's state file (floor and records done above it) wins over
  // the plain position file.
  const std::string key = disk::group_key(name);
  auto state = core.storage().load_state(disk::state_file_name(key));
  if (!state.ok()) return state.status();
  if (state->has_value()) {
    auto decoded =
        detail::GroupState::decode(**state, disk::cursors_dir(core.name()) + "/" + disk::state_file_name(key));
    if (!decoded.ok()) return decoded.status();
    g.state = std::move(decoded).value();
    options->start = StartAt::at(g.state.floor);
  } else {
    auto stored = core.storage().load_position(key);
    if (!stored.ok()) return stored.status();
    if (stored->has_value()) options->start = StartAt::at(**stored);
  }
  // Acks and failures since that state was stored (a crash skips the
  // commit at close). Entries exist only once a state was stored: the
  // group stores one at creation, before any consumer can ack.
  std::vector<std::string> entries;
  auto opened = core.storage().open_journal(key, &entries);
  if (!opened.ok()) return opened.status();
  g.journal = std::move(opened).value();
  if (!entries.empty()) {
    g.state.merge(entries);
    options->start = StartAt::at(g.state.floor);
  }
  // Nothing stored may name a record past the recovered end: those were
  // never durable (an older build's state, or a disk that lost synced
  // data), and new records take their sequences now.
  const std::uint64_t end = core.recovered_end();
  g.rewound = core.take_rewound(key);
  if (g.state.floor > end) {
    g.rewound = std::max(g.rewound, g.state.floor - end);
    g.state.floor = end;
    options->start = StartAt::at(end);
  }
  std::erase_if(g.state.entries, [end](const detail::GroupState::Entry& e) { return e.seq >= end; });
  return g;
}

}  // namespace

Result<WorkGroup*> Topic::work_group(std::string_view name, WorkGroupOptions options) {
  if (core_ == nullptr) return gone();
  if (Status s = check_group_options(name, options); !s.ok()) return s;
  if (core_->closed()) return Status::Closed("topic '" + core_->name() + "': engine is closed");
  // The dead-letter topic exists from the start where dead letters can
  // come unasked, so it can be subscribed to at once. Before the groups
  // lock: creating it takes the engine's.
  if (detail::dead_letters_possible(options) && !core_->deleted())
    if (auto dlq = detail::open_dead_letter_topic(*core_, options); !dlq.ok()) {
      if (dlq.status().code() != Code::kInvalidArgument) return dlq.status();
      return Status::InvalidArgument("work group '" + std::string(name) + "': " + dlq.status().message());
    }
  std::lock_guard lk(core_->groups_mutex());
  // Under groups_mutex(): retire() takes it too, so no group joins a deleted topic.
  if (core_->deleted()) return Status::NotFound("topic '" + core_->name() + "' was deleted");
  for (auto& g : core_->groups())
    if (g->name() == name) return g->handle();
  RestoredGroup restored;
  if (core_->options().durability != Durability::kMemory) {
    auto r = restore_group(*core_, name, &options);
    if (!r.ok()) return r.status();
    restored = std::move(r).value();
  }
  auto group = std::make_unique<detail::GroupCore>(core_, std::string(name), options, std::move(restored.state),
                                                   restored.journal);
  group->set_rewound(restored.rewound);
  core_->attach(options.start, group.get());
  // Attached, the group holds retention: earliest() cannot pass its start now.
  group->skip_to(core_->earliest());
  if (restored.journal) {
    // Compacts what the journal replayed into the state file, and gives a
    // journal's entries a state to apply to.
    if (Status s = group->commit(); !s.ok()) {
      core_->remove_holder(group.get());
      return s;
    }
  }
  core_->groups().push_back(std::move(group));
  // (A persisted group has committed above: with interest retention, a new
  // group counts from its start on.)
  return core_->groups().back()->handle();
}

}  // namespace conduit
