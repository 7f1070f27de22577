#include "engine/audit/verify.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "common/crypto.h"
#include "engine/audit/reindex.h"
#include "engine/core/admin_rules.h"
#include "engine/core/codec.h"
#include "engine/core/indexer.h"
#include "engine/core/spaces.h"
#include "engine/write/registry.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace pioneer::engine {

namespace {
constexpr size_t kMaxProblems = 50;

void problem(VerifyReport& r, std::string text) {
  r.ok = false;
  if (r.problems.size() < kMaxProblems) r.problems.push_back(std::move(text));
}
}  // namespace

Json VerifyReport::to_json() const {
  return Json{{"ok", ok}, {"events_checked", events_checked}, {"instances_checked", instances_checked},
              {"first_bad_seq", first_bad_seq == 0 ? Json(nullptr) : Json(first_bad_seq)}, {"problems", problems}};
}

namespace {

// verify_store's phases, run in order by verify_store below; each adds what it finds to the
// report. Memory stays bounded however large the database: nothing is collected per event, per
// index entry or per timer. Each event is checked against its instance's history entry, each
// record against its own history, index entries and timers (point reads); that nothing is left
// over (a stray index entry or timer, history entries beyond the log) follows from the counts
// matching, and only when they do not is the family walked again to name what is extra.
class StoreVerifier {
 public:
  StoreVerifier(const storage::Store& store, const Registry& registry, std::string algorithm, VerifyReport& report)
      : store_(store), registry_(registry), alg_(std::move(algorithm)), r_(report) {}

  // 1. The log: gap-free, chained, each hash right, each event listed in its instance's history.
  Result<void> check_log();
  // 2. Each instance against its history, index entries and timers; the counters it implies.
  Result<void> check_instances();
  // 3. Nothing left over: history entries, index entries, timers, counters.
  Result<void> check_history_entries();
  Result<void> check_index_entries();
  Result<void> check_timers();
  Result<void> check_counters();

 private:
  static constexpr size_t kChunk = 512;

  void check_event(std::string_view stored, uint64_t at);
  Result<void> check_listings();  // the chunk of (history key, seq) gathered by check_log
  Result<void> check_instance(Instance& in);
  Result<void> check_instance_timers(Instance& in);
  Result<void> check_entry_owners(std::vector<std::string>& event_keys,
                                  std::vector<std::pair<std::string, int64_t>>& owners);
  // Does the instance with this id (read back) imply a key, as `has` says? False when absent.
  template <class Has>
  Result<bool> implies(std::string_view id, Has&& has) const;

