// Tests of workflow definitions: the shipped workflows, every load-time check (each asserting
// the exact JSON path and that the message names the culprit), durations, files, diagrams and
// the roles catalog.
#include "engine/core/definition.h"

#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/support.h"

namespace pioneer::engine {
namespace {

using pioneer::testing::source_path;

Json read_json(const std::string& relative) {
  std::ifstream in(source_path(relative));
  return Json::parse(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
}

const RoleCatalog& catalog() {
  static const RoleCatalog roles = [] {
    auto loaded = RoleCatalog::load_file(source_path("config/roles.json"));
    return loaded ? *loaded : RoleCatalog{};
  }();
  return roles;
}

// A small valid definition exercising most features; tests mutate it.
Json minimal() { return read_json("tests/data/definitions/minimal.json"); }

Json with(Json def, const std::string& pointer, Json value) {
  def[Json::json_pointer(pointer)] = std::move(value);
  return def;
}

Json without(Json def, const std::string& pointer) {
  const Json::json_pointer p(pointer);
  Json& parent = def[p.parent_pointer()];
  if (parent.is_array()) {
    parent.erase(std::stoul(p.back()));
  } else {
    parent.erase(p.back());
  }
  return def;
}

std::vector<Problem> problems_of(const Json& def) {
  std::vector<Problem> out;
  auto parsed = parse_definition(def, catalog());
  if (parsed) return out;
  for (const Json& p : parsed.error().details().value("problems", Json::array())) {
    out.push_back({p.value("path", ""), p.value("message", "")});
  }
  return out;
}

std::string describe(const std::vector<Problem>& problems) {
  std::string out;
  for (const Problem& p : problems) out += "\n  " + p.path + ": " + p.message;
  return out.empty() ? " (none)" : out;
}

// Is there a problem at exactly `path` whose message names `culprit`?
::testing::AssertionResult HasProblem(const Json& def, const std::string& path, const std::string& culprit) {
  const std::vector<Problem> problems = problems_of(def);
  for (const Problem& p : problems) {
    if (p.path == path && p.message.find(culprit) != std::string::npos) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no problem at '" << path << "' naming '" << culprit
                                     << "'; problems:" << describe(problems);
}

// As HasProblem, and it is the only problem: the check fires exactly where it should.
::testing::AssertionResult OnlyProblem(const Json& def, const std::string& path, const std::string& culprit) {
  const std::vector<Problem> problems = problems_of(def);
  if (problems.size() != 1) {
    return ::testing::AssertionFailure() << "expected exactly one problem, got " << problems.size() << ":"
                                       << describe(problems);
  }
  return HasProblem(def, path, culprit);
}

const Json kRole = {{"role", "party_group"}};

// ---------------------------------------------------------------- roles

TEST(RoleCatalogTest, ConfigFileEqualsDefaults) {
  auto loaded = RoleCatalog::load_file(source_path("config/roles.json"));
  ASSERT_TRUE(loaded) << loaded.error().message;
  const RoleCatalog defaults = RoleCatalog::defaults();
  auto same = [](const std::vector<RoleCatalog::Entry>& a, const std::vector<RoleCatalog::Entry>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].id != b[i].id || a[i].label != b[i].label) return false;
    }
    return true;
  };
  EXPECT_TRUE(same(loaded->roles, defaults.roles));
  EXPECT_TRUE(same(loaded->org_kinds, defaults.org_kinds));
  EXPECT_EQ(defaults.roles.size(), 7u);
  EXPECT_EQ(defaults.org_kinds.size(), 5u);
}

TEST(RoleCatalogTest, DomainRolesAndKinds) {
  const RoleCatalog roles = RoleCatalog::defaults();
  for (const char* id : {"party_group", "organ_committee", "branch_secretary", "branch_member",
                         "inspection_office", "work_committee", "admin"}) {
    ASSERT_NE(roles.role(id), nullptr) << id;
    EXPECT_FALSE(roles.role(id)->label.zh.empty()) << id;
    EXPECT_FALSE(roles.role(id)->label.en.empty()) << id;
  }
  for (const char* kind : {"city", "work_committee", "inspection_office", "department", "branch"}) {
    EXPECT_TRUE(roles.has_org_kind(kind)) << kind;
  }
  EXPECT_EQ(roles.role("work_committee")->label.zh, "市委市级机关工委");
  EXPECT_FALSE(roles.has_role("mayor"));
  EXPECT_EQ(roles.role("mayor"), nullptr);
  EXPECT_FALSE(roles.has_org_kind("party_group"));
}

TEST(RoleCatalogTest, RefusesBadConfig) {
  const Json bad = {{"roles", {{{"id", "Bad Id"}, {"label", {{"zh", "坏"}}}},
                               {{"id", "ok"}, {"label", {{"en", "no zh"}}}},
                               {{"id", "ok"}, {"label", {{"zh", "重复"}}}, {"extra", 1}}}},
                    {"org_kinds", Json::array()},
                    {"rolez", 1}};
  auto parsed = RoleCatalog::from_json(bad);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Code::kInvalidDefinition);
  std::vector<std::string> paths;
  for (const Json& p : parsed.error().details()["problems"]) paths.push_back(p["path"]);
  EXPECT_EQ(paths, (std::vector<std::string>{"/rolez", "/roles/0/id", "/roles/1/label/zh", "/roles/2/extra",
                                             "/roles/2/id"}));
  EXPECT_FALSE(RoleCatalog::from_json(Json::array()));
  EXPECT_FALSE(RoleCatalog::from_json({{"roles", Json::array()}}));  // org_kinds missing
}

