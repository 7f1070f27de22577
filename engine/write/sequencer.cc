#include "engine/write/sequencer.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <set>

#include "common/crypto.h"
#include "common/input.h"
#include "common/thread_name.h"
#include "engine/core/admin_rules.h"
#include "engine/core/codec.h"
#include "engine/core/indexer.h"
#include "engine/core/rules.h"
#include "engine/core/spaces.h"
#include "storage/keys.h"

namespace pioneer::engine {

using storage::KeyBuilder;
namespace {

constexpr auto kMaxIdleWait = std::chrono::milliseconds(250);

}  // namespace

// Everything one batch accumulates before it is committed.
struct Sequencer::BatchState {
  int64_t now = 0;
  storage::Batch batch;
  std::map<std::string, KnownPtr, std::less<>> instances;  // changed in this batch, or read for it
  std::set<std::string> changed;                        // ids written in this batch
  std::optional<Deferred> deferred;                     // the body the current command owes
  std::map<std::string, std::string> idempotency;          // written in this batch
  std::map<std::string, DefinitionPtr> definitions;        // registered in this batch
  std::map<std::string, Org, std::less<>> orgs;            // created in this batch
  std::map<std::string, UserRecord, std::less<>> users;    // created in this batch
  uint64_t seq = 0;
  std::string hash;
  std::vector<Event> events;
  std::vector<std::function<void()>> after_commit;  // cache updates, run once durable
  std::string lowest_armed;  // the smallest timer key armed in this batch ("" = none)
  std::optional<int64_t> earliest_armed;  // the earliest due time armed in this batch
  // Statistics counter changes, summed over the batch: most commands of a batch move
  // instances between the same few counters, so this writes a handful of merges, not two per
  // command (each one is a memtable insert, the committer's largest cost).
  std::map<std::string, int64_t> counter_deltas;
};

struct Sequencer::Flight {
  BatchState bs;
  std::vector<Pending> commands;  // in the order decided
  std::vector<Result<Reply>> replies;
  std::vector<std::optional<Deferred>> deferred;
  bool barrier = false;  // holds administration commands
};

Sequencer::Sequencer(Deps deps) : deps_(std::move(deps)) {}

Result<std::unique_ptr<Sequencer>> Sequencer::start(Deps deps) {
  std::unique_ptr<Sequencer> s(new Sequencer(std::move(deps)));
  auto head = s->deps_.store.get(Space::kMeta, "head_seq");
  if (!head) return fail(head.error());
  auto hash = s->deps_.store.get(Space::kMeta, "head_hash");
  if (!hash) return fail(hash.error());
  if (*head) {
    auto v = storage::get_u64(**head);
    if (!v) return fail(Code::kCorruption, "日志头记录损坏（corrupt head_seq）");
    s->head_seq_ = *v;
    s->head_hash_ = hash->value_or("");
  } else {
    s->head_hash_ = std::string(64, '0');
  }
  s->decided_seq_ = s->head_seq_;
  s->decided_hash_ = s->head_hash_;
  s->replier_ = std::thread([p = s.get()] {
    name_this_thread("pioneer-reply");
    p->run_replier();
  });
  s->committer_ = std::thread([p = s.get()] {
    name_this_thread("pioneer-commit");
    p->run_committer();
  });
  s->thread_ = std::thread([p = s.get()] {
    name_this_thread("pioneer-writer");
    p->run();
  });
  return s;
}

Sequencer::~Sequencer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    accepting_ = false;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();  // returns once everything queued is committed
  {
    std::lock_guard lock(mu_);
    committer_stopping_ = true;
  }
  commit_wake_.notify_all();
  if (committer_.joinable()) committer_.join();
  {
    std::lock_guard lock(reply_mu_);
    replier_stopping_ = true;
  }
  reply_wake_.notify_all();
  if (replier_.joinable()) replier_.join();
}

void Sequencer::set_publisher(Publisher publisher) {
  std::lock_guard lock(mu_);
  publisher_ = std::move(publisher);
}

void Sequencer::submit(Command command, ReplyCallback done) {
  {
    std::unique_lock lock(mu_);
    if (accepting_ && queue_.size() < deps_.queue_limit) {
      queue_.push_back(Pending{std::move(command), std::move(done)});
      lock.unlock();
      wake_.notify_one();
      return;
    }
  }
  overloaded_++;
  const bool stopping = !accepting_;
  done(fail(Code::kOverloaded, stopping ? "服务正在停止，请稍后重试（the server is stopping; retry later）"
                                        : "服务繁忙，请稍后重试（the server is busy; retry later）"));
}

void Sequencer::stop_accepting() {
  std::lock_guard lock(mu_);
  accepting_ = false;
}

void Sequencer::poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  wake_.notify_all();
}

void Sequencer::drain() {
  {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return queue_.empty() && !busy_ && !committing_; });
  }
  std::unique_lock lock(reply_mu_);
  reply_idle_.wait(lock, [&] { return replies_.empty() && !replier_busy_; });
}

