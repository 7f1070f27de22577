// Engine internals shared by engine.cc (open, single reads) and queries.cc (lists, to-do,
// statistics). Not part of the public interface.
#pragma once

#include <memory>

#include "engine/engine.h"
#include "engine/write/directory.h"
#include "engine/write/instance_cache.h"
#include "engine/write/registry.h"
#include "engine/write/sequencer.h"
#include "storage/store.h"

namespace pioneer::engine {

struct Engine::State {
  EngineOptions options;
  SystemClock system_clock;
  const Clock* clock = nullptr;
  std::unique_ptr<storage::Store> store;
  Directory directory;
  Registry registry;
  mutable InstanceCache read_cache{20000};  // a cache: filling it does not change what reads see
  std::unique_ptr<Sequencer> sequencer;

  // Reads an instance record (no visibility check); nullopt when absent.
  Result<std::optional<Instance>> read_instance(std::string_view id) const;
  // Reads many, through the read cache; aligned with ids, nullptr where absent.
  Result<std::vector<InstanceCache::Ptr>> read_instances(const std::vector<std::string>& ids) const;
  // The global seqs of an instance's history, oldest first (Space::kInstanceEvents).
  Result<std::vector<uint64_t>> history_seqs(std::string_view id) const;
  // The events with these seqs, in that order; a missing one is corruption.
  Result<std::vector<Event>> read_events(const std::vector<uint64_t>& seqs) const;
  // The same events as stored: each record is the event's canonical JSON (encode_event).
  Result<std::vector<std::string>> read_event_texts(const std::vector<uint64_t>& seqs) const;
  // The API view of an instance with the caller's actions.
  Json view(const Instance& instance, const Principal& who) const;
  std::string view_text(const Instance& instance, const Principal& who) const;
};

}  // namespace pioneer::engine
