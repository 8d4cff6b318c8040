// Engine: the registry of topics, and close().
#include <filesystem>
#include <map>
#include <set>
#include <vector>
#include <mutex>

#include <cstdlib>

#include "common/disk_names.h"
#include "conduit/inspect.h"
#include "engine/ipc_server.h"
#include "engine/counters_refresher.h"
#include "engine/topic_core.h"
#include "engine/topic_options.h"
#include "persistence/data_dir.h"
#include "persistence/file_storage.h"
#include "persistence/persistence_thread.h"
#include "persistence/topic_options_file.h"

namespace conduit {
namespace detail {

struct EngineState {
  EngineOptions options;
  TopicShared shared;
  std::unique_ptr<persistence::DataDirLock> lock;        // set when there is a data directory
  std::unique_ptr<persistence::PersistenceThread> disk;  // likewise
  std::string disk_io;
  std::mutex mu;
  std::map<std::string, std::unique_ptr<TopicCore>, std::less<>> topics;  // guarded by mu
  // Deleted topics: emptied, kept until the engine goes so handles stay valid.
  std::vector<std::unique_ptr<TopicCore>> deleted;  // guarded by mu
  std::uint64_t deletions = 0;                      // guarded by mu: names tombstones
  // DATA_DIR/control.sock: other processes attach (conduit/attach.h).
  std::unique_ptr<IpcServer> ipc;
  std::unique_ptr<CountersRefresher> counters;  // DATA_DIR/counters; set at open, reset first at destruction
};

std::string topic_dir(const EngineState& st, std::string_view name) {
  return disk::topic_dir(st.options.data_dir, name);
}

// Opens (or creates) the topic and registers it; st.mu held. `stored`: its
// options file holds `options` already; else it is written once the topic
// opened (not into a log opened read-only, which no write may touch).
Result<Topic*> open_topic_locked(EngineState& st, std::string_view name, const TopicOptions& options, bool stored) {
  std::unique_ptr<TopicStorage> storage;
  if (options.durability == Durability::kMemory) {
    storage = make_memory_storage(options.shared, options.huge_pages);
  } else {
    persistence::FileStorageOptions fo;
    fo.durability = options.durability;
    fo.flush_interval = st.options.flush_interval;
    fo.flush_bytes = st.options.flush_bytes;
    fo.park_timeout = st.options.park_timeout;
    fo.verify_on_open = st.options.verify_on_open;
    fo.read_only_on_corruption = st.options.read_only_on_corruption;
    fo.log = st.options.log;
    fo.readers_dir = disk::reader_positions_dir(st.options.data_dir, name);
    auto files = persistence::FileTopicStorage::open(topic_dir(st, name), fo, st.disk.get());
    if (!files.ok()) return files.status();
    storage = std::move(files).value();
  }
  auto core = TopicCore::make(std::string(name), options, std::move(storage), &st.shared);
  if (!core.ok()) return core.status();
  if (options.durability != Durability::kMemory && !stored && !(*core)->read_only())
    if (Status s = persistence::store_topic_options(st.disk->io(), topic_dir(st, name), (*core)->options()); !s.ok())
      return s;
  Topic* handle = (*core)->handle();
  st.topics.emplace(std::string(name), std::move(core).value());
  return handle;
}

// The topic `st` has, or a persisted one in its data directory, opened with
// its stored options; st.mu held.
Result<Topic*> find_topic_locked(EngineState& st, std::string_view name) {
  if (auto it = st.topics.find(name); it != st.topics.end()) return it->second->handle();
  const std::string missing = "topic '" + std::string(name) + "' does not exist";
  if (!st.disk || !validate_topic_name(name).ok()) return Status::NotFound(missing);
  const std::string dir = topic_dir(st, name);
  auto on_disk = persistence::load_topic_options(dir);
  if (!on_disk.ok()) return on_disk.status();
  if (!on_disk->has_value()) {
    if (!std::filesystem::is_directory(dir)) return Status::NotFound(missing);
    return Status::NotFound("topic '" + std::string(name) + "': " + dir +
                            " has no stored options (written by an older build); create_topic opens it");
  }
  // Acquire pairs with the release in Engine::close().
  if (st.shared.closed.load(std::memory_order_acquire)) return Status::Closed("engine is closed");
  return open_topic_locked(st, name, **on_disk, true);
}

// Starts `state`'s IpcServer on its data directory (conduit/attach.h);
// `engine` (whose state it is) creates requesters' reply topics.
void listen(EngineState& state, Engine& engine);

}  // namespace detail

Status validate_topic_name(std::string_view name) {
  if (name.empty() || name.size() > 200)
    return Status::InvalidArgument("name must be 1..200 characters, got " + std::to_string(name.size()));
  if (name.front() == '.') return Status::InvalidArgument("name '" + std::string(name) + "' must not start with '.'");
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return Status::InvalidArgument("name '" + std::string(name) + "' has a character outside [A-Za-z0-9._-]");
  }
  return Status::OK();
}

