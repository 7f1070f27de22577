// pioneer_bench: the load generator. Speaks real HTTP/1.1 keep-alive and WebSocket (C++20
// coroutines on one Asio io_context; HTTP requests formatted and answers framed by hand, see
// Conn; the WebSocket handshake through Beast) to a running `pioneer serve` on 127.0.0.1 only.
//
//   pioneer_bench http --port P --tokens demo-tokens.json --scenario S [options]
//     S = me           the HTTP ceiling: an authenticated GET /api/v1/me
//         transitions  durable writes: yizhi-yixiang lifecycles (create, issue, assign, claim,
//                      report_progress, urge, apply_completion, send_back, approve, evaluate)
//         reads        GET instance, filtered list page, to-do list, history (no writes)
//         mixed        --conns writers running `transitions` plus --readers running `reads`
//         bounds       reads the indexes do not narrow, each bounded per call: the event feed
//                      from 0 for a user who sees nothing (--nobody USER) and for a branch
//                      secretary, and a state filter without its workflow
//     --conns N        keep-alive connections (one request in flight each)
//     --readers N      read connections in `mixed`
//     --seconds S      measured time; --warmup S before it (not measured)
//     --rate R         total write requests per second, paced per connection (0: closed loop);
//                      latency is then measured from the scheduled send time
//     --read-rate R    the same for reads (`reads`, and the readers of `mixed`)
//     --reader-thread 1  `mixed`: the readers on a second thread with an io_context of their
//                      own, so that their answers do not wait behind the writers' in one loop
//     --server-pid PID the CPU time the server and this generator spent in the measured window
//                      (`cpu`: user and system seconds of each, from /proc/PID/stat, and the
//                      time their threads were runnable but waited for a core): the two share
//                      the machine's cores, so their sum per request bounds the rate
//   pioneer_bench ws --port P --tokens F --clients N --events K [--interval-ms I] [--server-pid PID]
//     N WebSocket clients on /api/v1/stream, the server's VmRSS before and after they connect
//     (idle), then 1 + K creates, one every I ms; delivery latency = the client's receive time
//     minus the event's `at` (the writer's decision time, before the fsync: so commit→client at
//     most). The first event is reported apart (`delivery_first`), the K others as `delivery`.
//
// Output: one JSON object on stdout. Progress and errors on stderr. Every loop is bounded by a
// deadline, after which the io_context is stopped. Clients run on one thread, except the readers
// of `mixed --reader-thread 1`: what they share with the writers (the samples, the ids known to
// the readers) is behind Ctx::mu.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <cstdio>
#include <cctype>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "bench/args.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

// ------------------------------------------------------------------ options

using Options = pioneer::bench::Args;

double now_s() { return std::chrono::duration<double>(SteadyClock::now().time_since_epoch()).count(); }

// ------------------------------------------------------------------ shared state

struct Samples {
  std::vector<uint32_t> us;  // latencies in microseconds
  std::map<int, uint64_t> status;
  uint64_t io_errors = 0;
};

struct Ctx {
  net::io_context ioc{1};
  tcp::endpoint ep;
  std::string host;
  std::map<std::string, std::string> tokens;  // user id -> bearer token
  std::string nobody;  // `bounds`: a user whose roles cover no instance
  std::atomic<bool> measuring{false};
  std::atomic<bool> stopping{false};
  std::mutex mu;  // guards kinds, reported and known
  std::map<std::string, Samples> kinds;  // by request kind
  std::map<std::string, int> reported;   // errors printed, by request kind
  // Instance ids known to the readers: (id, reader token that may see it).
  std::vector<std::pair<std::string, std::string>> known;
  size_t known_next = 0;
  std::mt19937_64 rng{7};  // the WebSocket clients' nonces and masks (ws mode: one thread)
  double rate = 0;  // writes per second in total (0: closed loop)
  int conns = 1;
  double read_rate = 0;  // reads per second in total (0: closed loop)
  int readers = 1;

  const std::string& token(const std::string& user) const {
    auto it = tokens.find(user);
    if (it == tokens.end()) throw std::runtime_error("no demo token for " + user);
    return it->second;
  }
  void remember(const std::string& id, const std::string& tok) {
    std::lock_guard lock(mu);
    if (known.size() < 20000) known.emplace_back(id, tok);
    else known[known_next++ % known.size()] = {id, tok};
  }
  // A known id and its token, chosen with the caller's generator; nullopt while none is known.
  std::optional<std::pair<std::string, std::string>> pick_known(std::mt19937_64& rng) {
    std::lock_guard lock(mu);
    if (known.empty()) return std::nullopt;
    return known[rng() % known.size()];
  }
  void record(const std::string& kind, double started, int status) {
    if (!measuring) return;
    const auto us = static_cast<uint32_t>(std::max(0.0, (now_s() - started) * 1e6));
    std::lock_guard lock(mu);
    Samples& s = kinds[kind];
    s.us.push_back(us);
    s.status[status]++;
  }
  void io_error() {
    if (!measuring) return;
    std::lock_guard lock(mu);
    kinds["io_error"].io_errors++;
  }
  // Whether to print this failed answer: the first three of each kind while measuring.
  bool report(const std::string& kind) {
    if (!measuring) return false;
    std::lock_guard lock(mu);
    return reported[kind]++ < 3;
  }
};

// One HTTP/1.1 keep-alive connection, on the executor of the coroutine that made it: a plain
// socket, the request written by hand and the answer parsed in place (status line,
// Content-Length, Connection), not Beast's message types. The generator shares the two cores
// with the server, so its own cost per request lowers every figure it measures, the baselines'
// HTTP ceiling included. Beast's general machinery (field containers, buffer sequence views,
// the parser, a timer per call) with request bodies built as nlohmann objects cost 1.6 times
// this per transition, or more (measured with bench/README.md's method). The server writes Content-Length
// on every answer (api/http.cc); an answer without it, or a chunked one, is an I/O error. No
// timeout per call: every run stops its io_context at a deadline.
class Conn {
 public:
  Conn(Ctx& c, net::any_io_executor e) : ctx_(c), sock_(std::move(e)) { in_.resize(16 * 1024); }

