#include "engine/verify.h"

#include <map>
#include <set>

#include "common/crypto.h"
#include "engine/codec.h"
#include "engine/indexer.h"
#include "engine/registry.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace pioneer::engine {

using storage::KeyBuilder;
using storage::Space;

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

Result<VerifyReport> verify_store(const storage::Store& store, const RoleCatalog& roles) {
  VerifyReport r;
  auto algorithm = store.get(Space::kMeta, "hash_algorithm");
  if (!algorithm) return fail(algorithm.error());
  const std::string alg = algorithm->value_or("sha256");
  Registry registry;
  if (auto st = registry.load(store, roles); !st) return fail(st.error());

  // 1. The log: gap-free, chained, each hash right.
  std::string prev(64, '0');
  uint64_t expected = 1;
  std::map<std::string, std::vector<std::pair<int64_t, uint64_t>>> by_instance;  // id -> (instance_seq, seq)
  auto events = store.scan_prefix(Space::kEvents, "");
  for (; events->valid(); events->next()) {
    auto seq = storage::get_u64(events->key());
    auto e = decode_event(events->value());
    const uint64_t at = seq.value_or(0);
    auto bad = [&](const std::string& what) {
      if (r.first_bad_seq == 0) r.first_bad_seq = at;
      problem(r, "事件 " + std::to_string(at) + "：" + what);
    };
    if (!e) {
      bad("无法解析（does not decode）");
    } else {
      if (e->seq != at || at != expected) bad("序号不连续，应为 " + std::to_string(expected) + "（sequence gap or mismatch）");
      if (e->prev_hash != prev) bad("prev_hash 与前一事件不符（prev_hash does not match the previous event）");
      auto h = digest_hex(alg, event_hash_input(*e));
      if (!h || *h != e->hash) bad("哈希不符，内容被改动（hash mismatch: the event was altered）");
      prev = e->hash;
      by_instance[e->instance_id].emplace_back(e->instance_seq, at);
    }
    expected = at + 1;
    r.events_checked++;
  }
  if (auto st = events->status(); !st) return fail(st.error());
  auto head = store.get(Space::kMeta, "head_seq");
  if (!head) return fail(head.error());
  const uint64_t head_seq = *head ? storage::get_u64(**head).value_or(0) : 0;
  if (head_seq != expected - 1) problem(r, "日志头 " + std::to_string(head_seq) + " 与最后事件 " + std::to_string(expected - 1) + " 不符（head mismatch）");

  // 2. Instances against their history, indexes, counters and timers.
  std::set<std::string> want_index, want_timers;
  std::map<std::string, int64_t> want_counters;
  auto instances = store.scan_prefix(Space::kInstances, "");
  for (; instances->valid(); instances->next()) {
    auto in = decode_instance(instances->value());
    r.instances_checked++;
    if (!in) {
      problem(r, "实例记录无法解析：" + std::string(instances->key()));
      continue;
    }
    DefinitionPtr def = registry.get(in->workflow, in->workflow_version);
    if (!def) {
      problem(r, "实例 " + in->id + " 的工作流定义缺失（definition missing）");
      continue;
    }
    for (const auto& entry : index::entries(*def, *in)) want_index.insert(entry.key);
    want_counters[index::counter_key(*in)] += 1;
    for (const ArmedTimer& t : in->timers) {
      want_timers.insert(KeyBuilder().u64(static_cast<uint64_t>(t.due_ms)).text(in->id).text(t.name).build());
    }
    auto& history = by_instance[in->id];
    std::vector<std::pair<int64_t, uint64_t>> listed;
    for (auto c = store.scan_prefix(Space::kInstanceEvents, KeyBuilder().text(in->id).prefix()); c->valid(); c->next()) {
      auto key = c->key();
      auto iseq = storage::get_u64(key.substr(key.size() - 8));
      listed.emplace_back(static_cast<int64_t>(iseq.value_or(0)), storage::get_u64(c->value()).value_or(0));
    }
    std::sort(history.begin(), history.end());
    if (listed != history || static_cast<int64_t>(history.size()) != in->version) {
      problem(r, "实例 " + in->id + " 的历史与事件日志不符（history does not match the log）");
    }
    for (size_t i = 0; i < history.size(); ++i) {
      if (history[i].first != static_cast<int64_t>(i + 1)) {
        problem(r, "实例 " + in->id + " 的事件序号不连续（instance sequence gap）");
        break;
      }
    }
    by_instance.erase(in->id);
  }
  if (auto st = instances->status(); !st) return fail(st.error());
  for (const auto& [id, evs] : by_instance) problem(r, "事件指向不存在的实例 " + id + "（events of a missing instance）");

  std::set<std::string> have_index;
  for (auto c = store.scan_prefix(Space::kIndexes, ""); c->valid(); c->next()) have_index.emplace(c->key());
  for (const auto& k : want_index) {
    if (!have_index.count(k)) problem(r, "缺少索引项（missing index entry） " + hex_encode(k));
  }
  for (const auto& k : have_index) {
    if (!want_index.count(k)) problem(r, "多余的索引项（stray index entry） " + hex_encode(k));
  }
  std::set<std::string> have_timers;
  for (auto c = store.scan_prefix(Space::kTimers, ""); c->valid(); c->next()) have_timers.emplace(c->key());
  if (have_timers != want_timers) problem(r, "定时器与实例不符（timers do not match the instances）");
  for (auto c = store.scan_prefix(Space::kCounters, ""); c->valid(); c->next()) {
    auto n = store.counter(c->key());
    if (!n) return fail(n.error());
    auto it = want_counters.find(std::string(c->key()));
    const int64_t want = it == want_counters.end() ? 0 : it->second;
    if (*n != want) problem(r, "统计计数不符（a statistics counter is off）");
    if (it != want_counters.end()) want_counters.erase(it);
  }
  for (const auto& [k, n] : want_counters) {
    if (n != 0) problem(r, "缺少统计计数（a statistics counter is missing）");
  }
  return r;
}

VerifyReport verify_dossier(const Json& dossier) {
  VerifyReport r;
  const std::string alg = dossier.value("hash_algorithm", std::string("sha256"));
  const Json events = dossier.value("events", Json::array());
  std::string prev;
  for (const Json& j : events) {
    auto e = decode_event(j.dump());
    r.events_checked++;
    if (!e) {
      problem(r, "事件无法解析（an event does not decode）");
      continue;
    }
    auto h = digest_hex(alg, event_hash_input(*e));
    if (!h || *h != e->hash) {
      if (r.first_bad_seq == 0) r.first_bad_seq = e->seq;
      problem(r, "事件 " + std::to_string(e->seq) + " 哈希不符（hash mismatch）");
    }
    if (!prev.empty() && e->instance_seq > 1 && e->prev_hash.empty()) problem(r, "缺少 prev_hash");
    prev = e->hash;
  }
  return r;
}

}  // namespace pioneer::engine
