#include "api/handlers.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <initializer_list>

#include "api/logins.h"
#include "api/router.h"
#include "common/crypto.h"
#include "common/password.h"
#include "engine/core/admin_rules.h"
#include "engine/core/codec.h"

// The OpenAPI document (api/openapi.json), embedded at build time (openapi_doc.cc.in).
namespace pioneer::api {
extern const char kOpenApiDocument[];
extern const size_t kOpenApiDocumentSize;
}  // namespace pioneer::api

namespace pioneer::api::handlers {

namespace {

constexpr size_t kMaxLimit = 1000;

Response ok(int status, const Json& body) { return json_response(status, body); }

Response from(const Result<Json>& result) {
  return result ? json_response(200, *result) : error_response(result.error());
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

const std::string* query(const Request& req, const std::string& key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? nullptr : &it->second;
}

// Cursors the server issues are short; a longer one is refused before the engine decodes it
// (it holds JSON, and a client-made one could nest deeply).
constexpr size_t kMaxCursor = 1024;

Result<std::string> parse_cursor(const Request& req) {
  const std::string* text = query(req, "cursor");
  if (!text) return std::string();
  if (text->size() > kMaxCursor) {
    return fail(Code::kBadRequest, "分页游标无效（invalid cursor）", Json{{"parameter", "cursor"}});
  }
  return *text;
}

// A positive decimal integer without sign or spaces, at most `max`.
std::optional<uint64_t> parse_count(std::string_view text, uint64_t max) {
  uint64_t value = 0;
  if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

// ?overdue=true|false (absent: false).
Result<bool> parse_overdue(const Request& req) {
  const std::string* overdue = query(req, "overdue");
  if (!overdue) return false;
  if (*overdue != "true" && *overdue != "false") {
    return fail(Code::kBadRequest, "overdue 须为 true 或 false（overdue must be true or false）", Json{{"parameter", "overdue"}});
  }
  return *overdue == "true";
}

// ?limit=: absent → fallback; otherwise an integer 1..1000 (docs/api.md), else bad_request.
Result<size_t> parse_limit(const Request& req, size_t fallback) {
  const std::string* text = query(req, "limit");
  if (!text) return fallback;
  auto value = parse_count(*text, kMaxLimit);
  if (!value || *value == 0) {
    return fail(Code::kBadRequest, "limit 须为 1 到 1000 的整数（limit must be an integer from 1 to 1000）",
                Json{{"parameter", "limit"}});
  }
  return static_cast<size_t>(*value);
}

// {"items": [...], "next_cursor": ...}, each item dumped straight into the body: putting the
// items into one Json first copied every instance tree of the page.
Response page_response(const engine::InstancePage& page) {
  Response res;
  res.status = 200;
  std::string& body = res.body;
  body.reserve(page.items.size() * 1024 + 64);
  body.append("{\"items\":[");
  for (size_t i = 0; i < page.items.size(); ++i) {
    if (i > 0) body.push_back(',');
    body.append(page.items[i].dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  for (size_t i = 0; i < page.texts.size(); ++i) {
    if (i > 0 || !page.items.empty()) body.push_back(',');
    body.append(page.texts[i]);
  }
  body.append("],\"next_cursor\":");
  body.append(page.next_cursor ? Json(*page.next_cursor).dump() : "null");
  body.push_back('}');
  return res;
}

// The body as a JSON object whose keys all appear in `allowed`: malformed JSON is
// invalid_json; another JSON type or an unknown key is bad_request naming the keys.
Result<Json> body_object(const Request& req, std::initializer_list<std::string_view> allowed) {
  auto parsed = parse_client_json(req.body);  // depth-guarded, never throws
  if (!parsed) return fail(parsed.error());
  Json body = std::move(*parsed);
  if (!body.is_object()) {
    return fail(Code::kBadRequest, "请求体须为 JSON 对象（request body must be a JSON object）");
  }
  if (allowed.size() == 0) return body;
  std::vector<std::string> unknown;
  for (const auto& item : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      unknown.push_back(item.key());
    }
  }
  if (!unknown.empty()) {
    return fail(Code::kBadRequest, "未知字段：" + join(unknown) + "（unknown keys: " + join(unknown) + "）",
                Json{{"unknown", unknown}});
  }
  return body;
}

Error wrong_type(std::string_view key, std::string_view type_zh, std::string_view type_en) {
  std::string k(key);
  return Error::make(Code::kBadRequest,
                     k + " 须为" + std::string(type_zh) + "（" + k + " must be " + std::string(type_en) + "）",
                     Json{{"field", k}});
}

// A string member; null counts as absent. Absent and required → bad_request.
Result<std::optional<std::string>> string_member(const Json& body, const char* key, bool required) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    if (!required) return std::optional<std::string>{};
    std::string k(key);
    return fail(Code::kBadRequest, "缺少 " + k + "（" + k + " is required）", Json{{"missing", {k}}});
  }
  if (!it->is_string()) return fail(wrong_type(key, "字符串", "a string"));
  return std::optional<std::string>(it->get<std::string>());
}

// An optional integer member; null counts as absent.
Result<std::optional<int64_t>> integer_member(const Json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<int64_t>{};
  // An integer beyond int64 (18446744073709551615) would wrap to a negative one.
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX)) {
    return fail(wrong_type(key, "不超过 9223372036854775807 的整数", "an integer of at most 9223372036854775807"));
  }
  return std::optional<int64_t>(it->get<int64_t>());
}

// The "fields" member: an object, {} when absent or null.
Result<Json> fields_member(const Json& body) {
  auto it = body.find("fields");
  if (it == body.end() || it->is_null()) return Json::object();
  if (!it->is_object()) return fail(wrong_type("fields", "对象", "an object"));
  return *it;
}

// Queues the command; the reply (or refusal) becomes the HTTP answer. `after` (optional) runs
// on the writer thread once the command has committed successfully, before the answer.
void submit(ServerState& state, const Request& req, engine::CommandBody body, Respond respond,
            std::function<void()> after = nullptr) {
  engine::Command command;
  command.body = std::move(body);
  command.principal = *req.principal;
  if (!req.idempotency_key.empty()) {
    command.idempotency_key = req.idempotency_key;
    // The same key with another request must conflict: digest what identifies the request.
    command.request_digest = sha256_hex(req.method + "\n" + req.path + "\n" + req.body);
  }
  // Runs on the writer thread: only builds the response; the session posts it back to its I/O thread.
  state.engine.submit(std::move(command), [respond = std::move(respond),
                                            after = std::move(after)](Result<engine::Reply> reply) {
    if (!reply) return respond(error_response(reply.error()));
    if (after) after();
    Response res = json_response(reply->status, reply->body);
    if (!reply->body_text.empty()) res.body = std::move(reply->body_text);
    if (reply->replayed) res.headers.emplace_back("Idempotent-Replayed", "true");
    respond(std::move(res));
  });
}

}  // namespace

