// Offline proof that a database is intact: `pioneer verify --data DIR`.
//
// Checks, in one pass over the store: every event decodes; sequences run 1..head with no
// gap; each event's prev_hash is its predecessor's hash (64 zeros for the first) and its hash
// is the digest of its content; the stored head matches; every instance's history lists
// exactly its events 1..version; every index entry, statistics counter and timer agrees with
// what the instance records imply (nothing missing, nothing extra). Reads only.
#pragma once

#include <string>

#include "common/result.h"
#include "engine/definition.h"

namespace pioneer::storage {
class Store;
}

namespace pioneer::engine {

struct VerifyReport {
  bool ok = true;
  uint64_t events_checked = 0;
  uint64_t instances_checked = 0;
  uint64_t first_bad_seq = 0;       // 0 when the log is intact
  std::vector<std::string> problems;  // the first ones found (bounded)
  Json to_json() const;
};

Result<VerifyReport> verify_store(const storage::Store& store, const RoleCatalog& roles);

// Checks an exported dossier (pioneer export) offline: its events chain from prev_hash to
// hash under the named algorithm, in order, for one instance.
VerifyReport verify_dossier(const Json& dossier);

}  // namespace pioneer::engine
