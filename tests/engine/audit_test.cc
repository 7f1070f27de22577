// Audit on the engine over a real RocksDB store: verify finds each kind of damage, reindex
// repairs it and deletes exactly the strays, and the hash algorithm chosen at creation stays.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "common/crypto.h"
#include "engine/audit/reindex.h"
#include "engine/audit/verify.h"
#include "engine/core/codec.h"
#include "engine/core/indexer.h"
#include "engine/core/spaces.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/engine/test_support.h"

namespace pioneer::testing {
namespace {

TEST(Audit, VerifyFindsAnEditedEvent) {
  EngineHarness h;
  const uint64_t second_seq = h.engine().head_seq() + 2;  // the project's second event
  const std::string id = new_project(h, "可信历史");
  ASSERT_OK(h.fire("wang.wei", id, "issue"));
  auto ok = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(ok);
  EXPECT_TRUE(ok->ok) << ok->to_json().dump(2);
  // Edit one byte of the second event's comment-free content: the chain must catch it.
  auto second = h.engine().store().get(engine::Space::kEvents, storage::u64_key(second_seq));
  ASSERT_OK(second);
  ASSERT_TRUE(second->has_value());
  std::string edited = **second;
  auto pos = edited.find("wang.wei");
  ASSERT_NE(pos, std::string::npos);
  edited[pos] = 'W';
  storage::Batch b;
  b.put(engine::Space::kEvents, storage::u64_key(second_seq), edited);
  ASSERT_OK(h.engine().store().commit(b));
  auto bad = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(bad);
  EXPECT_FALSE(bad->ok);
  EXPECT_EQ(bad->first_bad_seq, second_seq);
}

// verify_store keeps no per-key state (it must run on a million instances): each kind of
// damage is still found, and named.
TEST(Audit, VerifyFindsEachKindOfDamageToTheDerivedFamilies) {
  using engine::Space;
  struct Damage {
    const char* what;
    std::function<void(storage::Batch&, const std::string& a, const std::string& b, engine::Engine& e)> apply;
  };
  auto first_key = [](engine::Engine& e, storage::Space space) {
    auto c = e.store().scan_prefix(space, "");
    return c->valid() ? std::string(c->key()) : std::string();
  };
  const std::vector<Damage> damages = {
      {"missing or mistagged index entry",
       [](storage::Batch& b, const std::string& a, const std::string&, engine::Engine& e) {
         for (auto c = e.store().scan_prefix(Space::kIndexes, ""); c->valid(); c->next()) {
           if (engine::index::id_of(c->key()) == a) return b.single_del(Space::kIndexes, std::string(c->key()));
         }
       }},
      {"stray index entry",
       [](storage::Batch& b, const std::string&, const std::string&, engine::Engine&) {
         b.put(Space::kIndexes, storage::KeyBuilder().text("o").org("city").text("01NOSUCHINSTANCE0000000000").build(), "o");
       }},
      {"a timer is missing",
       [&](storage::Batch& b, const std::string&, const std::string&, engine::Engine& e) {
         b.single_del(Space::kTimers, first_key(e, Space::kTimers));
       }},
      {"stray timer",
       [](storage::Batch& b, const std::string& a, const std::string&, engine::Engine&) {
         b.put(Space::kTimers, engine::index::timer_key(engine::ArmedTimer{"remind", 4102444800000LL}, a), "");
       }},
      {"history does not match the log",
       [](storage::Batch& b, const std::string& a, const std::string&, engine::Engine&) {
         b.del(Space::kInstanceEvents, engine::index::history_key(a, 2));
       }},
      {"a history entry points at another event",
       [](storage::Batch& b, const std::string& a, const std::string& other, engine::Engine& e) {
         auto seq = e.store().get(Space::kInstanceEvents, engine::index::history_key(other, 1));
         b.put(Space::kInstanceEvents, engine::index::history_key(a, 99), **seq);
       }},
      {"events of a missing instance",
       [](storage::Batch& b, const std::string& a, const std::string&, engine::Engine&) { b.del(Space::kInstances, a); }},
      {"a statistics counter is off",
       [&](storage::Batch& b, const std::string&, const std::string&, engine::Engine& e) {
         b.add(Space::kCounters, first_key(e, Space::kCounters), 2);
       }},
      {"a statistics counter is not a number",
       [&](storage::Batch& b, const std::string&, const std::string&, engine::Engine& e) {
         b.put(Space::kCounters, first_key(e, Space::kCounters), "not eight bytes");
       }},
  };
  for (const Damage& d : damages) {
    EngineHarness h;
    const std::string a = assigned_project(h, "受损的项目");
    const std::string other = new_project(h, "另一个项目");
    auto clean = engine::verify_store(h.engine().store(), h.engine().roles());
    ASSERT_OK(clean);
    ASSERT_TRUE(clean->ok) << clean->to_json().dump(2);
    storage::Batch b;
    d.apply(b, a, other, h.engine());
    ASSERT_OK(h.engine().store().commit(b));
    auto report = engine::verify_store(h.engine().store(), h.engine().roles());
    ASSERT_OK(report);
    EXPECT_FALSE(report->ok) << d.what;
    const std::string text = report->to_json().dump();
    EXPECT_NE(text.find(d.what), std::string::npos) << d.what << ": " << text;
  }
}

// Each kind of damage to the derived families — including the two that would break the writer's
// SingleDelete contract, a second put of a present entry and an entry deleted the old way with a
// plain Delete — is repaired by reindex_store; afterwards verify passes, the engine moves the
// instance on (single-deleting the repaired keys), and a full compaction succeeds.
TEST(Audit, ReindexRepairsEachKindOfDamageToTheDerivedFamilies) {
  using engine::Space;
  struct Damage {
    const char* what;
    std::function<void(storage::Batch&, const storage::Store&, const std::string& a)> apply;
    bool seen_by_verify = true;  // a second put of the same value is invisible to verify (reindex rewrites it anyway)
  };
  auto a_index_key = [](const storage::Store& store, const std::string& a, const char* kind) {
    for (auto c = store.scan_prefix(Space::kIndexes, storage::KeyBuilder().text(kind).prefix()); c->valid(); c->next()) {
      if (engine::index::id_of(c->key()) == a) return std::string(c->key());
    }
    return std::string();
  };
  auto a_timer_key = [](const storage::Store& store, const std::string& a) {
    for (auto c = store.scan_prefix(Space::kTimers, ""); c->valid(); c->next()) {
      if (auto t = engine::index::parse_timer_key(c->key()); t && t->id == a) return std::string(c->key());
    }
    return std::string();
  };
  const std::vector<Damage> damages = {
      {"missing index entry", [&](storage::Batch& b, const storage::Store& st, const std::string& a) {
         b.single_del(Space::kIndexes, a_index_key(st, a, "s"));
       }},
      {"entry deleted with a plain Delete", [&](storage::Batch& b, const storage::Store& st, const std::string& a) {
         b.repair_del(Space::kIndexes, a_index_key(st, a, "t"));
       }},
      {"entry put twice, the second time mistagged", [&](storage::Batch& b, const storage::Store& st, const std::string& a) {
         b.put(Space::kIndexes, a_index_key(st, a, "s"), "x");
       }},
      {"an entry of the instance under a state it is not in", [](storage::Batch& b, const storage::Store&, const std::string& a) {
         b.put(Space::kIndexes,
               storage::KeyBuilder().text("s").text("yizhi-yixiang").text("completed").org("city/finance").text(a).build(), "o");
       }},
      {"stray index entry", [](storage::Batch& b, const storage::Store&, const std::string&) {
         b.put(Space::kIndexes, storage::KeyBuilder().text("o").org("city").text("01NOSUCHINSTANCE0000000000").build(), "o");
       }},
      {"missing timer", [&](storage::Batch& b, const storage::Store& st, const std::string& a) {
         b.single_del(Space::kTimers, a_timer_key(st, a));
       }},
      {"timer put twice", [&](storage::Batch& b, const storage::Store& st, const std::string& a) {
         b.put(Space::kTimers, a_timer_key(st, a), "");
       }, false},
      {"stray timer", [](storage::Batch& b, const storage::Store&, const std::string& a) {
         b.put(Space::kTimers, engine::index::timer_key(engine::ArmedTimer{"remind", 4102444800000LL}, a), "");
       }},
      {"counter off", [](storage::Batch& b, const storage::Store& st, const std::string&) {
         auto c = st.scan_prefix(Space::kCounters, "");
         b.add(Space::kCounters, std::string(c->key()), 3);
       }},
      {"counter not a number", [](storage::Batch& b, const storage::Store& st, const std::string&) {
         auto c = st.scan_prefix(Space::kCounters, "");
         b.put(Space::kCounters, std::string(c->key()), "x");
       }},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.what);
    EngineHarness h;
    const engine::RoleCatalog roles = h.engine().roles();
    const std::string a = assigned_project(h, "待修复的项目");
    h.close();
    {
      auto store = storage::Store::open(h.dir(), engine::store_layout());
      ASSERT_OK(store);
      storage::Batch b;
      d.apply(b, **store, a);
      ASSERT_OK((*store)->commit(b));
      auto damaged = engine::verify_store(**store, roles);
      ASSERT_OK(damaged);
      EXPECT_EQ(damaged->ok, !d.seen_by_verify);
      auto rebuilt = engine::reindex_store(**store, roles);
      ASSERT_OK(rebuilt);
      EXPECT_EQ(rebuilt->instances, 1u);
      EXPECT_EQ(rebuilt->unreadable_instances, 0u);
      auto repaired = engine::verify_store(**store, roles);
      ASSERT_OK(repaired);
      EXPECT_TRUE(repaired->ok) << repaired->to_json().dump(2);
      // One version per key and no deletion left in either family: what a later single_del
      // needs (a second put would come back after it, a Delete below it fails the compaction).
      // Reopened first, so that everything is in the tables.
      store->reset();
      store = storage::Store::open(h.dir(), engine::store_layout());
      ASSERT_OK(store);
      for (storage::Space space : {Space::kIndexes, Space::kTimers}) {
        uint64_t keys = 0;
        for (auto c = (*store)->scan_prefix(space, ""); c->valid(); c->next()) ++keys;
        auto tables = (*store)->property(space, "rocksdb.aggregated-table-properties");
        ASSERT_TRUE(tables.has_value());
        EXPECT_NE(tables->find("# entries=" + std::to_string(keys) + ";"), std::string::npos) << *tables;
        EXPECT_NE(tables->find("# deletions=0;"), std::string::npos) << *tables;
      }
      auto pending = (*store)->get(Space::kMeta, engine::kReindexPendingKey);
      ASSERT_OK(pending);
      EXPECT_FALSE(pending->has_value());
    }
    h.open();
    ASSERT_OK(h.fire("zhang.min", a, "claim"));  // leaves the state: its entries and timer single-deleted
    ASSERT_OK(h.engine().store().compact());
    auto after = engine::verify_store(h.engine().store(), roles);
    ASSERT_OK(after);
    EXPECT_TRUE(after->ok) << after->to_json().dump(2);
    auto page = h.engine().list_instances(h.user("li.na"), {}, 50, "");
    ASSERT_OK(page);
    ASSERT_EQ(page->items.size(), 1u);
    EXPECT_EQ(page->items[0]["state"], "in_progress");
  }
}

// A store that counts the instance records read one at a time (reindex reads one only for a
// key whose fingerprint is not among the implied keys').
class CountingStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<std::optional<std::string>> get(storage::Space s, std::string_view k) const override {
    if (s == engine::Space::kInstances) ++record_reads;
    return ForwardingStore::get(s, k);
  }
  mutable int record_reads = 0;
};

