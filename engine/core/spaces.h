// The engine's column families: what each holds, and the Layout the engine hands the store at
// open. The numbering and the names are the on-disk format: append only, never rename one.
#pragma once

#include "storage/store.h"

namespace pioneer::engine {

struct Space {
  static constexpr storage::Space kDefinitions{0};     // workflow id, version -> definition JSON
  static constexpr storage::Space kInstances{1};       // instance id -> current record
  static constexpr storage::Space kEvents{2};          // global seq (u64 BE) -> event JSON (hash-chained)
  static constexpr storage::Space kInstanceEvents{3};  // instance id, per-instance seq (u64 BE) -> global seq
  static constexpr storage::Space kIndexes{4};         // secondary indexes (indexer.h) -> small tag; single_del only
  static constexpr storage::Space kTimers{5};          // due ms (u64 BE), instance id, timer name -> empty; single_del only
  static constexpr storage::Space kPrincipals{6};      // orgs, users, token hashes
  static constexpr storage::Space kIdempotency{7};     // principal, key -> stored reply
  static constexpr storage::Space kMeta{8};            // schema version, head of the log, settings
  static constexpr storage::Space kCounters{9};        // statistics counters (int64, merged by addition)
};

// The families in Space order; kMeta marks a database as the engine's.
inline const storage::Layout& store_layout() {
  using Kind = storage::Family::Kind;
  static const storage::Layout layout{
      {{"definitions"}, {"instances"}, {"events"}, {"instance_events"}, {"indexes", Kind::kSingleDeleted},
       {"timers", Kind::kSingleDeleted}, {"principals"}, {"idempotency"}, {"meta"}, {"counters", Kind::kCounters}},
      Space::kMeta};
  return layout;
}

}  // namespace pioneer::engine
