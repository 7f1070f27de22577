// serve(): wires engine, hub, router and the Beast listener together and runs until a signal.
#include "api/server.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <csignal>
#include <cstdio>
#include <future>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>
#include <sys/resource.h>

#include "api/logins.h"
#include "api/router.h"
#include "api/sessions.h"
#include "common/thread_name.h"
#include "engine/engine.h"
#include "storage/store.h"
#include "tools/demo.h"

namespace pioneer::api {

namespace {

using namespace std::chrono_literals;

constexpr auto kInFlightWait = 10s;  // bounded wait for requests being answered at shutdown
constexpr auto kStreamCloseWait = 3s;

// Prints every problem found in error details, one per line ("file /path: message"), however
// deeply the engine nests them (per file, then per definition problem).
void print_problems(const Json& details, const std::string& where) {
  if (details.is_array()) {
    for (const auto& item : details) print_problems(item, where);
    return;
  }
  if (!details.is_object()) return;
  std::string here = details.contains("file") && details["file"].is_string()
                         ? details["file"].get<std::string>() : where;
  if (details.contains("path") && details.contains("message")) {
    std::fprintf(stderr, "  %s %s: %s\n", here.c_str(), details["path"].dump().c_str(),
                 details["message"].get<std::string>().c_str());
    return;
  }
  bool nested = false;
  for (const char* key : {"problems", "details", "files", "errors"}) {
    if (details.contains(key)) {
      print_problems(details[key], here);
      nested = true;
    }
  }
  if (!nested && details.contains("message") && details["message"].is_string()) {
    std::fprintf(stderr, "  %s: %s\n", here.c_str(), details["message"].get<std::string>().c_str());
  }
}

void print_error(const std::string& what, const Error& error) {
  std::fprintf(stderr, "pioneer serve: %s: %s\n", what.c_str(), error.message.c_str());
  print_problems(error.details(), "");
}

// "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces).
bool parse_listen(const std::string& listen, std::string& host, tcp::endpoint& endpoint) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  host = listen.substr(0, colon);
  std::string port_text = listen.substr(colon + 1);
  unsigned port = 0;
  try {
    size_t used = 0;
    port = static_cast<unsigned>(std::stoul(port_text, &used));
    if (used != port_text.size() || port > 65535) return false;
  } catch (...) {
    return false;
  }
  std::string address = host;
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  if (address.empty()) address = "0.0.0.0";
  if (address == "localhost") address = "127.0.0.1";
  beast::error_code ec;
  auto ip = net::ip::make_address(address, ec);
  if (ec) return false;
  endpoint = tcp::endpoint(ip, static_cast<uint16_t>(port));
  return true;
}

// The TLS server context: TLS 1.2 and newer only, the certificate chain and key from PEM files.
// Returns "" on success, else what is wrong (for the operator; no secrets in it).
std::string make_tls_context(const ServerConfig& config, net::ssl::context& ctx) {
  beast::error_code ec;
  ctx.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                      net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                      net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use,
                  ec);
  if (ec) return "TLS options: " + ec.message();
  if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1) {
    return "cannot require TLS 1.2";
  }
  ctx.use_certificate_chain_file(config.tls_cert, ec);
  if (ec) return "cannot load --tls-cert " + config.tls_cert + ": " + ec.message();
  ctx.use_private_key_file(config.tls_key, net::ssl::context::pem, ec);
  if (ec) return "cannot load --tls-key " + config.tls_key + ": " + ec.message();
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    return "--tls-key does not match --tls-cert";
  }
  return "";
}

// Descriptors the process needs besides storage and connections: the listener, the I/O
// threads' epoll and event descriptors, timers, standard streams, files read at start.
constexpr size_t kProcessDescriptors = 64;
// Refusals answered politely (503 and a short linger) at once; past that, closed at once.
constexpr size_t kMaxLingeringRefusals = 64;