Result<std::unique_ptr<Engine>> Engine::open(EngineOptions options) {
  if (options.park_timeout <= std::chrono::microseconds::zero())
    return Status::InvalidArgument("park_timeout must be positive");
  if (options.unblock_timeout <= std::chrono::milliseconds::zero())
    return Status::InvalidArgument("unblock_timeout must be positive");
  auto state = std::make_unique<detail::EngineState>();
  state->options = options;
  state->shared.park_timeout = options.park_timeout;
  state->shared.unblock_timeout = options.unblock_timeout;
  state->shared.clock = options.clock;
  state->shared.log = options.log;
  state->shared.on_thread_start = options.on_thread_start;
  if (!options.data_dir.empty()) {
    auto lock = persistence::DataDirLock::acquire(options.data_dir);
    if (!lock.ok()) return lock.status();
    state->lock = std::move(lock).value();
    // Tombstones of topics whose deletion a crash interrupted.
    if (Status s = persistence::remove_tombstones(disk::topics_dir(options.data_dir)); !s.ok()) return s;
    std::string why;
    // CONDUIT_FORCE_SYSCALL_IO=1 forces the fallback for a whole test run.
    const char* env = std::getenv("CONDUIT_FORCE_SYSCALL_IO");
    const bool force = options.force_syscall_io || (env != nullptr && std::string_view(env) == "1");
    auto io = persistence::make_disk_io(force, &why);
    state->disk_io = io->name();
    if (!why.empty()) {
      state->disk_io += std::string(": ") + why;
      // The fallback keeps every guarantee, only slower: a warning when
      // io_uring failed, news when it was asked for. Said to a log callback
      // by every engine; on stderr once per process.
      const LogLevel level = force ? LogLevel::kInfo : LogLevel::kWarning;
      const std::string said_text = "write-ahead log uses " + state->disk_io;
      static std::once_flag said;
      if (options.log)
        detail::log(options.log, level, said_text);
      else
        std::call_once(said, [&] { detail::log({}, level, said_text); });
    }
    // A 1 ms tick checks the byte threshold; the time threshold is per topic.
    state->disk = std::make_unique<persistence::PersistenceThread>(
        std::move(io), std::min(options.flush_interval, std::chrono::milliseconds(1)), options.on_thread_start);
  }
  if (state->disk && options.counters_interval.count() > 0) {
    detail::EngineState* st = state.get();
    detail::CountersRefresher::Sources src{.data_dir = options.data_dir,
                                           .shared = &st->shared,
                                           .disk = st->disk.get(),
                                           .disk_io = st->disk_io,
                                           .topics = [st] {
                                             std::vector<detail::TopicCore*> out;
                                             std::lock_guard lk(st->mu);
                                             for (auto& [name, t] : st->topics) out.push_back(t.get());
                                             return out;
                                           }};
    // The counters are for watching: an engine that cannot make their
    // file runs without it, and says so.
    auto counters = detail::CountersRefresher::start(std::move(src), options.counters_interval);
    if (counters.ok())
      state->counters = std::move(counters).value();
    else
      detail::log(options.log, LogLevel::kWarning, "no live counters file: " + counters.status().to_string());
  }
  std::unique_ptr<Engine> engine(new Engine(std::move(state)));
  if (!options.data_dir.empty()) detail::listen(*engine->state_, *engine);
  return engine;
}

namespace detail {
void listen(EngineState& state, Engine& engine) {
  EngineState* st = &state;
  auto find = [st](std::string_view name) -> Result<detail::TopicCore*> {
    std::lock_guard lk(st->mu);
    auto found = detail::find_topic_locked(*st, name);
    if (!found.ok()) return found.status();
    return st->topics.find(name)->second.get();
  };
  auto make = [find, e = &engine](std::string_view name, const TopicOptions& options) -> Result<detail::TopicCore*> {
    if (auto made = e->create_topic(name, options); !made.ok()) return made.status();
    return find(name);  // deleted meanwhile: kNotFound
  };
  auto server = detail::IpcServer::start(st->options.data_dir, find, make, st->options.on_thread_start);
  // The engine works without it; only attaching fails (kNotFound).
  if (!server.ok())
    detail::log(st->options.log, LogLevel::kWarning,
                "other processes cannot attach to " + st->options.data_dir + ": " + server.status().to_string());
  else
    st->ipc = std::move(server).value();
}
}  // namespace detail

Status Engine::refresh_counters() {
  if (!state_->counters)
    return Status::Unsupported("this engine keeps no counters file (EngineOptions::counters_interval)");
  state_->counters->refresh();
  return Status::OK();
}

Engine::Engine(std::unique_ptr<detail::EngineState> state) : state_(std::move(state)) { state_->shared.engine = this; }

Engine::~Engine() {
  // Attached processes first: their consumers go while the topics are open,
  // and what they held goes back to the groups before the final commit.
  state_->ipc.reset();
  close();
  // Its last refresh reads the topics: before they go.
  state_->counters.reset();
  // Handles may outlive the engine (engine.h): every open subscriber and
  // consumer is cut loose first, then the topics (and their segments) go
  // with state_, before the persistence thread.
  std::vector<detail::TopicCore*> cores;
  for (auto& [name, topic] : state_->topics) cores.push_back(topic.get());
  for (auto& topic : state_->deleted) cores.push_back(topic.get());
  detail::orphan_handles(cores);
  state_->topics.clear();
  state_->deleted.clear();
  state_->disk.reset();
}