  // The last answer's body.
  const std::string& body() const { return body_; }

  // Sends one request and reads the answer; reconnects once on a broken connection. Returns
  // the status, 0 when there was no answer.
  awaitable<int> call(http::verb verb, const std::string& target, const std::string& token, const std::string& body) {
    out_.clear();
    const auto method = http::to_string(verb);
    out_.append(method.data(), method.size()).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
    out_.append(ctx_.host).append("\r\nUser-Agent: pioneer_bench\r\n");
    if (!token.empty()) out_.append("Authorization: Bearer ").append(token).append("\r\n");
    if (!body.empty()) {
      out_.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(body.size()));
      out_.append("\r\n");
    }
    out_.append("\r\n").append(body);
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!sock_.is_open()) co_await connect();
        co_await net::async_write(sock_, net::buffer(out_), use_awaitable);
        co_return co_await read_answer();
      } catch (const std::exception&) {
        boost::system::error_code ec;
        sock_.close(ec);
        ctx_.io_error();
        if (ctx_.stopping) co_return 0;
      }
    }
    co_return 0;
  }

 private:
  awaitable<void> connect() {
    boost::system::error_code ec;
    sock_.close(ec);
    have_ = 0;
    co_await sock_.async_connect(ctx_.ep, use_awaitable);
    sock_.set_option(tcp::no_delay(true));
  }

  awaitable<void> read_more() {
    if (have_ == in_.size()) in_.resize(in_.size() * 2);
    have_ += co_await sock_.async_read_some(net::buffer(in_.data() + have_, in_.size() - have_), use_awaitable);
  }

  static bool starts_with_nocase(std::string_view line, std::string_view prefix) {
    if (line.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(line[i])) != prefix[i]) return false;
    }
    return true;
  }

  // Reads one whole answer into body_; what follows it stays in in_ for the next one.
  awaitable<int> read_answer() {
    size_t head_end;
    for (size_t from = 0;;) {
      head_end = std::string_view(in_.data(), have_).find("\r\n\r\n", from);
      if (head_end != std::string_view::npos) break;
      from = have_ >= 3 ? have_ - 3 : 0;
      if (have_ > 64 * 1024) throw std::runtime_error("an answer's header over 64 KiB");
      co_await read_more();
    }
    const std::string_view head(in_.data(), head_end);
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") throw std::runtime_error("not an HTTP answer");
    const int status = std::atoi(std::string(head.substr(9, 3)).c_str());
    size_t length = std::string_view::npos;
    bool close = false;
    for (size_t p = head.find("\r\n"); p != std::string_view::npos;) {
      const size_t start = p + 2;
      const size_t end = head.find("\r\n", start);
      const std::string_view line = head.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
      if (starts_with_nocase(line, "content-length:")) {
        length = std::strtoull(std::string(line.substr(15)).c_str(), nullptr, 10);
      } else if (starts_with_nocase(line, "connection:")) {
        std::string value(line.substr(11));
        for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        close = value.find("close") != std::string::npos;
      } else if (starts_with_nocase(line, "transfer-encoding:")) {
        throw std::runtime_error("a chunked answer");
      }
      p = end;
    }
    if (length == std::string_view::npos) throw std::runtime_error("an answer without Content-Length");
    const size_t total = head_end + 4 + length;
    if (in_.size() < total) in_.resize(total);
    while (have_ < total) co_await read_more();
    body_.assign(in_.data() + head_end + 4, length);
    std::memmove(in_.data(), in_.data() + total, have_ - total);
    have_ -= total;
    if (close) {
      boost::system::error_code ec;
      sock_.close(ec);
    }
    co_return status;
  }

  Ctx& ctx_;
  tcp::socket sock_;
  std::string out_;   // the request being sent
  std::string in_;    // bytes read: [0, have_)
  size_t have_ = 0;
  std::string body_;  // the last answer's body
};

awaitable<void> sleep_for(Ctx&, double seconds) {
  net::steady_timer t(co_await net::this_coro::executor);
  t.expires_after(std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(seconds)));
  co_await t.async_wait(use_awaitable);
}

// Open-loop pacing of one connection: a request every `interval` seconds, the connections'
// first slots spread over one interval. Latency then counts from the scheduled time, so a slow
// answer does not hide the requests it delayed (no coordinated omission). Rate 0: closed loop.
struct Pacer {
  double interval = 0, next = 0;
  Pacer(double total_rate, int conns, int index) {
    if (total_rate > 0) {
      interval = std::max(1, conns) / total_rate;
      next = now_s() + interval * index / std::max(1, conns);
    }
  }
  bool paced() const { return interval > 0; }
  // Waits for this connection's next slot; the time its request counts from.
  awaitable<double> wait(Ctx& ctx) {
    const double now = now_s();
    if (!paced()) co_return now;
    if (next > now) co_await sleep_for(ctx, next - now);
    const double slot = next;
    next += interval;
    co_return slot;
  }
};

