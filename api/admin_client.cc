#include "api/admin_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace pioneer::api {

namespace {

using Clock = std::chrono::steady_clock;

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

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  while (true) {
    int left = remaining_ms(deadline);
    if (left == 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, left);
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

int connect_to(const Url& url, Clock::time_point deadline, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found); rc != 0) {
    error = "cannot resolve " + url.host + ": " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  error = "cannot connect to " + url.host + ":" + url.port;
  for (addrinfo* a = found; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (wait_for(fd, POLLOUT, deadline)) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        rc = so_error == 0 ? 0 : -1;
        if (so_error) error += std::string(": ") + std::strerror(so_error);
      } else {
        error += ": timed out";
      }
    } else if (rc != 0) {
      error += std::string(": ") + std::strerror(errno);
    }
    if (rc == 0) break;
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd >= 0) error.clear();
  return fd;
}

// A connection: the socket, and the TLS session over it for https://. Owns both.
struct Channel {
  int fd = -1;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;

  Channel() = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel() {
    if (ssl != nullptr) SSL_free(ssl);
    if (ctx != nullptr) SSL_CTX_free(ctx);
    if (fd >= 0) ::close(fd);
  }
};

// Repeats one OpenSSL call on the non-blocking socket until it does something, waiting for the
// socket as OpenSSL asks. Returns the call's positive result, 0 at the end of the stream, -1 on
// an error or at the deadline.
template <class Call>
int tls_step(const Channel& c, Clock::time_point deadline, Call call) {
  while (true) {
    ERR_clear_error();
    const int r = call();
    if (r > 0) return r;
    switch (SSL_get_error(c.ssl, r)) {
      case SSL_ERROR_WANT_READ:
        if (!wait_for(c.fd, POLLIN, deadline)) return -1;
        break;
      case SSL_ERROR_WANT_WRITE:
        if (!wait_for(c.fd, POLLOUT, deadline)) return -1;
        break;
      case SSL_ERROR_ZERO_RETURN:
        return 0;
      default:
        return -1;
    }
  }
}

std::string tls_error_text() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += out.empty() ? "" : "; ";
    out += buf;
  }
  return out;
}

// The TLS handshake, with the server's certificate checked against `ca_file` (or the system's
// trusted roots when empty) and against the host named in the URL.
bool start_tls(Channel& c, const Url& url, const std::string& ca_file, Clock::time_point deadline,
               std::string& error) {
  c.ctx = SSL_CTX_new(TLS_client_method());
  if (c.ctx == nullptr) {
    error = "cannot set up TLS: " + tls_error_text();
    return false;
  }
  SSL_CTX_set_min_proto_version(c.ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(c.ctx, SSL_VERIFY_PEER, nullptr);
  // The answer is framed by Content-Length (checked), so a close without close_notify is an end.
  SSL_CTX_set_options(c.ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  const int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(c.ctx)
                                     : SSL_CTX_load_verify_locations(c.ctx, ca_file.c_str(), nullptr);
  // --ca may name the server's own certificate even when a CA issued it: what the operator
  // trusts is an anchor, not only a self-signed root.
  if (!ca_file.empty()) X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(c.ctx), X509_V_FLAG_PARTIAL_CHAIN);
  if (loaded != 1) {
    error = "cannot load the trusted certificates" + (ca_file.empty() ? std::string() : " from " + ca_file) + ": " +
            tls_error_text();
    return false;
  }
  c.ssl = SSL_new(c.ctx);
  if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) {
    error = "cannot set up TLS: " + tls_error_text();
    return false;
  }
  unsigned char ip[sizeof(in6_addr)];
  const bool is_ip = ::inet_pton(AF_INET, url.host.c_str(), ip) == 1 || ::inet_pton(AF_INET6, url.host.c_str(), ip) == 1;
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), url.host.c_str());
  } else {
    SSL_set_tlsext_host_name(c.ssl, url.host.c_str());
    SSL_set1_host(c.ssl, url.host.c_str());
  }
  if (tls_step(c, deadline, [&] { return SSL_connect(c.ssl); }) <= 0) {
    const long verify = SSL_get_verify_result(c.ssl);
    error = "TLS handshake with " + url.host + ":" + url.port + " failed";
    if (verify != X509_V_OK) {
      error += ": the server's certificate is not trusted (" + std::string(X509_verify_cert_error_string(verify)) +
               (ca_file.empty() ? "; give its CA with --ca FILE)" : ")");
    } else if (std::string text = tls_error_text(); !text.empty()) {
      error += ": " + text;
    } else if (remaining_ms(deadline) == 0) {
      error += ": timed out";
    }
    return false;
  }
  return true;
}

