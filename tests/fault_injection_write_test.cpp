// Fault injection on the control files' writes: a committed subscriber
// position, a work group's state, position and journal generations, a
// topic's clean-close record. Each goes through DiskIo::write_at; the fault
// is ENOSPC, EIO, or a short write that the disk cannot finish (the first
// bytes land, the rest fails with ENOSPC).
//
// For each file: the operation fails with kIOError naming it; what was
// committed before is not lost, nor torn: an open after the fault, clean or
// in a fresh engine after a crash right after it, finds the earlier state
// exactly; once the fault clears the same operation succeeds and an open
// finds the new state.
//
// In memory (/dev/shm) where there is one: every fault here is injected,
// and the many fdatasyncs of commits and opens would cost seconds on a disk.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/group_state.h"
#include "persistence/disk_io.h"
#include "persistence/journal_file.h"
#include "tests/support/fault_injecting_disk_io.h"
#include "tests/support/faulty_topic.h"
#include "tests/support/helpers.h"

using namespace conduit;
namespace fs = std::filesystem;
using conduit::test::FaultyTopic;
using conduit::test::TempDir;
using persistence::FaultInjectingDiskIo;

namespace {

using WriteFault = FaultInjectingDiskIo::WriteFault;

struct FaultKind {
  const char* what;
  int err;
  std::size_t short_bytes;
};
constexpr std::size_t kShortBytes = 7;  // every control file is longer
const FaultKind kFaultKinds[] = {
    {"a short write, then ENOSPC", ENOSPC, kShortBytes},
    {"ENOSPC", ENOSPC, WriteFault::kNone},
    {"EIO", EIO, WriteFault::kNone},
};

std::optional<std::string> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool temporary_left(const fs::path& topic_dir) {
  for (auto& e : fs::recursive_directory_iterator(topic_dir))
    if (e.path().extension() == ".tmp") return true;
  return false;
}

// What a commit under a write fault did.
struct Seen {
  Status failed;                  // the commit with the fault armed
  int faulted = 0;                // write_at() calls the fault was taken by
  bool unchanged = false;         // the files it was to replace, as before it
  bool temporary = false;         // a .tmp was left behind
  std::optional<Status> retried;  // the same commit, the fault cleared
  bool changed_by_retry = false;
};

// Arms `k` on files whose name holds `fault_on`, runs `commit`, and (with
// `retry`) runs it again once the fault is spent. `snapshot` is what the
// failed commit must leave as it was.
Seen commit_under_fault(FaultyTopic& t, const FaultKind& k, const std::string& fault_on,
                        const std::function<Status()>& commit, const std::function<std::string()>& snapshot,
                        bool retry) {
  Seen seen;
  const std::string before = snapshot();
  const int faulted_before = t.faults->writes_faulted();
  t.faults->fail_next_write({k.err, k.short_bytes, fault_on, 1});
  seen.failed = commit();
  seen.faulted = t.faults->writes_faulted() - faulted_before;
  seen.unchanged = snapshot() == before;
  seen.temporary = temporary_left(t.topic_dir());
  if (retry) {
    seen.retried = commit();
    seen.changed_by_retry = snapshot() != before;
  }
  return seen;
}

// "" when `seen` is what a fault of kind `k` on the file named `file` must
// give; otherwise what is wrong. (Text, not CHECKs: a crashing child
// reports through it.)
std::string problems(const Seen& seen, const FaultKind& k, const std::string& file) {
  std::string p;
  const std::string& m = seen.failed.message();
  if (seen.faulted != 1) p += "the fault was taken by " + std::to_string(seen.faulted) + " writes; ";
  if (seen.failed.code() != Code::kIOError) p += "not kIOError: " + seen.failed.to_string() + "; ";
  if (m.find(file) == std::string::npos) p += "the error does not name " + file + ": " + m + "; ";
  if (m.find("errno " + std::to_string(k.err)) == std::string::npos) p += "the error has no errno: " + m + "; ";
  if (k.short_bytes != WriteFault::kNone &&
      m.find("after " + std::to_string(k.short_bytes) + " of") == std::string::npos)
    p += "the error does not say how far the short write got: " + m + "; ";
  if (!seen.unchanged) p += "the failed commit changed the committed files; ";
  if (seen.temporary) p += "a temporary file was left; ";
  if (seen.retried && !seen.retried->ok())
    p += "the commit after the fault failed: " + seen.retried->to_string() + "; ";
  if (seen.retried && !seen.changed_by_retry) p += "the commit after the fault changed nothing; ";
  return p;
}

// Runs `body` in a child process that then dies at once (no close, no
// destructor: a crash right after the fault). Returns the body's problems,
// "" when there were none.
std::string in_crashing_child(const std::function<std::string()>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    try {
      out = body();
    } catch (...) { out = "the child failed a REQUIRE"; }
    if (!out.empty()) (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) out += "the child died abnormally";
  return out;
}

// A fresh engine on the data directory and its topic "faulty".
struct Reopened {
  std::unique_ptr<Engine> engine;
  Topic* topic = nullptr;
  explicit Reopened(const fs::path& data_dir) {
    EngineOptions o;
    o.data_dir = data_dir.string();
    engine = Engine::open(o).value();
    auto t = engine->create_topic("faulty", test::faulty_topic_options(Durability::kSync));
    REQUIRE_MESSAGE(t.ok(), t.status().to_string());
    topic = *t;
  }
};

std::string payload_for(std::uint64_t seq) { return "job-" + std::to_string(seq); }

void publish_more(Topic* topic, std::uint64_t from, std::uint64_t n) {
  for (std::uint64_t i = from; i < from + n; ++i) REQUIRE(topic->publish(payload_for(i)).value() == i);
}

// ------------------------------------------------------------ subscribers ---

std::unique_ptr<Subscriber> reader(Topic* topic) {
  SubscriberOptions o;
  o.name = "reader";
  o.start = StartAt::earliest();
  return topic->subscribe(o).value();
}

bool read_n(Subscriber& sub, std::size_t n) {
  std::vector<RecordView> views(n);
  return sub.try_poll(views).count == n;
}

std::uint64_t reader_position_after_open(const fs::path& data_dir) {
  Reopened r(data_dir);
  return reader(r.topic)->position();
}

// ------------------------------------------------------------ work groups ---

// The group "workers", with the smallest in-flight window (this test needs
// 13 records; the default window's state is 64 Ki slots a group).
WorkGroup* workers(Topic* topic) {
  WorkGroupOptions o;
  o.max_in_flight = 64;
  return topic->work_group("workers", o).value();
}

// Every delivery a consumer is handed now, by sequence.
std::map<std::uint64_t, Delivery> take_all(Consumer& c) {
  std::map<std::uint64_t, Delivery> got;
  Delivery out[16];
  for (PollResult r = c.try_poll(out); r.count != 0; r = c.try_poll(out))
    for (std::size_t i = 0; i < r.count; ++i) got[out[i].sequence] = out[i];
  return got;
}

// The sequences a fresh engine's group hands out (none acked).
std::set<std::uint64_t> pending_after_open(const fs::path& data_dir) {
  Reopened r(data_dir);
  auto c = workers(r.topic)->consumer().value();
  std::set<std::uint64_t> got;
  for (auto& [seq, d] : take_all(*c)) got.insert(seq);
  return got;
}

std::uint64_t stored_floor(FaultyTopic& t) {
  auto bytes = t.core->storage().load_state("group-workers.state");
  REQUIRE(bytes.ok());
  REQUIRE(bytes->has_value());
  return detail::GroupState::decode(**bytes, "state").value().floor;
}

// The files of a group commit: which one the fault is aimed at, and what
// the failed commit must leave as it was.
struct GroupTarget {
  const char* what;
  std::string fault_on;  // a fragment of the file's (temporary) name
  std::string file;      // relative to the topic directory; named by the error
};
const GroupTarget kGroupTargets[] = {
    // Commit order: rotate the journal (a new generation), store the state,
    // retire the old generations, store the plain position.
    {"a new journal generation", ".journal-", "cursors/group-workers.journal-"},
    {"the state file", "group-workers.state.tmp", "cursors/group-workers.state"},
    {"the position file", "group-workers.tmp", "cursors/group-workers"},
};

// What a failed commit aimed at `target` must leave as it was. A journal
// generation is made first: the state file and the generations. The state
// file next: it (a new generation is made before it). The position file
// last: it (the state was stored before it).
std::function<std::string()> group_snapshot(const FaultyTopic& t, const GroupTarget& target) {
  const fs::path cursors = t.topic_dir() / "cursors";
  const fs::path file = t.topic_dir() / target.file;
  if (target.fault_on != ".journal-") return [=] { return read_bytes(file).value_or("-"); };
  return [=] {
    std::string s = read_bytes(cursors / "group-workers.state").value_or("-");
    std::set<std::string> journals;
    for (auto& e : fs::directory_iterator(cursors))
      if (e.path().filename().string().find(".journal-") != std::string::npos) journals.insert(e.path().filename());
    for (const auto& j : journals) s += "|" + j;
    return s;
  };
}

// One file in a scratch directory, written through a fault-injecting DiskIo.
struct ScratchFile {
  TempDir dir{test::scratch_base()};
  std::string path = (dir.path / "f").string();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  FaultInjectingDiskIo io{persistence::make_syscall_disk_io()};
  ScratchFile() { REQUIRE(fd >= 0); }
  ~ScratchFile() { ::close(fd); }
  Status write(const std::string& bytes) { return write_as(bytes, path); }
  Status write_as(const std::string& bytes, const std::string& name) {
    return io.write_at(fd, std::as_bytes(std::span(bytes)), 0, name);
  }
};

// A work group's session in `t`: one consumer, handed every record pending.
struct GroupSession {
  FaultyTopic& t;
  WorkGroup* group = workers(t.topic());
  std::unique_ptr<Consumer> consumer = group->consumer().value();
  std::map<std::uint64_t, Delivery> handed = take_all(*consumer);

