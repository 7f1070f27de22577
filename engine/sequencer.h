// Sequencer: the one writer thread (internal to the engine).
//
// Takes every waiting command (up to max_batch) plus the timers that have fallen due, decides
// each in order against the current state — a later command in a batch sees the earlier
// one's effect through an overlay — and writes all accepted results in one WriteBatch with
// sync=true. Only after the batch is durable does it update the in-memory caches, answer the
// callers and hand the events to the publisher. A command that is refused adds nothing to the
// batch. If the commit itself fails every command of the batch is answered with kInternal and
// nothing in memory changes.
//
// Answering is a second thread's work (the replier): it builds each reply's JSON body, calls
// the callbacks and hands events to the publisher, in commit order, so the writer spends its
// time only on deciding and writing.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <unordered_map>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "engine/directory.h"
#include "engine/engine.h"
#include "engine/indexer.h"
#include "engine/instance_cache.h"
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
    InstanceCache* read_cache = nullptr;  // told about every committed instance
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
  // An instance record as the writer knows it, with the index entries it implies.
  // Immutable once made and shared (batch overlay, writer cache, read cache, reply), never copied.
  struct Known {
    Instance instance;
    std::vector<index::Entry> entries;
  };
  using KnownPtr = std::shared_ptr<const Known>;
  static InstanceCache::Ptr instance_of(const KnownPtr& known) {
    return InstanceCache::Ptr(known, &known->instance);  // aliasing: shares ownership of `known`
  }
  // A reply whose body is built on the replier thread.
  struct Deferred {
    InstanceCache::Ptr instance;
    DefinitionPtr def;
    Principal who;
  };
  struct Answer {
    ReplyCallback done;
    Result<Reply> reply;
    std::optional<Deferred> deferred;
  };
  struct Completed {
    std::vector<Answer> answers;
    std::vector<Event> events;
  };

  explicit Sequencer(Deps deps);
  void run();
  void run_replier();
  static Json deferred_body(const Deferred& d);
  void process_batch(std::vector<Pending>& batch);
  std::vector<Pending> due_timers(int64_t now, size_t room);
  std::optional<int64_t> next_timer_due();  // cached until a batch changes a timer
  void advance_timer_floor(const std::vector<Pending>& batch, const std::vector<Result<Reply>>& replies,
                           const std::string& lowest_armed);

  Result<Reply> apply(BatchState& bs, const Command& command);
  Result<Reply> apply_instance_command(BatchState& bs, const Command& command);
  Result<Reply> apply_admin_command(BatchState& bs, const Command& command);
  // The instance as of this point of the batch; nullptr when there is none.
  Result<KnownPtr> lookup(BatchState& bs, const std::string& id);
  KnownPtr record(BatchState& bs, const Definition& def, const Known* before, struct Decision& d);
  void remember(const std::string& id, KnownPtr known);  // writer thread, after commit

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
  // Writer thread only: no armed timer falls due before next_due_ (it may be earlier than the
  // real earliest, never later), kept without a scan: the timer family is full of tombstones of
  // disarmed timers, and scanning it per batch cost the writer 20 %. Every timer change goes
  // through this thread.
  bool timers_dirty_ = true;
  std::optional<int64_t> next_due_;

  // Recently written instances (writer thread only): skips a read and a JSON parse per command.
  static constexpr size_t kCacheCapacity = 20000;
  std::list<std::pair<std::string, KnownPtr>> cache_;  // most recent first
  std::unordered_map<std::string, decltype(cache_)::iterator> cache_index_;

  // The replier's queue.
  std::mutex reply_mu_;
  std::condition_variable reply_wake_;
  std::condition_variable reply_idle_;
  std::deque<Completed> replies_;
  bool replier_busy_ = false;
  bool replier_stopping_ = false;
  std::thread replier_;

  // Metrics.
  std::atomic<uint64_t> commands_{0}, batches_{0}, events_{0}, overloaded_{0};
  std::atomic<uint64_t> batch_buckets_[6] = {};

  std::thread thread_;
};

}  // namespace pioneer::engine
