// Lists, the to-do list and statistics: reads that walk the secondary indexes.
//
// A principal sees what its roles cover (docs/api.md "Visibility"). Each list walks one index
// prefix per visibility root (the orgs of the principal's role grants, minus those under
// another), in key order, and the opaque cursor says which root and which key it stopped at,
// so a page costs one seek and a short scan however large the database is.
#include <algorithm>
#include <map>
#include <set>

#include "common/crypto.h"
#include "engine/core/admin_rules.h"
#include "engine/core/codec.h"
#include "engine/core/indexer.h"
#include "engine/core/rules.h"
#include "engine/core/spaces.h"
#include "engine/read/reads.h"
#include "storage/keys.h"

namespace pioneer::engine::reads {

namespace {

struct Position {
  size_t root = 0;
  std::string after_key;  // "" = from the start of the root
};

std::string encode_cursor(const Position& p) {
  return base64url_encode(Json{{"r", p.root}, {"k", base64url_encode(p.after_key)}}.dump());
}

Result<Position> decode_cursor(std::string_view text) {
  Position p;
  if (text.empty()) return p;
  auto bad = [] { return fail(Code::kBadRequest, "分页游标无效（invalid cursor）", Json{{"parameter", "cursor"}}); };
  auto raw = base64url_decode(text);
  if (!raw) return bad();
  Json j = Json::parse(*raw, nullptr, false);
  if (!j.is_object() || !j["r"].is_number_unsigned() || !j["k"].is_string()) return bad();
  auto key = base64url_decode(j["k"].get<std::string>());
  if (!key) return bad();
  p.root = j["r"].get<size_t>();
  p.after_key = *key;
  // Every cursor the server issues goes on after a key it returned (the first page is asked
  // without one).
  if (p.after_key.empty()) return bad();
  return p;
}

// The orgs of the principal's grants (optionally of one role), dropping any that lies under
// another: together they cover exactly what the principal may see, each place once.
std::vector<std::string> roots_of(const Principal& who, std::string_view role = {}) {
  std::vector<std::string> orgs;
  for (const RoleGrant& g : who.roles) {
    if (role.empty() || g.role == role) orgs.push_back(g.org);
  }
  std::sort(orgs.begin(), orgs.end());
  orgs.erase(std::unique(orgs.begin(), orgs.end()), orgs.end());
  std::vector<std::string> out;
  for (const std::string& o : orgs) {
    bool nested = std::any_of(orgs.begin(), orgs.end(), [&](const std::string& other) {
      return other != o && org_covers(other, o);
    });
    if (!nested) out.push_back(o);
  }
  return out;
}

// Narrows visibility roots to a requested subtree: a root inside it stays, a root above it
// becomes the subtree itself, an unrelated root goes.
std::vector<std::string> narrow(const std::vector<std::string>& roots, const std::string& subtree) {
  if (subtree.empty()) return roots;
  std::vector<std::string> out;
  for (const std::string& r : roots) {
    if (org_covers(subtree, r)) out.push_back(r);
    else if (org_covers(r, subtree)) out.push_back(subtree);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool is_bigram(std::string_view gram) {
  int n = 0;
  for (unsigned char c : gram) n += (c & 0xC0) != 0x80;
  return n == 2;
}

bool contains_ci(std::string_view hay, std::string_view needle) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                     [&](char a, char b) { return lower(a) == lower(b); }) != hay.end();
}

// Walks `prefixes` (one per root) from `start`, collecting instances that `accept` keeps, until
// `limit` are found or about options.page_scan_limit entries were looked at (then the page is
// short and its next_cursor goes on from the last one). Reads records in chunks with one
// multi-get each.
template <class Accept>
Result<InstancePage> walk(const EngineState& s, const std::vector<std::string>& prefixes, const Position& start,
                          size_t limit, const Principal& who, ViewForm form, Accept accept) {
  InstancePage page;
  const size_t chunk = std::clamp<size_t>(s.options.page_scan_limit, 1, 64);
  size_t examined = 0;
  if (!start.after_key.empty() && start.root >= prefixes.size()) {  // a cursor for roots this caller does not have
    return fail(Code::kBadRequest, "分页游标无效（invalid cursor）", Json{{"parameter", "cursor"}});
  }
  for (size_t r = start.root; r < prefixes.size(); ++r) {
    const std::string& prefix = prefixes[r];
    std::string lower = prefix;
    if (r == start.root && !start.after_key.empty()) {
      if (start.after_key.compare(0, prefix.size(), prefix) != 0) {
        return fail(Code::kBadRequest, "分页游标无效（invalid cursor）", Json{{"parameter", "cursor"}});
      }
      lower = start.after_key + '\0';  // the smallest key after the last one returned
    }
    auto cursor = s.store->scan(Space::kIndexes, lower, storage::prefix_end(prefix));
    while (cursor->valid()) {
      std::vector<std::string> keys, tags, ids;
      for (; cursor->valid() && keys.size() < chunk; cursor->next()) {
        keys.emplace_back(cursor->key());
        tags.emplace_back(cursor->value());
        ids.emplace_back(index::id_of(cursor->key()));
      }
      auto got = read_instances(s, ids);
      if (!got) return fail(got.error());
      for (size_t i = 0; i < keys.size(); ++i) {
        const InstanceCache::Ptr& in = (*got)[i];
        if (!in) continue;
        if (!who.can_see(in->org, in->assignee_org) || !accept(*in, r, tags[i])) continue;
        if (form == ViewForm::kText) {
          page.texts.push_back(view_text(s, *in, who));
        } else {
          page.items.push_back(view(s, *in, who));
        }
        if (page.size() == limit) {
          // Only promise another page when there may be one.
          const bool more = i + 1 < keys.size() || cursor->valid() || r + 1 < prefixes.size();
          if (more) page.next_cursor = encode_cursor(Position{r, keys[i]});
          return page;
        }
      }
      examined += keys.size();
      if (examined >= s.options.page_scan_limit && (cursor->valid() || r + 1 < prefixes.size())) {
        page.next_cursor = encode_cursor(Position{r, keys.back()});  // a short page: go on from here
        return page;
      }
    }
    if (auto st = cursor->status(); !st) return fail(st.error());
  }
  return page;
}

}  // namespace

Result<InstancePage> list_instances(const EngineState& state, const Principal& who, const InstanceFilter& f,
                                    size_t limit, std::string_view cursor_text, ViewForm form) {
  auto start = decode_cursor(cursor_text);
  if (!start) return fail(start.error());
  std::vector<std::string> roots = narrow(narrow(roots_of(who), f.org), f.assignee_org);
  auto matches = [&](const Instance& in) {
    if (!f.created_by.empty() && in.created_by != f.created_by) return false;
    if (!f.workflow.empty() && in.workflow != f.workflow) return false;
    if (!f.state.empty() && in.state != f.state) return false;
    if (!f.org.empty() && !org_covers(f.org, in.org)) {
      // Asking for a subtree also finds what is assigned into it from above.
      if (in.assignee_org.empty() || !org_covers(f.org, in.assignee_org)) return false;
    }
    if (!f.assignee_org.empty() && (in.assignee_org.empty() || !org_covers(f.assignee_org, in.assignee_org))) return false;
    if (f.overdue_only) {
      DefinitionPtr def = state.registry.get(in.workflow, in.workflow_version);
      const StateSpec* st = def ? def->state(in.state) : nullptr;
      if (!in.overdue || (st && st->terminal)) return false;
    }
    return true;
  };

  // Title search walks the posting list of one gram of the query and checks the whole text.
  // A one-character query has no bigram to look up: it filters the ordinary walk instead.
  auto title_matches = [&](const Instance& in) {
    if (f.text.empty()) return true;
    DefinitionPtr def = state.registry.get(in.workflow, in.workflow_version);
    if (!def || def->title_field.empty()) return false;
    auto it = in.fields.find(def->title_field);
    return it != in.fields.end() && it->is_string() && contains_ci(it->get_ref<const std::string&>(), f.text);
  };
  auto grams = index::grams(f.text);
  if (!grams.empty() && is_bigram(grams.front())) {
    std::vector<std::string> prefixes = {index::title_gram(grams.front())};
    return walk(state, prefixes, *start, limit, who, form, [&](const Instance& in, size_t, const std::string&) {
      if (roots.empty() || !matches(in) || !title_matches(in)) return false;
      return std::any_of(roots.begin(), roots.end(), [&](const std::string& r) {
        return org_covers(r, in.org) || (!in.assignee_org.empty() && org_covers(r, in.assignee_org));
      });
    });
  }

  // A state without its workflow is looked up in the state index of every workflow that has
  // (or had, in an older version) a state of that name: none, and the list is empty at once.
  std::vector<std::string> state_workflows;
  if (!f.state.empty()) {
    if (!f.workflow.empty()) {
      state_workflows.push_back(f.workflow);
    } else {
      for (const DefinitionPtr& latest : state.registry.latest_all()) {
        for (int v = 1; v <= latest->version; ++v) {
          DefinitionPtr def = state.registry.get(latest->id, v);
          if (def && def->state(f.state)) {
            state_workflows.push_back(latest->id);
            break;
          }
        }
      }
      std::sort(state_workflows.begin(), state_workflows.end());
    }
  }
  std::vector<std::string> prefixes;
  std::vector<size_t> root_of;  // prefix -> its root
  for (size_t i = 0; i < roots.size(); ++i) {
    const std::string& root = roots[i];
    if (!f.state.empty()) {
      for (const std::string& wf : state_workflows) {
        prefixes.push_back(index::by_state(wf, f.state, root));
        root_of.push_back(i);
      }
      continue;
    }
    if (!f.workflow.empty()) prefixes.push_back(index::by_workflow(f.workflow, root));
    else if (f.overdue_only) prefixes.push_back(index::overdue(root));
    else prefixes.push_back(index::by_org(root));
    root_of.push_back(i);
  }
  return walk(state, prefixes, *start, limit, who, form, [&](const Instance& in, size_t p, const std::string& tag) {
    // An instance indexed under both its org and its assignee org is listed once: through
    // the org entry when the root covers the org, else through the assignee entry.
    const size_t r = root_of[p];
    if (tag == "a" && org_covers(roots[r], in.org)) return false;
    for (size_t j = 0; j < r; ++j) {
      if (org_covers(roots[j], in.org) || (!in.assignee_org.empty() && org_covers(roots[j], in.assignee_org))) return false;
    }
    return matches(in) && title_matches(in);
  });
}

Result<InstancePage> tasks(const EngineState& state, const Principal& who, size_t limit, std::string_view cursor_text,
                           ViewForm form, const TaskFilter& filter) {
  auto start = decode_cursor(cursor_text);
  if (!start) return fail(start.error());
  // One slot per (role, root org) the principal holds, then the creator slot.
  std::vector<std::pair<std::string, std::string>> slots;
  std::vector<std::string> prefixes;
  std::vector<std::string> roles;
  for (const RoleGrant& g : who.roles) {
    if (std::find(roles.begin(), roles.end(), g.role) == roles.end()) roles.push_back(g.role);
  }
  for (const std::string& role : roles) {
    for (const std::string& root : roots_of(who, role)) {
      slots.emplace_back(role, root);
      prefixes.push_back(index::todo(role, root));
    }
  }
  slots.emplace_back("@creator", who.id);
  prefixes.push_back(index::todo_creator(who.id));
  return walk(state, prefixes, *start, limit, who, form, [&](const Instance& in, size_t r, const std::string&) {
    if (!filter.workflow.empty() && in.workflow != filter.workflow) return false;
    if (filter.overdue_only && !in.overdue) return false;  // a to-do is never in a terminal state
    DefinitionPtr def = state.registry.get(in.workflow, in.workflow_version);
    if (!def) return false;
    const auto actions = available_actions(*def, in, who);
    if (std::none_of(actions.begin(), actions.end(), [](const Action& a) { return a.transition->is_todo(); })) return false;
    // Listed under the first slot that finds it.
    auto in_slots = todo_slots(*def, in);
    for (size_t j = 0; j < r; ++j) {
      for (const auto& [role, org] : in_slots) {
        if (role == slots[j].first && (role == "@creator" ? org == slots[j].second : org_covers(slots[j].second, org))) {
          return false;
        }
      }
    }
    return true;
  });
}

// The event feed. Visibility follows each instance as it is now (docs/api.md), so an event's own
// org fields do not decide it. Two ways to the same answer, whichever costs less:
//  - a caller whose roles cover at most scan.max_merged_instances instances (a branch, a small
//    department) gets those instances' histories merged: a seek per instance, however long the
//    log. Walking the log instead looked at every event after `since` — seconds at 100,000
//    instances for someone who sees nothing, on an I/O thread, for each stream that connects.
//    A short tail (at most scan.merge_after events, a stream reconnecting) is walked: cheaper;
//  - anyone else walks the log and checks each instance once; the walk stops after
//    scan.max_examined events, and next_since says where the next page goes on.
Result<EventPage> events_after(const EngineState& state, const Principal& who, uint64_t since, size_t limit,
                               std::optional<EventScan> bounds) {
  const EventScan scan = bounds.value_or(state.options.event_scan);
  EventPage page;
  page.head = state.sequencer->head_seq();
  page.next_since = page.head;
  if (since >= page.head || limit == 0) {
    page.next_since = since;
    return page;
  }
  const size_t max_examined = std::max<size_t>(scan.max_examined, 1);  // always some progress
  // The instances the caller may see, when they are few. Nested roots are dropped, and an
  // instance found under two roots (its org and its assignee org) counts once.
  std::optional<std::set<std::string, std::less<>>> few;
  // An administrator walks the log: directory events are in no instance's history.
  if (!who.system && !is_admin(who) && page.head - since > scan.merge_after) {
    few.emplace();
    for (const std::string& root : roots_of(who)) {
      auto c = state.store->scan_prefix(Space::kIndexes, index::by_org(root));
      for (; c->valid() && few; c->next()) {
        few->emplace(index::id_of(c->key()));
        if (few->size() > scan.max_merged_instances) few.reset();
      }
      if (!few) break;
      if (auto st = c->status(); !st) return fail(st.error());
    }
  }
  if (few) {
    std::vector<uint64_t> seqs;
    for (const std::string& id : *few) {
      auto history = history_seqs(state, id);
      if (!history) return fail(history.error());
      for (uint64_t seq : *history) {
        if (seq > since && seq <= page.head) seqs.push_back(seq);
      }
    }
    std::sort(seqs.begin(), seqs.end());
    if (seqs.size() > limit) {
      seqs.resize(limit);
      page.next_since = seqs.back();
    }
    auto events = read_events(state, seqs);
    if (!events) return fail(events.error());
    page.items = std::move(*events);
    return page;
  }

  std::map<std::string, bool, std::less<>> visible;  // instance id -> may the caller see it
  size_t examined = 0;
  uint64_t last_seen = since;
  auto cursor = state.store->scan(Space::kEvents, storage::u64_key(since + 1), storage::u64_key(page.head + 1));
  for (; cursor->valid(); cursor->next()) {
    if (page.items.size() == limit || examined == max_examined) {
      page.next_since = page.items.size() == limit ? page.items.back().seq : last_seen;
      break;
    }
    ++examined;
    auto e = decode_event(cursor->value());
    if (!e) return fail(e.error());
    last_seen = e->seq;
    if (e->type == kDirectoryEvent) {
      if (may_see_directory_event(who, *e)) page.items.push_back(std::move(*e));
      continue;
    }
    auto it = visible.find(e->instance_id);
    if (it == visible.end()) {
      auto in = read_instance(state, e->instance_id);
      if (!in) return fail(in.error());
      it = visible.emplace(e->instance_id, *in && who.can_see((*in)->org, (*in)->assignee_org)).first;
    }
    if (it->second) page.items.push_back(std::move(*e));
  }
  if (auto st = cursor->status(); !st) return fail(st.error());
  return page;
}

Result<Json> stats(const EngineState& state, const Principal& who, std::string_view workflow, std::string_view group_by) {
  if (group_by.empty()) group_by = "state";
  if (group_by != "state" && group_by != "org" && group_by != "assignee_org") {
    return fail(Code::kBadRequest, "group_by 只能是 state、org 或 assignee_org（group_by must be state, org or assignee_org）",
                Json{{"parameter", "group_by"}});
  }
  if (!workflow.empty() && !state.registry.latest(workflow)) {
    return fail(Code::kNotFound, "工作流 '" + std::string(workflow) + "' 不存在（no such workflow）");
  }
  // The department an org belongs to: its nearest ancestor (or itself) of kind department.
  auto department_of = [&](const std::string& org) {
    for (std::string o = org; !o.empty();) {
      auto found = state.directory.find_org(o);
      if (found && found->kind == "department") return o;
      size_t slash = o.rfind('/');
      if (slash == std::string::npos) break;
      o = o.substr(0, slash);
    }
    return org;
  };
  std::map<std::string, Json> groups;
  const std::string prefix = workflow.empty() ? storage::KeyBuilder().text("n").prefix() : index::counter_prefix(workflow);
  auto cursor = state.store->scan_prefix(Space::kCounters, prefix);
  for (; cursor->valid(); cursor->next()) {
    index::CounterParts parts;
    if (!index::parse_counter_key(cursor->key(), parts)) continue;
    if (!who.can_see(parts.org, parts.assignee_org)) continue;
    auto count = state.store->counter(Space::kCounters, cursor->key());
    if (!count) return fail(count.error());
    if (*count <= 0) continue;
    // The counters do not carry the definition version, so a state is read in the newest
    // version that has it: a state a newer version renamed or dropped still counts as what it
    // was for the instances that are in it (otherwise closed_late would go to 0 and overdue up
    // when a new version renames `done`).
    const StateSpec* st = nullptr;
    if (DefinitionPtr latest = state.registry.latest(parts.workflow)) {
      for (int v = latest->version; v >= 1 && st == nullptr; --v) {
        if (DefinitionPtr def = state.registry.get(parts.workflow, v)) st = def->state(parts.state);
      }
    }
    const bool terminal = st && st->terminal;
    const bool cancelled = st && st->cancelled;
    std::string key = group_by == "state" ? parts.state
                      : group_by == "org" ? department_of(parts.org)
                                          : parts.assignee_org;
    Json& g = groups[key];
    if (g.is_null()) {
      g = Json{{"key", key.empty() ? Json(nullptr) : Json(key)}, {"count", 0}, {"overdue", 0},
               {"closed_on_time", 0}, {"closed_late", 0}, {"by_state", Json::object()}};
      if (group_by == "state" && st) g["label"] = label_json(st->label);
      if (group_by != "state" && !key.empty()) {
        if (auto org = state.directory.find_org(key)) g["name"] = org->name;
      }
    }
    g["count"] = g["count"].get<int64_t>() + *count;
    if (parts.overdue && !terminal) g["overdue"] = g["overdue"].get<int64_t>() + *count;
    if (terminal && !cancelled) {
      const char* which = parts.overdue ? "closed_late" : "closed_on_time";
      g[which] = g[which].get<int64_t>() + *count;
    }
    g["by_state"][parts.state] = g["by_state"].value(parts.state, int64_t{0}) + *count;
  }
  if (auto st = cursor->status(); !st) return fail(st.error());
  Json out = Json::array();
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  return Json{{"workflow", workflow.empty() ? Json(nullptr) : Json(std::string(workflow))},
              {"group_by", std::string(group_by)},
              {"groups", out}};
}

}  // namespace pioneer::engine::reads
