// Every name conduit gives a file or directory on disk, and every magic
// number that opens one of its files: the one place they are defined, for
// engine/ and persistence/ alike. doc/log-format.md ("Names and magic
// numbers") lists them with their meaning; the byte layouts are in
// common/format.h (segments, records) and beside each file's reader.
//
//   DATA_DIR/LOCK
//   DATA_DIR/control.sock                        the owning engine's Unix socket (doc/ipc.md)
//   DATA_DIR/counters                            live counters, mapped (common/counters.h)
//   DATA_DIR/topics/TOPIC/{control, clean, options, NNNN.seg, cursors/, torn/}
//   DATA_DIR/topics/.deleted-TOPIC-N/            a deleted topic being removed
//   DATA_DIR/readers/TOPIC/NAME                  a LogReader's position
//   TOPIC/torn/{G-NAME, G-NAME.at-OFFSET}         what recovery cut off, kept
//   TOPIC/cursors/{sub-NAME, group-NAME, group-NAME.state, group-NAME.journal-G}
//   any file replaced whole goes through FILE.tmp
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace conduit::disk {

// ------------------------------------------------------------- magic ---
// The first 8 bytes of each file: its tag in ASCII, read as a little-endian
// u64 ("CNDTSEG1" is 0x3147455354444e43). Built from the tag, so the number
// and the text the documentation gives cannot disagree.
consteval std::uint64_t magic(const char (&tag)[9]) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(tag[i]);
  return v;
}
inline constexpr std::uint64_t kSegmentMagic = magic("CNDTSEG1");   // a segment file (common/format.h)
inline constexpr std::uint64_t kControlMagic = magic("CNDTCTL1");   // TOPIC/control
inline constexpr std::uint64_t kCleanMagic = magic("CNDTCLN1");     // TOPIC/clean
inline constexpr std::uint64_t kOptionsMagic = magic("CNDTOPT1");   // TOPIC/options
inline constexpr std::uint64_t kPositionMagic = magic("CNDTPOS1");  // cursors/sub-NAME, cursors/group-NAME
inline constexpr std::uint64_t kStateMagic = magic("CNDTSTA1");     // cursors/group-NAME.state
inline constexpr std::uint64_t kJournalMagic = magic("CNDTJRN1");   // cursors/group-NAME.journal-G
inline constexpr std::uint64_t kCountersMagic = magic("CNDTCNT1");  // DATA_DIR/counters (common/counters.h)
// Each journal entry's marker (u32 "JRN1"): zero marks an empty slot.
inline constexpr std::uint32_t kJournalEntryMarker = 0x314e524a;
// The values files have always held.
static_assert(kSegmentMagic == 0x3147455354444e43ull && kControlMagic == 0x314c544354444e43ull &&
              kCleanMagic == 0x314e4c4354444e43ull && kOptionsMagic == 0x3154504f54444e43ull &&
              kPositionMagic == 0x31534f5054444e43ull && kStateMagic == 0x3141545354444e43ull &&
              kJournalMagic == 0x314e524a54444e43ull && kJournalEntryMarker == (kJournalMagic >> 32) &&
              kCountersMagic == 0x31544e4354444e43ull);

// ------------------------------------------------------------- names ---
inline constexpr const char* kLockFileName = "LOCK";               // DATA_DIR/LOCK, flock()ed by the owning engine
inline constexpr const char* kControlSocketName = "control.sock";  // DATA_DIR/control.sock, the owner's (doc/ipc.md)
inline constexpr const char* kTopicsDirName = "topics";            // DATA_DIR/topics/TOPIC/
inline constexpr const char* kReadersDirName = "readers";          // DATA_DIR/readers/TOPIC/NAME
inline constexpr const char* kCountersFileName = "counters";       // DATA_DIR/counters
inline constexpr const char* kControlFileName = "control";         // TOPIC/control
inline constexpr const char* kCleanRecordName = "clean";           // TOPIC/clean
inline constexpr const char* kOptionsFileName = "options";         // TOPIC/options
inline constexpr const char* kCursorsDirName = "cursors";          // TOPIC/cursors/
inline constexpr const char* kTornDirName = "torn";                // TOPIC/torn/
inline constexpr std::string_view kTombstonePrefix = ".deleted-";  // topics/.deleted-TOPIC-N
inline constexpr std::string_view kSegmentSuffix = ".seg";
inline constexpr std::string_view kTmpSuffix = ".tmp";
inline constexpr std::string_view kStateSuffix = ".state";
inline constexpr std::string_view kJournalInfix = ".journal-";
inline constexpr std::string_view kSubscriberPrefix = "sub-";
inline constexpr std::string_view kGroupPrefix = "group-";

