// Workflow definitions: parsing, validation, lookups and diagrams (docs/definitions.md).
//
// Validation walks the JSON once, in dependency order (fields, then states, create,
// transitions, timers, then whole-graph checks), and collects every problem with its JSON
// pointer instead of stopping at the first: people fix hand-written files faster when they
// see everything at once.
#include "engine/core/definition.h"

#include <algorithm>
#include <climits>
#include <deque>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <set>

#include "common/input.h"

namespace pioneer::engine {
namespace {

// ---------------------------------------------------------------- small helpers

// "中文（English）": every message a person reads, Chinese first.
std::string both(std::string_view zh, std::string_view en) {
  return std::string(zh) + "（" + std::string(en) + "）";
}

std::string q(std::string_view s) { return "'" + std::string(s) + "'"; }

// Appends one reference token to a JSON pointer (RFC 6901: '~' → "~0", '/' → "~1").
std::string at(const std::string& base, std::string_view token) {
  std::string out = base + "/";
  for (char c : token) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}
std::string at(const std::string& base, size_t index) { return base + "/" + std::to_string(index); }

std::string type_name_zh(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "布尔值";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "数字";
    case Json::value_t::string: return "字符串";
    case Json::value_t::array: return "数组";
    case Json::value_t::object: return "对象";
    default: return "其他";
  }
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Workflow ids appear in URLs and file names.
bool valid_workflow_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  auto ok = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (!first && c == '-');
  };
  for (size_t i = 0; i < id.size(); ++i) {
    if (!ok(id[i], i == 0)) return false;
  }
  return true;
}

// Names of fields, states, transitions and timers are stable API identifiers.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!letter(name[0])) return false;
  for (char c : name) {
    if (!letter(c) && !(c >= '0' && c <= '9') && c != '-') return false;
  }
  return true;
}

std::optional<FieldType> field_type_from(std::string_view name) {
  static constexpr FieldType kAll[] = {
      FieldType::kString, FieldType::kText, FieldType::kInteger, FieldType::kNumber,
      FieldType::kBoolean, FieldType::kDate, FieldType::kDatetime, FieldType::kEnum,
      FieldType::kOrg, FieldType::kUser};
  for (FieldType t : kAll) {
    if (field_type_name(t) == name) return t;
  }
  return std::nullopt;
}

bool is_date_type(FieldType t) { return t == FieldType::kDate || t == FieldType::kDatetime; }

// A string found in a list, with where it was.
struct Item {
  std::string value;
  std::string path;
};

std::vector<std::string> values(const std::vector<Item>& items) {
  std::vector<std::string> out;
  for (const Item& i : items) out.push_back(i.value);
  return out;
}

// ---------------------------------------------------------------- the validator

class Parser {
 public:
  Parser(const Json& root, const RoleCatalog& roles) : root_(root), roles_(roles) {}

  Result<Definition> run();

 private:
  void problem(std::string path, std::string zh, std::string en) {
    problems_.push_back({std::move(path), both(zh, en)});
  }

  // ---- generic readers: each reports wrong types and returns nothing on a problem ----
  void check_keys(const Json& obj, const std::string& path,
                  std::initializer_list<std::string_view> allowed);
  void require_keys(const Json& obj, const std::string& path,
                    std::initializer_list<std::string_view> required);
  const Json* member(const Json& obj, std::string_view key) const;
  bool expect(const Json& value, const std::string& path, bool ok, std::string_view zh_type,
              std::string_view en_type);
  std::optional<std::string> read_string(const Json& obj, std::string_view key, const std::string& path);
  std::optional<bool> read_bool(const Json& obj, std::string_view key, const std::string& path);
  std::optional<double> read_number(const Json& obj, std::string_view key, const std::string& path);
  std::vector<Item> read_strings(const Json& obj, std::string_view key, const std::string& path);
  Label read_label(const Json& obj, std::string_view key, const std::string& path, bool required);
  std::vector<ActorSpec> read_actors(const Json& obj, std::string_view key, const std::string& path,
                                     bool allow_creator);
  std::optional<ActorSpec> read_actor(const Json& value, const std::string& path, bool allow_creator);
  CommentRule read_comment(const Json& obj, const std::string& path);
  std::optional<int64_t> read_duration(const Json& obj, std::string_view key, const std::string& path);

  // ---- the parts, in dependency order ----
  void parse_header();
  void parse_fields();
  std::optional<FieldSpec> parse_field(const std::string& name, const Json& spec, const std::string& path);
  void parse_field_limits(FieldSpec& field, const Json& spec, const std::string& path);
  void parse_options(FieldSpec& field, const Json& spec, const std::string& path);
  void parse_special_fields();
  void parse_states();
  void parse_create();
  void parse_transitions();
  void parse_transition(const Json& spec, size_t index);
  void check_not_by();
  void parse_timers();
  std::optional<TimerSpec> parse_timer(const StateSpec& state, const Json& spec, const std::string& path);
  void check_graph();
  void check_instant_timer_cycles();
  void check_system_only_transitions();

  // ---- reference checks ----
  void check_fields_exist(const std::vector<Item>& names);
  bool check_state_exists(const Item& name);
  bool has_state(std::string_view name) const { return def_.states.count(std::string(name)) > 0; }

  const Json& root_;
  const RoleCatalog& roles_;
  Definition def_;
  std::vector<Problem> problems_;
  // The index in the file's "transitions" array of each entry of def_.transitions.
  std::vector<size_t> transition_index_;
  // Fields known by name whose type is not known (reported already): type checks skip them.
  std::set<std::string> untyped_fields_;
  // States whose spec is malformed, so whether they are terminal is not known.
  std::set<std::string> unsure_states_;
  // States whose timers are malformed: whether a timer fires a system-only transition is unknown.
  std::set<std::string> unsure_timers_;
  // Set when a state reference or a transition is malformed: the graph checks would then
  // report the consequences of that one mistake (unreachable states...) as further problems.
  bool graph_unsure_ = false;
};

// ---- generic readers

void Parser::check_keys(const Json& obj, const std::string& path,
                        std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    // A near miss is almost always a typo ("requries"): name the key that was meant.
    std::string_view best;
    size_t best_distance = 3;
    for (std::string_view candidate : allowed) {
      const size_t d = edit_distance(key, candidate);
      if (d < best_distance) best = candidate, best_distance = d;
    }
    if (best.empty()) {
      problem(at(path, key), "未知键 " + q(key), "unknown key " + q(key));
    } else {
      problem(at(path, key), "未知键 " + q(key) + "，是否应为 " + q(best),
              "unknown key " + q(key) + ", did you mean " + q(best) + "?");
    }
  }
}

