#include "fuzz/targets.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>

#include "api/http.h"
#include "api/hub.h"
#include "api/logins.h"
#include "api/router.h"
#include "api/server_state.h"
#include "api/upload/file_name.h"
#include "api/upload/multipart.h"
#include "api/upload/sniff.h"
#include "common/crypto.h"
#include "common/csv.h"
#include "common/utf8.h"
#include "engine/audit/verify.h"
#include "engine/core/calendar.h"
#include "engine/core/codec.h"
#include "engine/core/definition.h"
#include "engine/core/duration.h"
#include "engine/engine.h"
#include "tools/demo.h"

namespace pioneer::fuzz {
namespace {

std::string_view bytes(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// A property broke: print what and abort (a crash to libFuzzer, a death to the replay test).
[[noreturn]] void broken(const std::string& what, std::string_view input) {
  std::fprintf(stderr, "fuzz property broken: %s\ninput (%zu bytes): %s\n", what.c_str(), input.size(),
               hex_encode(input.substr(0, 512)).c_str());
  std::abort();
}

const engine::RoleCatalog& roles() {
  static const engine::RoleCatalog catalog = engine::RoleCatalog::defaults();
  return catalog;
}

}  // namespace

int definition(const uint8_t* data, size_t size) {
  const std::string_view in = bytes(data, size);
  Json json = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return 0;
  auto def = engine::parse_definition(json, roles());
  if (!def) {
    // Every refusal lists its problems, each with a path, and the details serialise.
    (void)def.error().details().dump();
    return 0;
  }
  (void)engine::definition_graph(*def, "dot");
  (void)engine::definition_graph(*def, "mermaid");
  // What was accepted once is accepted again from its own source (a stored definition is
  // re-parsed at every start: a definition that validates only once would brick the server).
  auto again = engine::parse_definition(def->source, roles());
  if (!again) broken("an accepted definition's source no longer parses: " + again.error().message, in);
  return 0;
}

int records(const uint8_t* data, size_t size) {
  const std::string_view in = bytes(data, size);
  if (auto e = engine::decode_event(in)) {
    (void)engine::event_hash_input(*e);
    auto back = engine::decode_event(engine::encode_event(*e));
    if (!back) broken("an event that decoded does not decode after encoding", in);
    if (!(*back == *e)) broken("an event changes in an encode/decode round trip", in);
  }
  if (auto i = engine::decode_instance(in)) {
    (void)engine::instance_json(*i, nullptr).dump();
    auto back = engine::decode_instance(engine::encode_instance(*i));
    if (!back) broken("an instance that decoded does not decode after encoding", in);
    if (!(*back == *i)) broken("an instance changes in an encode/decode round trip", in);
  }
  if (auto o = engine::decode_org(in)) {
    auto back = engine::decode_org(engine::encode_org(*o));
    if (!back) broken("an org that decoded does not decode after encoding", in);
    if (back->id != o->id || back->name != o->name || back->kind != o->kind || back->parent != o->parent) {
      broken("an org changes in an encode/decode round trip", in);
    }
  }
  return 0;
}

int time(const uint8_t* data, size_t size) {
  const std::string_view in = bytes(data, size);
  if (auto ms = engine::parse_time(in)) {
    const std::string text = engine::format_time(*ms);
    auto back = engine::parse_time(text);
    if (!back || *back != *ms) broken("parse_time(format_time(t)) != t for t = " + std::to_string(*ms) + " (" + text + ")", in);
  }
  (void)engine::parse_date_days(in);
  (void)engine::parse_duration_ms(in);
  return 0;
}

int dossier(const uint8_t* data, size_t size) {
  Json json = Json::parse(bytes(data, size), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return 0;
  const engine::VerifyReport report = engine::verify_dossier(json);
  (void)report.to_json().dump();
  return 0;
}

int query(const uint8_t* data, size_t size) {
  const std::string_view in = bytes(data, size);
  (void)api::parse_query(in);
  (void)api::percent_decode(in, true);
  (void)api::percent_decode(in, false);
  (void)api::bearer_token(in);
  static const api::Router router;
  std::vector<std::string> params;
  for (const api::Route& route : router.routes()) {
    params.clear();
    (void)api::match_pattern(route.pattern, in, params);
  }
  if (auto decoded = base64url_decode(in)) {
    auto again = base64url_decode(base64url_encode(*decoded));
    if (!again || *again != *decoded) broken("base64url round trip", in);
  }
  return 0;
}

int ws_message(const uint8_t* data, size_t size) {
  const std::string_view in = bytes(data, size);
  auto filter = api::parse_client_message(in);
  if (!filter) {
    (void)api::error_frame(filter.error());
    return 0;
  }
  const std::string frame = api::subscribed_frame(*filter);
  if (Json::parse(frame, nullptr, false).is_discarded()) broken("subscribed frame is not JSON", in);
  engine::Event event;
  event.workflow = "yizhi-yixiang";
  event.org = "city/finance";
  event.assignee_org = "city/finance/b1";
  (void)filter->admits(event);
  return 0;
}

// ---- api_request ----
//
// Input: "METHOD TARGET\nUSER\nIDEMPOTENCY-KEY\nBODY". TARGET is path?query as on the request
// line; USER is a demo user id (their token is sent), "-" for no Authorization header, or else
// the Authorization header itself. "{id}" in TARGET or BODY stands for an instance created at
// start-up (assigned to city/finance/b1), "{other}" for one in another department.
namespace {

struct ApiFixture {
  std::string dir;
  api::ServerConfig config;
  api::Hub hub;
  api::Metrics metrics;
  api::Router router;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<api::ServerState> state;
  std::unique_ptr<api::Logins> logins;  // login and password routes hash on its thread
  std::map<std::string, std::string> tokens;  // user id -> token
  std::string id, other;
};

ApiFixture* make_fixture() {
  auto* f = new ApiFixture();
  char tmpl[] = "/tmp/pioneer-fuzz-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) std::abort();
  f->dir = tmpl;
  static std::string remove_at_exit;
  remove_at_exit = f->dir;
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(remove_at_exit, ec);
  });
  engine::EngineOptions options;
  options.data_dir = f->dir + "/db";
  auto opened = engine::Engine::open(options);
  if (!opened) std::abort();
  f->engine = std::move(*opened);
  if (!f->engine->load_workflows_dir(PIONEER_SOURCE_DIR "/workflows")) std::abort();
  if (!engine::seed_demo(*f->engine, f->dir + "/tokens.json")) std::abort();
  std::ifstream in(f->dir + "/tokens.json");
  std::stringstream text;
  text << in.rdbuf();
  const Json users = Json::parse(text.str(), nullptr, false);
  if (!users.is_object() || !users.contains("users")) std::abort();
  for (const Json& u : users["users"]) f->tokens[u["id"]] = u["token"];
  f->engine->set_publisher([f](const std::vector<engine::Event>& events) { f->hub.publish(events); });
  f->state.reset(new api::ServerState{f->config, *f->engine, f->hub, f->metrics, f->router});
  f->router.bind(f->state.get());
  f->logins = std::make_unique<api::Logins>(api::Logins::Options{});
  f->state->logins = f->logins.get();

  auto party = f->engine->user("wang.wei");
  auto committee = f->engine->user("li.na");
  if (!party || !committee) std::abort();
  auto a = f->engine->execute(engine::Command{
      engine::CreateInstance{"yizhi-yixiang", "city/finance", {{"title", "模糊测试"}, {"goal", "g"}, {"area", "service"}}, std::nullopt},
      *party, {}, {}});
  if (!a) std::abort();
  f->id = a->body["id"];
  (void)f->engine->execute(engine::Command{engine::FireTransition{f->id, "issue", Json::object(), std::nullopt, std::nullopt}, *party, {}, {}});
  (void)f->engine->execute(engine::Command{
      engine::FireTransition{f->id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-03-31"}}, std::nullopt, std::nullopt},
      *committee, {}, {}});
  f->other = f->id;
  for (const auto& [user, org] : {std::pair<std::string, std::string>{"chen.jie", "city/education"}}) {
    if (auto p = f->engine->user(user)) {
      auto b = f->engine->execute(engine::Command{
          engine::CreateInstance{"yizhi-yixiang", org, {{"title", "另一部门"}, {"goal", "g"}, {"area", "service"}}, std::nullopt},
          *p, {}, {}});
      if (b) f->other = b->body["id"];
    }
  }
  return f;
}

ApiFixture& fixture() {
  static ApiFixture* f = make_fixture();  // lives for the process: the engine's writer runs on
  return *f;
}

std::string substitute(std::string text, const ApiFixture& f) {
  for (auto [from, to] : {std::pair<std::string_view, const std::string*>{"{id}", &f.id}, {"{other}", &f.other}}) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to->size())) {
      text.replace(at, from.size(), *to);
    }
  }
  return text;
}

