// The rules as pure functions: no store, no clock, no threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "common/crypto.h"
#include "engine/core/codec.h"
#include "engine/core/rules.h"

namespace pioneer::engine {
namespace {

using namespace std::string_literals;

constexpr int64_t kNow = 1795737600000LL;  // 2026-11-27T00:00:00Z
constexpr int64_t kDay = 86400000LL;

class FakeOrgs : public OrgView {
 public:
  FakeOrgs() {
    for (auto [id, kind] : std::vector<std::pair<std::string, std::string>>{
             {"city", "city"}, {"city/dept", "department"}, {"city/dept/b1", "branch"}, {"city/dept/b2", "branch"},
             {"city/other", "department"}, {"city/other/b1", "branch"}}) {
      orgs_[id] = Org{id, id, kind, ""};
    }
  }
  std::optional<Org> find_org(std::string_view id) const override {
    auto it = orgs_.find(std::string(id));
    return it == orgs_.end() ? std::nullopt : std::optional<Org>(it->second);
  }
  bool user_exists(std::string_view id) const override { return id == "alice" || id == "bob"; }

 private:
  std::map<std::string, Org> orgs_;
};

Principal user(const std::string& id, std::vector<RoleGrant> roles) {
  Principal p;
  p.id = id;
  p.name = id;
  p.roles = std::move(roles);
  return p;
}

// A small workflow exercising every rule: separation of duties, creator actors, a
// countersign, in-place actions, date timers and comment rules.
Json test_definition_json() {
  return Json::parse(R"({
    "id": "rules-test", "title": {"zh": "规则测试", "en": "Rules test"},
    "title_field": "title", "assignee_field": "team", "due_field": "due",
    "fields": {
      "title": {"type": "string", "label": {"zh": "标题"}, "max_length": 5},
      "team": {"type": "org", "label": {"zh": "支部"}, "org_kind": "branch"},
      "due": {"type": "date", "label": {"zh": "期限"}},
      "owner": {"type": "user", "label": {"zh": "负责人"}},
      "score": {"type": "number", "label": {"zh": "分数"}, "min": 0, "max": 10},
      "note": {"type": "text", "label": {"zh": "说明"}}
    },
    "create": {"actors": [{"role": "party_group"}], "requires": ["title"], "accepts": ["due", "owner"], "to": "open"},
    "states": {
      "open": {"label": {"zh": "开放"}, "timers": [
        {"name": "soon", "at_field": "due", "offset": "-P1D", "remind": [{"role": "party_group"}]},
        {"name": "late", "at_field": "due", "overdue": true, "remind": [{"role": "organ_committee"}]}]},
      "review": {"label": {"zh": "审核"}},
      "done": {"label": {"zh": "完成"}, "terminal": true}
    },
    "transitions": [
      {"name": "submit", "label": {"zh": "提交"}, "from": ["open"], "to": "review",
       "actors": [{"creator": true}], "accepts": ["team", "note"], "comment": "none"},
      {"name": "extend", "label": {"zh": "延期"}, "from": ["open"], "actors": [{"role": "organ_committee"}],
       "requires": ["due"]},
      {"name": "approve", "label": {"zh": "批准"}, "from": ["review"], "to": "done",
       "countersign": [{"role": "organ_committee"}, {"role": "work_committee"}], "not_by": ["submit"]},
      {"name": "reject", "label": {"zh": "退回"}, "from": ["review"], "to": "open",
       "actors": [{"role": "organ_committee"}, {"role": "branch_secretary", "of": "assignee"}], "comment": "required"}
    ]
  })");
}

Definition test_definition(const Json& j = test_definition_json()) {
  auto def = parse_definition(j, RoleCatalog::defaults());
  EXPECT_TRUE(def.has_value()) << (def ? "" : def.error().details().dump(2));
  return def ? *def : Definition{};
}

class RulesTest : public ::testing::Test {
 protected:
  Definition def = test_definition();
  FakeOrgs orgs;
  DecideEnv env{def, orgs, kNow, 8 * 60};
  Principal party = user("alice", {{"party_group", "city/dept"}});
  Principal committee = user("carol", {{"organ_committee", "city/dept"}});
  Principal works = user("wendy", {{"work_committee", "city"}});
  Principal both = user("bob", {{"organ_committee", "city"}, {"work_committee", "city"}});
  Principal secretary = user("sam", {{"branch_secretary", "city/dept/b1"}});
  Principal outsider = user("olga", {{"organ_committee", "city/other"}});

  Instance created(Json fields = {{"title", "t"}, {"due", "2026-12-10"}}) {
    auto d = decide_create(env, CreateInstance{"rules-test", "city/dept", fields, std::nullopt}, party, "ID1");
    EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().message);
    return d ? d->instance : Instance{};
  }
  Result<Decision> fire(const Instance& in, const Principal& who, const std::string& t, Json fields = Json::object(),
                        std::optional<std::string> comment = {}, std::optional<int64_t> version = {}) {
    return decide_transition(env, in, FireTransition{in.id, t, fields, comment, version}, who);
  }
};

TEST_F(RulesTest, CreateArmsTheDateTimersAndRecordsTheFirstEvent) {
  auto d = decide_create(env, CreateInstance{"rules-test", "city/dept", {{"title", "t"}, {"due", "2026-12-10"}}, {}},
                         party, "ID1");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->instance.state, "open");
  EXPECT_EQ(d->instance.version, 1);
  const int64_t end_of_due_day = kNow + 14 * kDay - 8 * 3600000LL;  // 2026-12-11T00:00+08:00
  EXPECT_EQ(d->instance.due_at_ms, end_of_due_day);
  ASSERT_EQ(d->armed.size(), 2u);
  EXPECT_EQ(d->armed[0], (ArmedTimer{"soon", end_of_due_day - kDay}));
  EXPECT_EQ(d->armed[1], (ArmedTimer{"late", end_of_due_day}));
  ASSERT_EQ(d->events.size(), 1u);
  EXPECT_EQ(d->events[0].type, "created");
  EXPECT_EQ(d->events[0].from, std::nullopt);
  EXPECT_EQ(d->events[0].to, "open");
  EXPECT_EQ(d->events[0].instance_seq, 1);
}