void Parser::require_keys(const Json& obj, const std::string& path,
                          std::initializer_list<std::string_view> required) {
  for (std::string_view key : required) {
    if (!obj.contains(key)) {
      problem(at(path, key), "缺少必填键 " + q(key), "missing required key " + q(key));
    }
  }
}

const Json* Parser::member(const Json& obj, std::string_view key) const {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

bool Parser::expect(const Json& value, const std::string& path, bool ok, std::string_view zh_type,
                    std::string_view en_type) {
  if (!ok) {
    problem(path, "应为" + std::string(zh_type) + "，实际为" + type_name_zh(value),
            "expected " + std::string(en_type) + ", got " + value.type_name());
  }
  return ok;
}

std::optional<std::string> Parser::read_string(const Json& obj, std::string_view key,
                                               const std::string& path) {
  const Json* v = member(obj, key);
  if (v == nullptr || !expect(*v, at(path, key), v->is_string(), "字符串", "a string")) return std::nullopt;
  return v->get<std::string>();
}

std::optional<bool> Parser::read_bool(const Json& obj, std::string_view key, const std::string& path) {
  const Json* v = member(obj, key);
  if (v == nullptr || !expect(*v, at(path, key), v->is_boolean(), "布尔值", "a boolean")) return std::nullopt;
  return v->get<bool>();
}

std::optional<double> Parser::read_number(const Json& obj, std::string_view key, const std::string& path) {
  const Json* v = member(obj, key);
  if (v == nullptr || !expect(*v, at(path, key), v->is_number(), "数字", "a number")) return std::nullopt;
  return v->get<double>();
}

std::vector<Item> Parser::read_strings(const Json& obj, std::string_view key, const std::string& path) {
  std::vector<Item> items;
  const Json* v = member(obj, key);
  const std::string list_path = at(path, key);
  if (v == nullptr || !expect(*v, list_path, v->is_array(), "字符串数组", "an array of strings")) {
    return items;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& e = (*v)[i];
    if (expect(e, at(list_path, i), e.is_string(), "字符串", "a string")) {
      items.push_back({e.get<std::string>(), at(list_path, i)});
    }
  }
  return items;
}

Label Parser::read_label(const Json& obj, std::string_view key, const std::string& path, bool required) {
  Label label;
  const std::string label_path = at(path, key);
  const Json* v = member(obj, key);
  if (v == nullptr) {
    if (required) problem(label_path, "缺少标签 " + q(key), "missing label " + q(key));
    return label;
  }
  if (!expect(*v, label_path, v->is_object(), "对象 {\"zh\", \"en\"}", "an object {\"zh\", \"en\"}")) {
    return label;
  }
  check_keys(*v, label_path, {"zh", "en"});
  const std::optional<std::string> zh = read_string(*v, "zh", label_path);
  if (!v->contains("zh") || (zh && zh->empty())) {
    problem(at(label_path, "zh"), "标签缺少中文 'zh'", "label is missing 'zh'");
  }
  label.zh = zh.value_or("");
  label.en = read_string(*v, "en", label_path).value_or("");
  return label;
}

std::optional<ActorSpec> Parser::read_actor(const Json& value, const std::string& path,
                                            bool allow_creator) {
  if (!expect(value, path, value.is_object(), "对象", "an object")) return std::nullopt;
  check_keys(value, path, {"role", "of", "creator"});
  ActorSpec actor;
  const std::optional<std::string> role = read_string(value, "role", path);
  const std::optional<bool> creator = read_bool(value, "creator", path);
  const std::optional<std::string> of = read_string(value, "of", path);
  actor.creator = creator.value_or(false);
  if (role) {
    actor.role = *role;
    if (!roles_.has_role(*role)) {
      problem(at(path, "role"), "未知角色 " + q(*role), "unknown role " + q(*role));
    }
  }
  if (!value.contains("role") && !actor.creator) {
    problem(path, "参与者须有 'role' 或 \"creator\": true",
            "an actor needs a 'role' or \"creator\": true");
  }
  if (value.contains("role") && actor.creator) {
    problem(at(path, "creator"), "参与者不能同时有 'role' 和 'creator'",
            "an actor cannot have both 'role' and 'creator'");
  }
  if (actor.creator && !allow_creator) {
    problem(at(path, "creator"), "此处不能使用 creator", "'creator' is not allowed here");
  }
  if (of) {
    if (*of != "assignee") {
      problem(at(path, "of"), "'of' 只能为 'assignee'，不能为 " + q(*of),
              "'of' must be 'assignee', not " + q(*of));
    } else if (!value.contains("role")) {
      problem(at(path, "of"), "'of' 只能与 'role' 一起使用", "'of' is only allowed with 'role'");
    } else if (!root_.contains("assignee_field")) {
      problem(at(path, "of"), "\"of\": \"assignee\" 需要定义 assignee_field",
              "\"of\": \"assignee\" needs an assignee_field");
    } else {
      actor.of_assignee = true;
    }
  }
  return actor;
}

std::vector<ActorSpec> Parser::read_actors(const Json& obj, std::string_view key, const std::string& path,
                                           bool allow_creator) {
  std::vector<ActorSpec> actors;
  const Json* v = member(obj, key);
  const std::string list_path = at(path, key);
  if (v == nullptr || !expect(*v, list_path, v->is_array(), "数组", "an array")) return actors;
  for (size_t i = 0; i < v->size(); ++i) {
    if (auto actor = read_actor((*v)[i], at(list_path, i), allow_creator)) actors.push_back(*actor);
  }
  return actors;
}

CommentRule Parser::read_comment(const Json& obj, const std::string& path) {
  const std::optional<std::string> rule = read_string(obj, "comment", path);
  if (!rule || *rule == "optional") return CommentRule::kOptional;
  if (*rule == "required") return CommentRule::kRequired;
  if (*rule == "none") return CommentRule::kNone;
  problem(at(path, "comment"), "comment 须为 required、optional 或 none，不能为 " + q(*rule),
          "comment must be required, optional or none, not " + q(*rule));
  return CommentRule::kOptional;
}

std::optional<int64_t> Parser::read_duration(const Json& obj, std::string_view key,
                                             const std::string& path) {
  const std::optional<std::string> text = read_string(obj, key, path);
  if (!text) return std::nullopt;
  std::optional<int64_t> ms = parse_duration_ms(*text);
  if (!ms) {
    problem(at(path, key), "无效的 ISO 8601 时长 " + q(*text) + "，应如 P7D、PT12H、-P7D，不支持年和月",
            "bad ISO 8601 duration " + q(*text) + ", e.g. P7D, PT12H, -P7D; years and months are not allowed");
    return ms;
  }
  // A deadline a century away is no deadline; and a bound keeps "now + after" and "date +
  // offset" far from overflowing (an overflowed due time read as due at once, for ever).
  if (*ms > kMaxDurationMs || *ms < -kMaxDurationMs) {
    problem(at(path, key), "时长 " + q(*text) + " 超过 36500 天（100 年）",
            "duration " + q(*text) + " is longer than 36500 days (100 years)");
    return std::nullopt;
  }
  return ms;
}

// ---- the parts

void Parser::parse_header() {
  check_keys(root_, "", {"id", "version", "title", "title_field", "assignee_field", "due_field",
                         "fields", "create", "states", "transitions", "description", "comments_after_close"});
  require_keys(root_, "", {"id", "title", "fields", "create", "states", "transitions"});
  if (auto id = read_string(root_, "id", "")) {
    def_.id = *id;
    if (!valid_workflow_id(*id)) {
      problem("/id", "id " + q(*id) + " 须由小写字母、数字和连字符组成，且以字母或数字开头",
              "id " + q(*id) + " must match [a-z0-9][a-z0-9-]* (at most 64 characters)");
    }
  }
  def_.version = 1;
  if (const Json* v = member(root_, "version")) {
    const bool positive = v->is_number_integer() && v->get<int64_t>() > 0 && v->get<int64_t>() <= INT_MAX;
    if (!positive) {
      problem("/version", "version 须为正整数", "version must be a positive integer");
    } else {
      def_.version = static_cast<int>(v->get<int64_t>());
    }
  }
  def_.comments_after_close = read_bool(root_, "comments_after_close", "").value_or(false);
  def_.title = read_label(root_, "title", "", /*required=*/false);  // missing: reported above
  read_label(root_, "description", "", /*required=*/false);
}

void Parser::parse_fields() {
  const Json* fields = member(root_, "fields");
  if (fields == nullptr || !expect(*fields, "/fields", fields->is_object(), "对象", "an object")) return;
  for (const auto& [name, spec] : fields->items()) {
    const std::string path = at("/fields", name);
    if (!valid_name(name)) {
      problem(path, "字段名 " + q(name) + " 须为标识符（字母、数字、下划线、连字符）",
              "field name " + q(name) + " must be an identifier (letters, digits, '_', '-')");
    } else if (name == "approval" || name == "assignee_org") {
      // An event's `changes` carries these beside the fields: a field of that name would be
      // overwritten in the hash-chained record of what was done.
      problem(path, "字段名 " + q(name) + " 为系统保留", "field name " + q(name) + " is reserved");
    }
    if (auto field = parse_field(name, spec, path)) {
      def_.fields[name] = std::move(*field);
    } else {
      // Still known by name, so references to it are not reported as a second problem.
      def_.fields[name].name = name;
      untyped_fields_.insert(name);
    }
  }
}

std::optional<FieldSpec> Parser::parse_field(const std::string& name, const Json& spec,
                                             const std::string& path) {
  if (!expect(spec, path, spec.is_object(), "对象", "an object")) return std::nullopt;
  require_keys(spec, path, {"type", "label"});
  FieldSpec field;
  field.name = name;
  field.label = read_label(spec, "label", path, /*required=*/false);
  const std::optional<std::string> type_text = read_string(spec, "type", path);
  const std::optional<FieldType> type = type_text ? field_type_from(*type_text) : std::nullopt;
  if (type_text && !type) {
    problem(at(path, "type"), "未知字段类型 " + q(*type_text),
            "unknown field type " + q(*type_text) +
                " (string, text, integer, number, boolean, date, datetime, enum, org, user)");
  }
  if (!type) {
    // Without a known type we cannot tell which keys belong; still catch plain typos.
    check_keys(spec, path, {"type", "label", "max_length", "min", "max", "options", "org_kind"});
    return std::nullopt;
  }
  field.type = *type;
  // Keys that exist but belong to another type are named as such: "min on a string field".
  static constexpr std::string_view kTypeKeys[] = {"max_length", "min", "max", "options", "org_kind"};
  std::vector<std::string_view> allowed = {"type", "label"};
  switch (field.type) {
    case FieldType::kString:
    case FieldType::kText: allowed.push_back("max_length"); break;
    case FieldType::kInteger:
    case FieldType::kNumber: allowed.insert(allowed.end(), {"min", "max"}); break;
    case FieldType::kEnum: allowed.push_back("options"); break;
    case FieldType::kOrg: allowed.push_back("org_kind"); break;
    default: break;
  }
  for (const auto& [key, value] : spec.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    if (std::find(std::begin(kTypeKeys), std::end(kTypeKeys), key) != std::end(kTypeKeys)) {
      problem(at(path, key), q(key) + " 不适用于 " + *type_text + " 类型的字段",
              q(key) + " does not apply to a field of type " + *type_text);
    }
  }
  check_keys(spec, path, {"type", "label", "max_length", "min", "max", "options", "org_kind"});
  parse_field_limits(field, spec, path);
  if (field.type == FieldType::kEnum) parse_options(field, spec, path);
  if (field.type == FieldType::kOrg) {
    if (auto kind = read_string(spec, "org_kind", path)) {
      field.org_kind = *kind;
      if (!roles_.has_org_kind(*kind)) {
        problem(at(path, "org_kind"), "未知组织类型 " + q(*kind), "unknown org_kind " + q(*kind));
      }
    }
  }
  return field;
}

void Parser::parse_field_limits(FieldSpec& field, const Json& spec, const std::string& path) {
  if (field.type == FieldType::kString || field.type == FieldType::kText) {
    field.max_length = field.type == FieldType::kString ? 200 : 10000;
    if (const Json* v = member(spec, "max_length")) {
      // Bounded: every character of a title is indexed (its bigrams), on the writer's thread.
      const int64_t most = field.type == FieldType::kString ? 1000 : 100000;
      if (!v->is_number_integer() || v->get<int64_t>() <= 0) {
        problem(at(path, "max_length"), "max_length 须为正整数", "max_length must be a positive integer");
      } else if (v->get<int64_t>() > most) {
        problem(at(path, "max_length"), "max_length 不能超过 " + std::to_string(most),
                "max_length cannot exceed " + std::to_string(most));
      } else {
        field.max_length = v->get<int64_t>();
      }
    }
  }
  if (field.type != FieldType::kInteger && field.type != FieldType::kNumber) return;
  for (const char* key : {"min", "max"}) {
    const std::optional<double> n = read_number(spec, key, path);
    if (!n) continue;
    if (field.type == FieldType::kInteger && !spec[key].is_number_integer()) {
      problem(at(path, key), std::string(key) + " 须为整数", std::string(key) + " must be an integer");
      continue;
    }
    (std::string_view(key) == "min" ? field.min : field.max) = *n;
  }
  if (field.min && field.max && *field.min > *field.max) {
    problem(at(path, "min"), "min 大于 max", "min is greater than max");
  }
}

void Parser::parse_options(FieldSpec& field, const Json& spec, const std::string& path) {
  const std::string list_path = at(path, "options");
  const Json* options = member(spec, "options");
  if (options == nullptr) {
    problem(list_path, "枚举字段缺少 'options'", "an enum field needs 'options'");
    return;
  }
  if (!expect(*options, list_path, options->is_array(), "数组", "an array")) return;
  if (options->empty()) {
    problem(list_path, "枚举字段的 'options' 不能为空", "an enum field needs at least one option");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < options->size(); ++i) {
    const Json& o = (*options)[i];
    const std::string o_path = at(list_path, i);
    if (!expect(o, o_path, o.is_object(), "对象", "an object")) continue;
    check_keys(o, o_path, {"value", "label"});
    require_keys(o, o_path, {"value", "label"});
    FieldOption option;
    option.label = read_label(o, "label", o_path, /*required=*/false);
    const std::optional<std::string> value = read_string(o, "value", o_path);
    if (!value) continue;
    option.value = *value;
    if (value->empty()) {
      problem(at(o_path, "value"), "选项值不能为空", "an option value cannot be empty");
    } else if (!seen.insert(*value).second) {
      problem(at(o_path, "value"), "重复的选项值 " + q(*value), "duplicate option value " + q(*value));
    }
    field.options.push_back(std::move(option));
  }
}

void Parser::parse_special_fields() {
  struct Rule {
    const char* key;
    std::string* target;
    bool (*fits)(FieldType);
    const char* zh_kind;
    const char* en_kind;
  };
  const Rule rules[] = {
      {"title_field", &def_.title_field, [](FieldType t) { return t == FieldType::kString; }, "string", "string"},
      {"assignee_field", &def_.assignee_field, [](FieldType t) { return t == FieldType::kOrg; }, "org", "org"},
      {"due_field", &def_.due_field, is_date_type, "date 或 datetime", "date or datetime"},
  };
  for (const Rule& rule : rules) {
    const std::optional<std::string> name = read_string(root_, rule.key, "");
    if (!name) continue;
    *rule.target = *name;
    const std::string path = at("", rule.key);
    const FieldSpec* field = def_.field(*name);
    if (field == nullptr) {
      problem(path, "未知字段 " + q(*name), "unknown field " + q(*name));
    } else if (!untyped_fields_.count(*name) && !rule.fits(field->type)) {
      problem(path, std::string(rule.key) + " 字段 " + q(*name) + " 须为 " + rule.zh_kind + " 类型",
              std::string(rule.key) + " field " + q(*name) + " must be of type " + rule.en_kind);
    }
  }
}

void Parser::parse_states() {
  const Json* states = member(root_, "states");
  if (states == nullptr || !expect(*states, "/states", states->is_object(), "对象", "an object")) return;
  if (states->empty()) problem("/states", "至少需要一个状态", "at least one state is needed");
  for (const auto& [name, spec] : states->items()) {
    const std::string path = at("/states", name);
    if (!valid_name(name)) {
      problem(path, "状态名 " + q(name) + " 须为标识符", "state name " + q(name) + " must be an identifier");
    }
    StateSpec state;
    state.name = name;
    // Register even a malformed state, so references to it are not reported a second time.
    const bool well_formed = expect(spec, path, spec.is_object(), "对象", "an object");
    if (!well_formed || (spec.contains("terminal") && !spec["terminal"].is_boolean())) {
      unsure_states_.insert(name);
    }
    if (well_formed) {
      check_keys(spec, path, {"label", "terminal", "cancelled", "timers"});
      state.label = read_label(spec, "label", path, /*required=*/true);
      state.terminal = read_bool(spec, "terminal", path).value_or(false);
      state.cancelled = read_bool(spec, "cancelled", path).value_or(false);
      if (state.cancelled && !state.terminal) {
        problem(at(path, "cancelled"), "cancelled 只能用于终止状态（需 \"terminal\": true）",
                "cancelled is only allowed on a terminal state (\"terminal\": true)");
      }
    }
    def_.states[name] = std::move(state);
  }
}

void Parser::check_fields_exist(const std::vector<Item>& names) {
  for (const Item& item : names) {
    if (def_.field(item.value) == nullptr) {
      problem(item.path, "未知字段 " + q(item.value), "unknown field " + q(item.value));
    }
  }
}

bool Parser::check_state_exists(const Item& name) {
  if (has_state(name.value)) return true;
  problem(name.path, "未知状态 " + q(name.value), "unknown state " + q(name.value));
  graph_unsure_ = true;
  return false;
}

void Parser::parse_create() {
  const Json* create = member(root_, "create");
  if (create == nullptr || !expect(*create, "/create", create->is_object(), "对象", "an object")) return;
  check_keys(*create, "/create", {"org_kind", "actors", "requires", "accepts", "to", "comment", "notify"});
  require_keys(*create, "/create", {"actors", "to"});
  CreateSpec& spec = def_.create;
  if (auto kind = read_string(*create, "org_kind", "/create")) {
    spec.org_kind = *kind;
    if (!roles_.has_org_kind(*kind)) {
      problem("/create/org_kind", "未知组织类型 " + q(*kind), "unknown org_kind " + q(*kind));
    }
  }
  // Nobody created the instance yet, so "creator" cannot authorise creating it.
  spec.actors = read_actors(*create, "actors", "/create", /*allow_creator=*/false);
  if (create->contains("actors") && (*create)["actors"].is_array() && (*create)["actors"].empty()) {
    problem("/create/actors", "至少需要一个可创建的参与者", "at least one actor must be able to create");
  }
  // Nor is there an assignee before the instance exists: such an actor could never create.
  for (size_t i = 0; i < spec.actors.size(); ++i) {
    if (spec.actors[i].of_assignee) {
      problem(at(at("/create/actors", std::to_string(i)), "of"), "创建时还没有承办组织，不能用 \"of\": \"assignee\"",
              "there is no assignee before the instance exists: \"of\": \"assignee\" cannot create");
    }
  }
  const std::vector<Item> requires_fields = read_strings(*create, "requires", "/create");
  const std::vector<Item> accepts = read_strings(*create, "accepts", "/create");
  check_fields_exist(requires_fields);
  check_fields_exist(accepts);
  spec.requires_fields = values(requires_fields);
  spec.accepts = values(accepts);
  if (auto to = read_string(*create, "to", "/create")) {
    spec.to = *to;
    check_state_exists({*to, "/create/to"});
  }
  spec.comment = read_comment(*create, "/create");
  spec.notify = read_actors(*create, "notify", "/create", /*allow_creator=*/true);
}

void Parser::parse_transitions() {
  const Json* list = member(root_, "transitions");
  if (list == nullptr || !expect(*list, "/transitions", list->is_array(), "数组", "an array")) {
    graph_unsure_ = true;
    return;
  }
  for (size_t i = 0; i < list->size(); ++i) parse_transition((*list)[i], i);
}

void Parser::parse_transition(const Json& spec, size_t index) {
  const std::string path = at("/transitions", index);
  if (!expect(spec, path, spec.is_object(), "对象", "an object")) {
    graph_unsure_ = true;
    return;
  }
  check_keys(spec, path, {"name", "label", "from", "to", "actors", "requires", "accepts", "comment",
                          "notify", "countersign", "countersign_same_person", "not_by", "todo"});
  require_keys(spec, path, {"name", "label", "from"});
  TransitionSpec t;
  t.name = read_string(spec, "name", path).value_or("");
  if (spec.contains("name") && spec["name"].is_string() && !valid_name(t.name)) {
    problem(at(path, "name"), "迁移名 " + q(t.name) + " 须为标识符",
            "transition name " + q(t.name) + " must be an identifier");
  }
  t.label = read_label(spec, "label", path, /*required=*/false);
  const std::vector<Item> from = read_strings(spec, "from", path);
  if (!spec.contains("from") || !spec["from"].is_array() || from.size() != spec["from"].size()) {
    graph_unsure_ = true;
  }
  if (spec.contains("from") && spec["from"].is_array() && spec["from"].empty()) {
    problem(at(path, "from"), "'from' 至少需要一个状态", "'from' needs at least one state");
  }
  for (const Item& state : from) {
    check_state_exists(state);
    const StateSpec* s = def_.state(state.value);
    if (s != nullptr && s->terminal) {
      problem(state.path, "终止状态 " + q(state.value) + " 不能有转出的迁移",
              "terminal state " + q(state.value) + " cannot have transitions out");
    }
  }
  t.from = values(from);
  if (auto to = read_string(spec, "to", path)) {
    t.to = *to;
    check_state_exists({*to, at(path, "to")});
  } else if (spec.contains("to")) {
    graph_unsure_ = true;
  }
  t.countersign = read_actors(spec, "countersign", path, /*allow_creator=*/false);
  std::set<std::string> parties;
  for (size_t i = 0; i < t.countersign.size(); ++i) {
    // Approvals are recorded per role, so two parties with one role could not be told apart.
    if (!parties.insert(t.countersign[i].role).second) {
      problem(at(at(path, "countersign"), i), "会签方角色重复 " + q(t.countersign[i].role),
              "duplicate countersign party " + q(t.countersign[i].role));
    }
  }
  if (spec.contains("countersign") && spec["countersign"].is_array() && spec["countersign"].empty()) {
    problem(at(path, "countersign"), "会签至少需要一个会签方", "a countersign needs at least one party");
  }
  t.actors = read_actors(spec, "actors", path, /*allow_creator=*/true);
  if (!spec.contains("actors") && !spec.contains("countersign")) {
    problem(at(path, "actors"), "缺少 'actors'（系统迁移请写 \"actors\": [] 并由定时器触发）",
            "missing 'actors' (a system-only transition has \"actors\": [] and a timer that fires it)");
  }
  const std::vector<Item> requires_fields = read_strings(spec, "requires", path);
  const std::vector<Item> accepts = read_strings(spec, "accepts", path);
  check_fields_exist(requires_fields);
  check_fields_exist(accepts);
  t.requires_fields = values(requires_fields);
  t.accepts = values(accepts);
  t.comment = read_comment(spec, path);
  t.notify = read_actors(spec, "notify", path, /*allow_creator=*/true);
  t.countersign_same_person = read_bool(spec, "countersign_same_person", path).value_or(false);
  t.not_by = values(read_strings(spec, "not_by", path));
  t.todo = read_bool(spec, "todo", path);

  // One name may serve several rows (e.g. two "approve"s from different states), but from
  // any one state a name must pick exactly one transition.
  if (!t.name.empty()) {
    for (const TransitionSpec& other : def_.transitions) {
      if (other.name != t.name) continue;
      for (const std::string& state : t.from) {
        if (other.from_state(state)) {
          problem(at(path, "name"), "迁移名 " + q(t.name) + " 在状态 " + q(state) + " 上重复",
                  "duplicate transition " + q(t.name) + " from state " + q(state));
        }
      }
    }
  }
  def_.transitions.push_back(std::move(t));
  transition_index_.push_back(index);
}

void Parser::check_not_by() {
  for (size_t k = 0; k < def_.transitions.size(); ++k) {
    // read_strings dropped non-strings, so walk the JSON again to report the right index.
    const Json& spec = root_["transitions"][transition_index_[k]];
    if (!spec.contains("not_by") || !spec["not_by"].is_array()) continue;
    const Json& list = spec["not_by"];
    const std::string path = at(at("/transitions", transition_index_[k]), "not_by");
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string() || def_.transition(list[i].get<std::string>()) != nullptr) continue;
      const std::string name = list[i].get<std::string>();
      problem(at(path, i), "not_by 引用了未知迁移 " + q(name), "not_by names unknown transition " + q(name));
    }
  }
}