  const storage::Store& store_;
  const Registry& registry_;
  const std::string alg_;
  VerifyReport& r_;
  // check_log
  std::string prev_ = std::string(64, '0');
  uint64_t expected_ = 1;
  uint64_t directory_events_ = 0;  // in the log, in no history
  std::vector<std::string> listing_keys_;
  std::vector<std::pair<std::string, uint64_t>> listed_as_;  // (instance id, seq) per key
  // check_instances
  uint64_t history_total_ = 0, index_total_ = 0, timer_total_ = 0;
  bool index_missing_ = false, timers_missing_ = false;
  std::map<std::string, int64_t> want_counters_;  // one per (workflow, state, org, ...): small
};

Result<void> StoreVerifier::check_listings() {
  if (listing_keys_.empty()) return {};
  auto got = store_.multi_get(Space::kInstanceEvents, listing_keys_);
  if (!got) return fail(got.error());
  for (size_t i = 0; i < listing_keys_.size(); ++i) {
    const auto& value = (*got)[i];
    if (!value || storage::get_u64(*value) != listed_as_[i].second) {
      problem(r_, "实例 " + listed_as_[i].first + " 的历史未列出事件 " + std::to_string(listed_as_[i].second) +
                      "（history does not match the log）");
    }
  }
  listing_keys_.clear();
  listed_as_.clear();
  return {};
}

void StoreVerifier::check_event(std::string_view stored, uint64_t at) {
  auto bad = [&](const std::string& what) {
    if (r_.first_bad_seq == 0) r_.first_bad_seq = at;
    problem(r_, "事件 " + std::to_string(at) + "：" + what);
  };
  auto e = decode_event(stored);
  if (!e) {
    bad("无法解析（does not decode）");
    return;
  }
  if (e->seq != at || at != expected_) bad("序号不连续，应为 " + std::to_string(expected_) + "（sequence gap or mismatch）");
  if (e->prev_hash != prev_) bad("prev_hash 与前一事件不符（prev_hash does not match the previous event）");
  auto h = digest_hex(alg_, event_hash_input(*e));
  if (!h || *h != e->hash) {
    bad("哈希不符，内容被改动（hash mismatch: the event was altered）");
  } else if (stored != encode_event(*e)) {
    // Same decoded value, other bytes: someone edited the record (a time rewritten in
    // another form, a key added). The writer only ever stores the canonical encoding.
    bad("记录不是规范编码，已被改动（the stored record is not in canonical form: it was edited）");
  }
  prev_ = e->hash;
  if (e->type == kDirectoryEvent) {
    // A directory change: chained and hashed like the rest, in no instance's history.
    if (!e->instance_id.empty()) bad("目录事件不应属于实例（a directory event names an instance）");
    directory_events_++;
    return;
  }
  listing_keys_.push_back(index::history_key(e->instance_id, e->instance_seq));
  listed_as_.emplace_back(e->instance_id, at);
}

Result<void> StoreVerifier::check_log() {
  auto events = store_.scan_prefix(Space::kEvents, "");
  for (; events->valid(); events->next()) {
    const uint64_t at = storage::get_u64(events->key()).value_or(0);
    check_event(events->value(), at);
    if (listing_keys_.size() == kChunk) {
      if (auto st = check_listings(); !st) return fail(st.error());
    }
    expected_ = at + 1;
    r_.events_checked++;
  }
  if (auto st = events->status(); !st) return fail(st.error());
  if (auto st = check_listings(); !st) return fail(st.error());
  auto head = store_.get(Space::kMeta, "head_seq");
  if (!head) return fail(head.error());
  const uint64_t head_seq = *head ? storage::get_u64(**head).value_or(0) : 0;
  if (head_seq != expected_ - 1) {
    problem(r_, "日志头 " + std::to_string(head_seq) + " 与最后事件 " + std::to_string(expected_ - 1) + " 不符（head mismatch）");
  }
  return {};
}

Result<void> StoreVerifier::check_instance_timers(Instance& in) {
  std::vector<std::string> keys;
  for (const ArmedTimer& t : in.timers) keys.push_back(index::timer_key(t, in.id));
  if (std::set<std::string>(keys.begin(), keys.end()).size() != keys.size()) {
    // One key in the family stands for both: counted once, so that the count finds strays.
    problem(r_, "实例 " + in.id + " 的记录中有重复的定时器（a timer is listed twice in the record）");
    std::vector<ArmedTimer> once;
    std::set<std::string> seen;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (seen.insert(keys[i]).second) once.push_back(in.timers[i]);
    }
    in.timers = std::move(once);
    keys.clear();
    for (const ArmedTimer& t : in.timers) keys.push_back(index::timer_key(t, in.id));
  }
  auto armed = store_.multi_get(Space::kTimers, keys);
  if (!armed) return fail(armed.error());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!(*armed)[i]) {
      timers_missing_ = true;
      problem(r_, "实例 " + in.id + " 的定时器 " + in.timers[i].name + " 缺失（a timer is missing）");
    }
  }
  timer_total_ += keys.size();
  return {};
}

Result<void> StoreVerifier::check_instance(Instance& in) {
  DefinitionPtr def = registry_.get(in.workflow, in.workflow_version);
  if (!def) {
    problem(r_, "实例 " + in.id + " 的工作流定义缺失（definition missing）");
    return {};
  }
  const std::vector<index::Entry> entries = index::entries(*def, in);
  std::vector<std::string> keys;
  keys.reserve(entries.size());
  for (const auto& entry : entries) keys.push_back(entry.key);
  auto have = store_.multi_get(Space::kIndexes, keys);
  if (!have) return fail(have.error());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!(*have)[i] || *(*have)[i] != entries[i].value) {
      index_missing_ = true;
      problem(r_, "实例 " + in.id + " 缺少索引项或其标记不符（missing or mistagged index entry） " + hex_encode(entries[i].key));
    }
  }
  index_total_ += entries.size();
  want_counters_[index::counter_key(in)] += 1;
  if (auto st = check_instance_timers(in); !st) return fail(st.error());

  // The history lists 1..version (check_log proved each listed event is the right one).
  int64_t listed = 0;
  bool contiguous = true;
  for (auto c = store_.scan_prefix(Space::kInstanceEvents, index::history_prefix(in.id)); c->valid(); c->next()) {
    auto key = c->key();
    if (key.size() < 8 || storage::get_u64(key.substr(key.size() - 8)) != static_cast<uint64_t>(listed + 1)) contiguous = false;
    ++listed;
  }
  if (!contiguous) problem(r_, "实例 " + in.id + " 的事件序号不连续（instance sequence gap）");
  if (listed != in.version) problem(r_, "实例 " + in.id + " 的历史与事件日志不符（history does not match the log）");
  history_total_ += static_cast<uint64_t>(listed);
  return {};
}

