#include "engine/audit/reindex.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/core/codec.h"
#include "engine/core/indexer.h"
#include "engine/core/spaces.h"
#include "engine/write/registry.h"
#include "storage/store.h"

namespace pioneer::engine {

Json ReindexReport::to_json() const {
  return Json{{"instances", instances},
              {"index_entries", index_entries},
              {"timers", timers},
              {"index_entries_written", index_entries_written},
              {"timers_written", timers_written},
              {"stray_index_entries", stray_index_entries},
              {"stray_timers", stray_timers},
              {"counters_corrected", counters_corrected},
              {"unreadable_instances", unreadable_instances}};
}

namespace {

// A batch is committed once it has this many writes (between instances, so each committed batch
// holds whole instances; the run as a whole is made safe by the pending mark, not by batches).
constexpr size_t kBatchOps = 20000;

Result<void> flush(storage::Store& store, storage::Batch& batch, bool always = false) {
  if (batch.empty() || (!always && batch.size() < kBatchOps)) return {};
  auto st = store.commit(batch, /*sync=*/true);
  batch.clear();
  return st;
}

// A record the rebuild may derive from: it decodes, its definition is loaded, and it is stored
// under its own id (a copy under another key would imply another instance's keys twice, and
// hide strays from the counts). Anything else is left as it is, with whatever it implies.
struct Readable {
  Instance instance;
  DefinitionPtr def;
};

std::optional<Readable> readable(const Registry& registry, std::string_view key, std::string_view value) {
  auto in = decode_instance(value);
  if (!in || in->id != key) return std::nullopt;
  DefinitionPtr def = registry.get(in->workflow, in->workflow_version);
  if (!def) return std::nullopt;
  return Readable{std::move(*in), std::move(def)};
}

// The timer keys of an instance, each once (a damaged record may list one twice).
std::vector<std::string> timer_keys(const Instance& in) {
  std::vector<std::string> keys;
  keys.reserve(in.timers.size());
  for (const ArmedTimer& t : in.timers) keys.push_back(index::timer_key(t, in.id));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

// What the record stored under `id` says of a key of its: kept (it implies it, or the record
// exists but is not readable: its entries are left alone) or stray (no record, or a readable one
// that does not imply it).
template <class Implies>
Result<bool> keep(const storage::Store& store, const Registry& registry, std::string_view id, Implies implies) {
  auto record = store.get(Space::kInstances, id);
  if (!record) return fail(record.error());
  if (!*record) return false;
  auto r = readable(registry, id, **record);
  if (!r) return true;
  return implies(*r->def, r->instance);
}

// Progress lines: at each step, and within one at most every few seconds.
class Progress {
 public:
  explicit Progress(const ReindexOptions& options) : tell_(options.progress) {}
  void step(const std::string& line) {
    if (tell_) tell_(line);
    last_ = std::chrono::steady_clock::now();
  }
  // `line` is built only when it is time to tell (a template: this runs once per key).
  template <class Line>
  void every(const Line& line) {
    if (!tell_ || ++calls_ % 4096 != 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::seconds(5)) return;
    last_ = now;
    tell_(line());
  }

 private:
  std::function<void(const std::string&)> tell_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  uint64_t calls_ = 0;
};

// A key's fingerprint for this run: the key's hash with a random prefix chosen per run, so that a
// stray whose fingerprint happens to equal an implied key's is not kept by every run again.
class Fingerprint {
 public:
  Fingerprint() {
    std::random_device device;
    for (int i = 0; i < 2; ++i) {
      const uint32_t word = device();
      buf_.append(reinterpret_cast<const char*>(&word), sizeof word);
    }
    seed_size_ = buf_.size();
  }
  uint64_t operator()(std::string_view key) {
    static_assert(sizeof(size_t) == 8, "fingerprints are 64-bit");
    buf_.resize(seed_size_);
    buf_.append(key);
    return std::hash<std::string_view>{}(buf_);
  }

 private:
  std::string buf_;
  size_t seed_size_ = 0;
};

// Deletes (repair_del) every key of `space` that the record it names (id_of, "" when the key
// names none) does not imply, counting them in `removed`. A key whose fingerprint is among
// `implied` (sorted) is taken as implied without reading its record (reindex.h).
template <class IdOf, class Implies>
Result<void> delete_strays(storage::Store& store, const Registry& registry, storage::Batch& batch, storage::Space space,
                           const std::vector<uint64_t>& implied, Fingerprint& fingerprint, IdOf id_of, Implies implies,
                           uint64_t& removed, Progress& progress, const char* what_zh, const char* what_en) {
  uint64_t checked = 0;
  auto c = store.scan_prefix(space, "");
  for (; c->valid(); c->next()) {
    ++checked;
    progress.every([&] {
      return "reindex: 已检查" + std::string(what_zh) + " " + std::to_string(checked) + " 个，删除多余 " +
             std::to_string(removed) + " 个（" + what_en + " checked, strays deleted）";
    });
    if (std::binary_search(implied.begin(), implied.end(), fingerprint(c->key()))) continue;
    const std::string key(c->key());
    const std::string id = id_of(key);
    Result<bool> kept = false;
    if (!id.empty()) {
      kept = keep(store, registry, id, [&](const Definition& def, const Instance& in) { return implies(key, def, in); });
      if (!kept) return fail(kept.error());
    }
    if (*kept) continue;
    batch.repair_del(space, key);
    ++removed;
    if (auto st = flush(store, batch); !st) return fail(st.error());
  }
  return c->status();
}

// The sorted fingerprints of every index entry (when `index_entries`) and every armed timer
// (when `timers`) the readable records imply, in one pass over them, each list reserved to what
// step 1 counted.
struct Implied {
  std::vector<uint64_t> index_entries, timers;
};

Result<Implied> implied_fingerprints(const storage::Store& store, const Registry& registry, bool index_entries,
                                     bool timers, const ReindexReport& counted, Fingerprint& fingerprint,
                                     Progress& progress) {
  Implied out;
  if (index_entries) out.index_entries.reserve(counted.index_entries);
  if (timers) out.timers.reserve(counted.timers);
  uint64_t instances = 0;
  auto c = store.scan_prefix(Space::kInstances, "");
  for (; c->valid(); c->next()) {
    ++instances;
    progress.every([&] { return "reindex: 已读取实例 " + std::to_string(instances) + " 个（instances read）"; });
    auto r = readable(registry, c->key(), c->value());
    if (!r) continue;
    if (index_entries) {
      for (const index::Entry& e : index::entries(*r->def, r->instance)) out.index_entries.push_back(fingerprint(e.key));
    }
    if (timers) {
      for (const std::string& key : timer_keys(r->instance)) out.timers.push_back(fingerprint(key));
    }
  }
  if (auto st = c->status(); !st) return fail(st.error());
  std::sort(out.index_entries.begin(), out.index_entries.end());
  std::sort(out.timers.begin(), out.timers.end());
  return out;
}

Result<uint64_t> count(const storage::Store& store, storage::Space space) {
  uint64_t n = 0;
  auto c = store.scan_prefix(space, "");
  for (; c->valid(); c->next()) ++n;
  if (auto st = c->status(); !st) return fail(st.error());
  return n;
}

using Counters = std::map<std::string, int64_t>;  // one per (workflow, org, assignee, state, overdue): small

// Step 1 for one readable record: its index entries and timers, put where missing or different.
Result<void> put_implied_by(const storage::Store& store, const Definition& def, const Instance& in,
                            storage::Batch& batch, ReindexReport& r) {
  std::vector<index::Entry> entries = index::entries(def, in);
  std::vector<std::string> keys;
  keys.reserve(entries.size());
  for (const index::Entry& e : entries) keys.push_back(e.key);
  auto have = store.multi_get(Space::kIndexes, keys);
  if (!have) return fail(have.error());
  for (size_t i = 0; i < entries.size(); ++i) {
    if ((*have)[i] && *(*have)[i] == entries[i].value) continue;
    batch.put(Space::kIndexes, std::move(entries[i].key), std::move(entries[i].value));
    r.index_entries_written++;
  }
  r.index_entries += entries.size();
  keys = timer_keys(in);
  auto armed = store.multi_get(Space::kTimers, keys);
  if (!armed) return fail(armed.error());
  r.timers += keys.size();
  for (size_t i = 0; i < keys.size(); ++i) {
    if ((*armed)[i]) continue;
    batch.put(Space::kTimers, std::move(keys[i]), "");
    r.timers_written++;
  }
  return {};
}

// 1. What each record implies: put where missing or different; the counters they imply.
Result<void> put_implied(storage::Store& store, const Registry& registry, storage::Batch& batch, ReindexReport& r,
                         Counters& want_counters, Progress& progress) {
  auto instances = store.scan_prefix(Space::kInstances, "");
  for (; instances->valid(); instances->next()) {
    r.instances++;
    progress.every([&] {
      return "reindex: 已检查实例 " + std::to_string(r.instances) + " 个，补写索引项 " + std::to_string(r.index_entries_written) +
             " 个（instances checked, entries written）";
    });
    auto readable_record = readable(registry, instances->key(), instances->value());
    if (!readable_record) {
      r.unreadable_instances++;
      continue;
    }
    const Instance& in = readable_record->instance;
    if (auto st = put_implied_by(store, *readable_record->def, in, batch, r); !st) return fail(st.error());
    want_counters[index::counter_key(in)] += 1;
    if (auto st = flush(store, batch); !st) return fail(st.error());
  }
  if (auto st = instances->status(); !st) return fail(st.error());
  instances.reset();
  return flush(store, batch, true);
}

// 2. Keys no record implies. Every implied key is there now, so a family that holds exactly as
// many keys as were implied holds nothing else (unless unreadable records keep some: then the
// walk runs); otherwise each key not among the implied keys' fingerprints is checked against
// its record.
Result<void> delete_all_strays(storage::Store& store, const Registry& registry, storage::Batch& batch,
                               ReindexReport& r, Progress& progress) {
  auto index_keys = count(store, Space::kIndexes);
  if (!index_keys) return fail(index_keys.error());
  auto timer_count = count(store, Space::kTimers);
  if (!timer_count) return fail(timer_count.error());
  const bool index_walk = r.unreadable_instances > 0 || *index_keys != r.index_entries;
  const bool timer_walk = r.unreadable_instances > 0 || *timer_count != r.timers;
  Fingerprint fingerprint;
  Implied implied;
  if (index_walk || timer_walk) {
    auto found = implied_fingerprints(store, registry, index_walk, timer_walk, r, fingerprint, progress);
    if (!found) return fail(found.error());
    implied = std::move(*found);
  }
  if (index_walk) {
    auto st = delete_strays(
        store, registry, batch, Space::kIndexes, implied.index_entries, fingerprint,
        [](std::string_view key) { return std::string(index::id_of(key)); },
        [](std::string_view key, const Definition& def, const Instance& in) {
          for (const index::Entry& e : index::entries(def, in)) {
            if (e.key == key) return true;
          }
          return false;
        },
        r.stray_index_entries, progress, "索引项", "index entries");
    if (!st) return fail(st.error());
    implied.index_entries = {};  // its memory back before the next walk
  }
  if (!timer_walk) return {};
  return delete_strays(
      store, registry, batch, Space::kTimers, implied.timers, fingerprint,
      [](std::string_view key) {
        auto timer = index::parse_timer_key(key);
        return timer ? timer->id : std::string();
      },
      [](std::string_view key, const Definition&, const Instance& in) {
        const std::vector<std::string> keys = timer_keys(in);
        return std::binary_search(keys.begin(), keys.end(), key);
      },
      r.stray_timers, progress, "定时器", "timers");
}

// 3. Counters: each wrong one replaced by what the records imply (a malformed value too).
Result<void> correct_counters(storage::Store& store, storage::Batch& batch, ReindexReport& r, Counters want_counters) {
  for (auto c = store.scan_prefix(Space::kCounters, ""); c->valid(); c->next()) {
    const std::string key(c->key());
    auto it = want_counters.find(key);
    const int64_t want = it == want_counters.end() ? 0 : it->second;
    if (it != want_counters.end()) want_counters.erase(it);
    auto have = store.counter(Space::kCounters, key);
    if (!have && have.error().code != Code::kCorruption) return fail(have.error());
    if (have && *have == want) continue;
    batch.del(Space::kCounters, key);
    if (want != 0) batch.add(Space::kCounters, key, want);
    r.counters_corrected++;
  }
  for (auto& [key, n] : want_counters) {
    batch.add(Space::kCounters, key, n);
    r.counters_corrected++;
  }
  return flush(store, batch, true);
}

}  // namespace

Result<ReindexReport> reindex_store(storage::Store& store, const RoleCatalog& roles, const ReindexOptions& options) {
  ReindexReport r;
  Progress progress(options);
  Registry registry;
  if (auto st = registry.load(store, roles); !st) return fail(st.error());
  storage::Batch batch;
  batch.put(Space::kMeta, kReindexPendingKey, "1");
  if (auto st = flush(store, batch, true); !st) return fail(st.error());

  progress.step("reindex: 1/4 补写每个实例应有的索引项与定时器（putting what each record implies）");
  Counters want_counters;
  if (auto st = put_implied(store, registry, batch, r, want_counters, progress); !st) return fail(st.error());
  progress.step("reindex: 2/4 查找并删除多余的索引项与定时器（deleting strays）");
  if (auto st = delete_all_strays(store, registry, batch, r, progress); !st) return fail(st.error());
  progress.step("reindex: 3/4 更正统计计数（correcting counters）");
  if (auto st = correct_counters(store, batch, r, std::move(want_counters)); !st) return fail(st.error());

  // 4. One version per key, no deletion left; then the database may take writes again.
  progress.step("reindex: 4/4 压实索引与定时器（compacting the two families）");
  for (storage::Space space : {Space::kIndexes, Space::kTimers}) {
    if (auto st = store.compact_space(space); !st) return fail(st.error());
  }
  batch.del(Space::kMeta, kReindexPendingKey);
  batch.put(Space::kMeta, kIndexFormatKey, kIndexFormat);
  if (auto st = flush(store, batch, true); !st) return fail(st.error());
  return r;
}

}  // namespace pioneer::engine