std::string_view take_line(std::string_view& in) {
  const size_t nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  return line;
}

}  // namespace

int api_request(const uint8_t* data, size_t size) {
  ApiFixture& f = fixture();
  const std::string_view whole = bytes(data, size);
  std::string_view in = whole;
  const std::string_view request_line = take_line(in);
  const std::string_view user = take_line(in);
  const std::string_view key = take_line(in);

  api::Request req;
  const size_t sp = request_line.find(' ');
  req.method = std::string(request_line.substr(0, sp));
  const std::string target = substitute(std::string(sp == std::string_view::npos ? "" : request_line.substr(sp + 1)), f);
  const size_t q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) req.query = api::parse_query(std::string_view(target).substr(q + 1));
  if (auto t = f.tokens.find(std::string(user)); t != f.tokens.end()) {
    req.authorization = "Bearer " + t->second;
  } else if (user != "-") {
    req.authorization = std::string(user);
  }
  req.idempotency_key = std::string(key);
  req.body = substitute(std::string(in), f);

  auto answered = std::make_shared<std::promise<api::Response>>();
  std::future<api::Response> future = answered->get_future();
  f.router.dispatch(std::move(req), [answered](api::Response r) { answered->set_value(std::move(r)); });
  // A write answers from the engine's writer thread once durable; 30 s is a hang.
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) broken("no answer within 30 s", whole);
  const api::Response r = future.get();
  if (r.status < 200 || r.status > 599) broken("status " + std::to_string(r.status), whole);
  // Bad input is refused with a 4xx (or 503 when overloaded), never answered with a 500.
  if (r.status >= 500 && r.status != 503) broken("status " + std::to_string(r.status) + ": " + r.body, whole);
  if (r.content_type == "application/json" && Json::parse(r.body, nullptr, false).is_discarded()) {
    broken("a JSON answer that is not JSON", whole);
  }
  return 0;
}

