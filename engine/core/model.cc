#include "engine/core/model.h"

namespace pioneer::engine {

bool org_covers(std::string_view ancestor, std::string_view unit) {
  if (ancestor.empty() || unit.size() < ancestor.size()) return false;
  if (unit.substr(0, ancestor.size()) != ancestor) return false;
  return unit.size() == ancestor.size() || unit[ancestor.size()] == '/';
}

bool Principal::has_role_covering(std::string_view role, std::string_view org) const {
  if (org.empty()) return false;
  for (const RoleGrant& grant : roles) {
    if (grant.role == role && org_covers(grant.org, org)) return true;
  }
  return false;
}

bool Principal::can_see(std::string_view org, std::string_view assignee_org) const {
  if (system) return true;
  for (const RoleGrant& grant : roles) {
    if (org_covers(grant.org, org)) return true;
    if (!assignee_org.empty() && org_covers(grant.org, assignee_org)) return true;
  }
  return false;
}

Principal Principal::system_principal() {
  Principal p;
  p.id = "system";
  p.name = "系统 (system)";
  p.system = true;
  return p;
}

}  // namespace pioneer::engine
