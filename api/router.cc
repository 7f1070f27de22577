#include "api/router.h"

#include <openssl/crypto.h>

#include <iterator>

#include "api/handlers.h"
#include "api/static_files.h"

namespace pioneer::api {

namespace h = handlers;

// One line per route of docs/api.md. Keep api/openapi.json in step with this table.
static const std::vector<Route> kRoutes = {
    {"GET", "/healthz", false, h::healthz, nullptr},
    {"GET", "/metrics", false, h::metrics, nullptr},
    {"GET", "/api/v1/openapi.json", false, h::openapi, nullptr},
    {"GET", "/api/v1/me", true, h::get_me, nullptr},
    {"GET", "/api/v1/orgs", true, h::list_orgs, nullptr},
    {"GET", "/api/v1/workflows", true, h::list_workflows, nullptr},
    {"POST", "/api/v1/workflows", true, nullptr, h::register_workflow},
    {"GET", "/api/v1/workflows/{id}", true, h::get_workflow, nullptr},
    {"GET", "/api/v1/workflows/{id}/graph", true, h::get_workflow_graph, nullptr},
    {"GET", "/api/v1/instances", true, h::list_instances, nullptr},
    {"POST", "/api/v1/instances", true, nullptr, h::create_instance},
    {"GET", "/api/v1/instances/{id}", true, h::get_instance, nullptr},
    {"POST", "/api/v1/instances/{id}/transitions", true, nullptr, h::fire_transition},
    {"POST", "/api/v1/instances/{id}/comments", true, nullptr, h::add_comment},
    {"POST", "/api/v1/instances/{id}/migrate", true, nullptr, h::migrate_instance},
    {"GET", "/api/v1/instances/{id}/events", true, h::instance_events, nullptr},
    {"GET", "/api/v1/tasks", true, h::list_tasks, nullptr},
    {"GET", "/api/v1/events", true, h::list_events, nullptr},
    {"GET", "/api/v1/stats", true, h::get_stats, nullptr},
    {"POST", "/api/v1/users/{id}/revoke-tokens", true, nullptr, h::revoke_tokens},
    {"POST", "/api/v1/users/{id}/password", true, nullptr, h::set_user_password},
    {"GET", "/api/v1/users", true, h::list_users, nullptr},
    {"POST", "/api/v1/users", true, nullptr, h::create_user},
    {"PATCH", "/api/v1/users/{id}", true, nullptr, h::update_user},
    {"POST", "/api/v1/orgs", true, nullptr, h::create_org},
    {"PATCH", "/api/v1/orgs/{path}", true, nullptr, h::rename_org},
    {"POST", "/api/v1/auth/login", false, nullptr, h::login},
    {"POST", "/api/v1/auth/logout", true, nullptr, h::logout},
    {"POST", "/api/v1/me/password", true, nullptr, h::change_my_password},
    {"GET", kStreamRoute, true, h::stream_without_upgrade, nullptr},
};

const std::vector<Route>& Router::routes() const { return kRoutes; }

bool match_pattern(std::string_view pattern, std::string_view path,
                   std::vector<std::string>& params) {
  params.clear();
  // The parameters' segments, decoded only once the whole path matched. No route has more than
  // four (units_test.cc, Router.NoRouteHasMoreParametersThanMatchPatternHolds).
  std::string_view segments[kMaxRouteParams];
  size_t count = 0;
  while (true) {
    if (pattern.empty() || path.empty()) {
      if (!pattern.empty() || !path.empty()) return false;
      for (size_t i = 0; i < count; ++i) params.push_back(percent_decode(segments[i], false));
      return true;
    }
    if (pattern.front() != '/' || path.front() != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    size_t ps = pattern.find('/'), qs = path.find('/');
    std::string_view pseg = pattern.substr(0, ps), seg = path.substr(0, qs);
    if (pseg.size() >= 2 && pseg.front() == '{' && pseg.back() == '}') {
      if (seg.empty() || count == std::size(segments)) return false;
      segments[count++] = seg;
    } else if (pseg != seg) {
      return false;
    }
    pattern = ps == std::string_view::npos ? std::string_view{} : pattern.substr(ps);
    path = qs == std::string_view::npos ? std::string_view{} : path.substr(qs);
  }
}

namespace {

// Equal bytes, in a time that does not depend on where they differ.
bool same_bytes(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

Result<std::shared_ptr<const engine::Principal>> Router::authenticate(const Request& request,
                                                                      AuthMemo* memo) const {
  if (memo && memo->principal && same_bytes(memo->authorization, request.authorization) &&
      same_bytes(memo->session_cookie, request.session_cookie) &&
      state_->engine.still_authenticated(memo->credential)) {
    state_->metrics.authentication_reused();
    return memo->principal;
  }
  engine::Engine::Credential credential;
  auto who = handlers::authenticate(*state_, request, /*allow_query_token=*/false, &credential);
  if (!who) {
    if (memo) *memo = AuthMemo{};
    return fail(who.error());
  }
  auto principal = std::make_shared<const engine::Principal>(std::move(*who));
  if (memo) *memo = AuthMemo{request.authorization, request.session_cookie, std::move(credential), principal};
  return principal;
}

void Router::dispatch(Request request, Respond respond, AuthMemo* memo) const {
  const Route* found = nullptr;
  std::vector<std::string> params;
  for (const Route& route : kRoutes) {
    if (route.method == request.method && match_pattern(route.pattern, request.path, params)) {
      found = &route;
      break;
    }
  }
  if (!found) {
    // Which methods the path has, if any: 405 with Allow, else 404.
    std::string allow;
    for (const Route& route : kRoutes) {
      if (!match_pattern(route.pattern, request.path, params)) continue;
      if (!allow.empty()) allow += ", ";
      allow += route.method;
    }
    if (allow.empty()) {
      if (auto console = static_response(request)) return respond(std::move(*console));
    }
    Response res;
    if (allow.empty()) {
      res = error_response(Error::make(Code::kNotFound, "未找到（not found）"));
      res.route = "(unmatched)";
    } else {
      res = error_response(
          Error::make(Code::kBadRequest, "该路径不支持此方法（method not allowed on this path）",
                      Json{{"allow", allow}}),
          405);
      res.headers.emplace_back("Allow", allow);
      res.route = "(method not allowed)";
    }
    return respond(std::move(res));
  }
  request.params = std::move(params);
  request.route = std::string(found->pattern);

  if (found->auth) {
    auto who = authenticate(request, memo);
    if (!who) {
      Response res = error_response(who.error());
      res.route = request.route;
      return respond(std::move(res));
    }
    if (auto refused = handlers::check_origin(*state_, request)) {
      Response res = error_response(*refused);
      res.route = request.route;
      return respond(std::move(res));
    }
    request.principal = std::move(*who);
  }
  std::string route = request.route;
  std::string user = request.principal ? request.principal->id : "";
  if (found->sync) {
    Response res = found->sync(*state_, request);
    res.route = std::move(route);
    res.user = std::move(user);
    return respond(std::move(res));
  }
  found->async(*state_, request,
               [respond = std::move(respond), route = std::move(route),
                user = std::move(user)](Response res) mutable {
                 res.route = std::move(route);
                 res.user = std::move(user);
                 respond(std::move(res));
               });
}

}  // namespace pioneer::api
