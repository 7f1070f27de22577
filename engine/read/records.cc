// Single reads through the engine's state: instance records (through the read cache), their
// API views, and their histories.
#include <memory>

#include "engine/core/codec.h"
#include "engine/core/indexer.h"
#include "engine/core/rules.h"
#include "engine/core/spaces.h"
#include "engine/read/reads.h"
#include "storage/keys.h"

namespace pioneer::engine::reads {

Result<std::optional<Instance>> read_instance(const EngineState& s, std::string_view id) {
  auto got = read_instances(s, {std::string(id)});
  if (!got) return fail(got.error());
  if (!(*got)[0]) return std::optional<Instance>();
  return std::optional<Instance>(*(*got)[0]);
}

Result<std::vector<InstanceCache::Ptr>> read_instances(const EngineState& s, const std::vector<std::string>& ids) {
  std::vector<InstanceCache::Ptr> out(ids.size());
  std::vector<std::string> missing;
  std::vector<size_t> where;
  for (size_t i = 0; i < ids.size(); ++i) {
    out[i] = s.read_cache.get(ids[i]);
    if (!out[i]) {
      missing.push_back(ids[i]);
      where.push_back(i);
    }
  }
  if (missing.empty()) return out;
  const uint64_t epoch = s.read_cache.epoch();  // before reading the store: see InstanceCache
  auto got = s.store->multi_get(Space::kInstances, missing);
  if (!got) return fail(got.error());
  for (size_t j = 0; j < missing.size(); ++j) {
    if (!(*got)[j]) continue;
    auto in = decode_instance(*(*got)[j]);
    if (!in) return fail(in.error());
    auto ptr = std::make_shared<const Instance>(std::move(*in));
    s.read_cache.insert_if_current(ptr, epoch);
    out[where[j]] = std::move(ptr);
  }
  return out;
}

Json view(const EngineState& s, const Instance& in, const Principal& who) {
  DefinitionPtr def = s.registry.get(in.workflow, in.workflow_version);
  Json j = instance_json(in, def.get());
  j["actions"] = def ? actions_json(*def, in, who) : Json::array();
  return j;
}

std::string view_text(const EngineState& s, const Instance& in, const Principal& who) {
  DefinitionPtr def = s.registry.get(in.workflow, in.workflow_version);
  return engine::instance_view_text(def.get(), in, who);
}

Result<std::vector<uint64_t>> history_seqs(const EngineState& s, std::string_view id) {
  std::vector<uint64_t> seqs;
  auto cursor = s.store->scan_prefix(Space::kInstanceEvents, index::history_prefix(id));
  for (; cursor->valid(); cursor->next()) {
    auto seq = storage::get_u64(cursor->value());
    if (!seq) return fail(Code::kCorruption, "历史索引损坏（corrupt history index）");
    seqs.push_back(*seq);
  }
  if (auto st = cursor->status(); !st) return fail(st.error());
  return seqs;
}

Result<std::vector<std::string>> read_event_texts(const EngineState& s, const std::vector<uint64_t>& seqs) {
  std::vector<std::string> keys;
  keys.reserve(seqs.size());
  for (uint64_t seq : seqs) keys.push_back(storage::u64_key(seq));
  auto values = s.store->multi_get(Space::kEvents, keys);
  if (!values) return fail(values.error());
  std::vector<std::string> out;
  out.reserve(values->size());
  for (auto& v : *values) {
    if (!v) return fail(Code::kCorruption, "历史事件缺失（an event of the history is missing）");
    out.push_back(std::move(*v));
  }
  return out;
}

Result<std::vector<Event>> read_events(const EngineState& s, const std::vector<uint64_t>& seqs) {
  auto texts = read_event_texts(s, seqs);
  if (!texts) return fail(texts.error());
  std::vector<Event> out;
  out.reserve(texts->size());
  for (const std::string& text : *texts) {
    auto e = decode_event(text);
    if (!e) return fail(e.error());
    out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace pioneer::engine::reads
