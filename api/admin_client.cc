#include "api/admin_client.h"

#include <cctype>
#include <optional>
#include <string_view>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/x509_vfy.h>

namespace pioneer::api {

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr size_t kMaxReply = 64u << 20;

struct Url {
  bool tls = false;
  std::string host;
  std::string port = "80";
  std::string prefix;  // path before the target, without a trailing '/'
};

std::optional<Url> parse_url(std::string_view url, std::string& error) {
  Url out;
  if (url.starts_with("https://")) {
    out.tls = true;
    out.port = "443";
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    error = "the server URL must start with http:// or https://";
    return std::nullopt;
  }
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    out.prefix = std::string(url.substr(slash));
    while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  }
  std::string_view port;
  if (authority.starts_with("[")) {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "bad IPv6 address in the server URL";
      return std::nullopt;
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (rest.starts_with(":")) port = rest.substr(1);
    else if (!rest.empty()) {
      error = "bad server URL";
      return std::nullopt;
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (!port.empty()) {
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        error = "bad port in the server URL";
        return std::nullopt;
      }
    }
    out.port = std::string(port);
  }
  if (out.host.empty()) {
    error = "no host in the server URL";
    return std::nullopt;
  }
  return out;
}

// Runs one asynchronous step to its end on the call's own io_context. Every step is bounded by
// the deadline the tcp_stream was given, so a silent server ends in beast::error::timeout.
template <class Start>
beast::error_code step(net::io_context& ioc, Start&& start) {
  beast::error_code result = net::error::would_block;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

std::string describe(const beast::error_code& ec) {
  return ec == beast::error::timeout ? std::string("timed out") : ec.message();
}

// Sends the request and reads the answer into reply (or says in reply.error why not).
template <class Stream>
void exchange(net::io_context& ioc, Stream& stream, http::request<http::string_body>& request, ClientReply& reply) {
  if (auto ec = step(ioc, [&](auto handler) { http::async_write(stream, request, handler); })) {
    reply.error = "sending the request failed or timed out (" + describe(ec) + ")";
    return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReply);
  auto ec = step(ioc, [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
  if (ec == http::error::end_of_stream) {
    reply.error = "the server closed the connection without answering";
  } else if (ec == beast::error::timeout || ec == net::error::connection_reset) {
    reply.error = "no answer from the server (timed out or connection reset)";
  } else if (ec) {
    reply.error = "the server's answer is not a complete HTTP response (" + ec.message() + ")";
  } else {
    reply.status = static_cast<int>(parser.get().result_int());
    reply.body = std::move(parser.get().body());
  }
}

// The TLS context: the server's certificate is checked against `ca_file` (or the system's
// trusted roots when empty).
std::optional<ssl::context> client_context(const std::string& ca_file, std::string& error) {
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  // The answer is framed by Content-Length or chunks, so a close without close_notify is an end.
  SSL_CTX_set_options(ctx.native_handle(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  ctx.set_verify_mode(ssl::verify_peer);
  beast::error_code ec;
  if (ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(ca_file, ec);
    // --ca may name the server's own certificate even when a CA issued it: what the operator
    // trusts is an anchor, not only a self-signed root.
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx.native_handle()), X509_V_FLAG_PARTIAL_CHAIN);
  }
  if (ec) {
    error = "cannot load the trusted certificates" + (ca_file.empty() ? std::string() : " from " + ca_file) + ": " +
            ec.message();
    return std::nullopt;
  }
  return ctx;
}

// The handshake over a connected stream: SNI for a host name, and the certificate must name
// the URL's host or IP address (ssl::host_name_verification).
bool handshake(net::io_context& ioc, beast::ssl_stream<beast::tcp_stream>& stream, const Url& url,
               const std::string& ca_file, std::string& error) {
  beast::error_code not_ip;
  net::ip::make_address(url.host, not_ip);
  if (not_ip) SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
  bool wrong_name = false;
  stream.set_verify_callback([check = ssl::host_name_verification(url.host), &wrong_name](bool preverified,
                                                                                          ssl::verify_context& ctx) {
    const bool ok = check(preverified, ctx);
    if (preverified && !ok) wrong_name = true;
    return ok;
  });
  auto ec = step(ioc, [&](auto handler) { stream.async_handshake(ssl::stream_base::client, handler); });
  if (!ec) return true;
  error = "TLS handshake with " + url.host + ":" + url.port + " failed";
  const long verify = SSL_get_verify_result(stream.native_handle());
  const std::string hint = ca_file.empty() ? "; give its CA with --ca FILE)" : ")";
  if (verify != X509_V_OK) {
    error += ": the server's certificate is not trusted (" + std::string(X509_verify_cert_error_string(verify)) + hint;
  } else if (wrong_name) {
    error += ": the server's certificate is not trusted (it does not name " + url.host + hint;
  } else {
    error += ": " + describe(ec);
  }
  return false;
}

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

std::string percent_encode_segment(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

http::request<http::string_body> make_request(const Url& url, const std::string& method, const std::string& target,
                                              const std::string& token, const std::string& body) {
  http::request<http::string_body> request;
  request.method_string(method);
  request.target(url.prefix + target);
  request.version(11);
  const std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  request.set(http::field::host, host + ":" + url.port);
  request.set(http::field::connection, "close");
  request.set(http::field::user_agent, "pioneer-cli");
  request.set(http::field::accept, "application/json");
  if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
  if (!body.empty() || method == "POST" || method == "PUT") {
    request.set(http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
  }
  return request;
}

}  // namespace

ClientReply http_call(const std::string& base_url, const std::string& method, const std::string& target,
                      const std::string& token, const std::string& body, std::chrono::milliseconds timeout,
                      const std::string& ca_file) {
  ClientReply reply;
  auto url = parse_url(base_url, reply.error);
  if (!url) return reply;
  if (has_line_break(method) || has_line_break(target) || has_line_break(token) || method.empty() ||
      !target.starts_with("/")) {
    reply.error = "bad method, target or token";
    return reply;
  }
  if (!ca_file.empty() && !url->tls) {
    reply.error = "--ca applies to an https:// server only";
    return reply;
  }
  std::optional<ssl::context> ctx;
  if (url->tls && !(ctx = client_context(ca_file, reply.error))) return reply;
  net::io_context ioc;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  auto resolved = step(ioc, [&](auto handler) {
    resolver.async_resolve(url->host, url->port, [&endpoints, handler](beast::error_code ec, tcp::resolver::results_type r) {
      endpoints = std::move(r);
      handler(ec);
    });
  });
  if (resolved) {
    reply.error = "cannot resolve " + url->host + ": " + describe(resolved);
    return reply;
  }
  auto request = make_request(*url, method, target, token, body);
  auto connect = [&](beast::tcp_stream& tcp) {
    tcp.expires_at(deadline);
    auto ec = step(ioc, [&](auto handler) { tcp.async_connect(endpoints, handler); });
    if (ec) reply.error = "cannot connect to " + url->host + ":" + url->port + ": " + describe(ec);
    return !ec;
  };
  if (!url->tls) {
    beast::tcp_stream stream(ioc);
    if (connect(stream)) exchange(ioc, stream, request, reply);
    return reply;
  }
  beast::ssl_stream<beast::tcp_stream> stream(ioc, *ctx);
  if (connect(beast::get_lowest_layer(stream)) && handshake(ioc, stream, *url, ca_file, reply.error)) {
    exchange(ioc, stream, request, reply);
  }
  return reply;
}

ClientReply revoke_user_tokens(const std::string& base_url, const std::string& admin_token,
                               const std::string& user_id, std::chrono::milliseconds timeout,
                               const std::string& ca_file) {
  return http_call(base_url, "POST", "/api/v1/users/" + percent_encode_segment(user_id) + "/revoke-tokens",
                   admin_token, "{}", timeout, ca_file);
}

}  // namespace pioneer::api
