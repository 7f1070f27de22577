// Sequencer: the one writer (internal to the engine), in two stages.
//
// The writer thread decides every command in arrival order against the current state — a
// later command sees the earlier one's effect through the open batch's overlay and the
// writer's cache — and adds its writes to the open batch. The committer thread writes a batch
// with one WriteBatch and sync=true. While one batch is being written and synced, the writer
// already decides the next one on top of it; the open batch is handed over the moment the
// committer is free, so a batch is as large as what arrived during the previous commit (group
// commit without a timer). Deciding overlaps writing and syncing (measured in bench/README.md:
// under load the committer is busy ~70 % of the time, the writer ~25 %).
//
// Only after a batch is durable does the committer move the head and hand the batch to the
// replier, which updates the read cache before it answers anyone; so readers never see what is
// not durable, and a caller that has its answer reads what it wrote. A command
// that is refused adds nothing to its batch. If a commit fails, every command of that batch,
// and of the batch decided on top of it, is answered kInternal, and the writer forgets what it
// had decided (its cache, the head it had reached, in-flight idempotency records and timers).
//
// Commands that change the directory or the definitions (administration) take effect in
// memory only after their commit, so nothing more is decided until such a batch is committed.
//
// Answering is a third thread's work (the replier): it updates the read cache, builds each
// reply's JSON body, calls the callbacks and hands events to the publisher, in commit order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <iterator>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <mutex>
#include <unordered_map>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "engine/core/commands.h"
#include "engine/core/indexer.h"
#include "engine/write/directory.h"
#include "engine/write/instance_cache.h"
#include "engine/write/registry.h"
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
    std::vector<InstanceCache::Ptr> committed;  // for the read cache
  };
  struct Flight;  // one batch: decided by the writer, then committed

  explicit Sequencer(Deps deps);
  void run();
  void run_committer();
  void run_replier();
  static Json deferred_body(const Deferred& d);
  // Writer: decides `commands` into the open batch (made when there is none).
  void decide(std::unique_ptr<Flight>& open, std::vector<Pending> commands);
  // Writer: what the writer keeps of a batch it hands to the committer.
  void seal(Flight& flight);
  // Writer: after a failed commit, forgets everything not durable.
  void forget_undurable(std::unique_ptr<Flight>& open, const std::string& why);
  // Committer: writes, syncs and publishes one batch; false when the commit failed.
  bool commit(Flight& flight);

  // The earliest armed timer, durable or not, or a time not after it. Scans the store only
  // when `quiet` (nothing open or being committed); otherwise an unknown answer is "now".
  std::optional<int64_t> next_timer_due(bool quiet, int64_t now);
  void advance_timer_floor(const std::vector<Pending>& batch, const std::vector<Result<Reply>>& replies,
                           const std::string& lowest_armed);
  std::vector<Pending> due_timers(int64_t now, size_t room);

  Result<Reply> apply(BatchState& bs, const Command& command);
  Result<Reply> apply_instance_command(BatchState& bs, const Command& command);
  Result<Reply> apply_admin_command(BatchState& bs, const Command& command);
  // The instance as of this point of the batch; nullptr when there is none.
  Result<KnownPtr> lookup(BatchState& bs, const std::string& id);
  KnownPtr record(BatchState& bs, const Definition& def, const Known* before, struct Decision& d);
  void remember(const std::string& id, KnownPtr known);  // writer thread

  Deps deps_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  bool accepting_ = true;
  bool busy_ = false;       // the writer is deciding, or holds an open batch
  bool poked_ = false;
  Publisher publisher_;
  // The hand-over between writer and committer (under mu_).
  std::unique_ptr<Flight> handed_;   // waiting for the committer to take it
  bool committing_ = false;          // a batch is handed over and not yet finished
  bool committing_barrier_ = false;  // ... and it holds administration commands
  bool commit_failed_ = false;       // the last commit failed: the writer must forget
  bool committer_stopping_ = false;
  std::condition_variable commit_wake_;

  // Head of the log as durable; written only by the committer, read by others (head_hash_
  // by the writer under mu_ after a failed commit).
  std::atomic<uint64_t> head_seq_{0};
  std::string head_hash_;
  // Head of the log as decided (writer thread only): ahead of the durable head while a batch
  // is being committed.
  uint64_t decided_seq_ = 0;
  std::string decided_hash_;
  // Idempotency records of the batch being committed (writer thread only): not in the store yet.
  std::map<std::string, std::string> inflight_idempotency_;
  // Writer thread only: no live timer key sorts below this (see advance_timer_floor).
  std::string timer_floor_;
  // Writer thread only: no armed timer falls due before next_due_ (it may be earlier than the
  // real earliest, never later), kept without a scan: the timer family holds the deletions of
  // disarmed timers until they meet their puts, and scanning it per batch cost the writer 20 %.
  // Every timer change goes through this thread.
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
  std::atomic<uint64_t> commit_buckets_[std::size(EngineMetrics::kCommitBucketsMs) + 1] = {};
  std::atomic<uint64_t> commit_us_total_ = 0;

  std::thread committer_;
  std::thread thread_;
};

}  // namespace pioneer::engine
