// The engine's data model: labels, principals, instances, events and commands.
//
// Plain values with no behaviour beyond small helpers; (de)serialisation lives in codec.h.
// Times are milliseconds since the Unix epoch (UTC). Org ids are paths ("city/finance/b1"),
// so "is at or under" is a prefix test on whole path segments (org_covers()).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "engine/core/text_memo.h"

namespace pioneer::engine {

struct Label {
  std::string zh;
  std::string en;
  bool operator==(const Label&) const = default;
};

// True when `unit` is `ancestor` or lies under it ("city" covers "city/finance/b1";
// "city/fin" covers neither "city/finance" nor anything else but itself and its children).
bool org_covers(std::string_view ancestor, std::string_view unit);

struct Org {
  std::string id;      // path
  std::string name;    // Chinese name, as people know it
  std::string kind;    // declared in the roles configuration (department, branch, ...)
  std::string parent;  // "" for the root
};

struct RoleGrant {
  std::string role;
  std::string org;
  bool operator==(const RoleGrant&) const = default;
};

// Who is acting: a user, or the system itself (timers).
struct Principal {
  std::string id;
  std::string name;
  std::string home_org;
  std::vector<RoleGrant> roles;
  bool system = false;

  bool has_role_covering(std::string_view role, std::string_view org) const;
  // May this principal see an instance with this org / assignee org (docs/api.md "Visibility")?
  bool can_see(std::string_view org, std::string_view assignee_org) const;
  static Principal system_principal();
};

// A person as the directory stores them (their tokens are separate).
struct UserRecord {
  std::string id;
  std::string name;
  std::string home_org;
  std::vector<RoleGrant> roles;
  bool disabled = false;  // a disabled person's tokens and sessions authenticate no one
};

struct Approval {
  std::string role;  // the countersign party this vote satisfied
  std::string user;
  bool operator==(const Approval&) const = default;
};

struct ArmedTimer {
  std::string name;
  int64_t due_ms = 0;
  bool operator==(const ArmedTimer&) const = default;
};

// The current record of one workflow instance.
struct Instance {
  std::string id;
  std::string workflow;
  int workflow_version = 0;
  std::string state;
  std::string org;
  std::string assignee_org;  // "" when none
  Json fields = Json::object();
  int64_t version = 0;  // number of events of this instance
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::optional<int64_t> due_at_ms;
  bool overdue = false;
  std::string created_by;
  std::optional<int64_t> closed_at_ms;  // when a terminal state was entered

  // Countersign votes cast for `approvals_for` in the current state; cleared on leaving it.
  std::string approvals_for;
  std::vector<Approval> approvals;
  // Who fired which transition (for not_by separation of duties).
  std::map<std::string, std::vector<std::string>> fired_by;
  // Timers armed for the current state.
  std::vector<ArmedTimer> timers;
  // Timers of the current state that have fired since it was entered (and were not armed again
  // since): a migration to another version must not arm them again. Stored only when not
  // empty, so a record without the field has none; database schema 1 (engine.cc, kSchema) also
  // holds records whose writer did not keep the field, and they read the same way.
  std::vector<std::string> fired_timers;

  // The part of the API view that does not depend on who asks (codec.h
  // append_instance_view), rendered once per version of a shared record.
  TextMemo view_memo;

  bool operator==(const Instance&) const = default;
};

// Who an event is addressed to: holders of `role` at `org` or above, or (role and org empty)
// the one user `user` — the instance's creator, for `{"creator": true}` in notify and remind.
struct AudienceEntry {
  std::string role;
  std::string org;
  std::string user;
  bool operator==(const AudienceEntry&) const = default;
};

// One entry of the event log.
struct Event {
  uint64_t seq = 0;           // global, gap-free, assigned by the sequencer
  std::string instance_id;
  std::string workflow;
  int64_t instance_seq = 0;   // the instance's version after this event
  std::string type;           // created, transitioned, approved, commented, reminded, overdue, timer, migrated
  std::string transition;     // "" when none
  std::optional<std::string> from;
  std::optional<std::string> to;
  std::string actor_id;
  std::string actor_name;
  int64_t at_ms = 0;
  Json changes = Json::object();
  std::string comment;
  std::vector<AudienceEntry> audience;
  std::string org;            // the instance's org and assignee org after the event, for
  std::string assignee_org;   // visibility checks in the stream without a lookup
  std::string prev_hash;
  std::string hash;