// Pulls `"key":"value"` or `"key":number` (the first one) out of a JSON text without parsing it.
std::string find_string(const std::string& text, const std::string& key) {
  const std::string pat = "\"" + key + "\":\"";
  size_t p = text.find(pat);
  if (p == std::string::npos) return {};
  p += pat.size();
  size_t e = text.find('"', p);
  return e == std::string::npos ? std::string() : text.substr(p, e - p);
}
long long find_number(const std::string& text, const std::string& key) {
  const std::string pat = "\"" + key + "\":";
  size_t p = 0;
  while ((p = text.find(pat, p)) != std::string::npos) {
    // Skip matches that are the tail of a longer key ("workflow_version" for "version").
    if (p > 0 && text[p - 1] != '{' && text[p - 1] != ',') {
      p += pat.size();
      continue;
    }
    return std::atoll(text.c_str() + p + pat.size());
  }
  return -1;
}

// ------------------------------------------------------------------ the write workload

struct Team {
  std::string org, pg, oc;
  struct Branch {
    std::string org, secretary, member;
  };
  std::vector<Branch> branches;
};

const std::vector<Team>& teams() {
  static const std::vector<Team> t = {
      {"city/finance", "wang.wei", "li.na", {{"city/finance/b1", "zhang.min", "zheng.xin"}, {"city/finance/b2", "liu.yang", "liu.yang"}}},
      {"city/education", "chen.jie", "zhao.lei", {{"city/education/b1", "sun.li", "sun.li"}}},
  };
  return t;
}

std::string due_date(int days) {
  std::time_t t = std::time(nullptr) + static_cast<std::time_t>(days) * 86400;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[16];
  std::strftime(b, sizeof b, "%Y-%m-%d", &tm);
  return b;
}

struct Life {
  std::string id;
  int step = 0;
  long long version = 0;
  const Team* team = nullptr;
  const Team::Branch* branch = nullptr;
};

// The steps of one yizhi-yixiang instance, from creation to closing.
const char* kSteps[] = {"create", "issue", "assign", "claim", "report_progress", "urge", "report_progress",
                        "apply_completion", "send_back", "apply_completion", "approve_completion", "evaluate"};
constexpr int kStepCount = 12;

// What each step sends, apart from the instance, its version and the title: built once, so
// that the generator's work per request is a few appends (see Conn).
struct StepText {
  std::string name;
  std::string kind;      // "write:<name>", the samples' key
  std::string tail;      // `,"fields":{…},"comment":"…"` or empty
};

std::vector<StepText> step_texts(const std::string& due) {
  std::vector<StepText> out;
  for (int step = 0; step < kStepCount; ++step) {
    StepText t;
    t.name = kSteps[step];
    t.kind = step == 0 ? "write:create" : "write:" + t.name;
    Json fields = Json::object();
    std::string comment;
    if (t.name == "report_progress") {
      fields = {{"progress", "本阶段工作已完成，正在推进下一阶段。"}, {"percent", step == 4 ? 30 : 60}};
    }
    if (t.name == "urge") comment = "请加快进度，按期完成。";
    if (t.name == "apply_completion") fields = {{"results", "项目已按计划完成，形成工作报告一份。"}};
    if (t.name == "send_back") comment = "成果材料不完整，请补充后再申请。";
    if (t.name == "evaluate") fields = {{"rating", "good"}, {"brand", false}};
    // assign's fields open with the instance's branch (writer()); its tail closes them.
    if (t.name == "assign") t.tail = ",\"due_date\":" + Json(due).dump() + "}";
    if (!fields.empty()) t.tail += ",\"fields\":" + fields.dump();
    if (!comment.empty()) t.tail += ",\"comment\":" + Json(comment).dump();
    out.push_back(std::move(t));
  }
  return out;
}

awaitable<void> writer(Ctx& ctx, int index) {
  Conn conn(ctx, co_await net::this_coro::executor);
  std::mt19937_64 rng(1000 + index);
  std::vector<Life> lives(3);
  const std::string due = due_date(180);
  const std::vector<StepText> texts = step_texts(due);
  const std::string goal = Json("推动党建与业务深度融合，服务群众，提升效能。").dump();
  size_t turn = 0;
  uint64_t serial = 0;
  Pacer pace(ctx.rate, ctx.conns, index);
  std::string target, body;
  while (!ctx.stopping) {
    Life& l = lives[turn++ % lives.size()];
    if (l.step == 0 || l.id.empty()) {
      l = Life{};
      l.team = &teams()[rng() % 10 < 6 ? 0 : 1];
      l.branch = &l.team->branches[rng() % l.team->branches.size()];
    }
    const Team& t = *l.team;
    const Team::Branch& b = *l.branch;
    const StepText& step = texts[l.step];
    const std::string& name = step.name;
    const std::string* user = nullptr;
    body.clear();
    if (l.step == 0) {
      user = &t.pg;
      target = "/api/v1/instances";
      body.append("{\"workflow\":\"yizhi-yixiang\",\"org\":\"").append(t.org);
      body.append("\",\"fields\":{\"title\":\"先锋项目 ").append(std::to_string(index)).append("-");
      body.append(std::to_string(++serial)).append("\",\"goal\":").append(goal);
      body.append(",\"area\":\"service\",\"due_date\":\"").append(due).append("\"}}");
    } else {
      if (name == "issue" || name == "evaluate") user = &t.pg;
      if (name == "assign" || name == "urge" || name == "send_back" || name == "approve_completion") user = &t.oc;
      if (name == "claim" || name == "apply_completion") user = &b.secretary;
      if (name == "report_progress") user = l.step == 4 ? &b.secretary : &b.member;
      if (user == nullptr) throw std::logic_error("no user acts on step " + name);
      target.assign("/api/v1/instances/").append(l.id).append("/transitions");
      body.append("{\"transition\":\"").append(name).append("\",\"expected_version\":");
      body.append(std::to_string(l.version));
      if (name == "assign") body.append(",\"fields\":{\"branch\":\"").append(b.org).append("\"");
      body.append(step.tail).append("}");
    }
    const double started = co_await pace.wait(ctx);
    if (ctx.stopping) break;
    const int status = co_await conn.call(http::verb::post, target, ctx.token(*user), body);
    ctx.record("write", started, status);
    ctx.record(step.kind, started, status);
    if (status == 200 || status == 201) {
      if (l.step == 0) {
        l.id = find_string(conn.body(), "id");
        ctx.remember(l.id, ctx.token(t.pg));
      }
      l.version = find_number(conn.body(), "version");
      l.step = (l.step + 1) % kStepCount;
      if (l.id.empty() || l.version < 0) l.step = 0;
    } else {
      if (status != 0 && ctx.report("write")) {
        std::fprintf(stderr, "write %s -> %d %s\n", name.c_str(), status, conn.body().substr(0, 300).c_str());
      }
      l.step = 0;  // start a fresh instance
      if (status == 429 || status == 503) co_await sleep_for(ctx, 0.01);
    }
  }
}

