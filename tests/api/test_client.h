// A small synchronous client for the end-to-end API tests: starts the real `pioneer` binary,
// speaks HTTP/1.1 and WebSocket to it. Only test_client.cc includes Beast.
//
// Every network call has a timeout, so a server that hangs fails the test instead of hanging
// it. Not thread-safe: one client object per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pioneer::test {

using Json = nlohmann::json;
using namespace std::chrono_literals;

struct HttpResult {
  int status = 0;  // 0: no answer (connection failed, reset or timed out)
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  Json json() const;  // the body parsed; null when it is not JSON
  std::string header(const std::string& lower_name) const;
};

// The code of an error answer ({"error": {"code": ...}}); "" for any other body.
inline std::string error_code(const HttpResult& r) {
  Json j = r.json();
  return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
}

// `pioneer serve --data <fresh dir> --listen 127.0.0.1:0 --demo --workflows <src>/workflows`
// plus `extra` arguments, stderr captured to <dir>/server.log.
class ServerProcess {
 public:
  // reuse_dir: the folder of an earlier ServerProcess (same data, left in place afterwards).
  // open_files: when not 0, the server runs with this open-files limit (soft and hard, as
  // `prlimit --nofile=N:N`), so it cannot raise it.
  explicit ServerProcess(std::vector<std::string> extra = {}, std::string reuse_dir = "", unsigned long open_files = 0);
  ~ServerProcess();  // SIGTERM and wait, if still running; removes the temp dir
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool started() const { return port_ != 0; }
  bool tls() const { return tls_; }  // it printed "listening on https://..."
  uint16_t port() const { return port_; }
  int pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  std::string data_dir() const { return dir_ + "/data"; }
  // The demo token of a user (from demo-tokens.json); "" when unknown.
  std::string token(const std::string& user) const;
  // The demo password of a user (from demo-tokens.json); "" when unknown.
  std::string password(const std::string& user) const;
  // SIGTERM; waits up to `limit`; returns the exit code, or -1 on a timeout or a crash.
  // Once stopped, returns the same code again.
  int stop(std::chrono::milliseconds limit = 20s);
  std::string log() const;  // what the server wrote to stderr

 private:
  int pid_ = -1;
  int exit_code_ = -1;
  int stdout_fd_ = -1;
  uint16_t port_ = 0;
  bool tls_ = false;
  std::string dir_;
  bool owns_dir_ = false;
  std::map<std::string, std::string> tokens_;
  std::map<std::string, std::string> passwords_;
};

// One request on a fresh connection ("Connection: close").
HttpResult http(uint16_t port, const std::string& method, const std::string& target,
                const std::string& token = "", const std::string& body = "",
                const std::map<std::string, std::string>& headers = {},
                std::chrono::milliseconds timeout = 15s);

// Several requests on one keep-alive connection, as a browser tab or a proxy sends them. The
// connection is opened by the constructor; a request after the server closed it answers
// status 0.
class HttpConnection {
 public:
  explicit HttpConnection(uint16_t port, std::chrono::milliseconds connect_timeout = 15s);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;
  // Connection: keep-alive unless `headers` says otherwise.
  HttpResult request(const std::string& method, const std::string& target, const std::string& token = "",
                     const std::string& body = "", const std::map<std::string, std::string>& headers = {},
                     std::chrono::milliseconds timeout = 15s);

  struct Impl;  // public so that the .cc's helpers can name it; opaque here

 private:
  std::unique_ptr<Impl> impl_;
};

// The same over TLS. The server's certificate is verified against `ca_file` (the self-signed
// certificate itself in the tests); status 0 when the handshake or anything after it fails.
HttpResult https(uint16_t port, const std::string& ca_file, const std::string& method,
                 const std::string& target, const std::string& token = "", const std::string& body = "",
                 std::chrono::milliseconds timeout = 15s);

// Writes raw bytes, then reads until the server closes or `timeout`; returns what was read.
// For requests no ordinary client would send (oversized, malformed, slow).
std::string raw_exchange(uint16_t port, const std::string& bytes, std::chrono::milliseconds timeout = 10s);

// Opens a connection and sends `bytes`, then waits without sending more; returns true when
// the server closed the connection within `within` (slowloris / idle timeouts).
bool closed_by_server(uint16_t port, const std::string& bytes, std::chrono::milliseconds within);

// Requests as a demo user of a running server (user "" sends no token).
class Api {
 public:
  explicit Api(const ServerProcess& server) : server_(server) {}
  HttpResult get(const std::string& user, const std::string& target) const;
  HttpResult post(const std::string& user, const std::string& target, const Json& body,
                  const std::map<std::string, std::string>& headers = {}) const;
  HttpResult post_raw(const std::string& user, const std::string& target, const std::string& body,
                      const std::map<std::string, std::string>& headers = {}) const;
  // POST .../transitions; fields and comment only when given.
  HttpResult fire(const std::string& user, const std::string& id, const std::string& transition,
                  const Json& fields = Json::object(), const std::string& comment = "") const;

 private:
  const ServerProcess& server_;
};

class WsClient {
 public:
  WsClient();
  // A WSS client verifying the server against `ca_file`.
  explicit WsClient(const std::string& tls_ca_file);
  ~WsClient();
  // Handshake on `target`; `token` goes into the Authorization header when not empty.
  // Returns 101 on success, else the HTTP status of the refusal (0 when no answer).
  // receive_buffer > 0 shrinks the socket's receive buffer first (to make a slow reader).
  // `headers` are added to the upgrade request (Cookie, Origin).
  int connect(uint16_t port, const std::string& target, const std::string& token = "",
              int receive_buffer = 0, const std::map<std::string, std::string>& headers = {});
  // The next text message as JSON; nullopt on timeout, close or error (see close_code()).
  std::optional<Json> read(std::chrono::milliseconds timeout = 10s);
  // Reads until a message satisfies `pred`, collecting every message read in `seen`.
  std::optional<Json> read_until(const std::function<bool(const Json&)>& pred,
                                 std::vector<Json>* seen = nullptr,
                                 std::chrono::milliseconds timeout = 10s);
  bool send(const std::string& text);
  void close();
  // The close code the server sent (0 when none was received).
  int close_code() const;
  bool is_open() const;

 struct Impl;  // public so that the .cc's helpers can name it; opaque here

 private:
  std::unique_ptr<Impl> impl_;
};

// A temporary folder holding a config.json for `pioneer serve --config`; removed on destruction.
struct ConfigFile {
  explicit ConfigFile(const std::string& json);
  ~ConfigFile();
  ConfigFile(const ConfigFile&) = delete;
  ConfigFile& operator=(const ConfigFile&) = delete;
  std::string dir, path;
};

}  // namespace pioneer::test