TEST_F(RulesTest, CreateRefusals) {
  auto create = [&](const Principal& who, const std::string& org, Json fields) {
    return decide_create(env, CreateInstance{"rules-test", org, fields, std::nullopt}, who, "X");
  };
  EXPECT_EQ(create(committee, "city/dept", {{"title", "t"}}).error().code, Code::kForbidden);
  EXPECT_EQ(create(party, "city/other", {{"title", "t"}}).error().code, Code::kForbidden);
  EXPECT_EQ(create(party, "city/dept/none", {{"title", "t"}}).error().code, Code::kInvalidField);
  auto missing = create(party, "city/dept", Json::object());
  EXPECT_EQ(missing.error().code, Code::kMissingFields);
  EXPECT_EQ(missing.error().details()["missing"], Json({"title"}));
  EXPECT_EQ(create(party, "city/dept", {{"title", "   "}}).error().code, Code::kMissingFields);
  auto too_long = create(party, "city/dept", {{"title", "六个汉字标题"}});  // 6 code points > 5
  EXPECT_EQ(too_long.error().details()["rule"], "max_length");
  EXPECT_TRUE(create(party, "city/dept", {{"title", "五个汉字题"}}).has_value());  // 5 code points: fine
  EXPECT_EQ(create(party, "city/dept", {{"title", "t"}, {"owner", "nobody"}}).error().details()["rule"], "user");
  EXPECT_EQ(create(party, "city/dept", {{"title", "t"}, {"note", "n"}}).error().details()["rule"], "not_accepted");
  EXPECT_EQ(create(party, "city/dept", {{"title", "t"}, {"due", "2026-13-01"}}).error().details()["rule"], "format");
  EXPECT_EQ(create(party, "city/dept", {{"title", "t"}, {"due", 20261201}}).error().details()["rule"], "format");
  EXPECT_EQ(create(party, "city/dept", Json::array()).error().code, Code::kInvalidField);
}

TEST_F(RulesTest, TheOrderOfChecksIsPinned) {
  Instance in = created();
  // Visibility first: an outsider hears "not found" even for a transition that does not exist.
  EXPECT_EQ(fire(in, outsider, "nonsense").error().code, Code::kNotFound);
  // Then the state.
  EXPECT_EQ(fire(in, party, "approve").error().code, Code::kTransitionNotAllowed);
  // Then the actor (creator-only submit), before the version and the fields.
  EXPECT_EQ(fire(in, committee, "submit", {{"bogus", 1}}, {}, 99).error().code, Code::kForbidden);
  // Then the version, before the fields.
  EXPECT_EQ(fire(in, party, "submit", {{"bogus", 1}}, {}, 99).error().code, Code::kVersionConflict);
  EXPECT_EQ(fire(in, party, "submit", {{"bogus", 1}}, {}, 1).error().code, Code::kInvalidField);
  EXPECT_EQ(fire(in, party, "submit", {}, "不接受意见").error().details()["field"], "comment");
  EXPECT_TRUE(fire(in, party, "submit", {}, {}, 1).has_value());
}

TEST_F(RulesTest, OrgFieldsMustBeOfTheirKindAndUnderTheInstanceOrg) {
  Instance in = created();
  EXPECT_EQ(fire(in, party, "submit", {{"team", "city/dept"}}).error().details()["rule"], "org_kind");
  EXPECT_EQ(fire(in, party, "submit", {{"team", "city/other/b1"}}).error().details()["rule"], "org_scope");
  EXPECT_EQ(fire(in, party, "submit", {{"team", "city/dept/b9"}}).error().details()["rule"], "org");
  auto ok = fire(in, party, "submit", {{"team", "city/dept/b1"}});
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->instance.assignee_org, "city/dept/b1");
  EXPECT_EQ(ok->events[0].changes["assignee_org"], "city/dept/b1");
  EXPECT_EQ(ok->events[0].assignee_org, "city/dept/b1");
  // Leaving "open" disarms both of its timers.
  EXPECT_EQ(ok->disarmed.size(), 2u);
  EXPECT_TRUE(ok->instance.timers.empty());
}

// What lay outside the caller's view showed in the refusals: creating at an org that does not
// exist said so while an existing one said 403, and an org field named "no org", "must be of
// kind" or "not under" depending on what the org outside was. Scope is checked first now, and
// everything outside answers one way.
TEST_F(RulesTest, OrgsOutsideTheCallersViewAllAnswerAlike) {
  auto create = [&](const std::string& org) {
    return decide_create(env, CreateInstance{"rules-test", org, {{"title", "t"}}, std::nullopt}, party, "X");
  };
  for (const char* outside : {"city/other", "city/other/b1", "city/other/b9", "city/nowhere", "elsewhere"}) {
    auto r = create(outside);
    ASSERT_FALSE(r.has_value()) << outside;
    EXPECT_EQ(r.error().code, Code::kForbidden) << outside;
    EXPECT_EQ(r.error().message, "无权在 " + std::string(outside) + " 创建此类事项（you may not create this workflow at " +
                                     outside + "）");
  }
  Instance in = created();
  for (const char* outside : {"city/other", "city/other/b1", "city/other/b9", "city", "elsewhere"}) {
    auto r = fire(in, party, "submit", {{"team", outside}});
    ASSERT_FALSE(r.has_value()) << outside;
    EXPECT_EQ(r.error().details()["rule"], "org_scope") << outside;
    EXPECT_EQ(r.error().details().dump(), fire(in, party, "submit", {{"team", "city/other"}}).error().details().dump());
  }
  // Inside the instance's org the detail helps the caller.
  EXPECT_EQ(fire(in, party, "submit", {{"team", "city/dept/b9"}}).error().details()["rule"], "org");
  EXPECT_EQ(fire(in, party, "submit", {{"team", "city/dept"}}).error().details()["rule"], "org_kind");
}