  // Acks `seq` (durably: a kSync topic), then commits under fault `k` aimed
  // at `target` (and with `retry`, again once it is spent). "" or what
  // went wrong.
  std::string ack_then_commit(const GroupTarget& target, const FaultKind& k, const std::string& file, std::uint64_t seq,
                              bool retry) {
    if (!handed.contains(seq) || !consumer->ack(handed[seq])) return "could not ack " + std::to_string(seq) + "; ";
    return problems(commit_under_fault(
                        t, k, target.fault_on, [&] { return group->commit(); }, group_snapshot(t, target), retry),
                    k, file);
  }
};

}  // namespace

TEST_CASE("write_at goes on after a short write and writes every byte") {
  ScratchFile f;
  const std::string bytes(64, 'a');
  // err 0: the first pwrite writes 10 bytes and says so, without an error.
  f.io.fail_next_write({0, 10, "", 1});
  CHECK(f.write(bytes).ok());
  CHECK(f.io.writes_faulted() == 1);
  CHECK(read_bytes(f.path) == bytes);
}

TEST_CASE("a write that fails, stops short or makes no progress is kIOError naming the file, errno and bytes written") {
  ScratchFile f;
  const std::string old_bytes(64, 'o'), new_bytes(64, 'n');
  REQUIRE(f.write(old_bytes).ok());

  f.io.fail_next_write({ENOSPC, 10, "", 1});
  Status s = f.write(new_bytes);
  CAPTURE(s.to_string());
  CHECK(s.code() == Code::kIOError);
  CHECK(s.message().find("write " + f.path) != std::string::npos);
  CHECK(s.message().find("errno " + std::to_string(ENOSPC)) != std::string::npos);
  CHECK(s.message().find("after 10 of 64 bytes") != std::string::npos);
  // The first 10 bytes landed, as on a disk that filled up mid-write.
  CHECK(read_bytes(f.path) == std::string(10, 'n') + std::string(54, 'o'));

  f.io.fail_next_write({EIO, WriteFault::kNone, "", 1});
  s = f.write(old_bytes);
  CHECK(s.message().find("errno " + std::to_string(EIO)) != std::string::npos);
  CHECK(s.message().find("after 0 of 64 bytes") != std::string::npos);

  f.io.fail_next_write({0, 0, "", 1});  // pwrite returns 0: not looped on forever
  s = f.write(old_bytes);
  CHECK(s.code() == Code::kIOError);
  CHECK(s.message().find("no progress") != std::string::npos);

  // Spent: the next write goes through.
  CHECK(f.write(old_bytes).ok());
  CHECK(read_bytes(f.path) == old_bytes);
  CHECK(f.io.writes_faulted() == 3);
}

