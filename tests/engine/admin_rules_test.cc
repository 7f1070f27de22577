// The administration rules as pure functions (engine/core/admin_rules.h): no store, no sequencer.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>

#include "engine/core/admin_rules.h"

namespace pioneer::engine {
namespace {

class FakeDirectory : public AdminView {
 public:
  FakeDirectory() {
    for (auto [id, kind] : std::vector<std::pair<std::string, std::string>>{
             {"city", "city"}, {"city/dept", "department"}, {"city/dept/b1", "branch"}, {"city/other", "department"}}) {
      add_org(id, kind);
    }
    add_user({"root.admin", "市管理员", "city/dept", {{"admin", "city"}}});
    add_user({"dept.admin", "部门管理员", "city/dept", {{"admin", "city/dept"}}});
    add_user({"dept.clerk", "部门干部", "city/dept/b1", {{"branch_secretary", "city/dept/b1"}}});
    add_user({"other.clerk", "他部门干部", "city/other", {{"party_group", "city/other"}}});
  }
  void add_org(const std::string& id, const std::string& kind) {
    const size_t slash = id.rfind('/');
    orgs_[id] = Org{id, id, kind, slash == std::string::npos ? "" : id.substr(0, slash)};
  }
  void add_user(UserRecord u) { users_[u.id] = std::move(u); }

  std::optional<Org> find_org(std::string_view id) const override {
    auto it = orgs_.find(std::string(id));
    return it == orgs_.end() ? std::nullopt : std::optional<Org>(it->second);
  }
  bool user_exists(std::string_view id) const override { return users_.count(std::string(id)) > 0; }
  std::optional<UserRecord> find_user(std::string_view id) const override {
    auto it = users_.find(std::string(id));
    return it == users_.end() ? std::nullopt : std::optional<UserRecord>(it->second);
  }
  std::vector<std::string> root_orgs() const override {
    std::vector<std::string> out;
    for (const auto& [id, org] : orgs_) {
      if (org.parent.empty()) out.push_back(id);
    }
    return out;
  }

