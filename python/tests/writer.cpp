// A C++ process writing a persisted topic, for the Python tests that follow
// it with conduit.LogReader (python/tests/test_log_reader.py).
//
//   conduit_python_writer DATA_DIR TOPIC COUNT
//
// Creates TOPIC (async), says "created" on stdout, waits for a line on
// stdin (the reader is open then), publishes COUNT records in bursts with
// short pauses, so that the reader follows them as they come, and closes.
// Record i: payload "record i", key "k<i % 4>", header "i" = i.
#include <conduit/conduit.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: conduit_python_writer DATA_DIR TOPIC COUNT\n");
    return 2;
  }
  const std::uint64_t count = std::strtoull(argv[3], nullptr, 10);
  conduit::EngineOptions options;
  options.data_dir = argv[1];
  auto engine = conduit::Engine::open(options);
  if (!engine.ok()) {
    std::fprintf(stderr, "writer: %s\n", engine.status().to_string().c_str());
    return 1;
  }
  conduit::TopicOptions topic_options;
  topic_options.durability = conduit::Durability::kAsync;
  auto topic = (*engine)->create_topic(argv[2], topic_options);
  if (!topic.ok()) {
    std::fprintf(stderr, "writer: %s\n", topic.status().to_string().c_str());
    return 1;
  }
  std::printf("created\n");
  std::fflush(stdout);
  char line[16];
  if (std::fgets(line, sizeof line, stdin) == nullptr) return 1;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::string payload = "record " + std::to_string(i);
    std::string key = "k" + std::to_string(i % 4);
    std::string index = std::to_string(i);
    conduit::Header header{"i", index};
    conduit::Message m;
    m.payload = payload;
    m.key = key;
    m.headers = {&header, 1};
    auto seq = (*topic)->publish(m);
    if (!seq.ok() || *seq != i) {
      std::fprintf(stderr, "writer: publish %llu: %s\n", static_cast<unsigned long long>(i),
                   seq.status().to_string().c_str());
      return 1;
    }
    if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  (*engine)->close();
  std::printf("published %llu\n", static_cast<unsigned long long>(count));
  return 0;
}
