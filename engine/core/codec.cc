#include "engine/core/codec.h"

#include <cstdio>

#include "common/crypto.h"
#include "common/json_text.h"

namespace pioneer::engine {
namespace {

// Howard Hinnant's civil calendar algorithms: exact for the proleptic Gregorian calendar.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

std::string str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t num(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

Json opt_time(const std::optional<int64_t>& ms) { return ms ? Json(format_time(*ms)) : Json(nullptr); }

}  // namespace

std::string format_time(int64_t ms) {
  int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  int64_t rem = ms - days * 86400000;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  const int hh = static_cast<int>(rem / 3600000), mm = static_cast<int>(rem / 60000 % 60),
            ss = static_cast<int>(rem / 1000 % 60), milli = static_cast<int>(rem % 1000);
  char buf[40];
  if (y >= 0 && y <= 9999) {
    // Written digit by digit: snprintf cost ~3,000 instructions a call (callgrind), and the
    // writer formats several times per transition (the event's `at`, the record's times).
    char* p = buf;
    auto two = [&p](unsigned v) {
      *p++ = static_cast<char>('0' + v / 10);
      *p++ = static_cast<char>('0' + v % 10);
    };
    two(static_cast<unsigned>(y / 100));
    two(static_cast<unsigned>(y % 100));
    *p++ = '-';
    two(m);
    *p++ = '-';
    two(d);
    *p++ = 'T';
    two(static_cast<unsigned>(hh));
    *p++ = ':';
    two(static_cast<unsigned>(mm));
    *p++ = ':';
    two(static_cast<unsigned>(ss));
    if (milli != 0) {
      *p++ = '.';
      *p++ = static_cast<char>('0' + milli / 100);
      two(static_cast<unsigned>(milli % 100));
    }
    *p++ = 'Z';
    return std::string(buf, p);
  }
  if (milli != 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<long long>(y), m, d,
                  hh, mm, ss, milli);
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(y), m, d, hh, mm,
                  ss);
  }
  return buf;
}