bool send_all(const Channel& c, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    if (c.ssl != nullptr) {
      const int n = tls_step(c, deadline, [&] { return SSL_write(c.ssl, data.data(), static_cast<int>(data.size())); });
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    ssize_t n = ::send(c.fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_for(c.fd, POLLOUT, deadline)) continue;
    return false;
  }
  return true;
}

// Reads until the peer closes (we asked for Connection: close), the reply is complete by its
// Content-Length, or the deadline.
bool read_all(const Channel& c, std::string& out, Clock::time_point deadline) {
  char chunk[16384];
  while (out.size() < kMaxReply) {
    if (c.ssl != nullptr) {
      const int n = tls_step(c, deadline, [&] { return SSL_read(c.ssl, chunk, sizeof chunk); });
      if (n > 0) {
        out.append(chunk, static_cast<size_t>(n));
        continue;
      }
      return n == 0 || !out.empty();  // as below: what arrived is parsed
    }
    ssize_t n = ::recv(c.fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      out.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return true;
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_for(c.fd, POLLIN, deadline)) continue;
    // A reset after a complete answer still counts: the caller parses what arrived.
    return !out.empty();
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::string> dechunk(std::string_view in) {
  std::string out;
  while (true) {
    size_t eol = in.find("\r\n");
    if (eol == std::string_view::npos) return std::nullopt;
    size_t size = 0;
    std::string_view hex = in.substr(0, eol);
    if (size_t semi = hex.find(';'); semi != std::string_view::npos) hex = hex.substr(0, semi);
    if (hex.empty()) return std::nullopt;
    for (char c : hex) {
      int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (v < 0 || size > (kMaxReply >> 4)) return std::nullopt;
      size = size * 16 + static_cast<size_t>(v);
    }
    in.remove_prefix(eol + 2);
    if (size == 0) return out;
    if (in.size() < size + 2) return std::nullopt;
    out.append(in.substr(0, size));
    in.remove_prefix(size + 2);
  }
}

bool parse_reply(const std::string& raw, ClientReply& reply) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || !raw.starts_with("HTTP/1.")) return false;
  size_t sp = raw.find(' ');
  if (sp == std::string::npos || sp + 4 > end) return false;
  int status = 0;
  for (size_t i = sp + 1; i < sp + 4; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(raw[i]))) return false;
    status = status * 10 + (raw[i] - '0');
  }
  std::optional<size_t> length;
  bool chunked = false;
  size_t line = raw.find("\r\n") + 2;
  while (line < end) {
    size_t eol = raw.find("\r\n", line);
    std::string_view field(raw.data() + line, eol - line);
    line = eol + 2;
    size_t colon = field.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name = lower(field.substr(0, colon));
    std::string_view value = field.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (name == "content-length") {
      size_t n = 0;
      for (char c : value) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
        n = n * 10 + static_cast<size_t>(c - '0');
        if (n > kMaxReply) return false;
      }
      length = n;
    } else if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) {
      chunked = true;
    }
  }
  std::string_view body(raw.data() + end + 4, raw.size() - end - 4);
  if (chunked) {
    auto plain = dechunk(body);
    if (!plain) return false;
    reply.body = std::move(*plain);
  } else if (length) {
    if (body.size() < *length) return false;
    reply.body = std::string(body.substr(0, *length));
  } else {
    reply.body = std::string(body);
  }
  reply.status = status;
  return true;
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
  const auto deadline = Clock::now() + timeout;
  Channel channel;
  channel.fd = connect_to(*url, deadline, reply.error);
  if (channel.fd < 0) return reply;
  if (url->tls && !start_tls(channel, *url, ca_file, deadline, reply.error)) return reply;

  std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
  std::string request = method + " " + url->prefix + target + " HTTP/1.1\r\n";
  request += "Host: " + host + ":" + url->port + "\r\n";
  request += "Connection: close\r\nUser-Agent: pioneer-cli\r\nAccept: application/json\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n";
  request += body;

  std::string raw;
  if (!send_all(channel, request, deadline)) {
    reply.error = "sending the request failed or timed out";
  } else if (!read_all(channel, raw, deadline) && raw.empty()) {
    reply.error = "no answer from the server (timed out or connection reset)";
  } else if (!parse_reply(raw, reply)) {
    reply.status = 0;
    reply.body.clear();
    reply.error = raw.empty() ? "the server closed the connection without answering"
                              : "the server's answer is not a complete HTTP response";
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
