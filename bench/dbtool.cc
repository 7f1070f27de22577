// pioneer_benchdb: the parts of the benchmark that talk to the storage directly (no Beast here,
// so this file compiles in seconds).
//
//   pioneer_benchdb rocks --dir D --seconds S --threads T [--batch B] [--overlap 1]
//       Raw RocksDB baseline: T threads each committing WriteBatches with sync=true; each batch
//       holds B transitions of the same shape and size as one Pioneer transition (record,
//       event, history entry, index deletes and puts). Prints JSON {transitions_per_s, ...}.
//       --overlap 1: one thread writes the batches unsynced while another syncs the WAL behind
//       it (SyncWAL), at most one batch ahead of the sync: the fsync overlaps the next write.
//   pioneer_benchdb bulk --data D --workflows W --instances N [--tokens F]
//       The scale generator: opens the folder with the engine (registers the workflows, seeds
//       the demo org/users and writes the demo tokens, exactly as `pioneer serve --demo`), closes
//       it, then writes N yizhi-yixiang instances at various points of their life through the
//       engine's own rules (decide_create / decide_transition), hash-chained events, history,
//       index entries, counters and timers, in big unsynced batches and one final synced one.
//       The result is the store format of the server: `pioneer serve` opens it and
//       `pioneer verify` passes on it.
//   pioneer_benchdb open --data D [--repeat K]
//       Times Engine::open + close on a folder (the engine part of the server's start-up).
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <condition_variable>
#include <mutex>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/args.h"
#include "common/crypto.h"
#include "engine/core/codec.h"
#include "engine/core/indexer.h"
#include "engine/core/rules.h"
#include "engine/core/spaces.h"
#include "engine/engine.h"
#include "engine/write/directory.h"
#include "engine/write/registry.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tools/demo.h"

using namespace pioneer;
using namespace pioneer::engine;
using engine::Space;
using BClock = std::chrono::steady_clock;

namespace {

using Args = pioneer::bench::Args;

double secs_since(BClock::time_point t) { return std::chrono::duration<double>(BClock::now() - t).count(); }

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "pioneer_benchdb: %s\n", what.c_str());
  std::exit(1);
}

// ---------------------------------------------------------------- raw RocksDB baseline

// One transition's writes, sized like the real ones (measured on the bulk database: a
// yizhi-yixiang record ~1.1 KB, an event ~0.8 KB, 8 index keys of ~60 bytes changing).
void add_transition(rocksdb::WriteBatch& b, uint64_t n, std::mt19937_64& rng, const std::string& rec,
                    const std::string& ev) {
  char id[32];
  std::snprintf(id, sizeof id, "01JD%016llx", static_cast<unsigned long long>(rng()));
  std::string seq(8, '\0');
  for (int i = 0; i < 8; ++i) seq[i] = static_cast<char>(n >> (56 - 8 * i));
  b.Put(std::string("i") + id, rec);
  b.Put(std::string("e") + seq, ev);
  b.Put(std::string("h") + id + seq, seq);
  // The index keys as the engine writes them (std::string literals: a char literal would stop
  // at its first separator byte), the old ones deleted with SingleDelete as the writer does.
  using namespace std::string_literals;
  for (int k = 0; k < 4; ++k) {
    b.SingleDelete(std::string("x") + std::to_string(k) + "\0s\0yizhi-yixiang\0assigned\0city/finance/b1/\0"s + id);
    b.Put(std::string("x") + std::to_string(k) + "\0s\0yizhi-yixiang\0in_progress\0city/finance/b1/\0"s + id, "o");
  }
  b.Put("meta_head", seq);
}