Json Sequencer::deferred_body(const Deferred& d) {
  Json body = instance_json(*d.instance, d.def.get());
  body["actions"] = actions_json(*d.def, *d.instance, d.who);
  return body;
}

void Sequencer::run_replier() {
  for (;;) {
    Completed completed;
    {
      std::unique_lock lock(reply_mu_);
      reply_wake_.wait(lock, [&] { return !replies_.empty() || replier_stopping_; });
      if (replies_.empty()) break;  // stopping, and everything answered
      completed = std::move(replies_.front());
      replies_.pop_front();
      replier_busy_ = true;
    }
    if (!completed.committed.empty()) deps_.read_cache->committed(completed.committed);
    for (Answer& a : completed.answers) {
      if (a.reply && a.deferred) {
        a.reply->body_text = instance_view_text(a.deferred->def.get(), *a.deferred->instance, a.deferred->who);
      }
      if (a.done) a.done(std::move(a.reply));
    }
    if (!completed.events.empty()) {
      Publisher publisher;
      {
        std::lock_guard lock(mu_);
        publisher = publisher_;
      }
      if (publisher) publisher(completed.events);
    }
    {
      std::lock_guard lock(reply_mu_);
      replier_busy_ = false;
    }
    reply_idle_.notify_all();
  }
  reply_idle_.notify_all();
}

void Sequencer::remember(const std::string& id, KnownPtr known) {
  if (auto it = cache_index_.find(id); it != cache_index_.end()) {
    it->second->second = std::move(known);
    cache_.splice(cache_.begin(), cache_, it->second);
    return;
  }
  cache_.emplace_front(id, std::move(known));
  cache_index_[id] = cache_.begin();
  if (cache_.size() > kCacheCapacity) {
    cache_index_.erase(cache_.back().first);
    cache_.pop_back();
  }
}

uint64_t Sequencer::head_seq() const { return head_seq_.load(); }

EngineMetrics Sequencer::metrics() const {
  EngineMetrics m;
  m.commands = commands_;
  m.batches = batches_;
  m.events = events_;
  m.overloaded = overloaded_;
  {
    std::lock_guard lock(mu_);
    m.queue_depth = queue_.size();
  }
  for (auto& b : batch_buckets_) m.batch_size_buckets.push_back(b.load());
  for (auto& b : commit_buckets_) m.commit_buckets.push_back(b.load());
  m.commit_us_total = commit_us_total_;
  return m;
}

std::optional<int64_t> Sequencer::next_timer_due(bool quiet, int64_t now) {
  if (!timers_dirty_) return next_due_;
  if (!quiet) return now;  // unknown until the store holds everything decided
  next_due_.reset();
  auto c = deps_.store.scan(Space::kTimers, timer_floor_, "");
  if (c->valid()) {
    if (auto due = storage::get_u64(c->key())) next_due_ = static_cast<int64_t>(*due);
  }
  timers_dirty_ = false;
  return next_due_;
}

std::vector<Sequencer::Pending> Sequencer::due_timers(int64_t now, size_t room) {
  std::vector<Pending> out;
  if (now < 0) return out;
  auto c = deps_.store.scan(Space::kTimers, timer_floor_, storage::u64_key(static_cast<uint64_t>(now) + 1));
  for (; c->valid() && out.size() < room; c->next()) {
    auto timer = index::parse_timer_key(c->key());
    if (!timer) continue;
    Command cmd{FireTimer{std::move(timer->id), std::move(timer->name), timer->due_ms}, Principal::system_principal(), {}, {}};
    out.push_back(Pending{std::move(cmd), nullptr});
  }
  return out;
}

