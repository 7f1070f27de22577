// A small blocking HTTP/1.1 client for the command-line tools that talk to a running server
// (`pioneer user revoke --server URL --token ADMIN_TOKEN --id USER`), on Beast's HTTP client
// (and its TLS stream for https://; Beast is compiled once, in asio_impl.cc, and its templates
// for the client only in admin_client.cc). Over TLS the server's certificate is verified
// (against `ca_file`, or the system's trusted roots) and must name the URL's host or IP address.
//
// One request per connection ("Connection: close"); every step is bounded by `timeout`.
// Thread-safe: keeps no state between calls. The token is sent in the Authorization header
// and never written anywhere else.
#pragma once

#include <chrono>
#include <string>

namespace pioneer::api {

struct ClientReply {
  int status = 0;       // the HTTP status; 0 when there was no answer (see error)
  std::string body;     // the response body (de-chunked)
  std::string error;    // "" on an answer; else what went wrong (bad URL, refused, timeout...)
};

// Sends METHOD base_url+target with an optional bearer token and JSON body. `base_url` is
// "http://HOST[:PORT]" (an optional trailing '/' or path prefix is kept before `target`).
// "https://..." speaks TLS. Returns the status and body of any answer, including 4xx/5xx;
// error is set only when no HTTP answer was read (unparsable URL, connection refused, an
// untrusted certificate, timeout, bad reply).
ClientReply http_call(const std::string& base_url, const std::string& method, const std::string& target,
                      const std::string& token, const std::string& body,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10), const std::string& ca_file = "");

// POST /api/v1/users/{user_id}/revoke-tokens as the holder of `admin_token`: 200 with
// {"user","revoked"}, 403 when the token is not an administrator's, 404 for an unknown user,
// 401 for a bad token. The user id is percent-encoded into the path.
ClientReply revoke_user_tokens(const std::string& base_url, const std::string& admin_token,
                               const std::string& user_id,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10),
                               const std::string& ca_file = "");

}  // namespace pioneer::api