Result<void> StoreVerifier::check_instances() {
  auto instances = store_.scan_prefix(Space::kInstances, "");
  for (; instances->valid(); instances->next()) {
    auto in = decode_instance(instances->value());
    r_.instances_checked++;
    if (!in) {
      problem(r_, "实例记录无法解析：" + std::string(instances->key()));
      continue;
    }
    if (in->id != instances->key()) {
      // A copy under another key would imply the instance's keys twice and hide strays from the
      // counts below; reindex leaves such a record alone.
      problem(r_, "实例记录 " + std::string(instances->key()) + " 中的编号是 " + in->id + "，与其键不符（a record's id differs from its key）");
      continue;
    }
    if (auto st = check_instance(*in); !st) return fail(st.error());
  }
  return instances->status();
}

Result<void> StoreVerifier::check_entry_owners(std::vector<std::string>& event_keys,
                                               std::vector<std::pair<std::string, int64_t>>& owners) {
  auto got = store_.multi_get(Space::kEvents, event_keys);
  if (!got) return fail(got.error());
  for (size_t i = 0; i < event_keys.size(); ++i) {
    auto e = (*got)[i] ? decode_event(*(*got)[i]) : Result<Event>(fail(Code::kNotFound, ""));
    if (!e || e->instance_id != owners[i].first || e->instance_seq != owners[i].second) {
      problem(r_, "实例 " + owners[i].first + " 的历史条目 " + std::to_string(owners[i].second) +
                      " 指向别的事件（a history entry points at another event）");
    }
  }
  event_keys.clear();
  owners.clear();
  return {};
}

// History entries: as many as events, or some point at another instance's event, or belong to
// an instance with no record.
Result<void> StoreVerifier::check_history_entries() {
  if (history_total_ + directory_events_ == r_.events_checked) return {};
  std::string last_id;
  std::vector<std::string> event_keys;
  std::vector<std::pair<std::string, int64_t>> owners;
  for (auto c = store_.scan_prefix(Space::kInstanceEvents, ""); c->valid() && r_.problems.size() < kMaxProblems; c->next()) {
    auto key = c->key();
    if (key.size() < 9) continue;
    const std::string id(key.substr(0, key.size() - 9));
    if (id != last_id) {
      last_id = id;
      auto record = store_.get(Space::kInstances, id);
      if (!record) return fail(record.error());
      if (!*record) problem(r_, "事件指向不存在的实例 " + id + "（events of a missing instance）");
    }
    event_keys.push_back(storage::u64_key(storage::get_u64(c->value()).value_or(0)));
    owners.emplace_back(id, static_cast<int64_t>(storage::get_u64(key.substr(key.size() - 8)).value_or(0)));
    if (event_keys.size() == kChunk) {
      if (auto st = check_entry_owners(event_keys, owners); !st) return fail(st.error());
    }
  }
  return check_entry_owners(event_keys, owners);
}

template <class Has>
Result<bool> StoreVerifier::implies(std::string_view id, Has&& has) const {
  auto record = store_.get(Space::kInstances, id);
  if (!record) return fail(record.error());
  if (!*record) return false;
  auto in = decode_instance(**record);
  if (!in) return false;
  return has(*in);
}

// Index entries and timers: counted; walked again only to name extra ones. The instance each
// belongs to is read back and asked whether it implies that key.
Result<void> StoreVerifier::check_index_entries() {
  uint64_t count = 0;
  for (auto c = store_.scan_prefix(Space::kIndexes, ""); c->valid(); c->next()) ++count;
  if (count == index_total_ && !index_missing_) return {};
  for (auto c = store_.scan_prefix(Space::kIndexes, ""); c->valid() && r_.problems.size() < kMaxProblems; c->next()) {
    const std::string key(c->key());
    auto kept = implies(index::id_of(key), [&](const Instance& in) {
      DefinitionPtr def = registry_.get(in.workflow, in.workflow_version);
      if (!def) return false;
      auto want = index::entries(*def, in);
      return std::any_of(want.begin(), want.end(), [&](const index::Entry& e) { return e.key == key; });
    });
    if (!kept) return fail(kept.error());
    if (!*kept) problem(r_, "多余的索引项（stray index entry） " + hex_encode(key));
  }
  return {};
}