// DATA_DIR/topics, and a topic's directory in it.
inline std::string topics_dir(std::string_view data_dir) { return std::string(data_dir) + "/" + kTopicsDirName; }
inline std::string topic_dir(std::string_view data_dir, std::string_view topic) {
  return topics_dir(data_dir) + "/" + std::string(topic);
}
// DATA_DIR/counters: the engine's live counters (common/counters.h).
inline std::string counters_path(std::string_view data_dir) { return std::string(data_dir) + "/" + kCountersFileName; }
// DATA_DIR/readers/TOPIC: where LogReaders of that topic keep positions.
inline std::string reader_positions_dir(std::string_view data_dir, std::string_view topic) {
  return std::string(data_dir) + "/" + kReadersDirName + "/" + std::string(topic);
}
// A file directly in a topic's directory (kControlFileName, kCleanRecordName, ...).
inline std::string topic_file(std::string_view topic_dir, std::string_view name) {
  return std::string(topic_dir) + "/" + std::string(name);
}
inline std::string cursors_dir(std::string_view topic_dir) { return topic_file(topic_dir, kCursorsDirName); }

// Cursor keys: the name of a reader's position file in cursors/.
inline std::string subscriber_key(std::string_view name) { return std::string(kSubscriberPrefix) + std::string(name); }
inline std::string group_key(std::string_view name) { return std::string(kGroupPrefix) + std::string(name); }
// A key's state file and its journal of generation `generation` (20 digits).
inline std::string state_file_name(std::string_view key) { return std::string(key) + std::string(kStateSuffix); }
inline std::string journal_file_name(std::string_view key, std::uint64_t generation) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(generation));
  return std::string(key) + std::string(kJournalInfix) + digits;
}
// A segment file: its first sequence in 20 digits, then ".seg".
inline std::string segment_file_name(std::uint64_t first_seq) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(first_seq));
  return digits + std::string(kSegmentSuffix);
}
// Where a file replaced whole is written before it is renamed over `path`.
inline std::string tmp_path(std::string_view path) { return std::string(path) + std::string(kTmpSuffix); }
// The name a deleted topic's directory takes while it is removed.
inline std::string tombstone_name(std::string_view topic, std::uint64_t n) {
  return std::string(kTombstonePrefix) + std::string(topic) + "-" + std::to_string(n);
}

// What recovery keeps in TOPIC/torn/ (persistence/torn_pieces.h), named by
// the generation G of the session that moved it: a whole segment file
// ("G-NAME"), and the bytes of segment NAME from `offset` ("NAME.at-OFFSET",
// itself then under "G-").
inline std::string torn_file_name(std::uint64_t generation, std::string_view file) {
  return std::to_string(generation) + "-" + std::string(file);
}
inline std::string torn_tail_name(std::string_view segment_file, std::uint64_t offset) {
  return std::string(segment_file) + ".at-" + std::to_string(offset);
}

// A name in cursors/ that is not a position file: a state file, a journal,
// or a temporary one. A work group may not be named so that its position
// file would be one of these.
inline bool is_cursor_side_file(std::string_view name) {
  return name.ends_with(kStateSuffix) || name.ends_with(kTmpSuffix) ||
         name.find(kJournalInfix) != std::string_view::npos;
}

}  // namespace conduit::disk
