// Topic::remove_reader: a named reader gone for good stops holding the log.
#include "common/disk_names.h"
#include "engine/topic_core.h"
#include "engine/topic_core_internal.h"
#include "engine/work_group_core.h"

namespace conduit {
namespace detail {

Status TopicCore::remove_reader(Topic::ReaderKind kind, std::string_view name) {
  const char* what = kind == Topic::ReaderKind::kSubscriber  ? "subscriber"
                     : kind == Topic::ReaderKind::kWorkGroup ? "work group"
                                                             : "reader";
  if (Status s = validate_topic_name(name); !s.ok())
    return Status::InvalidArgument(std::string(what) + " name: " + s.message());
  if (closed()) return Status::Closed(topic_error(name_, "engine is closed"));
  if (!read_only_.ok()) return read_only_;
  const std::string who = std::string(what) + " '" + std::string(name) + "'";
  std::string key;  // empty: a LogReader's
  if (kind == Topic::ReaderKind::kWorkGroup) key = disk::group_key(name);
  if (kind == Topic::ReaderKind::kSubscriber) key = disk::subscriber_key(name);
  // Both locks (in their order) across the checks and the removal: no
  // group of that name is made, and no subscriber registers, in between.
  std::scoped_lock lk(groups_mu_, mu_);
  if (kind == Topic::ReaderKind::kWorkGroup)
    for (const auto& g : groups_)
      if (g->name() == name) return Status::Busy(topic_error(name_, who + " is open in this engine (until it closes)"));
  if (deleted()) return Status::NotFound(topic_error(name_, "was deleted"));
  for (const User& u : users_)
    if (!key.empty() && u.life->key == key) return Status::Busy(topic_error(name_, who + " is open"));
  Status s = key.empty() ? storage_->remove_reader_position(std::string(name)) : storage_->remove_position(key);
  if (s.code() == Code::kNotFound) return Status::NotFound(topic_error(name_, "has no " + who + ": " + s.message()));
  if (!s.ok()) return s;
  if (!key.empty()) interest_.erase(key);
  apply_retention_locked();
  return Status::OK();
}

}  // namespace detail

Status Topic::remove_reader(ReaderKind kind, std::string_view name) {
  if (core_ == nullptr) return gone();
  return core_->remove_reader(kind, name);
}

}  // namespace conduit
