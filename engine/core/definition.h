// Workflow definitions: the parsed, validated form of a workflow file (docs/definitions.md).
//
// parse_definition() checks everything docs/definitions.md lists and reports every problem at once,
// each with its JSON path ("/transitions/3/from/0") and a message a person can act on. A
// Definition that parsed is immutable and safe to share between threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "engine/core/model.h"

namespace pioneer::engine {

// Roles and org kinds known to this server (config/roles.json). Definitions naming anything
// else are refused.
struct RoleCatalog {
  struct Entry {
    std::string id;
    Label label;
  };
  std::vector<Entry> roles;
  std::vector<Entry> org_kinds;

  bool has_role(std::string_view id) const;
  bool has_org_kind(std::string_view id) const;
  const Entry* role(std::string_view id) const;

  // Parses {"roles": [{"id", "label": {"zh", "en"}}], "org_kinds": [...]}.
  static Result<RoleCatalog> from_json(const Json& json);
  static Result<RoleCatalog> load_file(const std::string& path);
  // The roles of docs/domain.md, used when no file is given.
  static RoleCatalog defaults();
};

enum class FieldType { kString, kText, kInteger, kNumber, kBoolean, kDate, kDatetime, kEnum, kOrg, kUser };
std::string_view field_type_name(FieldType type);

struct FieldOption {
  std::string value;
  Label label;
};

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::kString;
  Label label;
  int64_t max_length = 0;        // string/text: characters (Unicode code points); 0 = default
  std::optional<double> min;     // integer/number
  std::optional<double> max;
  std::vector<FieldOption> options;  // enum
  std::string org_kind;          // org: "" = any kind
};

// `{"role": R}`, `{"role": R, "of": "assignee"}` or `{"creator": true}`.
struct ActorSpec {
  std::string role;
  bool of_assignee = false;
  bool creator = false;
};

enum class CommentRule { kOptional, kRequired, kNone };

struct TimerSpec {
  std::string name;
  std::optional<int64_t> after_ms;  // "after": duration from entering the state
  std::string at_field;             // or a date/datetime field ...
  int64_t offset_ms = 0;            // ... plus this (may be negative)
  std::vector<ActorSpec> remind;    // audience of a `reminded` event
  bool overdue = false;             // marks the instance overdue (an `overdue` event)
  std::string transition;           // fires this transition as the system (a `timer` event)
};

struct StateSpec {
  std::string name;
  Label label;
  bool terminal = false;
  // A terminal state that ends the work without a result (withdrawn, cancelled): statistics
  // do not count it as closed on time or late. Extension to docs/definitions.md, default false.
  bool cancelled = false;
  std::vector<TimerSpec> timers;
};

struct TransitionSpec {
  std::string name;
  Label label;
  std::vector<std::string> from;
  std::optional<std::string> to;  // nullopt: an action in place
  std::vector<ActorSpec> actors;
  std::vector<std::string> requires_fields;
  std::vector<std::string> accepts;
  CommentRule comment = CommentRule::kOptional;
  std::vector<ActorSpec> notify;
  std::vector<ActorSpec> countersign;  // non-empty: a countersign (会签)
  // Extension: may one person cast the votes of two countersign parties? Default false, so
  // holding two roles never lets one person complete a countersign alone.
  bool countersign_same_person = false;
  std::vector<std::string> not_by;     // separation of duties
  // Is firing it a to-do of whoever may (GET /api/v1/tasks)? Absent: a transition that moves
  // the instance is, an in-place one (urge, a progress report) is not; "todo" says otherwise
  // either way (a vote of an in-place countersign is one; an escape such as cancel is not).
  std::optional<bool> todo;
  // This transition's entry in an instance view's "actions" (codec.h), rendered once.
  TextMemo action_memo;

  bool from_state(std::string_view state) const;
  bool in_place() const { return !to.has_value(); }
  bool is_todo() const { return todo.value_or(!in_place()); }
  bool is_countersign() const { return !countersign.empty(); }
};

struct CreateSpec {
  std::string org_kind;  // the kind of org an instance belongs to ("" = any)
  std::vector<ActorSpec> actors;
  std::vector<std::string> requires_fields;
  std::vector<std::string> accepts;
  std::string to;
  CommentRule comment = CommentRule::kOptional;
  std::vector<ActorSpec> notify;
};

struct Definition {
  std::string id;
  int version = 0;
  Label title;
  std::string title_field;
  std::string assignee_field;
  std::string due_field;
  std::map<std::string, FieldSpec> fields;
  CreateSpec create;
  std::map<std::string, StateSpec> states;
  std::vector<TransitionSpec> transitions;  // in file order
  // May people comment on a closed instance (one in a terminal state)? Default false: a
  // closed record stays as it was closed.
  bool comments_after_close = false;
  Json source;  // the definition as given (with "version" set to the registered version)

  const FieldSpec* field(std::string_view name) const;
  const StateSpec* state(std::string_view name) const;
  // The transition with this name that may fire from `state`, or nullptr.
  const TransitionSpec* transition_from(std::string_view name, std::string_view state) const;
  // Any transition with this name (for labels and not_by), or nullptr.
  const TransitionSpec* transition(std::string_view name) const;
  std::vector<const TransitionSpec*> transitions_from(std::string_view state) const;
};

using DefinitionPtr = std::shared_ptr<const Definition>;

// One problem found in a definition file.
struct Problem {
  std::string path;     // JSON pointer into the file
  std::string message;  // Chinese first, then English
};

// Parses and validates. On any problem returns kInvalidDefinition whose details are
// {"problems": [{"path", "message"}, ...]} with every problem found.
Result<Definition> parse_definition(const Json& json, const RoleCatalog& roles);

// Reads a file and parses it (kInvalidJson with the line and column when it is not JSON).
Result<Definition> load_definition_file(const std::string& path, const RoleCatalog& roles);

// ISO 8601 duration ("P7D", "PT12H", "-P7D", "P1DT2H30M") in milliseconds; nullopt when bad.
// Years and months are refused: their length is not fixed.
std::optional<int64_t> parse_duration_ms(std::string_view text);

// The longest duration a definition may name (timers' after and offset): 36,500 days.
inline constexpr int64_t kMaxDurationMs = int64_t{36500} * 24 * 3600 * 1000;

// Graphviz dot or Mermaid text of the state diagram, labels in Chinese.
std::string definition_graph(const Definition& def, std::string_view format);

}  // namespace pioneer::engine
