// The Beast layer: listener, HTTP sessions and WebSocket stream sessions. Internal to api/;
// only the Beast translation units (listener.cc, http_session.cc, ws_session.cc, server.cc)
// include this header, so Beast stays out of everything else.
//
// Each connection runs on one I/O thread (the executor of its stream, see Listener); its state is
// touched only there. Every pending completion handler holds the session's shared_ptr, so a
// session lives exactly as long as it has I/O in flight.
//
// TLS: the sessions are written against `Stream` and get the socket only through
// beast::get_lowest_layer(); the ssl_stream<tcp_stream> instances add a handshake before the
// first read and a bounded TLS shutdown at close, nothing else. A plain WebSocket session runs
// on the bare tcp::socket (ws_session.cc says why), a TLS one on ssl_stream<tcp_stream>.
#pragma once

#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "api/server_state.h"
#include "engine/core/model.h"

namespace pioneer::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using HttpRequest = http::request<http::string_body>;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// Serves HTTP on an accepted socket (whose executor is one I/O thread's io_context). When `refuse`, answers
// the first request 503 overloaded and closes (over max_connections).
void run_http_session(tcp::socket socket, ServerState& state, ConnectionSlot slot, bool refuse);
// The same over TLS: first the server handshake (bounded by request_timeout_s; a client that
// does not speak TLS, such as plain HTTP, is simply disconnected), then HTTPS.
void run_https_session(tcp::socket socket, net::ssl::context& tls, ServerState& state,
                       ConnectionSlot slot, bool refuse);

// Takes over a stream whose upgrade request was authenticated: completes the WebSocket
// handshake and streams events with seq > since that `who` may see (docs/api.md "The stream").
// `token` is the bearer token the upgrade authenticated with: the session authenticates it
// again periodically and when asked (revocation), and closes 4001 once it no longer does. It
// is held in memory only and never logged.
// `read_ahead`: bytes the HTTP session read past the upgrade request (a client may send its
// first frames in the same packet); they are the start of the WebSocket stream.
void run_ws_session(beast::tcp_stream stream, HttpRequest request, std::string read_ahead, engine::Principal who,
                    std::string token, uint64_t since, ServerState& state, ConnectionSlot slot);
void run_ws_session(TlsStream stream, HttpRequest request, std::string read_ahead, engine::Principal who,
                    std::string token, uint64_t since, ServerState& state, ConnectionSlot slot);

// Accepts connections and starts an HTTP (or, with `tls`, HTTPS) session for each.
//
// The server runs one io_context per I/O thread. Each accepted connection is placed on the
// next context in turn and lives there: its handlers run on that one thread, in order, so a
// session needs no strand, and a thread's reactor, timers and handler memory are its own.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // `contexts`: one per I/O thread, each run by exactly one thread; the acceptor lives on the
  // first. `tls`: nullptr serves plain HTTP; otherwise it must outlive the listener and every session.
  Listener(std::vector<net::io_context*> contexts, ServerState& state, net::ssl::context* tls = nullptr);
  // Opens, binds and listens; on failure returns the error and leaves nothing open.
  beast::error_code open(const tcp::endpoint& endpoint);
  tcp::endpoint local_endpoint() const;
  void run();
  // Stops accepting (closes the acceptor on its thread). Connections already accepted go on.
  void stop();

 private:
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);

  std::vector<net::io_context*> contexts_;
  size_t next_ = 0;  // the context of the next connection (touched on the acceptor's thread only)
  tcp::acceptor acceptor_;
  net::steady_timer retry_;  // pause after an accept error such as EMFILE instead of spinning
  ServerState& state_;
  net::ssl::context* tls_;
};

}  // namespace pioneer::api
