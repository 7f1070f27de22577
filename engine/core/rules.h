// The rules: decide(definition, instance, command, principal, now) -> events and new record.
//
// Pure functions: no I/O, no clock, no randomness (the caller passes `now` and the new id).
// A refusal is an Error with a stable code (docs/api.md); a refusal never has side effects because
// nothing here has any. The order of checks on a transition is pinned by docs/api.md: visibility
// (404), transition from the current state (409), actor and not_by (403), expected_version
// (409), then fields and comment (422).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "engine/core/definition.h"
#include "engine/core/model.h"

namespace pioneer::engine {

// What the rules need to know about orgs and users (the Directory implements it).
class OrgView {
 public:
  virtual ~OrgView() = default;
  virtual std::optional<Org> find_org(std::string_view id) const = 0;
  virtual bool user_exists(std::string_view id) const = 0;
};

struct DecideEnv {
  const Definition& def;
  const OrgView& orgs;
  int64_t now_ms = 0;
  int utc_offset_minutes = 8 * 60;  // a date ends at midnight in this offset
};

// The outcome of one accepted command.
struct Decision {
  Instance instance;                  // the record after the command
  std::vector<Event> events;          // in order; seq, prev_hash and hash are left for the sequencer
  std::vector<ArmedTimer> disarmed;   // timers to remove from the timer index
  std::vector<ArmedTimer> armed;      // timers to add to the timer index
};

// Creating an instance with id `new_id`.
Result<Decision> decide_create(const DecideEnv& env, const CreateInstance& cmd, const Principal& who,
                               const std::string& new_id);
// A transition (including a countersign vote and in-place actions).
Result<Decision> decide_transition(const DecideEnv& env, const Instance& current, const FireTransition& cmd,
                                   const Principal& who);
// A comment: a `commented` event, no state change.
Result<Decision> decide_comment(const DecideEnv& env, const Instance& current, const AddComment& cmd,
                                const Principal& who);
// Whether `who` may move `current` to another version at all, in the API's order: 404 when it
// cannot see the instance, 403 without an admin grant covering its org, 409 for a stale
// expected_version or a closed instance. The sequencer asks this once the instance is found and
// before it looks up the target version; decide_migration asks it again.
std::optional<Error> check_migration_allowed(const Definition& from, const Instance& current, const MigrateInstance& cmd,
                                             const Principal& who);
// Moving `current` (of version `from`) to the version in env.def: a `migrated` event from the
// old state to the mapped one (changes: workflow_version, previous_version). Refused, changing
// nothing, when check_migration_allowed refuses; when `states` names a state the old version
// lacks, or maps to one the new version lacks or holds terminal; when the instance's org is not
// of the new version's create.org_kind; when a field it holds is not declared in the new
// version or fails its rule there, or a field the new version requires at creation is missing;
// when the new version's assignee field would give another assignee org. Votes are cleared.
// Timers, matched by name: one armed before keeps its due time (an at_field one follows the
// field), one in fired_timers (fired since the state was entered) is not armed again, and any
// other is armed.
Result<Decision> decide_migration(const DecideEnv& env, const Definition& from, const Instance& current,
                                  const MigrateInstance& cmd, const Principal& who);
// A timer falling due. nullopt when the timer is stale (no longer armed with that due time):
// the caller just drops it.
std::optional<Decision> decide_timer(const DecideEnv& env, const Instance& current, const FireTimer& cmd);

// One transition the principal may fire now.
struct Action {
  const TransitionSpec* transition;
};
std::vector<Action> available_actions(const Definition& def, const Instance& instance, const Principal& who);
// [{transition, label, requires, accepts, comment, countersign}] for the API.
Json actions_json(const Definition& def, const Instance& instance, const Principal& who);
// instance_json + actions_json as JSON text, without the tree (codec.h append_instance_view).
// `def` may be null (no labels, no actions).
std::string instance_view_text(const Definition* def, const Instance& instance, const Principal& who);

// Does `who` fit this actor spec for this instance?
bool actor_matches(const ActorSpec& actor, const Instance& instance, const Principal& who);

// The (role, org) slots with a to-do on the instance now (TransitionSpec::is_todo): the to-do
// index is built from them. Creator slots come back as {"@creator", created_by}.
std::vector<std::pair<std::string, std::string>> todo_slots(const Definition& def, const Instance& instance);

// The moment a date or datetime field value stands for (a date ends at midnight at its end).
std::optional<int64_t> field_moment_ms(const FieldSpec& spec, const Json& value, int utc_offset_minutes);

}  // namespace pioneer::engine
