#include "tests/api/test_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace pioneer::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

Json HttpResult::json() const { return Json::parse(body, nullptr, false); }

std::string HttpResult::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

// ---------------------------------------------------------------- server process

ServerProcess::ServerProcess(std::vector<std::string> extra, std::string reuse_dir, unsigned long open_files) {
  if (reuse_dir.empty()) {
    char tmpl[] = "/tmp/pioneer-api-XXXXXX";
    if (!mkdtemp(tmpl)) return;
    dir_ = tmpl;
    owns_dir_ = true;
  } else {
    dir_ = reuse_dir;
  }
  std::vector<std::string> args = {PIONEER_BINARY, "serve",  "--data", data_dir(), "--listen",
                                   "127.0.0.1:0",  "--demo", "--workflows",
                                   std::string(PIONEER_SOURCE_DIR) + "/workflows"};
  args.insert(args.end(), extra.begin(), extra.end());
  int out[2];
  if (pipe(out) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    if (open_files != 0) {
      rlimit limit{open_files, open_files};
      if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(126);
    }
    dup2(out[1], 1);
    int err = open((dir_ + "/server.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err >= 0) dup2(err, 2);
    close(out[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  stdout_fd_ = out[0];
  // Wait for "listening on http://HOST:PORT".
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char c;
    if (read(stdout_fd_, &c, 1) != 1) break;  // exited before listening
    if (c != '\n') {
      line.push_back(c);
      continue;
    }
    for (const std::string prefix : {"listening on http://", "listening on https://"}) {
      if (line.rfind(prefix, 0) == 0) {
        port_ = static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
        tls_ = prefix.find("https") != std::string::npos;
      }
    }
    if (port_) break;
    line.clear();
  }
  if (!port_) return;
  std::ifstream in(data_dir() + "/demo-tokens.json");
  Json tokens = Json::parse(in, nullptr, false);
  if (tokens.is_object() && tokens.contains("users")) {
    for (const auto& u : tokens["users"]) {
      tokens_[u.value("id", "")] = u.value("token", "");
      passwords_[u.value("id", "")] = u.value("password", "");
    }
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop();
  if (stdout_fd_ >= 0) close(stdout_fd_);
  // Keep the folder (data and server.log) when a test failed, for the post-mortem.
  if (owns_dir_ && !::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);
}

std::string ServerProcess::token(const std::string& user) const {
  auto it = tokens_.find(user);
  return it == tokens_.end() ? "" : it->second;
}

std::string ServerProcess::password(const std::string& user) const {
  auto it = passwords_.find(user);
  return it == passwords_.end() ? "" : it->second;
}

int ServerProcess::stop(std::chrono::milliseconds limit) {
  if (pid_ <= 0) return exit_code_;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(10ms);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

std::string ServerProcess::log() const {
  std::ifstream in(dir_ + "/server.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---------------------------------------------------------------- HTTP

namespace {
tcp::endpoint local(uint16_t port) { return {net::ip::make_address("127.0.0.1"), port}; }

bhttp::request<bhttp::string_body> make_request(const std::string& method, const std::string& target,
                                                const std::string& token, const std::string& body,
                                                const std::map<std::string, std::string>& headers) {
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  req.set(bhttp::field::connection, "close");
  if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == "POST") {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  return req;
}

// Copies status, headers (names lowercased) and body of a parsed response.
void take_response(bhttp::response_parser<bhttp::string_body>& parser, HttpResult& result) {
  auto& res = parser.get();
  result.status = res.result_int();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    result.headers[name] = std::string(f.value());
  }
  result.body = res.body();
}
}  // namespace

struct HttpConnection::Impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  bool open = false;
};

HttpConnection::HttpConnection(uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->stream.expires_after(timeout);
  impl_->stream.async_connect(local(port), [this](beast::error_code ec) { impl_->open = !ec; });
  impl_->ioc.run();
}

HttpConnection::~HttpConnection() = default;

HttpResult HttpConnection::request(const std::string& method, const std::string& target,
                                   const std::string& token, const std::string& body,
                                   const std::map<std::string, std::string>& headers,
                                   std::chrono::milliseconds timeout) {
  HttpResult result;
  if (!impl_->open) return result;
  std::map<std::string, std::string> fields{{"Connection", "keep-alive"}};
  for (const auto& [k, v] : headers) fields[k] = v;
  auto req = make_request(method, target, token, body, fields);
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64u << 20);
  impl_->stream.expires_after(timeout);
  bhttp::async_write(impl_->stream, req, [&](beast::error_code ec, size_t) {
    if (ec) return;
    bhttp::async_read(impl_->stream, impl_->buffer, parser, [&](beast::error_code ec, size_t) {
      if (!ec) take_response(parser, result);
    });
  });
  impl_->ioc.restart();
  impl_->ioc.run();
  if (result.status == 0 || result.header("connection") == "close") impl_->open = false;
  return result;
}

HttpResult http(uint16_t port, const std::string& method, const std::string& target,
                const std::string& token, const std::string& body,
                const std::map<std::string, std::string>& headers,
                std::chrono::milliseconds timeout) {
  std::map<std::string, std::string> fields{{"Connection", "close"}};
  for (const auto& [k, v] : headers) fields[k] = v;
  return HttpConnection(port, timeout).request(method, target, token, body, fields, timeout);
}

namespace {
std::unique_ptr<net::ssl::context> client_context(const std::string& ca_file) {
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
  if (ca_file.empty()) {
    ctx->set_verify_mode(net::ssl::verify_none);
  } else {
    beast::error_code ec;
    ctx->load_verify_file(ca_file, ec);
    ctx->set_verify_mode(net::ssl::verify_peer);
  }
  return ctx;
}
}  // namespace

HttpResult https(uint16_t port, const std::string& ca_file, const std::string& method,
                 const std::string& target, const std::string& token, const std::string& body,
                 std::chrono::milliseconds timeout) {
  HttpResult result;
  net::io_context ioc;
  auto ctx = client_context(ca_file);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, *ctx);
  beast::flat_buffer buffer;
  auto req = make_request(method, target, token, body, {});
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64u << 20);
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(timeout);
  lowest.async_connect(local(port), [&](beast::error_code ec) {
    if (ec) return;
    stream.async_handshake(net::ssl::stream_base::client, [&](beast::error_code ec) {
      if (ec) return;
      bhttp::async_write(stream, req, [&](beast::error_code ec, size_t) {
        if (ec) return;
        bhttp::async_read(stream, buffer, parser, [&](beast::error_code ec, size_t) {
          if (!ec) take_response(parser, result);
        });
      });
    });
  });
  ioc.run();
  return result;
}

std::string raw_exchange(uint16_t port, const std::string& bytes, std::chrono::milliseconds timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  std::string received;
  std::array<char, 65536> chunk;
  std::function<void()> read_more = [&] {
    stream.async_read_some(net::buffer(chunk), [&](beast::error_code ec, size_t n) {
      received.append(chunk.data(), n);
      if (!ec) read_more();
    });
  };
  stream.expires_after(timeout);
  stream.async_connect(local(port), [&](beast::error_code ec) {
    if (ec) return;
    read_more();  // read while writing: the server may answer before the body is sent
    net::async_write(stream, net::buffer(bytes), [](beast::error_code, size_t) {});
  });
  ioc.run();
  return received;
}

bool closed_by_server(uint16_t port, const std::string& bytes, std::chrono::milliseconds within) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  bool closed = false;
  std::array<char, 4096> chunk;
  std::function<void()> read_more = [&] {
    stream.async_read_some(net::buffer(chunk), [&](beast::error_code ec, size_t) {
      if (ec == beast::error::timeout) return;  // still open when our patience ran out
      if (ec) {
        closed = true;
        return;
      }
      read_more();
    });
  };
  stream.expires_after(within);
  stream.async_connect(local(port), [&](beast::error_code ec) {
    if (ec) return;
    net::async_write(stream, net::buffer(bytes), [&](beast::error_code ec, size_t) {
      if (!ec) read_more();
    });
  });
  ioc.run();
  return closed;
}

HttpResult Api::get(const std::string& user, const std::string& target) const {
  return http(server_.port(), "GET", target, user.empty() ? "" : server_.token(user));
}

HttpResult Api::post(const std::string& user, const std::string& target, const Json& body,
                     const std::map<std::string, std::string>& headers) const {
  return post_raw(user, target, body.dump(), headers);
}

HttpResult Api::post_raw(const std::string& user, const std::string& target, const std::string& body,
                         const std::map<std::string, std::string>& headers) const {
  return http(server_.port(), "POST", target, user.empty() ? "" : server_.token(user), body, headers);
}

HttpResult Api::fire(const std::string& user, const std::string& id, const std::string& transition,
                     const Json& fields, const std::string& comment) const {
  Json body{{"transition", transition}, {"fields", fields}};
  if (!comment.empty()) body["comment"] = comment;
  return post(user, "/api/v1/instances/" + id + "/transitions", body);
}

// ---------------------------------------------------------------- WebSocket

// Holds a plain or a TLS WebSocket; with() calls a generic function on the one in use.
struct WsClient::Impl {
  net::io_context ioc;
  std::unique_ptr<net::ssl::context> tls;
  std::optional<websocket::stream<beast::tcp_stream>> plain;
  std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> secure;
  beast::flat_buffer buffer;
  bool open = false;
  int close_code = 0;

  template <class F>
  auto with(F&& f) {
    return secure ? f(*secure) : f(*plain);
  }
};

WsClient::WsClient() : impl_(std::make_unique<Impl>()) { impl_->plain.emplace(impl_->ioc); }
WsClient::WsClient(const std::string& tls_ca_file) : impl_(std::make_unique<Impl>()) {
  impl_->tls = client_context(tls_ca_file);
  impl_->secure.emplace(impl_->ioc, *impl_->tls);
}
WsClient::~WsClient() { close(); }

namespace {

template <class Ws>
int connect_ws(WsClient::Impl& s, Ws& ws, uint16_t port, const std::string& target, const std::string& token,
               int receive_buffer, const std::map<std::string, std::string>& headers) {
  auto& lowest = beast::get_lowest_layer(ws);
  beast::error_code ec;
  lowest.socket().open(tcp::v4(), ec);
  if (receive_buffer > 0) lowest.socket().set_option(net::socket_base::receive_buffer_size(receive_buffer), ec);
  lowest.expires_after(10s);
  websocket::response_type res;
  int status = 0;
  auto upgrade = [&] {
    ws.set_option(websocket::stream_base::decorator([token, headers](websocket::request_type& req) {
      if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
      for (const auto& [name, value] : headers) req.set(name, value);
    }));
    ws.async_handshake(res, "127.0.0.1", target, [&](beast::error_code ec) {
      status = res.result_int();
      if (!ec) s.open = true;
    });
  };
  lowest.async_connect(local(port), [&](beast::error_code ec) {
    if (ec) return;
    if constexpr (requires { ws.next_layer().async_handshake(net::ssl::stream_base::client, [](beast::error_code) {}); }) {
      ws.next_layer().async_handshake(net::ssl::stream_base::client, [&](beast::error_code ec) {
        if (!ec) upgrade();
      });
    } else {
      upgrade();
    }
  });
  s.ioc.run();
  s.ioc.restart();
  lowest.expires_never();
  return s.open ? 101 : status;
}

}  // namespace

int WsClient::connect(uint16_t port, const std::string& target, const std::string& token,
                      int receive_buffer, const std::map<std::string, std::string>& headers) {
  return impl_->with([&](auto& ws) { return connect_ws(*impl_, ws, port, target, token, receive_buffer, headers); });
}

std::optional<Json> WsClient::read(std::chrono::milliseconds timeout) {
  auto& s = *impl_;
  if (!s.open) return std::nullopt;
  std::optional<Json> out;
  s.with([&](auto& ws) {
    beast::get_lowest_layer(ws).expires_after(timeout);
    ws.async_read(s.buffer, [&](beast::error_code ec, size_t) {
      if (ec) {
        s.open = false;
        // The close frame's code, whatever the teardown after it reported.
        s.close_code = ws.reason().code;
        return;
      }
      out = Json::parse(beast::buffers_to_string(s.buffer.data()), nullptr, false);
      s.buffer.consume(s.buffer.size());
    });
    s.ioc.run();
    s.ioc.restart();
    if (s.open) beast::get_lowest_layer(ws).expires_never();
  });
  return out;
}

std::optional<Json> WsClient::read_until(const std::function<bool(const Json&)>& pred,
                                         std::vector<Json>* seen, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto message = read(left);
    if (!message) return std::nullopt;
    if (seen) seen->push_back(*message);
    if (pred(*message)) return message;
  }
}

bool WsClient::send(const std::string& text) {
  auto& s = *impl_;
  if (!s.open) return false;
  bool ok = false;
  s.with([&](auto& ws) {
    beast::get_lowest_layer(ws).expires_after(10s);
    ws.text(true);
    ws.async_write(net::buffer(text), [&](beast::error_code ec, size_t) { ok = !ec; });
    s.ioc.run();
    s.ioc.restart();
    if (!ok) s.open = false;
    else beast::get_lowest_layer(ws).expires_never();
  });
  return ok;
}

void WsClient::close() {
  auto& s = *impl_;
  if (!s.open) return;
  s.open = false;
  s.with([&](auto& ws) {
    beast::get_lowest_layer(ws).expires_after(2s);
    ws.async_close(websocket::close_code::normal, [](beast::error_code) {});
    s.ioc.run();
    s.ioc.restart();
  });
}

int WsClient::close_code() const { return impl_->close_code; }
bool WsClient::is_open() const { return impl_->open; }

ConfigFile::ConfigFile(const std::string& json) {
  char tmpl[] = "/tmp/pioneer-cfg-XXXXXX";
  dir = mkdtemp(tmpl) ? tmpl : "/tmp";
  path = dir + "/config.json";
  std::ofstream(path) << json;
}

ConfigFile::~ConfigFile() {
  if (dir != "/tmp") std::filesystem::remove_all(dir);
}

}  // namespace pioneer::test
