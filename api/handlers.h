// Handlers: one short function per route. Each decodes the plain Request, calls the engine and
// encodes the answer; no workflow rule lives here. Beast-free.
//
// Sync handlers answer at once (reads go straight to storage from the calling I/O thread).
// Async handlers (writes) submit a Command and call `respond` from the engine's writer thread
// once the batch is durable; the session posts that back onto its own I/O thread.
#pragma once

#include <cstdint>
#include <optional>

#include "api/http.h"
#include "api/server_state.h"

namespace pioneer::api::handlers {

// The principal of the request's bearer token; when allow_query_token, also the access_token
// query parameter (the stream: browsers cannot set headers on a WebSocket). kUnauthenticated
// when missing or unknown. The token is never logged. With `credential`, what the answer
// depended on is recorded there (Engine::Credential), so that a caller can ask
// Engine::still_authenticated() instead of authenticating the same token again.
// Without a bearer token (or access_token), the pioneer_session cookie is the token; a request
// so authenticated must also pass check_origin().
Result<engine::Principal> authenticate(ServerState& state, const Request& req, bool allow_query_token,
                                       engine::Engine::Credential* credential = nullptr);
// The token of the request as authenticate() finds it ("" when none), and whether it is the
// session cookie.
struct RequestToken {
  std::string token;
  bool cookie = false;
};
RequestToken request_token(const Request& req, bool allow_query_token);
// CSRF: a request authenticated by the session cookie that may change state (any method but
// GET and HEAD) or opens the stream must carry an Origin equal to the server's own origin
// (the scheme it was reached by and its Host header) or to config.public_origin; otherwise
// 403 forbidden. Bearer-authenticated requests are not checked (a page cannot make a browser
// attach one).
std::optional<Error> check_origin(const ServerState& state, const Request& req, bool upgrade = false);
// GET /api/v1/me's body for a principal.
Json me_json(ServerState& state, const engine::Principal& who);

// ?since=SEQ of the stream and the event feed: absent → `fallback`; not a non-negative
// integer → bad_request.
Result<uint64_t> parse_since(const Request& req, uint64_t fallback);

Response healthz(ServerState&, const Request&);
Response metrics(ServerState&, const Request&);
Response openapi(ServerState&, const Request&);
Response get_me(ServerState&, const Request&);
Response list_orgs(ServerState&, const Request&);
Response list_workflows(ServerState&, const Request&);
Response get_workflow(ServerState&, const Request&);
Response get_workflow_graph(ServerState&, const Request&);
Response list_instances(ServerState&, const Request&);
Response get_instance(ServerState&, const Request&);
Response instance_events(ServerState&, const Request&);
Response list_tasks(ServerState&, const Request&);
Response list_events(ServerState&, const Request&);
Response get_stats(ServerState&, const Request&);
Response stream_without_upgrade(ServerState&, const Request&);
Response list_users(ServerState&, const Request&);

void register_workflow(ServerState&, const Request&, Respond);
void create_instance(ServerState&, const Request&, Respond);
void fire_transition(ServerState&, const Request&, Respond);
void add_comment(ServerState&, const Request&, Respond);
void migrate_instance(ServerState&, const Request&, Respond);
void revoke_tokens(ServerState&, const Request&, Respond);
void create_user(ServerState&, const Request&, Respond);
void update_user(ServerState&, const Request&, Respond);
void create_org(ServerState&, const Request&, Respond);
void rename_org(ServerState&, const Request&, Respond);
void login(ServerState&, const Request&, Respond);
void logout(ServerState&, const Request&, Respond);
void change_my_password(ServerState&, const Request&, Respond);
void set_user_password(ServerState&, const Request&, Respond);

}  // namespace pioneer::api::handlers
