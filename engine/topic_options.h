// Comparing topic options: what an existing topic's options are held
// against when create_topic is called again (in memory, or on disk for a
// persisted topic).
//
// Thread safety: functions over values.
#pragma once

#include <string>

#include "conduit/options.h"

namespace conduit::detail {

// The options as the topic keeps them: segment_bytes 0 made the default,
// then rounded up to 4 KiB.
TopicOptions normalized_options(TopicOptions o);

// The first option (in TopicOptions' order) on which `want` differs from
// `have`, both normalized, as "retain_bytes is 0, not 1048576"; empty when
// they agree on every option the topic uses (ring_bytes only matters for a
// memory-only topic).
std::string options_difference(const TopicOptions& have, const TopicOptions& want);

}  // namespace conduit::detail