std::optional<int64_t> parse_date_days(std::string_view s) {
  int y, m, d;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  if (!digits(s, 0, 4, y) || !digits(s, 5, 2, m) || !digits(s, 8, 2, d)) return std::nullopt;
  if (m < 1 || m > 12 || d < 1 || d > static_cast<int>(days_in_month(y, m))) return std::nullopt;
  return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

std::optional<int64_t> parse_time(std::string_view s) {
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':') return std::nullopt;
  auto days = parse_date_days(s.substr(0, 10));
  int hh, mm, ss;
  if (!days || !digits(s, 11, 2, hh) || !digits(s, 14, 2, mm) || !digits(s, 17, 2, ss)) return std::nullopt;
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  size_t pos = 19;
  int64_t milli = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      milli += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int64_t offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (pos + 6 != s.size() || s[pos + 3] != ':' || !digits(s, pos + 1, 2, oh) || !digits(s, pos + 4, 2, om) ||
        oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_min = (s[pos] == '+' ? 1 : -1) * (oh * 60 + om);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const int64_t ms = *days * 86400000 + hh * 3600000LL + mm * 60000LL + ss * 1000LL + milli - offset_min * 60000;
  // An offset can push a time outside the years format_time writes (0000-9999 UTC): refuse it,
  // so every accepted time reads back the same.
  static const int64_t kFirst = days_from_civil(0, 1, 1) * 86400000;
  static const int64_t kEnd = days_from_civil(10000, 1, 1) * 86400000;
  if (ms < kFirst || ms >= kEnd) return std::nullopt;
  return ms;
}

Json label_json(const Label& label) { return Json{{"zh", label.zh}, {"en", label.en}}; }

// ---- instances ----

// Written by hand in the key order std::map gives (see json_text.h); equal to the canonical
// dump of the same record as a Json object.
std::string encode_instance(const Instance& in) {
  namespace jt = json_text;
  std::string out;
  out.reserve(512);
  out.append("{\"approvals\":");
  jt::array(out, in.approvals, [](std::string& o, const Approval& a) { jt::pair_object(o, "role", a.role, "user", a.user); });
  out.append(",\"approvals_for\":");
  jt::string(out, in.approvals_for);
  out.append(",\"assignee_org\":");
  jt::string(out, in.assignee_org);
  if (in.closed_at_ms) {
    out.append(",\"closed_at\":");
    jt::integer(out, *in.closed_at_ms);
  }
  out.append(",\"created_at\":");
  jt::integer(out, in.created_at_ms);
  out.append(",\"created_by\":");
  jt::string(out, in.created_by);
  if (in.due_at_ms) {
    out.append(",\"due_at\":");
    jt::integer(out, *in.due_at_ms);
  }
  out.append(",\"fields\":");
  jt::value(out, in.fields);
  out.append(",\"fired_by\":{");
  bool first = true;
  for (const auto& [transition, users] : in.fired_by) {
    jt::key(out, transition, first);
    jt::array(out, users, [](std::string& o, const std::string& u) { jt::string(o, u); });
  }
  out.push_back('}');
  if (!in.fired_timers.empty()) {
    out.append(",\"fired_timers\":");
    jt::array(out, in.fired_timers, [](std::string& o, const std::string& name) { jt::string(o, name); });
  }
  out.append(",\"id\":");
  jt::string(out, in.id);
  out.append(",\"org\":");
  jt::string(out, in.org);
  out.append(in.overdue ? ",\"overdue\":true" : ",\"overdue\":false");
  out.append(",\"state\":");
  jt::string(out, in.state);
  out.append(",\"timers\":");
  jt::array(out, in.timers, [](std::string& o, const ArmedTimer& t) {
    o.append("{\"due\":");
    jt::integer(o, t.due_ms);
    o.append(",\"name\":");
    jt::string(o, t.name);
    o.push_back('}');
  });
  out.append(",\"updated_at\":");
  jt::integer(out, in.updated_at_ms);
  out.append(",\"version\":");
  jt::integer(out, in.version);
  out.append(",\"workflow\":");
  jt::string(out, in.workflow);
  out.append(",\"wv\":");
  jt::integer(out, in.workflow_version);
  out.push_back('}');
  return out;
}

Result<Instance> decode_instance(std::string_view bytes) {
  Json j = Json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("id") || !j["fields"].is_object()) {
    return fail(Code::kCorruption, "实例记录损坏（corrupt instance record）");
  }
  try {
    Instance in;
    in.id = str(j, "id");
    in.workflow = str(j, "workflow");
    in.workflow_version = static_cast<int>(num(j, "wv"));
    in.state = str(j, "state");
    in.org = str(j, "org");
    in.assignee_org = str(j, "assignee_org");
    in.fields = j["fields"];
    in.version = num(j, "version");
    in.created_at_ms = num(j, "created_at");
    in.updated_at_ms = num(j, "updated_at");
    if (j.contains("due_at")) in.due_at_ms = num(j, "due_at");
    if (j.contains("closed_at")) in.closed_at_ms = num(j, "closed_at");
    in.overdue = j.value("overdue", false);
    in.created_by = str(j, "created_by");
    in.approvals_for = str(j, "approvals_for");
    for (const Json& a : j.value("approvals", Json::array())) in.approvals.push_back({str(a, "role"), str(a, "user")});
    in.fired_by = j.value("fired_by", Json::object()).get<std::map<std::string, std::vector<std::string>>>();
    for (const Json& t : j.value("timers", Json::array())) in.timers.push_back({str(t, "name"), num(t, "due")});
    for (const Json& name : j.value("fired_timers", Json::array())) in.fired_timers.push_back(name.get<std::string>());
    return in;
  } catch (const Json::exception& e) {
    return fail(Code::kCorruption, std::string("实例记录损坏（corrupt instance record: ") + e.what() + "）");
  }
}

