// Idempotent publish under racing producers: every id is appended exactly
// once, and every publisher of an id is told the same sequence.
#include <doctest/doctest.h>

#include <conduit/conduit.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace conduit;

TEST_CASE("producers racing to publish the same ids append each id once and all get its sequence") {
  constexpr int kProducers = 4;
  constexpr int kIds = 3000;
  auto engine = Engine::open().value();
  TopicOptions o;
  o.dedup.max_ids = kIds;       // every id stays in the window
  o.segment_bytes = 256 << 10;  // many rolls while racing
  o.max_payload_bytes = 1024;
  Topic* t = engine->create_topic("racy", o).value();

  // seqs[p][i]: what producer p was told for id i.
  std::vector<std::vector<std::uint64_t>> seqs(kProducers, std::vector<std::uint64_t>(kIds, ~0ull));
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p)
    producers.emplace_back([&, p] {
      std::vector<int> order(kIds);
      for (int i = 0; i < kIds; ++i) order[i] = i;
      std::mt19937 rng(p);
      // Neighbouring ids in different orders: collisions happen at all depths.
      for (int i = 0; i + 8 <= kIds; i += 8) std::shuffle(order.begin() + i, order.begin() + i + 8, rng);
      for (int i : order) {
        const std::string id = "id-" + std::to_string(i);
        const std::string payload = "from " + std::to_string(p);
        Message m;
        m.id = id;
        m.payload = payload;
        auto r = t->publish(m);
        REQUIRE(r.ok());
        seqs[p][i] = *r;
        if (i % 7 == 0) REQUIRE(t->publish("no id").ok());  // unrelated traffic on the fast path
      }
    });
  for (auto& th : producers) th.join();

  for (int i = 0; i < kIds; ++i)
    for (int p = 1; p < kProducers; ++p) REQUIRE(seqs[p][i] == seqs[0][i]);

  // The log holds each id exactly once, at the sequence everyone was told.
  auto sub = t->subscribe(SubscriberOptions{.name = {}, .start = StartAt::earliest()}).value();
  std::map<std::string, std::uint64_t> in_log;
  std::uint64_t without_id = 0;
  RecordView views[128];
  for (PollResult r; (r = sub->try_poll(views)).count != 0;)
    for (std::size_t k = 0; k < r.count; ++k) {
      if (views[k].id().empty()) {
        ++without_id;
        continue;
      }
      REQUIRE(in_log.emplace(std::string(views[k].id()), views[k].sequence()).second);
    }
  CHECK(in_log.size() == static_cast<std::size_t>(kIds));
  CHECK(without_id == static_cast<std::uint64_t>(kProducers) * ((kIds + 6) / 7));
  for (int i = 0; i < kIds; ++i) CHECK(in_log.at("id-" + std::to_string(i)) == seqs[0][i]);
  CHECK(t->published() == in_log.size() + without_id);
}