// ------------------------------------------------------------------ the read workload

void harvest(Ctx& ctx, const std::string& body, const std::string& tok) {
  const std::string pat = "\"id\":\"";
  for (size_t p = body.find(pat); p != std::string::npos; p = body.find(pat, p + 1)) {
    size_t s = p + pat.size(), e = body.find('"', s);
    if (e != std::string::npos && e - s == 26) ctx.remember(body.substr(s, e - s), tok);
  }
}

awaitable<void> reader(Ctx& ctx, int index) {
  Conn conn(ctx, co_await net::this_coro::executor);
  std::mt19937_64 rng(5000 + index);
  const std::string list_tok = ctx.token("li.na");
  const std::string boss_tok = ctx.token("wang.wei");
  const std::vector<std::string> todo_users = {"li.na", "zhang.min", "wang.wei", "zhao.lei"};
  // Prime the id pool from a list page (the scale run has no writers).
  int status = co_await conn.call(http::verb::get, "/api/v1/instances?workflow=yizhi-yixiang&limit=200", boss_tok, "");
  if (status == 200) harvest(ctx, conn.body(), boss_tok);
  uint64_t turn = index;
  Pacer pace(ctx.read_rate, ctx.readers, index);
  while (!ctx.stopping) {
    const int kind = static_cast<int>(turn++ % 5);
    double started = co_await pace.wait(ctx);
    if (ctx.stopping) break;
    if (kind == 0 || kind == 4) {  // one instance, with its actions
      auto known = ctx.pick_known(rng);
      if (!known) {
        co_await sleep_for(ctx, 0.01);
        continue;
      }
      const std::string target = "/api/v1/instances/" + known->first + (kind == 4 ? "/events" : "");
      if (!pace.paced()) started = now_s();
      status = co_await conn.call(http::verb::get, target, known->second, "");
      ctx.record(kind == 0 ? "read:instance" : "read:history", started, status);
    } else if (kind == 1) {  // a filtered page of 50
      status = co_await conn.call(http::verb::get,
                                  "/api/v1/instances?workflow=yizhi-yixiang&state=in_progress&org=city/finance&limit=50",
                                  list_tok, "");
      ctx.record("read:list", started, status);
    } else if (kind == 2) {  // the to-do list
      status = co_await conn.call(http::verb::get, "/api/v1/tasks?limit=50",
                                  ctx.token(todo_users[rng() % todo_users.size()]), "");
      ctx.record("read:tasks", started, status);
    } else {  // an unfiltered page, the next page of it
      status = co_await conn.call(http::verb::get, "/api/v1/instances?limit=50", boss_tok, "");
      ctx.record("read:list", started, status);
      std::string cursor = find_string(conn.body(), "next_cursor");
      if (status == 200 && !cursor.empty() && !ctx.stopping) {
        started = now_s();
        status = co_await conn.call(http::verb::get, "/api/v1/instances?limit=50&cursor=" + cursor, boss_tok, "");
        ctx.record("read:list", started, status);
      }
    }
    if (status != 200 && status != 0 && ctx.report("read")) {
      std::fprintf(stderr, "read kind %d -> %d %s\n", kind, status, conn.body().substr(0, 200).c_str());
    }
  }
}

// Reads whose cost the server bounds per call (README "The feed's work is bounded"): each
// was a walk over the whole database before.
awaitable<void> bounds_reader(Ctx& ctx, int index) {
  Conn conn(ctx, co_await net::this_coro::executor);
  const std::vector<std::pair<const char*, std::pair<std::string, std::string>>> kinds = {
      {"read:feed_nobody", {ctx.nobody, "/api/v1/events?since=0&limit=100"}},
      {"read:feed_branch", {"zhang.min", "/api/v1/events?since=0&limit=100"}},
      {"read:state_only", {"li.na", "/api/v1/instances?state=closed&limit=50"}},  // in two workflows
  };
  uint64_t turn = index;
  while (!ctx.stopping) {
    const auto& [kind, call] = kinds[turn++ % kinds.size()];
    const double started = now_s();
    int status = co_await conn.call(http::verb::get, call.second, ctx.token(call.first), "");
    ctx.record(kind, started, status);
    if (status != 200 && status != 0 && ctx.report(kind)) {
      std::fprintf(stderr, "%s -> %d %s\n", kind, status, conn.body().substr(0, 200).c_str());
    }
  }
}

awaitable<void> me_client(Ctx& ctx, int index) {
  Conn conn(ctx, co_await net::this_coro::executor);
  std::vector<std::string> toks;
  for (auto& [u, t] : ctx.tokens) toks.push_back(t);
  uint64_t turn = index;
  while (!ctx.stopping) {
    double started = now_s();
    int status = co_await conn.call(http::verb::get, "/api/v1/me", toks[turn++ % toks.size()], "");
    ctx.record("me", started, status);
  }
}

// ------------------------------------------------------------------ /metrics