void Parser::parse_timers() {
  const Json* states = member(root_, "states");
  if (states == nullptr || !states->is_object()) return;
  for (auto& [name, state] : def_.states) {
    const Json& spec = (*states)[name];
    if (!spec.is_object() || !spec.contains("timers")) continue;
    const std::string list_path = at(at("/states", name), "timers");
    const Json& list = spec["timers"];
    if (!expect(list, list_path, list.is_array(), "数组", "an array")) {
      unsure_timers_.insert(name);
      continue;
    }
    if (state.terminal && !list.empty()) {
      problem(list_path, "终止状态 " + q(name) + " 不能有定时器",
              "terminal state " + q(name) + " cannot have timers");
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < list.size(); ++i) {
      std::optional<TimerSpec> timer = parse_timer(state, list[i], at(list_path, i));
      if (!timer) {
        unsure_timers_.insert(name);
        continue;
      }
      if (!timer->name.empty() && !seen.insert(timer->name).second) {
        problem(at(at(list_path, i), "name"), "状态 " + q(name) + " 中定时器名 " + q(timer->name) + " 重复",
                "duplicate timer " + q(timer->name) + " in state " + q(name));
      }
      state.timers.push_back(std::move(*timer));
    }
  }
}

std::optional<TimerSpec> Parser::parse_timer(const StateSpec& state, const Json& spec, const std::string& path) {
  if (!expect(spec, path, spec.is_object(), "对象", "an object")) return std::nullopt;
  check_keys(spec, path, {"name", "after", "at_field", "offset", "remind", "overdue", "transition"});
  require_keys(spec, path, {"name"});
  TimerSpec timer;
  timer.name = read_string(spec, "name", path).value_or("");
  if (spec.contains("name") && spec["name"].is_string() && !valid_name(timer.name)) {
    problem(at(path, "name"), "定时器名 " + q(timer.name) + " 须为标识符",
            "timer name " + q(timer.name) + " must be an identifier");
  }
  const bool has_after = spec.contains("after");
  const bool has_at = spec.contains("at_field");
  if (has_after == has_at) {
    problem(path, "定时器须有且只有 'after' 或 'at_field' 之一",
            "a timer needs exactly one of 'after' and 'at_field'");
  }
  timer.after_ms = read_duration(spec, "after", path);
  if (timer.after_ms && *timer.after_ms < 0) {
    problem(at(path, "after"), "'after' 不能为负", "'after' cannot be negative");
  }
  if (auto field_name = read_string(spec, "at_field", path)) {
    timer.at_field = *field_name;
    const FieldSpec* field = def_.field(*field_name);
    if (field == nullptr) {
      problem(at(path, "at_field"), "未知字段 " + q(*field_name), "unknown field " + q(*field_name));
    } else if (!untyped_fields_.count(*field_name) && !is_date_type(field->type)) {
      problem(at(path, "at_field"), "at_field " + q(*field_name) + " 须为 date 或 datetime 类型",
              "at_field " + q(*field_name) + " must be a date or datetime field");
    }
  }
  if (spec.contains("offset") && !has_at) {
    problem(at(path, "offset"), "'offset' 只能与 'at_field' 一起使用", "'offset' is only allowed with 'at_field'");
  }
  timer.offset_ms = read_duration(spec, "offset", path).value_or(0);
  timer.remind = read_actors(spec, "remind", path, /*allow_creator=*/true);
  timer.overdue = read_bool(spec, "overdue", path).value_or(false);
  if (auto transition = read_string(spec, "transition", path)) {
    timer.transition = *transition;
    const TransitionSpec* fired = def_.transition_from(*transition, state.name);
    if (fired == nullptr) {
      problem(at(path, "transition"),
              "状态 " + q(state.name) + " 没有可由定时器触发的迁移 " + q(*transition),
              "no transition " + q(*transition) + " from state " + q(state.name));
    } else {
      // The system gives no comment and no fields: a transition that needs either would be
      // done without them, against its own rule. Fields required at
      // creation always have a value; anything else needs a transition of its own for people.
      if (fired->comment == CommentRule::kRequired) {
        problem(at(path, "transition"),
                "定时器触发的迁移 " + q(*transition) + " 要求填写意见，但系统不填写意见",
                "transition " + q(*transition) + " requires a comment, which the system firing it never gives");
      }
      for (const std::string& field : fired->requires_fields) {
        const auto& at_create = def_.create.requires_fields;
        if (std::find(at_create.begin(), at_create.end(), field) != at_create.end()) continue;
        problem(at(path, "transition"),
                "定时器触发的迁移 " + q(*transition) + " 要求字段 " + q(field) +
                    "，但系统不填写字段（可为人员另设一个迁移）",
                "transition " + q(*transition) + " requires field " + q(field) +
                    ", which the system firing it never gives (give people a transition of their own)");
      }
    }
  }
  if (timer.remind.empty() && !timer.overdue && !spec.contains("transition")) {
    problem(path, "定时器 " + q(timer.name) + " 没有任何动作（remind、overdue 或 transition）",
            "timer " + q(timer.name) + " does nothing (needs remind, overdue or transition)");
  }
  return timer;
}