TEST_CASE("write faults are armed apart from sync and reservation faults, and only for the files named") {
  ScratchFile f;
  const std::string bytes(16, 'x');
  const persistence::SyncRange files[] = {{f.fd, f.path, 0}};

  f.io.fail_next(FaultInjectingDiskIo::Op::kDatasync, EIO);
  CHECK(f.write(bytes).ok());
  CHECK_FALSE(f.io.datasync(files).ok());

  f.io.fail_next_write({EIO, WriteFault::kNone, "", 1});
  CHECK(f.io.datasync(files).ok());
  CHECK(f.io.preallocate(f.fd, 4096, f.path).ok());
  CHECK_FALSE(f.write(bytes).ok());

  f.io.fail_next_write({EIO, WriteFault::kNone, "another-file", 1});
  CHECK(f.write(bytes).ok());
  CHECK(f.io.writes_faulted() == 1);
  CHECK_FALSE(f.write_as(bytes, f.path + "/another-file").ok());
}

TEST_CASE("a named subscriber's commit that cannot be written fails naming its file and keeps the committed position") {
  for (const FaultKind& k : kFaultKinds) {
    const std::string fault = k.what;
    CAPTURE(fault);
    TempDir dir(test::scratch_base());
    const fs::path file = dir.path / "topics" / "faulty" / "cursors" / "sub-reader";
    auto position_file = [&] { return read_bytes(file).value_or("-"); };

    // Committed at 4; the commit at 7 fails, and the process dies right after.
    CHECK(in_crashing_child([&] {
            FaultyTopic t(dir.path, Durability::kSync);
            publish_more(t.topic(), 0, 10);
            auto sub = reader(t.topic());
            if (!read_n(*sub, 4) || !sub->commit().ok()) return std::string("the first commit failed");
            if (!read_n(*sub, 3)) return std::string("poll");
            return problems(commit_under_fault(
                                t, k, "sub-reader.tmp", [&] { return sub->commit(); }, position_file, false),
                            k, file.string());
          }) == "");
    CHECK(reader_position_after_open(dir.path) == 4);

    // The same, then a clean close.
    {
      FaultyTopic t(dir.path, Durability::kSync);
      auto sub = reader(t.topic());
      REQUIRE(sub->position() == 4);
      REQUIRE(read_n(*sub, 2));
      CHECK(problems(commit_under_fault(
                         t, k, "sub-reader.tmp", [&] { return sub->commit(); }, position_file, false),
                     k, file.string()) == "");
    }
    CHECK(reader_position_after_open(dir.path) == 4);

    // Once the fault is spent the same commit goes through.
    {
      FaultyTopic t(dir.path, Durability::kSync);
      auto sub = reader(t.topic());
      REQUIRE(read_n(*sub, 2));
      CHECK(problems(commit_under_fault(
                         t, k, "sub-reader.tmp", [&] { return sub->commit(); }, position_file, true),
                     k, file.string()) == "");
    }
    CHECK(reader_position_after_open(dir.path) == 6);
  }
}