struct EngineCounters {
  double commands = 0, batches = 0, events = 0, head = 0;
  std::map<std::string, double> buckets;  // cumulative, by le
};

awaitable<EngineCounters> scrape(Ctx& ctx) {
  Conn conn(ctx, co_await net::this_coro::executor);
  EngineCounters m;
  int status = co_await conn.call(http::verb::get, "/metrics", "", "");
  if (status != 200) co_return m;
  std::istringstream in(conn.body());
  std::string line;
  while (std::getline(in, line)) {
    auto val = [&] { return std::atof(line.c_str() + line.rfind(' ') + 1); };
    if (line.rfind("pioneer_engine_commands_total ", 0) == 0) m.commands = val();
    if (line.rfind("pioneer_engine_batches_total ", 0) == 0) m.batches = val();
    if (line.rfind("pioneer_engine_events_total ", 0) == 0) m.events = val();
    if (line.rfind("pioneer_event_head ", 0) == 0) m.head = val();
    if (line.rfind("pioneer_engine_batch_size_bucket{le=\"", 0) == 0) {
      size_t s = line.find('"') + 1, e = line.find('"', s);
      m.buckets[line.substr(s, e - s)] = val();
    }
  }
  co_return m;
}

// ------------------------------------------------------------------ CPU time

// User and system CPU seconds of a process, all its threads (pid 0: this one), from
// /proc/PID/stat, and from each thread's /proc/PID/task/TID/schedstat the time its threads spent
// runnable but waiting for a core and how many times they were put on one; zeros when unreadable.
struct CpuTime {
  double user = 0, system = 0, waiting = 0, slices = 0;
};

CpuTime cpu_time(int pid) {
  const std::string dir = pid > 0 ? "/proc/" + std::to_string(pid) : std::string("/proc/self");
  std::ifstream f(dir + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return {};
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  double ticks[2] = {0, 0};
  for (int i = 3; i <= 15 && fields >> field; ++i) {  // fields 14 and 15: utime, stime
    if (i >= 14) ticks[i - 14] = std::atof(field.c_str());
  }
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  CpuTime t{ticks[0] / hz, ticks[1] / hz};
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(dir + "/task", ec)) {
    std::ifstream st(task.path() / "schedstat");
    double ran = 0, waited = 0, slices = 0;  // ns on a core, ns runnable and waiting, times scheduled
    if (st >> ran >> waited >> slices) {
      t.waiting += waited / 1e9;
      t.slices += slices;
    }
  }
  return t;
}

Json cpu_json(const CpuTime& a, const CpuTime& b) {
  return Json{{"user_s", b.user - a.user},
              {"system_s", b.system - a.system},
              {"total_s", (b.user + b.system) - (a.user + a.system)},
              {"waiting_for_a_core_s", b.waiting - a.waiting},
              {"times_scheduled", b.slices - a.slices}};
}

// ------------------------------------------------------------------ summaries

Json summarize(std::vector<uint32_t>& us, double seconds) {
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) {
    if (us.empty()) return 0.0;
    return us[std::min(us.size() - 1, static_cast<size_t>(p * static_cast<double>(us.size())))] / 1000.0;
  };
  return Json{{"count", us.size()},
              {"per_s", seconds > 0 ? static_cast<double>(us.size()) / seconds : 0.0},
              {"p50_ms", pct(0.50)},
              {"p90_ms", pct(0.90)},
              {"p99_ms", pct(0.99)},
              {"p999_ms", pct(0.999)},
              {"max_ms", us.empty() ? 0.0 : us.back() / 1000.0}};
}

void load_tokens(Ctx& ctx, const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path);
  Json j = Json::parse(f);
  for (const Json& u : j.at("users")) ctx.tokens[u.at("id").get<std::string>()] = u.at("token").get<std::string>();
}

void raise_nofile() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

// ------------------------------------------------------------------ http mode