 private:
  std::map<std::string, Org> orgs_;
  std::map<std::string, UserRecord> users_;
};

Principal principal(const FakeDirectory& dir, const std::string& id) {
  auto u = dir.find_user(id);
  Principal p;
  p.id = u->id;
  p.name = u->name;
  p.home_org = u->home_org;
  p.roles = u->roles;
  return p;
}

template <class T>
std::optional<Code> code_of(const Result<T>& r) {
  if (r) return std::nullopt;
  return r.error().code;
}

struct AdminRulesTest : ::testing::Test {
  FakeDirectory dir;
  RoleCatalog roles = RoleCatalog::defaults();
  AdminEnv env{dir, roles};
  Principal root = principal(dir, "root.admin");
  Principal dept = principal(dir, "dept.admin");
  Principal clerk = principal(dir, "dept.clerk");
};

TEST_F(AdminRulesTest, ASecondRootOrgIsRefused) {
  auto second = decide_put_org(env, PutOrg{{"other", "另一个根", "city", ""}}, Principal::system_principal());
  ASSERT_EQ(code_of(second), Code::kInvalidField);
  EXPECT_EQ(second.error().details()["rule"], "second_root");
  // The one root may be renamed.
  auto renamed = decide_put_org(env, PutOrg{{"city", "市委（新）", "city", ""}}, Principal::system_principal());
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->parent, "");
}

TEST_F(AdminRulesTest, TheAdministratorOfASecondRootIsNoAdministratorOfEverything) {
  dir.add_org("other", "city");  // a database written when two roots were possible
  dir.add_user({"other.admin", "另一根管理员", "other", {{"admin", "other"}}});
  const Principal other = principal(dir, "other.admin");
  EXPECT_FALSE(is_admin_over_all(other, dir));
  EXPECT_FALSE(is_admin_over_all(root, dir));  // two roots: only the system covers both
  auto reg = decide_register_definition(env, RegisterDefinition{Json::object()}, nullptr, other);
  EXPECT_EQ(code_of(reg), Code::kForbidden);
  EXPECT_EQ(code_of(decide_revoke_tokens(env, RevokeTokens{"root.admin"}, other)), Code::kNotFound);
}

TEST_F(AdminRulesTest, ADepartmentAdministratorRevokingTheTokensOfAnAdministratorAboveThemIsRefused) {
  // root.admin's home org lies in the department, but their admin grant covers the city.
  EXPECT_EQ(code_of(decide_revoke_tokens(env, RevokeTokens{"root.admin"}, dept)), Code::kForbidden);
  EXPECT_TRUE(decide_revoke_tokens(env, RevokeTokens{"dept.clerk"}, dept));
  EXPECT_TRUE(decide_revoke_tokens(env, RevokeTokens{"dept.admin"}, root));
}

TEST_F(AdminRulesTest, RevokeTokensAnswersAnUnknownUserAndOneOutOfSightAlike) {
  auto unknown = decide_revoke_tokens(env, RevokeTokens{"no.such.user"}, dept);
  auto unseen = decide_revoke_tokens(env, RevokeTokens{"other.clerk"}, dept);
  ASSERT_EQ(code_of(unknown), Code::kNotFound);
  ASSERT_EQ(code_of(unseen), Code::kNotFound);
  EXPECT_EQ(unknown.error().message, unseen.error().message);
  EXPECT_EQ(unknown.error().details(), unseen.error().details());
  // Not an administrator at all: 403 before anything is looked up.
  EXPECT_EQ(code_of(decide_revoke_tokens(env, RevokeTokens{"no.such.user"}, clerk)), Code::kForbidden);
}

TEST_F(AdminRulesTest, ADepartmentAdministratorGrantingAdminAboveTheirOrgIsRefused) {
  auto up = decide_put_user(env, PutUser{"dept.clerk", "部门干部", "city/dept/b1", {{"admin", "city"}}}, dept);
  EXPECT_EQ(code_of(up), Code::kForbidden);
  auto sideways = decide_put_user(env, PutUser{"new.one", "新人", "city/dept", {{"admin", "city/other"}}}, dept);
  EXPECT_EQ(code_of(sideways), Code::kForbidden);
  auto own = decide_put_user(env, PutUser{"new.one", "新人", "city/dept/b1", {{"admin", "city/dept"}}}, dept);
  EXPECT_TRUE(own);
}

TEST_F(AdminRulesTest, ADepartmentAdministratorReplacingAnAdministratorAboveThemIsRefused) {
  // Taking the city-wide grant away from root.admin (whose home org is in the department).
  auto demoted = decide_put_user(env, PutUser{"root.admin", "市管理员", "city/dept", {}}, dept);
  EXPECT_EQ(code_of(demoted), Code::kForbidden);
  // Moving someone out of the department into another.
  auto moved = decide_put_user(env, PutUser{"dept.clerk", "部门干部", "city/other", {}}, dept);
  EXPECT_EQ(code_of(moved), Code::kForbidden);
}

TEST_F(AdminRulesTest, AnOrgOutOfReachIsRefusedAlikeWhetherItExistsOrNot) {
  auto existing = decide_put_user(env, PutUser{"x", "某人", "city/other", {}}, dept);
  auto missing = decide_put_user(env, PutUser{"x", "某人", "city/nowhere", {}}, dept);
  ASSERT_EQ(code_of(existing), Code::kForbidden);
  ASSERT_EQ(code_of(missing), Code::kForbidden);
  EXPECT_EQ(existing.error().message, missing.error().message);
  auto org_a = decide_put_org(env, PutOrg{{"city/other/b9", "支部", "branch", ""}}, dept);
  auto org_b = decide_put_org(env, PutOrg{{"city/nowhere/b9", "支部", "nonsense-kind", ""}}, dept);
  ASSERT_EQ(code_of(org_a), Code::kForbidden);
  ASSERT_EQ(code_of(org_b), Code::kForbidden);
  EXPECT_EQ(org_a.error().message, org_b.error().message);
  // Within reach, a missing org is named.
  EXPECT_EQ(code_of(decide_put_user(env, PutUser{"x", "某人", "city/dept/b9", {}}, dept)), Code::kInvalidField);
}

TEST_F(AdminRulesTest, ADepartmentAdministratorManagesItsOwnSubtree) {
  auto org = decide_put_org(env, PutOrg{{"city/dept/b2", "第二支部", "branch", ""}}, dept);
  ASSERT_TRUE(org) << org.error().message;
  EXPECT_EQ(org->parent, "city/dept");
  auto user = decide_put_user(env, PutUser{"dept.new", "新干部", "city/dept/b1",
                                           {{"branch_secretary", "city/dept/b1"}, {"branch_secretary", "city/dept/b1"}}},
                              dept);
  ASSERT_TRUE(user);
  EXPECT_EQ(user->roles.size(), 1u);  // a grant named twice is held once
  EXPECT_TRUE(decide_issue_token(env, IssueToken{"dept.clerk", std::string(64, 'a'), 0}, dept));
  EXPECT_EQ(code_of(decide_issue_token(env, IssueToken{"root.admin", std::string(64, 'a'), 0}, dept)), Code::kForbidden);
  // Definitions belong to the whole tree.
  EXPECT_EQ(code_of(decide_register_definition(env, RegisterDefinition{Json::object()}, nullptr, dept)), Code::kForbidden);
}

TEST_F(AdminRulesTest, NobodyButAnAdministratorChangesTheDirectory) {
  EXPECT_EQ(code_of(decide_put_org(env, PutOrg{{"city/dept/b2", "支部", "branch", ""}}, clerk)), Code::kForbidden);
  EXPECT_EQ(code_of(decide_put_user(env, PutUser{"dept.clerk", "改名", "city/dept/b1", {}}, clerk)), Code::kForbidden);
  EXPECT_EQ(code_of(decide_issue_token(env, IssueToken{"dept.clerk", std::string(64, 'a'), 0}, clerk)), Code::kForbidden);
}

TEST_F(AdminRulesTest, TheSystemUserIdIsReserved) {
  auto r = decide_put_user(env, PutUser{"system", "冒名", "city", {}}, Principal::system_principal());
  EXPECT_EQ(code_of(r), Code::kInvalidField);
}

TEST_F(AdminRulesTest, PatchingAPersonOutOfSightIsAnsweredLikeAnUnknownOne) {
  const Principal other_admin = [&] {
    dir.add_user({"other.admin", "他部门管理员", "city/other", {{"admin", "city/other"}}});
    return principal(dir, "other.admin");
  }();
  auto unseen = decide_patch_user(env, PatchUser{"dept.clerk", "改名", std::nullopt, std::nullopt, std::nullopt}, other_admin);
  auto unknown = decide_patch_user(env, PatchUser{"no.such.user", "改名", std::nullopt, std::nullopt, std::nullopt}, other_admin);
  ASSERT_EQ(code_of(unseen), Code::kNotFound);
  ASSERT_EQ(code_of(unknown), Code::kNotFound);
  EXPECT_EQ(unseen.error().message, unknown.error().message);
}

TEST_F(AdminRulesTest, APatchKeepsWhatItDoesNotNameAndNobodyDisablesThemselves) {
  auto renamed = decide_patch_user(env, PatchUser{"dept.clerk", "新名字", std::nullopt, std::nullopt, std::nullopt}, dept);
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->name, "新名字");
  EXPECT_EQ(renamed->home_org, "city/dept/b1");
  EXPECT_EQ(renamed->roles, (std::vector<RoleGrant>{{"branch_secretary", "city/dept/b1"}}));
  EXPECT_FALSE(renamed->disabled);
  auto disabled = decide_patch_user(env, PatchUser{"dept.clerk", std::nullopt, std::nullopt, std::nullopt, true}, dept);
  ASSERT_TRUE(disabled);
  EXPECT_TRUE(disabled->disabled);
  EXPECT_EQ(code_of(decide_patch_user(env, PatchUser{"dept.admin", std::nullopt, std::nullopt, std::nullopt, true}, dept)),
            Code::kInvalidField);
  // A department's administrator disabling the city's, whose home org is in the department.
  EXPECT_EQ(code_of(decide_patch_user(env, PatchUser{"root.admin", std::nullopt, std::nullopt, std::nullopt, true}, dept)),
            Code::kForbidden);
  // Granting oneself more through a patch.
  EXPECT_EQ(code_of(decide_patch_user(env, PatchUser{"dept.admin", std::nullopt, std::nullopt,
                                                     std::vector<RoleGrant>{{"admin", "city"}}, std::nullopt}, dept)),
            Code::kForbidden);
}