void Parser::check_graph() {
  if (graph_unsure_) return;
  // Reachability from the initial state; only meaningful when the initial state exists.
  if (has_state(def_.create.to)) {
    std::set<std::string> reached = {def_.create.to};
    std::deque<std::string> queue = {def_.create.to};
    while (!queue.empty()) {
      const std::string current = queue.front();
      queue.pop_front();
      for (const TransitionSpec* t : def_.transitions_from(current)) {
        if (t->to && has_state(*t->to) && reached.insert(*t->to).second) queue.push_back(*t->to);
      }
    }
    for (const auto& [name, state] : def_.states) {
      if (!reached.count(name)) {
        problem(at("/states", name), "状态 " + q(name) + " 从初始状态 " + q(def_.create.to) + " 不可达",
                "state " + q(name) + " is unreachable from the initial state " + q(def_.create.to));
      }
    }
  }
  std::set<std::string> stuck;  // reported as having no way out
  // An instance must never get stuck: every non-terminal state needs a transition that leaves,
  // one that somebody may fire there — a transition with no actors leaves only through a timer
  // of this state.
  for (const auto& [name, state] : def_.states) {
    if (state.terminal || unsure_states_.count(name)) continue;
    bool way_out = false;
    for (const TransitionSpec* t : def_.transitions_from(name)) {
      if (!t->to || *t->to == name) continue;
      const bool by_people = !t->actors.empty() || t->is_countersign();
      const bool by_timer = unsure_timers_.count(name) > 0 ||
                            std::any_of(state.timers.begin(), state.timers.end(),
                                        [&](const TimerSpec& timer) { return timer.transition == t->name; });
      if (by_people || by_timer) way_out = true;
    }
    if (!way_out) {
      problem(at("/states", name), "非终止状态 " + q(name) + " 没有转出的迁移",
              "state " + q(name) + " is not terminal and has no way out");
      stuck.insert(name);
    }
  }
  // Nor go round for ever: from every state some path leads to a terminal one (a pair of states
  // that only lead to each other passes the check above).
  std::set<std::string> closes;
  for (const auto& [name, state] : def_.states) {
    if (state.terminal) closes.insert(name);
  }
  for (bool grew = !closes.empty(); grew;) {
    grew = false;
    for (const TransitionSpec& t : def_.transitions) {
      if (!t.to || !closes.count(*t.to)) continue;
      for (const std::string& from : t.from) {
        if (has_state(from) && closes.insert(from).second) grew = true;
      }
    }
  }
  for (const auto& [name, state] : def_.states) {
    if (closes.count(name) || unsure_states_.count(name) || stuck.count(name)) continue;
    problem(at("/states", name), "从状态 " + q(name) + " 到不了任何终止状态",
            "no terminal state can be reached from state " + q(name));
  }
  check_instant_timer_cycles();
}