TEST_CASE("a subscriber's commit whose write is cut short but goes on is stored whole") {
  TempDir dir(test::scratch_base());
  {
    FaultyTopic t(dir.path, Durability::kSync);
    publish_more(t.topic(), 0, 10);
    auto sub = reader(t.topic());
    REQUIRE(read_n(*sub, 5));
    t.faults->fail_next_write({0, kShortBytes, "sub-reader.tmp", 1});
    CHECK(sub->commit().ok());
    CHECK(t.faults->writes_faulted() == 1);
  }
  CHECK(reader_position_after_open(dir.path) == 5);
}

TEST_CASE("a work group's commit that cannot write a file fails naming it, and no ack made durable is lost") {
  // Each fault kind in turn, on one directory: a failed commit changes
  // nothing, so the next starts from the same stored files.
  auto pending_from = [](std::uint64_t first) {
    std::set<std::uint64_t> s;
    for (std::uint64_t seq = first; seq < 13; ++seq) s.insert(seq);
    return s;
  };
  for (const GroupTarget& target : kGroupTargets) {
    const std::string file_kind = target.what;
    CAPTURE(file_kind);
    TempDir dir(test::scratch_base());
    const std::string file = (dir.path / "topics" / "faulty" / target.file).string();

    // A state stored with 0, 1 and 2 acked; then, per fault kind, one more
    // ack (journaled, durable: a kSync topic) and a commit that fails; the
    // process dies right after the last one.
    CHECK(in_crashing_child([&] {
            FaultyTopic t(dir.path, Durability::kSync);
            publish_more(t.topic(), 0, 13);
            GroupSession s{t};
            for (std::uint64_t seq : {0, 1, 2})
              if (!s.consumer->ack(s.handed[seq])) return std::string("ack");
            if (!s.group->commit().ok()) return std::string("the first commit failed");
            std::string p;
            for (std::uint64_t i = 0; i < 3; ++i) p += s.ack_then_commit(target, kFaultKinds[i], file, 3 + i, false);
            return p;
          }) == "");
    CHECK(pending_after_open(dir.path) == pending_from(6));

    // A reopened session: per fault kind, ack `first + i`, then a commit
    // under the fault (and with `retry` again once it is spent); then a
    // clean close.
    auto session = [&](std::uint64_t first, bool retry) {
      FaultyTopic t(dir.path, Durability::kSync);
      GroupSession s{t};
      for (std::uint64_t i = 0; i < 3; ++i) {
        const std::string fault = kFaultKinds[i].what;
        CAPTURE(fault);
        CHECK(s.ack_then_commit(target, kFaultKinds[i], file, first + i, retry) == "");
        if (retry) CHECK(stored_floor(t) == first + i + 1);
      }
    };
    session(6, false);
    CHECK(pending_after_open(dir.path) == pending_from(9));
    // Once each fault is spent the same commit goes through.
    session(9, true);
    CHECK(pending_after_open(dir.path) == pending_from(12));
  }
}

