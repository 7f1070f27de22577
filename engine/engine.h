// Engine: the facade the server and the command-line tools use.
//
// Writes: every command goes through submit(), which queues it for the one writer (the
// sequencer, engine/write/sequencer.h): it decides each command in order against the current state,
// writes a batch of results in one RocksDB batch with sync=true (deciding the next batch while
// the previous one syncs), and only then answers each caller and hands the committed events to
// the publisher. A full queue refuses at once with kOverloaded; nothing blocks forever.
//
// Reads: the query methods read the store directly from the calling thread and never wait on
// the writer. Everything a principal may not see answers kNotFound (or is left out of a list).
//
// Thread-safe: every public method may be called from any thread. The publisher and the
// submit callbacks run on the sequencer's replier thread and must not block (post elsewhere).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "engine/core/commands.h"
#include "engine/core/definition.h"
#include "engine/core/model.h"

namespace pioneer::storage {
class Store;
}

namespace pioneer::engine {

struct EngineState;

// Every *.json definition under dir, parsed and checked (kInvalidDefinition listing every
// file's problems; kNotFound when the folder cannot be read). Needs no database: serve checks
// the files before it opens (or creates) one.
Result<std::vector<Definition>> read_workflows_dir(const std::string& dir, const RoleCatalog& roles);

class Engine {
 public:
  // Opens the store, loads definitions, orgs and users, and starts the writer thread.
  static Result<std::unique_ptr<Engine>> open(EngineOptions options);
  // Stops taking commands, finishes the ones already queued, stops the writer, closes the store.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Called with every committed batch's events, in sequence order. Set before serving.
  void set_publisher(Publisher publisher);

  // ---- writes ----
  // Queues a command. `done` is called exactly once: on a sequencer thread after the batch
  // holding it is durable (or refused, or its commit failed), or at once with kOverloaded
  // when the queue is full or the engine is stopping.
  void submit(Command command, ReplyCallback done);
  // submit() and wait for the answer.
  Result<Reply> execute(Command command);
  // Stops accepting commands (they answer kOverloaded "stopping"); queued ones still finish.
  void stop_accepting();
  // Wakes the writer to look at timers now (after a ManualClock moved).
  void poke_timers();
  // Blocks until every command queued before this call has been committed.
  void drain();

  // ---- principals ----
  // The user a bearer token belongs to; kUnauthenticated when unknown, expired or revoked.
  Result<Principal> authenticate(std::string_view token) const;
  // A bearer token as a long-lived session (a WebSocket stream) keeps it: the token's hash, never
  // the token, and what the last check depended on, so that checking again costs an atomic load
  // and a clock read while no org, user or token changed and the token has not expired.
  struct Credential {
    std::string token_hash;
    uint64_t generation = 0;  // the directory's generation at the last check; 0: never checked
    int64_t expires_ms = 0;   // the token's expiry then; 0: never
    // A login session's last use and idle limit (Directory::TokenCheck); null for other tokens.
    std::shared_ptr<std::atomic<int64_t>> last_used = nullptr;
    int64_t idle_ms = 0;
  };
  static Credential credential(std::string_view token);
  // True when authenticate(c) would answer as it did last time.
  bool still_authenticated(const Credential& c) const;
  // Authenticates again and records in `c` what the answer depended on.
  Result<Principal> authenticate(Credential& c) const;
  Result<Principal> user(std::string_view id) const;
  // The user's Argon2id password hash, nullopt when the user is unknown or has none. Never
  // logged, never sent.
  std::optional<std::string> password_hash(std::string_view user_id) const;
  // Whether `who` may set the password of `user_id` (engine/core/admin_rules.h decide_set_password),
  // asked before the slow hash; the writer asks again when the command is applied.
  Result<void> may_set_password(const Principal& who, std::string_view user_id) const;
  std::vector<Org> orgs() const;
  std::vector<Principal> users() const;
  // The directory's people as stored (with `disabled`), by id.
  std::vector<UserRecord> user_records() const;
  const RoleCatalog& roles() const;

  // ---- definitions ----
  std::vector<DefinitionSummary> workflows() const;
  // The newest version, or the given one; kNotFound when absent.
  Result<DefinitionPtr> definition(std::string_view id, std::optional<int> version = {}) const;
  // Registers every *.json under dir that differs from every stored version of its workflow
  // (as the system principal): read_workflows_dir, then register_workflows. Returns the
  // (id, version) pairs registered now.
  Result<std::vector<std::pair<std::string, int>>> load_workflows_dir(const std::string& dir);
  Result<std::vector<std::pair<std::string, int>>> register_workflows(const std::vector<Definition>& defs);

  // ---- reads ----
  // The instance as the API shows it, with `actions` for this principal.
  Result<Json> instance_view(const Principal& who, std::string_view id) const;
  Result<Instance> instance(const Principal& who, std::string_view id) const;
  // The same view as JSON text.
  Result<std::string> instance_view_text(const Principal& who, std::string_view id) const;
  Result<InstancePage> list_instances(const Principal& who, const InstanceFilter& filter,
                                      size_t limit, std::string_view cursor, ViewForm form = ViewForm::kJson) const;
  // The to-do list: instances where `who` may now fire a transition that is a to-do
  // (TransitionSpec::is_todo: one that moves the instance, or an in-place one marked so).
  // Supervisory in-place actions (urge, comments) do not make an instance a to-do.
  Result<InstancePage> tasks(const Principal& who, size_t limit, std::string_view cursor,
                             ViewForm form = ViewForm::kJson, const TaskFilter& filter = {}) const;
  // One instance's history, oldest first.
  Result<std::vector<Event>> history(const Principal& who, std::string_view id) const;
  // The same history as the API's JSON of each event, read as stored and not parsed: a stored
  // event is its canonical JSON, byte for byte what encode_event() writes for it (`pioneer
  // verify` checks exactly that for every record). Parsing and writing them again was most of
  // a history read's instructions.
  Result<std::vector<std::string>> history_text(const Principal& who, std::string_view id) const;
  // Events with seq > since that `who` may see, at most limit, in order; see EventScan.
  // `scan` nullopt: EngineOptions::event_scan.
  Result<EventPage> events_after(const Principal& who, uint64_t since, size_t limit,
                                 std::optional<EventScan> scan = std::nullopt) const;
  // May `who` see this committed event (by the instance's org and assignee org now)?
  bool may_see(const Principal& who, const Event& event) const;
  // GET /api/v1/stats body.
  Result<Json> stats(const Principal& who, std::string_view workflow, std::string_view group_by) const;

  uint64_t head_seq() const;
  EngineMetrics metrics() const;
  const Clock& clock() const;

  // ---- maintenance ----
  Result<void> checkpoint(const std::string& dest);
  // Idempotency records are kept kIdempotencyTtlMs (a retry within a day gets the first
  // answer); later they are dropped when their storage family is compacted. This compacts it
  // now (serve() calls it every hour; it takes as long as the family is large, not the
  // database) and returns the records kept afterwards. Expired ones are never answered from,
  // whether dropped yet or not.
  Result<uint64_t> sweep_idempotency();
  // Idempotency records dropped as expired since open.
  uint64_t idempotency_expired() const;
  storage::Store& store();

 private:
  explicit Engine(EngineOptions options);
  std::unique_ptr<EngineState> state_;
};

}  // namespace pioneer::engine