// Timers that may be due the moment their state is entered — `after` of zero, or any
// `at_field` timer (the date may be past) — must not fire transitions round a cycle: the
// instance would move for ever at once, each firing an event, and the writer would never be
// free for anything else. A cycle with one timer that waits is
// fine: it moves once per wait.
void Parser::check_instant_timer_cycles() {
  struct Edge {
    std::string to;
    std::string path;  // the timer that fires it
  };
  std::map<std::string, std::vector<Edge>> edges;
  for (const auto& [name, state] : def_.states) {
    for (size_t i = 0; i < state.timers.size(); ++i) {
      const TimerSpec& timer = state.timers[i];
      const bool instant = !timer.at_field.empty() || (timer.after_ms && *timer.after_ms == 0);
      if (!instant || timer.transition.empty()) continue;
      const TransitionSpec* t = def_.transition_from(timer.transition, name);
      if (t == nullptr || !t->to || !has_state(*t->to)) continue;
      edges[name].push_back({*t->to, at(at(at("/states", name), "timers"), std::to_string(i))});
    }
  }
  std::map<std::string, int> colour;  // 0 unvisited, 1 on the path, 2 done
  std::set<std::string> reported;
  std::function<void(const std::string&)> visit = [&](const std::string& state) {
    colour[state] = 1;
    for (const Edge& e : edges[state]) {
      if (colour[e.to] == 1) {
        if (reported.insert(e.path).second) {
          problem(e.path, "定时器无需等待即可触发迁移，与其他此类定时器构成循环（状态 " + q(e.to) + " 会被无限次进入）",
                  "timers that may be due on entry fire transitions round a cycle (state " + q(e.to) +
                      " would be entered again and again at once)");
        }
      } else if (colour[e.to] == 0) {
        visit(e.to);
      }
    }
    colour[state] = 2;
  };
  for (const auto& [name, list] : edges) {
    if (colour[name] == 0) visit(name);
  }
}

