// WebSocket stream sessions (docs/api.md "The stream").
//
// Order of work, all on the session's executor (its one I/O thread, sessions.h):
//  1. accept the handshake, then register with the hub FIRST, so that live events committed
//     from now on are delivered (and buffered while step 2 runs);
//  2. replay stored events after `since` page by page (engine->events_after), each page only
//     once the previous one is written, so a long history never floods the queue;
//  3. switch to live events, skipping every seq at or below the last one considered: no gap
//     (we subscribed before reading) and no duplicate (the cursor only moves forward).
// One async_write is in flight at a time; the rest wait in a bounded queue. A client whose
// queue (events and replies alike) reaches ws_queue_limit is closed 4008 "lagging" and resumes
// with since=last seq.
//
// Credentials: the session keeps the token's hash, not the token (engine::Engine::Credential).
// It is checked before each batch of live events is delivered, every kAuthRecheck, and at once
// when the hub asks (a revocation committed). A check costs an atomic load and a clock read
// while no org, user or token changed and the token has not expired; otherwise the directory
// is asked again. When it no longer authenticates (revoked, expired, user gone) the session
// closes 4001 "unauthenticated"; when the user's roles changed, the new ones apply from then on.
#include <algorithm>
#include <chrono>
#include <deque>
#include <sstream>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "api/sessions.h"

namespace pioneer::api {

namespace {

namespace websocket = beast::websocket;
using std::chrono::seconds;

constexpr size_t kMaxReplayPage = 200;
constexpr uint16_t kLaggingCode = 4008;
constexpr uint16_t kUnauthenticatedCode = 4001;
constexpr auto kAuthRecheck = seconds(2);
constexpr auto kCloseGrace = seconds(2);  // then the socket is closed without a handshake
constexpr size_t kWriteMemory = 1536;  // the composed write of a frame over TCP takes ~1.3 KB

// Memory for the one write in flight (Asio's "custom memory allocation" pattern). Every frame's
// composed write (Beast's frame op, the socket op) is built here instead of in memory fresh from
// the heap: fanning one event out to 10,000 sessions otherwise took 10,000 blocks per event
// whose first touch (cache miss, often a page fault) was ~18 % of the I/O threads' samples.
// Used on the session's own thread only; a larger request (none is expected) goes to the heap.
class WriteMemory {
 public:
  void* allocate(size_t size) {
    if (!in_use_ && size <= sizeof(storage_)) {
      in_use_ = true;
      return storage_;
    }
    return ::operator new(size);
  }
  void deallocate(void* pointer) {
    if (pointer == storage_) {
      in_use_ = false;
      return;
    }
    ::operator delete(pointer);
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[kWriteMemory];
  bool in_use_ = false;
};

template <class T>
class WriteAllocator {
 public:
  using value_type = T;
  explicit WriteAllocator(WriteMemory& memory) noexcept : memory_(&memory) {}
  template <class U>
  WriteAllocator(const WriteAllocator<U>& other) noexcept : memory_(other.memory_) {}
  T* allocate(size_t n) { return static_cast<T*>(memory_->allocate(sizeof(T) * n)); }
  void deallocate(T* pointer, size_t) noexcept { memory_->deallocate(pointer); }
  template <class U>
  bool operator==(const WriteAllocator<U>& other) const noexcept { return memory_ == other.memory_; }

 private:
  template <class U>
  friend class WriteAllocator;
  WriteMemory* memory_;
};

template <class Stream>
class WsSession : public Subscriber, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  WsSession(Stream stream, ServerState& state, engine::Principal who, std::string token,
            uint64_t since, ConnectionSlot slot)
      : ws_(std::move(stream)),
        executor_(ws_.get_executor()),
        state_(state),
        who_(std::move(who)),
        credential_(engine::Engine::credential(token)),
        cursor_(since),
        slot_(std::move(slot)),
        heartbeat_(executor_),
        auth_timer_(executor_),
        closer_(executor_),
        page_size_(std::clamp<size_t>(state.config.ws_queue_limit / 2, 1, kMaxReplayPage)) {
    // Counted from here, not from the end of the handshake, so that shutdown also waits for
    // sessions still handshaking (they meet a closed hub and go away at once).
    state_.metrics.stream_opened();
  }

  ~WsSession() override { state_.metrics.stream_closed(); }

