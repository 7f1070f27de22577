// Offline proof that a database is intact: `pioneer verify --data DIR`.
//
// Checks: every event decodes; sequences run 1..head with no gap; each event's prev_hash is
// its predecessor's hash (64 zeros for the first) and its hash is the digest of its content;
// the stored head matches; every instance's history lists exactly its events 1..version;
// every index entry, statistics counter and timer agrees with what the instance records imply
// (nothing missing, nothing extra); every event is stored in canonical form (so an edit that
// keeps the decoded value, such as reformatting a time or adding a key, is caught too).
// Reads only, in memory that does not grow with the database (a walk of the log, one of the
// instances with point reads of what each implies, and counts; see verify_store).
// 1,000,000 instances: see bench/README.md.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "engine/core/definition.h"

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

// ---- Dossiers: one instance's history, exported for an inspector (pioneer export) ----
//
// A dossier is a JSON object:
//   {"format": "pioneer-dossier/1", "hash_algorithm": "sha256"|"sm3", "exported_at": TIME,
//    "instance": {API view of the instance record},
//    "definition": {"id", "version", "source": {the definition version as registered}},
//    "earlier_definitions": [the versions it ran under before each `migrated` event, in the
//                            order of those events, each once, in the shape of "definition"],
//    "events": [every event of the instance, oldest first, exactly as stored: seq,
//               instance_seq, ..., prev_hash (the hash of the event's GLOBAL predecessor,
//               which may belong to another instance), hash],
//    "log_head": {"seq": N, "hash": H}}   (the global log's newest event when exported)
//
// What verify_dossier() proves, offline, from the file alone:
//   - each event is in canonical form and its hash is the digest of its content
//     (event_hash_input), so an event edited without recomputing its hash is caught, by name;
//   - the events all belong to the instance, instance_seq runs 1..N with no gap, global seq
//     rises, and N is the instance's version; the first event is `created`;
//   - where two of the instance's events are adjacent in the global log (seq, seq+1), the later
//     one's prev_hash is the earlier one's hash; an event at seq 1 has the zero prev_hash; the
//     last event agrees with log_head when it is the head;
//   - the instance record agrees with its last event (org, assignee org, state) and the
//     definition named by the instance is the one included.
// What it cannot prove alone: the hashes carry no secret, so whoever rewrites a dossier and
// recomputes every hash produces a consistent file; and the events of other instances that
// lie between two of this instance's events are not in the file, so the chain between them
// cannot be followed. Removing the newest events together with lowering the instance's
// version also goes unnoticed offline. Checked against the database
// (verify_dossier_against_store, `pioneer verify --dossier FILE --data DIR`, whose own log
// `pioneer verify --data DIR` proves gap-free and chained) each event must be byte for byte the
// stored one and the instance's stored history exactly these events: that closes all three.
// The snapshot and the definition are not part of the hash chain (the definition is included to
// read the events by); offline they are unchecked, against the database they must be what an
// export gives now.

// The dossier of one instance, read from `store` (which may be open read-only). kNotFound
// when there is no such instance.
Result<Json> export_dossier(const storage::Store& store, const RoleCatalog& roles, std::string_view instance_id);

// Checks a dossier offline (see above). Never throws; anything malformed is a problem.
VerifyReport verify_dossier(const Json& dossier);

// verify_dossier() plus the comparison with a database: each event is the stored event at its
// seq, byte for byte, the instance's stored history lists exactly the dossier's events, and the
// instance snapshot and the definition are what an export from the database gives now (`roles`
// as the server's: the snapshot's labels come from the definition read with them).
Result<VerifyReport> verify_dossier_against_store(const Json& dossier, const storage::Store& store,
                                                  const RoleCatalog& roles = RoleCatalog::defaults());

// ---- Online backup: pioneer backup --data DIR --to DEST ----

struct BackupReport {
  int attempts = 0;       // checkpoints taken (1 unless a copy failed to verify)
  VerifyReport verified;  // verify_store() on the copy that was kept
  Json to_json() const;
};

// Copies the database in data_dir to dest (which must not exist) while a server may be
// writing to it: opens data_dir read-only (RocksDB takes no lock for that), writes a checkpoint
// to dest, opens the copy read-only and runs verify_store() on it. A checkpoint that fails or
// does not verify (a file the server compacted away meanwhile) is deleted and taken again, up
// to max_attempts times; then the last error is returned and dest does not exist. `log`, when
// set, is told about each failed attempt.
Result<BackupReport> backup_store(const std::string& data_dir, const std::string& dest, const RoleCatalog& roles,
                                  int max_attempts = 5, const std::function<void(const std::string&)>& log = {});

}  // namespace pioneer::engine