int run_http(const Options& o) {
  Ctx ctx;
  ctx.ep = tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(o.num("port", 0)));
  ctx.host = "127.0.0.1:" + o.get("port");
  load_tokens(ctx, o.get("tokens"));
  const std::string scenario = o.get("scenario", "me");
  const int conns = static_cast<int>(o.num("conns", 1));
  const int readers = static_cast<int>(o.num("readers", 0));
  const double warmup = o.num("warmup", 1), seconds = o.num("seconds", 5);
  ctx.rate = o.num("rate", 0);
  ctx.conns = conns;
  ctx.read_rate = o.num("read-rate", 0);
  ctx.readers = scenario == "reads" ? conns : readers;
  const int server_pid = static_cast<int>(o.num("server-pid", 0));
  Json out;
  out["scenario"] = scenario;
  out["conns"] = conns;
  out["readers"] = readers;
  out["rate"] = ctx.rate;
  out["read_rate"] = ctx.read_rate;

  // `mixed --reader-thread 1`: the readers' own loop, kept running until the controller stops it.
  net::io_context reader_ioc{1};
  auto reader_work = net::make_work_guard(reader_ioc);
  const bool reader_thread = scenario == "mixed" && o.num("reader-thread", 0) != 0;
  out["reader_thread"] = reader_thread;
  auto spawn = [&](auto fn, int n, net::io_context& ioc) {
    for (int i = 0; i < n; ++i) {
      net::co_spawn(ioc, fn(ctx, i), [](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            std::fprintf(stderr, "client failed: %s\n", x.what());
          }
        }
      });
    }
  };
  if (scenario == "me") spawn(me_client, conns, ctx.ioc);
  else if (scenario == "transitions") spawn(writer, conns, ctx.ioc);
  else if (scenario == "reads") spawn(reader, conns, ctx.ioc);
  else if (scenario == "bounds") {
    ctx.nobody = o.get("nobody", "nobody");
    spawn(bounds_reader, conns, ctx.ioc);
  }
  else if (scenario == "mixed") {
    spawn(writer, conns, ctx.ioc);
    spawn(reader, readers, reader_thread ? reader_ioc : ctx.ioc);
  } else {
    std::fprintf(stderr, "unknown scenario %s\n", scenario.c_str());
    return 2;
  }
  double measured = 0;
  // A named closure: a coroutine lambda's captures live in the closure object, which must
  // outlive the coroutine (it does: ioc.run() returns before this scope ends).
  auto controller = [&]() -> awaitable<void> {
        co_await sleep_for(ctx, warmup);
        EngineCounters m0 = co_await scrape(ctx);
        const CpuTime server0 = cpu_time(server_pid), self0 = cpu_time(0);
        ctx.measuring = true;
        const double t0 = now_s();
        co_await sleep_for(ctx, seconds);
        ctx.measuring = false;
        measured = now_s() - t0;
        if (server_pid > 0) {
          out["cpu"] = Json{{"server", cpu_json(server0, cpu_time(server_pid))}, {"generator", cpu_json(self0, cpu_time(0))},
                            {"cores", std::thread::hardware_concurrency()}};
        }
        EngineCounters m1 = co_await scrape(ctx);
        ctx.stopping = true;
        const double cmds = m1.commands - m0.commands, batches = m1.batches - m0.batches;
        Json eng{{"commands", cmds}, {"batches", batches}, {"avg_batch", batches > 0 ? cmds / batches : 0.0},
                 {"events", m1.events - m0.events}};
        Json buckets = Json::object();
        double prev = 0;
        for (const char* le : {"1", "4", "16", "64", "256", "+Inf"}) {
          double c = m1.buckets[le] - m0.buckets[le];
          buckets[std::string("le_") + le] = c - prev;  // per bucket, not cumulative
          prev = c;
        }
        eng["batch_buckets"] = buckets;
        out["engine"] = eng;
        co_await sleep_for(ctx, 3);  // let the clients finish their request in flight
        ctx.ioc.stop();
        reader_ioc.stop();
      };
  net::co_spawn(ctx.ioc, controller(), net::detached);
  net::steady_timer watchdog(ctx.ioc);
  watchdog.expires_after(std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(warmup + seconds + 20)));
  watchdog.async_wait([&](beast::error_code) {
    ctx.ioc.stop();
    reader_ioc.stop();
  });
  std::thread readers_thread;
  if (reader_thread) readers_thread = std::thread([&] { reader_ioc.run(); });
  ctx.ioc.run();
  if (readers_thread.joinable()) readers_thread.join();
  out["seconds"] = measured;
  Json kinds = Json::object();
  std::vector<uint32_t> all_reads;
  for (auto& [k, s] : ctx.kinds) {
    if (k == "read" || k == "io_error") continue;
    if (k.rfind("read:", 0) == 0) all_reads.insert(all_reads.end(), s.us.begin(), s.us.end());
    Json j = summarize(s.us, measured);
    Json st = Json::object();
    uint64_t ok = 0, bad = 0;
    for (auto& [code, n] : s.status) {
      st[std::to_string(code)] = n;
      (code >= 200 && code < 300 ? ok : bad) += n;
    }
    j["status"] = st;
    j["ok_per_s"] = measured > 0 ? ok / measured : 0.0;
    j["errors"] = bad;
    kinds[k] = j;
  }
  if (!all_reads.empty()) kinds["read"] = summarize(all_reads, measured);
  out["io_errors"] = ctx.kinds["io_error"].io_errors;
  out["kinds"] = kinds;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// ------------------------------------------------------------------ ws mode

long rss_kb(int pid) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

// "2026-05-01T08:00:00.123Z" -> ms since the epoch (UTC); -1 when malformed.
int64_t parse_at(const char* s, size_t n) {
  if (n < 20) return -1;
  std::tm tm{};
  tm.tm_year = std::atoi(s) - 1900;
  tm.tm_mon = std::atoi(s + 5) - 1;
  tm.tm_mday = std::atoi(s + 8);
  tm.tm_hour = std::atoi(s + 11);
  tm.tm_min = std::atoi(s + 14);
  tm.tm_sec = std::atoi(s + 17);
  int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  if (s[19] == '.') ms += std::atoi(s + 20);  // "sss"
  return ms;
}

struct WsStats {
  int connected = 0, failed = 0, in_flight = 0;
  uint64_t deliveries = 0, heartbeats = 0, closed = 0;
  std::map<int64_t, std::vector<uint32_t>> by_event;  // the event's `at` -> latencies in µs
  bool recording = false;
};

// The fan-out clients are a minimal RFC 6455 client written here, not Beast's websocket::stream:
// with 10,000 clients on the same two cores as the server, the client's per-frame work is part
// of every delivery latency measured. Beast's read path (composed operations, a coroutine
// resumption and a UTF-8 validation per frame) cost the load generator as much user time per
// frame as the server's whole write path. This client does what a browser does and no more: the
// HTTP upgrade with a checked Sec-WebSocket-Accept, then one recv per readiness, frames parsed
// in place (fragmented messages reassembled), pings answered with masked pongs, a close frame
// ends the client. Latency is taken once per recv: every frame in it had arrived by then.
std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  out.resize(static_cast<size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n))));
  return out;
}

std::string ws_accept_for(const std::string& key) {
  const std::string in = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 section 1.3
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  return base64(digest, sizeof digest);
}