namespace {

std::string journal_entry(int i) {
  std::string e(detail::StateJournal::kEntryBytes, '\0');
  e[0] = static_cast<char>('a' + i);
  return e;
}

persistence::FileJournal::Hooks journal_hooks(persistence::DiskIo* io) {
  persistence::FileJournal::Hooks hooks;
  hooks.want_sync = [] {};
  hooks.io = io;
  return hooks;
}

// What an open reads from a copy of the journal's directory as it is now
// (page cache included): what a crash at this point would leave.
std::vector<std::string> entries_after_crash(const fs::path& cursors, std::size_t file_bytes) {
  TempDir copy(test::scratch_base());
  fs::copy(cursors, copy.path / "cursors", fs::copy_options::recursive);
  auto io = persistence::make_syscall_disk_io();
  std::vector<std::string> entries;
  auto j = persistence::FileJournal::open((copy.path / "cursors").string(), "group-g", &entries,
                                          journal_hooks(io.get()), file_bytes);
  REQUIRE_MESSAGE(j.ok(), j.status().to_string());
  return entries;
}

}  // namespace

TEST_CASE("an ack journal append that needs a generation it cannot write fails naming it, and loses no entry before") {
  using persistence::FileJournal;
  constexpr std::size_t kFileBytes = FileJournal::kHeaderBytes + 3 * FileJournal::kFrameBytes;  // 3 entries a file
  for (const FaultKind& k : kFaultKinds) {
    const std::string fault = k.what;
    CAPTURE(fault);
    TempDir dir(test::scratch_base());
    const fs::path cursors = dir.path / "cursors";
    FaultInjectingDiskIo io(persistence::make_syscall_disk_io());
    std::vector<std::string> none;
    auto j = FileJournal::open(cursors.string(), "group-g", &none, journal_hooks(&io), kFileBytes).value();
    std::vector<std::string> written;
    for (int i = 0; i < 3; ++i) {
      written.push_back(journal_entry(i));
      REQUIRE(j->append(reinterpret_cast<const std::byte*>(written.back().data())).ok());
    }
    // Generation 1 is full: the next append makes generation 2, whose
    // header write fails.
    const fs::path second = cursors / persistence::journal_file_name("group-g", 2);
    io.fail_next_write({k.err, k.short_bytes, ".journal-", 1});
    const std::string next = journal_entry(3);
    auto r = j->append(reinterpret_cast<const std::byte*>(next.data()));
    REQUIRE_FALSE(r.ok());
    Seen seen;
    seen.failed = r.status();
    seen.faulted = io.writes_faulted();
    seen.unchanged = !fs::exists(second);
    seen.temporary = temporary_left(cursors);
    CHECK(problems(seen, k, second.string()) == "");
    CHECK(entries_after_crash(cursors, kFileBytes) == written);

    // The fault spent, the same append goes on in generation 2.
    REQUIRE(j->append(reinterpret_cast<const std::byte*>(next.data())).ok());
    written.push_back(next);
    CHECK(fs::exists(second));
    CHECK_FALSE(temporary_left(cursors));
    CHECK(entries_after_crash(cursors, kFileBytes) == written);
  }
}

