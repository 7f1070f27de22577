// The RocksDB-independent parts of the Store interface: prefix scans.
// Pure functions, thread-safe.
#include "storage/store.h"

namespace pioneer::storage {

// Drop trailing 0xFF bytes (they cannot be incremented without carrying), then increment the
// last remaining byte. A prefix of only 0xFF bytes (or an empty one) has no upper bound.
std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<uint8_t>(end.back()) == 0xFF) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
  return end;
}

std::unique_ptr<Cursor> Store::scan_prefix(Space space, std::string_view prefix) const {
  return scan(space, prefix, prefix_end(prefix));
}

}  // namespace pioneer::storage
