// A reader in another process: one process writes a persisted topic through
// its Engine; a second one, forked here, follows the topic with a LogReader,
// which reads the log files directly (no engine, no lock, no socket).
#include <conduit/conduit.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

using namespace std::chrono_literals;

constexpr int kCount = 100;

// The reader process: waits for the topic, then reads until the writer
// closed it. Exit status 0 when it saw every record, in order.
static int follow(const std::string& dir) {
  conduit::LogReaderOptions from_first;
  from_first.start = conduit::StartAt::earliest();
  auto reader = conduit::LogReader::open(dir, "events", from_first);
  for (int tries = 0; !reader.ok() && tries < 500; ++tries) {  // the writer may not have created it yet
    std::this_thread::sleep_for(10ms);
    reader = conduit::LogReader::open(dir, "events", from_first);
  }
  if (!reader.ok()) return std::fprintf(stderr, "reader: %s\n", reader.status().to_string().c_str()), 1;
  int seen = 0;
  conduit::RecordView views[32];
  while (seen < kCount || !(*reader)->writer_closed()) {
    auto r = (*reader)->poll(views, seen < kCount ? 5s : 100ms);  // then only the close is left to see
    if (!r.ok()) return std::fprintf(stderr, "reader: %s\n", r.status().to_string().c_str()), 1;
    if (r->count == 0 && seen < kCount) return std::fprintf(stderr, "reader: nothing new for 5 s\n"), 1;
    for (std::size_t i = 0; i < r->count; ++i, ++seen)
      if (views[i].payload() != "event " + std::to_string(seen)) return 1;
  }
  std::printf("reader: followed %d records the writer process published\n", seen);
  return seen == kCount ? 0 : 1;
}

int main() {
  char tmpl[] = "/tmp/conduit-example-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;
  pid_t child = fork();  // before the engine starts its threads
  if (child == 0) {
    int rc = follow(dir);
    std::fflush(stdout);  // _Exit does not
    std::_Exit(rc);
  }

  // The writer process.
  conduit::EngineOptions options;
  options.data_dir = dir;
  auto engine = conduit::Engine::open(options).value();
  conduit::TopicOptions persisted;
  persisted.durability = conduit::Durability::kAsync;  // synced in the background
  conduit::Topic* events = engine->create_topic("events", persisted).value();
  for (int i = 0; i < kCount; ++i) {
    events->publish("event " + std::to_string(i)).value();
    if (i % 10 == 9) std::this_thread::sleep_for(5ms);  // the reader follows as records come
  }
  engine->close();  // the reader sees writer_closed()
  engine.reset();

  int status = 0;
  waitpid(child, &status, 0);
  std::filesystem::remove_all(dir);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