// Titles and other text fields accepted NUL, direction overrides and line breaks in one-line
// fields, and "\u3000\u200b" passed as a title. Every `string` field now follows the rules of
// org and user names; `text` fields and comments keep line breaks.
TEST_F(RulesTest, TextFieldsRefuseControlAndDirectionCharactersAndInvisibleTextIsBlank) {
  auto create = [&](const std::string& title) {
    return decide_create(env, CreateInstance{"rules-test", "city/dept", {{"title", title}}, std::nullopt}, party, "X");
  };
  for (const std::string& bad : {"a\0b"s, "ab\ncd"s, "ab\rc"s, "a\tb"s, "\u202Eabc"s, "a\u2066b"s, "a\u200Fb"s,
                                "a\u200Eb"s, "a\u2028b"s, "a\x7f"s}) {
    auto r = create(bad);
    ASSERT_FALSE(r.has_value()) << Json(bad).dump();
    EXPECT_EQ(r.error().code, Code::kInvalidField) << Json(bad).dump();
    EXPECT_EQ(r.error().details()["rule"], "characters") << Json(bad).dump();
    EXPECT_EQ(r.error().details()["field"], "title");
  }
  for (const std::string& blank : {"\u3000\u200b"s, "\u00a0"s, "\ufeff \u2060"s, " \t"s}) {
    auto r = create(blank);
    ASSERT_FALSE(r.has_value()) << Json(blank).dump();
    EXPECT_EQ(r.error().code, Code::kMissingFields) << Json(blank).dump();
  }
  EXPECT_TRUE(create("标题 ok").has_value());
  Instance in = created();
  // A `text` field and a comment keep their line breaks, but not direction overrides.
  EXPECT_TRUE(fire(in, party, "submit", {{"note", "第一行\n第二行\r\n\t缩进"}}).has_value());
  EXPECT_EQ(fire(in, party, "submit", {{"note", "a\u202Eb"}}).error().details()["rule"], "characters");
  EXPECT_EQ(fire(in, party, "submit", {{"note", "a\0b"s}}).error().details()["rule"], "characters");
  Instance review = fire(in, party, "submit").value().instance;
  EXPECT_TRUE(fire(review, committee, "reject", {}, "请补充：\n1. 佐证").has_value());
  EXPECT_EQ(fire(review, committee, "reject", {}, "退回\u202E").error().details()["field"], "comment");
  EXPECT_EQ(fire(review, committee, "reject", {}, "\u3000\u200b").error().code, Code::kMissingFields);
}

// Comments on a closed instance were accepted and bumped its version. Now refused (409), unless
// the definition allows comments after closing.
TEST_F(RulesTest, CommentsOnAClosedInstanceAreRefusedUnlessTheDefinitionAllowsThem) {
  Instance in = created();
  EXPECT_TRUE(decide_comment(env, in, AddComment{in.id, "开放中"}, party).has_value());
  in.state = "done";
  in.closed_at_ms = kNow;
  auto refused = decide_comment(env, in, AddComment{in.id, "已结束"}, party);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, Code::kTransitionNotAllowed);
  Definition open_def = test_definition();
  open_def.comments_after_close = true;
  DecideEnv open_env{open_def, orgs, kNow, 8 * 60};
  auto allowed = decide_comment(open_env, in, AddComment{in.id, "已结束"}, party);
  ASSERT_TRUE(allowed.has_value());
  EXPECT_EQ(allowed->events[0].type, "commented");
}

TEST_F(RulesTest, AnInPlaceActionKeepsTheStateAndMovesDateTimers) {
  Instance in = created();
  auto d = fire(in, committee, "extend", {{"due", "2027-01-31"}});
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->instance.state, "open");
  EXPECT_EQ(d->events[0].from, "open");
  EXPECT_EQ(d->events[0].to, "open");
  EXPECT_EQ(d->disarmed.size(), 2u);
  EXPECT_EQ(d->armed.size(), 2u);
  EXPECT_EQ(d->instance.timers.size(), 2u);
  EXPECT_GT(d->armed[0].due_ms, in.timers[0].due_ms);
}

TEST_F(RulesTest, CountersignCollectsEachPartyAndOnePersonVotesOnce) {
  Instance in = fire(created(), party, "submit", {{"team", "city/dept/b1"}})->instance;
  auto first = fire(in, both, "approve");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->instance.state, "review");
  ASSERT_EQ(first->events.size(), 1u);
  EXPECT_EQ(first->events[0].type, "approved");
  // Holding both roles does not let one person cast both votes.
  EXPECT_EQ(fire(first->instance, both, "approve").error().code, Code::kForbidden);
  // bob's first vote took the first open party he fits: organ_committee.
  EXPECT_EQ(first->instance.approvals[0].role, "organ_committee");
  EXPECT_EQ(fire(first->instance, committee, "approve").error().code, Code::kForbidden) << "party already taken";
  auto last = fire(first->instance, works, "approve");
  ASSERT_TRUE(last.has_value());
  ASSERT_EQ(last->events.size(), 2u);
  EXPECT_EQ(last->events[0].type, "approved");
  EXPECT_EQ(last->events[1].type, "transitioned");
  EXPECT_EQ(last->instance.state, "done");
  EXPECT_TRUE(last->instance.approvals.empty());
  EXPECT_EQ(last->instance.version, first->instance.version + 2);
  EXPECT_TRUE(last->instance.closed_at_ms.has_value());
}