Result<void> StoreVerifier::check_timers() {
  uint64_t count = 0;
  for (auto c = store_.scan_prefix(Space::kTimers, ""); c->valid(); c->next()) ++count;
  if (count == timer_total_ && !timers_missing_) return {};
  for (auto c = store_.scan_prefix(Space::kTimers, ""); c->valid() && r_.problems.size() < kMaxProblems; c->next()) {
    auto timer = index::parse_timer_key(c->key());
    Result<bool> kept = false;
    if (timer) {
      kept = implies(timer->id, [&](const Instance& in) {
        return std::any_of(in.timers.begin(), in.timers.end(),
                           [&](const ArmedTimer& t) { return t.name == timer->name && t.due_ms == timer->due_ms; });
      });
      if (!kept) return fail(kept.error());
    }
    if (!*kept) problem(r_, "多余的定时器（stray timer） " + hex_encode(c->key()));
  }
  return {};
}

Result<void> StoreVerifier::check_counters() {
  for (auto c = store_.scan_prefix(Space::kCounters, ""); c->valid(); c->next()) {
    auto n = store_.counter(Space::kCounters, c->key());
    if (!n && n.error().code != Code::kCorruption) return fail(n.error());
    auto it = want_counters_.find(std::string(c->key()));
    const int64_t want = it == want_counters_.end() ? 0 : it->second;
    if (!n) {
      problem(r_, "统计计数的值无效（a statistics counter is not a number） " + hex_encode(c->key()));
    } else if (*n != want) {
      problem(r_, "统计计数不符（a statistics counter is off）");
    }
    if (it != want_counters_.end()) want_counters_.erase(it);
  }
  for (const auto& [k, n] : want_counters_) {
    if (n != 0) problem(r_, "缺少统计计数（a statistics counter is missing）");
  }
  return {};
}

}  // namespace

Result<VerifyReport> verify_store(const storage::Store& store, const RoleCatalog& roles) {
  VerifyReport r;
  auto algorithm = store.get(Space::kMeta, "hash_algorithm");
  if (!algorithm) return fail(algorithm.error());
  // A reindex that stopped half-way left derived families half rebuilt; serve refuses such a
  // database, so verify (and backup, which verifies its copy) must not call it intact.
  auto pending = store.get(Space::kMeta, kReindexPendingKey);
  if (!pending) return fail(pending.error());
  if (*pending) {
    problem(r, "上次的重建索引没有完成，请运行 pioneer reindex（a reindex was interrupted: run pioneer reindex）");
  }
  Registry registry;
  if (auto st = registry.load(store, roles); !st) return fail(st.error());
  StoreVerifier v(store, registry, algorithm->value_or("sha256"), r);
  for (auto phase : {&StoreVerifier::check_log, &StoreVerifier::check_instances, &StoreVerifier::check_history_entries,
                     &StoreVerifier::check_index_entries, &StoreVerifier::check_timers, &StoreVerifier::check_counters}) {
    if (auto st = (v.*phase)(); !st) return fail(st.error());
  }
  return r;
}