std::set<std::string> keys_of(const storage::Store& store, storage::Space space) {
  std::set<std::string> keys;
  for (auto c = store.scan_prefix(space, ""); c->valid(); c->next()) keys.insert(std::string(c->key()));
  return keys;
}

// Among many instances, reindex deletes exactly the strays — those of an instance that does not
// exist, those a readable record does not imply, keys naming no instance — keeps every implied
// key, reads a record only for a stray that names one (the implied keys are found by their
// fingerprints), and says what it is doing at each of its four steps.
TEST(Audit, ReindexDeletesExactlyTheStraysAmongManyInstances) {
  using engine::Space;
  EngineHarness h;
  const engine::RoleCatalog roles = h.engine().roles();
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) {
    ids.push_back(new_project(h, "项目 " + std::to_string(i)));
    if (i % 3 == 0) ASSERT_OK(h.fire("wang.wei", ids.back(), "issue"));
    if (i % 6 == 0) {
      ASSERT_OK(h.fire("li.na", ids.back(), "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-03-31"}}));
    }
  }
  h.close();
  auto opened = storage::Store::open(h.dir(), engine::store_layout());
  ASSERT_OK(opened);
  CountingStore store(std::move(*opened));
  const std::set<std::string> index_before = keys_of(store, Space::kIndexes), timers_before = keys_of(store, Space::kTimers);
  ASSERT_FALSE(timers_before.empty());
  storage::Batch b;
  b.put(Space::kIndexes, storage::KeyBuilder().text("s").text("yizhi-yixiang").text("closed").org("city/finance").text(ids[7]).build(), "o");
  b.put(Space::kIndexes, storage::KeyBuilder().text("t").text("branch_secretary").org("city/finance/b1").text(ids[13]).build(), "");
  b.put(Space::kIndexes, storage::KeyBuilder().text("o").org("city").text("01NOSUCHINSTANCE0000000000").build(), "o");
  b.put(Space::kIndexes, storage::KeyBuilder().text("o").org("city").text("").build(), "o");  // names no instance
  b.put(Space::kTimers, engine::index::timer_key(engine::ArmedTimer{"remind", 4102444800000LL}, ids[6]), "");
  b.put(Space::kTimers, "x", "");  // not a timer key
  ASSERT_OK(store.commit(b, true));
  std::vector<std::string> lines;
  engine::ReindexOptions options;
  options.progress = [&](const std::string& line) { lines.push_back(line); };
  auto rebuilt = engine::reindex_store(store, roles, options);
  ASSERT_OK(rebuilt);
  EXPECT_EQ(rebuilt->instances, 30u);
  EXPECT_EQ(rebuilt->stray_index_entries, 4u);
  EXPECT_EQ(rebuilt->stray_timers, 2u);
  EXPECT_EQ(rebuilt->index_entries_written, 0u);
  EXPECT_EQ(rebuilt->timers_written, 0u);
  EXPECT_EQ(rebuilt->index_entries, index_before.size());
  EXPECT_EQ(rebuilt->timers, timers_before.size());
  EXPECT_EQ(store.record_reads, 4);  // the four strays that name an instance, nothing else
  EXPECT_EQ(keys_of(store, Space::kIndexes), index_before);
  EXPECT_EQ(keys_of(store, Space::kTimers), timers_before);
  auto verified = engine::verify_store(store, roles);
  ASSERT_OK(verified);
  EXPECT_TRUE(verified->ok) << verified->to_json().dump(2);
  ASSERT_GE(lines.size(), 4u);
  for (const char* step : {"reindex: 1/4 ", "reindex: 2/4 ", "reindex: 3/4 ", "reindex: 4/4 "}) {
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(step, 0) == 0; }), 1) << step;
  }
}