TEST_F(AdminRulesTest, RenamingAnOrgNeedsItInReachAndOutOfSightIsUnknown) {
  EXPECT_TRUE(decide_rename_org(env, RenameOrg{"city/dept/b1", "新支部名"}, dept));
  EXPECT_EQ(code_of(decide_rename_org(env, RenameOrg{"city", "新市委"}, dept)), Code::kForbidden);  // seen, not reached
  auto unseen = decide_rename_org(env, RenameOrg{"city/other", "改名"}, dept);
  auto unknown = decide_rename_org(env, RenameOrg{"city/nowhere", "改名"}, dept);
  ASSERT_EQ(code_of(unseen), Code::kNotFound);
  ASSERT_EQ(code_of(unknown), Code::kNotFound);
  EXPECT_EQ(unseen.error().message, unknown.error().message);
  EXPECT_EQ(code_of(decide_rename_org(env, RenameOrg{"city/dept", ""}, dept)), Code::kMissingFields);
}

TEST_F(AdminRulesTest, CreatingWhatExistsIsRefusedOnlyWhenAskedToCreate) {
  EXPECT_EQ(code_of(decide_put_org(env, PutOrg{{"city/dept/b1", "支部", "branch", ""}, true}, dept)), Code::kInvalidField);
  EXPECT_TRUE(decide_put_org(env, PutOrg{{"city/dept/b1", "支部", "branch", ""}, false}, dept));
  PutUser again{"dept.clerk", "部门干部", "city/dept/b1", {}, true, std::nullopt};
  EXPECT_EQ(code_of(decide_put_user(env, again, dept)), Code::kInvalidField);
}