  bool operator==(const Event&) const = default;
};

// ---- Commands: what callers ask the engine to do ----

struct CreateInstance {
  std::string workflow;
  std::string org;
  Json fields = Json::object();
  std::optional<std::string> comment;
};

struct FireTransition {
  std::string instance_id;
  std::string transition;
  Json fields = Json::object();
  std::optional<std::string> comment;
  std::optional<int64_t> expected_version;
};

struct AddComment {
  std::string instance_id;
  std::string comment;
};

// Admin: moves a running instance to another version of its workflow (docs/definitions.md
// "Versions": an explicit, checked operation with the state mapping given). `states` maps the
// instance's current state to one of the new version; a state not in it keeps its name.
struct MigrateInstance {
  std::string instance_id;
  int to_version = 0;
  std::map<std::string, std::string> states;
  std::optional<std::string> comment;
  std::optional<int64_t> expected_version;
};

// Issued by the sequencer itself when a timer falls due.
struct FireTimer {
  std::string instance_id;
  std::string timer;
  int64_t due_ms = 0;
};

// Admin: register a workflow definition (JSON as in docs/definitions.md) as a new version.
struct RegisterDefinition {
  Json definition;
};

// Admin: create or replace an org unit / a user. A user's tokens are separate (IssueToken).
struct PutOrg {
  Org org;
  bool create_only = false;  // POST /api/v1/orgs: refuse an id that exists
};
struct PutUser {
  std::string id;
  std::string name;
  std::string home_org;
  std::vector<RoleGrant> roles;
  bool create_only = false;                   // POST /api/v1/users: refuse an id that exists
  std::optional<std::string> password_hash = std::nullopt;  // set in the same batch (Argon2id, never logged)
};
// Changes some of a person's attributes (PATCH /api/v1/users/{id}); what is absent stays.
struct PatchUser {
  std::string id;
  std::optional<std::string> name;
  std::optional<std::string> home_org;
  std::optional<std::vector<RoleGrant>> roles;
  std::optional<bool> disabled;
};
// Renames an org (PATCH /api/v1/orgs/{path}).
struct RenameOrg {
  std::string id;
  std::string name;
};
// Stores the hash of a token for a user; expires_ms 0 means never.
struct IssueToken {
  std::string user_id;
  std::string token_hash;  // hex SHA-256 of the token; the token itself is never stored
  int64_t expires_ms = 0;
};
// Revokes every token of a user.
struct RevokeTokens {
  std::string user_id;
};

// Opens a login session for the principal (who has just given their password): a token hash
// like IssueToken's that also ends after idle_ms without use.
struct OpenSession {
  std::string user_id;
  std::string token_hash;
  int64_t expires_ms = 0;
  int64_t idle_ms = 0;
};
// Ends one login session of the principal (logout); a hash that is no session of theirs ends nothing.
struct CloseSession {
  std::string token_hash;
};
// Sets a person's password (an Argon2id hash, common/password.h) and ends their login
// sessions. The hash never enters a reply, the event log or the logs.
struct SetPassword {
  std::string user_id;
  std::string password_hash;
  // One's own, the old password checked by the caller (POST /api/v1/me/password); otherwise
  // an administrator's, for a person in reach (POST /api/v1/users/{id}/password).
  bool own = false;
};

using CommandBody = std::variant<CreateInstance, FireTransition, AddComment, FireTimer, MigrateInstance,
                                 RegisterDefinition, PutOrg, PutUser, IssueToken, RevokeTokens, OpenSession,
                                 CloseSession, SetPassword, PatchUser, RenameOrg>;

// Commands on one instance (the rest change definitions or the directory).
inline bool is_instance_command(const CommandBody& body) {
  return std::holds_alternative<CreateInstance>(body) || std::holds_alternative<FireTransition>(body) ||
         std::holds_alternative<AddComment>(body) || std::holds_alternative<FireTimer>(body) ||
         std::holds_alternative<MigrateInstance>(body);
}

struct Command {
  CommandBody body;
  Principal principal;
  // Optional client-chosen key (Idempotency-Key) and a digest of the request it came with.
  std::string idempotency_key;
  std::string request_digest;
};

// What a successful command answers.
struct Reply {
  int status = 200;             // 200 or 201 (HTTP-shaped, but nothing here knows HTTP)
  Json body = Json::object();   // instance view with actions, definition summary, ...
  bool replayed = false;        // answered from the idempotency record
  // When not empty, the body as JSON text instead of `body` (the writer's replies: no tree is
  // built; Engine::execute parses it back for callers that want Json).
  std::string body_text;
};

}  // namespace pioneer::engine
