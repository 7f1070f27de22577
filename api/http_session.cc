// HTTP/1.1 sessions: read a request under limits and timeouts, hand a plain Request to the
// router, write its Response, and hand WebSocket upgrades of the stream route to ws_session.
#include <array>
#include <chrono>
#include <optional>
#include <type_traits>

#include <boost/asio/dispatch.hpp>
#include <boost/range/iterator_range.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "api/handlers.h"
#include "api/router.h"
#include "api/sessions.h"

namespace pioneer::api {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

// Bytes read and thrown away after an error answer, so that the client (which may still be
// sending an oversized body) reads the answer instead of a connection reset.
constexpr size_t kLingerBytes = 4u << 20;
constexpr auto kLingerTime = seconds(2);
constexpr auto kTlsShutdownTime = seconds(2);  // for the peer's close_notify, then plain close

Request to_request(HttpRequest& req, const std::string& remote_address, bool tls) {
  Request out;
  out.method = std::string(req.method_string());
  std::string_view target(req.target().data(), req.target().size());
  size_t q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) out.query = parse_query(target.substr(q + 1));
  if (auto it = req.find(http::field::authorization); it != req.end()) {
    out.authorization = std::string(it->value());
  }
  if (auto it = req.find("Idempotency-Key"); it != req.end()) {
    out.idempotency_key = std::string(it->value());
  }
  if (auto it = req.find(http::field::accept_encoding); it != req.end()) {
    out.accept_encoding = std::string(it->value());
  }
  // The first Cookie field holding the session cookie (a browser sends one Cookie field).
  for (const auto& field : boost::make_iterator_range(req.equal_range(http::field::cookie))) {
    std::string_view value = cookie_value(std::string_view(field.value().data(), field.value().size()), kSessionCookie);
    if (!value.empty()) {
      out.session_cookie = std::string(value);
      break;
    }
  }
  if (auto it = req.find(http::field::origin); it != req.end()) out.origin = std::string(it->value());
  if (auto it = req.find(http::field::host); it != req.end()) out.host = std::string(it->value());
  out.remote_address = remote_address;
  out.tls = tls;
  out.body = std::move(req.body());
  return out;
}

