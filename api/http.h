// Plain HTTP request/response values passed between the Beast layer and the router.
//
// Nothing here includes Beast: handlers, the router and their tests see only these structs.
// `error_response()` is the one place where an engine Error becomes an HTTP status and the
// JSON error body of docs/api.md. Thread-safe as values are.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/input.h"
#include "common/result.h"
#include "engine/core/model.h"

namespace pioneer::api {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target before '?', not decoded
  std::map<std::string, std::string> query;  // decoded; the last value wins on repeats
  std::string authorization;                 // the Authorization header, "" when absent
  std::string idempotency_key;               // the Idempotency-Key header, "" when absent
  std::string accept_encoding;               // the Accept-Encoding header, "" when absent
  std::string session_cookie;                // the pioneer_session cookie, "" when absent
  std::string origin;                        // the Origin header, "" when absent
  std::string host;                          // the Host header, "" when absent
  std::string remote_address;                // the client's IP address (login limits)
  bool tls = false;                          // arrived over TLS
  std::string body;

  // Filled by the router.
  std::string route;                // the matched pattern, "/api/v1/instances/{id}"
  std::vector<std::string> params;  // decoded path parameters, in pattern order
  // Set on authenticated routes; shared with the connection's AuthMemo (api/router.h).
  std::shared_ptr<const engine::Principal> principal;
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Retry-After, ...)
  bool close = false;  // close the connection after this response

  // For the request log and metrics; never sent.
  std::string route;
  std::string user;
};

// Called exactly once with the answer to a request, possibly later and on another thread (a
// write answers on the engine's writer thread). The session posts it back onto its I/O thread.
using Respond = std::function<void(Response)>;

// The HTTP status of an error code (docs/api.md table; kOverloaded is 503).
int http_status(Code code);

// THE mapping of an Error to a response: status from http_status() unless `status` overrides
// it (405, 431), body {"error": {code, message, details}}, Retry-After on overloaded. Internal
// errors show a generic message; their detail goes to the log only.
Response error_response(const Error& error, int status = 0);

// The status line and header fields of `res` as they go on the wire, through the blank line
// after the fields: "HTTP/1.1 200 OK", Server, Content-Type (when set), the extra headers,
// Connection when it is not the version's default (close on 1.1, keep-alive on 1.0) and
// Content-Length (every response of ours but 204 has a body). CR and LF in a header value
// become spaces, so a value can never start a field of its own. The body is written after it as it is.
std::string response_head(const Response& res, unsigned version, bool keep_alive);

Response json_response(int status, const Json& body);
// 204: no body, no Content-Type, no Content-Length.
Response no_content_response();
Response text_response(int status, std::string body, std::string content_type);

// Percent-decodes (and '+' → ' ' when form is true). Invalid escapes are kept as they are.
std::string percent_decode(std::string_view text, bool form);
// Parses "a=1&b=x%20y" (form decoding).
std::map<std::string, std::string> parse_query(std::string_view query);

// The deepest nesting of arrays and objects a client's JSON may have. nlohmann's value
// operations (copy, compare, dump) recurse per level, so a body of 100,000 '[' must be
// refused before it is parsed, not after.
inline constexpr size_t kMaxJsonDepth = 64;

// json_depth_within (common/input.h), by default with this bound.
using pioneer::json_depth_within;
inline bool json_depth_within(std::string_view text) { return pioneer::json_depth_within(text, kMaxJsonDepth); }

// THE parser for JSON that comes from a client (request bodies, WebSocket messages): refuses
// nesting over kMaxJsonDepth and malformed JSON (including invalid UTF-8) with
// Code::kInvalidJson; never throws.
Result<Json> parse_client_json(std::string_view text);

// The token of "Bearer <token>" (case-insensitive scheme), "" when absent or another scheme.
std::string_view bearer_token(std::string_view authorization);

// The login session's cookie.
inline constexpr std::string_view kSessionCookie = "pioneer_session";
// The value of cookie `name` in a Cookie header ("a=1; pioneer_session=x"), "" when absent.
std::string_view cookie_value(std::string_view cookie_header, std::string_view name);
// The Set-Cookie value of a session: HttpOnly, SameSite=Strict, Path=/, and Secure over TLS.
// An empty token clears the cookie (Max-Age=0).
std::string session_cookie_header(std::string_view token, bool tls);

}  // namespace pioneer::api