TEST(RoleCatalogTest, LoadFileErrors) {
  auto missing = RoleCatalog::load_file(source_path("tests/data/definitions/no-such-file.json"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::kNotFound);
  auto not_json = RoleCatalog::load_file(source_path("tests/data/definitions/not_json.json"));
  ASSERT_FALSE(not_json);
  EXPECT_EQ(not_json.error().code, Code::kInvalidJson);
}

// ---------------------------------------------------------------- the shipped workflows

Definition load_shipped(const std::string& id) {
  auto def = load_definition_file(source_path("workflows/" + id + ".json"), catalog());
  EXPECT_TRUE(def) << id << ": " << (def ? "" : def.error().message + def.error().details().dump(2));
  return def ? *def : Definition{};
}

std::vector<std::string> roles_of(const std::vector<ActorSpec>& actors) {
  std::vector<std::string> out;
  for (const ActorSpec& a : actors) out.push_back(a.role + (a.of_assignee ? "@assignee" : ""));
  return out;
}

using Names = std::vector<std::string>;

TEST(ShippedWorkflowsTest, CatalogLoadedFromConfig) { EXPECT_TRUE(catalog().has_role("party_group")); }

TEST(ShippedWorkflowsTest, EveryNonTerminalStateHasAWayOut) {
  for (const char* id : {"yizhi-yixiang", "inspection-rectification", "star-branch-rating"}) {
    const Definition def = load_shipped(id);
    ASSERT_EQ(def.id, id);
    EXPECT_EQ(def.version, 1);
    EXPECT_EQ(def.source["version"], 1);
    for (const auto& [name, state] : def.states) {
      EXPECT_FALSE(state.label.zh.empty()) << id << " " << name;
      bool leaves = false;
      for (const TransitionSpec* t : def.transitions_from(name)) leaves = leaves || (t->to && *t->to != name);
      EXPECT_EQ(leaves, !state.terminal) << id << " " << name;
    }
    for (const TransitionSpec& t : def.transitions) EXPECT_FALSE(t.label.zh.empty()) << id << " " << t.name;
  }
}

TEST(ShippedWorkflowsTest, YizhiYixiang) {
  const Definition def = load_shipped("yizhi-yixiang");
  EXPECT_EQ(def.title.zh, "一支一项先锋工程");
  EXPECT_EQ(def.title_field, "title");
  EXPECT_EQ(def.assignee_field, "branch");
  EXPECT_EQ(def.due_field, "due_date");
  EXPECT_EQ(def.create.to, "draft");
  EXPECT_EQ(roles_of(def.create.actors), Names{"party_group"});
  EXPECT_EQ(def.create.accepts, (Names{"goal", "area", "due_date"}));
  EXPECT_EQ(def.states.size(), 8u);
  EXPECT_TRUE(def.state("closed")->terminal);
  EXPECT_FALSE(def.state("closed")->cancelled);
  EXPECT_TRUE(def.state("withdrawn")->cancelled);
  EXPECT_EQ(def.state("in_progress")->label.zh, "支部领办中");
  EXPECT_EQ(def.field("branch")->type, FieldType::kOrg);
  EXPECT_EQ(def.field("branch")->org_kind, "branch");
  EXPECT_EQ(def.field("percent")->max, 100);
  EXPECT_EQ(def.field("rating")->options.size(), 4u);
  EXPECT_EQ(def.field("rating")->options[0].label.zh, "优秀");
  EXPECT_EQ(def.field("brand")->type, FieldType::kBoolean);

  const Names names = [&] {
    Names n;
    for (const TransitionSpec& t : def.transitions) n.push_back(t.name);
    return n;
  }();
  EXPECT_EQ(names, (Names{"issue", "withdraw", "return_for_revision", "assign", "decline", "claim",
                          "report_progress", "urge", "apply_completion", "send_back", "approve_completion",
                          "evaluate"}));
  const TransitionSpec* assign = def.transition_from("assign", "issued");
  ASSERT_NE(assign, nullptr);
  EXPECT_EQ(assign->requires_fields, (Names{"branch", "due_date"}));
  EXPECT_EQ(roles_of(assign->notify), Names{"branch_secretary@assignee"});
  EXPECT_EQ(def.transition("withdraw")->from, (Names{"draft", "issued"}));
  EXPECT_EQ(def.transition("withdraw")->comment, CommentRule::kRequired);
  EXPECT_TRUE(def.transition("report_progress")->in_place());
  EXPECT_EQ(roles_of(def.transition("report_progress")->actors),
            (Names{"branch_secretary@assignee", "branch_member@assignee"}));
  EXPECT_TRUE(def.transition("urge")->in_place());
  EXPECT_EQ(def.transition("urge")->label.zh, "督办");
  EXPECT_EQ(def.transition("evaluate")->requires_fields, (Names{"rating", "brand"}));
  EXPECT_EQ(def.transition_from("claim", "issued"), nullptr);

  const StateSpec* assigned = def.state("assigned");
  ASSERT_EQ(assigned->timers.size(), 2u);
  EXPECT_EQ(assigned->timers[0].name, "claim_reminder");
  EXPECT_EQ(assigned->timers[0].after_ms, 7 * 86'400'000LL);
  EXPECT_EQ(roles_of(assigned->timers[0].remind), (Names{"branch_secretary@assignee", "organ_committee"}));
  EXPECT_TRUE(assigned->timers[1].overdue);
  const StateSpec* in_progress = def.state("in_progress");
  ASSERT_EQ(in_progress->timers.size(), 2u);
  EXPECT_EQ(in_progress->timers[0].name, "due_soon");
  EXPECT_EQ(in_progress->timers[0].at_field, "due_date");
  EXPECT_EQ(in_progress->timers[0].offset_ms, -7 * 86'400'000LL);
  EXPECT_FALSE(in_progress->timers[0].after_ms.has_value());
  EXPECT_EQ(in_progress->timers[1].name, "overdue");
  EXPECT_EQ(roles_of(in_progress->timers[1].remind), (Names{"organ_committee", "party_group"}));
}

TEST(ShippedWorkflowsTest, InspectionRectification) {
  const Definition def = load_shipped("inspection-rectification");
  EXPECT_EQ(def.assignee_field, "");
  EXPECT_EQ(def.due_field, "due_date");
  EXPECT_EQ(def.create.to, "planning");
  EXPECT_EQ(def.create.requires_fields, (Names{"title", "category", "description", "severity", "due_date"}));
  EXPECT_EQ(roles_of(def.create.notify), Names{"party_group"});
  EXPECT_EQ(def.state("closed")->label.zh, "已销号");
  EXPECT_TRUE(def.state("cancelled")->cancelled);
  EXPECT_EQ(def.field("category")->options.size(), 5u);
  EXPECT_EQ(def.field("severity")->options[2].value, "grave");

  const TransitionSpec* pass = def.transition_from("verify_pass", "verification");
  ASSERT_NE(pass, nullptr);
  EXPECT_TRUE(pass->is_countersign());
  EXPECT_EQ(roles_of(pass->countersign), (Names{"inspection_office", "work_committee"}));
  EXPECT_FALSE(pass->countersign_same_person);
  EXPECT_TRUE(pass->actors.empty());
  EXPECT_EQ(pass->to, "closed");
  const TransitionSpec* fail_ = def.transition_from("verify_fail", "verification");
  ASSERT_NE(fail_, nullptr);
  EXPECT_FALSE(fail_->is_countersign());
  EXPECT_EQ(fail_->to, "rectifying");
  EXPECT_EQ(def.transition("urge")->from, (Names{"planning", "plan_review", "rectifying"}));
  EXPECT_EQ(def.transitions_from("verification").size(), 2u);

  ASSERT_EQ(def.state("planning")->timers.size(), 1u);
  EXPECT_EQ(def.state("planning")->timers[0].after_ms, 15 * 86'400'000LL);
  ASSERT_EQ(def.state("rectifying")->timers.size(), 2u);
  EXPECT_TRUE(def.state("rectifying")->timers[1].overdue);
  EXPECT_EQ(roles_of(def.state("rectifying")->timers[1].remind),
            (Names{"inspection_office", "work_committee", "party_group"}));
}

TEST(ShippedWorkflowsTest, StarBranchRating) {
  const Definition def = load_shipped("star-branch-rating");
  EXPECT_EQ(def.create.to, "self_assessment");
  EXPECT_EQ(def.field("stars")->min, 1);
  EXPECT_EQ(def.field("stars")->max, 5);
  EXPECT_EQ(def.field("year")->min, 2000);
  const TransitionSpec* conclude = def.transition_from("conclude", "publicity");
  ASSERT_NE(conclude, nullptr);
  EXPECT_TRUE(conclude->actors.empty());  // system-only
  EXPECT_EQ(conclude->to, "rated");
  ASSERT_EQ(def.state("publicity")->timers.size(), 1u);
  const TimerSpec& timer = def.state("publicity")->timers[0];
  EXPECT_EQ(timer.name, "publicity_end");
  EXPECT_EQ(timer.after_ms, 5 * 86'400'000LL);
  EXPECT_EQ(timer.transition, "conclude");
  EXPECT_EQ(roles_of(def.transition("object")->actors), (Names{"work_committee", "organ_committee"}));
  EXPECT_EQ(def.transition("object")->to, "review");
}

// ---------------------------------------------------------------- a valid definition, fully filled

TEST(ParseDefinitionTest, MinimalParsesAndIsFilled) {
  auto parsed = parse_definition(minimal(), catalog());
  ASSERT_TRUE(parsed) << describe(problems_of(minimal()));
  const Definition& def = *parsed;
  EXPECT_EQ(def.id, "mini");
  EXPECT_EQ(def.version, 1);
  EXPECT_EQ(def.source["version"], 1);
  EXPECT_EQ(def.source["id"], "mini");
  EXPECT_EQ(def.title, (Label{"最小流程", "Minimal"}));
  EXPECT_EQ(def.fields.size(), 6u);
  EXPECT_EQ(def.field("title")->max_length, 200);
  EXPECT_EQ(def.field("note")->max_length, 10000);
  EXPECT_EQ(def.field("count")->min, 0);
  EXPECT_EQ(def.field("count")->max, 10);
  EXPECT_EQ(def.field("kind")->options[1].value, "b");
  EXPECT_EQ(def.field("kind")->options[1].label.zh, "乙");
  EXPECT_EQ(def.field("nope"), nullptr);
  EXPECT_EQ(def.state("nope"), nullptr);
  EXPECT_EQ(def.create.accepts, Names{"note"});
  ASSERT_EQ(def.transitions.size(), 5u);
  const TransitionSpec& submit = def.transitions[0];
  EXPECT_TRUE(submit.actors[0].of_assignee);
  EXPECT_EQ(submit.accepts, Names{"count"});
  EXPECT_EQ(submit.comment, CommentRule::kOptional);
  const TransitionSpec& note = def.transitions[1];
  EXPECT_TRUE(note.actors[0].creator);
  EXPECT_TRUE(note.in_place());
  EXPECT_EQ(note.comment, CommentRule::kRequired);
  EXPECT_EQ(def.transitions[3].not_by, Names{"submit"});
  EXPECT_TRUE(def.transitions[4].notify[0].creator);
  const TimerSpec& late = def.state("open")->timers[0];
  EXPECT_EQ(late.at_field, "due");
  EXPECT_EQ(late.offset_ms, 0);
  EXPECT_TRUE(late.overdue);
  std::vector<std::string> from_review;
  for (const TransitionSpec* t : def.transitions_from("review")) from_review.push_back(t->name);
  EXPECT_EQ(from_review, (Names{"note", "accept", "approve", "drop"}));
  EXPECT_EQ(def.transition("approve")->countersign.size(), 2u);
}

TEST(ParseDefinitionTest, VersionIsKeptAndWrittenIntoSource) {
  auto parsed = parse_definition(with(minimal(), "/version", 3), catalog());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->version, 3);
  EXPECT_EQ(parsed->source["version"], 3);
}

