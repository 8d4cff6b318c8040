// A small control file written whole or not at all: committed positions,
// work-group states, the clean-close record, a LogReader's position.
//
// Thread safety: any thread (through DiskIo::write_at, which is thread-safe).
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "conduit/status.h"
#include "persistence/disk_io.h"

namespace conduit::persistence {

// Replaces DIR/NAME with `bytes`, atomically and durably: writes DIR/NAME.tmp
// through io.write_at(), fdatasyncs it, renames it over DIR/NAME and fsyncs
// DIR. On any failure the temporary is removed and DIR/NAME is untouched
// (its old bytes, or no file); the status names the file. Creates DIR
// (0700) if needed. Thread-safe (as write_at()).
Status replace_file(DiskIo& io, const std::string& dir, const std::string& name, std::span<const std::byte> bytes);

}  // namespace conduit::persistence
