#include "engine/write/registry.h"

#include <mutex>

#include "engine/core/spaces.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace pioneer::engine {

std::string Registry::key(std::string_view id, int version) {
  return storage::KeyBuilder().text(id).u64(static_cast<uint64_t>(version)).build();
}

Result<void> Registry::load(const storage::Store& store, const RoleCatalog& roles) {
  std::map<std::string, std::map<int, DefinitionPtr>, std::less<>> loaded;
  auto cursor = store.scan_prefix(Space::kDefinitions, "");
  for (; cursor->valid(); cursor->next()) {
    Json json = Json::parse(cursor->value(), nullptr, false);
    if (json.is_discarded()) return fail(Code::kCorruption, "工作流定义记录损坏（corrupt stored definition）");
    auto def = parse_definition(json, roles);
    if (!def) {
      // A stored definition that no longer validates (for example a role was removed from
      // the configuration) must not be silently dropped: instances depend on it.
      return fail(Code::kInvalidDefinition,
                  "已存储的工作流定义 " + json.value("id", std::string("?")) + " 不再有效（a stored definition no longer validates: " +
                      def.error().message + "）",
                  def.error().details());
    }
    auto ptr = std::make_shared<const Definition>(std::move(*def));
    loaded[ptr->id][ptr->version] = ptr;
  }
  if (auto st = cursor->status(); !st) return st;
  std::unique_lock lock(mu_);
  defs_ = std::move(loaded);
  return {};
}

DefinitionPtr Registry::latest(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = defs_.find(id);
  if (it == defs_.end() || it->second.empty()) return nullptr;
  return it->second.rbegin()->second;
}

DefinitionPtr Registry::get(std::string_view id, int version) const {
  std::shared_lock lock(mu_);
  auto it = defs_.find(id);
  if (it == defs_.end()) return nullptr;
  auto v = it->second.find(version);
  return v == it->second.end() ? nullptr : v->second;
}

std::vector<DefinitionPtr> Registry::latest_all() const {
  std::shared_lock lock(mu_);
  std::vector<DefinitionPtr> out;
  for (const auto& [id, versions] : defs_) {
    if (!versions.empty()) out.push_back(versions.rbegin()->second);
  }
  return out;
}

void Registry::add(DefinitionPtr def) {
  std::unique_lock lock(mu_);
  defs_[def->id][def->version] = std::move(def);
}

}  // namespace pioneer::engine
