// Registry: every registered version of every workflow definition, in memory.
//
// Loaded from the store at open; the writer adds a version after the batch that stores it is
// durable. Thread-safe (shared mutex). Definitions are immutable once built, so a DefinitionPtr
// may be used after the lock is released.
#pragma once

#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "engine/core/definition.h"

namespace pioneer::storage {
class Store;
}

namespace pioneer::engine {

class Registry {
 public:
  Result<void> load(const storage::Store& store, const RoleCatalog& roles);
  DefinitionPtr latest(std::string_view id) const;  // nullptr when unknown
  DefinitionPtr get(std::string_view id, int version) const;
  std::vector<DefinitionPtr> latest_all() const;
  void add(DefinitionPtr def);

  static std::string key(std::string_view id, int version);

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::map<int, DefinitionPtr>, std::less<>> defs_;
};

}  // namespace pioneer::engine