TEST_F(RulesTest, CountersignSamePersonWhenTheDefinitionAllowsIt) {
  Json j = def.source;
  j["transitions"][2]["countersign_same_person"] = true;
  auto lenient = parse_definition(j, RoleCatalog::defaults());
  ASSERT_TRUE(lenient.has_value());
  DecideEnv lenient_env{*lenient, orgs, kNow, 8 * 60};
  Instance in = fire(created(), party, "submit")->instance;
  auto a = decide_transition(lenient_env, in, FireTransition{in.id, "approve", {}, {}, {}}, both);
  ASSERT_TRUE(a.has_value());
  auto b = decide_transition(lenient_env, a->instance, FireTransition{in.id, "approve", {}, {}, {}}, both);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->instance.state, "done");
}

// A countersign without `to` stays in its state: each completed round starts the next with no
// votes, and a vote that sets a date moves the timers on it (the second
// round must not be refused, and a vote's date must not leave the timers where they were).
TEST_F(RulesTest, AnInPlaceCountersignCanBeHeldAgainAndItsVotesMoveTimers) {
  Json j = def.source;
  j["transitions"].push_back({{"name", "cosign"}, {"label", {{"zh", "会签确认"}}}, {"from", {"open"}},
                              {"countersign", {{{"role", "organ_committee"}}, {{"role", "work_committee"}}}},
                              {"accepts", {"due"}}});
  auto with_cosign = parse_definition(j, RoleCatalog::defaults());
  ASSERT_TRUE(with_cosign.has_value()) << with_cosign.error().details().dump();
  DecideEnv e{*with_cosign, orgs, kNow, 8 * 60};
  auto vote = [&](const Instance& in, const Principal& who, Json fields = Json::object()) {
    return decide_transition(e, in, FireTransition{in.id, "cosign", fields, {}, {}}, who);
  };
  Instance in = created();
  for (int round = 1; round <= 2; ++round) {
    auto first = vote(in, committee, {{"due", "2026-12-20"}});
    ASSERT_TRUE(first.has_value()) << "round " << round << ": " << first.error().message;
    EXPECT_EQ(first->instance.approvals.size(), 1u);
    EXPECT_EQ(first->armed.size(), 2u) << "the vote's new due date re-arms soon and late";
    auto second = vote(first->instance, works);
    ASSERT_TRUE(second.has_value()) << "round " << round << ": " << second.error().message;
    EXPECT_EQ(second->instance.state, "open");
    EXPECT_TRUE(second->instance.approvals.empty()) << "round " << round;
    EXPECT_EQ(second->events.back().type, "transitioned");
    in = second->instance;
  }
}

TEST_F(RulesTest, LeavingTheStateClearsVotes) {
  Instance in = fire(created(), party, "submit", {{"team", "city/dept/b1"}})->instance;
  Instance voted = fire(in, committee, "approve")->instance;
  ASSERT_EQ(voted.approvals.size(), 1u);
  auto rejected = fire(voted, secretary, "reject", {}, "资料不全");
  ASSERT_TRUE(rejected.has_value());
  EXPECT_TRUE(rejected->instance.approvals.empty());
  EXPECT_EQ(rejected->instance.state, "open");
  EXPECT_EQ(rejected->armed.size(), 2u) << "re-entering open re-arms its timers";
}