  void run(HttpRequest request, const std::string& read_ahead) {
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = seconds(state_.config.request_timeout_s);
    timeouts.idle_timeout = seconds(state_.config.idle_timeout_s);
    timeouts.keep_alive_pings = true;  // a silent but live client answers pings
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "pioneer"); }));
    ws_.read_message_max(state_.config.ws_message_limit);
    if (state_.config.ws_send_buffer > 0) {
      // A fixed kernel buffer bounds what a slow reader can hold there (auto-tuning allows
      // megabytes per socket) and makes the 4008 queue limit bite sooner.
      beast::error_code ignored;
      socket().set_option(
          net::socket_base::send_buffer_size(static_cast<int>(state_.config.ws_send_buffer)), ignored);
    }
    auto on_accept = beast::bind_front_handler(&WsSession::on_accept, this->shared_from_this());
    if (read_ahead.empty()) return ws_.async_accept(request, std::move(on_accept));
    // Frames that came with the upgrade request: Beast takes them only together with the
    // request's bytes ("applied to the handshake, and then to received WebSocket frames").
    std::ostringstream handshake;
    handshake << request;
    ws_.async_accept(net::buffer(handshake.str() + read_ahead), std::move(on_accept));
  }

  tcp::socket& socket() {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      return ws_.next_layer();
    } else {
      return beast::get_lowest_layer(ws_).socket();
    }
  }

  // ---- Subscriber (called on the engine's writer thread: only post) ----
  void deliver(StreamBatch batch) override {
    net::post(executor_, [self = this->shared_from_this(), batch = std::move(batch)] {
      self->on_batch(batch);
    });
  }
  void going_away() override {
    net::post(executor_, [self = this->shared_from_this()] {
      self->close(websocket::close_code::going_away, "server stopping");
    });
  }
  void recheck_credentials() override {
    net::post(executor_, [self = this->shared_from_this()] { self->check_credentials(/*force=*/true); });
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return;
    state_.hub.subscribe(std::weak_ptr<Subscriber>(this->shared_from_this()));
    // A revocation may have committed between the upgrade's check and the subscription.
    if (!check_credentials(/*force=*/true)) return;
    arm_heartbeat();
    arm_auth_check();
    do_read();
    replay_page();
  }

  // ---- replay ----
  void replay_page() {
    if (closing_) return;
    auto page = state_.engine.events_after(who_, cursor_, page_size_);
    if (!page) {
      enqueue(std::make_shared<const std::string>(error_frame(page.error())));
      return close(websocket::close_code::internal_error, "replay failed");
    }
    for (engine::Event& event : page->items) {
      if (event.seq <= cursor_) continue;
      cursor_ = event.seq;
      if (!filter_.admits(event)) continue;
      bool mine = is_mine(who_, event);
      enqueue(StreamEvent::make(std::move(event))->frame(mine));
    }
    // Past what the caller may not see, too (a page may end early, engine::EventScan).
    cursor_ = std::max(cursor_, page->next_since);
    if (page->caught_up()) return finish_replay();
    // More to read: continue once this page is written (or at once if it was all filtered).
    if (queue_.empty()) {
      net::post(executor_, [self = this->shared_from_this()] { self->replay_page(); });
    } else {
      replay_more_ = true;
    }
  }

  void finish_replay() {
    replaying_ = false;
    std::vector<StreamBatch> pending;
    pending.swap(pending_);
    for (const StreamBatch& batch : pending) on_batch(batch);
  }

  // ---- live ----
  void on_batch(const StreamBatch& batch) {
    if (closing_) return;
    if (!check_credentials()) return;
    if (replaying_) {
      pending_count_ += batch->size();
      if (pending_count_ > state_.config.ws_queue_limit) return lagging();
      pending_.push_back(batch);
      return;
    }
    for (const auto& item : *batch) {
      const engine::Event& event = item->event;
      if (event.seq <= cursor_) continue;  // already replayed
      cursor_ = event.seq;
      if (!state_.engine.may_see(who_, event) || !filter_.admits(event)) continue;
      enqueue(item->frame(is_mine(who_, event)));  // closes 4008 past ws_queue_limit
    }
  }

  void lagging() {
    state_.metrics.stream_lagging();
    close(kLaggingCode, "lagging");
  }

  // ---- writing: one async_write in flight, the rest queued ----
  // `traffic` is false for the heartbeat itself: it must not count as traffic that makes the next
  // heartbeat unneeded, or an idle client would get one every other interval.
  // ws_queue_limit bounds every queued frame: live events, replayed ones, and the replies to
  // client messages (a client that sends without reading would otherwise queue replies without
  // end). Past it the session closes 4008.
  void enqueue(std::shared_ptr<const std::string> frame, bool traffic = true) {
    if (closing_) return;
    if (queue_.size() >= std::max<size_t>(state_.config.ws_queue_limit, 1)) return lagging();
    if (traffic) sent_since_tick_ = true;
    queue_.push_back(std::move(frame));
    if (!writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(*queue_.front()),
                    net::bind_allocator(WriteAllocator<char>(write_memory_),
                                        beast::bind_front_handler(&WsSession::on_write, this->shared_from_this())));
  }

  void on_write(beast::error_code ec, size_t) {
    writing_ = false;
    if (ec) return stop();
    queue_.pop_front();
    if (closing_) return;
    if (!queue_.empty()) return do_write();
    if (replay_more_) {
      replay_more_ = false;
      replay_page();
    }
  }

  // ---- reading client messages ----
  void do_read() {
    ws_.async_read(in_, beast::bind_front_handler(&WsSession::on_read, this->shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    // Closed by the client, timed out, or a message over the limit (Beast has already sent
    // the close frame): nothing more to do here.
    if (ec) return stop();
    std::string text = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    if (closing_) return;
    auto filter = parse_client_message(text);
    if (filter) {
      // Replaces the previous narrowing; may_see() still applies to every event, so a
      // subscription never widens what the user may see.
      filter_ = std::move(*filter);
      enqueue(std::make_shared<const std::string>(subscribed_frame(filter_)));
    } else {
      enqueue(std::make_shared<const std::string>(error_frame(filter.error())));
    }
    do_read();
  }

  // ---- heartbeat ----
  void arm_heartbeat() {
    heartbeat_.expires_after(seconds(state_.config.heartbeat_s));
    heartbeat_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closing_) return;
      if (!self->sent_since_tick_ && self->queue_.empty()) {
        self->enqueue(std::make_shared<const std::string>(heartbeat_frame(self->state_.engine.head_seq())),
                      /*traffic=*/false);
      }
      self->sent_since_tick_ = false;
      self->arm_heartbeat();
    });
  }

  // ---- credentials ----
  // Authenticates the token again (unless nothing it depends on changed since the last check
  // and `force` is false); false (and the session closing 4001) when it fails.
  bool check_credentials(bool force = false) {
    if (closing_) return false;
    if (!force && state_.engine.still_authenticated(credential_)) return true;
    auto who = state_.engine.authenticate(credential_);
    if (!who) {
      state_.metrics.stream_unauthenticated();
      close(kUnauthenticatedCode, "unauthenticated");
      return false;
    }
    who_ = std::move(*who);
    return true;
  }

  void arm_auth_check() {
    auth_timer_.expires_after(kAuthRecheck);
    auth_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closing_) return;
      if (self->check_credentials()) self->arm_auth_check();
    });
  }

  // ---- ending ----
  // Starts the closing handshake (it waits behind a write in flight); if the client does not
  // complete it within kCloseGrace, for instance because it never reads, the socket is closed.
  void close(uint16_t code, const char* reason) {
    if (closing_) return;
    stop();
    if (writing_) {
      queue_.erase(queue_.begin() + 1, queue_.end());  // the front is being written
    } else {
      queue_.clear();
    }
    ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason),
                    [self = this->shared_from_this()](beast::error_code) { self->closer_.cancel(); });
    closer_.expires_after(kCloseGrace);
    closer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;
      beast::error_code ignored;  // the bare socket's close() would throw on failure
      self->socket().close(ignored);
    });
  }

  // Leaves the hub and stops the timers; pending operations end with errors and release us.
  void stop() {
    if (closing_) return;
    closing_ = true;
    state_.hub.unsubscribe(this);
    heartbeat_.cancel();
    auth_timer_.cancel();
  }

  websocket::stream<Stream> ws_;
  net::any_io_executor executor_;  // fixed at construction, safe to read from any thread
  ServerState& state_;
  engine::Principal who_;
  engine::Engine::Credential credential_;  // the token's hash and what the last check depended on
  uint64_t cursor_;  // every seq ≤ cursor_ has been sent or deliberately skipped
  ConnectionSlot slot_;
  net::steady_timer heartbeat_;
  net::steady_timer auth_timer_;
  net::steady_timer closer_;
  size_t page_size_;
  StreamFilter filter_;
  beast::flat_buffer in_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  WriteMemory write_memory_;
  bool writing_ = false;
  bool closing_ = false;
  bool replaying_ = true;
  bool replay_more_ = false;
  bool sent_since_tick_ = false;
  std::vector<StreamBatch> pending_;  // live batches that arrived during the replay
  size_t pending_count_ = 0;
};

}  // namespace

// Plain WebSocket runs on the bare socket: the WebSocket stream keeps its own timeouts, and
// tcp_stream's layer (its timer bookkeeping and shared state per operation) cost ~10 % of the
// I/O threads' user time per frame in a 10,000-client fan-out.
void run_ws_session(beast::tcp_stream stream, HttpRequest request, std::string read_ahead, engine::Principal who,
                    std::string token, uint64_t since, ServerState& state, ConnectionSlot slot) {
  std::make_shared<WsSession<tcp::socket>>(stream.release_socket(), state, std::move(who),
                                           std::move(token), since, std::move(slot))
      ->run(std::move(request), read_ahead);
}

void run_ws_session(TlsStream stream, HttpRequest request, std::string read_ahead, engine::Principal who,
                    std::string token, uint64_t since, ServerState& state, ConnectionSlot slot) {
  std::make_shared<WsSession<TlsStream>>(std::move(stream), state, std::move(who), std::move(token),
                                         since, std::move(slot))
      ->run(std::move(request), read_ahead);
}

}  // namespace pioneer::api
