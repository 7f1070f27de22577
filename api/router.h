// Router: the route table of docs/api.md (method + path pattern → handler), authentication, and
// the dispatch of one plain Request to its handler. Beast-free.
//
// dispatch() calls `respond` exactly once, with the response annotated with the matched route
// pattern and the user id for the request log. Unknown paths answer 404 not_found, a known
// path with another method 405 (code bad_request, with Allow), a protected route without a
// valid bearer token or session cookie 401, a cookie-authenticated change from another origin
// 403 (handlers::check_origin). Thread-safe: the table is immutable after construction.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "api/server_state.h"

namespace pioneer::api {

using SyncHandler = Response (*)(ServerState&, const Request&);
using AsyncHandler = void (*)(ServerState&, const Request&, Respond);

struct Route {
  std::string_view method;
  std::string_view pattern;  // segments; "{name}" matches one non-empty segment
  bool auth;                 // requires a bearer token
  SyncHandler sync;          // exactly one of sync / async is set
  AsyncHandler async;
};

// The pattern of the stream route, answered by the WebSocket upgrade in the session layer.
inline constexpr std::string_view kStreamRoute = "/api/v1/stream";

// What a connection's last authentication found. A keep-alive connection (a browser tab, a
// proxy's upstream connection) sends the same Authorization header with every request: while
// the header is byte for byte the same and nothing the answer depended on has changed (the
// directory's generation, the token's expiry: Engine::still_authenticated), the principal is
// reused instead of hashing the token and looking it up again. A different header (a proxy
// passing another user's request) is authenticated afresh and replaces the memo. It holds the
// header, as the connection's own buffers do while a request is read. Belongs to one
// connection and is used on its thread only.
struct AuthMemo {
  std::string authorization;
  std::string session_cookie;  // the pioneer_session cookie it came with (the same rule)
  engine::Engine::Credential credential;
  std::shared_ptr<const engine::Principal> principal;  // null: nothing remembered
};

class Router {
 public:
  explicit Router(ServerState* state = nullptr) : state_(state) {}
  void bind(ServerState* state) { state_ = state; }
  // `memo`, when given, is the connection's (see AuthMemo); it is used and updated before
  // dispatch() returns, never later.
  void dispatch(Request request, Respond respond, AuthMemo* memo = nullptr) const;
  const std::vector<Route>& routes() const;

 private:
  Result<std::shared_ptr<const engine::Principal>> authenticate(const Request& request, AuthMemo* memo) const;
  ServerState* state_;
};

// Matches a path against a pattern, filling the decoded parameters. A pattern may have at most
// kMaxRouteParams parameters.
inline constexpr size_t kMaxRouteParams = 4;
bool match_pattern(std::string_view pattern, std::string_view path, std::vector<std::string>& params);

}  // namespace pioneer::api