// Records reindex may not derive from — one that does not decode, one copied under another key —
// keep whatever they imply (the writer cannot touch those instances either), while strays are
// still deleted; verify names both records.
TEST(Audit, ReindexLeavesWhatUnreadableRecordsImplyAlone) {
  using engine::Space;
  EngineHarness h;
  const engine::RoleCatalog roles = h.engine().roles();
  const std::string a = assigned_project(h, "记录损坏");
  const std::string b = new_project(h, "被复制的记录");
  h.close();
  auto store = storage::Store::open(h.dir(), engine::store_layout());
  ASSERT_OK(store);
  const std::set<std::string> index_before = keys_of(**store, Space::kIndexes), timers_before = keys_of(**store, Space::kTimers);
  ASSERT_FALSE(timers_before.empty());
  auto b_record = (*store)->get(Space::kInstances, b);
  ASSERT_OK(b_record);
  ASSERT_TRUE(b_record->has_value());
  storage::Batch damage;
  damage.put(Space::kInstances, a, "garbage");
  damage.put(Space::kInstances, "01COPYOFANOTHERINSTANCE000", **b_record);
  damage.put(Space::kIndexes, storage::KeyBuilder().text("o").org("city").text("01NOSUCHINSTANCE0000000000").build(), "o");
  ASSERT_OK((*store)->commit(damage));
  auto rebuilt = engine::reindex_store(**store, roles);
  ASSERT_OK(rebuilt);
  EXPECT_EQ(rebuilt->instances, 3u);
  EXPECT_EQ(rebuilt->unreadable_instances, 2u);
  EXPECT_EQ(rebuilt->stray_index_entries, 1u);
  EXPECT_EQ(rebuilt->stray_timers, 0u);
  EXPECT_EQ(keys_of(**store, Space::kIndexes), index_before);  // a's entries kept, the stray gone
  EXPECT_EQ(keys_of(**store, Space::kTimers), timers_before);
  auto verified = engine::verify_store(**store, roles);
  ASSERT_OK(verified);
  EXPECT_FALSE(verified->ok);
  const std::string report = verified->to_json().dump();
  EXPECT_NE(report.find("实例记录无法解析"), std::string::npos) << report;
  EXPECT_NE(report.find("a record's id differs from its key"), std::string::npos) << report;
}