TEST(ParseDefinitionTest, ErrorShape) {
  auto parsed = parse_definition(with(minimal(), "/create/to", "nowhere"), catalog());
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Code::kInvalidDefinition);
  EXPECT_EQ(parsed.error().message, "工作流定义有 1 处问题（workflow definition has 1 problems）");
  const Json& p = parsed.error().details()["problems"][0];
  EXPECT_EQ(p["path"], "/create/to");
  EXPECT_EQ(p["message"], "未知状态 'nowhere'（unknown state 'nowhere'）");
}

TEST(ParseDefinitionTest, CreateOrgKindIsAKnownKind) {
  auto department = parse_definition(with(minimal(), "/create/org_kind", "department"), catalog());
  ASSERT_TRUE(department);
  EXPECT_EQ(department->create.org_kind, "department");
  auto unknown = parse_definition(with(minimal(), "/create/org_kind", "party_group"), catalog());
  ASSERT_FALSE(unknown);
  const Json& p = unknown.error().details()["problems"][0];
  EXPECT_EQ(p["path"], "/create/org_kind");
  EXPECT_EQ(p["message"], "未知组织类型 'party_group'（unknown org_kind 'party_group'）");
  EXPECT_FALSE(parse_definition(with(minimal(), "/create/org_kind", 5), catalog()));
}

TEST(ParseDefinitionTest, NeverThrowsOnOddInput) {
  for (const Json& odd : {Json(), Json(5), Json::array({1, 2}), Json("text"), Json::object()}) {
    auto parsed = parse_definition(odd, catalog());
    ASSERT_FALSE(parsed) << odd.dump();
    EXPECT_EQ(parsed.error().code, Code::kInvalidDefinition);
  }
  EXPECT_TRUE(OnlyProblem(Json::array(), "", "JSON"));
  // Every member of the wrong type at once: still problems, no exception.
  Json all_wrong = {{"id", 1}, {"title", 2}, {"fields", 3}, {"create", 4}, {"states", 5}, {"transitions", 6},
                    {"version", "1"}, {"title_field", 7}, {"description", 8}};
  EXPECT_EQ(problems_of(all_wrong).size(), 9u) << describe(problems_of(all_wrong));
}

// ---------------------------------------------------------------- states and the graph

TEST(CheckStatesTest, UnknownStateInFrom) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/1/from/2", "limbo"), "/transitions/1/from/2", "'limbo'"));
}

TEST(CheckStatesTest, UnknownStateInTo) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/4/to", "gone"), "/transitions/4/to", "'gone'"));
}