int cmd_rocks(const Args& a) {
  const std::string dir = a.get("dir");
  if (dir.empty()) die("rocks: --dir is required");
  const int threads = static_cast<int>(a.num("threads", 1));
  const int per_batch = static_cast<int>(a.num("batch", 1));
  const double seconds = std::stod(a.get("seconds", "3"));
  std::filesystem::remove_all(dir);
  rocksdb::Options opt;
  opt.create_if_missing = true;
  opt.IncreaseParallelism(2);
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(opt, dir, &raw);
  if (!st.ok()) die("rocks: " + st.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  const std::string rec(1100, 'r'), ev(800, 'e');
  std::atomic<uint64_t> seq{0}, batches{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  std::vector<std::vector<uint32_t>> lat(std::max(threads, 1));  // --overlap records into lat[0]
  const auto start = BClock::now();
  const bool overlap = a.num("overlap", 0) != 0;
  if (overlap) {
    // The committer writes batch N without sync while a second thread syncs the WAL up to batch
    // N-1 (SyncWAL covers every write before it): the fsync overlaps the next batch's WAL append
    // and memtable inserts. At most one batch is unsynced beyond the one being synced, as with
    // clients that wait for their answer. Latency is write start -> covered by a sync.
    std::mutex mu;
    std::condition_variable cv;
    uint64_t written = 0, synced = 0;
    std::vector<BClock::time_point> started;
    std::thread syncer([&] {
      std::unique_lock lock(mu);
      while (true) {
        cv.wait(lock, [&] { return written > synced || stop.load(); });
        if (written == synced && stop.load()) return;
        const uint64_t target = written;
        lock.unlock();
        auto s = db->SyncWAL();
        if (!s.ok()) die("rocks sync: " + s.ToString());
        const auto now = BClock::now();
        lock.lock();
        for (uint64_t n = synced; n < target; ++n) {
          lat[0].push_back(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - started[n]).count()));
        }
        batches += target - synced;
        synced = target;
        cv.notify_all();
      }
    });
    std::thread writer([&] {
      std::mt19937_64 rng(1);
      rocksdb::WriteOptions wo;
      wo.sync = false;
      while (!stop.load(std::memory_order_relaxed)) {
        rocksdb::WriteBatch b;
        for (int i = 0; i < per_batch; ++i) add_transition(b, ++seq, rng, rec, ev);
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return written <= synced + 1 || stop.load(); });
          started.push_back(BClock::now());
        }
        auto s = db->Write(wo, &b);
        if (!s.ok()) die("rocks write: " + s.ToString());
        std::lock_guard lock(mu);
        ++written;
        cv.notify_all();
      }
    });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    cv.notify_all();
    writer.join();
    {
      std::lock_guard lock(mu);
      cv.notify_all();
    }
    syncer.join();
  }
  for (int t = 0; t < (overlap ? 0 : threads); ++t) {
    pool.emplace_back([&, t] {
      std::mt19937_64 rng(t + 1);
      rocksdb::WriteOptions wo;
      wo.sync = true;
      while (!stop.load(std::memory_order_relaxed)) {
        rocksdb::WriteBatch b;
        for (int i = 0; i < per_batch; ++i) add_transition(b, ++seq, rng, rec, ev);
        auto t0 = BClock::now();
        auto s = db->Write(wo, &b);
        if (!s.ok()) die("rocks write: " + s.ToString());
        lat[t].push_back(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(BClock::now() - t0).count()));
        batches++;
      }
    });
  }
  if (!overlap) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  const double el = secs_since(start);
  std::vector<uint32_t> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, size_t(p * all.size()))] / 1000.0; };
  std::printf("{\"threads\":%d,\"batch\":%d,\"seconds\":%.3f,\"transitions_per_s\":%.1f,\"syncs_per_s\":%.1f,"
              "\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
              threads, per_batch, el, batches.load() * per_batch / el, batches.load() / el, pct(0.5), pct(0.99));
  db.reset();
  std::filesystem::remove_all(dir);
  return 0;
}

// ---------------------------------------------------------------- bulk generator

struct Dept {
  std::string org, pg, oc;
  struct Branch {
    std::string org, secretary, member;  // member "" when the branch has none in the demo
  };
  std::vector<Branch> branches;
};