// The writer. Timers are read from the store and fired only when it is quiet (nothing open,
// nothing being committed), so that the store holds every timer decided so far; when one is
// due the writer stops taking commands until the pipeline has drained — a pause only when a
// timer falls due.
void Sequencer::run() {
  std::unique_ptr<Flight> open;
  std::unique_lock lock(mu_);
  for (;;) {
    if (commit_failed_ && !committing_) {
      commit_failed_ = false;
      lock.unlock();
      forget_undurable(open, "之前的写入失败，请重试（an earlier write failed; retry）");
      lock.lock();
      continue;
    }
    poked_ = false;
    const bool quiet = !open && !committing_;
    const int64_t now = deps_.clock.now_ms();
    if (quiet && timers_dirty_) {
      lock.unlock();
      next_timer_due(true, now);
      lock.lock();
      continue;
    }
    const std::optional<int64_t> due = next_timer_due(quiet, now);
    const bool timers_due = due && *due <= now;
    if (timers_due && quiet) {
      busy_ = true;
      lock.unlock();
      std::vector<Pending> timers = due_timers(now, deps_.max_batch);
      if (timers.empty()) {
        timers_dirty_ = true;  // that timer was disarmed: find the next one
      } else {
        decide(open, std::move(timers));
      }
      lock.lock();
    }
    if (open && !committing_) {  // the committer is free: hand the open batch over
      std::unique_ptr<Flight> flight = std::move(open);
      committing_ = true;
      lock.unlock();
      seal(*flight);
      lock.lock();
      committing_barrier_ = flight->barrier;
      handed_ = std::move(flight);
      commit_wake_.notify_one();
      continue;
    }
    const bool blocked = timers_due || (committing_ && committing_barrier_) ||
                         (open && open->commands.size() >= deps_.max_batch);
    if (!blocked && !queue_.empty()) {
      const size_t room = deps_.max_batch - (open ? open->commands.size() : 0);
      std::vector<Pending> intake;
      intake.reserve(std::min(queue_.size(), room));
      while (!queue_.empty() && intake.size() < room) {
        intake.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      busy_ = true;
      lock.unlock();
      decide(open, std::move(intake));
      lock.lock();
      continue;
    }
    if (stopping_ && queue_.empty() && !open && !committing_) break;
    busy_ = open != nullptr;
    idle_.notify_all();
    // Sleep until a command arrives, the committer is done, or the earliest timer is due
    // (bounded, so that a clock moved by hand is noticed soon enough).
    auto wait = kMaxIdleWait;
    if (due && !timers_due) wait = std::min(wait, std::chrono::milliseconds(*due - now));
    wake_.wait_for(lock, wait);
  }
  busy_ = false;
  idle_.notify_all();
}

void Sequencer::decide(std::unique_ptr<Flight>& open, std::vector<Pending> commands) {
  if (!open) {
    open = std::make_unique<Flight>();
    open->bs.seq = decided_seq_;
    open->bs.hash = decided_hash_;
  }
  Flight& f = *open;
  BatchState& bs = f.bs;
  bs.now = deps_.clock.now_ms();
  f.commands.reserve(f.commands.size() + commands.size());
  for (Pending& p : commands) {
    const Command& c = p.command;
    if (!is_instance_command(c.body)) f.barrier = true;
    bs.deferred.reset();
    f.replies.push_back(apply(bs, c));
    f.deferred.push_back(f.replies.back() ? std::move(bs.deferred) : std::nullopt);
    f.commands.push_back(std::move(p));
  }
  // Arming can only bring the earliest timer forward; disarming leaves next_due_ too early,
  // which costs one empty scan when it falls due. After firing, it is found again.
  if (bs.earliest_armed && !timers_dirty_) {
    next_due_ = next_due_ ? std::min(*next_due_, *bs.earliest_armed) : *bs.earliest_armed;
  }
}

void Sequencer::seal(Flight& f) {
  BatchState& bs = f.bs;
  for (const auto& [key, delta] : bs.counter_deltas) {
    if (delta != 0) bs.batch.add(Space::kCounters, key, delta);
  }
  bs.batch.sort_by_key();  // here on the writer, so the committer inserts faster (store.h)
  for (const std::string& id : bs.changed) remember(id, bs.instances[id]);
  advance_timer_floor(f.commands, f.replies, bs.lowest_armed);
  if (std::any_of(f.commands.begin(), f.commands.end(),
                  [](const Pending& p) { return std::holds_alternative<FireTimer>(p.command.body); })) {
    timers_dirty_ = true;
  }
  decided_seq_ = bs.seq;
  decided_hash_ = bs.hash;
  inflight_idempotency_ = std::move(bs.idempotency);
}

void Sequencer::forget_undurable(std::unique_ptr<Flight>& open, const std::string& why) {
  if (open) {
    for (Pending& p : open->commands) {
      if (p.done) p.done(fail(Code::kInternal, why));
    }
    open.reset();
  }
  cache_.clear();
  cache_index_.clear();
  decided_seq_ = head_seq_.load();
  decided_hash_ = head_hash_;
  inflight_idempotency_.clear();
  timer_floor_.clear();
  timers_dirty_ = true;
}

void Sequencer::run_committer() {
  std::unique_lock lock(mu_);
  for (;;) {
    commit_wake_.wait(lock, [&] { return handed_ != nullptr || committer_stopping_; });
    if (!handed_) break;
    std::unique_ptr<Flight> flight = std::move(handed_);
    lock.unlock();
    const bool ok = commit(*flight);
    flight.reset();
    lock.lock();
    committing_ = false;
    if (!ok) commit_failed_ = true;
    wake_.notify_all();
    idle_.notify_all();
  }
}

bool Sequencer::commit(Flight& f) {
  BatchState& bs = f.bs;
  if (!bs.batch.empty()) {
    std::string head;
    storage::put_u64(head, bs.seq);
    bs.batch.put(Space::kMeta, "head_seq", head);
    bs.batch.put(Space::kMeta, "head_hash", bs.hash);
    const auto t0 = std::chrono::steady_clock::now();
    auto st = deps_.store.commit(bs.batch, /*sync=*/true);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    size_t b = 0;
    while (b < std::size(EngineMetrics::kCommitBucketsMs) && us > EngineMetrics::kCommitBucketsMs[b] * 1000) ++b;
    commit_buckets_[b]++;
    commit_us_total_ += static_cast<uint64_t>(us);
    if (!st) {
      // Nothing of this batch is durable: every caller hears so, and memory stays as it was.
      // Storage that stopped accepting writes (a background error) answers unavailable, which
      // the caller may retry; anything else is internal.
      for (Pending& p : f.commands) {
        if (!p.done) continue;
        if (st.error().code == Code::kUnavailable) {
          p.done(fail(st.error()));
        } else {
          p.done(fail(Code::kInternal, "写入失败，请重试（the write failed; retry）: " + st.error().message));
        }
      }
      return false;
    }
  }
  for (auto& fn : bs.after_commit) fn();
  head_hash_ = bs.hash;
  head_seq_ = bs.seq;
  batches_++;
  commands_ += f.commands.size();
  events_ += bs.events.size();
  const size_t n = f.commands.size();
  batch_buckets_[n <= 1 ? 0 : n <= 4 ? 1 : n <= 16 ? 2 : n <= 64 ? 3 : n <= 256 ? 4 : 5]++;
  Completed completed;
  completed.answers.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    completed.answers.push_back(Answer{std::move(f.commands[i].done), std::move(f.replies[i]), std::move(f.deferred[i])});
  }
  completed.events = std::move(bs.events);
  // The read cache learns the new records on the replier, before anyone is answered: a
  // caller that has its answer reads what it wrote, and the committer goes on to the next batch.
  if (deps_.read_cache != nullptr) {
    completed.committed.reserve(bs.changed.size());
    for (const std::string& id : bs.changed) completed.committed.push_back(instance_of(bs.instances[id]));
  }
  {
    std::lock_guard lock(reply_mu_);
    replies_.push_back(std::move(completed));
  }
  reply_wake_.notify_one();
  return true;
}

