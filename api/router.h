// Router: the route table of API.md (method + path pattern → handler), authentication, and
// the dispatch of one plain Request to its handler. Beast-free.
//
// dispatch() calls `respond` exactly once, with the response annotated with the matched route
// pattern and the user id for the request log. Unknown paths answer 404 not_found, a known
// path with another method 405 (code bad_request, with Allow), a protected route without a
// valid bearer token 401. Thread-safe: the table is immutable after construction.
#pragma once

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

class Router {
 public:
  explicit Router(ServerState* state = nullptr) : state_(state) {}
  void bind(ServerState* state) { state_ = state; }
  void dispatch(Request request, Respond respond) const;
  const std::vector<Route>& routes() const;

 private:
  ServerState* state_;
};

// Matches a path against a pattern, filling the decoded parameters.
bool match_pattern(std::string_view pattern, std::string_view path, std::vector<std::string>& params);

}  // namespace pioneer::api