// The connection limits under the open-files limit: storage's reserve and the process's own
// descriptors are never available to connections, nor are the lingering refusals'. Returns ""
// and sets the limits, or what is wrong (a limit too low to serve at all).
std::string derive_connection_limits(const ServerConfig& config, ConnectionLimits& limits) {
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) != 0) return "cannot read the open-files limit";
  const size_t open_files = nofile.rlim_cur == RLIM_INFINITY ? SIZE_MAX / 2 : static_cast<size_t>(nofile.rlim_cur);
  const size_t kept = storage::kStoreDescriptorReserve + kProcessDescriptors;
  const size_t refusing = std::min(kMaxLingeringRefusals, open_files > kept ? (open_files - kept) / 16 : 0);
  if (open_files < kept + refusing + 16) {
    return "the open-files limit " + std::to_string(open_files) + " is too low: storage keeps " +
           std::to_string(kept) + " and at least 16 connections must fit (raise ulimit -n)";
  }
  const size_t total = std::min(config.max_connections, open_files - kept - refusing);
  size_t per_address = config.max_connections_per_address != 0 ? config.max_connections_per_address
                                                                : total - total / 8;
  per_address = std::clamp<size_t>(per_address, 1, total);
  limits.set(total, per_address, refusing);
  std::fprintf(stderr,
               "{\"level\":\"info\",\"msg\":\"connection limits\",\"open_files\":%zu,\"storage_reserve\":%zu,"
               "\"max_connections\":%zu,\"per_address\":%zu,\"lingering_refusals\":%zu}\n",
               open_files, kept, total, per_address, refusing);
  if (total < config.max_connections) {
    std::fprintf(stderr,
                 "{\"level\":\"warn\",\"msg\":\"max_connections lowered to fit the open-files limit\","
                 "\"configured\":%zu,\"used\":%zu}\n", config.max_connections, total);
  }
  return "";
}

// While storage refuses writes after a background error, asks it to resume every second (a
// write or /healthz also does), so that it recovers even when nobody writes.
void resume_storage_periodically(net::steady_timer& timer, engine::Engine& engine) {
  timer.expires_after(1s);
  timer.async_wait([&timer, &engine](beast::error_code ec) {
    if (ec) return;
    engine.store().try_resume();
    resume_storage_periodically(timer, engine);
  });
}

// Drops expired idempotency records at start and then every hour, on its own thread (the
// sweep compacts a storage family: I/O threads must not wait for it).
class IdempotencySweeper {
 public:
  IdempotencySweeper(engine::Engine& engine, Metrics& metrics)
      : thread_([this, &engine, &metrics] {
          name_this_thread("pioneer-sweep");
          std::unique_lock lock(mu_);
          do {
            lock.unlock();
            auto kept = engine.sweep_idempotency();
            if (kept) metrics.idempotency_swept(*kept);
            if (!kept) {
              std::fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"idempotency sweep failed\",\"error\":%s}\n",
                           Json(kept.error().message).dump().c_str());
            }
            lock.lock();
          } while (!wake_.wait_for(lock, std::chrono::hours(1), [this] { return stopping_; }));
        }) {}
  ~IdempotencySweeper() { stop(); }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

template <class Pred>
void wait_until(Pred done, std::chrono::steady_clock::duration limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
}

}  // namespace

