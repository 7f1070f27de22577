#include "engine/reindex.h"

#include <map>
#include <string>
#include <vector>

#include "engine/codec.h"
#include "engine/indexer.h"
#include "engine/registry.h"
#include "storage/store.h"

namespace pioneer::engine {

using storage::Space;

Json ReindexReport::to_json() const {
  return Json{{"instances", instances},
              {"index_entries", index_entries},
              {"timers", timers},
              {"stray_index_entries", stray_index_entries},
              {"stray_timers", stray_timers},
              {"counters_corrected", counters_corrected},
              {"unreadable_instances", unreadable_instances}};
}

namespace {

// Commits a batch whenever it has grown past this many writes (sync: the repair is durable
// step by step, and rerunning it after an interruption finishes it).
constexpr size_t kBatchOps = 20000;

Result<void> flush(storage::Store& store, storage::Batch& batch, bool always = false) {
  if (batch.empty() || (!always && batch.size() < kBatchOps)) return {};
  auto st = store.commit(batch, /*sync=*/true);
  batch.clear();
  return st;
}

// Whether the record stored under `id` implies `has` (false when there is none, or it does not
// decode or lacks its definition).
template <class Has>
Result<bool> implied(const storage::Store& store, const Registry& registry, std::string_view id, Has has) {
  auto record = store.get(Space::kInstances, id);
  if (!record) return fail(record.error());
  if (!*record) return false;
  auto in = decode_instance(**record);
  if (!in) return false;
  DefinitionPtr def = registry.get(in->workflow, in->workflow_version);
  if (!def) return false;
  return has(*def, *in);
}

}  // namespace

Result<ReindexReport> reindex_store(storage::Store& store, const RoleCatalog& roles) {
  ReindexReport r;
  Registry registry;
  if (auto st = registry.load(store, roles); !st) return fail(st.error());
  storage::Batch batch;

  // 1. What each record implies, written again behind a Delete of the key.
  std::map<std::string, int64_t> want_counters;  // one per (workflow, org, assignee, state, overdue): small
  auto instances = store.scan_prefix(Space::kInstances, "");
  for (; instances->valid(); instances->next()) {
    r.instances++;
    auto in = decode_instance(instances->value());
    DefinitionPtr def = in ? registry.get(in->workflow, in->workflow_version) : nullptr;
    if (!def) {
      r.unreadable_instances++;
      continue;
    }
    for (index::Entry& e : index::entries(*def, *in)) {
      batch.repair_del(Space::kIndexes, e.key);
      batch.put(Space::kIndexes, std::move(e.key), std::move(e.value));
      r.index_entries++;
    }
    for (const ArmedTimer& t : in->timers) {
      batch.repair_del(Space::kTimers, index::timer_key(t, in->id));
      batch.put(Space::kTimers, index::timer_key(t, in->id), "");
      r.timers++;
    }
    want_counters[index::counter_key(*in)] += 1;
    if (auto st = flush(store, batch); !st) return fail(st.error());
  }
  if (auto st = instances->status(); !st) return fail(st.error());
  if (auto st = flush(store, batch, true); !st) return fail(st.error());

  // 2. Every other key of the two families: implied by no record, so deleted. Every implied key
  // is there now, so when a family holds no more keys than were implied there is nothing else,
  // and only otherwise is each key's record asked whether it implies it.
  auto count = [&](Space space) {
    uint64_t n = 0;
    auto c = store.scan_prefix(space, "");
    for (; c->valid(); c->next()) ++n;
    return n;
  };
  const bool index_strays = count(Space::kIndexes) != r.index_entries;
  const bool timer_strays = count(Space::kTimers) != r.timers;
  for (auto c = store.scan_prefix(Space::kIndexes, ""); index_strays && c->valid(); c->next()) {
    const std::string key(c->key());
    auto kept = implied(store, registry, index::id_of(key), [&](const Definition& def, const Instance& in) {
      for (const index::Entry& e : index::entries(def, in)) {
        if (e.key == key) return true;
      }
      return false;
    });
    if (!kept) return fail(kept.error());
    if (*kept) continue;
    batch.repair_del(Space::kIndexes, key);
    r.stray_index_entries++;
    if (auto st = flush(store, batch); !st) return fail(st.error());
  }
  for (auto c = store.scan_prefix(Space::kTimers, ""); timer_strays && c->valid(); c->next()) {
    const std::string key(c->key());
    Result<bool> kept = false;
    if (auto timer = index::parse_timer_key(key)) {
      kept = implied(store, registry, timer->id, [&](const Definition&, const Instance& in) {
        for (const ArmedTimer& t : in.timers) {
          if (t.name == timer->name && t.due_ms == timer->due_ms) return true;
        }
        return false;
      });
      if (!kept) return fail(kept.error());
    }
    if (*kept) continue;
    batch.repair_del(Space::kTimers, key);
    r.stray_timers++;
    if (auto st = flush(store, batch); !st) return fail(st.error());
  }

  // 3. Counters: each moved by its difference to what the records imply (they are merged by
  // addition, so this needs no other kind of write).
  for (auto c = store.scan_prefix(Space::kCounters, ""); c->valid(); c->next()) {
    const std::string key(c->key());
    auto it = want_counters.find(key);
    const int64_t want = it == want_counters.end() ? 0 : it->second;
    if (it != want_counters.end()) want_counters.erase(it);
    auto have = store.counter(key);
    if (!have && have.error().code != Code::kCorruption) return fail(have.error());
    if (have && *have == want) continue;
    if (have) {
      batch.add(key, want - *have);
    } else {  // not a counter value at all: replaced
      batch.del(Space::kCounters, key);
      if (want != 0) batch.add(key, want);
    }
    r.counters_corrected++;
  }
  for (auto& [key, n] : want_counters) {
    batch.add(key, n);
    r.counters_corrected++;
  }
  if (auto st = flush(store, batch, true); !st) return fail(st.error());
  return r;
}

}  // namespace pioneer::engine