namespace {

// How a fresh engine opened the log, and that it is whole: `n` records.
RecoveryStats open_and_check(const fs::path& data_dir, std::uint64_t n) {
  Reopened r(data_dir);
  CHECK(test::read_dense_log(r.topic, payload_for) == n);
  return r.topic->recovery_stats();
}

}  // namespace

TEST_CASE(
    "a clean-close record that cannot be written fails the close naming it, and the next open checks every record") {
  for (const FaultKind& k : kFaultKinds) {
    const std::string fault = k.what;
    CAPTURE(fault);
    TempDir dir(test::scratch_base());
    const fs::path file = dir.path / "topics" / "faulty" / "clean";
    // "-": no record. An open spends the record, so none is there before a close.
    auto record = [&] { return read_bytes(file).value_or("-"); };

    // The close cannot write its record, and the process dies right after.
    CHECK(in_crashing_child([&] {
            FaultyTopic t(dir.path, Durability::kSync);
            publish_more(t.topic(), 0, 10);
            return problems(commit_under_fault(
                                t, k, "/clean.tmp", [&] { return t.core->close_storage(); }, record, false),
                            k, file.string());
          }) == "");
    RecoveryStats s = open_and_check(dir.path, 10);  // closes cleanly: a good record
    CHECK_FALSE(s.clean);
    CHECK(s.records_checked == 10);

    // The same, the process going on.
    {
      FaultyTopic t(dir.path, Durability::kSync);
      CHECK(t.topic()->recovery_stats().clean);
      publish_more(t.topic(), 10, 5);
      CHECK(problems(commit_under_fault(
                         t, k, "/clean.tmp", [&] { return t.core->close_storage(); }, record, false),
                     k, file.string()) == "");
    }
    s = open_and_check(dir.path, 15);
    CHECK_FALSE(s.clean);
    CHECK(s.records_checked == 15);

    // With the fault spent, a close writes its record and the next open trusts it.
    {
      FaultyTopic t(dir.path, Durability::kSync);
      publish_more(t.topic(), 15, 5);
      CHECK(t.core->close_storage().ok());
      CHECK(record() != "-");
    }
    s = open_and_check(dir.path, 20);
    CHECK(s.clean);
    CHECK(s.records_checked == 0);
  }
}