template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  HttpSession(Stream stream, ServerState& state, ConnectionSlot slot, bool refuse)
      : stream_(std::move(stream)), state_(state), slot_(std::move(slot)), refuse_(refuse) {}

  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&HttpSession::start, this->shared_from_this()));
  }

 private:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  auto& lowest() { return beast::get_lowest_layer(stream_); }

  // The peer's IP address, read once ("" when the socket cannot say).
  const std::string& remote_address() {
    if (remote_address_.empty()) {
      beast::error_code ec;
      auto endpoint = lowest().socket().remote_endpoint(ec);
      if (!ec) remote_address_ = endpoint.address().to_string();
    }
    return remote_address_;
  }

  void start() {
    if constexpr (kTls) {
      // The handshake counts as the start of the first request: same deadline, so a client
      // that connects and sends nothing (or plain HTTP) cannot hold the connection.
      lowest().expires_after(seconds(state_.config.request_timeout_s));
      stream_.async_handshake(net::ssl::stream_base::server,
                              beast::bind_front_handler(&HttpSession::on_handshake, this->shared_from_this()));
    } else {
      serve_first();
    }
  }

  void on_handshake(beast::error_code ec) {
    // Not TLS (plain HTTP on the TLS port), a bad version or cipher, or a timeout: there is no
    // channel to answer on, so close. Nothing else is affected.
    if (ec) {
      state_.metrics.tls_handshake_failed();
      return close_socket();
    }
    tls_up_ = true;
    serve_first();
  }

  void serve_first() {
    if (refuse_) {
      // Over max_connections: one short answer, then close. No request is read.
      keep_alive_ = false;
      started_ = Clock::now();
      return answer(error_response(Error::make(
                        Code::kOverloaded, "连接数已达上限（too many connections）")),
                    /*linger=*/true);
    }
    read_request();
  }

  // Between keep-alive requests: the idle timeout runs until the next request's first byte.
  void wait_for_request() {
    if (buffer_.size() > 0) return read_request();  // pipelined bytes already here
    lowest().expires_after(seconds(state_.config.idle_timeout_s));
    stream_.async_read_some(buffer_.prepare(4096),
                            beast::bind_front_handler(&HttpSession::on_first_bytes,
                                                      this->shared_from_this()));
  }

  void on_first_bytes(beast::error_code ec, size_t n) {
    if (ec) return close_now();  // idle timeout, or the client went away
    buffer_.commit(n);
    read_request();
  }

  // The whole request (header and body) must arrive within request_timeout_s (slowloris).
  void read_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_.config.header_limit));
    parser_->body_limit(state_.config.body_limit);
    lowest().expires_after(seconds(state_.config.request_timeout_s));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::on_read, this->shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream) return close_now();
    if (ec == beast::error::timeout) return close_now();
    if (ec == http::error::body_limit) {
      return answer_error(Error::make(Code::kPayloadTooLarge,
                                      "请求体超过上限（request body too large）",
                                      Json{{"limit", state_.config.body_limit}}),
                          413);
    }
    if (ec == http::error::header_limit) {
      return answer_error(Error::make(Code::kBadRequest,
                                      "请求头超过上限（request header fields too large）",
                                      Json{{"limit", state_.config.header_limit}}),
                          431);
    }
    if (ec && ec.category() == beast::error_code(http::error::end_of_stream).category()) {
      return answer_error(Error::make(Code::kBadRequest, "HTTP 请求格式错误（malformed HTTP request）"), 400);
    }
    if (ec) return close_now();
    handle();
  }

  void handle() {
    HttpRequest& req = parser_->get();
    // Beast frames a body only by Content-Length or a final "chunked"; any other
    // Transfer-Encoding would leave the body to be read as the next request (smuggling).
    // RFC 9112 §6.3: answer 400 and close. (Content-Length together with Transfer-Encoding, and
    // differing Content-Lengths, are already refused by the parser.)
    if (req.find(http::field::transfer_encoding) != req.end() && !parser_->chunked()) {
      return answer_error(Error::make(Code::kBadRequest,
                                      "不支持的 Transfer-Encoding（unsupported Transfer-Encoding）"),
                          400);
    }
    // Two Authorization headers: which one wins is up to each hop, so none does.
    if (req.count(http::field::authorization) > 1) {
      return answer_error(Error::make(Code::kBadRequest,
                                      "请求含多个 Authorization 头（more than one Authorization header）"),
                          400);
    }
    started_ = Clock::now();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    method_ = std::string(req.method_string());
    state_.in_flight.fetch_add(1);
    counted_ = true;
    bool upgrade = beast::websocket::is_upgrade(req);
    Request request = to_request(req, remote_address(), kTls);
    if (upgrade) return upgrade_to_stream(std::move(request));
    if (state_.stopping.load()) {
      keep_alive_ = false;
      return answer(error_response(Error::make(Code::kOverloaded, "服务器正在停止（server is stopping）")));
    }
    // The router may answer later from the engine's writer thread: come back to the session's thread.
    state_.router.dispatch(
        std::move(request),
        [self = this->shared_from_this()](Response res) {
          net::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable {
            self->answer(std::move(res));
          });
        },
        &auth_memo_);
  }

  void upgrade_to_stream(Request request) {
    auto refuse = [&](const Error& error) {
      keep_alive_ = false;
      Response res = error_response(error);
      res.route = std::string(kStreamRoute);
      answer(std::move(res));
    };
    if (request.path != kStreamRoute) {
      return refuse(Error::make(Code::kNotFound, "未找到（not found）"));
    }
    if (state_.stopping.load()) {
      return refuse(Error::make(Code::kOverloaded, "服务器正在停止（server is stopping）"));
    }
    // Bad tokens are refused before the upgrade, with a plain 401.
    auto who = handlers::authenticate(state_, request, /*allow_query_token=*/true);
    if (!who) return refuse(who.error());
    // A stream opened with the session cookie: from this server's own pages only (CSRF).
    if (auto refused = handlers::check_origin(state_, request, /*upgrade=*/true)) return refuse(*refused);
    std::string token = handlers::request_token(request, /*allow_query_token=*/true).token;
    // Without since, the stream starts at the head: only what happens from now on.
    auto since = handlers::parse_since(request, state_.engine.head_seq());
    if (!since) return refuse(since.error());

    state_.metrics.record_request(method_, kStreamRoute, 101, elapsed_us(), who->id);
    finish_request();
    lowest().expires_never();  // the WebSocket session sets its own timeouts
    std::string read_ahead = beast::buffers_to_string(buffer_.data());
    run_ws_session(std::move(stream_), parser_->release(), std::move(read_ahead), std::move(*who), std::move(token),
                   *since, state_, std::move(slot_));
  }

  void answer_error(const Error& error, int status) {
    started_ = Clock::now();
    keep_alive_ = false;
    answer(error_response(error, status), /*linger=*/true);
  }

  // The head is formatted by response_head() and written with the body in one gather write.
  // Beast's serializer (a response object, its fields, a walk over buffers_cat_view) was about
  // a quarter of the I/O thread's instructions per request (tools/bench-instructions.sh).
  void answer(Response res, bool linger = false) {
    response_keep_alive_ = keep_alive_ && !res.close && !state_.stopping.load();
    response_head_ = response_head(res, version_, response_keep_alive_);
    response_body_ = std::move(res.body);
    state_.metrics.record_request(method_.empty() ? "-" : method_,
                                  res.route.empty() ? "(none)" : res.route, res.status,
                                  elapsed_us(), res.user);
    lowest().expires_after(seconds(state_.config.request_timeout_s));
    const std::array<net::const_buffer, 2> wire{net::buffer(response_head_), net::buffer(response_body_)};
    net::async_write(stream_, wire,
                     [self = this->shared_from_this(), linger](beast::error_code ec, size_t) {
                       self->on_write(ec, linger);
                     });
  }

  void on_write(beast::error_code ec, bool linger) {
    finish_request();
    const bool keep_alive = response_keep_alive_;
    response_head_.clear();
    response_body_ = std::string();  // a large page's memory is not kept while the connection idles
    if (ec) return close_now();
    if (linger) return linger_close();
    if (!keep_alive) return close_now();
    wait_for_request();
  }

  void finish_request() {
    if (counted_) state_.in_flight.fetch_sub(1);
    counted_ = false;
  }

  // Half-closes, then reads and discards what the client still sends (bounded in bytes and
  // time) so that it sees our answer rather than a reset caused by unread data.
  void linger_close() {
    beast::error_code ignored;
    // Under TLS a TCP half-close would cut the TLS session; reading and discarding suffices.
    if constexpr (!kTls) lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest().expires_after(kLingerTime);
    do_linger();
  }

  void do_linger() {
    if (lingered_ >= kLingerBytes) return close_now();
    stream_.async_read_some(net::buffer(discard_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->close_now();
                              self->lingered_ += n;
                              self->do_linger();
                            });
  }

  // Ends the connection: over TLS with a close_notify first (bounded in time).
  void close_now() {
    if constexpr (kTls) {
      if (tls_up_ && !tls_closing_ && lowest().socket().is_open()) {
        tls_closing_ = true;
        lowest().expires_after(kTlsShutdownTime);
        stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->close_socket(); });
        return;
      }
    }
    close_socket();
  }

  void close_socket() {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

  uint64_t elapsed_us() const {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count());
  }

  Stream stream_;
  ServerState& state_;
  ConnectionSlot slot_;
  bool refuse_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  AuthMemo auth_memo_;  // this connection's last authentication (api/router.h)
  std::string remote_address_;
  // The answer being written: owned by the session until on_write (one write at a time).
  std::string response_head_;
  std::string response_body_;
  bool response_keep_alive_ = false;
  bool keep_alive_ = true;
  unsigned version_ = 11;
  std::string method_;
  bool counted_ = false;
  Clock::time_point started_ = Clock::now();
  size_t lingered_ = 0;
  bool tls_up_ = false;       // the TLS handshake completed
  bool tls_closing_ = false;  // a TLS shutdown is under way
  std::array<char, 16384> discard_{};
};

}  // namespace

void run_http_session(tcp::socket socket, ServerState& state, ConnectionSlot slot, bool refuse) {
  std::make_shared<HttpSession<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)), state,
                                                   std::move(slot), refuse)
      ->run();
}

void run_https_session(tcp::socket socket, net::ssl::context& tls, ServerState& state,
                       ConnectionSlot slot, bool refuse) {
  std::make_shared<HttpSession<TlsStream>>(TlsStream(beast::tcp_stream(std::move(socket)), tls), state,
                                           std::move(slot), refuse)
      ->run();
}

}  // namespace pioneer::api
