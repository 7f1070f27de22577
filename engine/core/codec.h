// JSON forms of the model: the stored records and the API views (docs/api.md shapes).
//
// Stored records are JSON text (compact, keys sorted, so the same value always has the same
// bytes, which the event hash chain relies on). Decoders validate shape and return
// kCorruption on a record that does not parse: stored data is never trusted blindly.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "engine/core/definition.h"
#include "engine/core/model.h"

namespace pioneer::engine {

// RFC 3339 UTC with seconds ("2026-11-27T08:00:00Z"); milliseconds kept when non-zero.
std::string format_time(int64_t ms);
std::optional<int64_t> parse_time(std::string_view text);  // RFC 3339, any offset
// "YYYY-MM-DD" as days since the epoch; nullopt when not a real date.
std::optional<int64_t> parse_date_days(std::string_view text);

Json label_json(const Label& label);

// Stored record <-> model.
std::string encode_instance(const Instance& instance);
Result<Instance> decode_instance(std::string_view bytes);

// The event as stored and as the API shows it (docs/api.md "An event looks like"), hash included.
Json event_json(const Event& event);
// The bytes the event hash covers: event_json without "hash", dumped compactly.
std::string event_hash_input(const Event& event);
std::string encode_event(const Event& event);
// Sets event.hash to the digest (sha256 or sm3) of event_hash_input(event) and returns the
// stored bytes, equal to encode_event(event), building the JSON only once. The hash key is
// spliced into the compact dump at the place sorted keys put it.
std::string seal_event(Event& event, std::string_view algorithm);
Result<Event> decode_event(std::string_view bytes);

std::string encode_org(const Org& org);
Result<Org> decode_org(std::string_view bytes);
Json org_json(const Org& org);  // {id, name, kind, parent}

// API view of an instance (without `actions`; the caller adds them). `def` may be null when
// the definition is gone (then labels are empty).
Json instance_json(const Instance& instance, const Definition* def);
// The same view with "actions" (the transitions given), appended as JSON text: the bytes
// `instance_json` plus actions would dump to, without building the tree (reads and replies).
void append_instance_view(std::string& out, const Instance& instance, const Definition* def,
                          const std::vector<const TransitionSpec*>& actions);

}  // namespace pioneer::engine
