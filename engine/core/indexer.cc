#include "engine/core/indexer.h"

#include <algorithm>
#include <set>

#include "engine/core/rules.h"
#include "storage/keys.h"

namespace pioneer::engine::index {
namespace {

using storage::KeyBuilder;

// Splits UTF-8 text into code points (each as its bytes), lowercasing ASCII letters.
std::vector<std::string> code_points(std::string_view text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    n = std::min(n, text.size() - i);
    std::string cp(text.substr(i, n));
    if (n == 1 && c >= 'A' && c <= 'Z') cp[0] = static_cast<char>(c - 'A' + 'a');
    if (!(n == 1 && (c == ' ' || c == '\t' || c == '\n' || c == '\r'))) out.push_back(std::move(cp));
    else out.push_back(" ");
    i += n;
  }
  return out;
}

}  // namespace

std::vector<std::string> grams(std::string_view text) {
  std::vector<std::string> cps = code_points(text);
  std::set<std::string> out;
  if (cps.size() == 1 && cps[0] != " ") out.insert(cps[0]);
  for (size_t i = 0; i + 1 < cps.size(); ++i) {
    if (cps[i] == " " || cps[i + 1] == " ") continue;
    out.insert(cps[i] + cps[i + 1]);
  }
  return {out.begin(), out.end()};
}

std::string by_org(std::string_view root) { return KeyBuilder().text("o").org(root).build(); }
std::string by_workflow(std::string_view wf, std::string_view root) {
  return KeyBuilder().text("w").text(wf).org(root).build();
}
std::string by_state(std::string_view wf, std::string_view state, std::string_view root) {
  return KeyBuilder().text("s").text(wf).text(state).org(root).build();
}
std::string overdue(std::string_view root) { return KeyBuilder().text("d").org(root).build(); }
std::string todo(std::string_view role, std::string_view org) { return KeyBuilder().text("t").text(role).org(org).build(); }
std::string todo_creator(std::string_view user) { return KeyBuilder().text("c").text(user).prefix(); }
std::string title_gram(std::string_view gram) { return KeyBuilder().text("q").text(gram).prefix(); }

std::string history_key(std::string_view id, int64_t instance_seq) {
  return KeyBuilder().text(id).u64(static_cast<uint64_t>(instance_seq)).build();
}

std::string history_prefix(std::string_view id) { return KeyBuilder().text(id).prefix(); }

std::string timer_key(const ArmedTimer& timer, std::string_view id) {
  return KeyBuilder().u64(static_cast<uint64_t>(timer.due_ms)).text(id).text(timer.name).build();
}

std::optional<TimerKey> parse_timer_key(std::string_view key) {
  auto due = storage::get_u64(key);
  if (!due || key.size() < 9 || key[8] != storage::kSep) return std::nullopt;
  auto parts = storage::split_key(key.substr(9));
  if (parts.size() != 2) return std::nullopt;
  return TimerKey{static_cast<int64_t>(*due), std::string(parts[0]), std::string(parts[1])};
}

std::string_view id_of(std::string_view key) {
  size_t pos = key.rfind(storage::kSep);
  return pos == std::string_view::npos ? key : key.substr(pos + 1);
}

namespace {

// The title text the grams are made of; nullptr when the instance has none.
const std::string* title_of(const Definition& def, const Instance& in) {
  if (def.title_field.empty()) return nullptr;
  auto it = in.fields.find(def.title_field);
  return it != in.fields.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

}  // namespace

std::vector<Entry> entries(const Definition& def, const Instance& in, const Instance* before,
                           const std::vector<Entry>* before_entries) {
  std::vector<Entry> out;
  const StateSpec* state = def.state(in.state);
  const bool terminal = state != nullptr && state->terminal;
  auto add_scoped = [&](const std::string& path, const std::string& tag) {
    out.push_back({KeyBuilder().text("o").org(path).text(in.id).build(), tag});
    out.push_back({KeyBuilder().text("w").text(in.workflow).org(path).text(in.id).build(), tag});
    out.push_back({KeyBuilder().text("s").text(in.workflow).text(in.state).org(path).text(in.id).build(), tag});
    if (in.overdue && !terminal) out.push_back({KeyBuilder().text("d").org(path).text(in.id).build(), tag});
  };
  add_scoped(in.org, "o");
  if (!in.assignee_org.empty() && in.assignee_org != in.org) add_scoped(in.assignee_org, "a");
  if (!terminal) {
    for (const auto& [role, org] : todo_slots(def, in)) {
      if (role == "@creator") {
        out.push_back({KeyBuilder().text("c").text(org).text(in.id).build(), ""});
      } else {
        out.push_back({KeyBuilder().text("t").text(role).org(org).text(in.id).build(), ""});
      }
    }
  }
  if (const std::string* title = title_of(def, in)) {
    const std::string* old_title = nullptr;
    if (before && before_entries && before->id == in.id && before->workflow == in.workflow &&
        before->workflow_version == in.workflow_version) {
      old_title = title_of(def, *before);
    }
    if (old_title && *old_title == *title) {
      static const std::string kGramPrefix = KeyBuilder().text("q").prefix();
      for (const Entry& e : *before_entries) {
        if (e.key.compare(0, kGramPrefix.size(), kGramPrefix) == 0) out.push_back(e);
      }
    } else {
      for (const std::string& g : grams(*title)) {
        out.push_back({KeyBuilder().text("q").text(g).text(in.id).build(), ""});
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.key == b.key; }),
            out.end());
  return out;
}

std::string counter_key(const Instance& in) {
  return KeyBuilder().text("n").text(in.workflow).text(in.org).text(in.assignee_org).text(in.state)
      .text(in.overdue ? "1" : "0").build();
}

std::string counter_prefix(std::string_view workflow) { return KeyBuilder().text("n").text(workflow).prefix(); }

bool parse_counter_key(std::string_view key, CounterParts& out) {
  auto parts = storage::split_key(key);
  if (parts.size() != 6 || parts[0] != "n") return false;
  out.workflow = parts[1];
  out.org = parts[2];
  out.assignee_org = parts[3];
  out.state = parts[4];
  out.overdue = parts[5] == "1";
  return true;
}

}  // namespace pioneer::engine::index
