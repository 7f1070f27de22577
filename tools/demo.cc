#include "tools/demo.h"

#include <filesystem>
#include <fstream>

#include "common/crypto.h"
#include "engine/engine.h"

namespace pioneer::engine {
namespace {

struct DemoUser {
  const char* id;
  const char* name;
  const char* home;
  std::vector<RoleGrant> roles;
};

}  // namespace

Result<bool> seed_demo(Engine& engine, const std::string& tokens_path) {
  if (!engine.orgs().empty()) return false;
  const std::vector<Org> orgs = {
      {"city", "市委", "city", ""},
      {"city/work-committee", "市委市级机关工委", "work_committee", "city"},
      {"city/inspection", "市委巡察办", "inspection_office", "city"},
      {"city/finance", "市财政局", "department", "city"},
      {"city/finance/b1", "市财政局第一党支部", "branch", "city/finance"},
      {"city/finance/b2", "市财政局第二党支部", "branch", "city/finance"},
      {"city/education", "市教育局", "department", "city"},
      {"city/education/b1", "市教育局第一党支部", "branch", "city/education"},
  };
  const std::vector<DemoUser> users = {
      {"admin", "系统管理员", "city", {{"admin", "city"}}},
      {"wang.wei", "王伟", "city/finance", {{"party_group", "city/finance"}}},
      {"li.na", "李娜", "city/finance", {{"organ_committee", "city/finance"}}},
      {"zhang.min", "张敏", "city/finance/b1", {{"branch_secretary", "city/finance/b1"}}},
      {"zheng.xin", "郑欣", "city/finance/b1", {{"branch_member", "city/finance/b1"}}},
      {"liu.yang", "刘洋", "city/finance/b2", {{"branch_secretary", "city/finance/b2"}}},
      {"chen.jie", "陈杰", "city/education", {{"party_group", "city/education"}}},
      {"zhao.lei", "赵磊", "city/education", {{"organ_committee", "city/education"}}},
      {"sun.li", "孙丽", "city/education/b1", {{"branch_secretary", "city/education/b1"}}},
      {"zhou.hua", "周华", "city/inspection", {{"inspection_office", "city"}}},
      {"wu.gang", "吴刚", "city/work-committee", {{"work_committee", "city"}}},
  };
  const Principal system = Principal::system_principal();
  for (const Org& org : orgs) {
    auto r = engine.execute(Command{PutOrg{org}, system, {}, {}});
    if (!r) return fail(r.error());
  }
  Json out = Json::array();
  for (const DemoUser& u : users) {
    auto r = engine.execute(Command{PutUser{u.id, u.name, u.home, u.roles}, system, {}, {}});
    if (!r) return fail(r.error());
    const std::string token = new_token();
    auto t = engine.execute(Command{IssueToken{u.id, sha256_hex(token), 0}, system, {}, {}});
    if (!t) return fail(t.error());
    Json roles = Json::array();
    for (const RoleGrant& g : u.roles) roles.push_back({{"role", g.role}, {"org", g.org}});
    out.push_back({{"id", u.id}, {"name", u.name}, {"home_org", u.home}, {"roles", roles}, {"token", token}});
  }
  // Written next to the database, readable only by its owner: these are live credentials.
  std::ofstream file(tokens_path, std::ios::trunc);
  if (!file) return fail(Code::kInternal, "无法写入 " + tokens_path + "（cannot write the demo tokens file）");
  // Owner only before a byte is written (the file is created with the umask's mode).
  std::error_code ec;
  std::filesystem::permissions(tokens_path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace, ec);
  if (ec) return fail(Code::kInternal, "无法设置 " + tokens_path + " 的权限（cannot make the demo tokens file private）");
  file << Json{{"users", out}}.dump(2) << "\n";
  file.close();
  if (!file) return fail(Code::kInternal, "写入 " + tokens_path + " 失败（writing the demo tokens file failed）");
  return true;
}

}  // namespace pioneer::engine