Json instance_json(const Instance& in, const Definition* def) {
  Json state_label = Json{{"zh", ""}, {"en", ""}};
  if (def != nullptr) {
    if (const StateSpec* s = def->state(in.state)) state_label = label_json(s->label);
  }
  Json j = {
      {"id", in.id}, {"workflow", in.workflow}, {"workflow_version", in.workflow_version},
      {"state", in.state}, {"state_label", state_label}, {"org", in.org},
      {"assignee_org", in.assignee_org.empty() ? Json(nullptr) : Json(in.assignee_org)},
      {"fields", in.fields}, {"version", in.version}, {"created_at", format_time(in.created_at_ms)},
      {"updated_at", format_time(in.updated_at_ms)}, {"due_at", opt_time(in.due_at_ms)},
      {"overdue", in.overdue}, {"created_by", in.created_by}, {"closed_at", opt_time(in.closed_at_ms)},
  };
  if (def != nullptr && !in.approvals_for.empty()) {
    if (const TransitionSpec* t = def->transition_from(in.approvals_for, in.state)) {
      Json pending = Json::array();
      for (const ActorSpec& party : t->countersign) {
        Json by = nullptr;
        for (const Approval& a : in.approvals) {
          if (a.role == party.role) by = a.user;
        }
        pending.push_back({{"role", party.role}, {"approved_by", by}});
      }
      j["pending_approvals"] = pending;
      j["pending_transition"] = in.approvals_for;
    }
  }
  if (def != nullptr && !def->title_field.empty() && in.fields.contains(def->title_field)) {
    j["title"] = in.fields[def->title_field];
  }
  return j;
}

namespace {

void label_text(std::string& out, const Label& label) {
  out.append("{\"en\":");
  json_text::string(out, label.en);
  out.append(",\"zh\":");
  json_text::string(out, label.zh);
  out.push_back('}');
}

void strings_text(std::string& out, const std::vector<std::string>& items) {
  json_text::array(out, items, [](std::string& o, const std::string& item) { json_text::string(o, item); });
}

void time_or_null(std::string& out, const std::optional<int64_t>& ms) {
  if (ms) {
    json_text::string(out, format_time(*ms));
  } else {
    out.append("null");
  }
}

}  // namespace

namespace {
// Everything of an instance view after "actions": the same for whoever asks.
std::string view_tail(const Instance& in, const Definition* def) {
  namespace jt = json_text;
  std::string out;
  out.reserve(1024);
  out.append(",\"assignee_org\":");
  jt::string_or_null(out, in.assignee_org);
  out.append(",\"closed_at\":");
  time_or_null(out, in.closed_at_ms);
  out.append(",\"created_at\":");
  jt::string(out, format_time(in.created_at_ms));
  out.append(",\"created_by\":");
  jt::string(out, in.created_by);
  out.append(",\"due_at\":");
  time_or_null(out, in.due_at_ms);
  out.append(",\"fields\":");
  out.append(in.fields.dump(-1, ' ', false, Json::error_handler_t::replace));
  out.append(",\"id\":");
  jt::string(out, in.id);
  out.append(",\"org\":");
  jt::string(out, in.org);
  out.append(in.overdue ? ",\"overdue\":true" : ",\"overdue\":false");
  if (def != nullptr && !in.approvals_for.empty()) {
    if (const TransitionSpec* t = def->transition_from(in.approvals_for, in.state)) {
      out.append(",\"pending_approvals\":");
      jt::array(out, t->countersign, [&](std::string& o, const ActorSpec& party) {
        std::optional<std::string> by;
        for (const Approval& a : in.approvals) {
          if (a.role == party.role) by = a.user;
        }
        o.append("{\"approved_by\":");
        jt::optional_string(o, by);
        o.append(",\"role\":");
        jt::string(o, party.role);
        o.push_back('}');
      });
      out.append(",\"pending_transition\":");
      jt::string(out, in.approvals_for);
    }
  }
  out.append(",\"state\":");
  jt::string(out, in.state);
  out.append(",\"state_label\":");
  const StateSpec* state = def != nullptr ? def->state(in.state) : nullptr;
  label_text(out, state != nullptr ? state->label : Label{});
  if (def != nullptr && !def->title_field.empty()) {
    if (auto it = in.fields.find(def->title_field); it != in.fields.end()) {
      out.append(",\"title\":");
      out.append(it->dump(-1, ' ', false, Json::error_handler_t::replace));
    }
  }
  out.append(",\"updated_at\":");
  jt::string(out, format_time(in.updated_at_ms));
  out.append(",\"version\":");
  jt::integer(out, in.version);
  out.append(",\"workflow\":");
  jt::string(out, in.workflow);
  out.append(",\"workflow_version\":");
  jt::integer(out, in.workflow_version);
  out.push_back('}');
  return out;
}

std::string action_text(const TransitionSpec& t) {
  namespace jt = json_text;
  static constexpr const char* kComment[] = {"optional", "required", "none"};
  std::string o;
  o.append("{\"accepts\":");
  strings_text(o, t.accepts);
  o.append(",\"comment\":\"");
  o.append(kComment[static_cast<int>(t.comment)]);
  o.append(t.is_countersign() ? "\",\"countersign\":true,\"label\":" : "\",\"countersign\":false,\"label\":");
  label_text(o, t.label);
  o.append(",\"requires\":");
  strings_text(o, t.requires_fields);
  o.append(",\"to\":");
  jt::optional_string(o, t.to);
  o.append(",\"transition\":");
  jt::string(o, t.name);
  o.push_back('}');
  return o;
}
}  // namespace