// Moving an instance to another version (docs/definitions.md "Versions"): the state is mapped, every
// field must hold under the new version, votes are cleared, and a waiting `after` timer of the
// same name keeps its due time.
TEST_F(RulesTest, MigrationMapsTheStateChecksTheFieldsAndKeepsAWaitingTimer) {
  Json j1 = test_definition_json();
  j1["states"]["review"]["timers"] = Json::parse(R"([{"name": "nudge", "after": "P3D", "remind": [{"role": "organ_committee"}]}])");
  Definition v1 = test_definition(j1);
  v1.version = 1;
  DecideEnv env1{v1, orgs, kNow, 8 * 60};
  Json j2 = j1;
  j2["states"]["checking"] = j2["states"]["review"];
  j2["states"].erase("review");
  j2["states"]["checking"]["timers"][0]["after"] = "P5D";
  j2["transitions"][0]["to"] = "checking";
  j2["transitions"][2]["from"] = {"checking"};
  j2["transitions"][3]["from"] = {"checking"};
  j2["fields"]["summary"] = Json::parse(R"({"type": "text", "label": {"zh": "小结"}})");
  Definition v2 = test_definition(j2);
  v2.version = 2;
  DecideEnv env2{v2, orgs, kNow + kDay, 8 * 60};
  const Principal admin = user("root", {{"admin", "city"}});

  auto created = decide_create(env1, CreateInstance{"rules-test", "city/dept", {{"title", "abcd"}, {"due", "2026-12-10"}}, {}},
                               party, "ID1");
  ASSERT_TRUE(created.has_value());
  Instance in = created->instance;
  in = decide_transition(env1, in, FireTransition{"ID1", "submit", {{"team", "city/dept/b1"}, {"note", "n"}}, {}, {}}, party)->instance;
  in = decide_transition(env1, in, FireTransition{"ID1", "approve", Json::object(), {}, {}}, committee)->instance;
  ASSERT_EQ(in.state, "review");
  ASSERT_EQ(in.approvals.size(), 1u);
  ASSERT_EQ(in.timers, (std::vector<ArmedTimer>{{"nudge", kNow + 3 * kDay}}));

  auto moved = decide_migration(env2, v1, in, MigrateInstance{"ID1", 2, {{"review", "checking"}}, "新版本", {}}, admin);
  ASSERT_TRUE(moved.has_value()) << moved.error().message;
  EXPECT_EQ(moved->instance.state, "checking");
  EXPECT_EQ(moved->instance.workflow_version, 2);
  EXPECT_TRUE(moved->instance.approvals.empty());
  EXPECT_EQ(moved->instance.timers, (std::vector<ArmedTimer>{{"nudge", kNow + 3 * kDay}})) << "not restarted at P5D";
  EXPECT_TRUE(moved->armed.empty());
  EXPECT_TRUE(moved->disarmed.empty());
  EXPECT_EQ(moved->instance.assignee_org, "city/dept/b1");
  ASSERT_EQ(moved->events.size(), 1u);
  const Event& e = moved->events[0];
  EXPECT_EQ(e.type, "migrated");
  EXPECT_EQ(e.from, "review");
  EXPECT_EQ(e.to, "checking");
  EXPECT_EQ(e.changes, (Json{{"workflow_version", 2}, {"previous_version", 1}}));
  EXPECT_EQ(e.comment, "新版本");
  EXPECT_EQ(e.instance_seq, in.version + 1);
  EXPECT_NE(std::find(e.audience.begin(), e.audience.end(), AudienceEntry{"work_committee", "city/dept", ""}), e.audience.end());

  // Refused: an unmapped state, a field the new version lacks or refuses, a stale version.
  EXPECT_EQ(decide_migration(env2, v1, in, MigrateInstance{"ID1", 2, {}, {}, {}}, admin).error().code, Code::kInvalidField);
  EXPECT_EQ(decide_migration(env2, v1, in, MigrateInstance{"ID1", 2, {{"review", "done"}}, {}, {}}, admin).error().details()["rule"],
            "terminal");
  Json j3 = j2;
  j3["fields"].erase("note");
  j3["transitions"][0]["accepts"] = {"team"};
  Definition v3 = test_definition(j3);
  DecideEnv env3{v3, orgs, kNow, 8 * 60};
  auto lacks = decide_migration(env3, v1, in, MigrateInstance{"ID1", 3, {{"review", "checking"}}, {}, {}}, admin);
  ASSERT_FALSE(lacks.has_value());
  EXPECT_EQ(lacks.error().details(), (Json{{"field", "note"}, {"rule", "unknown"}}));
  Json j4 = j2;
  j4["fields"]["title"]["max_length"] = 2;
  Definition v4 = test_definition(j4);
  DecideEnv env4{v4, orgs, kNow, 8 * 60};
  auto refuses = decide_migration(env4, v1, in, MigrateInstance{"ID1", 4, {{"review", "checking"}}, {}, {}}, admin);
  ASSERT_FALSE(refuses.has_value());
  EXPECT_EQ(refuses.error().details()["field"], "title");
  EXPECT_EQ(decide_migration(env2, v1, in, MigrateInstance{"ID1", 2, {{"review", "checking"}}, {}, in.version - 1}, admin)
                .error().code, Code::kVersionConflict);
  // The whole mapping is checked: a misspelt state is refused even where this instance is not.
  auto misspelt = decide_migration(env2, v1, in, MigrateInstance{"ID1", 2, {{"review", "checking"}, {"opne", "open"}}, {}, {}}, admin);
  ASSERT_FALSE(misspelt.has_value());
  EXPECT_EQ(misspelt.error().details()["rule"], "unknown_state");
  EXPECT_EQ(misspelt.error().details()["state"], "opne");
  // What the new version requires at creation must be there (a timer's transition may rely on it).
  Json j5 = j2;
  j5["create"]["requires"] = {"title", "summary"};
  Definition v5 = test_definition(j5);
  DecideEnv env5{v5, orgs, kNow, 8 * 60};
  auto lacking = decide_migration(env5, v1, in, MigrateInstance{"ID1", 5, {{"review", "checking"}}, {}, {}}, admin);
  ASSERT_FALSE(lacking.has_value());
  EXPECT_EQ(lacking.error().code, Code::kMissingFields);
  EXPECT_EQ(lacking.error().details()["missing"], Json({"summary"}));
  // The assignee stays: a new assignee field the instance has not filled is refused.
  Json j6 = j2;
  j6["fields"]["lead"] = Json::parse(R"({"type": "org", "label": {"zh": "牵头支部"}, "org_kind": "branch"})");
  j6["assignee_field"] = "lead";
  Definition v6 = test_definition(j6);
  DecideEnv env6{v6, orgs, kNow, 8 * 60};
  auto unassigned = decide_migration(env6, v1, in, MigrateInstance{"ID1", 6, {{"review", "checking"}}, {}, {}}, admin);
  ASSERT_FALSE(unassigned.has_value());
  EXPECT_EQ(unassigned.error().details()["rule"], "assignee");
  // The instance's org must be of the kind the new version's instances belong to.
  Json j7 = j2;
  j7["create"]["org_kind"] = "branch";
  Definition v7 = test_definition(j7);
  DecideEnv env7{v7, orgs, kNow, 8 * 60};
  EXPECT_EQ(decide_migration(env7, v1, in, MigrateInstance{"ID1", 7, {{"review", "checking"}}, {}, {}}, admin).error().details()["rule"],
            "org_kind");
  // An administrator of another department does not see it; one who sees it (through the
  // assignee branch) but holds no admin grant over its org may not move it.
  EXPECT_EQ(decide_migration(env2, v1, in, MigrateInstance{"ID1", 2, {{"review", "checking"}}, {}, {}},
                             user("other", {{"admin", "city/other"}})).error().code, Code::kNotFound);
  EXPECT_EQ(decide_migration(env2, v1, in, MigrateInstance{"ID1", 2, {{"review", "checking"}}, {}, {}},
                             user("branch", {{"admin", "city/dept/b1"}})).error().code, Code::kForbidden);
}

