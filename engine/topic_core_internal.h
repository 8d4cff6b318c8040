// What TopicCore's source files share (engine/topic_*.cpp): not for other
// parts of the engine.
#pragma once

#include <cstddef>
#include <string>

namespace conduit::detail {

constexpr std::size_t kMaxEnvelopeBytes = 64u << 10;  // everything but the payload

inline std::string topic_error(const std::string& topic, const std::string& what) {
  return "topic '" + topic + "': " + what;
}

}  // namespace conduit::detail