// Written by hand, keys in sorted order: the same bytes as
// `instance_json(in, def)` with "actions" added, dumped (codec tests compare them).
// The parts that do not depend on the principal are rendered once per record version (and
// once per transition) and kept beside the shared immutable values (text_memo.h): a list page
// of 50 then costs the actions check and a copy per instance, not 50 renderings.
void append_instance_view(std::string& out, const Instance& in, const Definition* def,
                          const std::vector<const TransitionSpec*>& actions) {
  out.append("{\"actions\":");
  json_text::array(out, actions, [](std::string& o, const TransitionSpec* t) {
    o.append(t->action_memo.get(0, [&] { return action_text(*t); }));
  });
  out.append(in.view_memo.get(in.version, [&] { return view_tail(in, def); }));
}

// ---- events ----

namespace {
Json event_json_without_hash(const Event& e) {
  Json audience = Json::array();
  for (const AudienceEntry& a : e.audience) {
    audience.push_back(a.user.empty() ? Json{{"role", a.role}, {"org", a.org}} : Json{{"user", a.user}});
  }
  return Json{
      {"seq", e.seq}, {"instance_id", e.instance_id}, {"workflow", e.workflow},
      {"instance_seq", e.instance_seq}, {"type", e.type},
      {"transition", e.transition.empty() ? Json(nullptr) : Json(e.transition)},
      {"from", e.from ? Json(*e.from) : Json(nullptr)}, {"to", e.to ? Json(*e.to) : Json(nullptr)},
      {"actor", {{"id", e.actor_id}, {"name", e.actor_name}}}, {"at", format_time(e.at_ms)},
      {"changes", e.changes}, {"comment", e.comment.empty() ? Json(nullptr) : Json(e.comment)},
      {"audience", audience}, {"org", e.org},
      {"assignee_org", e.assignee_org.empty() ? Json(nullptr) : Json(e.assignee_org)},
      {"prev_hash", e.prev_hash},
  };
}
}  // namespace

Json event_json(const Event& e) {
  Json j = event_json_without_hash(e);
  j["hash"] = e.hash;
  return j;
}

