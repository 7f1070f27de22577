#include "engine/core/admin_rules.h"

#include <algorithm>

#include "common/input.h"

namespace pioneer::engine {

namespace {

Error no_such_user() { return Error::make(Code::kNotFound, "用户不存在（no such user）"); }

Error out_of_reach_user() {
  return Error::make(Code::kForbidden,
                     "只能管理所辖单位的人员（you may administer the people of the units you administer only）");
}

Error out_of_reach_org(std::string_view field) {
  return Error::make(Code::kForbidden, "只能管理所辖单位（you may administer the units you administer only）",
                     Json{{"field", std::string(field)}});
}

}  // namespace

bool is_admin(const Principal& who) {
  return who.system || std::any_of(who.roles.begin(), who.roles.end(), [](const RoleGrant& g) { return g.role == "admin"; });
}

bool is_admin_over_all(const Principal& who, const AdminView& dir) {
  if (who.system) return true;
  const std::vector<std::string> roots = dir.root_orgs();
  // With more than one root (a database written before roots were limited to one) nobody
  // covers the whole tree but the system.
  return roots.size() == 1 && who.has_role_covering("admin", roots.front());
}

bool admin_reaches_org(const Principal& who, std::string_view org) {
  return who.system || who.has_role_covering("admin", org);
}

bool admin_reaches_user(const Principal& who, const UserRecord& user) {
  if (who.system) return true;
  if (!admin_reaches_org(who, user.home_org)) return false;
  return std::all_of(user.roles.begin(), user.roles.end(),
                     [&](const RoleGrant& g) { return admin_reaches_org(who, g.org); });
}

bool may_see_user(const Principal& who, const UserRecord& user) {
  if (who.system) return true;
  if (who.can_see(user.home_org, "")) return true;
  return std::any_of(user.roles.begin(), user.roles.end(), [&](const RoleGrant& g) { return who.can_see(g.org, ""); });
}

bool valid_org_id(std::string_view id) {
  if (id.empty() || id.size() > 200 || id.front() == '/' || id.back() == '/') return false;
  char prev = '/';
  for (char c : id) {
    if (c == '/' && prev == '/') return false;
    if (!(c == '/' || c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    prev = c;
  }
  return true;
}

bool valid_user_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return c == '.' || c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

Error forbidden_admin() {
  return Error::make(Code::kForbidden, "只有系统管理员可以执行此操作（only an administrator may do this）");
}

Result<Org> decide_put_org(const AdminEnv& env, const PutOrg& cmd, const Principal& who) {
  if (!is_admin(who)) return fail(forbidden_admin());
  Org org = cmd.org;
  if (!valid_org_id(org.id)) {
    return fail(Code::kInvalidField, "组织编号只能由小写字母、数字、-、_ 和 / 组成（org ids are paths of a-z 0-9 - _）",
                Json{{"field", "id"}});
  }
  if (!admin_reaches_org(who, org.id)) return fail(out_of_reach_org("id"));
  if (cmd.create_only && env.dir.find_org(org.id)) {
    return fail(Code::kInvalidField, "组织 '" + org.id + "' 已存在（the org exists already）",
                Json{{"field", "path"}, {"rule", "exists"}});
  }
  const size_t slash = org.id.rfind('/');
  org.parent = slash == std::string::npos ? "" : org.id.substr(0, slash);
  if (org.parent.empty()) {
    for (const std::string& root : env.dir.root_orgs()) {
      if (root != org.id) {
        return fail(Code::kInvalidField,
                    "组织树只有一个根，已有根组织 '" + root + "'（the org tree has one root, '" + root + "' already）",
                    Json{{"field", "id"}, {"rule", "second_root"}});
      }
    }
  } else if (!env.dir.find_org(org.parent)) {
    return fail(Code::kInvalidField, "上级组织 '" + org.parent + "' 不存在（parent org '" + org.parent + "' does not exist）",
                Json{{"field", "parent"}});
  }
  if (!env.roles.has_org_kind(org.kind)) {
    return fail(Code::kInvalidField, "未知的组织类型 '" + org.kind + "'（unknown org kind）", Json{{"field", "kind"}});
  }
  if (org.name.empty()) return fail(Code::kMissingFields, "组织名称不能为空（org name is required）", Json{{"missing", {"name"}}});
  if (auto problem = display_name_problem(org.name)) return fail(Code::kInvalidField, "组织" + *problem, Json{{"field", "name"}});
  return org;
}

namespace {

// The person as stored now may be replaced by `who`: absent, or visible and in reach.
std::optional<Error> check_existing_user(const AdminEnv& env, std::string_view id, const Principal& who) {
  auto existing = env.dir.find_user(id);
  if (!existing) return std::nullopt;
  // A person out of sight is refused as one out of reach: the same answer either way.
  if (!admin_reaches_user(who, *existing)) return out_of_reach_user();
  return std::nullopt;
}

// The new record's id and name.
std::optional<Error> check_user_form(const PutUser& cmd) {
  if (!valid_user_id(cmd.id)) {
    return Error::make(Code::kInvalidField, "用户编号只能由小写字母、数字、.、-、_ 组成（user ids use a-z 0-9 . - _）",
                       Json{{"field", "id"}});
  }
  if (cmd.id == Principal::system_principal().id) {
    // The actor of timer events: a person of that id would read as the system in the history.
    return Error::make(Code::kInvalidField, "用户编号 system 为系统保留（the user id system is reserved）", Json{{"field", "id"}});
  }
  if (cmd.name.empty()) return Error::make(Code::kMissingFields, "用户姓名不能为空（user name is required）", Json{{"missing", {"name"}}});
  if (auto problem = display_name_problem(cmd.name)) return Error::make(Code::kInvalidField, "用户" + *problem, Json{{"field", "name"}});
  return std::nullopt;
}

}  // namespace

Result<UserRecord> decide_put_user(const AdminEnv& env, const PutUser& cmd, const Principal& who) {
  if (!is_admin(who)) return fail(forbidden_admin());
  if (auto refused = check_existing_user(env, cmd.id, who)) return fail(std::move(*refused));
  if (auto refused = check_user_form(cmd)) return fail(std::move(*refused));
  const auto existing = env.dir.find_user(cmd.id);
  if (cmd.create_only && existing) {
    return fail(Code::kInvalidField, "用户 '" + cmd.id + "' 已存在（the user exists already）",
                Json{{"field", "id"}, {"rule", "exists"}});
  }
  // Scope before existence: an org out of reach is refused the same way whether it exists or not.
  if (!admin_reaches_org(who, cmd.home_org)) return fail(out_of_reach_org("home_org"));
  for (const RoleGrant& g : cmd.roles) {
    if (!admin_reaches_org(who, g.org)) return fail(out_of_reach_org("roles"));
  }
  if (!env.dir.find_org(cmd.home_org)) {
    return fail(Code::kInvalidField, "所在组织 '" + cmd.home_org + "' 不存在（home org does not exist）", Json{{"field", "home_org"}});
  }
  UserRecord user{cmd.id, cmd.name, cmd.home_org, {}, existing && existing->disabled};
  for (const RoleGrant& g : cmd.roles) {
    if (!env.roles.has_role(g.role)) {
      return fail(Code::kInvalidField, "未知角色 '" + g.role + "'（unknown role）", Json{{"field", "roles"}});
    }
    if (!env.dir.find_org(g.org)) {
      return fail(Code::kInvalidField, "组织 '" + g.org + "' 不存在（org does not exist）", Json{{"field", "roles"}});
    }
    if (std::find(user.roles.begin(), user.roles.end(), g) == user.roles.end()) user.roles.push_back(g);
  }
  return user;
}

bool may_see_org(const Principal& who, std::string_view org) {
  // As GET /api/v1/orgs lists them: what a role covers, and the tree above one's roles and home.
  if (who.can_see(org, "")) return true;
  if (!who.home_org.empty() && org_covers(org, who.home_org)) return true;
  return std::any_of(who.roles.begin(), who.roles.end(), [&](const RoleGrant& g) { return org_covers(org, g.org); });
}

bool may_see_directory_event(const Principal& who, const Event& event) {
  if (who.system) return true;
  return admin_reaches_org(who, event.org) || (!event.assignee_org.empty() && admin_reaches_org(who, event.assignee_org));
}

Result<UserRecord> decide_patch_user(const AdminEnv& env, const PatchUser& cmd, const Principal& who) {
  if (!is_admin(who)) return fail(forbidden_admin());
  auto existing = env.dir.find_user(cmd.id);
  if (!existing || !may_see_user(who, *existing)) return fail(no_such_user());
  if (cmd.disabled && *cmd.disabled && !who.system && who.id == cmd.id) {
    return fail(Code::kInvalidField, "不能停用自己（you cannot disable yourself）", Json{{"field", "disabled"}});
  }
  PutUser put{cmd.id, cmd.name.value_or(existing->name), cmd.home_org.value_or(existing->home_org),
              cmd.roles.value_or(existing->roles), false, std::nullopt};
  auto user = decide_put_user(env, put, who);
  if (!user) return fail(user.error());
  if (cmd.disabled) user->disabled = *cmd.disabled;
  return user;
}

Result<Org> decide_rename_org(const AdminEnv& env, const RenameOrg& cmd, const Principal& who) {
  if (!is_admin(who)) return fail(forbidden_admin());
  auto org = env.dir.find_org(cmd.id);
  if (!org || !may_see_org(who, cmd.id)) {
    return fail(Code::kNotFound, "组织不存在（no such org）");
  }
  if (!admin_reaches_org(who, cmd.id)) return fail(out_of_reach_org("path"));
  if (cmd.name.empty()) return fail(Code::kMissingFields, "组织名称不能为空（org name is required）", Json{{"missing", {"name"}}});
  if (auto problem = display_name_problem(cmd.name)) return fail(Code::kInvalidField, "组织" + *problem, Json{{"field", "name"}});
  org->name = cmd.name;
  return *org;
}

Result<void> decide_revoke_tokens(const AdminEnv& env, const RevokeTokens& cmd, const Principal& who) {
  if (!is_admin(who)) return fail(forbidden_admin());
  auto user = env.dir.find_user(cmd.user_id);
  if (!user || !may_see_user(who, *user)) return fail(no_such_user());
  if (!admin_reaches_user(who, *user)) return fail(out_of_reach_user());
  return {};
}

Result<void> decide_issue_token(const AdminEnv& env, const IssueToken& cmd, const Principal& who) {
  if (!is_admin(who)) return fail(forbidden_admin());
  auto user = env.dir.find_user(cmd.user_id);
  if (!user || !may_see_user(who, *user)) return fail(no_such_user());
  if (!admin_reaches_user(who, *user)) return fail(out_of_reach_user());
  if (cmd.token_hash.size() != 64) return fail(Code::kBadRequest, "令牌摘要格式错误（bad token hash）");
  return {};
}

Result<void> decide_open_session(const AdminEnv& env, const OpenSession& cmd, const Principal& who) {
  if (!who.system && who.id != cmd.user_id) return fail(forbidden_admin());
  auto user = env.dir.find_user(cmd.user_id);
  if (!user || user->disabled) return fail(no_such_user());
  if (cmd.token_hash.size() != 64) return fail(Code::kBadRequest, "令牌摘要格式错误（bad token hash）");
  return {};
}

Result<void> decide_set_password(const AdminEnv& env, const SetPassword& cmd, const Principal& who) {
  if (cmd.password_hash.rfind("$argon2id$", 0) != 0) {
    return fail(Code::kBadRequest, "密码摘要格式错误（bad password hash）");
  }
  if (cmd.own) {
    if (who.system || who.id != cmd.user_id) return fail(forbidden_admin());
    if (!env.dir.user_exists(cmd.user_id)) return fail(no_such_user());
    return {};
  }
  if (!is_admin(who)) return fail(forbidden_admin());
  auto user = env.dir.find_user(cmd.user_id);
  if (!user || !may_see_user(who, *user)) return fail(no_such_user());
  if (!admin_reaches_user(who, *user)) return fail(out_of_reach_user());
  return {};
}

Result<Registration> decide_register_definition(const AdminEnv& env, const RegisterDefinition& cmd,
                                                const DefinitionPtr& latest, const Principal& who) {
  if (!is_admin(who)) return fail(forbidden_admin());
  if (!is_admin_over_all(who, env.dir)) {
    return fail(Code::kForbidden, "只有全市系统管理员可以执行此操作（only an administrator of the whole org tree may do this）");
  }
  auto parsed = parse_definition(cmd.definition, env.roles);
  if (!parsed) return fail(parsed.error());
  if (latest) {
    Json a = latest->source, b = parsed->source;
    a.erase("version");
    b.erase("version");
    if (a == b) return Registration{latest, false};
  }
  Definition def = std::move(*parsed);
  def.version = latest ? latest->version + 1 : 1;
  def.source["version"] = def.version;
  return Registration{std::make_shared<const Definition>(std::move(def)), true};
}

}  // namespace pioneer::engine