TEST(CheckStatesTest, UnknownInitialState) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/create/to", "start"), "/create/to", "'start'"));
}

TEST(CheckStatesTest, UnreachableState) {
  const Json def = with(minimal(), "/states/island", {{"label", {{"zh", "孤岛"}}}, {"terminal", true}});
  EXPECT_TRUE(OnlyProblem(def, "/states/island", "'island'"));
  EXPECT_TRUE(HasProblem(def, "/states/island", "不可达"));
}

TEST(CheckStatesTest, NonTerminalStateWithoutWayOut) {
  Json def = with(minimal(), "/states/stuck", {{"label", {{"zh", "卡住"}}}});
  def["transitions"].push_back({{"name", "park"}, {"label", {{"zh", "搁置"}}}, {"from", {"open"}}, {"to", "stuck"},
                                {"actors", {kRole}}});
  EXPECT_TRUE(OnlyProblem(def, "/states/stuck", "'stuck'"));
  // An action in place is not a way out.
  def["transitions"].push_back({{"name", "poke"}, {"label", {{"zh", "催"}}}, {"from", {"stuck"}}, {"actors", {kRole}}});
  EXPECT_TRUE(OnlyProblem(def, "/states/stuck", "'stuck'"));
}

TEST(CheckStatesTest, TerminalStateWithTransitionOut) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/1/from/2", "done"), "/transitions/1/from/2", "'done'"));
}

TEST(CheckStatesTest, CancelledOnlyOnTerminal) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/cancelled", true), "/states/open/cancelled", "cancelled"));
}

TEST(CheckStatesTest, StateNeedsLabel) {
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/states/done/label"), "/states/done/label", "label"));
}

TEST(CheckStatesTest, TimersOnTerminalStateRefused) {
  const Json def = with(minimal(), "/states/done/timers",
                        Json::array({{{"name", "x"}, {"after", "P1D"}, {"remind", {kRole}}}}));
  EXPECT_TRUE(OnlyProblem(def, "/states/done/timers", "'done'"));
}

TEST(CheckStatesTest, OneMistakeIsReportedOnce) {
  // A malformed reference or spec is reported once, not again as its consequences
  // (unreachable states, a state without a way out, a system-only transition without a timer).
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/0/to", "reveiw"), "/transitions/0/to", "'reveiw'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/0/from", "open"), "/transitions/0/from", "array"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/review", "审核"), "/states/review", "object"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/review/timers", "auto"), "/states/review/timers", "array"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/due/type", "day"), "/fields/due/type", "'day'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/due", "date"), "/fields/due", "object"));
}

TEST(CheckStatesTest, NoStatesAtAll) {
  EXPECT_TRUE(HasProblem(with(minimal(), "/states", Json::object()), "/states", "state"));
}

// ---------------------------------------------------------------- field references

TEST(CheckFieldsTest, UnknownFieldInRequires) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/0/requires/1", "owner"), "/transitions/0/requires/1", "'owner'"));
}

TEST(CheckFieldsTest, UnknownFieldInAccepts) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/0/accepts/0", "cnt"), "/transitions/0/accepts/0", "'cnt'"));
}

TEST(CheckFieldsTest, UnknownFieldInCreate) {
  const Json def = with(with(minimal(), "/create/requires/0", "titel"), "/create/accepts/0", "notes");
  EXPECT_TRUE(HasProblem(def, "/create/requires/0", "'titel'"));
  EXPECT_TRUE(HasProblem(def, "/create/accepts/0", "'notes'"));
  EXPECT_EQ(problems_of(def).size(), 2u);
}

TEST(CheckFieldsTest, UnknownTitleDueAssigneeField) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/title_field", "name"), "/title_field", "'name'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/due_field", "deadline"), "/due_field", "'deadline'"));
  const Json def = with(minimal(), "/assignee_field", "unit");
  EXPECT_TRUE(OnlyProblem(def, "/assignee_field", "'unit'"));
}

TEST(CheckFieldsTest, UnknownAtField) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/timers/0/at_field", "deadline"),
                          "/states/open/timers/0/at_field", "'deadline'"));
}

TEST(CheckFieldsTest, AtFieldMustBeDate) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/timers/0/at_field", "count"),
                          "/states/open/timers/0/at_field", "'count'"));
  Json datetime = with(minimal(), "/fields/when", {{"type", "datetime"}, {"label", {{"zh", "时间"}}}});
  EXPECT_TRUE(parse_definition(with(datetime, "/states/open/timers/0/at_field", "when"), catalog()));
}

TEST(CheckFieldsTest, SpecialFieldTypes) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/assignee_field", "title"), "/assignee_field", "org"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/due_field", "count"), "/due_field", "'count'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/title_field", "note"), "/title_field", "string"));
}

TEST(CheckFieldsTest, UnknownFieldType) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/note/type", "memo"), "/fields/note/type", "'memo'"));
}

TEST(CheckFieldsTest, EnumOptions) {
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/fields/kind/options"), "/fields/kind/options", "options"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/kind/options", Json::array()), "/fields/kind/options", "options"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/kind/options/1/value", "a"), "/fields/kind/options/1/value", "'a'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/kind/options/1/label", {{"en", "B"}}),
                          "/fields/kind/options/1/label/zh", "zh"));
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/fields/kind/options/0/value"), "/fields/kind/options/0/value", "value"));
}

TEST(CheckFieldsTest, UnknownOrgKind) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/branch/org_kind", "cell"), "/fields/branch/org_kind", "'cell'"));
}

TEST(CheckFieldsTest, Limits) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/count/min", 11), "/fields/count/min", "max"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/title/max_length", 0), "/fields/title/max_length", "max_length"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/title/max_length", -5), "/fields/title/max_length", "max_length"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/count/max", 2.5), "/fields/count/max", "max"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/count/max", "10"), "/fields/count/max", "string"));
  auto parsed = parse_definition(with(minimal(), "/fields/title/max_length", 50), catalog());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->field("title")->max_length, 50);
}

TEST(CheckFieldsTest, KeyOfAnotherType) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/title/min", 1), "/fields/title/min", "string"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/count/options", Json::array()), "/fields/count/options", "integer"));
}

TEST(CheckFieldsTest, FieldNeedsTypeAndLabel) {
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/fields/note/type"), "/fields/note/type", "type"));
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/fields/note/label"), "/fields/note/label", "label"));
}

TEST(CheckFieldsTest, BadFieldName) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/bad name", {{"type", "text"}, {"label", {{"zh", "坏"}}}}),
                          "/fields/bad name", "'bad name'"));
}

// ---------------------------------------------------------------- transitions