// A migration is not a new entry into the state: a timer that has fired stays fired, one still
// armed keeps its due time, one the old state did not have is armed.
TEST_F(RulesTest, MigrationDoesNotFireAgainWhatHasFired) {
  Instance in = created();  // open, with "soon" and "late" armed for 2026-12-10
  auto fired = decide_timer(env, in, FireTimer{in.id, "soon", in.timers[0].due_ms});
  ASSERT_TRUE(fired.has_value());
  in = fired->instance;
  ASSERT_EQ(in.timers.size(), 1u);  // "late" only
  Json j2 = test_definition_json();
  j2["states"]["open"]["timers"].push_back(Json::parse(R"({"name": "weekly", "after": "P7D", "remind": [{"role": "party_group"}]})"));
  Definition v2 = test_definition(j2);
  v2.version = 2;
  DecideEnv env2{v2, orgs, kNow + 2 * kDay, 8 * 60};
  ASSERT_EQ(in.fired_timers, std::vector<std::string>{"soon"});
  const Principal root = user("root", {{"admin", "city"}});
  auto names = [](const Instance& i) {
    std::vector<std::string> out;
    for (const ArmedTimer& t : i.timers) out.push_back(t.name);
    return out;
  };
  auto moved = decide_migration(env2, def, in, MigrateInstance{in.id, 2, {}, {}, {}}, root);
  ASSERT_TRUE(moved.has_value()) << moved.error().message;
  EXPECT_EQ(names(moved->instance), (std::vector<std::string>{"late", "weekly"})) << "soon fired before: not armed again";
  EXPECT_EQ(moved->armed, (std::vector<ArmedTimer>{{"weekly", kNow + 9 * kDay}}));
  EXPECT_TRUE(moved->disarmed.empty()) << "late keeps its stored key";

  // Away to a version whose state has no timers, and back: late is disarmed on the way out,
  // armed again on the way back (it never fired); soon stays fired throughout.
  Json j3 = test_definition_json();
  j3["states"]["open"].erase("timers");
  Definition v3 = test_definition(j3);
  v3.version = 3;
  DecideEnv env3{v3, orgs, kNow + 2 * kDay, 8 * 60};
  auto away = decide_migration(env3, def, in, MigrateInstance{in.id, 3, {}, {}, {}}, root);
  ASSERT_TRUE(away.has_value()) << away.error().message;
  EXPECT_TRUE(away->instance.timers.empty());
  EXPECT_EQ(away->disarmed, in.timers) << "no timer key of the old state may stay behind";
  EXPECT_EQ(away->instance.fired_timers, std::vector<std::string>{"soon"});
  DecideEnv back_env{def, orgs, kNow + 3 * kDay, 8 * 60};
  auto back = decide_migration(back_env, v3, away->instance, MigrateInstance{in.id, 1, {}, {}, {}}, root);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(names(back->instance), std::vector<std::string>{"late"});
  EXPECT_EQ(back->armed, in.timers);

  // An at_field timer follows its field as the new version reads it.
  Json j4 = test_definition_json();
  j4["states"]["open"]["timers"][1]["offset"] = "-P2D";
  Definition v4 = test_definition(j4);
  v4.version = 4;
  DecideEnv env4{v4, orgs, kNow + 2 * kDay, 8 * 60};
  auto earlier = decide_migration(env4, def, in, MigrateInstance{in.id, 4, {}, {}, {}}, root);
  ASSERT_TRUE(earlier.has_value()) << earlier.error().message;
  EXPECT_EQ(earlier->disarmed, in.timers);
  EXPECT_EQ(earlier->armed, (std::vector<ArmedTimer>{{"late", in.timers[0].due_ms - 2 * kDay}}));

  // A timer never armed (its date unset) has not fired: the new version's timer of its name is armed.
  Instance undated = created({{"title", "t"}});
  ASSERT_TRUE(undated.timers.empty());
  Json j5 = test_definition_json();
  j5["states"]["open"]["timers"][0] = Json::parse(R"({"name": "soon", "after": "P2D", "remind": [{"role": "party_group"}]})");
  Definition v5 = test_definition(j5);
  v5.version = 5;
  DecideEnv env5{v5, orgs, kNow, 8 * 60};
  auto dated = decide_migration(env5, def, undated, MigrateInstance{undated.id, 5, {}, {}, {}}, root);
  ASSERT_TRUE(dated.has_value()) << dated.error().message;
  EXPECT_EQ(dated->armed, (std::vector<ArmedTimer>{{"soon", kNow + 2 * kDay}}));
}

// `{"creator": true}` among those who act next (or in notify, remind) addresses the creator by
// name, beside the role@org entries; the creator is never dropped.
TEST_F(RulesTest, TheCreatorIsInTheAudienceByName) {
  Instance in = fire(created(), party, "submit", {{"team", "city/dept/b1"}})->instance;
  auto rejected = fire(in, secretary, "reject", {}, "资料不全");
  ASSERT_TRUE(rejected.has_value());
  ASSERT_EQ(rejected->events.size(), 1u);
  const auto& audience = rejected->events[0].audience;
  EXPECT_NE(std::find(audience.begin(), audience.end(), AudienceEntry{"", "", "alice"}), audience.end())
      << "submit, open's creator transition, makes alice one who acts next";
  EXPECT_NE(std::find(audience.begin(), audience.end(), AudienceEntry{"organ_committee", "city/dept", ""}), audience.end());
  // The entry is part of the hashed record, and reads back as it was written.
  auto back = decode_event(encode_event(rejected->events[0]));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->audience, audience);
  EXPECT_NE(encode_event(rejected->events[0]).find(R"({"user":"alice"})"), std::string::npos);
}