// "2026-05-01T08:00:00.123Z" -> ms since the epoch (UTC); -1 when malformed. timegm() runs once
// per distinct hour, not per frame.
int64_t parse_at_cached(const char* s, size_t n) {
  static std::string hour;
  static int64_t hour_ms = 0;
  if (n < 23) return -1;
  if (hour.compare(0, std::string::npos, s, 13) != 0) {
    hour.assign(s, 13);
    hour_ms = parse_at(s, n) - (std::atoi(s + 14) * 60 + std::atoi(s + 17)) * 1000 - std::atoi(s + 20);
  }
  return hour_ms + (std::atoi(s + 14) * 60 + std::atoi(s + 17)) * 1000 + std::atoi(s + 20);
}

class WsClient : public std::enable_shared_from_this<WsClient> {
 public:
  WsClient(Ctx& ctx, WsStats& st) : ctx_(ctx), st_(st), sock_(ctx.ioc) {}

  // Connects and upgrades; then reads until the server closes or the run stops.
  awaitable<void> run(std::string target) {
    try {
      co_await sock_.async_connect(ctx_.ep, use_awaitable);
      sock_.set_option(tcp::no_delay(true));
      unsigned char nonce[16];
      for (auto& b : nonce) b = static_cast<unsigned char>(ctx_.rng());
      const std::string key = base64(nonce, sizeof nonce);
      http::request<http::empty_body> req{http::verb::get, target, 11};
      req.set(http::field::host, ctx_.host);
      req.set(http::field::upgrade, "websocket");
      req.set(http::field::connection, "Upgrade");
      req.set(http::field::sec_websocket_key, key);
      req.set(http::field::sec_websocket_version, "13");
      co_await http::async_write(sock_, req, use_awaitable);
      beast::flat_buffer head;
      http::response<http::empty_body> res;
      co_await http::async_read(sock_, head, res, use_awaitable);
      if (res.result() != http::status::switching_protocols ||
          res[http::field::sec_websocket_accept] != ws_accept_for(key)) {
        throw std::runtime_error("upgrade refused: HTTP " + std::to_string(res.result_int()));
      }
      // Bytes the server sent right after the 101 belong to the first frames.
      buf_.resize(4096);
      auto rest = head.data();
      if (rest.size() > buf_.size()) buf_.resize(rest.size());
      std::memcpy(buf_.data(), rest.data(), rest.size());
      have_ = rest.size();
    } catch (const std::exception& e) {
      if (st_.failed++ < 3) std::fprintf(stderr, "ws connect failed: %s\n", e.what());
      st_.in_flight--;
      co_return;
    }
    st_.in_flight--;
    st_.connected++;
    if (have_ > 0) consume(std::chrono::system_clock::now());
    read();
  }

 private:
  void read() {
    if (ctx_.stopping || done_) return;
    if (have_ == buf_.size()) buf_.resize(buf_.size() * 2);
    sock_.async_read_some(net::buffer(buf_.data() + have_, buf_.size() - have_),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            if (ec) {
                              if (!self->done_) self->st_.closed++;
                              return;
                            }
                            self->have_ += n;
                            self->consume(std::chrono::system_clock::now());
                            self->read();
                          });
  }

  // Parses every complete frame in buf_[0, have_) and keeps the incomplete rest.
  void consume(std::chrono::system_clock::time_point recv) {
    size_t pos = 0;
    while (!done_ && have_ - pos >= 2) {
      const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos);
      const bool fin = p[0] & 0x80;
      const int opcode = p[0] & 0x0f;
      if (p[1] & 0x80) return fail("masked frame from the server");
      uint64_t len = p[1] & 0x7f;
      size_t header = 2;
      if (len == 126 || len == 127) {
        const size_t bytes = len == 126 ? 2 : 8;
        if (have_ - pos < 2 + bytes) break;
        len = 0;
        for (size_t i = 0; i < bytes; ++i) len = (len << 8) | p[2 + i];
        header += bytes;
      }
      if (len > (64u << 20)) return fail("frame over 64 MiB");
      if (have_ - pos < header + len) {
        if (header + len > buf_.size()) buf_.resize(header + len);  // grows for the next read
        break;
      }
      std::string_view payload(buf_.data() + pos + header, len);
      pos += header + len;
      if (opcode == 0x9) {
        pong(payload);
      } else if (opcode == 0x8) {
        done_ = true;
        st_.closed++;
      } else if (opcode == 0x1 || opcode == 0x0) {
        if (fin && message_.empty()) {
          on_message(payload, recv);
        } else {
          message_.append(payload);
          if (fin) {
            on_message(message_, recv);
            message_.clear();
          }
        }
      }
    }
    if (pos > 0) {
      std::memmove(buf_.data(), buf_.data() + pos, have_ - pos);
      have_ -= pos;
    }
  }

  void on_message(std::string_view text, std::chrono::system_clock::time_point recv) {
    if (text.find("\"type\":\"event\"") == std::string_view::npos) {
      st_.heartbeats++;
      return;
    }
    size_t p = text.find("\"at\":\"");
    if (p == std::string_view::npos || !st_.recording) return;
    int64_t at = parse_at_cached(text.data() + p + 6, text.size() - p - 6);
    double lat_us = std::chrono::duration<double, std::micro>(recv.time_since_epoch()).count() - at * 1000.0;
    st_.by_event[at].push_back(static_cast<uint32_t>(std::max(0.0, lat_us)));
    st_.deliveries++;
  }

  // A client's frames are masked (RFC 6455 section 5.3). Rare and tiny: written synchronously.
  void pong(std::string_view payload) {
    std::string frame;
    frame.push_back(static_cast<char>(0x8A));
    frame.push_back(static_cast<char>(0x80 | payload.size()));  // control payloads are <= 125
    unsigned char mask[4];
    for (auto& b : mask) b = static_cast<unsigned char>(ctx_.rng());
    frame.append(reinterpret_cast<const char*>(mask), 4);
    for (size_t i = 0; i < payload.size(); ++i) frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    beast::error_code ec;
    net::write(sock_, net::buffer(frame), ec);
  }

  void fail(const char* why) {
    if (st_.failed++ < 3) std::fprintf(stderr, "ws: %s\n", why);
    done_ = true;
    beast::error_code ec;
    sock_.close(ec);
  }

  Ctx& ctx_;
  WsStats& st_;
  tcp::socket sock_;
  std::vector<char> buf_;
  size_t have_ = 0;
  std::string message_;  // a fragmented message being reassembled
  bool done_ = false;
};