TEST(CheckTransitionsTest, DuplicateNameFromSameState) {
  Json def = minimal();
  def["transitions"].push_back({{"name", "drop"}, {"label", {{"zh", "再撤"}}}, {"from", {"review"}}, {"to", "dropped"},
                                {"actors", {kRole}}});
  EXPECT_TRUE(OnlyProblem(def, "/transitions/5/name", "'drop'"));
  EXPECT_TRUE(HasProblem(def, "/transitions/5/name", "'review'"));
}

TEST(CheckTransitionsTest, SameNameFromDisjointStatesIsFine) {
  Json def = minimal();
  def["transitions"].push_back({{"name", "submit"}, {"label", {{"zh", "再提交"}}}, {"from", {"review"}}, {"to", "done"},
                                {"actors", {kRole}}});
  auto parsed = parse_definition(def, catalog());
  ASSERT_TRUE(parsed) << describe(problems_of(def));
  EXPECT_EQ(parsed->transition_from("submit", "review")->to, "done");
  EXPECT_EQ(parsed->transition_from("submit", "open")->to, "review");
  EXPECT_EQ(parsed->transition("submit")->to, "review");  // the first in file order
}

TEST(CheckTransitionsTest, RequiredKeys) {
  EXPECT_TRUE(HasProblem(without(minimal(), "/transitions/4/name"), "/transitions/4/name", "'name'"));
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/transitions/4/label"), "/transitions/4/label", "label"));
  EXPECT_TRUE(HasProblem(without(minimal(), "/transitions/4/from"), "/transitions/4/from", "'from'"));
  EXPECT_TRUE(HasProblem(with(minimal(), "/transitions/4/from", Json::array()), "/transitions/4/from", "from"));
}

TEST(CheckTransitionsTest, MissingActors) {
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/transitions/4/actors"), "/transitions/4/actors", "actors"));
}

TEST(CheckTransitionsTest, EmptyActorsNeedATimer) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/4/actors", Json::array()), "/transitions/4/actors", "'drop'"));
}

TEST(CheckTransitionsTest, CountersignNeedsNoActors) {
  auto parsed = parse_definition(minimal(), catalog());
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->transition("approve")->is_countersign());
  EXPECT_TRUE(parsed->transition("approve")->actors.empty());
}

TEST(CheckTransitionsTest, CountersignParties) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/3/countersign/1", {{"role", "inspection_office"}}),
                          "/transitions/3/countersign/1", "'inspection_office'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/3/countersign/1", {{"creator", true}}),
                          "/transitions/3/countersign/1/creator", "creator"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/3/countersign_same_person", "yes"),
                          "/transitions/3/countersign_same_person", "boolean"));
  auto parsed = parse_definition(with(minimal(), "/transitions/3/countersign_same_person", true), catalog());
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->transition("approve")->countersign_same_person);
}

TEST(CheckTransitionsTest, ToDoFlagDefaultsByWhetherTheTransitionMoves) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/1/todo", "yes"), "/transitions/1/todo", "boolean"));
  auto plain = parse_definition(minimal(), catalog());
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->transition("submit")->is_todo());   // moves the instance
  EXPECT_FALSE(plain->transition("note")->is_todo());    // in place
  auto marked = parse_definition(with(with(minimal(), "/transitions/1/todo", true), "/transitions/4/todo", false), catalog());
  ASSERT_TRUE(marked);
  EXPECT_TRUE(marked->transition("note")->is_todo());
  EXPECT_FALSE(marked->transition("drop")->is_todo());
}

TEST(CheckTransitionsTest, CommentsAfterCloseIsABoolean) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/comments_after_close", "yes"), "/comments_after_close", "boolean"));
  auto parsed = parse_definition(with(minimal(), "/comments_after_close", true), catalog());
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->comments_after_close);
  EXPECT_FALSE(parse_definition(minimal(), catalog())->comments_after_close);
}

TEST(CheckTransitionsTest, NotByUnknownTransition) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/3/not_by/1", "sumbit"), "/transitions/3/not_by/1", "'sumbit'"));
}

TEST(CheckTransitionsTest, CommentRule) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/1/comment", "mandatory"), "/transitions/1/comment", "'mandatory'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/create/comment", "maybe"), "/create/comment", "'maybe'"));
  auto parsed = parse_definition(with(minimal(), "/transitions/0/comment", "none"), catalog());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->transitions[0].comment, CommentRule::kNone);
}

// ---------------------------------------------------------------- actors and roles

TEST(CheckActorsTest, UnknownRoleEverywhere) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/4/actors/0/role", "mayor"), "/transitions/4/actors/0/role", "'mayor'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/4/notify/0", {{"role", "press"}}), "/transitions/4/notify/0/role", "'press'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/timers/0/remind/0/role", "boss"),
                          "/states/open/timers/0/remind/0/role", "'boss'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/3/countersign/0/role", "auditor"),
                          "/transitions/3/countersign/0/role", "'auditor'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/create/actors/0/role", "citizen"), "/create/actors/0/role", "'citizen'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/create/notify", {{{"role", "press"}}}), "/create/notify/0/role", "'press'"));
}

TEST(CheckActorsTest, OfMustBeAssignee) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/0/actors/0/of", "creator"), "/transitions/0/actors/0/of", "'creator'"));
}

TEST(CheckActorsTest, OfAssigneeNeedsAssigneeField) {
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/assignee_field"), "/transitions/0/actors/0/of", "assignee_field"));
}

TEST(CheckActorsTest, NeitherRoleNorCreator) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/4/actors/0", Json::object()), "/transitions/4/actors/0", "role"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/4/actors/0", {{"creator", false}}), "/transitions/4/actors/0", "creator"));
}

TEST(CheckActorsTest, BothRoleAndCreator) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/4/actors/0/creator", true), "/transitions/4/actors/0/creator", "creator"));
}

TEST(CheckActorsTest, CreateActors) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/create/actors", Json::array()), "/create/actors", "actor"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/create/actors/0", {{"creator", true}}), "/create/actors/0/creator", "creator"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/create/actors/0/rol", "x"), "/create/actors/0/rol", "'role'"));
}

// ---------------------------------------------------------------- timers

TEST(CheckTimersTest, TransitionMustExistFromTheState) {
  // "submit" exists, but not from "review".
  const Json def = with(minimal(), "/states/review/timers/0/transition", "submit");
  EXPECT_TRUE(HasProblem(def, "/states/review/timers/0/transition", "'submit'"));
  EXPECT_TRUE(HasProblem(def, "/states/review/timers/0/transition", "'review'"));
  // ... and "accept" (actors []) is then fired by nothing.
  EXPECT_TRUE(HasProblem(def, "/transitions/2/actors", "'accept'"));
  EXPECT_EQ(problems_of(def).size(), 2u);
}

