#include "api/http.h"

#include <algorithm>
#include <vector>

#include <cctype>
#include <cstdio>

#include "api/static_files.h"

namespace pioneer::api {

int http_status(Code code) {
  switch (code) {
    case Code::kInvalidJson:
    case Code::kBadRequest: return 400;
    case Code::kUnauthenticated:
    case Code::kInvalidCredentials: return 401;
    case Code::kForbidden: return 403;
    case Code::kNotFound: return 404;
    case Code::kVersionConflict:
    case Code::kTransitionNotAllowed:
    case Code::kIdempotencyConflict: return 409;
    case Code::kPayloadTooLarge: return 413;
    case Code::kTooManyAttempts: return 429;
    case Code::kMissingFields:
    case Code::kInvalidField:
    case Code::kInvalidDefinition: return 422;
    case Code::kOverloaded: return 503;
    case Code::kUnavailable: return 503;
    case Code::kInternal:
    case Code::kCorruption: return 500;
  }
  return 500;
}

Response error_response(const Error& error, int status) {
  Response res;
  res.status = status != 0 ? status : http_status(error.code);
  Json body;
  body["code"] = std::string(code_name(error.code));
  if (error.code == Code::kInternal || error.code == Code::kCorruption) {
    // The client gets no internals; the detail is logged where the error is seen.
    std::fprintf(stderr, "{\"level\":\"error\",\"code\":\"%s\",\"detail\":%s}\n",
                 std::string(code_name(error.code)).c_str(),
                 Json(error.message).dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
    body["message"] = "服务器内部错误（internal server error）";
    body["details"] = Json::object();
  } else {
    body["message"] = error.message;
    body["details"] = error.details().is_null() ? Json::object() : error.details();
  }
  res.body = Json{{"error", std::move(body)}}.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (error.code == Code::kOverloaded || error.code == Code::kUnavailable) res.headers.emplace_back("Retry-After", "1");
  if (error.code == Code::kTooManyAttempts) {
    // details.retry_after_s: whole seconds until the window has passed.
    res.headers.emplace_back("Retry-After", std::to_string(error.details().value("retry_after_s", int64_t{1})));
  }
  return res;
}

Response no_content_response() {
  Response res;
  res.status = 204;
  res.content_type.clear();
  return res;
}

Response json_response(int status, const Json& body) {
  Response res;
  res.status = status;
  res.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return res;
}

Response text_response(int status, std::string body, std::string content_type) {
  Response res;
  res.status = status;
  res.body = std::move(body);
  res.content_type = std::move(content_type);
  return res;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string percent_decode(std::string_view text, bool form) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(form && c == '+' ? ' ' : c);
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key = percent_decode(pair.substr(0, eq), true);
    std::string value = eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), true);
    out[std::move(key)] = std::move(value);
  }
  return out;
}

Result<Json> parse_client_json(std::string_view text) {
  if (!json_depth_within(text)) {
    return fail(Code::kInvalidJson,
                "JSON 嵌套过深（JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels）",
                Json{{"max_depth", kMaxJsonDepth}});
  }
  // A key given twice in one object is refused: with the last one winning, a body could say
  // one thing to a reader (a proxy, an audit) and another to us.
  std::vector<std::vector<std::string>> keys;  // of each object being parsed, innermost last
  bool duplicate = false;
  auto on_token = [&](int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start: keys.emplace_back(); break;
      case Json::parse_event_t::object_end: if (!keys.empty()) keys.pop_back(); break;
      case Json::parse_event_t::key: {
        if (keys.empty() || !parsed.is_string()) break;
        const std::string& key = parsed.get_ref<const std::string&>();
        auto& seen = keys.back();
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) duplicate = true;
        seen.push_back(key);
        break;
      }
      default: break;
    }
    return true;
  };
  Json value = Json::parse(text.begin(), text.end(), on_token, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return fail(Code::kInvalidJson, "请求体不是合法的 JSON（request body is not valid JSON）");
  }
  if (duplicate) {
    return fail(Code::kInvalidJson, "JSON 对象中有重复的键（a JSON object repeats a key）");
  }
  return value;
}

std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

namespace {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  for (char c : value) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  out.append("\r\n");
}

// Every response, the API's too: the console's content policy, no MIME sniffing, no referrer to
// other sites.
void append_security_fields(std::string& out) {
  append_field(out, "Content-Security-Policy", kContentSecurityPolicy);
  append_field(out, "X-Content-Type-Options", "nosniff");
  append_field(out, "Referrer-Policy", "same-origin");
}

}  // namespace

std::string response_head(const Response& res, unsigned version, bool keep_alive) {
  std::string out;
  out.reserve(512);
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  out.append(std::to_string(res.status));
  out.push_back(' ');
  out.append(reason_phrase(res.status));
  out.append("\r\n");
  append_field(out, "Server", "pioneer");
  if (!res.content_type.empty()) append_field(out, "Content-Type", res.content_type);
  append_security_fields(out);
  for (const auto& [name, value] : res.headers) append_field(out, name, value);
  if (version == 10 && keep_alive) append_field(out, "Connection", "keep-alive");
  if (version != 10 && !keep_alive) append_field(out, "Connection", "close");
  // 204 has no body and no Content-Length (RFC 9110 §8.6).
  if (res.status != 204) append_field(out, "Content-Length", std::to_string(res.body.size()));
  out.append("\r\n");
  return out;
}

std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t end = header.find(';');
    std::string_view pair = header.substr(0, end);
    header = end == std::string_view::npos ? std::string_view{} : header.substr(end + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    std::string_view value = pair.substr(eq + 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return value;
  }
  return {};
}

std::string session_cookie_header(std::string_view token, bool tls) {
  std::string out(kSessionCookie);
  out.append("=").append(token).append("; HttpOnly; SameSite=Strict; Path=/");
  if (token.empty()) out.append("; Max-Age=0");
  if (tls) out.append("; Secure");
  return out;
}

}  // namespace pioneer::api
