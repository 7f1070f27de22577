// EngineState: what the engine holds while it is open — the store, the in-memory directory and
// definitions, the read cache and the writer. The facade (engine.cc) opens and owns it; the read
// path (engine/read/reads.h) reads through it. Not part of the public interface.
#pragma once

#include <memory>

#include "common/clock.h"
#include "engine/core/commands.h"
#include "engine/write/directory.h"
#include "engine/write/instance_cache.h"
#include "engine/write/registry.h"
#include "engine/write/sequencer.h"
#include "storage/store.h"

namespace pioneer::engine {

struct EngineState {
  EngineOptions options;
  SystemClock system_clock;
  const Clock* clock = nullptr;
  std::unique_ptr<storage::Store> store;
  Directory directory;
  Registry registry;
  mutable InstanceCache read_cache{20000};  // a cache: filling it does not change what reads see
  std::unique_ptr<Sequencer> sequencer;
};

}  // namespace pioneer::engine
