#include <cstdio>

#include <boost/asio/dispatch.hpp>
#include <boost/beast/core/bind_handler.hpp>

#include "api/sessions.h"

namespace pioneer::api {

Listener::Listener(std::vector<net::io_context*> contexts, ServerState& state, net::ssl::context* tls)
    : contexts_(std::move(contexts)),
      acceptor_(contexts_.front()->get_executor()),
      retry_(acceptor_.get_executor()),
      state_(state),
      tls_(tls) {}

beast::error_code Listener::open(const tcp::endpoint& endpoint) {
  beast::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor_.close(ignored);
  }
  return ec;
}

tcp::endpoint Listener::local_endpoint() const {
  beast::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void Listener::run() {
  net::dispatch(acceptor_.get_executor(),
                beast::bind_front_handler(&Listener::do_accept, shared_from_this()));
}

void Listener::stop() {
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_.cancel();
  });
}

void Listener::do_accept() {
  if (!acceptor_.is_open()) return;
  // Connections are spread over the I/O threads in turn (see sessions.h).
  net::io_context& home = *contexts_[next_++ % contexts_.size()];
  acceptor_.async_accept(home.get_executor(),
                         beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    // Out of descriptors or similar: wait a little rather than spin on the error.
    std::fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"accept failed\",\"error\":\"%s\"}\n",
                 ec.message().c_str());
    retry_.expires_after(std::chrono::milliseconds(50));
    retry_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (wait_ec) return;
      self->do_accept();
    });
    return;
  }
  // Over a limit a socket is refused: politely (a 503 answer) while few refusals are under
  // way, otherwise closed at once, so that a flood of connections never holds descriptors.
  beast::error_code ep_ec;
  const auto peer = socket.remote_endpoint(ep_ec);
  const std::string address = ep_ec ? std::string() : peer.address().to_string();
  ConnectionSlot slot;
  const auto admission = state_.connections.admit(address, slot);
  if (admission != ConnectionLimits::Admission::kServe) state_.metrics.connection_refused();
  if (admission == ConnectionLimits::Admission::kDrop) {
    beast::error_code ignored;
    socket.close(ignored);
    return do_accept();
  }
  const bool refuse = admission == ConnectionLimits::Admission::kRefuse;
  if (tls_) {
    run_https_session(std::move(socket), *tls_, state_, std::move(slot), refuse);
  } else {
    run_http_session(std::move(socket), state_, std::move(slot), refuse);
  }
  do_accept();
}

}  // namespace pioneer::api
