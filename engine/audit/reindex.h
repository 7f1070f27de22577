// Offline repair of the derived families: `pioneer reindex --data DIR`.
//
// Index entries, armed timers and statistics counters are pure functions of the instance
// records (engine/core/indexer.h), so they can always be rebuilt from them. The writer relies on them
// being exactly what the records derive — it deletes index entries and timers with RocksDB's
// SingleDelete (storage/store.h, Batch::single_del), which must meet exactly one put of its key —
// so a database that `pioneer verify` reports damaged in these families, or one whose entries a
// new version derives differently, is repaired with this before it takes writes again. Run it
// from the same build as the server: the entries are derived by code.
//
// With no writer running (it holds the database's lock):
//   1. an entry or timer a record implies and the family lacks, or holds with another value, is
//      put; every key no record implies is deleted (Batch::repair_del, a plain Delete);
//   2. each counter is set to what the records imply;
//   3. both families are compacted down to one version per key, with no deletion left: a damaged
//      key may have held two puts (the second invisible to reads), and a put landing on an old
//      Delete does not remove that Delete below it, so only the compaction gives every key the
//      clean history a later SingleDelete needs.
// Meanwhile kMeta "reindex_pending" is set, and Engine::open refuses the database until a run
// has finished: an interrupted run is simply run again. Entries of a record that does not decode
// or whose definition is missing are left as they are (the writer cannot touch that instance
// either; verify names it). The log, the records and their histories are not touched: damage
// there is not derived, and no rebuild can invent what was lost.
//
// Finding strays is cheap when there are none: a family holding exactly as many keys as the
// records imply holds nothing else. Otherwise the records are read once more for a sorted list of
// 64-bit fingerprints of every implied key (8 bytes a key; the benchmark's data implies ~19 index
// entries an instance, ~150 MB at 1,000,000 instances: the only memory that grows with the
// database), and only a key whose fingerprint is not in it is
// checked against its record — every deletion is exact; a stray whose fingerprint happens to
// equal an implied key's (about one chance in 2^64 / keys) would be kept, and the verify that
// follows a reindex reports it: the fingerprints are seeded per run, so the next run finds it.
//
// A record is derived from only when it decodes, its definition is loaded and it is stored under
// its own id; a record listing a timer twice implies that timer once (both would otherwise let a
// stray hide behind the surplus in the counts). Verify reports either kind of record.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/result.h"
#include "engine/core/definition.h"

namespace pioneer::storage {
class Store;
}

namespace pioneer::engine {

// The kMeta key present while a reindex is under way (Engine::open refuses such a database).
inline constexpr const char* kReindexPendingKey = "reindex_pending";
// The kMeta key naming how the index entries were derived, and the derivation of this build.
// Absent = "1" (to-do entries for every action); "2": to-do entries only for to-do
// transitions (TransitionSpec::is_todo). A database created by this build starts at the
// current one; an older one is refused until `pioneer reindex` has rebuilt its entries, which
// writes the current one.
inline constexpr const char* kIndexFormatKey = "index_format";
inline constexpr const char* kIndexFormat = "2";

struct ReindexReport {
  uint64_t instances = 0;
  uint64_t index_entries = 0;         // entries the records imply
  uint64_t timers = 0;                // armed timers the records imply
  uint64_t index_entries_written = 0; // of those, missing or with another value: put
  uint64_t timers_written = 0;
  uint64_t stray_index_entries = 0;   // implied by no record: deleted
  uint64_t stray_timers = 0;
  uint64_t counters_corrected = 0;
  uint64_t unreadable_instances = 0;  // records that do not decode or lack their definition: left as they are
  Json to_json() const;
};

struct ReindexOptions {
  // Told what the run is doing (a line, Chinese first) at each step and every few seconds within
  // one: at a million instances a run takes minutes.
  std::function<void(const std::string&)> progress;
};

Result<ReindexReport> reindex_store(storage::Store& store, const RoleCatalog& roles, const ReindexOptions& options = {});

}  // namespace pioneer::engine