RequestToken request_token(const Request& req, bool allow_query_token) {
  std::string_view token = bearer_token(req.authorization);
  if (token.empty() && allow_query_token) {
    if (const std::string* q = query(req, "access_token")) token = *q;
  }
  if (token.empty() && !req.session_cookie.empty()) return RequestToken{req.session_cookie, true};
  return RequestToken{std::string(token), false};
}

namespace {

bool same_origin(const ServerState& state, const Request& req) {
  if (req.origin.empty()) return false;
  if (!req.host.empty() && req.origin == std::string(req.tls ? "https://" : "http://") + req.host) return true;
  return !state.config.public_origin.empty() && req.origin == state.config.public_origin;
}

Error foreign_origin() {
  return Error::make(Code::kForbidden, "请求来源不符（the request's Origin is not this server's）");
}

}  // namespace

std::optional<Error> check_origin(const ServerState& state, const Request& req, bool upgrade) {
  if (!upgrade && (req.method == "GET" || req.method == "HEAD")) return std::nullopt;
  if (!request_token(req, upgrade).cookie) return std::nullopt;
  if (same_origin(state, req)) return std::nullopt;
  return foreign_origin();
}

Result<engine::Principal> authenticate(ServerState& state, const Request& req, bool allow_query_token,
                                       engine::Engine::Credential* credential) {
  std::string token = request_token(req, allow_query_token).token;
  if (token.empty()) {
    return fail(Code::kUnauthenticated, "缺少访问令牌（missing bearer token）");
  }
  engine::Engine::Credential unkept;
  engine::Engine::Credential& checked = credential ? *credential : unkept;
  checked = engine::Engine::credential(token);
  auto who = state.engine.authenticate(checked);
  if (!who) return fail(Code::kUnauthenticated, "访问令牌无效（invalid or expired token）");
  return who;
}

Result<uint64_t> parse_since(const Request& req, uint64_t fallback) {
  const std::string* text = query(req, "since");
  if (!text) return fallback;
  auto value = parse_count(*text, UINT64_MAX);
  if (!value) {
    return fail(Code::kBadRequest, "since 须为非负整数（since must be a non-negative integer）",
                Json{{"parameter", "since"}});
  }
  return *value;
}

// 200 "ok"; 503 "stopping" after SIGTERM; 503 "storage_unavailable" with the reason while
// storage refuses writes after a background error (asking it to resume first).
Response healthz(ServerState& state, const Request&) {
  if (state.stopping.load()) {
    return ok(503, Json{{"status", "stopping"}, {"head", state.engine.head_seq()}});
  }
  storage::Store& store = state.engine.store();
  storage::Store::Health health = store.health();
  if (health.stopped && store.try_resume()) health = store.health();
  if (health.stopped) {
    return ok(503, Json{{"status", "storage_unavailable"}, {"reason", *health.stopped},
                        {"head", state.engine.head_seq()}});
  }
  return ok(200, Json{{"status", "ok"}, {"head", state.engine.head_seq()}});
}