// Fired timers are deleted from the head of the timer space, and a deletion stays in RocksDB
// until it meets its put (at the next flush, or in a compaction when the timer was armed long
// ago): scanning from the very start every time would step over all of them. The floor is a key
// below which no live timer exists: past every timer this batch fired (when all of them were
// settled), and never above a timer it armed.
void Sequencer::advance_timer_floor(const std::vector<Pending>& batch, const std::vector<Result<Reply>>& replies,
                                    const std::string& lowest_armed) {
  std::string past_fired;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto* t = std::get_if<FireTimer>(&batch[i].command.body);
    if (t == nullptr) continue;
    if (!replies[i]) return;  // left in place to be tried again: the floor must stay below it
    std::string key = index::timer_key(ArmedTimer{t->timer, t->due_ms}, t->instance_id) + '\0';
    if (key > past_fired) past_fired = std::move(key);
  }
  if (past_fired > timer_floor_) timer_floor_ = std::move(past_fired);
  if (!lowest_armed.empty() && lowest_armed < timer_floor_) timer_floor_ = lowest_armed;
}

Result<Reply> Sequencer::apply(BatchState& bs, const Command& command) {
  if (command.idempotency_key.empty()) {
    return is_instance_command(command.body) ? apply_instance_command(bs, command) : apply_admin_command(bs, command);
  }
  const std::string key = KeyBuilder().text(command.principal.id).text(command.idempotency_key).build();
  std::optional<std::string> stored;
  if (auto it = bs.idempotency.find(key); it != bs.idempotency.end()) {
    stored = it->second;
  } else if (auto in = inflight_idempotency_.find(key); in != inflight_idempotency_.end()) {
    stored = in->second;
  } else {
    auto got = deps_.store.get(Space::kIdempotency, key);
    if (!got) return fail(got.error());
    stored = *got;
  }
  if (stored) {
    Json record = Json::parse(*stored, nullptr, false);
    if (record.is_object() && record.value("at", int64_t{0}) + kIdempotencyTtlMs > bs.now) {
      if (record.value("digest", "") != command.request_digest) {
        return fail(Code::kIdempotencyConflict,
                    "同一 Idempotency-Key 已用于不同的请求（this Idempotency-Key was used with a different request）");
      }
      return Reply{record.value("status", 200), record.value("body", Json::object()), true, {}};
    }
  }
  Command inner = command;
  inner.idempotency_key.clear();
  auto reply = apply(bs, inner);
  if (reply) {
    if (bs.deferred) {  // the stored reply must hold the body itself
      reply->body = deferred_body(*bs.deferred);
      bs.deferred.reset();
    }
    std::string record =
        Json{{"digest", command.request_digest}, {"status", reply->status}, {"body", reply->body}, {"at", bs.now}}.dump();
    bs.batch.put(Space::kIdempotency, key, record);
    bs.idempotency[key] = std::move(record);
  }
  return reply;
}