// A record that lists one timer twice implies one key: counting it twice would let a stray
// timer hide behind the surplus, in verify and in reindex.
TEST(Audit, ATimerListedTwiceDoesNotHideAStray) {
  using engine::Space;
  EngineHarness h;
  const engine::RoleCatalog roles = h.engine().roles();
  const std::string a = assigned_project(h, "重复的定时器");
  h.close();
  auto store = storage::Store::open(h.dir(), engine::store_layout());
  ASSERT_OK(store);
  const std::set<std::string> timers_before = keys_of(**store, Space::kTimers);
  auto record = (*store)->get(Space::kInstances, a);
  ASSERT_OK(record);
  auto in = engine::decode_instance(**record);
  ASSERT_OK(in);
  ASSERT_FALSE(in->timers.empty());
  in->timers.push_back(in->timers.front());
  storage::Batch damage;
  damage.put(Space::kInstances, a, engine::encode_instance(*in));
  damage.put(Space::kTimers, engine::index::timer_key(engine::ArmedTimer{"remind", 4102444800000LL}, "01NOSUCHINSTANCE0000000000"), "");
  ASSERT_OK((*store)->commit(damage));
  auto damaged = engine::verify_store(**store, roles);
  ASSERT_OK(damaged);
  const std::string report = damaged->to_json().dump();
  EXPECT_NE(report.find("a timer is listed twice"), std::string::npos) << report;
  EXPECT_NE(report.find("stray"), std::string::npos) << report;
  auto rebuilt = engine::reindex_store(**store, roles);
  ASSERT_OK(rebuilt);
  EXPECT_EQ(rebuilt->stray_timers, 1u);
  EXPECT_EQ(keys_of(**store, Space::kTimers), timers_before);
}

