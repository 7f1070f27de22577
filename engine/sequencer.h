// Sequencer: the one writer thread (internal to the engine).
//
// Takes every waiting command (up to max_batch) plus the timers that have fallen due, decides
// each in order against the current state — a later command in a batch sees the earlier
// one's effect through an overlay — and writes all accepted results in one WriteBatch with
// sync=true. Only after the batch is durable does it update the in-memory caches, answer the
// callers and hand the events to the publisher. A command that is refused adds nothing to the
// batch. If the commit itself fails every command of the batch is answered with kInternal and
// nothing in memory changes.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "engine/directory.h"
#include "engine/engine.h"
#include "engine/registry.h"
#include "storage/store.h"

namespace pioneer::engine {

class Sequencer {
 public:
  struct Deps {
    storage::Store& store;
    Directory& directory;
    Registry& registry;
    const Clock& clock;
    const RoleCatalog& roles;
    size_t queue_limit;
    size_t max_batch;
    int utc_offset_minutes;
    std::string hash_algorithm;
  };

  // Reads the head of the log from the store; fails on a store that cannot be read.
  static Result<std::unique_ptr<Sequencer>> start(Deps deps);
  ~Sequencer();  // finishes every queued command, then joins the thread

  void set_publisher(Publisher publisher);
  void submit(Command command, ReplyCallback done);
  void stop_accepting();
  void poke();
  void drain();
  uint64_t head_seq() const;
  EngineMetrics metrics() const;

 private:
  struct Pending {
    Command command;
    ReplyCallback done;
  };
  struct BatchState;

  explicit Sequencer(Deps deps);
  void run();
  void process_batch(std::vector<Pending>& batch);
  std::vector<Pending> due_timers(int64_t now, size_t room);
  std::optional<int64_t> next_timer_due() const;
  void advance_timer_floor(const std::vector<Pending>& batch, const std::vector<Result<Reply>>& replies,
                           const std::string& lowest_armed);

  Result<Reply> apply(BatchState& bs, const Command& command);
  Result<Reply> apply_instance_command(BatchState& bs, const Command& command);
  Result<Reply> apply_admin_command(BatchState& bs, const Command& command);
  Result<std::optional<Instance>> load_instance(BatchState& bs, const std::string& id);
  void record(BatchState& bs, const Definition& def, const std::optional<Instance>& before, struct Decision& d,
              storage::Batch& out);

  Deps deps_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  bool accepting_ = true;
  bool busy_ = false;
  bool poked_ = false;
  Publisher publisher_;

  // Head of the log; written only by the writer thread, read by others.
  std::atomic<uint64_t> head_seq_{0};
  std::string head_hash_;
  // Writer thread only: no live timer key sorts below this (see advance_timer_floor).
  std::string timer_floor_;

  // Metrics.
  std::atomic<uint64_t> commands_{0}, batches_{0}, events_{0}, overloaded_{0};
  std::atomic<uint64_t> batch_buckets_[6] = {};

  std::thread thread_;
};

}  // namespace pioneer::engine