Result<Sequencer::KnownPtr> Sequencer::lookup(BatchState& bs, const std::string& id) {
  if (auto it = bs.instances.find(id); it != bs.instances.end()) return it->second;
  if (auto it = cache_index_.find(id); it != cache_index_.end()) {
    return bs.instances.emplace(id, it->second->second).first->second;
  }
  auto got = deps_.store.get(Space::kInstances, id);
  if (!got) return fail(got.error());
  if (!*got) return KnownPtr();
  auto in = decode_instance(**got);
  if (!in) return fail(in.error());
  DefinitionPtr def = deps_.registry.get(in->workflow, in->workflow_version);
  if (!def) return fail(Code::kCorruption, "实例的工作流定义缺失（the instance's workflow definition is missing）");
  auto known = std::make_shared<Known>(Known{std::move(*in), {}});
  known->entries = index::entries(*def, known->instance);
  return bs.instances.emplace(id, std::move(known)).first->second;
}

// Writes a decision into `out`: the record, its events (numbered and hash-chained), the
// per-instance history, the index and counter differences, and the timer changes.
Sequencer::KnownPtr Sequencer::record(BatchState& bs, const Definition& def, const Known* before_known, Decision& d) {
  storage::Batch& out = bs.batch;
  const Instance& after = d.instance;
  const Instance* before = before_known ? &before_known->instance : nullptr;
  out.put(Space::kInstances, after.id, encode_instance(after));
  for (Event& e : d.events) {
    e.seq = ++bs.seq;
    e.prev_hash = bs.hash;
    std::string bytes = seal_event(e, deps_.hash_algorithm);
    bs.hash = e.hash;
    out.put(Space::kEvents, storage::u64_key(e.seq), std::move(bytes));
    out.put(Space::kInstanceEvents, index::history_key(after.id, e.instance_seq), storage::u64_key(e.seq));
    bs.events.push_back(e);
  }
  static const std::vector<index::Entry> kNone;
  const std::vector<index::Entry>& old_entries = before_known ? before_known->entries : kNone;
  std::vector<index::Entry> new_entries = index::entries(def, after, before, before_known ? &old_entries : nullptr);
  // Both lists are sorted: one merge pass finds what to delete and what to put. An index entry is
  // deleted with single_del (Batch: it vanishes where it meets its put instead of leaving a
  // tombstone for scans to step over until the last level), which relies on the old entries being
  // exactly what is stored: entries() is a pure function of the record and its definition
  // version, so a change to how entries are derived needs a migration that rewrites them, and a
  // database `pioneer verify` finds damaged is repaired with `pioneer reindex` (engine/audit/reindex.h)
  // before it takes writes. A changed value is a deletion and a new put, so no key is ever put
  // twice.
  size_t i = 0, j = 0;
  while (i < old_entries.size() || j < new_entries.size()) {
    if (j == new_entries.size() || (i < old_entries.size() && old_entries[i].key < new_entries[j].key)) {
      out.single_del(Space::kIndexes, old_entries[i++].key);
    } else if (i == old_entries.size() || new_entries[j].key < old_entries[i].key) {
      out.put(Space::kIndexes, new_entries[j].key, new_entries[j].value);
      ++j;
    } else {
      if (old_entries[i].value != new_entries[j].value) {
        out.single_del(Space::kIndexes, old_entries[i].key);
        out.put(Space::kIndexes, new_entries[j].key, new_entries[j].value);
      }
      ++i;
      ++j;
    }
  }
  const std::string new_counter = index::counter_key(after);
  if (!before) {
    bs.counter_deltas[new_counter] += 1;
  } else if (std::string old_counter = index::counter_key(*before); old_counter != new_counter) {
    bs.counter_deltas[std::move(old_counter)] -= 1;
    bs.counter_deltas[new_counter] += 1;
  }
  // Timer keys, too, are never put while present (names are unique in a state; a timer is
  // disarmed before it is armed again).
  for (const ArmedTimer& t : d.disarmed) out.single_del(Space::kTimers, index::timer_key(t, after.id));
  for (const ArmedTimer& t : d.armed) {
    std::string key = index::timer_key(t, after.id);
    if (bs.lowest_armed.empty() || key < bs.lowest_armed) bs.lowest_armed = key;
    if (!bs.earliest_armed || t.due_ms < *bs.earliest_armed) bs.earliest_armed = t.due_ms;
    out.put(Space::kTimers, std::move(key), "");
  }
  bs.changed.insert(after.id);
  auto known = std::make_shared<const Known>(Known{std::move(d.instance), std::move(new_entries)});
  bs.instances[known->instance.id] = known;
  return known;
}

