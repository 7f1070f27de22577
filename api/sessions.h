// The Beast layer: listener, HTTP sessions and WebSocket stream sessions. Internal to api/;
// only the Beast translation units (listener.cc, http_session.cc, ws_session.cc, server.cc)
// include this header, so Beast stays out of everything else.
//
// Each connection runs on its own strand (the executor of its stream); a session's state is
// touched only there. Every pending completion handler holds the session's shared_ptr, so a
// session lives exactly as long as it has I/O in flight.
//
// TLS (issue 5) adds a second stream type: the sessions are written against `Stream` and get
// the socket only through beast::get_lowest_layer(), so an ssl_stream<tcp_stream> instance
// needs a handshake before run() and an ssl shutdown at close, nothing else.
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

#include "api/server_state.h"
#include "engine/model.h"

namespace pioneer::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using HttpRequest = http::request<http::string_body>;

// Serves HTTP on an accepted socket (whose executor is a fresh strand). When `refuse`, answers
// the first request 503 overloaded and closes (over max_connections).
void run_http_session(tcp::socket socket, ServerState& state, ConnectionSlot slot, bool refuse);

// Takes over a stream whose upgrade request was authenticated: completes the WebSocket
// handshake and streams events with seq > since that `who` may see (API.md "The stream").
void run_ws_session(beast::tcp_stream stream, HttpRequest request, engine::Principal who,
                    uint64_t since, ServerState& state, ConnectionSlot slot);

// Accepts connections and starts an HTTP session for each.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, ServerState& state);
  // Opens, binds and listens; on failure returns the error and leaves nothing open.
  beast::error_code open(const tcp::endpoint& endpoint);
  tcp::endpoint local_endpoint() const;
  void run();
  // Stops accepting (closes the acceptor on its strand). Connections already accepted go on.
  void stop();

 private:
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_;  // pause after an accept error such as EMFILE instead of spinning
  ServerState& state_;
};

}  // namespace pioneer::api