Response metrics(ServerState& state, const Request&) {
  return text_response(200,
                       state.metrics.render(state.engine.metrics(), state.engine.head_seq(),
                                            state.connections.open()) +
                           render_server_health({state.connections.total_limit(), state.connections.per_address_limit(),
                                                 state.engine.store().health(), state.metrics.idempotency_records(),
                                                 state.engine.idempotency_expired()}),
                       "text/plain; version=0.0.4; charset=utf-8");
}

Response openapi(ServerState&, const Request&) {
  return text_response(200, std::string(kOpenApiDocument, kOpenApiDocumentSize), "application/json");
}

Json me_json(ServerState&, const engine::Principal& who) {
  Json roles = Json::array();
  for (const auto& grant : who.roles) roles.push_back({{"role", grant.role}, {"org", grant.org}});
  // `org` and `home_org` are the same: `org` is the name the directory routes use.
  return Json{{"id", who.id},        {"name", who.name},   {"org", who.home_org},
              {"home_org", who.home_org}, {"roles", roles}, {"delegations", Json::array()}};
}

Response get_me(ServerState& state, const Request& req) { return ok(200, me_json(state, *req.principal)); }

// The orgs the caller may see: every org one of their roles covers, plus the ancestors of
// those (so the tree above them can be drawn), plus their home org. Nothing else.
Response list_orgs(ServerState& state, const Request& req) {
  const engine::Principal& who = *req.principal;
  std::vector<engine::Org> all = state.engine.orgs();
  auto covered = [&](const engine::Org& org) {
    return std::any_of(who.roles.begin(), who.roles.end(),
                       [&](const auto& g) { return engine::org_covers(g.org, org.id); });
  };
  auto ancestor_of_grant = [&](const engine::Org& org) {
    return std::any_of(who.roles.begin(), who.roles.end(),
                       [&](const auto& g) { return engine::org_covers(org.id, g.org); }) ||
           (!who.home_org.empty() && engine::org_covers(org.id, who.home_org));
  };
  Json items = Json::array();
  for (const auto& org : all) {
    if (covered(org) || ancestor_of_grant(org)) items.push_back(engine::org_json(org));
  }
  return ok(200, Json{{"items", items}});
}

Response list_workflows(ServerState& state, const Request&) {
  Json items = Json::array();
  for (const auto& w : state.engine.workflows()) {
    items.push_back({{"id", w.id}, {"version", w.version}, {"title", engine::label_json(w.title)}});
  }
  return ok(200, Json{{"items", items}});
}