Result<Reply> Sequencer::apply_instance_command(BatchState& bs, const Command& command) {
  const Principal& who = command.principal;
  DefinitionPtr def;
  KnownPtr before;
  Result<Decision> decision = fail(Code::kInternal, "unreachable");
  int status = 200;

  // Decisions touch bs only through record(), after they are known to succeed, so a refused
  // command leaves the batch exactly as it found it.
  if (const auto* create = std::get_if<CreateInstance>(&command.body)) {
    if (who.system || who.id.empty()) return fail(forbidden_admin());
    def = deps_.registry.latest(create->workflow);
    if (!def) {
      return fail(Code::kInvalidField, "工作流 '" + create->workflow + "' 不存在（unknown workflow '" + create->workflow + "'）",
                  Json{{"field", "workflow"}, {"rule", "unknown"}});
    }
    DecideEnv env{*def, deps_.directory, bs.now, deps_.utc_offset_minutes};
    decision = decide_create(env, *create, who, new_ulid(bs.now));
    status = 201;
  } else {
    std::string id;
    if (const auto* t = std::get_if<FireTransition>(&command.body)) id = t->instance_id;
    if (const auto* c = std::get_if<AddComment>(&command.body)) id = c->instance_id;
    if (const auto* f = std::get_if<FireTimer>(&command.body)) id = f->instance_id;
    const auto* migrate = std::get_if<MigrateInstance>(&command.body);
    if (migrate) {
      if (who.system) return fail(forbidden_admin());
      id = migrate->instance_id;  // who may migrate it: check_migration_allowed, once it is found
    }
    auto loaded = lookup(bs, id);
    if (!loaded) return fail(loaded.error());
    before = *loaded;
    const auto* timer = std::get_if<FireTimer>(&command.body);
    if (timer && !who.system) {
      return fail(Code::kForbidden, "定时器只能由系统触发（only the system fires timers）");
    }
    if (!before) {
      if (timer) {  // the instance is gone: drop the orphaned timer
        bs.batch.single_del(Space::kTimers, index::timer_key(ArmedTimer{timer->timer, timer->due_ms}, id));
        return Reply{};
      }
      return fail(Code::kNotFound, "找不到实例 '" + id + "'（instance not found）");
    }
    def = deps_.registry.get(before->instance.workflow, before->instance.workflow_version);
    if (!def) return fail(Code::kCorruption, "实例的工作流定义缺失（the instance's workflow definition is missing）");
    DecideEnv env{*def, deps_.directory, bs.now, deps_.utc_offset_minutes};
    if (migrate) {
      const Instance& in = before->instance;
      if (auto refused = check_migration_allowed(*def, in, *migrate, who)) return fail(std::move(*refused));
      if (migrate->to_version == in.workflow_version) {
        return fail(Code::kInvalidField,
                    "实例已在版本 " + std::to_string(in.workflow_version) + "（the instance is at version " +
                        std::to_string(in.workflow_version) + " already）",
                    Json{{"field", "to_version"}, {"rule", "same_version"}});
      }
      DefinitionPtr target = deps_.registry.get(in.workflow, migrate->to_version);
      if (!target) {
        return fail(Code::kInvalidField,
                    "工作流 " + in.workflow + " 没有版本 " + std::to_string(migrate->to_version) + "（workflow " +
                        in.workflow + " has no version " + std::to_string(migrate->to_version) + "）",
                    Json{{"field", "to_version"}, {"rule", "unknown_version"}});
      }
      DecideEnv target_env{*target, deps_.directory, bs.now, deps_.utc_offset_minutes};
      decision = decide_migration(target_env, *def, in, *migrate, who);
      def = std::move(target);  // the record, its index entries and the reply follow the new version
    } else if (const auto* t = std::get_if<FireTransition>(&command.body)) {
      if (who.system) return fail(forbidden_admin());
      decision = decide_transition(env, before->instance, *t, who);
    } else if (const auto* c = std::get_if<AddComment>(&command.body)) {
      if (who.system) return fail(forbidden_admin());
      decision = decide_comment(env, before->instance, *c, who);
      status = 201;
    } else {
      auto fired = decide_timer(env, before->instance, *timer);
      if (!fired) {  // stale: the state it was armed for has been left
        bs.batch.single_del(Space::kTimers, index::timer_key(ArmedTimer{timer->timer, timer->due_ms}, id));
        return Reply{};
      }
      decision = std::move(*fired);
    }
  }
  if (!decision) return fail(decision.error());
  KnownPtr after = record(bs, *def, before.get(), *decision);
  bs.deferred = Deferred{instance_of(after), def, who};
  return Reply{status, Json::object(), false, {}};
}

namespace {

// The directory as of the open batch: what the batch wrote, then what is committed.
class BatchDirectory final : public AdminView {
 public:
  BatchDirectory(const Directory& dir, const std::map<std::string, Org, std::less<>>& orgs,
                 const std::map<std::string, UserRecord, std::less<>>& users)
      : dir_(dir), orgs_(orgs), users_(users) {}
  std::optional<Org> find_org(std::string_view id) const override {
    if (auto it = orgs_.find(id); it != orgs_.end()) return it->second;
    return dir_.find_org(id);
  }
  bool user_exists(std::string_view id) const override { return users_.count(id) > 0 || dir_.user_exists(id); }
  std::optional<UserRecord> find_user(std::string_view id) const override {
    if (auto it = users_.find(id); it != users_.end()) return it->second;
    return dir_.find_user(id);
  }
  std::vector<std::string> root_orgs() const override {
    std::vector<std::string> roots = dir_.root_orgs();
    for (const auto& [id, org] : orgs_) {
      if (org.parent.empty() && std::find(roots.begin(), roots.end(), id) == roots.end()) roots.push_back(id);
    }
    return roots;
  }