int run_ws(const Options& o) {
  raise_nofile();
  Ctx ctx;
  ctx.ep = tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(o.num("port", 0)));
  ctx.host = "127.0.0.1:" + o.get("port");
  load_tokens(ctx, o.get("tokens"));
  const int clients = static_cast<int>(o.num("clients", 1000));
  const int events = static_cast<int>(o.num("events", 10));
  const double interval = o.num("interval-ms", 200) / 1000.0;
  const int pid = static_cast<int>(o.num("server-pid", 0));
  WsStats st;
  Json out;
  out["clients"] = clients;
  auto controller = [&]() -> awaitable<void> {
        EngineCounters m = co_await scrape(ctx);
        const std::string since = std::to_string(static_cast<uint64_t>(m.head));
        co_await sleep_for(ctx, 0.3);
        const long rss0 = rss_kb(pid);
        const double t0 = now_s();
        const std::vector<std::string> users = {"wang.wei", "li.na"};
        for (int i = 0; i < clients; ++i) {
          while (st.in_flight >= 128) co_await sleep_for(ctx, 0.001);
          st.in_flight++;
          auto client = std::make_shared<WsClient>(ctx, st);
          net::co_spawn(ctx.ioc,
                        [client, target = "/api/v1/stream?since=" + since + "&access_token=" + ctx.token(users[i % 2])]()
                            -> awaitable<void> { co_await client->run(target); },
                        net::detached);
        }
        const double deadline = now_s() + 60;
        while (st.connected + st.failed < clients && now_s() < deadline) co_await sleep_for(ctx, 0.01);
        out["connect_seconds"] = now_s() - t0;
        co_await sleep_for(ctx, 1.0);  // idle
        const long rss1 = rss_kb(pid);
        out["connected"] = st.connected;
        out["failed"] = st.failed;
        out["rss_before_kb"] = rss0;
        out["rss_after_kb"] = rss1;
        out["bytes_per_client"] = st.connected > 0 ? (rss1 - rss0) * 1024.0 / st.connected : 0.0;
        // The driver: one create every `interval`; every client that may see it gets the event.
        Conn driver(ctx, ctx.ioc.get_executor());
        st.recording = true;
        int ok = 0;
        std::vector<uint32_t> write_us;
        // One more event than measured: the first after the clients connected is reported on its
        // own (`delivery_first`). It costs about twice as much per frame on this VM: the first
        // send on each socket copies into kernel buffer pages touched for the first time (perf:
        // _copy_from_iter), which a long-running server has long since paid for.
        for (int k = 0; k <= events; ++k) {
          const std::string body =
              Json{{"workflow", "yizhi-yixiang"}, {"org", "city/finance"},
                   {"fields", {{"title", "扇出测试 " + std::to_string(k)}, {"area", "service"}}}}
                  .dump();
          const double s = now_s();
          int status = co_await driver.call(http::verb::post, "/api/v1/instances", ctx.token("wang.wei"), body);
          write_us.push_back(static_cast<uint32_t>((now_s() - s) * 1e6));
          ok += status == 201;
          co_await sleep_for(ctx, interval);
        }
        const uint64_t want = static_cast<uint64_t>(ok) * st.connected;
        const double wait_deadline = now_s() + 5;
        while (st.deliveries < want && now_s() < wait_deadline) co_await sleep_for(ctx, 0.01);
        out["events"] = std::max(ok - 1, 0);  // measured, the first not included
        out["deliveries_expected"] = want;
        out["deliveries"] = st.deliveries;
        out["closed_by_server"] = st.closed;
        // p50 / p99 of each event on its own: tells one slow event from a slow tail in every one.
        Json per_event = Json::array();
        std::vector<uint32_t> measured;
        for (auto& [at, us] : st.by_event) {
          if (at == st.by_event.begin()->first) {
            out["delivery_first"] = summarize(us, 0);
            continue;
          }
          measured.insert(measured.end(), us.begin(), us.end());
          Json e = summarize(us, 0);
          per_event.push_back({e["p50_ms"], e["p99_ms"]});
        }
        out["delivery"] = summarize(measured, 0);
        out["delivery_per_event_p50_p99_ms"] = std::move(per_event);
        out["write"] = summarize(write_us, 0);
        out["rss_end_kb"] = rss_kb(pid);
        ctx.stopping = true;
        ctx.ioc.stop();
      };
  net::co_spawn(ctx.ioc, controller(), net::detached);
  net::steady_timer watchdog(ctx.ioc);
  watchdog.expires_after(std::chrono::seconds(120) + std::chrono::milliseconds(static_cast<int>(events * interval * 1000)));
  watchdog.async_wait([&](beast::error_code) {
    std::fprintf(stderr, "ws: watchdog fired\n");
    ctx.ioc.stop();
  });
  ctx.ioc.run();
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pioneer_bench http|ws --port P --tokens FILE [--key value]...\n");
    return 2;
  }
  const Options o = Options::parse(argc, argv, 2);
  try {
    const std::string mode = argv[1];
    if (mode == "http") return run_http(o);
    if (mode == "ws") return run_ws(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pioneer_bench: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "pioneer_bench: unknown mode %s\n", argv[1]);
  return 2;
}
