// RoleCatalog: the roles and org kinds this server knows (config/roles.json).
#include <fstream>
#include <iterator>
#include <set>

#include "common/input.h"
#include "engine/core/definition.h"

namespace pioneer::engine {
namespace {

std::string both(std::string_view zh, std::string_view en) {
  return std::string(zh) + "（" + std::string(en) + "）";
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64 || !(id[0] >= 'a' && id[0] <= 'z')) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// Parses one list ("roles" or "org_kinds"), appending each problem as {"path", "message"}.
std::vector<RoleCatalog::Entry> parse_entries(const Json& root, const std::string& key,
                                              Json& problems) {
  std::vector<RoleCatalog::Entry> entries;
  const std::string base = "/" + key;
  auto problem = [&](std::string path, std::string message) {
    problems.push_back({{"path", std::move(path)}, {"message", std::move(message)}});
  };
  if (!root.contains(key)) {
    problem(base, both("缺少必填键 '" + key + "'", "missing required key '" + key + "'"));
    return entries;
  }
  const Json& list = root.at(key);
  if (!list.is_array()) {
    problem(base, both("应为数组", "expected an array"));
    return entries;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = base + "/" + std::to_string(i);
    const Json& item = list[i];
    if (!item.is_object()) {
      problem(path, both("应为对象", "expected an object"));
      continue;
    }
    for (const auto& [k, v] : item.items()) {
      if (k != "id" && k != "label") {
        problem(path + "/" + k, both("未知键 '" + k + "'", "unknown key '" + k + "'"));
      }
    }
    RoleCatalog::Entry entry;
    if (!item.contains("id") || !item["id"].is_string() || !valid_id(item["id"].get<std::string>())) {
      problem(path + "/id", both("id 应为小写标识符（如 party_group）",
                                 "id must be a lower-case identifier such as party_group"));
      continue;
    }
    entry.id = item["id"].get<std::string>();
    if (!seen.insert(entry.id).second) {
      problem(path + "/id", both("重复的 id '" + entry.id + "'", "duplicate id '" + entry.id + "'"));
    }
    const Json* label = item.contains("label") ? &item["label"] : nullptr;
    if (label == nullptr || !label->is_object() || !label->contains("zh") ||
        !(*label)["zh"].is_string() || (*label)["zh"].get<std::string>().empty()) {
      problem(path + "/label/zh", both("标签缺少中文 'zh'", "label is missing 'zh'"));
    } else {
      entry.label.zh = (*label)["zh"].get<std::string>();
      if (label->contains("en") && (*label)["en"].is_string()) {
        entry.label.en = (*label)["en"].get<std::string>();
      } else if (label->contains("en")) {
        problem(path + "/label/en", both("'en' 应为字符串", "'en' must be a string"));
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace

bool RoleCatalog::has_role(std::string_view id) const { return role(id) != nullptr; }

bool RoleCatalog::has_org_kind(std::string_view id) const {
  for (const Entry& e : org_kinds) {
    if (e.id == id) return true;
  }
  return false;
}

const RoleCatalog::Entry* RoleCatalog::role(std::string_view id) const {
  for (const Entry& e : roles) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

Result<RoleCatalog> RoleCatalog::from_json(const Json& json) {
  Json problems = Json::array();
  RoleCatalog catalog;
  if (!json.is_object()) {
    problems.push_back({{"path", ""}, {"message", both("角色配置应为 JSON 对象",
                                                       "roles configuration must be a JSON object")}});
  } else {
    for (const auto& [k, v] : json.items()) {
      if (k != "roles" && k != "org_kinds") {
        problems.push_back({{"path", "/" + k},
                            {"message", both("未知键 '" + k + "'", "unknown key '" + k + "'")}});
      }
    }
    catalog.roles = parse_entries(json, "roles", problems);
    catalog.org_kinds = parse_entries(json, "org_kinds", problems);
  }
  if (!problems.empty()) {
    const std::string n = std::to_string(problems.size());
    return fail(Code::kInvalidDefinition,
                both("角色配置有 " + n + " 处问题", "roles configuration has " + n + " problems"),
                Json{{"problems", std::move(problems)}});
  }
  return catalog;
}

Result<RoleCatalog> RoleCatalog::load_file(const std::string& path) {
  std::optional<std::string> text = read_file(path);
  if (!text) {
    return fail(Code::kNotFound, both("无法读取角色配置 '" + path + "'",
                                      "cannot read roles configuration '" + path + "'"));
  }
  Json json = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return fail(Code::kInvalidJson, both("角色配置 '" + path + "' 不是合法的 JSON",
                                         "roles configuration '" + path + "' is not valid JSON"));
  }
  return from_json(json);
}

// Keep in step with config/roles.json: a test checks that the two are equal.
RoleCatalog RoleCatalog::defaults() {
  RoleCatalog c;
  c.roles = {
      {"party_group", {"部门党组（党委）", "Department party group"}},
      {"organ_committee", {"机关党委", "Organ party committee"}},
      {"branch_secretary", {"党支部书记", "Branch secretary"}},
      {"branch_member", {"党员", "Party member"}},
      {"inspection_office", {"市委巡察办", "Inspection office"}},
      {"work_committee", {"市委市级机关工委", "Municipal organs working committee"}},
      {"admin", {"系统管理员", "Administrator"}},
  };
  c.org_kinds = {
      {"city", {"市委", "City"}},
      {"work_committee", {"机关工委", "Working committee"}},
      {"inspection_office", {"巡察办", "Inspection office"}},
      {"department", {"部门", "Department"}},
      {"branch", {"党支部", "Party branch"}},
  };
  return c;
}

}  // namespace pioneer::engine