void Parser::check_system_only_transitions() {
  for (size_t k = 0; k < def_.transitions.size(); ++k) {
    const TransitionSpec& t = def_.transitions[k];
    const Json& spec = root_["transitions"][transition_index_[k]];
    if (t.is_countersign() || !spec.contains("actors") || !spec["actors"].is_array() ||
        !spec["actors"].empty()) {
      continue;
    }
    bool fired_by_timer = false;
    for (const std::string& from : t.from) {
      if (unsure_states_.count(from) || unsure_timers_.count(from)) fired_by_timer = true;  // reported already
      const StateSpec* state = def_.state(from);
      if (state == nullptr) continue;
      for (const TimerSpec& timer : state->timers) {
        if (timer.transition == t.name) fired_by_timer = true;
      }
    }
    if (!fired_by_timer) {
      problem(at(at("/transitions", transition_index_[k]), "actors"),
              "迁移 " + q(t.name) + " 的 actors 为空，但没有定时器触发它",
              "transition " + q(t.name) + " has no actors and no timer fires it");
    }
  }
}

Result<Definition> Parser::run() {
  if (!root_.is_object()) {
    problem("", "工作流定义应为 JSON 对象", "a workflow definition must be a JSON object");
  } else {
    parse_header();
    parse_fields();
    parse_special_fields();
    parse_states();
    parse_create();
    parse_transitions();
    check_not_by();
    parse_timers();
    check_graph();
    check_system_only_transitions();
  }
  if (!problems_.empty()) {
    Json list = Json::array();
    for (const Problem& p : problems_) list.push_back({{"path", p.path}, {"message", p.message}});
    const std::string n = std::to_string(problems_.size());
    return fail(Code::kInvalidDefinition,
                both("工作流定义有 " + n + " 处问题", "workflow definition has " + n + " problems"),
                Json{{"problems", std::move(list)}});
  }
  def_.source = root_;
  def_.source["version"] = def_.version;
  return std::move(def_);
}

