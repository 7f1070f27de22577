// Offline repair of the derived families: `pioneer reindex --data DIR`.
//
// Index entries, armed timers and statistics counters are pure functions of the instance
// records (engine/indexer.h), so they can always be rebuilt from them. The writer relies on them
// being exactly what the records derive — it deletes index entries and timers with RocksDB's
// SingleDelete (storage/store.h, Batch::single_del), which must meet exactly one put — so a
// database that `pioneer verify` reports damaged in these families, or one whose entries a new
// version derives differently, is repaired with this before it takes writes again.
//
// What it does, with no writer running (it holds the database's lock): every entry and timer
// each record implies is written again behind a plain Delete of its key (Batch::repair_del),
// which covers whatever history the damage left — a second put, a missing one — so each key
// starts a clean put/single_del history; every other key in those two families is deleted the
// same way; each counter is corrected by the difference to what the records imply. The log,
// the records and their histories are not touched (damage there is not derived: verify names
// it, and no rebuild can invent the lost facts). Memory stays bounded like verify's.
#pragma once

#include <cstdint>

#include "common/result.h"
#include "engine/definition.h"

namespace pioneer::storage {
class Store;
}

namespace pioneer::engine {

struct ReindexReport {
  uint64_t instances = 0;
  uint64_t index_entries = 0;      // entries the records imply, all written again
  uint64_t timers = 0;             // armed timers the records imply, all written again
  uint64_t stray_index_entries = 0;  // removed: implied by no record
  uint64_t stray_timers = 0;
  uint64_t counters_corrected = 0;
  uint64_t unreadable_instances = 0;  // records that do not decode or lack their definition: skipped
  Json to_json() const;
};

Result<ReindexReport> reindex_store(storage::Store& store, const RoleCatalog& roles);

}  // namespace pioneer::engine