// Long by design: the server's start and orderly stop read best as one sequence of steps (open,
// load, listen, run, drain, close), each of which stops the sequence when it fails.
int serve(const ServerConfig& config) {
  std::string host;
  tcp::endpoint endpoint;
  if (!parse_listen(config.listen, host, endpoint)) {
    std::fprintf(stderr, "pioneer serve: --listen must be HOST:PORT, got '%s'\n", config.listen.c_str());
    return 2;
  }
  // TLS only when configured, and then both files are required.
  const bool tls = !config.tls_cert.empty() || !config.tls_key.empty();
  std::unique_ptr<net::ssl::context> tls_context;
  if (tls) {
    if (config.tls_cert.empty() || config.tls_key.empty()) {
      std::fprintf(stderr, "pioneer serve: --tls-cert and --tls-key go together\n");
      return 2;
    }
    tls_context = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    if (std::string problem = make_tls_context(config, *tls_context); !problem.empty()) {
      std::fprintf(stderr, "pioneer serve: %s\n", problem.c_str());
      return 1;
    }
  }

  // Declared before the engine so that they outlive it: the writer thread publishes into the
  // hub until the engine is destroyed.
  Hub hub;
  Metrics metrics;

  engine::EngineOptions options;
  options.data_dir = config.data_dir;
  options.queue_limit = config.queue_limit;
  options.page_scan_limit = config.page_scan_limit;
  options.event_scan = {.max_examined = config.feed_scan_events, .max_merged_instances = config.feed_merge_instances};
  options.hash_algorithm = config.hash_algorithm;
  options.memtable_bytes = config.memtable_bytes;
  if (!config.roles_file.empty()) {
    auto roles = engine::RoleCatalog::load_file(config.roles_file);
    if (!roles) {
      print_error("roles " + config.roles_file, roles.error());
      return 1;
    }
    options.roles = std::move(*roles);
  }
  // What can fail without the database is checked before it is opened, or created: the
  // workflow files, and whether the address is free (a fixed port another process holds).
  auto definitions = engine::read_workflows_dir(config.workflows_dir, options.roles);
  if (!definitions) {
    print_error("workflows in " + config.workflows_dir + " are invalid", definitions.error());
    return 1;
  }
  {
    net::io_context probe_context;
    tcp::acceptor probe(probe_context);
    beast::error_code ec;
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec) {
      std::fprintf(stderr, "pioneer serve: cannot listen on %s: %s\n", config.listen.c_str(), ec.message().c_str());
      return 1;
    }
  }
  auto opened = engine::Engine::open(std::move(options));
  if (!opened) {
    print_error("cannot open " + config.data_dir, opened.error());
    return 1;
  }
  std::unique_ptr<engine::Engine> engine = std::move(*opened);

  auto loaded = engine->register_workflows(*definitions);
  if (!loaded) {
    print_error("workflows in " + config.workflows_dir + " are invalid", loaded.error());
    return 1;
  }
  for (const auto& [id, version] : *loaded) {
    std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"registered workflow\",\"id\":\"%s\",\"version\":%d}\n",
                 id.c_str(), version);
  }
  if (config.demo) {
    auto seeded = engine::seed_demo(*engine, config.data_dir + "/demo-tokens.json");
    if (!seeded) {
      print_error("demo seeding failed", seeded.error());
      return 1;
    }
  }
  engine->set_publisher([&hub, &metrics](const std::vector<engine::Event>& events) {
    hub.publish(events);
    metrics.events_published(events.size());
  });

  Router router;
  ServerState state{config, *engine, hub, metrics, router};
  router.bind(&state);
  if (std::string problem = derive_connection_limits(config, state.connections); !problem.empty()) {
    std::fprintf(stderr, "pioneer serve: %s\n", problem.c_str());
    return 1;
  }
  auto logins = std::make_unique<Logins>(Logins::Options{
      config.password_threads, 64, config.login_max_failures, config.login_max_address_failures,
      static_cast<int64_t>(config.login_window_s) * 1000});
  state.logins = logins.get();

  // One io_context per I/O thread (sessions.h: a connection lives on one thread).
  const int threads = std::max(1, config.threads);
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<net::io_context*> context_ptrs;
  for (int i = 0; i < threads; ++i) {
    contexts.push_back(std::make_unique<net::io_context>(1));
    work.push_back(net::make_work_guard(*contexts.back()));
    context_ptrs.push_back(contexts.back().get());
  }
  net::io_context& ioc = *contexts.front();
  auto listener = std::make_shared<Listener>(context_ptrs, state, tls_context.get());
  if (auto ec = listener->open(endpoint)) {
    std::fprintf(stderr, "pioneer serve: cannot listen on %s: %s\n", config.listen.c_str(),
                 ec.message().c_str());
    return 1;
  }

  net::steady_timer resume_timer(ioc);
  resume_storage_periodically(resume_timer, *engine);
  IdempotencySweeper sweeper(*engine, metrics);

  std::promise<int> signalled;
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&signalled](beast::error_code ec, int signal) {
    if (!ec) signalled.set_value(signal);
  });
  listener->run();

  std::string shown_host = host.empty() ? "0.0.0.0" : host;
  std::printf("listening on %s://%s:%u\n", tls ? "https" : "http", shown_host.c_str(),
              static_cast<unsigned>(listener->local_endpoint().port()));
  std::fflush(stdout);

  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&ioc = *contexts[i]] {
      name_this_thread("pioneer-io");
      for (;;) {
        try {
          ioc.run();
          return;
        } catch (const std::exception& e) {
          // A handler must not throw; if one did, log it and keep the thread serving.
          std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"handler threw\",\"what\":\"%s\"}\n", e.what());
        }
      }
    });
  }

  int signal = signalled.get_future().get();
  std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"stopping\",\"signal\":%d}\n", signal);

  // 1. No new connections or requests; let the requests being answered finish.
  state.stopping.store(true);
  listener->stop();
  wait_until([&] { return state.in_flight.load() == 0; }, kInFlightWait);
  // 2. No new commands; everything queued commits. Password work still queued submits nothing.
  state.logins = nullptr;
  logins.reset();
  engine->stop_accepting();
  engine->drain();
  // 3. Streams close with 1001; the hub takes no more batches.
  hub.close_all();
  wait_until([&] { return metrics.stream_sessions() == 0; }, kStreamCloseWait);
  // 4. Stop the I/O threads; destroying the io_contexts below releases every session.
  work.clear();
  for (auto& c : contexts) c->stop();
  for (auto& t : pool) t.join();
  listener.reset();
  sweeper.stop();
  // The io_contexts and state go at the end of this scope; the engine first, explicitly, so
  // that the database is closed before we report success.
  engine.reset();
  std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"stopped\"}\n");
  return 0;
}

}  // namespace pioneer::api