 private:
  const Directory& dir_;
  const std::map<std::string, Org, std::less<>>& orgs_;
  const std::map<std::string, UserRecord, std::less<>>& users_;
};

Json user_json(const UserRecord& user) {
  Json roles = Json::array();
  for (const RoleGrant& g : user.roles) roles.push_back({{"role", g.role}, {"org", g.org}});
  return Json{{"id", user.id},     {"name", user.name},   {"org", user.home_org},
              {"home_org", user.home_org}, {"roles", roles}, {"disabled", user.disabled}};
}

}  // namespace

// The checks are the pure decide_* rules (engine/core/admin_rules.h); this only writes what they
// decided into the batch and schedules the directory's update for after the commit.
Result<Reply> Sequencer::apply_admin_command(BatchState& bs, const Command& command) {
  const Principal& who = command.principal;
  const BatchDirectory view(deps_.directory, bs.orgs, bs.users);
  const AdminEnv env{view, deps_.roles};
  if (const auto* revoke = std::get_if<RevokeTokens>(&command.body)) {
    if (auto ok = decide_revoke_tokens(env, *revoke, who); !ok) return fail(ok.error());
    auto hashes = deps_.directory.token_hashes_of(revoke->user_id);
    for (const std::string& h : hashes) bs.batch.del(Space::kPrincipals, Directory::token_key(h));
    bs.after_commit.push_back([this, id = revoke->user_id] { deps_.directory.revoke_user_tokens(id); });
    log_directory(bs, who, view.find_user(revoke->user_id)->home_org, "",
                  Json{{"what", "tokens_revoked"}, {"user", revoke->user_id}, {"revoked", hashes.size()}});
    return Reply{200, Json{{"user", revoke->user_id}, {"revoked", hashes.size()}}, false, {}};
  }
  if (const auto* reg = std::get_if<RegisterDefinition>(&command.body)) {
    const std::string id = reg->definition.is_object() ? reg->definition.value("id", "") : "";
    auto in_batch = bs.definitions.find(id);
    DefinitionPtr latest = in_batch != bs.definitions.end() ? in_batch->second : deps_.registry.latest(id);
    auto decided = decide_register_definition(env, *reg, latest, who);
    if (!decided) return fail(decided.error());
    const DefinitionPtr& ptr = decided->def;
    Json body{{"id", ptr->id}, {"version", ptr->version}, {"title", label_json(ptr->title)}, {"registered", decided->registered}};
    if (!decided->registered) return Reply{200, std::move(body), false, {}};
    bs.batch.put(Space::kDefinitions, Registry::key(ptr->id, ptr->version), ptr->source.dump());
    bs.definitions[ptr->id] = ptr;
    bs.after_commit.push_back([this, ptr] { deps_.registry.add(ptr); });
    return Reply{201, std::move(body), false, {}};
  }
  if (const auto* put = std::get_if<PutOrg>(&command.body)) {
    auto org = decide_put_org(env, *put, who);
    if (!org) return fail(org.error());
    const auto before = view.find_org(org->id);
    write_org(bs, *org);
    log_directory(bs, who, org->id, "",
                  Json{{"what", "org"}, {"org", org_json(*org)}, {"before", before ? org_json(*before) : Json(nullptr)}});
    return Reply{201, org_json(*org), false, {}};
  }
  if (const auto* put = std::get_if<PutUser>(&command.body)) {
    auto user = decide_put_user(env, *put, who);
    if (!user) return fail(user.error());
    if (put->password_hash && put->password_hash->rfind("$argon2id$", 0) != 0) {
      return fail(Code::kBadRequest, "密码摘要格式错误（bad password hash）");
    }
    const auto before = view.find_user(user->id);
    write_user(bs, *user);
    log_directory(bs, who, user->home_org, before ? before->home_org : "",
                  Json{{"what", "user"}, {"user", user_json(*user)}, {"before", before ? user_json(*before) : Json(nullptr)}});
    if (put->password_hash) {
      bs.batch.put(Space::kPrincipals, Directory::password_key(user->id), Json{{"hash", *put->password_hash}}.dump());
      bs.after_commit.push_back([this, id = user->id, hash = *put->password_hash] { deps_.directory.put_password(id, hash); });
    }
    return Reply{201, user_json(*user), false, {}};
  }
  if (const auto* patch = std::get_if<PatchUser>(&command.body)) {
    auto user = decide_patch_user(env, *patch, who);
    if (!user) return fail(user.error());
    const auto before = view.find_user(user->id);
    write_user(bs, *user);
    log_directory(bs, who, user->home_org, before->home_org,
                  Json{{"what", "user"}, {"user", user_json(*user)}, {"before", user_json(*before)}});
    return Reply{200, user_json(*user), false, {}};
  }
  if (const auto* rename = std::get_if<RenameOrg>(&command.body)) {
    auto org = decide_rename_org(env, *rename, who);
    if (!org) return fail(org.error());
    const auto before = view.find_org(org->id);
    write_org(bs, *org);
    log_directory(bs, who, org->id, "", Json{{"what", "org"}, {"org", org_json(*org)}, {"before", org_json(*before)}});
    return Reply{200, org_json(*org), false, {}};
  }
  if (const auto* issue = std::get_if<IssueToken>(&command.body)) {
    if (auto ok = decide_issue_token(env, *issue, who); !ok) return fail(ok.error());
    TokenRecord token{issue->user_id, issue->expires_ms};
    bs.batch.put(Space::kPrincipals, Directory::token_key(issue->token_hash), Directory::encode_token(token));
    bs.after_commit.push_back([this, hash = issue->token_hash, token] { deps_.directory.put_token(hash, token); });
    log_directory(bs, who, view.find_user(issue->user_id)->home_org, "",
                  Json{{"what", "token_issued"}, {"user", issue->user_id}, {"expires_ms", issue->expires_ms}});
    return Reply{201, Json{{"user", issue->user_id}}, false, {}};
  }
  return apply_session_command(bs, command, env);
}

