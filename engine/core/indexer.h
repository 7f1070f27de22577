// Index and counter keys derived from an instance record.
//
// Every secondary index entry and statistics counter is a pure function of the instance
// (and its definition), so the writer can diff the entries of the record before and after a
// command and write exactly the difference in the same batch as the record itself: indexes
// never disagree with instances, even across a crash, and `pioneer verify` can recompute them.
//
// Scope paths: an instance is indexed under its org and, when it has one under a different
// path, under its assignee org (value tag "o" or "a"), so that a prefix scan under any role's
// org finds both the department's own items and those assigned into a branch.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/definition.h"
#include "engine/core/model.h"

namespace pioneer::engine::index {

struct Entry {
  std::string key;
  std::string value;
  bool operator<(const Entry& other) const { return key < other.key; }
  bool operator==(const Entry& other) const = default;
};

// Every index entry of the instance, sorted by key. Given the same instance before a change
// and its entries, the title-search entries are copied from them when the title is unchanged
// (most transitions): its grams are the costliest part to compute.
std::vector<Entry> entries(const Definition& def, const Instance& instance, const Instance* before = nullptr,
                           const std::vector<Entry>* before_entries = nullptr);

// Prefix scans (each ends right before the instance id part).
std::string by_org(std::string_view root);                                   // all, by scope path
std::string by_workflow(std::string_view workflow, std::string_view root);
std::string by_state(std::string_view workflow, std::string_view state, std::string_view root);
std::string overdue(std::string_view root);                                  // open and overdue
std::string todo(std::string_view role, std::string_view org);               // who can act now
std::string todo_creator(std::string_view user);
std::string title_gram(std::string_view gram);                               // title search

// The instance id at the end of an index key.
std::string_view id_of(std::string_view key);

// Title search: the grams (two code points, lowercased ASCII) of a text; a one-character text
// gives itself. Used both to index titles and to pick a posting list for a query.
std::vector<std::string> grams(std::string_view text);

// The other families keyed by instance (the writer, verify and the bulk generator share these):
// its history, Space::kInstanceEvents (id, instance_seq) -> global seq, and its armed timers,
// Space::kTimers (due time, id, timer name) -> "".
std::string history_key(std::string_view id, int64_t instance_seq);
std::string history_prefix(std::string_view id);
std::string timer_key(const ArmedTimer& timer, std::string_view id);
struct TimerKey {
  int64_t due_ms = 0;
  std::string id, name;
};
std::optional<TimerKey> parse_timer_key(std::string_view key);

// The statistics counter this instance counts in (Space::kCounters), and its parts.
std::string counter_key(const Instance& instance);
struct CounterParts {
  std::string workflow, org, assignee_org, state;
  bool overdue = false;
};
bool parse_counter_key(std::string_view key, CounterParts& out);
std::string counter_prefix(std::string_view workflow);

}  // namespace pioneer::engine::index
