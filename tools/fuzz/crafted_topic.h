// Shared by the fuzz targets that read a whole topic directory (recovery, and
// the readers of other processes and the inspection tool): the input picks
// the durable watermark in the control file and up to three segment files
// (first sequence, bytes after a valid header, or a raw header too).
//
// Thread safety: none needed; a fuzz target runs one input at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "persistence/data_dir.h"
#include "persistence/format.h"
#include "persistence/segment_file.h"
#include "tools/fuzz/fuzz_support.h"

namespace conduit::fuzz {

// Empties `topic_dir` and writes the topic the input describes there;
// returns the durable watermark it put in the control file.
inline std::uint64_t write_crafted_topic(ByteReader& in, const std::filesystem::path& topic_dir) {
  const auto mode = in.take<std::uint8_t>();
  const std::size_t segments = 1 + (mode & 3) % 3;
  const bool raw_first_header = (mode & 4) != 0;
  const std::uint64_t durable = in.take<std::uint8_t>();

  std::filesystem::remove_all(topic_dir);
  std::filesystem::create_directories(topic_dir);
  {
    auto control = persistence::ControlFile::open(topic_dir.string());
    FUZZ_CHECK(control.ok());
    (*control)->set_durable(durable);
  }
  for (std::size_t i = 0; i < segments; ++i) {
    const std::uint64_t first_seq = in.take<std::uint8_t>();
    const std::size_t body_len = in.take<std::uint16_t>();
    const std::string_view body = in.bytes(body_len);
    std::string file;
    if (i == 0 && raw_first_header) {
      file = std::string(body);
    } else {
      file.resize(format::kSegmentHeaderSize);
      format::SegmentHeader h;
      h.first_seq = first_seq;
      h.capacity = format::kSegmentHeaderSize + body.size();
      h.flags = format::kSegmentFlagCrc;
      format::encode_segment_header(reinterpret_cast<std::byte*>(file.data()), h);
      file += body;
    }
    std::ofstream(topic_dir / persistence::segment_file_name(first_seq), std::ios::binary) << file;
  }
  return durable;
}

}  // namespace conduit::fuzz