namespace {
// The event as compact JSON with sorted keys, written directly (the writer seals one per
// event); `hash` is left out for the hash input. Equal to event_json(e).dump() (minus "hash").
// `hash_at`, when given, receives the offset where the hash field goes (right after "from", in
// key order) so that seal_event can splice it in instead of writing the text twice.
std::string event_text(const Event& e, bool with_hash, size_t* hash_at = nullptr) {
  namespace jt = json_text;
  std::string out;
  out.reserve(384);
  out.append("{\"actor\":{\"id\":");
  jt::string(out, e.actor_id);
  out.append(",\"name\":");
  jt::string(out, e.actor_name);
  out.append("},\"assignee_org\":");
  jt::string_or_null(out, e.assignee_org);
  out.append(",\"at\":");
  jt::string(out, format_time(e.at_ms));
  out.append(",\"audience\":");
  jt::array(out, e.audience, [](std::string& o, const AudienceEntry& a) {
    if (a.user.empty()) return jt::pair_object(o, "org", a.org, "role", a.role);
    o.append("{\"user\":");
    jt::string(o, a.user);
    o.push_back('}');
  });
  out.append(",\"changes\":");
  jt::value(out, e.changes);
  out.append(",\"comment\":");
  jt::string_or_null(out, e.comment);
  out.append(",\"from\":");
  jt::optional_string(out, e.from);
  if (hash_at) *hash_at = out.size();
  if (with_hash) {
    out.append(",\"hash\":");
    jt::string(out, e.hash);
  }
  out.append(",\"instance_id\":");
  jt::string(out, e.instance_id);
  out.append(",\"instance_seq\":");
  jt::integer(out, e.instance_seq);
  out.append(",\"org\":");
  jt::string(out, e.org);
  out.append(",\"prev_hash\":");
  jt::string(out, e.prev_hash);
  out.append(",\"seq\":");
  jt::integer(out, e.seq);
  out.append(",\"to\":");
  jt::optional_string(out, e.to);
  out.append(",\"transition\":");
  jt::string_or_null(out, e.transition);
  out.append(",\"type\":");
  jt::string(out, e.type);
  out.append(",\"workflow\":");
  jt::string(out, e.workflow);
  out.push_back('}');
  return out;
}
}  // namespace

std::string event_hash_input(const Event& e) { return event_text(e, false); }

std::string encode_event(const Event& e) { return event_text(e, true); }

std::string seal_event(Event& e, std::string_view algorithm) {
  size_t hash_at = 0;
  std::string text = event_text(e, false, &hash_at);
  e.hash = digest_hex(algorithm, text).value_or("");
  std::string field = ",\"hash\":";
  json_text::string(field, e.hash);
  text.insert(hash_at, field);
  return text;
}

Result<Event> decode_event(std::string_view bytes) {
  Json j = Json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j["seq"].is_number_unsigned() || !j["actor"].is_object()) {
    return fail(Code::kCorruption, "事件记录损坏（corrupt event record）");
  }
  try {
    Event e;
    e.seq = j["seq"].get<uint64_t>();
    e.instance_id = str(j, "instance_id");
    e.workflow = str(j, "workflow");
    e.instance_seq = num(j, "instance_seq");
    e.type = str(j, "type");
    e.transition = str(j, "transition");
    if (j["from"].is_string()) e.from = j["from"].get<std::string>();
    if (j["to"].is_string()) e.to = j["to"].get<std::string>();
    e.actor_id = str(j["actor"], "id");
    e.actor_name = str(j["actor"], "name");
    auto at = parse_time(str(j, "at"));
    if (!at) return fail(Code::kCorruption, "事件时间损坏（corrupt event time）");
    e.at_ms = *at;
    e.changes = j.value("changes", Json::object());
    e.comment = str(j, "comment");
    for (const Json& a : j.value("audience", Json::array())) {
      e.audience.push_back(a.contains("user") ? AudienceEntry{"", "", str(a, "user")} : AudienceEntry{str(a, "role"), str(a, "org"), ""});
    }
    e.org = str(j, "org");
    e.assignee_org = str(j, "assignee_org");
    e.prev_hash = str(j, "prev_hash");
    e.hash = str(j, "hash");
    return e;
  } catch (const Json::exception& ex) {
    return fail(Code::kCorruption, std::string("事件记录损坏（corrupt event record: ") + ex.what() + "）");
  }
}

// ---- orgs ----

Json org_json(const Org& org) {
  return Json{{"id", org.id}, {"name", org.name}, {"kind", org.kind},
              {"parent", org.parent.empty() ? Json(nullptr) : Json(org.parent)}};
}

std::string encode_org(const Org& org) { return org_json(org).dump(); }

Result<Org> decode_org(std::string_view bytes) {
  Json j = Json::parse(bytes, nullptr, false);
  if (!j.is_object() || !j["id"].is_string()) return fail(Code::kCorruption, "组织记录损坏（corrupt org record）");
  return Org{str(j, "id"), str(j, "name"), str(j, "kind"), str(j, "parent")};
}

}  // namespace pioneer::engine