// ---- multipart, csv, calendar ----
namespace {

// Records a multipart reader's callbacks as text, and sniffs each part's body as it streams.
class PartRecorder : public api::upload::MultipartSink {
 public:
  std::string log;
  Result<void> on_part_begin(const api::upload::PartHeaders& h) override {
    log += "begin " + h.name + "|" + h.filename.value_or("-") + "|" + h.content_type + "\n";
    sniffer_ = api::upload::ContentSniffer();
    whole_.clear();
    if (h.filename) {
      const std::string name = api::upload::clean_file_name(*h.filename, "file");
      if (name.empty() || name.size() > api::upload::kMaxFileNameBytes || !utf8::valid(name)) {
        broken("a cleaned file name is empty, too long or not UTF-8: " + name, *h.filename);
      }
      for (char c : api::upload::content_disposition(name)) {
        if (c < 0x20 || c > 0x7E) broken("Content-Disposition holds a byte outside printable ASCII", name);
      }
    }
    return {};
  }
  Result<void> on_part_body(std::string_view bytes) override {
    if (bytes.empty()) broken("a body callback without bytes", bytes);
    log.append(bytes);
    sniffer_.feed(bytes);
    whole_.append(bytes);
    return {};
  }
  Result<void> on_part_end() override {
    api::upload::ContentSniffer once;
    once.feed(whole_);
    if (once.finish() != sniffer_.finish()) broken("sniffing a part whole and in pieces disagree", whole_);
    log += "\nend\n";
    return {};
  }

