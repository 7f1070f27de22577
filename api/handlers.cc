#include "api/handlers.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <initializer_list>

#include "api/router.h"
#include "common/crypto.h"
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

// ?limit=: absent → fallback; otherwise an integer 1..1000 (API.md), else bad_request.
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

std::string request_token(const Request& req, bool allow_query_token) {
  std::string_view token = bearer_token(req.authorization);
  if (token.empty() && allow_query_token) {
    if (const std::string* q = query(req, "access_token")) token = *q;
  }
  return std::string(token);
}

Result<engine::Principal> authenticate(ServerState& state, const Request& req, bool allow_query_token,
                                       engine::Engine::Credential* credential) {
  std::string token = request_token(req, allow_query_token);
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

Response get_me(ServerState&, const Request& req) {
  const engine::Principal& who = *req.principal;
  Json roles = Json::array();
  for (const auto& grant : who.roles) roles.push_back({{"role", grant.role}, {"org", grant.org}});
  return ok(200, Json{{"id", who.id}, {"name", who.name}, {"home_org", who.home_org}, {"roles", roles}});
}

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
  // details.missing, as for a transition whose comment is required (API.md).
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

}  // namespace pioneer::api::handlers