void Sequencer::write_org(BatchState& bs, const Org& org) {
  bs.batch.put(Space::kPrincipals, Directory::org_key(org.id), encode_org(org));
  bs.orgs[org.id] = org;
  bs.after_commit.push_back([this, org] { deps_.directory.put_org(org); });
}

// A `directory` event, chained into the log like any other (engine/core/admin_rules.h).
void Sequencer::log_directory(BatchState& bs, const Principal& who, const std::string& org, const std::string& other_org,
                              Json changes) {
  Event e;
  e.type = std::string(kDirectoryEvent);
  e.actor_id = who.id;
  e.actor_name = who.name;
  e.at_ms = bs.now;
  e.changes = std::move(changes);
  e.org = org;
  e.assignee_org = other_org == org ? "" : other_org;
  e.seq = ++bs.seq;
  e.prev_hash = bs.hash;
  std::string bytes = seal_event(e, deps_.hash_algorithm);
  bs.hash = e.hash;
  bs.batch.put(Space::kEvents, storage::u64_key(e.seq), std::move(bytes));
  bs.events.push_back(std::move(e));
}

void Sequencer::write_user(BatchState& bs, const UserRecord& user) {
  bs.batch.put(Space::kPrincipals, Directory::user_key(user.id), Directory::encode_user(user));
  bs.users[user.id] = user;
  bs.after_commit.push_back([this, user] { deps_.directory.put_user(user); });
}

// Login sessions and passwords: what the handlers of /api/v1/auth and the password routes ask.
Result<Reply> Sequencer::apply_session_command(BatchState& bs, const Command& command, const AdminEnv& env) {
  const Principal& who = command.principal;
  if (const auto* open = std::get_if<OpenSession>(&command.body)) {
    if (auto ok = decide_open_session(env, *open, who); !ok) return fail(ok.error());
    TokenRecord token{open->user_id, open->expires_ms, true, open->idle_ms,
                      std::make_shared<std::atomic<int64_t>>(bs.now)};
    bs.batch.put(Space::kPrincipals, Directory::token_key(open->token_hash), Directory::encode_token(token));
    bs.after_commit.push_back([this, hash = open->token_hash, token] { deps_.directory.put_token(hash, token); });
    return Reply{201, Json{{"user", open->user_id}, {"expires_at", open->expires_ms}}, false, {}};
  }
  if (const auto* close = std::get_if<CloseSession>(&command.body)) {
    // Only a session of the caller's own ends here; anything else is left as it is.
    auto token = deps_.directory.find_token(close->token_hash);
    const bool ends = token && token->session && token->user_id == who.id;
    if (ends) {
      bs.batch.del(Space::kPrincipals, Directory::token_key(close->token_hash));
      bs.after_commit.push_back([this, hash = close->token_hash] { deps_.directory.remove_token(hash); });
    }
    return Reply{200, Json{{"ended", ends}}, false, {}};
  }
  if (const auto* set = std::get_if<SetPassword>(&command.body)) {
    if (auto ok = decide_set_password(env, *set, who); !ok) return fail(ok.error());
    bs.batch.put(Space::kPrincipals, Directory::password_key(set->user_id), Json{{"hash", set->password_hash}}.dump());
    for (const std::string& h : deps_.directory.session_hashes_of(set->user_id)) {
      bs.batch.del(Space::kPrincipals, Directory::token_key(h));
    }
    bs.after_commit.push_back([this, id = set->user_id, hash = set->password_hash] {
      deps_.directory.put_password(id, hash);
      deps_.directory.revoke_user_sessions(id);
    });
    // Who set whose password, and when; never the password or its hash.
    log_directory(bs, who, env.dir.find_user(set->user_id)->home_org, "", Json{{"what", "password"}, {"user", set->user_id}});
    return Reply{200, Json{{"user", set->user_id}}, false, {}};
  }
  return fail(Code::kBadRequest, "未知命令（unknown command）");
}

}  // namespace pioneer::engine
