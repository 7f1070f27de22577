#include "engine/core/rules.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "common/input.h"
#include "engine/core/codec.h"

namespace pioneer::engine {
namespace {

constexpr int64_t kDefaultStringLength = 200;
constexpr int64_t kDefaultTextLength = 10000;
constexpr int64_t kCommentLength = 10000;

// Number of Unicode code points in a UTF-8 string (nlohmann has already checked it is valid).
int64_t code_points(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Null, or a string that shows nothing (wide spaces and zero-width characters count as blank).
bool is_blank(const Json& v) {
  if (v.is_null()) return true;
  return v.is_string() && text_is_blank(v.get_ref<const std::string&>());
}

bool has_value(const Json& fields, const std::string& name) {
  auto it = fields.find(name);
  return it != fields.end() && !is_blank(*it);
}

Error invalid_field(const std::string& field, const std::string& rule, const std::string& zh,
                    const std::string& en) {
  return Error::make(Code::kInvalidField, "字段 '" + field + "' " + zh + "（field '" + field + "' " + en + "）",
                     Json{{"field", field}, {"rule", rule}});
}

// The same from a "中文（English）" phrase that follows the field's name (common/input.h).
Error invalid_field_text(const std::string& field, const std::string& rule, const std::string& phrase) {
  const size_t open = phrase.find("（");
  const size_t close = phrase.rfind("）");
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return invalid_field(field, rule, phrase, phrase);
  }
  const size_t open_end = open + std::string("（").size();
  return invalid_field(field, rule, phrase.substr(0, open), phrase.substr(open_end, close - open_end));
}

// A bound as a person reads it: 100, not 100.0 (bounds are doubles, most are whole numbers).
std::string bound_text(double d) {
  if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e15) return std::to_string(static_cast<int64_t>(d));
  return Json(d).dump();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Checks one value against its field spec. `instance_org` bounds org fields.
std::optional<Error> check_value(const FieldSpec& spec, const Json& v, const std::string& instance_org,
                                 const OrgView& orgs, int utc_offset_minutes) {
  const std::string& name = spec.name;
  switch (spec.type) {
    case FieldType::kString:
    case FieldType::kText: {
      if (!v.is_string()) return invalid_field(name, "type", "应为文本", "must be a string");
      int64_t limit = spec.max_length > 0 ? spec.max_length
                                          : (spec.type == FieldType::kString ? kDefaultStringLength : kDefaultTextLength);
      const std::string& text = v.get_ref<const std::string&>();
      if (code_points(text) > limit) {
        return invalid_field(name, "max_length", "超过 " + std::to_string(limit) + " 个字符",
                             "is longer than " + std::to_string(limit) + " characters");
      }
      if (auto problem = text_problem(text, spec.type == FieldType::kString ? TextKind::kLine : TextKind::kMultiline)) {
        return invalid_field_text(name, "characters", *problem);
      }
      return std::nullopt;
    }
    case FieldType::kInteger:
    case FieldType::kNumber: {
      bool ok = spec.type == FieldType::kInteger ? (v.is_number_integer()) : v.is_number();
      if (!ok) {
        return spec.type == FieldType::kInteger ? invalid_field(name, "type", "应为整数", "must be an integer")
                                                : invalid_field(name, "type", "应为数字", "must be a number");
      }
      double d = v.get<double>();
      if (spec.min && d < *spec.min) {
        return invalid_field(name, "min", "不能小于 " + bound_text(*spec.min), "must be at least " + bound_text(*spec.min));
      }
      if (spec.max && d > *spec.max) {
        return invalid_field(name, "max", "不能大于 " + bound_text(*spec.max), "must be at most " + bound_text(*spec.max));
      }
      return std::nullopt;
    }
    case FieldType::kBoolean:
      if (!v.is_boolean()) return invalid_field(name, "type", "应为 true 或 false", "must be true or false");
      return std::nullopt;
    case FieldType::kDate:
    case FieldType::kDatetime:
      if (!v.is_string() || !field_moment_ms(spec, v, utc_offset_minutes)) {
        return spec.type == FieldType::kDate
                   ? invalid_field(name, "format", "应为日期 YYYY-MM-DD", "must be a date YYYY-MM-DD")
                   : invalid_field(name, "format", "应为 RFC 3339 时间", "must be an RFC 3339 time");
      }
      return std::nullopt;
    case FieldType::kEnum: {
      if (v.is_string()) {
        for (const FieldOption& o : spec.options) {
          if (o.value == v.get_ref<const std::string&>()) return std::nullopt;
        }
      }
      std::vector<std::string> values;
      for (const FieldOption& o : spec.options) values.push_back(o.value);
      return invalid_field(name, "enum", "应为以下之一：" + join(values), "must be one of: " + join(values));
    }
    case FieldType::kOrg: {
      if (!v.is_string()) return invalid_field(name, "type", "应为组织编号", "must be an org id");
      const auto& id = v.get_ref<const std::string&>();
      // Scope first: every org outside the instance's org answers alike, so nothing is learnt
      // about which orgs exist there, nor their kinds.
      if (!org_covers(instance_org, id)) {
        return invalid_field(name, "org_scope", "应在 " + instance_org + " 之内", "must be at or under " + instance_org);
      }
      auto org = orgs.find_org(id);
      if (!org) return invalid_field(name, "org", "组织 '" + id + "' 不存在", "names no org '" + id + "'");
      if (!spec.org_kind.empty() && org->kind != spec.org_kind) {
        return invalid_field(name, "org_kind", "应为 " + spec.org_kind + " 类组织", "must be an org of kind " + spec.org_kind);
      }
      return std::nullopt;
    }
    case FieldType::kUser:
      if (!v.is_string() || !orgs.user_exists(v.get_ref<const std::string&>())) {
        return invalid_field(name, "user", "应为已有用户", "must name an existing user");
      }
      return std::nullopt;
  }
  return std::nullopt;
}

// Validates the request's fields against what the step may set and what it requires, and
// merges them into `fields`. Returns the changes (the given values).
Result<Json> apply_fields(const DecideEnv& env, const Json& given, const std::vector<std::string>& requires_fields,
                          const std::vector<std::string>& accepts, const std::string& instance_org, Json& fields) {
  if (given.is_null()) return apply_fields(env, Json::object(), requires_fields, accepts, instance_org, fields);
  if (!given.is_object()) {
    return fail(Code::kInvalidField, "fields 应为对象（fields must be an object）", Json{{"field", "fields"}, {"rule", "type"}});
  }
  auto allowed = [&](const std::string& name) {
    return std::find(requires_fields.begin(), requires_fields.end(), name) != requires_fields.end() ||
           std::find(accepts.begin(), accepts.end(), name) != accepts.end();
  };
  for (auto it = given.begin(); it != given.end(); ++it) {
    if (!env.def.field(it.key())) {
      return fail(invalid_field(it.key(), "unknown", "不存在", "does not exist in this workflow"));
    }
    if (!allowed(it.key())) {
      return fail(invalid_field(it.key(), "not_accepted", "不能在此步骤填写", "cannot be set by this step"));
    }
  }
  Json changes = Json::object();
  for (auto it = given.begin(); it != given.end(); ++it) {
    if (is_blank(it.value())) continue;  // an empty value is no value: the requires check names it
    if (auto err = check_value(*env.def.field(it.key()), it.value(), instance_org, env.orgs, env.utc_offset_minutes)) {
      return fail(std::move(*err));
    }
    changes[it.key()] = it.value();
  }
  Json merged = fields;
  for (auto it = changes.begin(); it != changes.end(); ++it) merged[it.key()] = it.value();
  std::vector<std::string> missing;
  for (const std::string& name : requires_fields) {
    if (!has_value(merged, name)) missing.push_back(name);
  }
  if (!missing.empty()) {
    return fail(Code::kMissingFields, "缺少必填字段：" + join(missing) + "（required fields missing: " + join(missing) + "）",
                Json{{"missing", missing}});
  }
  fields = std::move(merged);
  return changes;
}

// Checks the comment rule and length; returns the comment to record.
Result<std::string> check_comment(CommentRule rule, const std::optional<std::string>& comment) {
  const bool given = comment && !is_blank(Json(*comment));
  if (rule == CommentRule::kRequired && !given) {
    return fail(Code::kMissingFields, "此步骤必须填写意见（a comment is required）", Json{{"missing", {"comment"}}});
  }
  if (rule == CommentRule::kNone && given) {
    return fail(invalid_field("comment", "not_accepted", "此步骤不接受意见", "is not accepted by this step"));
  }
  if (given && code_points(*comment) > kCommentLength) {
    return fail(invalid_field("comment", "max_length", "超过 10000 个字符", "is longer than 10000 characters"));
  }
  if (given) {
    if (auto problem = text_problem(*comment, TextKind::kMultiline)) {
      return fail(invalid_field_text("comment", "characters", *problem));
    }
  }
  return given ? *comment : std::string();
}

void add_audience(std::vector<AudienceEntry>& out, const std::vector<ActorSpec>& specs, const Instance& in) {
  for (const ActorSpec& a : specs) {
    AudienceEntry entry;
    if (a.creator) {
      // Addressed by name: `{"creator": true}` in notify and remind names one user, no role.
      if (in.created_by.empty()) continue;
      entry.user = in.created_by;
    } else {
      const std::string& org = a.of_assignee ? in.assignee_org : in.org;
      if (a.role.empty() || org.empty()) continue;
      entry = AudienceEntry{a.role, org, ""};
    }
    if (std::find(out.begin(), out.end(), entry) == out.end()) out.push_back(std::move(entry));
  }
}

// Everyone who can act in the instance's current state.
void add_next_actors(std::vector<AudienceEntry>& out, const Definition& def, const Instance& in) {
  for (const TransitionSpec* t : def.transitions_from(in.state)) {
    add_audience(out, t->is_countersign() ? t->countersign : t->actors, in);
  }
}

Event base_event(const Instance& in, const Principal& who, int64_t now, std::string type) {
  Event e;
  e.instance_id = in.id;
  e.workflow = in.workflow;
  e.type = std::move(type);
  e.actor_id = who.id;
  e.actor_name = who.name;
  e.at_ms = now;
  return e;
}

// Appends an event: numbers it within the instance and stamps the instance's orgs after it.
void push_event(Decision& d, Event e) {
  d.instance.version += 1;
  e.instance_seq = d.instance.version;
  e.org = d.instance.org;
  e.assignee_org = d.instance.assignee_org;
  d.events.push_back(std::move(e));
}

void apply_special_fields(const Definition& def, Instance& in, const Json& changes, int utc_offset_minutes) {
  if (!def.assignee_field.empty() && changes.contains(def.assignee_field)) {
    in.assignee_org = changes[def.assignee_field].get<std::string>();
  }
  if (!def.due_field.empty() && changes.contains(def.due_field)) {
    in.due_at_ms = field_moment_ms(*def.field(def.due_field), changes[def.due_field], utc_offset_minutes);
  }
}

// a + b, held at the ends of int64 instead of wrapping (a wrapped due time is negative: due at
// once, for ever). Definitions bound their durations (kMaxDurationMs); this is the second fence.
int64_t add_saturating(int64_t a, int64_t b) {
  int64_t out;
  if (__builtin_add_overflow(a, b, &out)) return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  return out;
}

std::optional<int64_t> timer_due(const DecideEnv& env, const TimerSpec& t, const Instance& in) {
  if (t.after_ms) return std::max<int64_t>(0, add_saturating(env.now_ms, *t.after_ms));
  const FieldSpec* spec = env.def.field(t.at_field);
  if (spec == nullptr || !has_value(in.fields, t.at_field)) return std::nullopt;  // armed once the field is set
  auto at = field_moment_ms(*spec, in.fields[t.at_field], env.utc_offset_minutes);
  if (!at) return std::nullopt;
  // A moment before 1970 (a date such as 1969-12-31 is a valid date) is long past: due at once.
  // Timer keys order by the due time as an unsigned number, where a negative one would sort after
  // every real timer and never fall due.
  return std::max<int64_t>(0, add_saturating(*at, t.offset_ms));
}

void arm(Decision& d, const DecideEnv& env, const TimerSpec& t) {
  if (auto due = timer_due(env, t, d.instance)) {
    ArmedTimer armed{t.name, *due};
    d.instance.timers.push_back(armed);
    d.armed.push_back(armed);
    auto& fired = d.instance.fired_timers;
    fired.erase(std::remove(fired.begin(), fired.end(), t.name), fired.end());
  }
}

void disarm(Decision& d, const std::string& name) {
  auto& timers = d.instance.timers;
  for (auto it = timers.begin(); it != timers.end();) {
    if (it->name == name) {
      d.disarmed.push_back(*it);
      it = timers.erase(it);
    } else {
      ++it;
    }
  }
}

// Leaves the current state for `to`: clears countersign votes, swaps the timers, stamps closure.
void enter_state(Decision& d, const DecideEnv& env, const std::string& to) {
  Instance& in = d.instance;
  in.approvals.clear();
  in.approvals_for.clear();
  for (const ArmedTimer& t : in.timers) d.disarmed.push_back(t);
  in.timers.clear();
  in.fired_timers.clear();
  in.state = to;
  const StateSpec* spec = env.def.state(to);
  if (spec == nullptr) return;
  for (const TimerSpec& t : spec->timers) arm(d, env, t);
  if (spec->terminal) in.closed_at_ms = env.now_ms;
}

// In the same state, a changed date field moves the timers that hang on it.
void rearm_changed(Decision& d, const DecideEnv& env, const Json& changes) {
  const StateSpec* spec = env.def.state(d.instance.state);
  if (spec == nullptr) return;
  for (const TimerSpec& t : spec->timers) {
    if (!t.at_field.empty() && changes.contains(t.at_field)) {
      disarm(d, t.name);
      arm(d, env, t);
    }
  }
}

// A stale expected_version (optimistic concurrency), or nullopt when there is none.
std::optional<Error> stale_version(const Instance& current, const std::optional<int64_t>& expected) {
  if (!expected || *expected == current.version) return std::nullopt;
  return Error::make(Code::kVersionConflict,
                     "实例已被他人修改，请刷新后重试（the instance is at version " + std::to_string(current.version) +
                         ", not " + std::to_string(*expected) + "）",
                     Json{{"current_version", current.version}});
}

Error not_found(const std::string& id) {
  return Error::make(Code::kNotFound, "找不到实例 '" + id + "'（instance not found）");
}

// The countersign party `who` may vote for now, or nullptr.
const ActorSpec* open_party(const TransitionSpec& t, const Instance& in, const Principal& who) {
  const bool voting_now = in.approvals_for == t.name;
  for (const ActorSpec& party : t.countersign) {
    bool taken = false;
    for (const Approval& a : in.approvals) {
      if (voting_now && a.role == party.role) taken = true;
      if (voting_now && a.user == who.id && !t.countersign_same_person) return nullptr;  // one vote per person
    }
    if (!taken && actor_matches(party, in, who)) return &party;
  }
  return nullptr;
}

bool barred_by_not_by(const TransitionSpec& t, const Instance& in, const Principal& who) {
  for (const std::string& other : t.not_by) {
    auto it = in.fired_by.find(other);
    if (it != in.fired_by.end() && std::find(it->second.begin(), it->second.end(), who.id) != it->second.end()) {
      return true;
    }
  }
  return false;
}

bool may_fire(const TransitionSpec& t, const Instance& in, const Principal& who) {
  if (barred_by_not_by(t, in, who)) return false;
  if (t.is_countersign()) return open_party(t, in, who) != nullptr;
  return std::any_of(t.actors.begin(), t.actors.end(), [&](const ActorSpec& a) { return actor_matches(a, in, who); });
}

}  // namespace

std::optional<int64_t> field_moment_ms(const FieldSpec& spec, const Json& value, int utc_offset_minutes) {
  if (!value.is_string()) return std::nullopt;
  const auto& text = value.get_ref<const std::string&>();
  if (spec.type == FieldType::kDate) {
    auto days = parse_date_days(text);
    if (!days) return std::nullopt;
    // The whole day counts: the moment is the following midnight in the configured offset.
    return (*days + 1) * 86400000 - static_cast<int64_t>(utc_offset_minutes) * 60000;
  }
  if (spec.type == FieldType::kDatetime) return parse_time(text);
  return std::nullopt;
}

bool actor_matches(const ActorSpec& actor, const Instance& in, const Principal& who) {
  if (who.system) return false;  // the system fires only what a timer names
  if (actor.creator) return who.id == in.created_by;
  if (actor.of_assignee) return !in.assignee_org.empty() && who.has_role_covering(actor.role, in.assignee_org);
  return who.has_role_covering(actor.role, in.org);
}

Result<Decision> decide_create(const DecideEnv& env, const CreateInstance& cmd, const Principal& who,
                               const std::string& new_id) {
  const Definition& def = env.def;
  Decision d;
  Instance& in = d.instance;
  in.id = new_id;
  in.workflow = def.id;
  in.workflow_version = def.version;
  in.org = cmd.org;
  in.created_by = who.id;
  in.created_at_ms = in.updated_at_ms = env.now_ms;
  if (!std::any_of(def.create.actors.begin(), def.create.actors.end(),
                   [&](const ActorSpec& a) { return !a.creator && actor_matches(a, in, who); })) {
    return fail(Code::kForbidden, "无权在 " + cmd.org + " 创建此类事项（you may not create this workflow at " + cmd.org + "）");
  }
  // Whether the org exists is told only to a caller whose roles cover it (checked above), so
  // an org outside the caller's view answers 403 whether it exists or not.
  auto org = env.orgs.find_org(cmd.org);
  if (!org) {
    return fail(Code::kInvalidField, "组织 '" + cmd.org + "' 不存在（org '" + cmd.org + "' does not exist）",
                Json{{"field", "org"}, {"rule", "org"}});
  }
  if (!def.create.org_kind.empty() && org->kind != def.create.org_kind) {
    return fail(Code::kInvalidField,
                "此类事项只能在 " + def.create.org_kind + " 类组织创建，'" + cmd.org + "' 是 " + org->kind + "（this workflow's instances belong to an org of kind " +
                    def.create.org_kind + "; '" + cmd.org + "' is a " + org->kind + "）",
                Json{{"field", "org"}, {"rule", "org_kind"}, {"org_kind", def.create.org_kind}});
  }
  auto changes = apply_fields(env, cmd.fields, def.create.requires_fields, def.create.accepts, in.org, in.fields);
  if (!changes) return fail(changes.error());
  auto comment = check_comment(def.create.comment, cmd.comment);
  if (!comment) return fail(comment.error());
  apply_special_fields(def, in, *changes, env.utc_offset_minutes);
  enter_state(d, env, def.create.to);
  d.disarmed.clear();
  Event e = base_event(in, who, env.now_ms, "created");
  e.to = def.create.to;
  e.changes = *changes;
  e.comment = *comment;
  add_audience(e.audience, def.create.notify, in);
  add_next_actors(e.audience, def, in);
  push_event(d, std::move(e));
  return d;
}

Result<Decision> decide_transition(const DecideEnv& env, const Instance& current, const FireTransition& cmd,
                                   const Principal& who) {
  const Definition& def = env.def;
  if (!who.can_see(current.org, current.assignee_org)) return fail(not_found(current.id));
  const TransitionSpec* t = def.transition_from(cmd.transition, current.state);
  if (t == nullptr) {
    const StateSpec* s = def.state(current.state);
    std::string label = s ? s->label.zh : current.state;
    return fail(Code::kTransitionNotAllowed,
                "当前状态「" + label + "」不能执行 '" + cmd.transition + "'（transition '" + cmd.transition +
                    "' is not allowed from state '" + current.state + "'）",
                Json{{"state", current.state}, {"transition", cmd.transition}});
  }
  if (barred_by_not_by(*t, current, who)) {
    return fail(Code::kForbidden, "同一人不能既执行 " + join(t->not_by) + " 又执行 " + t->name +
                                      "（separation of duties: whoever fired " + join(t->not_by) +
                                      " may not fire " + t->name + "）");
  }
  const ActorSpec* party = nullptr;
  if (t->is_countersign()) {
    party = open_party(*t, current, who);
    if (party == nullptr) {
      return fail(Code::kForbidden, "您无权会签或已会签（you hold no open countersign party, or you have voted already）");
    }
  } else if (!may_fire(*t, current, who)) {
    return fail(Code::kForbidden, "您无权执行「" + t->label.zh + "」（you may not fire '" + t->name + "'）");
  }
  if (auto stale = stale_version(current, cmd.expected_version)) return fail(std::move(*stale));
  Decision d;
  d.instance = current;
  Instance& in = d.instance;
  auto changes = apply_fields(env, cmd.fields, t->requires_fields, t->accepts, in.org, in.fields);
  if (!changes) return fail(changes.error());
  auto comment = check_comment(t->comment, cmd.comment);
  if (!comment) return fail(comment.error());

  const std::string from = in.state;
  const std::string previous_assignee = in.assignee_org;
  apply_special_fields(def, in, *changes, env.utc_offset_minutes);
  in.updated_at_ms = env.now_ms;
  Json event_changes = *changes;
  if (in.assignee_org != previous_assignee) event_changes["assignee_org"] = in.assignee_org;

  bool completes = true;
  if (t->is_countersign()) {
    if (in.approvals_for != t->name) {
      in.approvals.clear();
      in.approvals_for = t->name;
    }
    in.approvals.push_back({party->role, who.id});
    Event vote = base_event(in, who, env.now_ms, "approved");
    vote.transition = t->name;
    vote.from = vote.to = from;
    vote.changes = event_changes;
    vote.changes["approval"] = party->role;
    vote.comment = *comment;
    completes = in.approvals.size() == t->countersign.size();
    add_audience(vote.audience, t->notify, in);
    if (!completes) add_next_actors(vote.audience, def, in);
    push_event(d, std::move(vote));
    event_changes = Json::object();
  }
  if (!completes) {
    rearm_changed(d, env, *changes);  // a vote may set a date a timer hangs on
    return d;
  }

  in.fired_by[t->name].push_back(who.id);
  Event e = base_event(in, who, env.now_ms, "transitioned");
  e.transition = t->name;
  e.from = from;
  e.to = t->to.value_or(from);
  e.changes = event_changes;
  if (!t->is_countersign()) e.comment = *comment;
  if (t->to) {
    enter_state(d, env, *t->to);
  } else {
    // A countersign that stays in its state starts the next round with no votes (else each
    // party's earlier vote would refuse it for good).
    in.approvals.clear();
    in.approvals_for.clear();
    rearm_changed(d, env, *changes);
  }
  add_audience(e.audience, t->notify, in);
  if (t->to && *t->to != from) add_next_actors(e.audience, def, in);
  push_event(d, std::move(e));
  return d;
}

Result<Decision> decide_comment(const DecideEnv& env, const Instance& current, const AddComment& cmd,
                                const Principal& who) {
  if (!who.can_see(current.org, current.assignee_org)) return fail(not_found(current.id));
  const StateSpec* state = env.def.state(current.state);
  if ((current.closed_at_ms || (state != nullptr && state->terminal)) && !env.def.comments_after_close) {
    return fail(Code::kTransitionNotAllowed, "事项已结束，不能再发表意见（the instance is closed: comments are not accepted）",
                Json{{"state", current.state}});
  }
  auto comment = check_comment(CommentRule::kRequired, cmd.comment);
  if (!comment) return fail(comment.error());
  Decision d;
  d.instance = current;
  d.instance.updated_at_ms = env.now_ms;
  Event e = base_event(d.instance, who, env.now_ms, "commented");
  e.from = e.to = current.state;
  e.comment = *comment;
  push_event(d, std::move(e));
  return d;
}

std::optional<Decision> decide_timer(const DecideEnv& env, const Instance& current, const FireTimer& cmd) {
  const Definition& def = env.def;
  auto armed = std::find(current.timers.begin(), current.timers.end(), ArmedTimer{cmd.timer, cmd.due_ms});
  if (armed == current.timers.end()) return std::nullopt;
  const StateSpec* state = def.state(current.state);
  const TimerSpec* spec = nullptr;
  if (state != nullptr) {
    for (const TimerSpec& t : state->timers) {
      if (t.name == cmd.timer) spec = &t;
    }
  }
  Decision d;
  d.instance = current;
  Instance& in = d.instance;
  disarm(d, cmd.timer);
  if (spec == nullptr) return d;  // the definition no longer has it: just drop it
  if (std::find(in.fired_timers.begin(), in.fired_timers.end(), spec->name) == in.fired_timers.end()) {
    in.fired_timers.push_back(spec->name);
  }
  const Principal system = Principal::system_principal();
  in.updated_at_ms = env.now_ms;
  if (spec->overdue || !spec->remind.empty()) {
    Event e = base_event(in, system, env.now_ms, spec->overdue ? "overdue" : "reminded");
    e.from = e.to = in.state;
    e.changes = Json{{"timer", spec->name}};
    if (spec->overdue) {
      in.overdue = true;
      e.changes["overdue"] = true;
    }
    add_audience(e.audience, spec->remind, in);
    push_event(d, std::move(e));
  }
  if (!spec->transition.empty()) {
    const TransitionSpec* t = def.transition_from(spec->transition, in.state);
    if (t != nullptr) {
      const std::string from = in.state;
      in.fired_by[t->name].push_back(system.id);
      Event e = base_event(in, system, env.now_ms, "timer");
      e.transition = t->name;
      e.from = from;
      e.to = t->to.value_or(from);
      e.changes = Json{{"timer", spec->name}};
      if (t->to) enter_state(d, env, *t->to);
      add_audience(e.audience, t->notify, in);
      if (t->to && *t->to != from) add_next_actors(e.audience, def, in);
      push_event(d, std::move(e));
    }
  }
  return d;
}

std::optional<Error> check_migration_allowed(const Definition& from, const Instance& current, const MigrateInstance& cmd,
                                            const Principal& who) {
  if (!who.can_see(current.org, current.assignee_org)) return not_found(current.id);
  if (!who.system && !who.has_role_covering("admin", current.org)) {
    return Error::make(Code::kForbidden, "只有管辖此事项的系统管理员可以迁移它（only an administrator over " + current.org +
                                             " may migrate this instance）");
  }
  if (auto stale = stale_version(current, cmd.expected_version)) return stale;
  const StateSpec* state = from.state(current.state);
  if (current.closed_at_ms || (state != nullptr && state->terminal)) {
    return Error::make(Code::kTransitionNotAllowed, "已结束的实例保留其版本（a closed instance keeps its version）",
                       Json{{"state", current.state}});
  }
  return std::nullopt;
}

namespace {

Result<std::string> states_error(const std::string& rule, const std::string& state, const std::string& zh,
                                 const std::string& en) {
  return fail(Code::kInvalidField, zh + "（" + en + "）", Json{{"field", "states"}, {"rule", rule}, {"state", state}});
}

// The state the instance lands in under `to`. The whole mapping is checked, not only the entry
// used: one mapping is meant for many instances, and a misspelt state must not pass because
// this instance is elsewhere.
Result<std::string> migration_state(const Definition& from, const Definition& to, const Instance& current,
                                    const MigrateInstance& cmd) {
  const std::string v = std::to_string(to.version);
  for (const auto& [old_name, new_name] : cmd.states) {
    if (from.state(old_name) == nullptr) {
      return states_error("unknown_state", old_name, "原版本没有状态 '" + old_name + "'",
                          "version " + std::to_string(from.version) + " has no state '" + old_name + "'");
    }
    const StateSpec* mapped = to.state(new_name);
    if (mapped == nullptr) {
      return states_error("unknown_state", new_name, "新版本没有状态 '" + new_name + "'",
                          "version " + v + " has no state '" + new_name + "'");
    }
    if (mapped->terminal) {
      return states_error("terminal", new_name, "不能迁移到终止状态 '" + new_name + "'，请以迁移（transition）结束实例",
                          "cannot migrate into the terminal state '" + new_name + "': close the instance with a transition");
    }
  }
  auto mapped = cmd.states.find(current.state);
  const std::string new_state = mapped != cmd.states.end() ? mapped->second : current.state;
  const StateSpec* target = to.state(new_state);
  if (target == nullptr || target->terminal) {
    return states_error(target == nullptr ? "unknown_state" : "terminal", current.state,
                        "新版本没有可对应当前状态 '" + current.state + "' 的同名非终止状态，请在 states 中给出",
                        "version " + v + " has no non-terminal state '" + current.state + "': map it in states");
  }
  return new_state;
}

// The instance as it is must be a valid instance of `to`: its org's kind, every value it holds
// (nothing is dropped), what `to` requires at creation, and the same assignee org.
std::optional<Error> check_instance_fits(const DecideEnv& env, const Definition& to, const Instance& current) {
  const std::string v = std::to_string(to.version);
  if (!to.create.org_kind.empty()) {
    auto org = env.orgs.find_org(current.org);
    if (!org || org->kind != to.create.org_kind) {
      return Error::make(Code::kInvalidField,
                         "新版本的事项只能属于 " + to.create.org_kind + " 类组织（version " + v +
                             "'s instances belong to an org of kind " + to.create.org_kind + "）",
                         Json{{"field", "org"}, {"rule", "org_kind"}, {"org_kind", to.create.org_kind}});
    }
  }
  for (auto it = current.fields.begin(); it != current.fields.end(); ++it) {
    const FieldSpec* spec = to.field(it.key());
    if (spec == nullptr) {
      return invalid_field(it.key(), "unknown", "在新版本中不存在，迁移不会丢弃数据",
                           "does not exist in version " + v + " (migrating drops no data)");
    }
    if (is_blank(it.value())) continue;
    if (auto err = check_value(*spec, it.value(), current.org, env.orgs, env.utc_offset_minutes)) return err;
  }
  // What the new version requires at creation, every instance of it holds (a timer's transition
  // may rely on it: definition.cc).
  std::vector<std::string> missing;
  for (const std::string& name : to.create.requires_fields) {
    if (!has_value(current.fields, name)) missing.push_back(name);
  }
  if (!missing.empty()) {
    return Error::make(Code::kMissingFields,
                       "新版本创建时必填的字段缺少：" + join(missing) + "（fields version " + v +
                           " requires at creation are missing: " + join(missing) + "）",
                       Json{{"missing", missing}});
  }
  // The assignee stays: a migration changes the rules, not who leads the work. (A new assignee
  // field the instance has not filled would leave it without one: nobody "of the assignee"
  // could act, and the branch would lose sight of it.)
  std::string assignee;
  if (!to.assignee_field.empty() && has_value(current.fields, to.assignee_field) &&
      current.fields[to.assignee_field].is_string()) {
    assignee = current.fields[to.assignee_field].get<std::string>();
  }
  if (assignee != current.assignee_org) {
    const std::string was = current.assignee_org.empty() ? "（无）" : current.assignee_org;
    const std::string would = assignee.empty() ? "（无）" : assignee;
    return Error::make(Code::kInvalidField,
                       "按新版本，承办组织将从 " + was + " 变为 " + would + "；迁移不改变承办（under version " + v +
                           " the assignee org would change from " + was + " to " + would + "; a migration keeps the assignee）",
                       Json{{"field", "assignee_org"}, {"rule", "assignee"}});
  }
  return std::nullopt;
}

// Timers: a migration is not a new entry into the state. One armed before under the same name
// keeps its due time (an `at_field` one follows the field as the new version reads it); one
// that has fired since the state was entered (fired_timers, kept across migrations) stays
// fired; any other is armed now — a new obligation, or one never armed (its date unset).
// Timers are matched by name: a renamed timer is a new one.
void carry_timers(Decision& d, const DecideEnv& env, const StateSpec& target, const std::vector<ArmedTimer>& was_armed) {
  Instance& in = d.instance;
  in.timers.clear();
  for (const TimerSpec& t : target.timers) {
    const auto before = std::find_if(was_armed.begin(), was_armed.end(), [&](const ArmedTimer& a) { return a.name == t.name; });
    if (before != was_armed.end()) {
      const std::optional<int64_t> due = t.after_ms ? std::optional<int64_t>(before->due_ms) : timer_due(env, t, in);
      if (due == before->due_ms) {
        in.timers.push_back(*before);  // its stored key stays as it is
        continue;
      }
      d.disarmed.push_back(*before);
      if (due) {
        in.timers.push_back({t.name, *due});
        d.armed.push_back({t.name, *due});
      }
      continue;
    }
    const bool fired = std::find(in.fired_timers.begin(), in.fired_timers.end(), t.name) != in.fired_timers.end();
    if (!fired) arm(d, env, t);
  }
  for (const ArmedTimer& a : was_armed) {
    const bool kept = std::any_of(in.timers.begin(), in.timers.end(), [&](const ArmedTimer& t) { return t == a; });
    const bool moved = std::find(d.disarmed.begin(), d.disarmed.end(), a) != d.disarmed.end();
    if (!kept && !moved) d.disarmed.push_back(a);  // the new state has no timer of its name
  }
}

}  // namespace

Result<Decision> decide_migration(const DecideEnv& env, const Definition& from, const Instance& current,
                                  const MigrateInstance& cmd, const Principal& who) {
  const Definition& to = env.def;
  if (auto refused = check_migration_allowed(from, current, cmd, who)) return fail(std::move(*refused));
  auto new_state = migration_state(from, to, current, cmd);
  if (!new_state) return fail(new_state.error());
  if (auto unfit = check_instance_fits(env, to, current)) return fail(std::move(*unfit));
  auto comment = check_comment(CommentRule::kOptional, cmd.comment);
  if (!comment) return fail(comment.error());

  Decision d;
  d.instance = current;
  Instance& in = d.instance;
  in.workflow_version = to.version;
  in.updated_at_ms = env.now_ms;
  in.due_at_ms = !to.due_field.empty() && has_value(in.fields, to.due_field)
                     ? field_moment_ms(*to.field(to.due_field), in.fields[to.due_field], env.utc_offset_minutes)
                     : std::nullopt;
  in.approvals.clear();
  in.approvals_for.clear();
  in.state = *new_state;
  carry_timers(d, env, *to.state(*new_state), current.timers);
  Event e = base_event(in, who, env.now_ms, "migrated");
  e.from = current.state;
  e.to = *new_state;
  e.changes = Json{{"workflow_version", to.version}, {"previous_version", from.version}};
  e.comment = *comment;
  add_next_actors(e.audience, to, in);
  push_event(d, std::move(e));
  return d;
}

std::vector<Action> available_actions(const Definition& def, const Instance& in, const Principal& who) {
  std::vector<Action> out;
  if (!who.can_see(in.org, in.assignee_org)) return out;
  for (const TransitionSpec* t : def.transitions_from(in.state)) {
    if (may_fire(*t, in, who)) out.push_back(Action{t});
  }
  return out;
}

Json actions_json(const Definition& def, const Instance& in, const Principal& who) {
  static constexpr const char* kComment[] = {"optional", "required", "none"};
  Json out = Json::array();
  for (const Action& a : available_actions(def, in, who)) {
    const TransitionSpec& t = *a.transition;
    out.push_back({{"transition", t.name},
                   {"label", label_json(t.label)},
                   {"to", t.to ? Json(*t.to) : Json(nullptr)},
                   {"requires", t.requires_fields},
                   {"accepts", t.accepts},
                   {"comment", kComment[static_cast<int>(t.comment)]},
                   {"countersign", t.is_countersign()}});
  }
  return out;
}

std::string instance_view_text(const Definition* def, const Instance& in, const Principal& who) {
  std::vector<const TransitionSpec*> actions;
  if (def != nullptr) {
    for (const Action& a : available_actions(*def, in, who)) actions.push_back(a.transition);
  }
  std::string out;
  out.reserve(1536);
  append_instance_view(out, in, def, actions);
  return out;
}

std::vector<std::pair<std::string, std::string>> todo_slots(const Definition& def, const Instance& in) {
  std::set<std::pair<std::string, std::string>> slots;
  for (const TransitionSpec* t : def.transitions_from(in.state)) {
    if (!t->is_todo()) continue;
    for (const ActorSpec& a : t->is_countersign() ? t->countersign : t->actors) {
      if (a.creator) {
        slots.insert({"@creator", in.created_by});
      } else if (a.of_assignee) {
        if (!in.assignee_org.empty()) slots.insert({a.role, in.assignee_org});
      } else {
        slots.insert({a.role, in.org});
      }
    }
  }
  return {slots.begin(), slots.end()};
}

}  // namespace pioneer::engine