namespace {

constexpr std::string_view kDossierFormat = "pioneer-dossier/1";
const std::string kZeroHash(64, '0');

bool is_hash(const Json& j) {
  if (!j.is_string()) return false;
  const std::string& s = j.get_ref<const std::string&>();
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string str_of(const Json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "事件 seq 1042（本实例第 3 个，transitioned assign）" — how a problem names an event.
std::string event_name(const Json& j, size_t index) {
  std::string name = "事件 seq ";
  auto seq = j.is_object() ? j.find("seq") : j.end();
  name += (j.is_object() && seq != j.end()) ? seq->dump() : std::string("?");
  name += "（本实例第 " + std::to_string(index + 1) + " 个";
  if (const std::string type = str_of(j, "type"); !type.empty()) name += "，" + type;
  if (const std::string tr = str_of(j, "transition"); !tr.empty()) name += " " + tr;
  name += "；event #" + std::to_string(index + 1) + " of the instance）";
  return name;
}

std::string now_text() {
  using namespace std::chrono;
  return format_time(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace

Result<Json> export_dossier(const storage::Store& store, const RoleCatalog& roles, std::string_view instance_id) {
  auto algorithm = store.get(Space::kMeta, "hash_algorithm");
  if (!algorithm) return fail(algorithm.error());
  auto raw = store.get(Space::kInstances, instance_id);
  if (!raw) return fail(raw.error());
  if (!*raw) return fail(Code::kNotFound, "没有此实例（no such instance）: " + std::string(instance_id));
  auto in = decode_instance(**raw);
  if (!in) return fail(in.error());

  // The definition version the instance runs on, as registered. A definition that no longer
  // parses (roles changed) is still exported; only the labels of the instance view go missing.
  auto def_raw = store.get(Space::kDefinitions, Registry::key(in->workflow, in->workflow_version));
  if (!def_raw) return fail(def_raw.error());
  Json source = *def_raw ? Json::parse(**def_raw, nullptr, false) : Json(nullptr);
  if (source.is_discarded()) return fail(Code::kCorruption, "工作流定义记录损坏（corrupt stored definition）");
  std::optional<Definition> def;
  if (source.is_object()) {
    if (auto parsed = parse_definition(source, roles)) def = std::move(*parsed);
  }

  std::vector<std::string> keys;
  for (auto c = store.scan_prefix(Space::kInstanceEvents, index::history_prefix(in->id)); c->valid(); c->next()) {
    keys.push_back(storage::u64_key(storage::get_u64(c->value()).value_or(0)));
  }
  auto stored = store.multi_get(Space::kEvents, keys);
  if (!stored) return fail(stored.error());
  Json events = Json::array();
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto& bytes = (*stored)[i];
    Json e = bytes ? Json::parse(*bytes, nullptr, false) : Json(nullptr);
    if (!e.is_object()) {
      return fail(Code::kCorruption, "实例 " + in->id + " 的第 " + std::to_string(i + 1) +
                                         " 个事件缺失或损坏（an event of the instance is missing or corrupt）");
    }
    events.push_back(std::move(e));
  }

  // The versions the instance ran under before a migration, so that its earlier events can be
  // read against the rules they were made under.
  Json earlier = Json::array();
  std::set<int64_t> seen;
  for (const Json& e : events) {
    if (str_of(e, "type") != "migrated") continue;
    const Json previous = e.value("changes", Json::object()).value("previous_version", Json());
    if (!previous.is_number_integer() || !seen.insert(previous.get<int64_t>()).second) continue;
    const int version = static_cast<int>(previous.get<int64_t>());
    auto raw_def = store.get(Space::kDefinitions, Registry::key(in->workflow, version));
    if (!raw_def) return fail(raw_def.error());
    Json earlier_source = *raw_def ? Json::parse(**raw_def, nullptr, false) : Json(nullptr);
    if (earlier_source.is_discarded()) return fail(Code::kCorruption, "工作流定义记录损坏（corrupt stored definition）");
    earlier.push_back({{"id", in->workflow}, {"version", version}, {"source", std::move(earlier_source)}});
  }

  Json head = Json{{"seq", 0}, {"hash", kZeroHash}};
  auto head_raw = store.get(Space::kMeta, "head_seq");
  if (!head_raw) return fail(head_raw.error());
  if (*head_raw) {
    const uint64_t head_seq = storage::get_u64(**head_raw).value_or(0);
    auto head_event = store.get(Space::kEvents, storage::u64_key(head_seq));
    if (!head_event) return fail(head_event.error());
    if (*head_event) {
      if (auto e = decode_event(**head_event)) head = Json{{"seq", head_seq}, {"hash", e->hash}};
    }
  }

  return Json{{"format", kDossierFormat},
              {"hash_algorithm", algorithm->value_or("sha256")},
              {"exported_at", now_text()},
              {"instance", instance_json(*in, def ? &*def : nullptr)},
              {"definition", {{"id", in->workflow}, {"version", in->workflow_version}, {"source", source}}},
              {"earlier_definitions", std::move(earlier)},
              {"events", std::move(events)},
              {"log_head", std::move(head)}};
}

namespace {

// Where a dossier's walk along its events ended, for the checks that follow it.
struct ChainEnd {
  uint64_t seq = 0;          // the last event's global seq
  std::string hash;          // its hash ("" after an event that does not decode)
  const Json* last = nullptr;
  std::string state;         // where the events lead
  std::vector<Json> earlier_versions;  // previous_version of each migrated event, each once
};

// The dossier's own fields: format, hash algorithm, instance record, its definition.
void check_dossier_header(const Json& dossier, VerifyReport& r) {
  if (str_of(dossier, "format") != kDossierFormat) {
    problem(r, "档案格式不是 " + std::string(kDossierFormat) + "（unknown dossier format）");
  }
  const std::string alg = str_of(dossier, "hash_algorithm");
  if (!digest_hex(alg, "")) problem(r, "未知的哈希算法（unknown hash_algorithm）: " + alg);
  const Json instance = dossier.value("instance", Json());
  const std::string id = str_of(instance, "id");
  const std::string workflow = str_of(instance, "workflow");
  if (id.empty() || workflow.empty()) problem(r, "档案缺少实例记录（the dossier has no instance record）");
  r.instances_checked = id.empty() ? 0 : 1;
  const Json definition = dossier.value("definition", Json());
  const Json wf_version = instance.is_object() ? instance.value("workflow_version", Json()) : Json();
  if (!definition.is_object() || str_of(definition, "id") != workflow || definition.value("version", Json()) != wf_version ||
      !definition.value("source", Json()).is_object() || str_of(definition["source"], "id") != workflow) {
    problem(r, "档案中的工作流定义与实例不符（the included definition is not the instance's version）");
  }
}

// One event of the dossier, the i-th of the instance, against the one before it (`end`).
void check_dossier_event(const Json& j, size_t i, const std::string& alg, const std::string& id,
                         const std::string& workflow, ChainEnd& end, VerifyReport& r) {
  r.events_checked++;
  const std::string name = event_name(j, i);
  const uint64_t seq = j.is_object() && j.value("seq", Json()).is_number_unsigned() ? j["seq"].get<uint64_t>() : 0;
  auto bad = [&](const std::string& what) {
    if (r.first_bad_seq == 0) r.first_bad_seq = seq == 0 ? 1 : seq;
    problem(r, name + "：" + what);
  };
  auto e = j.is_object() ? decode_event(j.dump()) : Result<Event>(fail(Code::kCorruption, "not an object"));
  if (!e || seq == 0) {
    bad("无法解析（does not decode as an event）");
    end.hash.clear();
    return;
  }
  // The hash covers exactly the stored bytes less "hash": recompute it from the object as
  // given, so any edit of any key shows, then insist on the canonical form the writer stores.
  Json content = j;
  content.erase("hash");
  auto h = digest_hex(alg, content.dump());
  if (!is_hash(j.value("hash", Json())) || !is_hash(j.value("prev_hash", Json()))) {
    bad("hash 或 prev_hash 不是 64 位小写十六进制（hash or prev_hash is not 64 lowercase hex digits）");
  } else if (!h || *h != e->hash) {
    bad("哈希不符，内容被改动（hash mismatch: the event's content was altered）");
  } else if (j.dump() != encode_event(*e)) {
    bad("不是规范编码，已被改动（not in canonical form: the event was edited）");
  }
  if (e->instance_id != id) bad("不属于此实例（belongs to another instance: " + e->instance_id + "）");
  if (e->workflow != workflow) bad("工作流不符（workflow differs from the instance's）");
  if (e->instance_seq != static_cast<int64_t>(i + 1)) {
    bad("实例内序号应为 " + std::to_string(i + 1) + "，实为 " + std::to_string(e->instance_seq) +
        "（instance_seq gap or disorder）");
  }
  if (i == 0 && e->type != "created") bad("第一个事件不是 created（the first event is not `created`）");
  if (i > 0 && seq <= end.seq) bad("全局序号未递增（global seq does not increase）");
  if (seq == 1 && e->prev_hash != kZeroHash) bad("首个事件的 prev_hash 应为 64 个 0（the first event's prev_hash must be zeros）");
  if (i > 0 && seq == end.seq + 1 && !end.hash.empty() && e->prev_hash != end.hash) {
    bad("prev_hash 不是前一事件（seq " + std::to_string(end.seq) +
        "）的哈希，链条断裂（prev_hash is not the hash of its global predecessor: chain broken）");
  }
  if (e->to) end.state = *e->to;
  if (e->type == "migrated") {
    const Json previous = e->changes.value("previous_version", Json());
    if (previous.is_number_integer() &&
        std::find(end.earlier_versions.begin(), end.earlier_versions.end(), previous) == end.earlier_versions.end()) {
      end.earlier_versions.push_back(previous);
    }
  }
  end.seq = seq;
  end.hash = e->hash;
  end.last = &j;
}

// The definitions the instance ran under before its migrations: one for each version its
// (hash-chained) `migrated` events name, in their order, as the export writes them.
void check_earlier_definitions(const Json& dossier, const std::string& workflow, const ChainEnd& end, VerifyReport& r) {
  const Json earlier = dossier.value("earlier_definitions", Json::array());
  bool ok = earlier.is_array() && earlier.size() == end.earlier_versions.size();
  for (size_t i = 0; ok && i < earlier.size(); ++i) {
    const Json& d = earlier[i];
    ok = d.is_object() && str_of(d, "id") == workflow && d.value("version", Json()) == end.earlier_versions[i] &&
         d.value("source", Json()).is_object() && str_of(d["source"], "id") == workflow &&
         d["source"].value("version", Json()) == end.earlier_versions[i];
  }
  if (!ok) {
    problem(r, "档案中的早期工作流定义与迁移事件不符（earlier_definitions do not match the versions the migrated events name）");
  }
}

// The instance record against its history, and the log head against the last event.
void check_dossier_ends(const Json& dossier, size_t event_count, const ChainEnd& end, VerifyReport& r) {
  const Json instance = dossier.value("instance", Json());
  if (instance.is_object()) {
    if (instance.value("version", Json()) != Json(event_count)) {
      problem(r, "实例版本 " + instance.value("version", Json()).dump() + " 与事件数 " + std::to_string(event_count) +
                     " 不符（the instance's version does not match its events）");
    }
    if (end.last != nullptr && end.last->is_object()) {
      if (str_of(*end.last, "org") != str_of(instance, "org") ||
          str_of(*end.last, "assignee_org") != str_of(instance, "assignee_org")) {
        problem(r, "实例的单位与最后事件不符（org or assignee_org differs from the last event）");
      }
    }
    if (!end.state.empty() && end.state != str_of(instance, "state")) {
      problem(r, "实例状态 " + str_of(instance, "state") + " 与事件所至状态 " + end.state +
                     " 不符（the instance's state is not where its events lead）");
    }
  }
  const Json head = dossier.value("log_head", Json());
  if (!head.is_object() || !head.value("seq", Json()).is_number_unsigned() || !is_hash(head.value("hash", Json()))) {
    problem(r, "档案缺少 log_head（the dossier has no log_head）");
    return;
  }
  const uint64_t head_seq = head["seq"].get<uint64_t>();
  if (head_seq < end.seq) problem(r, "log_head 早于最后事件（log_head precedes the last event）");
  if (head_seq == end.seq && head["hash"].get<std::string>() != end.hash) {
    problem(r, "log_head 的哈希与最后事件不符（log_head's hash is not the last event's）");
  }
}

}  // namespace

VerifyReport verify_dossier(const Json& dossier) {
  VerifyReport r;
  if (!dossier.is_object()) {
    problem(r, "档案不是 JSON 对象（the dossier is not a JSON object）");
    return r;
  }
  check_dossier_header(dossier, r);
  const Json events = dossier.value("events", Json());
  if (!events.is_array() || events.empty()) {
    problem(r, "档案没有事件（the dossier has no events）");
    return r;
  }
  const Json instance = dossier.value("instance", Json());
  const std::string alg = str_of(dossier, "hash_algorithm");
  const std::string id = str_of(instance, "id");
  const std::string workflow = str_of(instance, "workflow");
  ChainEnd end;
  for (size_t i = 0; i < events.size(); ++i) check_dossier_event(events[i], i, alg, id, workflow, end, r);
  check_earlier_definitions(dossier, workflow, end, r);
  check_dossier_ends(dossier, events.size(), end, r);
  return r;
}

Result<VerifyReport> verify_dossier_against_store(const Json& dossier, const storage::Store& store,
                                                  const RoleCatalog& roles) {
  VerifyReport r = verify_dossier(dossier);
  if (!dossier.is_object() || !dossier.value("events", Json()).is_array()) return r;
  auto algorithm = store.get(Space::kMeta, "hash_algorithm");
  if (!algorithm) return fail(algorithm.error());
  if (algorithm->value_or("sha256") != str_of(dossier, "hash_algorithm")) {
    problem(r, "哈希算法与数据库不符（hash_algorithm differs from the database's）");
  }
  const std::string id = str_of(dossier.value("instance", Json()), "id");
  std::vector<uint64_t> stored_seqs;
  for (auto c = store.scan_prefix(Space::kInstanceEvents, index::history_prefix(id)); c->valid(); c->next()) {
    stored_seqs.push_back(storage::get_u64(c->value()).value_or(0));
  }
  std::vector<uint64_t> dossier_seqs;
  const Json& events = dossier["events"];
  for (size_t i = 0; i < events.size(); ++i) {
    const Json& j = events[i];
    if (!j.is_object() || !j.value("seq", Json()).is_number_unsigned()) continue;
    const uint64_t seq = j["seq"].get<uint64_t>();
    dossier_seqs.push_back(seq);
    auto bytes = store.get(Space::kEvents, storage::u64_key(seq));
    if (!bytes) return fail(bytes.error());
    if (!*bytes || **bytes != j.dump()) {
      if (r.first_bad_seq == 0) r.first_bad_seq = seq;
      problem(r, event_name(j, i) + "：与数据库中的记录不同（differs from the event stored in the database）");
    }
  }
  if (stored_seqs != dossier_seqs) {
    problem(r, "档案的事件与数据库中此实例的历史不符（the dossier's events are not the instance's stored history: " +
                   std::to_string(dossier_seqs.size()) + " in the dossier, " + std::to_string(stored_seqs.size()) +
                   " stored）");
  }
  // The snapshot and the definition are outside the hash chain; an export now must give them
  // byte for byte, or an edited title would pass.
  if (auto fresh = export_dossier(store, roles, id)) {
    if (dossier.value("instance", Json()) != (*fresh)["instance"]) {
      problem(r, "档案中的实例快照与数据库不同（the dossier's instance snapshot differs from the database's）");
    }
    if (dossier.value("definition", Json()) != (*fresh)["definition"] ||
        dossier.value("earlier_definitions", Json::array()) != (*fresh)["earlier_definitions"]) {
      problem(r, "档案中的工作流定义与数据库不同（the dossier's definition differs from the database's）");
    }
  } else if (fresh.error().code == Code::kNotFound) {
    problem(r, "数据库中没有此实例（the database has no such instance）");
  } else {
    return fail(fresh.error());
  }
  const Json head = dossier.value("log_head", Json());
  if (head.is_object() && head.value("seq", Json()).is_number_unsigned() && head["seq"].get<uint64_t>() > 0) {
    auto bytes = store.get(Space::kEvents, storage::u64_key(head["seq"].get<uint64_t>()));
    if (!bytes) return fail(bytes.error());
    auto e = *bytes ? decode_event(**bytes) : Result<Event>(fail(Code::kNotFound, ""));
    if (!e || e->hash != str_of(head, "hash")) {
      problem(r, "log_head 与数据库的日志不符（log_head is not in the database's log）");
    }
  }
  return r;
}

Json BackupReport::to_json() const { return Json{{"attempts", attempts}, {"verified", verified.to_json()}}; }

Result<BackupReport> backup_store(const std::string& data_dir, const std::string& dest, const RoleCatalog& roles,
                                  int max_attempts, const std::function<void(const std::string&)>& log) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // RocksDB builds the checkpoint in DEST.tmp and renames it.
  const std::string tmp = dest + ".tmp";
  if (fs::exists(dest, ec) || fs::exists(tmp, ec)) {
    return fail(Code::kBadRequest, "备份目标已存在（the backup destination exists）: " + dest);
  }
  if (!fs::is_directory(data_dir, ec)) {
    return fail(Code::kNotFound, "数据目录不存在（no data folder）: " + data_dir);
  }
  // A copy inside the live folder is no backup: removing the folder removes it too (its files
  // are hard links to the same tables).
  std::error_code source_ec, dest_ec;
  const fs::path source_path = fs::weakly_canonical(data_dir, source_ec);
  const fs::path dest_path = fs::weakly_canonical(dest, dest_ec);
  if (!source_ec && !dest_ec && !source_path.empty()) {
    auto [s, d] = std::mismatch(source_path.begin(), source_path.end(), dest_path.begin(), dest_path.end());
    if (s == source_path.end()) {
      return fail(Code::kBadRequest, "备份目标不能在数据目录之内（the backup destination cannot be inside the data folder）: " + dest);
    }
  }
  storage::StoreOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  Error last = Error::make(Code::kInternal, "no attempt made");
  for (int attempt = 1; attempt <= std::max(1, max_attempts); ++attempt) {
    // Only a copy this attempt made is ours to delete: a checkpoint that failed may have failed
    // because another backup to the same place is under way (RocksDB cleans up its own staging
    // folder when it fails).
    bool made_copy = false;
    auto failed = [&](Error e) {
      if (log) log("attempt " + std::to_string(attempt) + " failed: " + e.message);
      last = std::move(e);
      if (made_copy) fs::remove_all(dest, ec);
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
    };
    {
      auto source = storage::Store::open(data_dir, engine::store_layout(), options);
      if (!source) {
        failed(source.error());
        continue;
      }
      if (auto st = (*source)->checkpoint(dest); !st) {
        failed(st.error());
        if (fs::exists(dest, ec)) return fail(last);  // someone else's copy now stands there
        continue;
      }
      made_copy = true;
    }
    auto copy = storage::Store::open(dest, engine::store_layout(), options);
    if (!copy) {
      failed(copy.error());
      continue;
    }
    auto report = verify_store(**copy, roles);
    copy->reset();
    if (!report) {
      failed(report.error());
      continue;
    }
    if (!report->ok) {
      failed(Error::make(Code::kCorruption,
                         "备份副本未通过校验（the copy does not verify）: " +
                             (report->problems.empty() ? std::string() : report->problems.front()),
                         report->to_json()));
      continue;
    }
    return BackupReport{attempt, *report};
  }
  return fail(last);
}

}  // namespace pioneer::engine
