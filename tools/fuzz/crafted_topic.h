// Shared by the fuzz targets that read a whole topic directory (recovery, and
// the readers of other processes and the inspection tool): the input picks
// the durable watermark in the control file and up to three segment files
// (first sequence, bytes after a valid header, or a raw header too).
//
// The files are written as bytes, by doc/log-format.md, with the public
// segment header encoder: a crafted topic is an input, not engine output.
//
// Thread safety: none needed; a fuzz target runs one input at a time.
#pragma once

#include <conduit/inspect.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>

#include "fuzz_support.h"

namespace conduit::fuzz {

// A control file as an engine leaves it when it stops without closing
// (doc/log-format.md, "Control file"): magic "CNDTCTL1", version 1, flags 0
// (not clean), the durable watermark at 16, generation 1 at 32; 4096 bytes.
inline std::string crafted_control_file(std::uint64_t durable) {
  std::string file(4096, '\0');
  const auto put = [&](std::size_t at, auto v) { std::memcpy(file.data() + at, &v, sizeof v); };
  file.replace(0, 8, "CNDTCTL1");
  put(8, std::uint32_t{1});
  put(16, durable);
  put(32, std::uint64_t{1});
  return file;
}

// "00000000000000000042.seg": a segment file is named by its first sequence.
inline std::string segment_file_name(std::uint64_t first_seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.seg", static_cast<unsigned long long>(first_seq));
  return buf;
}

// Empties `topic_dir` and writes the topic the input describes there;
// returns the durable watermark it put in the control file.
inline std::uint64_t write_crafted_topic(ByteReader& in, const std::filesystem::path& topic_dir) {
  const auto mode = in.take<std::uint8_t>();
  const std::size_t segments = 1 + (mode & 3) % 3;
  const bool raw_first_header = (mode & 4) != 0;
  const std::uint64_t durable = in.take<std::uint8_t>();

  std::filesystem::remove_all(topic_dir);
  std::filesystem::create_directories(topic_dir);
  std::ofstream(topic_dir / "control", std::ios::binary) << crafted_control_file(durable);
  for (std::size_t i = 0; i < segments; ++i) {
    const std::uint64_t first_seq = in.take<std::uint8_t>();
    const std::size_t body_len = in.take<std::uint16_t>();
    const std::string_view body = in.bytes(body_len);
    std::string file;
    if (i == 0 && raw_first_header) {
      file = std::string(body);
    } else {
      file.resize(inspect::kSegmentHeaderBytes);
      inspect::SegmentHeader h;
      h.first_seq = first_seq;
      h.capacity = inspect::kSegmentHeaderBytes + body.size();
      h.with_crc = true;
      inspect::encode_segment_header(std::as_writable_bytes(std::span(file)), h);
      file += body;
    }
    std::ofstream(topic_dir / segment_file_name(first_seq), std::ios::binary) << file;
  }
  return durable;
}

}  // namespace conduit::fuzz
