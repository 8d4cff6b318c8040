// Named positions outside a running engine's hands.
//
// A LogReader's committed position: DATA_DIR/readers/TOPIC/NAME, a decimal
// sequence and a newline ("42\n"), or, for a reader that holds records
// under interest retention (LogReaderOptions::hold), the sequence, " hold"
// and a newline ("42 hold\n"). Written whole by the reader (replace_file);
// read by the reader, by the engine's retention and by conduit-log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conduit/status.h"

namespace conduit::persistence {

struct ReaderPosition {
  std::string name;
  std::uint64_t position = 0;
  bool holds = false;  // written by a reader opened with LogReaderOptions::hold
};

// The file's text for `position`.
std::string reader_position_text(std::uint64_t position, bool holds);
// The position in `dir` (reader_positions_dir) under `name`; nullopt: none.
// kCorruption naming the file when it is not one of the two forms.
Result<std::optional<ReaderPosition>> read_reader_position(const std::string& dir, const std::string& name);
// The readers' names in `dir`, sorted (temporary files skipped); empty when
// there is no such directory.
Result<std::vector<std::string>> list_reader_names(const std::string& dir);
// Every reader's position in `dir`, by name (temporary files skipped); an
// empty list when there is no such directory. A damaged file is an error.
Result<std::vector<ReaderPosition>> list_reader_positions(const std::string& dir);
// Removes `name`'s position file (and syncs `dir`); kNotFound when there is none.
Status remove_reader_position(const std::string& dir, const std::string& name);

// Removes a subscriber's or work group's committed position in
// TOPIC_DIR/cursors (`key`: "sub-NAME", "group-NAME"), with a group's state
// file and journals, then syncs the directory. kNotFound when there is no
// position file. Only while no engine holds the topic open, or by the
// engine itself (Topic::remove_reader).
Status remove_cursor(const std::string& topic_dir, const std::string& key);

}  // namespace conduit::persistence