 private:
  api::upload::ContentSniffer sniffer_;
  std::string whole_;
};

// Feeds `body` in pieces whose sizes follow `sizes` (0 = all at once); the callbacks and the
// outcome as text.
std::string read_multipart(const std::string& boundary, std::string_view body, std::string_view sizes) {
  PartRecorder sink;
  api::upload::MultipartReader reader(boundary, sink);
  std::string outcome = "ok";
  for (size_t i = 0, k = 0; i < body.size() && outcome == "ok"; ++k) {
    const size_t n = sizes.empty() ? body.size() : 1 + static_cast<unsigned char>(sizes[k % sizes.size()]) % 97;
    auto fed = reader.feed(body.substr(i, n));
    if (!fed) outcome = fed.error().message;
    if (reader.buffered() > boundary.size() + 4 + 64 + api::upload::MultipartLimits{}.max_header_bytes) {
      broken("the multipart reader holds more than its bound", body);
    }
    i += n;
  }
  if (outcome == "ok") {
    auto done = reader.finish();
    if (!done) outcome = done.error().message;
  }
  return sink.log + "=> " + outcome;
}

}  // namespace

int multipart(const uint8_t* data, size_t size) {
  // Input: the Content-Type line, then the body.
  const std::string_view in = bytes(data, size);
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos) return 0;
  auto boundary = api::upload::multipart_boundary(in.substr(0, nl));
  if (!boundary) return 0;
  const std::string_view body = in.substr(nl + 1);
  const std::string whole = read_multipart(*boundary, body, {});
  // The same callbacks and outcome however the body is cut (the piece sizes come from the body).
  const std::string pieces = read_multipart(*boundary, body, body.substr(0, 16));
  if (whole != pieces) broken("a multipart body reads differently when fed in pieces", in);
  return 0;
}

int csv(const uint8_t* data, size_t size) {
  const std::string_view in = bytes(data, size);
  csv::ReadOptions options;
  options.max_rows = 1000;
  options.max_columns = 64;
  options.max_cell_bytes = 4096;
  auto table = csv::read(in, options);
  if (!table) {
    (void)table.error().details().dump();
    return 0;
  }
  // What was read, written and read again, is the same rows.
  csv::Writer writer;
  for (const auto& row : table->rows) {
    for (const std::string& cell : row) writer.text(cell);
    writer.end_row();
  }
  options.max_bytes = SIZE_MAX;
  options.max_cell_bytes += 1;  // the formula guard's "'"
  auto again = csv::read(writer.take(), options);
  if (!again) broken("written CSV does not read back: " + again.error().message, in);
  if (again->rows != table->rows) broken("CSV rows change in a write/read round trip", in);
  return 0;
}

int calendar(const uint8_t* data, size_t size) {
  const std::string_view in = bytes(data, size);
  if (auto d = engine::parse_duration(in); d && d->unit == engine::Duration::Unit::kWorkdays) {
    if (d->amount > engine::kMaxWorkdays || d->amount < -engine::kMaxWorkdays) broken("a working-day count past the limit", in);
  }
  auto year = engine::parse_year_calendar(in);
  if (!year) {
    (void)year.error().details().dump();
    return 0;
  }
  auto again = engine::parse_year_calendar(engine::year_calendar_json(*year).dump());
  if (!again || !(*again == *year)) broken("a calendar file changes in its canonical form", in);
  engine::Calendar cal;
  cal.set_year(*year);
  // Counting the working days up to where adding took us gives the count back; going back from
  // a working day and forward again returns to it.
  const int64_t first = *engine::parse_day(std::to_string(year->year) + "-01-01");
  for (int64_t from = first - 3; from < first + 370; from += 37) {
    for (int64_t n : {0, 1, 5, 20}) {
      auto to = cal.add_workdays(from, n);
      if (!to) continue;
      auto between = cal.workdays_between(from, *to);
      if (!between || *between != n) broken("add_workdays and workdays_between disagree", in);
      auto back = cal.add_workdays(*to, -n);
      if (n > 0 && cal.is_workday(from) && (!back || *back != from)) broken("adding back and forth moves the day", in);
    }
  }
  return 0;
}

const std::vector<Target>& all_targets() {
  static const std::vector<Target> targets = {
      {"definition", definition}, {"records", records}, {"time", time},
      {"dossier", dossier},       {"query", query},     {"ws_message", ws_message},
      {"api_request", api_request}, {"multipart", multipart}, {"csv", csv},
      {"calendar", calendar},
  };
  return targets;
}

}  // namespace pioneer::fuzz