TEST_F(AdminRulesTest, APasswordIsSetByItsOwnerOrAnAdministratorReachingThem) {
  const std::string hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
  EXPECT_TRUE(decide_set_password(env, SetPassword{"dept.clerk", hash, true}, clerk));
  // Not through the administrators' route: that would skip the old password.
  EXPECT_EQ(code_of(decide_set_password(env, SetPassword{"dept.clerk", hash, false}, clerk)), Code::kForbidden);
  EXPECT_EQ(code_of(decide_set_password(env, SetPassword{"dept.admin", hash, true}, clerk)), Code::kForbidden);
  EXPECT_TRUE(decide_set_password(env, SetPassword{"dept.clerk", hash}, dept));
  EXPECT_EQ(code_of(decide_set_password(env, SetPassword{"dept.admin", hash}, clerk)), Code::kForbidden);
  EXPECT_EQ(code_of(decide_set_password(env, SetPassword{"root.admin", hash}, dept)), Code::kForbidden);
  EXPECT_EQ(code_of(decide_set_password(env, SetPassword{"other.clerk", hash}, dept)), Code::kNotFound);
  EXPECT_EQ(code_of(decide_set_password(env, SetPassword{"dept.clerk", "plain text"}, dept)), Code::kBadRequest);
}

TEST_F(AdminRulesTest, DirectoryEventsAreForAdministratorsOverTheirOrgs) {
  Event e;
  e.type = std::string(kDirectoryEvent);
  e.org = "city/dept/b1";
  EXPECT_TRUE(may_see_directory_event(dept, e));
  EXPECT_TRUE(may_see_directory_event(root, e));
  EXPECT_FALSE(may_see_directory_event(clerk, e));  // a role there, but no admin grant
  e.org = "city/other";
  EXPECT_FALSE(may_see_directory_event(dept, e));
  e.assignee_org = "city/dept";  // moved out of the department: its administrator sees that
  EXPECT_TRUE(may_see_directory_event(dept, e));
}

}  // namespace
}  // namespace pioneer::engine