// The system fires a timer's transition with no comment and no fields, so that transition may
// require neither — except fields required at creation, which always have a value.
TEST(CheckTimersTest, TheTransitionMayRequireNoCommentAndNoFieldsTheSystemCannotGive) {
  const Json commented = with(minimal(), "/transitions/2/comment", "required");
  EXPECT_TRUE(OnlyProblem(commented, "/states/review/timers/0/transition", "comment"));
  EXPECT_TRUE(parse_definition(with(minimal(), "/transitions/2/comment", "optional"), catalog()));
  const Json needs_count = with(minimal(), "/transitions/2/requires", {"count"});
  EXPECT_TRUE(OnlyProblem(needs_count, "/states/review/timers/0/transition", "'count'"));
  EXPECT_TRUE(parse_definition(with(minimal(), "/transitions/2/requires", {"title"}), catalog()));  // required at create
}

TEST(CheckTimersTest, AfterXorAtField) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/timers/0/after", "P1D"), "/states/open/timers/0", "after"));
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/states/review/timers/0/after"), "/states/review/timers/0", "at_field"));
}

TEST(CheckTimersTest, DoesNothing) {
  const Json def = with(minimal(), "/states/open/timers/1", {{"name", "idle"}, {"after", "P1D"}});
  EXPECT_TRUE(OnlyProblem(def, "/states/open/timers/1", "'idle'"));
  EXPECT_TRUE(OnlyProblem(with(def, "/states/open/timers/1/remind", Json::array()), "/states/open/timers/1", "'idle'"));
  EXPECT_TRUE(parse_definition(with(def, "/states/open/timers/1/overdue", true), catalog()));
}

TEST(CheckTimersTest, DuplicateNameInState) {
  const Json def = with(minimal(), "/states/open/timers/1", {{"name", "late"}, {"after", "P1D"}, {"overdue", true}});
  EXPECT_TRUE(OnlyProblem(def, "/states/open/timers/1/name", "'late'"));
  // The same name in another state is fine.
  EXPECT_TRUE(parse_definition(with(minimal(), "/states/review/timers/0/name", "late"), catalog()));
}

TEST(CheckTimersTest, BadDurations) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/review/timers/0/after", "P1M"), "/states/review/timers/0/after", "'P1M'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/review/timers/0/after", "5 days"), "/states/review/timers/0/after", "'5 days'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/review/timers/0/after", "-P1D"), "/states/review/timers/0/after", "after"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/timers/0/offset", "-7D"), "/states/open/timers/0/offset", "'-7D'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/review/timers/0/offset", "PT1H"), "/states/review/timers/0/offset", "at_field"));
  auto parsed = parse_definition(with(minimal(), "/states/open/timers/0/offset", "-PT12H"), catalog());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->state("open")->timers[0].offset_ms, -12 * 3'600'000LL);
  // At most 100 years: "now + after" must not wrap to a negative due time, a timer due at once
  // for ever that the writer would wait on, stopping every write.
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/review/timers/0/after", "P106751980000D"),
                          "/states/review/timers/0/after", "36500"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/review/timers/0/after", "P36501D"), "/states/review/timers/0/after", "36500"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/timers/0/offset", "-P36501D"), "/states/open/timers/0/offset", "36500"));
  EXPECT_TRUE(parse_definition(with(minimal(), "/states/review/timers/0/after", "P36500D"), catalog()));
}

TEST(CheckFieldsTest, MaxLengthIsBounded) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/title/max_length", 1001), "/fields/title/max_length", "1000"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/note/max_length", 100001), "/fields/note/max_length", "100000"));
  EXPECT_TRUE(parse_definition(with(minimal(), "/fields/title/max_length", 1000), catalog()));
}

TEST(CheckActorsTest, CreateCannotBeByTheAssignee) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/create/actors/0/of", "assignee"), "/create/actors/0/of", "assignee"));
}

// Events record a vote's party as changes.approval and a new assignee as changes.assignee_org:
// fields of those names would be overwritten in the audit log.
TEST(CheckFieldsTest, ReservedFieldNames) {
  for (const char* name : {"approval", "assignee_org"}) {
    Json def = minimal();
    def["fields"][name] = {{"type", "string"}, {"label", {{"zh", "保留"}}}};
    EXPECT_TRUE(OnlyProblem(def, std::string("/fields/") + name, "reserved")) << name;
  }
}

// Timers that may be due on entry (after zero, or any at_field) must not fire round a cycle:
// one instance would move for ever at once and hold the writer.
TEST(CheckTimersTest, InstantTimersMustNotFireRoundACycle) {
  Json def = minimal();
  def["transitions"].push_back({{"name", "up"}, {"label", {{"zh", "上"}}}, {"from", {"open"}}, {"to", "review"}, {"actors", Json::array()}});
  def["transitions"].push_back({{"name", "back"}, {"label", {{"zh", "回"}}}, {"from", {"review"}}, {"to", "open"}, {"actors", Json::array()}});
  def["states"]["open"]["timers"][0]["transition"] = "up";  // at_field due: due at once when the date is past
  def["states"]["review"]["timers"].push_back({{"name", "bounce"}, {"after", "PT0S"}, {"transition", "back"}});
  EXPECT_TRUE(OnlyProblem(def, "/states/review/timers/1", "'open'"));
  // One timer in the cycle that waits: the instance moves once per wait.
  def["states"]["review"]["timers"][1]["after"] = "PT1H";
  EXPECT_TRUE(parse_definition(def, catalog())) << describe(problems_of(def));

  Json loop = minimal();
  loop["transitions"].push_back({{"name", "again"}, {"label", {{"zh", "再"}}}, {"from", {"review"}}, {"to", "review"}, {"actors", Json::array()}});
  loop["states"]["review"]["timers"].push_back({{"name", "again"}, {"after", "PT0S"}, {"transition", "again"}});
  EXPECT_TRUE(OnlyProblem(loop, "/states/review/timers/1", "'review'"));
}

// A pair of states that only lead to each other: each has a way out, and no instance closes.
TEST(CheckGraphTest, EveryStateLeadsToATerminalOne) {
  Json def = minimal();
  def["states"]["ping"] = {{"label", {{"zh", "甲"}}}};
  def["states"]["pong"] = {{"label", {{"zh", "乙"}}}};
  def["transitions"].push_back({{"name", "to_ping"}, {"label", {{"zh", "去甲"}}}, {"from", {"open"}}, {"to", "ping"},
                                {"actors", {{{"role", "party_group"}}}}});
  def["transitions"].push_back({{"name", "to_pong"}, {"label", {{"zh", "去乙"}}}, {"from", {"ping"}}, {"to", "pong"},
                                {"actors", {{{"role", "party_group"}}}}});
  def["transitions"].push_back({{"name", "back_ping"}, {"label", {{"zh", "回甲"}}}, {"from", {"pong"}}, {"to", "ping"},
                                {"actors", {{{"role", "party_group"}}}}});
  EXPECT_TRUE(HasProblem(def, "/states/ping", "'ping'"));
  EXPECT_TRUE(HasProblem(def, "/states/pong", "'pong'"));
  EXPECT_EQ(problems_of(def).size(), 2u) << describe(problems_of(def));
  def["transitions"].back()["to"] = "done";
  EXPECT_TRUE(parse_definition(def, catalog())) << describe(problems_of(def));
}