namespace {
// ?version=N of a definition read.
Result<std::optional<int>> parse_version(const Request& req) {
  const std::string* text = query(req, "version");
  if (!text) return std::optional<int>{};
  auto value = parse_count(*text, 1'000'000'000);
  if (!value || *value == 0) {
    return fail(Code::kBadRequest, "version 须为正整数（version must be a positive integer）",
                Json{{"parameter", "version"}});
  }
  return std::optional<int>(static_cast<int>(*value));
}
}  // namespace

Response get_workflow(ServerState& state, const Request& req) {
  auto version = parse_version(req);
  if (!version) return error_response(version.error());
  auto def = state.engine.definition(req.params[0], *version);
  if (!def) return error_response(def.error());
  return ok(200, (*def)->source);
}

Response get_workflow_graph(ServerState& state, const Request& req) {
  auto version = parse_version(req);
  if (!version) return error_response(version.error());
  const std::string* format = query(req, "format");
  std::string fmt = format ? *format : "dot";
  if (fmt != "dot" && fmt != "mermaid") {
    return error_response(Error::make(Code::kBadRequest, "format 须为 dot 或 mermaid（format must be dot or mermaid）",
                                      Json{{"parameter", "format"}}));
  }
  auto def = state.engine.definition(req.params[0], *version);
  if (!def) return error_response(def.error());
  return text_response(200, engine::definition_graph(**def, fmt), "text/plain; charset=utf-8");
}

Response list_instances(ServerState& state, const Request& req) {
  auto limit = parse_limit(req, 50);
  if (!limit) return error_response(limit.error());
  engine::InstanceFilter filter;
  auto take = [&](const char* key, std::string& out) {
    if (const std::string* v = query(req, key)) out = *v;
  };
  take("workflow", filter.workflow);
  take("state", filter.state);
  take("org", filter.org);
  take("assignee_org", filter.assignee_org);
  take("q", filter.text);
  auto overdue = parse_overdue(req);
  if (!overdue) return error_response(overdue.error());
  filter.overdue_only = *overdue;
  if (const std::string* created_by = query(req, "created_by")) {
    if (*created_by != "me") {
      return error_response(Error::make(Code::kBadRequest, "created_by 只能为 me（created_by must be me）",
                                        Json{{"parameter", "created_by"}}));
    }
    filter.created_by = req.principal->id;
  }
  auto cursor = parse_cursor(req);
  if (!cursor) return error_response(cursor.error());
  auto page = state.engine.list_instances(*req.principal, filter, *limit, *cursor, engine::ViewForm::kText);
  if (!page) return error_response(page.error());
  return page_response(*page);
}

Response get_instance(ServerState& state, const Request& req) {
  auto view = state.engine.instance_view_text(*req.principal, req.params[0]);
  if (!view) return error_response(view.error());
  Response res;
  res.status = 200;
  res.body = std::move(*view);
  return res;
}

Response instance_events(ServerState& state, const Request& req) {
  auto events = state.engine.history_text(*req.principal, req.params[0]);
  if (!events) return error_response(events.error());
  Response res;
  res.status = 200;
  res.body.append("{\"items\":[");
  for (size_t i = 0; i < events->size(); ++i) {
    if (i > 0) res.body.push_back(',');
    res.body.append((*events)[i]);
  }
  res.body.append("]}");
  return res;
}

Response list_tasks(ServerState& state, const Request& req) {
  auto limit = parse_limit(req, 50);
  if (!limit) return error_response(limit.error());
  auto cursor = parse_cursor(req);
  if (!cursor) return error_response(cursor.error());
  engine::TaskFilter filter;
  if (const std::string* workflow = query(req, "workflow")) filter.workflow = *workflow;
  auto overdue = parse_overdue(req);
  if (!overdue) return error_response(overdue.error());
  filter.overdue_only = *overdue;
  auto page = state.engine.tasks(*req.principal, *limit, *cursor, engine::ViewForm::kText, filter);
  if (!page) return error_response(page.error());
  return page_response(*page);
}

Response list_events(ServerState& state, const Request& req) {
  auto since = parse_since(req, 0);
  if (!since) return error_response(since.error());
  auto limit = parse_limit(req, 100);
  if (!limit) return error_response(limit.error());
  auto page = state.engine.events_after(*req.principal, *since, *limit);
  if (!page) return error_response(page.error());
  // Written as text, keys in the order a Json dump gives them; each event as encode_event()
  // writes it (the same bytes as event_json(e).dump(), without building the tree).
  Response res;
  res.status = 200;
  res.body.append("{\"head\":").append(std::to_string(page->head)).append(",\"items\":[");
  for (size_t i = 0; i < page->items.size(); ++i) {
    if (i > 0) res.body.push_back(',');
    res.body.append(engine::encode_event(page->items[i]));
  }
  res.body.append("],\"next_since\":").append(std::to_string(page->next_since)).push_back('}');
  return res;
}

Response get_stats(ServerState& state, const Request& req) {
  const std::string* workflow = query(req, "workflow");
  const std::string* group_by = query(req, "group_by");
  std::string group = group_by && !group_by->empty() ? *group_by : "org";
  if (group != "org" && group != "state" && group != "assignee_org") {
    return error_response(Error::make(
        Code::kBadRequest, "group_by 须为 org、state 或 assignee_org（group_by must be org, state or assignee_org）",
        Json{{"parameter", "group_by"}}));
  }
  return from(state.engine.stats(*req.principal, workflow ? *workflow : "", group));
}

Response stream_without_upgrade(ServerState&, const Request&) {
  return error_response(Error::make(
      Code::kBadRequest, "此地址须以 WebSocket 连接（this endpoint requires a WebSocket upgrade）"));
}

void register_workflow(ServerState& state, const Request& req, Respond respond) {
  auto body = body_object(req, {});
  if (!body) return respond(error_response(body.error()));
  submit(state, req, engine::RegisterDefinition{std::move(*body)}, std::move(respond));
}

void create_instance(ServerState& state, const Request& req, Respond respond) {
  auto body = body_object(req, {"workflow", "org", "fields", "comment"});
  if (!body) return respond(error_response(body.error()));
  auto workflow = string_member(*body, "workflow", true);
  if (!workflow) return respond(error_response(workflow.error()));
  auto org = string_member(*body, "org", true);
  if (!org) return respond(error_response(org.error()));
  auto fields = fields_member(*body);
  if (!fields) return respond(error_response(fields.error()));
  auto comment = string_member(*body, "comment", false);
  if (!comment) return respond(error_response(comment.error()));
  submit(state, req,
         engine::CreateInstance{std::move(**workflow), std::move(**org), std::move(*fields),
                                std::move(*comment)},
         std::move(respond));
}

void fire_transition(ServerState& state, const Request& req, Respond respond) {
  auto body = body_object(req, {"transition", "fields", "comment", "expected_version"});
  if (!body) return respond(error_response(body.error()));
  auto transition = string_member(*body, "transition", true);
  if (!transition) return respond(error_response(transition.error()));
  auto fields = fields_member(*body);
  if (!fields) return respond(error_response(fields.error()));
  auto comment = string_member(*body, "comment", false);
  if (!comment) return respond(error_response(comment.error()));
  auto expected = integer_member(*body, "expected_version");
  if (!expected) return respond(error_response(expected.error()));
  submit(state, req,
         engine::FireTransition{req.params[0], std::move(**transition), std::move(*fields),
                                std::move(*comment), *expected},
         std::move(respond));
}

// Admin: POST /api/v1/instances/{id}/migrate {to_version, states?, comment?, expected_version?}
void migrate_instance(ServerState& state, const Request& req, Respond respond) {
  auto body = body_object(req, {"to_version", "states", "comment", "expected_version"});
  if (!body) return respond(error_response(body.error()));
  engine::MigrateInstance command;
  command.instance_id = req.params[0];
  auto version = body->find("to_version");
  if (version == body->end() || version->is_null()) {
    return respond(error_response(Error::make(Code::kBadRequest, "缺少 to_version（to_version is required）",
                                              Json{{"missing", {"to_version"}}})));
  }
  if (!version->is_number_integer() || version->get<int64_t>() < 1 || version->get<int64_t>() > 1000000) {
    return respond(error_response(wrong_type("to_version", "正整数", "a positive integer")));
  }
  command.to_version = static_cast<int>(version->get<int64_t>());
  if (auto it = body->find("states"); it != body->end() && !it->is_null()) {
    if (!it->is_object()) return respond(error_response(wrong_type("states", "对象（旧状态 → 新状态）", "an object (old state → new state)")));
    for (auto s = it->begin(); s != it->end(); ++s) {
      if (!s->is_string()) return respond(error_response(wrong_type("states", "对象（旧状态 → 新状态）", "an object (old state → new state)")));
      command.states[s.key()] = s->get<std::string>();
    }
  }
  auto comment = string_member(*body, "comment", false);
  if (!comment) return respond(error_response(comment.error()));
  command.comment = std::move(*comment);
  auto expected = integer_member(*body, "expected_version");
  if (!expected) return respond(error_response(expected.error()));
  command.expected_version = *expected;
  submit(state, req, std::move(command), std::move(respond));
}

void add_comment(ServerState& state, const Request& req, Respond respond) {
  auto body = body_object(req, {"comment"});
  if (!body) return respond(error_response(body.error()));
  // Absent or null is the same as empty: the engine answers 422 missing_fields with "comment" in
  // details.missing, as for a transition whose comment is required (docs/api.md).
  auto comment = string_member(*body, "comment", false);
  if (!comment) return respond(error_response(comment.error()));
  submit(state, req, engine::AddComment{req.params[0], comment->value_or("")}, std::move(respond));
}

// Admin only (the engine decides: 403 for anyone else, then 404 for an unknown user). Every
// token of the user stops authenticating as soon as the command commits; open streams are
// asked to authenticate again at once, so theirs close within moments.
void revoke_tokens(ServerState& state, const Request& req, Respond respond) {
  if (!req.body.empty()) {
    auto body = body_object(req, {});
    if (!body) return respond(error_response(body.error()));
    if (!body->empty()) {
      return respond(error_response(Error::make(Code::kBadRequest, "请求体须为空对象（the body must be empty or {}）")));
    }
  }
  Hub* hub = &state.hub;
  submit(state, req, engine::RevokeTokens{req.params[0]}, std::move(respond), [hub] { hub->recheck_all(); });
}

// ---- login sessions and passwords ----

namespace {

Error invalid_credentials() {
  return Error::make(Code::kInvalidCredentials, "用户名或密码错误（wrong user or password）");
}

Error too_many_attempts(int64_t wait_ms) {
  const int64_t seconds = std::max<int64_t>(1, (wait_ms + 999) / 1000);
  return Error::make(Code::kTooManyAttempts,
                     "登录失败次数过多，请稍后再试（too many failed logins; try again later）",
                     Json{{"retry_after_s", seconds}});
}

Error passwords_busy() { return Error::make(Code::kOverloaded, "服务器繁忙，请稍后再试（busy, try again shortly）"); }

// A JSON string member that must be present: "user", "password", "old", "new".
Result<std::string> required_string(const Json& body, const char* key) {
  auto value = string_member(body, key, true);
  if (!value) return fail(value.error());
  return std::move(**value);
}

// A body of exactly two required strings: {"user", "password"}, {"old", "new"}.
Result<std::pair<std::string, std::string>> two_strings(const Request& req, const char* first, const char* second) {
  auto body = body_object(req, {first, second});
  if (!body) return fail(body.error());
  auto a = required_string(*body, first);
  if (!a) return fail(a.error());
  auto b = required_string(*body, second);
  if (!b) return fail(b.error());
  return std::pair{std::move(*a), std::move(*b)};
}

// Submits a command without an idempotency record (its body holds a password) and answers
// through `done` on the writer's replier thread.
void submit_plain(ServerState& state, engine::CommandBody body, const engine::Principal& who,
                  std::function<void(Result<engine::Reply>)> done) {
  state.engine.submit(engine::Command{std::move(body), who, {}, {}}, std::move(done));
}

// On a password thread: checks the password, then opens the session.
void finish_login(ServerState& state, const Request& req, const std::string& user, const std::string& password,
                  Respond respond) {
  auto who = state.engine.user(user);
  std::optional<std::string> hash = who ? state.engine.password_hash(user) : std::nullopt;
  // An unknown user or one without a password costs the same verification as a wrong password.
  const bool matches = verify_login_password(hash, password);
  const int64_t now = state.engine.clock().now_ms();
  if (!matches) {
    state.logins->record_failure(user, req.remote_address, now);
    return respond(error_response(invalid_credentials()));
  }
  // Attempts running side by side may have locked the user meanwhile.
  if (int64_t wait = state.logins->retry_after_ms(user, req.remote_address, now); wait > 0) {
    return respond(error_response(too_many_attempts(wait)));
  }
  state.logins->record_success(user);
  const std::string token = new_token();
  const int64_t expires = now + int64_t{state.config.session_max_s} * 1000;
  engine::OpenSession open{user, sha256_hex(token), expires, int64_t{state.config.session_idle_s} * 1000};
  const bool tls = req.tls;
  submit_plain(state, std::move(open), *who,
               [&state, who = *who, token, expires, tls, respond = std::move(respond)](Result<engine::Reply> reply) {
                 if (!reply) return respond(error_response(reply.error()));
                 Json body = me_json(state, who);
                 body["expires_at"] = engine::format_time(expires);
                 Response res = json_response(200, body);
                 res.headers.emplace_back("Set-Cookie", session_cookie_header(token, tls));
                 res.headers.emplace_back("Cache-Control", "no-store");
                 respond(std::move(res));
               });
}

// Hashes `password` on a password thread and submits SetPassword as `who`.
void hash_and_set(ServerState& state, const engine::Principal& who, const std::string& user, const std::string& password,
                  bool own, Respond respond) {
  auto hash = hash_password(password);
  if (!hash) return respond(error_response(Error::make(Code::kInternal, "argon2id_hash_encoded failed")));
  submit_plain(state, engine::SetPassword{user, std::move(*hash), own}, who,
               [hub = &state.hub, respond = std::move(respond)](Result<engine::Reply> reply) {
                 if (!reply) return respond(error_response(reply.error()));
                 hub->recheck_all();  // streams on the ended sessions close
                 respond(no_content_response());
               });
}

std::optional<Error> password_rule(const std::string& password) {
  if (auto problem = password_problem(password)) {
    return Error::make(Code::kInvalidField, *problem, Json{{"field", "password"}, {"rule", "password"}});
  }
  return std::nullopt;
}

}  // namespace

// POST /api/v1/auth/login {"user", "password"}: 200 with /me's body, expires_at and the cookie.
void login(ServerState& state, const Request& req, Respond respond) {
  // A browser says where a login comes from: only this server's own pages may log in.
  if (!req.origin.empty() && !same_origin(state, req)) return respond(error_response(foreign_origin()));
  auto body = two_strings(req, "user", "password");
  if (!body) return respond(error_response(body.error()));
  std::string user = std::move(body->first), password = std::move(body->second);
  if (!state.logins) return respond(error_response(passwords_busy()));
  const int64_t now = state.engine.clock().now_ms();
  if (int64_t wait = state.logins->retry_after_ms(user, req.remote_address, now); wait > 0) {
    return respond(error_response(too_many_attempts(wait)));
  }
  auto shared = std::make_shared<Respond>(std::move(respond));
  const bool queued = state.logins->post([&state, req, user, password, shared] {
    finish_login(state, req, user, password, std::move(*shared));
  });
  if (!queued) (*shared)(error_response(passwords_busy()));
}

// POST /api/v1/auth/logout: ends the session the request came with (a plain API token is left
// alone: revoke-tokens ends those), clears the cookie, and closes streams on that session.
void logout(ServerState& state, const Request& req, Respond respond) {
  const std::string hash = sha256_hex(request_token(req, false).token);
  const bool tls = req.tls;
  submit_plain(state, engine::CloseSession{hash}, *req.principal,
               [hub = &state.hub, tls, respond = std::move(respond)](Result<engine::Reply> reply) {
                 if (!reply) return respond(error_response(reply.error()));
                 hub->recheck_all();
                 Response res = no_content_response();
                 res.headers.emplace_back("Set-Cookie", session_cookie_header("", tls));
                 respond(std::move(res));
               });
}

// POST /api/v1/me/password {"old", "new"}: 204; every session of the caller ends.
void change_my_password(ServerState& state, const Request& req, Respond respond) {
  auto body = two_strings(req, "old", "new");
  if (!body) return respond(error_response(body.error()));
  std::string old_password = std::move(body->first), new_password = std::move(body->second);
  if (auto refused = password_rule(new_password)) return respond(error_response(*refused));
  if (!state.logins) return respond(error_response(passwords_busy()));
  const engine::Principal who = *req.principal;
  const int64_t now = state.engine.clock().now_ms();
  if (int64_t wait = state.logins->retry_after_ms(who.id, req.remote_address, now); wait > 0) {
    return respond(error_response(too_many_attempts(wait)));
  }
  auto shared = std::make_shared<Respond>(std::move(respond));
  const std::string address = req.remote_address;
  const bool queued = state.logins->post([&state, who, address, old_password, new_password, shared] {
    auto hash = state.engine.password_hash(who.id);
    // A person without a password yet proves nothing with "old": they are given one by an
    // administrator or the command line.
    if (!verify_login_password(hash, old_password)) {
      state.logins->record_failure(who.id, address, state.engine.clock().now_ms());
      return (*shared)(error_response(Error::make(Code::kForbidden, "原密码不正确（the old password is wrong）",
                                                  Json{{"field", "old"}})));
    }
    hash_and_set(state, who, who.id, new_password, /*own=*/true, std::move(*shared));
  });
  if (!queued) (*shared)(error_response(passwords_busy()));
}

// POST /api/v1/users/{id}/password {"password"}: an administrator over the person sets it
// (404 for a person out of sight, 403 out of reach); 204, and their sessions end.
void set_user_password(ServerState& state, const Request& req, Respond respond) {
  auto body = body_object(req, {"password"});
  if (!body) return respond(error_response(body.error()));
  auto password = required_string(*body, "password");
  if (!password) return respond(error_response(password.error()));
  // Who may, before the slow hash: the engine decides it again when the command is applied.
  const engine::Principal who = *req.principal;
  if (auto allowed = state.engine.may_set_password(who, req.params[0]); !allowed) {
    return respond(error_response(allowed.error()));
  }
  if (auto refused = password_rule(*password)) return respond(error_response(*refused));
  if (!state.logins) return respond(error_response(passwords_busy()));
  auto shared = std::make_shared<Respond>(std::move(respond));
  const bool queued = state.logins->post([&state, who, user = req.params[0], password = std::move(*password), shared] {
    hash_and_set(state, who, user, password, /*own=*/false, std::move(*shared));
  });
  if (!queued) (*shared)(error_response(passwords_busy()));
}

// ---- the directory online ----

namespace {

constexpr size_t kMaxUserCursor = 64;

Json user_item(const engine::UserRecord& u) {
  Json roles = Json::array();
  for (const auto& g : u.roles) roles.push_back({{"role", g.role}, {"org", g.org}});
  return Json{{"id", u.id}, {"name", u.name}, {"org", u.home_org}, {"roles", roles}, {"disabled", u.disabled}};
}

bool user_in_org(const engine::UserRecord& u, const std::string& org) {
  if (engine::org_covers(org, u.home_org)) return true;
  return std::any_of(u.roles.begin(), u.roles.end(), [&](const auto& g) { return engine::org_covers(org, g.org); });
}

// "roles": [{"role", "org"}, ...]
Result<std::vector<engine::RoleGrant>> roles_member(const Json& roles) {
  if (!roles.is_array()) return fail(wrong_type("roles", "数组 [{role, org}]", "an array of {role, org}"));
  std::vector<engine::RoleGrant> out;
  for (const Json& g : roles) {
    if (!g.is_object() || g.size() != 2 || !g.contains("role") || !g.contains("org") || !g["role"].is_string() ||
        !g["org"].is_string()) {
      return fail(wrong_type("roles", "数组 [{role, org}]", "an array of {role, org}"));
    }
    out.push_back({g["role"].get<std::string>(), g["org"].get<std::string>()});
  }
  return out;
}

// Runs `after` once a directory change has committed: streams authenticate again at once, so
// a disabled person's close 4001 and a changed person's see their new roles from the next event.
void submit_directory(ServerState& state, const Request& req, engine::CommandBody body, Respond respond) {
  Hub* hub = &state.hub;
  submit(state, req, std::move(body), std::move(respond), [hub] { hub->recheck_all(); });
}

}  // namespace

// GET /api/v1/users?org=&q=&cursor=&limit=: people whose home org or a role org the caller
// sees, by id; `org` keeps those at or under it, `q` those whose id or name contains it.
Response list_users(ServerState& state, const Request& req) {
  auto limit = parse_limit(req, 50);
  if (!limit) return error_response(limit.error());
  const std::string* cursor = query(req, "cursor");
  if (cursor && cursor->size() > kMaxUserCursor) {
    return error_response(Error::make(Code::kBadRequest, "分页游标无效（invalid cursor）", Json{{"parameter", "cursor"}}));
  }
  const std::string* org = query(req, "org");
  const std::string* q = query(req, "q");
  const engine::Principal& who = *req.principal;
  Json items = Json::array();
  std::optional<std::string> next;
  for (const engine::UserRecord& u : state.engine.user_records()) {  // sorted by id
    if (cursor && u.id <= *cursor) continue;
    if (!engine::may_see_user(who, u)) continue;
    if (org && !org->empty() && !user_in_org(u, *org)) continue;
    if (q && !q->empty() && u.id.find(*q) == std::string::npos && u.name.find(*q) == std::string::npos) continue;
    if (items.size() == *limit) {
      next = items.back()["id"].get<std::string>();
      break;
    }
    items.push_back(user_item(u));
  }
  return ok(200, Json{{"items", std::move(items)}, {"next_cursor", next ? Json(*next) : Json(nullptr)}});
}

// POST /api/v1/users {"id", "name", "org", "roles", "password"?}
void create_user(ServerState& state, const Request& req, Respond respond) {
  auto body = body_object(req, {"id", "name", "org", "roles", "password"});
  if (!body) return respond(error_response(body.error()));
  engine::PutUser put;
  put.create_only = true;
  for (auto [key, out] : {std::pair{"id", &put.id}, std::pair{"name", &put.name}, std::pair{"org", &put.home_org}}) {
    auto value = required_string(*body, key);
    if (!value) return respond(error_response(value.error()));
    *out = std::move(*value);
  }
  if (auto it = body->find("roles"); it != body->end() && !it->is_null()) {
    auto roles = roles_member(*it);
    if (!roles) return respond(error_response(roles.error()));
    put.roles = std::move(*roles);
  }
  auto password = string_member(*body, "password", false);
  if (!password) return respond(error_response(password.error()));
  if (!*password) return submit_directory(state, req, std::move(put), std::move(respond));
  if (auto refused = password_rule(**password)) return respond(error_response(*refused));
  if (!state.logins) return respond(error_response(passwords_busy()));
  auto shared = std::make_shared<Respond>(std::move(respond));
  const bool queued = state.logins->post([&state, req, put = std::move(put), password = std::move(**password), shared]() mutable {
    auto hash = hash_password(password);
    if (!hash) return (*shared)(error_response(Error::make(Code::kInternal, "argon2id_hash_encoded failed")));
    put.password_hash = std::move(*hash);
    engine::Command command{std::move(put), *req.principal, {}, {}};
    state.engine.submit(std::move(command), [shared](Result<engine::Reply> reply) {
      if (!reply) return (*shared)(error_response(reply.error()));
      (*shared)(json_response(reply->status, reply->body));
    });
  });
  if (!queued) (*shared)(error_response(passwords_busy()));
}

// PATCH /api/v1/users/{id} {"name"?, "org"?, "roles"?, "disabled"?}
void update_user(ServerState& state, const Request& req, Respond respond) {
  auto body = body_object(req, {"name", "org", "roles", "disabled"});
  if (!body) return respond(error_response(body.error()));
  engine::PatchUser patch;
  patch.id = req.params[0];
  auto name = string_member(*body, "name", false);
  if (!name) return respond(error_response(name.error()));
  patch.name = std::move(*name);
  auto org = string_member(*body, "org", false);
  if (!org) return respond(error_response(org.error()));
  patch.home_org = std::move(*org);
  if (auto it = body->find("roles"); it != body->end() && !it->is_null()) {
    auto roles = roles_member(*it);
    if (!roles) return respond(error_response(roles.error()));
    patch.roles = std::move(*roles);
  }
  if (auto it = body->find("disabled"); it != body->end() && !it->is_null()) {
    if (!it->is_boolean()) return respond(error_response(wrong_type("disabled", "true 或 false", "true or false")));
    patch.disabled = it->get<bool>();
  }
  submit_directory(state, req, std::move(patch), std::move(respond));
}

// POST /api/v1/orgs {"path", "name", "kind"}
void create_org(ServerState& state, const Request& req, Respond respond) {
  auto body = body_object(req, {"path", "name", "kind"});
  if (!body) return respond(error_response(body.error()));
  engine::PutOrg put;
  put.create_only = true;
  for (auto [key, out] : {std::pair{"path", &put.org.id}, std::pair{"name", &put.org.name}, std::pair{"kind", &put.org.kind}}) {
    auto value = required_string(*body, key);
    if (!value) return respond(error_response(value.error()));
    *out = std::move(*value);
  }
  submit_directory(state, req, std::move(put), std::move(respond));
}

// PATCH /api/v1/orgs/{path} {"name"}: the path percent-encoded as one segment (city%2Ffinance).
void rename_org(ServerState& state, const Request& req, Respond respond) {
  auto body = body_object(req, {"name"});
  if (!body) return respond(error_response(body.error()));
  auto name = required_string(*body, "name");
  if (!name) return respond(error_response(name.error()));
  submit_directory(state, req, engine::RenameOrg{req.params[0], std::move(*name)}, std::move(respond));
}

}  // namespace pioneer::api::handlers
