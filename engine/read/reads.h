// The read path: everything the engine answers from the store on the caller's thread, never
// waiting on the writer. Single reads (records.cc): instance records through the read cache,
// their API views, their histories. Walks of the secondary indexes (queries.cc): lists, the
// to-do list, the event feed and statistics. None checks visibility unless it says so; the
// facade (engine/engine.h) does, and documents each call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/commands.h"
#include "engine/core/model.h"
#include "engine/write/engine_state.h"
#include "engine/write/instance_cache.h"

namespace pioneer::engine::reads {

// An instance record (no visibility check); nullopt when absent.
Result<std::optional<Instance>> read_instance(const EngineState& s, std::string_view id);
// Many, through the read cache; aligned with ids, nullptr where absent.
Result<std::vector<InstanceCache::Ptr>> read_instances(const EngineState& s, const std::vector<std::string>& ids);
// The global seqs of an instance's history, oldest first.
Result<std::vector<uint64_t>> history_seqs(const EngineState& s, std::string_view id);
// The events with these seqs, in that order; a missing one is corruption.
Result<std::vector<Event>> read_events(const EngineState& s, const std::vector<uint64_t>& seqs);
// The same events as stored: each record is the event's canonical JSON (encode_event).
Result<std::vector<std::string>> read_event_texts(const EngineState& s, const std::vector<uint64_t>& seqs);
// The API view of an instance with the caller's actions, as Json or as JSON text.
Json view(const EngineState& s, const Instance& instance, const Principal& who);
std::string view_text(const EngineState& s, const Instance& instance, const Principal& who);

// Engine::list_instances, tasks, events_after and stats (engine/engine.h), which forward here.
Result<InstancePage> list_instances(const EngineState& s, const Principal& who, const InstanceFilter& filter,
                                    size_t limit, std::string_view cursor, ViewForm form);
Result<InstancePage> tasks(const EngineState& s, const Principal& who, size_t limit, std::string_view cursor,
                           ViewForm form, const TaskFilter& filter);
Result<EventPage> events_after(const EngineState& s, const Principal& who, uint64_t since, size_t limit,
                               std::optional<EventScan> scan);
Result<Json> stats(const EngineState& s, const Principal& who, std::string_view workflow, std::string_view group_by);

}  // namespace pioneer::engine::reads