// A transition with no actors leaves a state only through a timer of that state.
TEST(CheckGraphTest, ASystemTransitionIsAWayOutOnlyWhereATimerFiresIt) {
  Json def = minimal();
  def["states"]["waiting"] = {{"label", {{"zh", "等待"}}}};
  def["transitions"].push_back({{"name", "wait"}, {"label", {{"zh", "等"}}}, {"from", {"open"}}, {"to", "waiting"},
                                {"actors", {{{"role", "party_group"}}}}});
  def["transitions"].push_back({{"name", "auto2"}, {"label", {{"zh", "自动"}}}, {"from", {"review", "waiting"}}, {"to", "done"},
                                {"actors", Json::array()}});
  def["states"]["review"]["timers"].push_back({{"name", "t2"}, {"after", "P30D"}, {"transition", "auto2"}});
  EXPECT_TRUE(OnlyProblem(def, "/states/waiting", "'waiting'"));
  def["states"]["waiting"]["timers"] = {{{"name", "t3"}, {"after", "P1D"}, {"transition", "auto2"}}};
  EXPECT_TRUE(parse_definition(def, catalog())) << describe(problems_of(def));
}

TEST(CheckTimersTest, TimerNeedsName) {
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/states/open/timers/0/name"), "/states/open/timers/0/name", "'name'"));
}

// ---------------------------------------------------------------- labels

TEST(CheckLabelsTest, EveryLabelNeedsZh) {
  const std::vector<std::string> labels = {"/title", "/fields/title/label", "/fields/kind/options/0/label",
                                           "/states/open/label", "/transitions/2/label"};
  for (const std::string& label : labels) {
    EXPECT_TRUE(OnlyProblem(with(minimal(), label, {{"en", "English only"}}), label + "/zh", "zh")) << label;
    EXPECT_TRUE(OnlyProblem(with(minimal(), label + "/zh", ""), label + "/zh", "zh")) << label;
  }
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/description", {{"en", "x"}}), "/description/zh", "zh"));
}

TEST(CheckLabelsTest, LabelShape) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/label", "办理中"), "/states/open/label", "string"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/label/fr", "x"), "/states/open/label/fr", "'fr'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/label/en", 5), "/states/open/label/en", "number"));
}

// ---------------------------------------------------------------- top level, keys and types

TEST(CheckTopLevelTest, MissingRequiredKeys) {
  for (const char* key : {"id", "title", "fields", "create", "states", "transitions"}) {
    EXPECT_TRUE(HasProblem(without(minimal(), std::string("/") + key), std::string("/") + key, std::string("'") + key + "'"))
        << key;
  }
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/id"), "/id", "'id'"));
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/create/to"), "/create/to", "'to'"));
  EXPECT_TRUE(OnlyProblem(without(minimal(), "/create/actors"), "/create/actors", "'actors'"));
}

TEST(CheckTopLevelTest, IdPattern) {
  for (const char* bad : {"Mini", "mini_flow", "-mini", "", "迷你"}) {
    EXPECT_TRUE(OnlyProblem(with(minimal(), "/id", bad), "/id", std::string("'") + bad + "'")) << bad;
  }
  for (const char* good : {"a", "9-lives", "yizhi-yixiang"}) {
    EXPECT_TRUE(parse_definition(with(minimal(), "/id", good), catalog())) << good;
  }
}

TEST(CheckTopLevelTest, Version) {
  for (const Json& bad : {Json(0), Json(-1), Json(1.5), Json("2"), Json(true), Json(10'000'000'000LL)}) {
    EXPECT_TRUE(OnlyProblem(with(minimal(), "/version", bad), "/version", "version")) << bad.dump();
  }
}

TEST(CheckTopLevelTest, UnknownKeysEverywhereWithSuggestion) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/0/requries", {"title"}), "/transitions/0/requries", "'requries'"));
  EXPECT_TRUE(HasProblem(with(minimal(), "/transitions/0/requries", {"title"}), "/transitions/0/requries", "'requires'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/titel", "x"), "/titel", "'titel'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/create/too", "x"), "/create/too", "'too'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/terminl", true), "/states/open/terminl", "'terminal'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/timers/0/overdeu", true), "/states/open/timers/0/overdeu", "'overdue'"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/fields/note/colour", "red"), "/fields/note/colour", "'colour'"));
  // No suggestion when nothing is close.
  const std::vector<Problem> far = problems_of(with(minimal(), "/zzzzzzzz", 1));
  ASSERT_EQ(far.size(), 1u);
  EXPECT_EQ(far[0].message, "未知键 'zzzzzzzz'（unknown key 'zzzzzzzz'）");
}

TEST(CheckTopLevelTest, WrongTypes) {
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/id", 5), "/id", "string"));
  EXPECT_TRUE(HasProblem(with(minimal(), "/transitions", Json::object()), "/transitions", "array"));
  EXPECT_TRUE(HasProblem(with(minimal(), "/fields", Json::array()), "/fields", "object"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/done/terminal", "yes"), "/states/done/terminal", "boolean"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/0/requires", "branch"), "/transitions/0/requires", "array"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/0/requires/0", 7), "/transitions/0/requires/0", "string"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/0/notify", {{"role", "x"}}), "/transitions/0/notify", "array"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/timers/0/overdue", 1), "/states/open/timers/0/overdue", "boolean"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/review/timers/0/after", 5), "/states/review/timers/0/after", "string"));
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/transitions/0/to", Json()), "/transitions/0/to", "null"));
  EXPECT_TRUE(HasProblem(with(minimal(), "/transitions/4", "drop"), "/transitions/4", "object"));
  EXPECT_TRUE(HasProblem(with(minimal(), "/create", Json::array()), "/create", "object"));
}

TEST(CheckTopLevelTest, PointerEscapesKeys) {
  // RFC 6901: '/' in a key is written "~1".
  EXPECT_TRUE(OnlyProblem(with(minimal(), "/states/open/a~1b", 1), "/states/open/a~1b", "'a/b'"));
}

// ---------------------------------------------------------------- several mistakes at once

