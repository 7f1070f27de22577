// The rules: decide(definition, instance, command, principal, now) -> events and new record.
//
// Pure functions: no I/O, no clock, no randomness (the caller passes `now` and the new id).
// A refusal is an Error with a stable code (API.md); a refusal never has side effects because
// nothing here has any. The order of checks on a transition is pinned by API.md: visibility
// (404), transition from the current state (409), actor and not_by (403), expected_version
// (409), then fields and comment (422).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "engine/definition.h"
#include "engine/model.h"

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
// Moving `current` (of version `from`) to the version in env.def (admin only, checked by the
// caller): a `migrated` event from the old state to the mapped one. Refused, changing nothing,
// when the instance is closed, the mapped state is missing or terminal in the new version, or a
// field it holds is not declared there or fails its new rule. Votes are cleared; timers of the
// new state are armed, an `after` timer keeping its due time when its name was armed before.
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

// The (role, org) slots that can act on the instance now: the to-do index is built from them.
// Creator slots come back as {"@creator", created_by}.
std::vector<std::pair<std::string, std::string>> todo_slots(const Definition& def, const Instance& instance);

// The moment a date or datetime field value stands for (a date ends at midnight at its end).
std::optional<int64_t> field_moment_ms(const FieldSpec& spec, const Json& value, int utc_offset_minutes);

}  // namespace pioneer::engine