const char* kWords[] = {"服务", "群众", "先锋", "党建", "融合", "提升", "窗口", "攻坚", "改革", "创新", "便民", "数字",
                        "财政", "教育", "绩效", "阳光", "示范", "品牌", "基层", "治理", "质量", "发展", "清廉", "模范"};

std::string date_after(int64_t now_ms, int days) {
  std::time_t t = static_cast<std::time_t>(now_ms / 1000 + int64_t(days) * 86400);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

int cmd_bulk(const Args& a) {
  const std::string data = a.get("data");
  const std::string workflows = a.get("workflows", "workflows");
  const long n = a.num("instances", 100000);
  const std::string tokens = a.get("tokens", data + "/demo-tokens.json");
  if (data.empty()) die("bulk: --data is required");
  const auto t_start = BClock::now();

  // 1. The engine sets the folder up exactly as `pioneer serve --demo` does.
  {
    EngineOptions opt;
    opt.data_dir = data;
    auto eng = Engine::open(opt);
    if (!eng) die("bulk: open: " + eng.error().message);
    auto loaded = (*eng)->load_workflows_dir(workflows);
    if (!loaded) die("bulk: workflows: " + loaded.error().message);
    auto seeded = seed_demo(**eng, tokens);
    if (!seeded) die("bulk: demo: " + seeded.error().message);
  }  // closed: flushed, no write-ahead log left

  // 2. Bulk-write through the public pieces.
  storage::StoreOptions so;
  auto store_r = storage::Store::open(data, engine::store_layout(), so);
  if (!store_r) die("bulk: store: " + store_r.error().message);
  storage::Store& store = **store_r;
  Directory directory;
  if (auto st = directory.load(store); !st) die("bulk: directory: " + st.error().message);
  Registry registry;
  if (auto st = registry.load(store, RoleCatalog::defaults()); !st) die("bulk: registry: " + st.error().message);
  DefinitionPtr def = registry.latest("yizhi-yixiang");
  if (!def) die("bulk: workflow yizhi-yixiang is not registered");
  auto alg_r = store.get(Space::kMeta, "hash_algorithm");
  const std::string alg = (alg_r && *alg_r) ? **alg_r : "sha256";
  uint64_t seq = 0;
  std::string hash(64, '0');
  if (auto h = store.get(Space::kMeta, "head_seq"); h && *h) seq = storage::get_u64(**h).value_or(0);
  if (auto h = store.get(Space::kMeta, "head_hash"); h && *h) hash = **h;

  auto who = [&](const std::string& id) {
    auto u = directory.find_user(id);
    if (!u) die("bulk: demo user missing: " + id);
    return Directory::principal_of(*u);
  };
  const std::vector<Dept> depts = {
      {"city/finance", "wang.wei", "li.na", {{"city/finance/b1", "zhang.min", "zheng.xin"}, {"city/finance/b2", "liu.yang", ""}}},
      {"city/education", "chen.jie", "zhao.lei", {{"city/education/b1", "sun.li", ""}}},
  };
  std::map<std::string, Principal> people;
  for (const auto& d : depts) {
    people[d.pg] = who(d.pg);
    people[d.oc] = who(d.oc);
    for (const auto& b : d.branches) {
      people[b.secretary] = who(b.secretary);
      if (!b.member.empty()) people[b.member] = who(b.member);
    }
  }

  // Where instances stand (per mille): a city's live portfolio, most of it in progress.
  // 0 draft, 1 issued, 2 assigned, 3 in_progress, 4 completion_review, 5 evaluation, 6 closed,
  // 7 withdrawn.
  const int weights[] = {40, 40, 100, 400, 80, 40, 250, 50};
  std::discrete_distribution<int> pick_stage(std::begin(weights), std::end(weights));
  std::mt19937_64 rng(42);

  const size_t kPerBatch = 2000;
  storage::Batch batch;
  std::map<std::string, int64_t> counters;
  size_t in_batch = 0;
  uint64_t events_total = 0, bytes_total = 0;
  auto flush = [&](bool sync) {
    for (auto& [k, v] : counters) batch.add(Space::kCounters, k, v);
    counters.clear();
    std::string head;
    storage::put_u64(head, seq);
    batch.put(Space::kMeta, "head_seq", head);
    batch.put(Space::kMeta, "head_hash", hash);
    if (auto st = store.commit(batch, sync); !st) die("bulk: commit: " + st.error().message);
    batch.clear();
    in_batch = 0;
  };

  int64_t now = SystemClock().now_ms();
  for (long i = 0; i < n; ++i) {
    if ((i & 63) == 0) now = SystemClock().now_ms();
    const Dept& d = depts[(rng() % 10) < 6 ? 0 : 1];
    const Dept::Branch& br = d.branches[rng() % d.branches.size()];
    const Principal& pg = people[d.pg];
    const Principal& oc = people[d.oc];
    const Principal& sec = people[br.secretary];
    const Principal& mem = br.member.empty() ? sec : people[br.member];
    const int stage = pick_stage(rng);
    DecideEnv env{*def, directory, now, 8 * 60};

    std::string title = std::string(kWords[rng() % 24]) + kWords[rng() % 24] + kWords[rng() % 24] + "项目 " +
                        std::to_string(i + 1) + "号";
    const std::string due = date_after(now, 60 + static_cast<int>(rng() % 660));
    Json fields = {{"title", title},
                   {"goal", "围绕" + title + "，推动机关党建与业务工作深度融合，形成可复制的经验做法。"},
                   {"area", std::vector<std::string>{"service", "development", "business", "reform"}[rng() % 4]},
                   {"due_date", due}};
    std::vector<Event> evs;
    auto created = decide_create(env, CreateInstance{"yizhi-yixiang", d.org, fields, std::nullopt}, pg, new_ulid(now));
    if (!created) die("bulk: create: " + created.error().message);
    Instance in = std::move(created->instance);
    for (auto& e : created->events) evs.push_back(std::move(e));
    auto step = [&](const char* t, const Principal& p, Json f = Json::object(), std::optional<std::string> c = {}) {
      auto r = decide_transition(env, in, FireTransition{in.id, t, std::move(f), std::move(c), in.version}, p);
      if (!r) die(std::string("bulk: ") + t + ": " + r.error().message);
      in = std::move(r->instance);
      for (auto& e : r->events) evs.push_back(std::move(e));
    };
    if (stage == 7) {
      if (rng() % 2) step("issue", pg);
      step("withdraw", pg, {}, "任务调整，撤销该项目。");
    } else {
      if (stage >= 1) step("issue", pg);
      if (stage >= 2) step("assign", oc, {{"branch", br.org}, {"due_date", due}});
      if (stage >= 3) step("claim", sec);
      if (stage >= 3) {
        const int reports = static_cast<int>(rng() % 3);
        for (int k = 0; k < reports; ++k) {
          step("report_progress", k % 2 ? mem : sec,
               {{"progress", "第" + std::to_string(k + 1) + "阶段工作已完成，正在推进下一阶段。"}, {"percent", 20 + 25 * k}});
        }
        if (rng() % 4 == 0) step("urge", oc, {}, "请加快进度，按期完成。");
      }
      if (stage >= 4) step("apply_completion", sec, {{"results", "项目已按计划完成，形成工作报告一份。"}});
      if (stage >= 5) step("approve_completion", oc);
      if (stage >= 6) step("evaluate", pg, {{"rating", "good"}, {"brand", rng() % 5 == 0}});
    }

    // Written the way the sequencer writes a decision (Sequencer::record), with the record's
    // final state: record, events with the hash chain, history, index entries, counter, timers.
    std::string rec = encode_instance(in);
    bytes_total += rec.size();
    batch.put(Space::kInstances, in.id, std::move(rec));
    for (Event& e : evs) {
      e.seq = ++seq;
      e.prev_hash = hash;
      e.hash = *digest_hex(alg, event_hash_input(e));
      hash = e.hash;
      std::string seq_bytes;
      storage::put_u64(seq_bytes, e.seq);
      std::string ev = encode_event(e);
      bytes_total += ev.size();
      batch.put(Space::kEvents, storage::u64_key(e.seq), std::move(ev));
      batch.put(Space::kInstanceEvents,
                engine::index::history_key(in.id, e.instance_seq), seq_bytes);
      events_total++;
    }
    for (auto& entry : index::entries(*def, in)) batch.put(Space::kIndexes, std::move(entry.key), std::move(entry.value));
    counters[index::counter_key(in)] += 1;
    for (const ArmedTimer& t : in.timers) {
      batch.put(Space::kTimers,
                engine::index::timer_key(t, in.id), "");
    }
    if (++in_batch >= kPerBatch) flush(false);
    if ((i + 1) % 100000 == 0) {
      std::fprintf(stderr, "bulk: %ld instances, %llu events, %.1f s\n", i + 1,
                   static_cast<unsigned long long>(events_total), secs_since(t_start));
    }
  }
  flush(true);  // the last batch is synced: everything before it is then durable too
  const double gen_s = secs_since(t_start);
  // Settle the database before it is measured: batches written this fast leave level 0 full,
  // and the compaction of that backlog would otherwise run during the scale measurements (it
  // took 11 % of the machine in the 16-client write run), which a database grown over months
  // would not have.
  if (auto st = (*store_r)->compact(); !st) die("bulk: compact: " + st.error().message);
  store_r->reset();  // close: flushes every memtable, so the next open replays no log
  uint64_t du = 0;
  for (auto& f : std::filesystem::recursive_directory_iterator(data)) {
    if (f.is_regular_file()) du += f.file_size();
  }
  std::printf("{\"instances\":%ld,\"events\":%llu,\"head_seq\":%llu,\"seconds\":%.2f,\"close_seconds\":%.2f,"
              "\"record_bytes\":%llu,\"db_bytes\":%llu}\n",
              n, static_cast<unsigned long long>(events_total), static_cast<unsigned long long>(seq), gen_s,
              secs_since(t_start) - gen_s, static_cast<unsigned long long>(bytes_total),
              static_cast<unsigned long long>(du));
  return 0;
}

int cmd_open(const Args& a) {
  const std::string data = a.get("data");
  if (data.empty()) die("open: --data is required");
  const int repeat = static_cast<int>(a.num("repeat", 1));
  std::vector<double> opens, closes;
  for (int i = 0; i < repeat; ++i) {
    EngineOptions opt;
    opt.data_dir = data;
    auto t0 = BClock::now();
    auto eng = Engine::open(opt);
    if (!eng) die("open: " + eng.error().message);
    opens.push_back(secs_since(t0) * 1000);
    auto t1 = BClock::now();
    eng->reset();
    closes.push_back(secs_since(t1) * 1000);
  }
  std::printf("{\"open_ms\":[");
  for (size_t i = 0; i < opens.size(); ++i) std::printf("%s%.2f", i ? "," : "", opens[i]);
  std::printf("],\"close_ms\":[");
  for (size_t i = 0; i < closes.size(); ++i) std::printf("%s%.2f", i ? "," : "", closes[i]);
  std::printf("]}\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pioneer_benchdb rocks|bulk|open [--key value]...\n");
    return 2;
  }
  const std::string cmd = argv[1];
  Args a = Args::parse(argc, argv, 2);
  if (cmd == "rocks") return cmd_rocks(a);
  if (cmd == "bulk") return cmd_bulk(a);
  if (cmd == "open") return cmd_open(a);
  std::fprintf(stderr, "pioneer_benchdb: unknown command %s\n", cmd.c_str());
  return 2;
}