TEST_F(RulesTest, SeparationOfDutiesBarsWhoeverFiredTheNamedTransition) {
  Principal creator_and_committee = user("alice", {{"party_group", "city/dept"}, {"organ_committee", "city/dept"}});
  auto d = decide_create(env, CreateInstance{"rules-test", "city/dept", {{"title", "t"}}, {}}, creator_and_committee, "ID");
  ASSERT_TRUE(d.has_value());
  Instance in = fire(d->instance, creator_and_committee, "submit")->instance;
  auto r = fire(in, creator_and_committee, "approve");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kForbidden);
  EXPECT_TRUE(available_actions(def, in, creator_and_committee).size() == 1u);  // reject only
  EXPECT_TRUE(fire(in, committee, "approve").has_value());
}

TEST_F(RulesTest, ActionsAndToDoSlotsFollowTheState) {
  Instance in = created();
  auto names = [&](const Principal& who) {
    std::vector<std::string> out;
    for (const Action& a : available_actions(def, in, who)) out.push_back(a.transition->name);
    return out;
  };
  EXPECT_EQ(names(party), std::vector<std::string>{"submit"});
  EXPECT_EQ(names(committee), std::vector<std::string>{"extend"});
  EXPECT_TRUE(names(outsider).empty());
  // The committee may extend (in place): an action, but no to-do.
  auto slots = todo_slots(def, in);
  EXPECT_EQ(slots, (std::vector<std::pair<std::string, std::string>>{{"@creator", "alice"}}));
  in = fire(in, party, "submit", {{"team", "city/dept/b1"}})->instance;
  EXPECT_EQ(names(secretary), std::vector<std::string>{"reject"});
  slots = todo_slots(def, in);
  EXPECT_EQ(slots, (std::vector<std::pair<std::string, std::string>>{{"branch_secretary", "city/dept/b1"},
                                                                     {"organ_committee", "city/dept"},
                                                                     {"work_committee", "city/dept"}}));
}

TEST_F(RulesTest, TimersFireOnceAndStaleOnesAreDropped) {
  Instance in = created();
  const ArmedTimer late = in.timers[1];
  auto fired = decide_timer(env, in, FireTimer{in.id, late.name, late.due_ms});
  ASSERT_TRUE(fired.has_value());
  EXPECT_TRUE(fired->instance.overdue);
  ASSERT_EQ(fired->events.size(), 1u);
  EXPECT_EQ(fired->events[0].type, "overdue");
  EXPECT_EQ(fired->events[0].audience, (std::vector<AudienceEntry>{{"organ_committee", "city/dept", ""}}));
  EXPECT_EQ(fired->disarmed, std::vector<ArmedTimer>{late});
  // The same timer again (or one with another due time) is stale.
  EXPECT_FALSE(decide_timer(env, fired->instance, FireTimer{in.id, late.name, late.due_ms}).has_value());
  EXPECT_FALSE(decide_timer(env, in, FireTimer{in.id, late.name, late.due_ms + 1}).has_value());
}

TEST(Codec, TimesRoundTrip) {
  EXPECT_EQ(format_time(kNow), "2026-11-27T00:00:00Z");
  EXPECT_EQ(format_time(kNow + 1500), "2026-11-27T00:00:01.500Z");
  EXPECT_EQ(parse_time("2026-11-27T08:00:00+08:00"), kNow);
  EXPECT_EQ(parse_time("2026-11-27T00:00:01.5Z"), kNow + 1500);
  EXPECT_FALSE(parse_time("2026-11-27 00:00:00Z").has_value());
  EXPECT_FALSE(parse_time("2026-02-29T00:00:00Z").has_value());
  EXPECT_TRUE(parse_date_days("2028-02-29").has_value());
  EXPECT_FALSE(parse_date_days("2027-02-29").has_value());
  EXPECT_FALSE(parse_date_days("2027-1-01").has_value());
  // Regression (fuzz): an offset pushing the time outside 0000..9999 UTC would not read back.
  EXPECT_FALSE(parse_time("9999-12-31T23:59:59.999-23:59").has_value());
  EXPECT_FALSE(parse_time("0000-01-01T00:00:00+00:01").has_value());
  EXPECT_EQ(format_time(*parse_time("9999-12-31T23:59:59.999Z")), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(format_time(*parse_time("0000-01-01T00:00:00.001Z")), "0000-01-01T00:00:00.001Z");
  EXPECT_EQ(format_time(*parse_time("1970-01-01T00:00:00.010Z")), "1970-01-01T00:00:00.010Z");
  EXPECT_EQ(format_time(-1), "1969-12-31T23:59:59.999Z");
  // Every millisecond pattern and a spread of days read back to the same instant.
  for (int64_t ms = -40LL * 365 * 86400000; ms < 80LL * 365 * 86400000; ms += 86400000LL * 37 + 3600000 * 5 + 61007) {
    for (int64_t milli : {0, 1, 9, 10, 99, 100, 999}) {
      const int64_t t = ms - ms % 1000 + milli;
      EXPECT_EQ(parse_time(format_time(t)), t) << format_time(t);
    }
  }
}

TEST(Codec, EventsRoundTripAndTheHashInputExcludesOnlyTheHash) {
  Event e;
  e.seq = 7;
  e.instance_id = "ID";
  e.workflow = "w";
  e.instance_seq = 2;
  e.type = "transitioned";
  e.transition = "assign";
  e.from = "issued";
  e.to = "assigned";
  e.actor_id = "li.na";
  e.actor_name = "李娜";
  e.at_ms = kNow;
  e.changes = {{"branch", "city/finance/b1"}};
  e.comment = "请认领";
  e.audience = {{"branch_secretary", "city/finance/b1", ""}};
  e.org = "city/finance";
  e.assignee_org = "city/finance/b1";
  e.prev_hash = std::string(64, '0');
  e.hash = "abc";
  auto back = decode_event(encode_event(e));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, e);
  Event other = e;
  other.hash = "def";
  EXPECT_EQ(event_hash_input(e), event_hash_input(other));
  other.comment = "改过";
  EXPECT_NE(event_hash_input(e), event_hash_input(other));
  EXPECT_FALSE(decode_event("{not json").has_value());
  // Sealing builds the same bytes encode_event would, with the hash of the content; even when
  // client text looks like the key it is spliced before.
  Event sealed = e;
  sealed.changes = {{"instance_id", "x"}, {"note", ",\"instance_id\":"}};
  sealed.hash.clear();
  const std::string bytes = seal_event(sealed, "sha256");
  EXPECT_EQ(bytes, encode_event(sealed));
  EXPECT_EQ(sealed.hash, sha256_hex(event_hash_input(sealed)));
}