// A reindex that did not finish leaves its mark, and the engine will not serve such a database
// (its derived families may hold keys with two versions) until a run completes.
TEST(Audit, AnInterruptedReindexKeepsTheEngineFromOpening) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/db";
  engine::RoleCatalog roles;
  {
    EngineHarness h(dir);
    roles = h.engine().roles();
    new_project(h, "中断");
  }
  {
    auto store = storage::Store::open(dir, engine::store_layout());
    ASSERT_OK(store);
    storage::Batch b;
    b.put(engine::Space::kMeta, engine::kReindexPendingKey, "1");
    ASSERT_OK((*store)->commit(b));
  }
  engine::EngineOptions options;
  options.data_dir = dir;
  ASSERT_CODE(engine::Engine::open(options), Code::kCorruption);
  {
    auto store = storage::Store::open(dir, engine::store_layout());
    ASSERT_OK(store);
    ASSERT_OK(engine::reindex_store(**store, roles));
  }
  auto opened = engine::Engine::open(options);
  ASSERT_OK(opened);
}

TEST(Audit, Sm3IsSelectableForANewDatabaseAndStaysChosen) {
  TempDir tmp;
  engine::EngineOptions options;
  options.data_dir = tmp.path() + "/db";
  options.hash_algorithm = "sm3";
  {
    auto e = engine::Engine::open(options);
    ASSERT_OK(e);
    ASSERT_OK((*e)->execute(engine::Command{engine::PutOrg{{"city", "市委", "city", ""}},
                                            engine::Principal::system_principal(), {}, {}}));
    ASSERT_OK((*e)->execute(engine::Command{engine::PutOrg{{"city/finance", "市财政局", "department", ""}},
                                            engine::Principal::system_principal(), {}, {}}));
    ASSERT_OK((*e)->load_workflows_dir(source_path("workflows")));
    ASSERT_OK((*e)->execute(engine::Command{engine::PutUser{"p", "党组", "city/finance", {{"party_group", "city/finance"}}},
                                            engine::Principal::system_principal(), {}, {}}));
    auto who = (*e)->user("p");
    ASSERT_OK(who);
    ASSERT_OK((*e)->execute(engine::Command{
        engine::CreateInstance{"yizhi-yixiang", "city/finance", {{"title", "国密"}}, std::nullopt}, *who, {}, {}}));
  }
  options.hash_algorithm = "sha256";  // ignored: the database keeps the algorithm it was made with
  auto e = engine::Engine::open(options);
  ASSERT_OK(e);
  auto feed = (*e)->events_after(*(*e)->user("p"), 0, 10);
  ASSERT_OK(feed);
  ASSERT_EQ(feed->items.size(), 1u);
  const auto& event = feed->items[0];
  EXPECT_EQ(event.hash, *digest_hex("sm3", engine::event_hash_input(event)));
  EXPECT_NE(event.hash, sha256_hex(engine::event_hash_input(event)));
  auto report = engine::verify_store((*e)->store(), (*e)->roles());
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok) << report->to_json().dump(2);
  options.data_dir = tmp.path() + "/other";
  options.hash_algorithm = "md5";
  ASSERT_CODE(engine::Engine::open(options), Code::kBadRequest);
}

}  // namespace
}  // namespace pioneer::testing