// ---------------------------------------------------------------- diagrams

// Graph ids are generated ("s0", "s1"...): state names may hold characters neither dot nor
// Mermaid accepts in an id, and labels carry the human-readable text.
std::map<std::string, std::string> node_ids(const Definition& def) {
  std::map<std::string, std::string> ids;
  for (const auto& [name, state] : def.states) ids[name] = "s" + std::to_string(ids.size());
  return ids;
}

std::string escape_label(std::string_view text, bool mermaid) {
  std::string out;
  for (char c : text) {
    if (c == '"') out += mermaid ? "#quot;" : "\\\"";
    else if (c == '\\' && !mermaid) out += "\\\\";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

std::string display(const Label& label, std::string_view fallback) {
  return label.zh.empty() ? std::string(fallback) : label.zh;
}

// Does a timer of `state` fire `transition`? Such edges are drawn dashed.
bool timer_fires(const Definition& def, const std::string& state, const std::string& transition) {
  const StateSpec* s = def.state(state);
  if (s == nullptr) return false;
  return std::any_of(s->timers.begin(), s->timers.end(),
                     [&](const TimerSpec& t) { return t.transition == transition; });
}

std::string graph_dot(const Definition& def) {
  const auto ids = node_ids(def);
  std::string out = "digraph \"" + escape_label(def.id, false) + "\" {\n";
  out += "  label=\"" + escape_label(display(def.title, def.id), false) + "\";\n";
  out += "  rankdir=LR;\n  node [shape=box, style=rounded];\n";
  out += "  start [shape=point, label=\"\"];\n";
  for (const auto& [name, state] : def.states) {
    out += "  " + ids.at(name) + " [label=\"" + escape_label(display(state.label, name), false) + "\"" +
           (state.terminal ? ", peripheries=2" : "") + "];\n";
  }
  if (ids.count(def.create.to)) out += "  start -> " + ids.at(def.create.to) + ";\n";
  for (const TransitionSpec& t : def.transitions) {
    for (const std::string& from : t.from) {
      const std::string to = t.to.value_or(from);
      if (!ids.count(from) || !ids.count(to)) continue;
      const bool timed = timer_fires(def, from, t.name);
      out += "  " + ids.at(from) + " -> " + ids.at(to) + " [label=\"" +
             escape_label(display(t.label, t.name), false) + (timed ? "（定时）" : "") + "\"" +
             (timed ? ", style=dashed" : "") + "];\n";
    }
  }
  return out + "}\n";
}

// A Mermaid flowchart rather than stateDiagram: only flowcharts can draw dashed edges.
std::string graph_mermaid(const Definition& def) {
  const auto ids = node_ids(def);
  std::string out = "flowchart LR\n  start((\" \"))\n";
  for (const auto& [name, state] : def.states) {
    const std::string text = escape_label(display(state.label, name), true);
    out += "  " + ids.at(name) + (state.terminal ? "(((\"" + text + "\")))" : "([\"" + text + "\"])") + "\n";
  }
  if (ids.count(def.create.to)) out += "  start --> " + ids.at(def.create.to) + "\n";
  for (const TransitionSpec& t : def.transitions) {
    for (const std::string& from : t.from) {
      const std::string to = t.to.value_or(from);
      if (!ids.count(from) || !ids.count(to)) continue;
      const bool timed = timer_fires(def, from, t.name);
      const std::string text = escape_label(display(t.label, t.name), true) + (timed ? "（定时）" : "");
      out += "  " + ids.at(from) + (timed ? " -. \"" + text + "\" .-> " : " -- \"" + text + "\" --> ") +
             ids.at(to) + "\n";
    }
  }
  return out;
}

// 1-based line and column (in characters, not bytes) of the byte at `offset`.
std::pair<size_t, size_t> line_column(std::string_view text, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {  // count UTF-8 lead bytes only
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

// ---------------------------------------------------------------- public functions

std::string_view field_type_name(FieldType type) {
  switch (type) {
    case FieldType::kString: return "string";
    case FieldType::kText: return "text";
    case FieldType::kInteger: return "integer";
    case FieldType::kNumber: return "number";
    case FieldType::kBoolean: return "boolean";
    case FieldType::kDate: return "date";
    case FieldType::kDatetime: return "datetime";
    case FieldType::kEnum: return "enum";
    case FieldType::kOrg: return "org";
    case FieldType::kUser: return "user";
  }
  return "string";
}

bool TransitionSpec::from_state(std::string_view state) const {
  return std::find(from.begin(), from.end(), state) != from.end();
}

const FieldSpec* Definition::field(std::string_view name) const {
  auto it = fields.find(std::string(name));
  return it == fields.end() ? nullptr : &it->second;
}

const StateSpec* Definition::state(std::string_view name) const {
  auto it = states.find(std::string(name));
  return it == states.end() ? nullptr : &it->second;
}

const TransitionSpec* Definition::transition_from(std::string_view name, std::string_view state) const {
  for (const TransitionSpec& t : transitions) {
    if (t.name == name && t.from_state(state)) return &t;
  }
  return nullptr;
}

const TransitionSpec* Definition::transition(std::string_view name) const {
  for (const TransitionSpec& t : transitions) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<const TransitionSpec*> Definition::transitions_from(std::string_view state) const {
  std::vector<const TransitionSpec*> out;
  for (const TransitionSpec& t : transitions) {
    if (t.from_state(state)) out.push_back(&t);
  }
  return out;
}

Result<Definition> parse_definition(const Json& json, const RoleCatalog& roles) {
  try {
    return Parser(json, roles).run();
  } catch (const std::exception& e) {
    // Every access above is type-checked first; reaching this is a bug, not bad input.
    return fail(Code::kInternal, both("解析工作流定义时出错", std::string("error parsing workflow definition: ") + e.what()));
  }
}

Result<Definition> load_definition_file(const std::string& path, const RoleCatalog& roles) {
  std::optional<std::string> read = read_file(path);
  if (!read) {
    return fail(Code::kNotFound, both("无法读取定义文件 " + q(path), "cannot read definition file " + q(path)));
  }
  const std::string& text = *read;
  Json json;
  try {
    json = Json::parse(text);
  } catch (const Json::parse_error& e) {
    // e.byte is 1-based: the byte at which parsing failed.
    const auto [line, column] = line_column(text, e.byte == 0 ? 0 : e.byte - 1);
    const std::string where = std::to_string(line) + " 行第 " + std::to_string(column) + " 列";
    return fail(Code::kInvalidJson,
                both("定义文件 " + q(path) + " 不是合法的 JSON：第 " + where,
                     "definition file " + q(path) + " is not valid JSON: line " + std::to_string(line) +
                         ", column " + std::to_string(column)),
                Json{{"line", line}, {"column", column}, {"reason", e.what()}});
  } catch (const std::exception& e) {
    return fail(Code::kInvalidJson, both("定义文件 " + q(path) + " 不是合法的 JSON",
                                         "definition file " + q(path) + " is not valid JSON"));
  }
  return parse_definition(json, roles);
}

std::optional<int64_t> parse_duration_ms(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  if (text.empty() || text.front() != 'P') return std::nullopt;
  text.remove_prefix(1);
  // Designators in the only order ISO 8601 allows; weeks stand alone ("P2W").
  int last_rank = -1;
  bool in_time = false, weeks = false;
  int components = 0;
  int64_t total = 0;
  while (!text.empty()) {
    if (text.front() == 'T') {
      if (in_time) return std::nullopt;
      in_time = true;
      text.remove_prefix(1);
      if (text.empty()) return std::nullopt;  // "P1DT": a T with nothing after it
      continue;
    }
    int64_t value = 0;
    size_t n = 0;
    while (n < text.size() && text[n] >= '0' && text[n] <= '9') {
      if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, text[n] - '0', &value)) {
        return std::nullopt;
      }
      ++n;
    }
    if (n == 0 || n == text.size()) return std::nullopt;
    const char unit = text[n];
    text.remove_prefix(n + 1);
    int rank = 0;
    int64_t unit_ms = 0;
    if (!in_time && unit == 'W') rank = 0, unit_ms = 7LL * 86'400'000, weeks = true;
    else if (!in_time && unit == 'D') rank = 1, unit_ms = 86'400'000;
    else if (in_time && unit == 'H') rank = 2, unit_ms = 3'600'000;
    else if (in_time && unit == 'M') rank = 3, unit_ms = 60'000;
    else if (in_time && unit == 'S') rank = 4, unit_ms = 1'000;
    else return std::nullopt;  // Y, M (months) and anything else
    if (rank <= last_rank) return std::nullopt;
    last_rank = rank;
    ++components;
    int64_t part = 0;
    if (__builtin_mul_overflow(value, unit_ms, &part) || __builtin_add_overflow(total, part, &total)) {
      return std::nullopt;
    }
  }
  if (components == 0 || (weeks && components > 1)) return std::nullopt;
  return negative ? -total : total;
}

std::string definition_graph(const Definition& def, std::string_view format) {
  if (format == "dot") return graph_dot(def);
  if (format == "mermaid") return graph_mermaid(def);
  return {};
}

}  // namespace pioneer::engine