// The stored records are written by hand (json_text.h), not through a Json tree: they must be
// the canonical bytes nlohmann writes for the same value (sorted keys, its escapes), or records
// written before and after that change would hash and verify differently.
TEST(Codec, HandWrittenRecordsAreTheCanonicalJsonBytes) {
  const std::string tricky = std::string("q\"b\\s/\b\f\n\r\t") + '\x01' + '\x1f' + '\x7f' + "中文 é 😀";
  Event e;
  e.seq = 18446744073709551615ULL;
  e.instance_id = tricky;
  e.workflow = "w";
  e.instance_seq = -3;
  e.type = tricky;
  e.actor_id = "a";
  e.actor_name = tricky;
  e.at_ms = kNow + 123;
  e.changes = {{"z", 1}, {"a", {{"nested", tricky}}}, {tricky, nullptr}};
  e.audience = {{"r1", tricky, ""}, {"r2", "o", ""}, {"", "", tricky}};  // the last one a user
  e.org = "o";
  e.prev_hash = std::string(64, '0');
  e.hash = "h";
  for (int variant = 0; variant < 4; ++variant) {
    Event v = e;
    if (variant & 1) {
      v.from = tricky;
      v.to = "to";
      v.transition = "t";
      v.comment = tricky;
      v.assignee_org = "x/y";
    }
    if (variant & 2) v.changes = Json::object();
    EXPECT_EQ(encode_event(v), event_json(v).dump()) << variant;
    EXPECT_EQ(encode_event(v), Json::parse(encode_event(v)).dump()) << variant;
    Json without = event_json(v);
    without.erase("hash");
    EXPECT_EQ(event_hash_input(v), without.dump()) << variant;
  }

  Instance in;
  in.id = "01J";
  in.workflow = tricky;
  in.workflow_version = 3;
  in.state = "s";
  in.org = tricky;
  in.fields = {{"title", tricky}, {"n", 1.5}, {"list", {1, "x", false}}};
  in.version = 9;
  in.fired_timers = {tricky, "late"};
  in.created_at_ms = kNow;
  in.updated_at_ms = kNow + 1;
  in.created_by = "u";
  for (int variant = 0; variant < 2; ++variant) {
    if (variant == 1) {
      in.assignee_org = "a/b";
      in.due_at_ms = kNow + 86400000;
      in.closed_at_ms = kNow + 2;
      in.overdue = true;
      in.approvals_for = "approve";
      in.approvals = {{"r1", tricky}, {"r2", "v"}};
      in.fired_by = {{"t2", {"a", tricky}}, {"t1", {}}};
      in.timers = {{"remind", kNow + 5}, {tricky, -1}};
    }
    const std::string bytes = encode_instance(in);
    EXPECT_EQ(bytes, Json::parse(bytes).dump()) << variant;
    auto back = decode_instance(bytes);
    ASSERT_TRUE(back.has_value()) << variant;
    EXPECT_EQ(*back, in) << variant;
  }
}

// Views of shared records keep the part that does not depend on the principal (text_memo.h).
TEST(TextMemo, RendersOncePerKeyAndACopyStartsEmpty) {
  TextMemo memo;
  int renders = 0;
  auto make = [&](const std::string& text) {
    return [&renders, text] {
      ++renders;
      return text;
    };
  };
  EXPECT_EQ(memo.get(1, make("v1")), "v1");
  EXPECT_EQ(memo.get(1, make("other")), "v1");
  EXPECT_EQ(renders, 1);
  const std::string& v2 = memo.get(2, make("v2"));  // another version: rendered anew
  EXPECT_EQ(v2, "v2");
  EXPECT_EQ(memo.get(1, make("other")), "v1");  // both stay valid
  EXPECT_EQ(renders, 2);

  Instance in;
  in.id = "01J";
  in.version = 4;
  in.view_memo.get(in.version, make("old"));
  Instance changed = in;  // what the writer does before changing a record
  EXPECT_EQ(changed, in);  // memos take no part in comparisons
  EXPECT_EQ(changed.view_memo.get(in.version, make("new")), "new");
  EXPECT_EQ(in.view_memo.get(in.version, make("unused")), "old");
  changed = in;  // assigning empties it too
  EXPECT_EQ(changed.view_memo.get(in.version, make("newer")), "newer");
  EXPECT_EQ(renders, 5);
}

}  // namespace
}  // namespace pioneer::engine
