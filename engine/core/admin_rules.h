// Administration as pure rules: who may change orgs, users, tokens and definitions, and what a
// valid change is. Like engine/rules.h: no I/O, no clock, no threads; the sequencer hands in a
// view of the directory as of its open batch and writes what the decision returns.
//
// The reach of an administrator (docs/decisions.md "The reach of administrators"):
// - The org tree has one root. A second root org is refused (decide_put_org), so "admin at
//   the root" and "administrator of everything" are the same thing.
// - Otherwise an administrator reaches the subtree their `admin` grants cover, nothing more.
//   A person lies in reach when their home org and every org of their roles do; so nobody
//   acts on an administrator above them (whose admin grant lies outside the caller's reach).
// - Registering a workflow definition needs the root's administrator (a definition is used
//   by every org), as do issuing tokens to a person out of the caller's reach.
// - A person the caller cannot see at all (no role of the caller covers their home org or any
//   of their role orgs) is answered exactly like a person who does not exist: 404. A person the
//   caller sees but does not reach: 403.
//
// The order of checks on every command: the caller holds `admin` somewhere (403); the target
// exists and is visible (404); the target as it is now lies in reach (403); the new values' ids
// and names are well formed (422); the orgs they name lie in reach (403), checked before
// whether they exist, so that nothing outside the caller's reach reveals whether it exists or
// what kind it is; they exist and the roles are known (422).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "engine/core/definition.h"
#include "engine/core/model.h"
#include "engine/core/rules.h"

namespace pioneer::engine {

// What the admin rules read: orgs, users and the root. The sequencer's implementation answers
// from its open batch first, then from the directory.
class AdminView : public OrgView {
 public:
  virtual std::optional<UserRecord> find_user(std::string_view id) const = 0;
  // The ids of the orgs without a parent (one in any database these rules have written).
  virtual std::vector<std::string> root_orgs() const = 0;
};

struct AdminEnv {
  const AdminView& dir;
  const RoleCatalog& roles;
};

// `admin` held anywhere (or the system).
bool is_admin(const Principal& who);
// The administrator of the whole tree: the system, or `admin` at the one root org.
bool is_admin_over_all(const Principal& who, const AdminView& dir);
// Does some `admin` grant of `who` cover `org`?
bool admin_reaches_org(const Principal& who, std::string_view org);
// Does `who` administer this person: their home org and every org of their roles?
bool admin_reaches_user(const Principal& who, const UserRecord& user);
// May `who` see this person at all (a role of `who` covers the home org or a role org)?
bool may_see_user(const Principal& who, const UserRecord& user);

bool valid_org_id(std::string_view id);
bool valid_user_id(std::string_view id);

Error forbidden_admin();

// Creating or replacing an org: the stored record (parent derived from the id). Refused when
// the id is malformed (422), out of the caller's reach (403), a second root (422), its parent
// is missing (422), its kind unknown (422) or its name blank or malformed (422).
Result<Org> decide_put_org(const AdminEnv& env, const PutOrg& cmd, const Principal& who);

// Creating or replacing a person: the stored record (a grant named twice is kept once, in the
// order of first mention). The caller must reach the person as stored now and as asked for.
Result<UserRecord> decide_put_user(const AdminEnv& env, const PutUser& cmd, const Principal& who);

// Changing some of a person's attributes: 404 for a person out of sight (as for one who does
// not exist), then as decide_put_user for the result. Nobody disables themselves (422).
Result<UserRecord> decide_patch_user(const AdminEnv& env, const PatchUser& cmd, const Principal& who);

// Renaming an org: 404 for one out of sight (as for one that does not exist), 403 out of reach.
Result<Org> decide_rename_org(const AdminEnv& env, const RenameOrg& cmd, const Principal& who);

// Directory events (type "directory" in the hash-chained log): who changed what, never a
// password or a hash. `org` is the org the change is about (a person's home org after it),
// `assignee_org` a second one it touched (the home org before a move), or "". Such an event
// is visible to administrators whose reach covers either.
inline constexpr std::string_view kDirectoryEvent = "directory";
bool may_see_directory_event(const Principal& who, const Event& event);

// May `who` see this org: a role of theirs covers it, or it lies above one of their roles or
// their home org (as GET /api/v1/orgs lists them)?
bool may_see_org(const Principal& who, std::string_view org);

// Revoking a person's tokens: nothing to write but the deletions. Unknown and invisible answer
// alike (404); visible but out of reach 403.
Result<void> decide_revoke_tokens(const AdminEnv& env, const RevokeTokens& cmd, const Principal& who);

// Storing a token hash for a person.
Result<void> decide_issue_token(const AdminEnv& env, const IssueToken& cmd, const Principal& who);

// Opening a login session: the principal opens their own (the system any), not for a disabled
// person. The caller has checked the password.
Result<void> decide_open_session(const AdminEnv& env, const OpenSession& cmd, const Principal& who);

// Setting a password: one's own (cmd.own), or as an administrator reaching the person (404 for
// one out of sight, 403 out of reach; a person who is no administrator is 403 even for
// themselves: without `own` nobody skips the old password).
Result<void> decide_set_password(const AdminEnv& env, const SetPassword& cmd, const Principal& who);

// Registering a definition: the parsed definition numbered after `latest` (nullptr: none yet),
// or `latest` itself (registered false) when the content is the same but for the version.
struct Registration {
  DefinitionPtr def;
  bool registered = false;
};
Result<Registration> decide_register_definition(const AdminEnv& env, const RegisterDefinition& cmd,
                                                const DefinitionPtr& latest, const Principal& who);

}  // namespace pioneer::engine