TEST(ParseDefinitionTest, ReportsEveryProblemOfAFile) {
  auto parsed = load_definition_file(source_path("tests/data/definitions/many_mistakes.json"), catalog());
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Code::kInvalidDefinition);
  EXPECT_EQ(parsed.error().message, "工作流定义有 5 处问题（workflow definition has 5 problems）");
  std::vector<std::string> paths;
  for (const Json& p : parsed.error().details()["problems"]) {
    paths.push_back(p["path"]);
    const std::string message = p["message"];
    // Chinese first, English in full-width parentheses at the end.
    EXPECT_NE(message.find("（"), std::string::npos) << message;
    EXPECT_EQ(message.substr(message.size() - 3), "）") << message;
  }
  EXPECT_EQ(paths, (Names{"/fields/title/label/zh", "/create/requries", "/transitions/0/from/0",
                          "/transitions/0/actors/0/role", "/states/open/timers/0/after"}));
}

// ---------------------------------------------------------------- files

TEST(LoadDefinitionFileTest, MissingFile) {
  auto parsed = load_definition_file(source_path("tests/data/definitions/absent.json"), catalog());
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Code::kNotFound);
  EXPECT_NE(parsed.error().message.find("absent.json"), std::string::npos);
}

TEST(LoadDefinitionFileTest, NotJsonGivesLineAndColumn) {
  auto parsed = load_definition_file(source_path("tests/data/definitions/not_json.json"), catalog());
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Code::kInvalidJson);
  // Line 4 is `  "fields": {}` after a line missing its comma; the error is at the end of "fields".
  EXPECT_EQ(parsed.error().details()["line"], 4);
  EXPECT_EQ(parsed.error().details()["column"], 10);
  EXPECT_NE(parsed.error().message.find("第 4 行第 10 列"), std::string::npos) << parsed.error().message;
  EXPECT_NE(parsed.error().message.find("line 4, column 10"), std::string::npos) << parsed.error().message;
}

TEST(LoadDefinitionFileTest, ValidFile) {
  auto parsed = load_definition_file(source_path("tests/data/definitions/minimal.json"), catalog());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->id, "mini");
}

// ---------------------------------------------------------------- durations

TEST(DurationTest, Valid) {
  constexpr int64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute, kDay = 24 * kHour;
  EXPECT_EQ(parse_duration_ms("P7D"), 7 * kDay);
  EXPECT_EQ(parse_duration_ms("PT12H"), 12 * kHour);
  EXPECT_EQ(parse_duration_ms("-P7D"), -7 * kDay);
  EXPECT_EQ(parse_duration_ms("P1DT2H30M"), kDay + 2 * kHour + 30 * kMinute);
  EXPECT_EQ(parse_duration_ms("PT45S"), 45 * kSecond);
  EXPECT_EQ(parse_duration_ms("PT1H1M1S"), kHour + kMinute + kSecond);
  EXPECT_EQ(parse_duration_ms("P2W"), 14 * kDay);
  EXPECT_EQ(parse_duration_ms("P0D"), 0);
  EXPECT_EQ(parse_duration_ms("-PT90M"), -90 * kMinute);
  EXPECT_EQ(parse_duration_ms("P365D"), 365 * kDay);
}

TEST(DurationTest, Invalid) {
  for (const char* bad : {"", "P", "PT", "P1DT", "7D", "P1Y", "P1M", "P1Y2M3D", "P1H", "PT1D", "P1D1D",
                          "PT1M1H", "P1W2D", "p7d", "+P7D", "P-7D", "--P7D", "P1.5D", "PT0.5S", "P 7D",
                          "P7", "P7DT", "P99999999999999999999D", "P9999999999999W", " P7D", "P7D "}) {
    EXPECT_EQ(parse_duration_ms(bad), std::nullopt) << bad;
  }
}

// ---------------------------------------------------------------- diagrams and small helpers

TEST(GraphTest, Dot) {
  const Definition def = load_shipped("star-branch-rating");
  const std::string dot = definition_graph(def, "dot");
  EXPECT_EQ(dot.rfind("digraph \"star-branch-rating\" {", 0), 0u) << dot;
  for (const char* text : {"支部自评", "机关党委评分", "机关工委审核", "公示", "已评定", "提交自评", "异议"}) {
    EXPECT_NE(dot.find(text), std::string::npos) << text;
  }
  EXPECT_NE(dot.find("peripheries=2"), std::string::npos);  // the terminal state
  EXPECT_NE(dot.find("style=dashed"), std::string::npos);   // conclude, fired by the timer
  EXPECT_EQ(dot.back(), '\n');
  // The timer edge is the only dashed one.
  size_t dashed = 0;
  for (size_t at = dot.find("dashed"); at != std::string::npos; at = dot.find("dashed", at + 1)) ++dashed;
  EXPECT_EQ(dashed, 1u);
}

TEST(GraphTest, InPlaceActionsAreSelfLoops) {
  const Definition def = load_shipped("yizhi-yixiang");
  const std::string dot = definition_graph(def, "dot");
  // States are numbered in name order: assigned s0, closed s1, completion_review s2, draft s3,
  // evaluation s4, in_progress s5, ...
  EXPECT_NE(dot.find("s5 -> s5 [label=\"报告进展\"]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("s0 -> s0 [label=\"督办\"]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("start -> s3;"), std::string::npos) << dot;
}

TEST(GraphTest, Mermaid) {
  const Definition def = load_shipped("star-branch-rating");
  const std::string text = definition_graph(def, "mermaid");
  EXPECT_EQ(text.rfind("flowchart LR\n", 0), 0u) << text;
  for (const char* label : {"支部自评", "公示", "已评定", "审核通过并公示"}) {
    EXPECT_NE(text.find(label), std::string::npos) << label;
  }
  EXPECT_NE(text.find(" -. \"公示期满，评定生效（定时）\" .-> "), std::string::npos) << text;
  EXPECT_EQ(definition_graph(def, "svg"), "");
}

TEST(FieldTypeTest, NamesRoundTrip) {
  EXPECT_EQ(field_type_name(FieldType::kString), "string");
  EXPECT_EQ(field_type_name(FieldType::kDatetime), "datetime");
  EXPECT_EQ(field_type_name(FieldType::kOrg), "org");
  EXPECT_EQ(field_type_name(FieldType::kUser), "user");
  for (const char* type : {"string", "text", "integer", "number", "boolean", "date", "datetime", "org", "user"}) {
    auto parsed = parse_definition(with(minimal(), "/fields/extra", {{"type", type}, {"label", {{"zh", "附加"}}}}),
                                   catalog());
    ASSERT_TRUE(parsed) << type;
    EXPECT_EQ(field_type_name(parsed->field("extra")->type), type);
  }
}

}  // namespace
}  // namespace pioneer::engine