std::string Engine::disk_io_description() const { return state_->disk_io; }

Result<Topic*> Engine::create_topic(std::string_view name, TopicOptions options) {
  if (Status s = validate_topic_name(name); !s.ok()) return Status::InvalidArgument("topic " + s.message());
  if (closed()) return Status::Closed("engine is closed");
  if (options.durability != Durability::kMemory && !state_->disk)
    return Status::InvalidArgument(
        "topic '" + std::string(name) +
        "': persisted topics need an engine with a data directory (EngineOptions::data_dir)");
  options = detail::normalized_options(options);
  std::lock_guard lk(state_->mu);
  // Again under mu: a close() that got it first stopped claims only on the
  // topics it saw.
  if (closed()) return Status::Closed("engine is closed");
  if (auto it = state_->topics.find(name); it != state_->topics.end()) {
    if (std::string d = detail::options_difference(it->second->options(), options); !d.empty())
      return Status::AlreadyExists("topic '" + std::string(name) + "' exists with other options: " + d);
    return it->second->handle();
  }
  // A persisted topic's options are stored with it: an existing one on disk
  // is held to them, whether this engine has opened it yet or not.
  bool stored = false;
  if (state_->disk) {
    auto on_disk = persistence::load_topic_options(detail::topic_dir(*state_, name));
    if (!on_disk.ok()) return on_disk.status();
    if (on_disk->has_value()) {
      if (std::string d = detail::options_difference(**on_disk, options); !d.empty())
        return Status::AlreadyExists("topic '" + std::string(name) + "' exists in " + state_->options.data_dir +
                                     " with other options: " + d);
      stored = true;
    }
  }
  return detail::open_topic_locked(*state_, name, options, stored);
}

Result<Topic*> Engine::topic(std::string_view name) {
  std::lock_guard lk(state_->mu);
  return detail::find_topic_locked(*state_, name);
}

Result<std::vector<std::string>> Engine::topics() const {
  std::set<std::string> names;
  if (state_->disk) {
    auto listed = inspect::list_topics(state_->options.data_dir);
    if (!listed.ok() && listed.status().code() != Code::kNotFound) return listed.status();
    if (listed.ok()) names.insert(listed->begin(), listed->end());
  }
  std::lock_guard lk(state_->mu);
  for (const auto& [name, topic] : state_->topics) names.insert(name);
  return std::vector<std::string>(names.begin(), names.end());
}

Status Engine::delete_topic(std::string_view name) {
  if (Status s = validate_topic_name(name); !s.ok()) return Status::InvalidArgument("topic " + s.message());
  if (closed()) return Status::Closed("engine is closed");
  std::lock_guard lk(state_->mu);
  // A persisted topic this engine has not opened is opened to be deleted.
  if (auto found = detail::find_topic_locked(*state_, name); !found.ok()) return found.status();
  auto it = state_->topics.find(name);
  detail::TopicCore& core = *it->second;
  if (Status s = core.retire(); !s.ok()) return s;
  std::unique_ptr<detail::TopicCore> gone = std::move(it->second);
  state_->topics.erase(it);
  state_->deleted.push_back(std::move(gone));
  if (core.options().durability == Durability::kMemory) return Status::OK();
  // Renamed away first (one durable step), then removed: a crash in
  // between leaves a tombstone that the next open removes, never half a topic.
  return persistence::remove_topic_dir(disk::topics_dir(state_->options.data_dir), std::string(name),
                                       ++state_->deletions);
}

std::int64_t Engine::now_ns() const { return state_->shared.now(); }

std::function<std::int64_t()> detail::clock_of(const Engine& e) {
  if (e.state_->options.clock) return e.state_->options.clock;
  return [] { return wall_clock_ns(); };
}

std::function<void(std::string_view)> detail::thread_hook_of(const Engine& e) {
  return e.state_->options.on_thread_start;
}

void Engine::close() {
  // Release pairs with the acquire in TopicCore::closed(); acquire orders a
  // second close after the first. Only the first one commits and syncs.
  if (state_->shared.closed.exchange(true, std::memory_order_acq_rel)) return;
  std::lock_guard lk(state_->mu);
  // Every topic first: readers that saw the flag wait for this to say closed.
  for (auto& [name, topic] : state_->topics) topic->stop_claims();
  for (auto& [name, topic] : state_->topics) {
    topic->wake_all();
    if (topic->options().durability != Durability::kMemory) topic->commit_groups();
    (void)topic->close_storage();  // final sync; a failure leaves the log to recovery
  }
}

bool Engine::closed() const noexcept {
  // Acquire pairs with the release in close().
  return state_->shared.closed.load(std::memory_order_acquire);
}

}  // namespace conduit
