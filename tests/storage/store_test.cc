// Tests for the RocksDB Store: reads, atomic batches, scans, counters, durability across
// reopen, checkpoints, the folder lock and read-only opening. Each test owns a fresh temporary
// folder.
#include "storage/store.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "storage/keys.h"
#include "tests/support/support.h"

extern char** environ;

namespace pioneer::storage {
namespace {

using namespace std::string_literals;
namespace fs = std::filesystem;


// The families these tests open, handed to the store as any user of it hands its own: the
// engine's names and kinds (engine/core/spaces.h), so that what is on disk reads as it would.
struct S {
  static constexpr Space kDefinitions{0};
  static constexpr Space kInstances{1};
  static constexpr Space kEvents{2};
  static constexpr Space kInstanceEvents{3};
  static constexpr Space kIndexes{4};  // single_del only
  static constexpr Space kTimers{5};   // single_del only
  static constexpr Space kPrincipals{6};
  static constexpr Space kIdempotency{7};
  static constexpr Space kMeta{8};
  static constexpr Space kCounters{9};
};
const Layout kLayout{{{"definitions"},
                      {"instances"},
                      {"events"},
                      {"instance_events"},
                      {"indexes", Family::Kind::kSingleDeleted},
                      {"timers", Family::Kind::kSingleDeleted},
                      {"principals"},
                      {"idempotency"},
                      {"meta"},
                      {"counters", Family::Kind::kCounters}},
                     S::kMeta};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "pioneer-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    dir_ = (root_ / "db").string();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Opens dir_ (or another folder) into store_, failing the test on error.
  void Open(StoreOptions options = {}) {
    auto store = Store::open(dir_, kLayout, options);
    ASSERT_OK(store);
    store_ = std::move(*store);
  }
  void Reopen(StoreOptions options = {}) {
    store_.reset();
    Open(options);
  }

  void Put(Space space, const std::string& key, const std::string& value) {
    Batch b;
    b.put(space, key, value);
    ASSERT_OK(store_->commit(b));
  }
  std::optional<std::string> Get(const Store& store, Space space, const std::string& key) {
    auto r = store.get(space, key);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r.value_or(std::nullopt);
  }
  std::optional<std::string> Get(Space space, const std::string& key) { return Get(*store_, space, key); }

  // Every key of a cursor, checking its status at the end.
  static std::vector<std::string> Keys(std::unique_ptr<Cursor> c) {
    std::vector<std::string> keys;
    for (; c->valid(); c->next()) keys.emplace_back(c->key());
    EXPECT_TRUE(c->status().has_value());
    return keys;
  }

  fs::path root_;
  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, PutGetDelete) {
  Open();
  EXPECT_EQ(Get(S::kInstances, "i1"), std::nullopt);
  Put(S::kInstances, "i1", "record");
  EXPECT_EQ(Get(S::kInstances, "i1"), "record");
  // Spaces are separate: the same key elsewhere is absent.
  EXPECT_EQ(Get(S::kEvents, "i1"), std::nullopt);
  Put(S::kInstances, "i1", "record v2");
  EXPECT_EQ(Get(S::kInstances, "i1"), "record v2");

  Batch b;
  b.del(S::kInstances, "i1");
  ASSERT_OK(store_->commit(b));
  EXPECT_EQ(Get(S::kInstances, "i1"), std::nullopt);
}

TEST_F(StoreTest, BinaryKeysAndValues) {
  Open();
  const std::string key = "a\0\xff\x01"s;
  const std::string value = "\0\0v\xfe"s;
  Put(S::kMeta, key, value);
  EXPECT_EQ(Get(S::kMeta, key), value);
  EXPECT_EQ(Get(S::kMeta, "a"), std::nullopt);
}

TEST_F(StoreTest, MultiGetKeepsKeyOrder) {
  Open();
  Batch b;
  b.put(S::kInstances, "b", "2");
  b.put(S::kInstances, "a", "1");
  b.put(S::kInstances, "c", "3");
  ASSERT_OK(store_->commit(b));

  auto r = store_->multi_get(S::kInstances, {"c", "missing", "a", "b", "a"});
  ASSERT_OK(r);
  const std::vector<std::optional<std::string>> want = {"3", std::nullopt, "1", "2", "1"};
  EXPECT_EQ(*r, want);

  auto empty = store_->multi_get(S::kInstances, {});
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());
}

TEST_F(StoreTest, LaterOpInBatchWins) {
  Open();
  Batch b;
  b.put(S::kInstances, "k", "first");
  b.put(S::kInstances, "k", "second");
  b.put(S::kInstances, "gone", "x");
  b.del(S::kInstances, "gone");
  b.del(S::kInstances, "back");
  b.put(S::kInstances, "back", "again");
  ASSERT_OK(store_->commit(b));
  EXPECT_EQ(Get(S::kInstances, "k"), "second");
  EXPECT_EQ(Get(S::kInstances, "gone"), std::nullopt);
  EXPECT_EQ(Get(S::kInstances, "back"), "again");
}

// The engine sorts each batch by (space, key) before committing (faster memtable inserts):
// writes to one key keep their order, so the outcome is the same as unsorted.
TEST_F(StoreTest, SortedBatchKeepsTheOrderOfWritesToOneKey) {
  Open();
  Batch b;
  b.put(S::kInstances, "z", "first");
  b.put(S::kIndexes, "a", "index");
  b.del(S::kInstances, "b");
  b.put(S::kInstances, "z", "second");
  b.put(S::kInstances, "b", "again");
  b.add(S::kCounters, "n", 2);
  b.put(S::kInstances, "gone", "x");
  b.add(S::kCounters, "n", -5);
  b.del(S::kInstances, "gone");
  b.sort_by_key();
  std::vector<std::string> order;
  for (const Op& op : b.ops()) order.push_back(std::to_string(static_cast<int>(op.space)) + ":" + op.key);
  EXPECT_EQ(order, (std::vector<std::string>{"1:b", "1:b", "1:gone", "1:gone", "1:z", "1:z", "4:a", "9:n", "9:n"}));
  ASSERT_OK(store_->commit(b));
  EXPECT_EQ(Get(S::kInstances, "z"), "second");
  EXPECT_EQ(Get(S::kInstances, "b"), "again");
  EXPECT_EQ(Get(S::kInstances, "gone"), std::nullopt);
  EXPECT_EQ(Get(S::kIndexes, "a"), "index");
  auto n = store_->counter(S::kCounters, "n");
  ASSERT_OK(n);
  EXPECT_EQ(*n, -3);
}

TEST_F(StoreTest, RefusedBatchWritesNothing) {
  Open();
  Batch b;
  b.put(S::kInstances, "i1", "x");
  b.add(S::kCounters, "n", 1);
  b.put(static_cast<Space>(200), "k", "v");  // a space that does not exist
  auto r = store_->commit(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInternal);
  EXPECT_EQ(Get(S::kInstances, "i1"), std::nullopt);
  auto n = store_->counter(S::kCounters, "n");
  ASSERT_OK(n);
  EXPECT_EQ(*n, 0);
}

// A reader's cursor sees each batch whole or not at all: every batch rewrites all keys with the
// same generation, so one scan must never see two generations.
TEST_F(StoreTest, ReadersSeeWholeBatchesOnly) {
  Open();
  constexpr int kKeys = 20;
  auto write_generation = [&](int gen) {
    Batch b;
    for (int k = 0; k < kKeys; ++k) b.put(S::kIndexes, "k" + std::to_string(100 + k), std::to_string(gen));
    return store_->commit(b, /*sync=*/false);
  };
  ASSERT_OK(write_generation(0));

  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<int> scans{0};
  std::thread reader([&] {
    while (!stop.load()) {
      std::vector<std::string> values;
      for (auto c = store_->scan_prefix(S::kIndexes, "k"); c->valid(); c->next()) values.emplace_back(c->value());
      if (values.size() != kKeys || std::adjacent_find(values.begin(), values.end(), std::not_equal_to<>()) != values.end()) {
        torn.fetch_add(1);
      }
      scans.fetch_add(1);
    }
  });
  for (int gen = 1; gen <= 2000; ++gen) ASSERT_OK(write_generation(gen));
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(scans.load(), 0);
}

TEST_F(StoreTest, ScanBounds) {
  Open();
  Batch b;
  for (const char* k : {"a", "b", "ba", "c", "d"}) b.put(S::kTimers, k, std::string("v") + k);
  ASSERT_OK(store_->commit(b));

  using V = std::vector<std::string>;
  EXPECT_EQ(Keys(store_->scan(S::kTimers, "b", "d")), (V{"b", "ba", "c"}));
  EXPECT_EQ(Keys(store_->scan(S::kTimers, "b", "")), (V{"b", "ba", "c", "d"}));
  EXPECT_EQ(Keys(store_->scan(S::kTimers, "", "")), (V{"a", "b", "ba", "c", "d"}));
  EXPECT_EQ(Keys(store_->scan(S::kTimers, "bb", "c")), V{});
  EXPECT_EQ(Keys(store_->scan(S::kTimers, "d", "a")), V{});
  EXPECT_EQ(Keys(store_->scan(S::kEvents, "", "")), V{});

  auto c = store_->scan(S::kTimers, "c", "");
  ASSERT_TRUE(c->valid());
  EXPECT_EQ(c->key(), "c");
  EXPECT_EQ(c->value(), "vc");
}

TEST_F(StoreTest, ScanInU64OrderIsNumericOrder) {
  Open();
  Batch b;
  for (uint64_t seq : {300ull, 2ull, 1ull << 40, 256ull, 0ull}) b.put(S::kEvents, u64_key(seq), "e");
  ASSERT_OK(store_->commit(b));
  std::vector<uint64_t> seen;
  for (auto c = store_->scan(S::kEvents, u64_key(2), u64_key(1ull << 40)); c->valid(); c->next()) {
    seen.push_back(*get_u64(c->key()));
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 256, 300}));
}

TEST(PrefixEndTest, EdgeCases) {
  EXPECT_EQ(prefix_end("abc"), "abd");
  EXPECT_EQ(prefix_end("a\0"s), "a\x01"s);
  EXPECT_EQ(prefix_end("a\xfe"s), "a\xff"s);
  EXPECT_EQ(prefix_end("a\xff"s), "b");
  EXPECT_EQ(prefix_end("a\xff\xff"s), "b");
  EXPECT_EQ(prefix_end("\xff\xff"s), "");
  EXPECT_EQ(prefix_end(""), "");
}

TEST_F(StoreTest, ScanPrefixWithFfBytes) {
  Open();
  Batch b;
  for (const std::string& k : {"a"s, "a\xff"s, "a\xff\x00"s, "a\xff\xff\xff"s, "b"s, "\xff"s, "\xff\xff"s, "\xff\xff\x01"s}) {
    b.put(S::kMeta, k, "");
  }
  ASSERT_OK(store_->commit(b));
  using V = std::vector<std::string>;
  EXPECT_EQ(Keys(store_->scan_prefix(S::kMeta, "a\xff"s)), (V{"a\xff"s, "a\xff\x00"s, "a\xff\xff\xff"s}));
  // No upper bound exists for an all-0xFF prefix: the scan runs to the end.
  EXPECT_EQ(Keys(store_->scan_prefix(S::kMeta, "\xff\xff"s)), (V{"\xff\xff"s, "\xff\xff\x01"s}));
  EXPECT_EQ(Keys(store_->scan_prefix(S::kMeta, "")).size(), 8u);
  EXPECT_EQ(Keys(store_->scan_prefix(S::kMeta, "c")), V{});
}

TEST_F(StoreTest, ScanPrefixByOrgPath) {
  Open();
  auto key = [](std::string_view org, std::string_view id) { return KeyBuilder().text("org").org(org).text(id).build(); };
  Batch b;
  b.put(S::kIndexes, key("city/finance", "i1"), "");
  b.put(S::kIndexes, key("city/finance/b1", "i2"), "");
  b.put(S::kIndexes, key("city/finance2", "i3"), "");
  b.put(S::kIndexes, key("city", "i4"), "");
  ASSERT_OK(store_->commit(b));

  std::vector<std::string> ids;
  for (auto c = store_->scan_prefix(S::kIndexes, KeyBuilder().text("org").org("city/finance").build()); c->valid(); c->next()) {
    ids.emplace_back(split_key(c->key()).back());
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"i1", "i2"}));
}

TEST_F(StoreTest, Counters) {
  Open();
  auto absent = store_->counter(S::kCounters, "none");
  ASSERT_OK(absent);
  EXPECT_EQ(*absent, 0);

  Batch b;
  b.add(S::kCounters, "done", 5);
  b.add(S::kCounters, "done", 3);
  b.add(S::kCounters, "open", -4);
  ASSERT_OK(store_->commit(b));
  Batch down;
  down.add(S::kCounters, "done", -10);
  ASSERT_OK(store_->commit(down));

  auto done = store_->counter(S::kCounters, "done");
  ASSERT_OK(done);
  EXPECT_EQ(*done, -2);
  auto open = store_->counter(S::kCounters, "open");
  ASSERT_OK(open);
  EXPECT_EQ(*open, -4);

  Batch big;
  big.add(S::kCounters, "big", std::numeric_limits<int64_t>::max());
  big.add(S::kCounters, "big", -1);
  ASSERT_OK(store_->commit(big));
  auto v = store_->counter(S::kCounters, "big");
  ASSERT_OK(v);
  EXPECT_EQ(*v, std::numeric_limits<int64_t>::max() - 1);
}

TEST_F(StoreTest, CountersSurviveReopen) {
  Open();
  for (int i = 0; i < 100; ++i) {
    Batch b;
    b.add(S::kCounters, "n", i % 2 == 0 ? 3 : -1);
    ASSERT_OK(store_->commit(b, /*sync=*/false));
  }
  Reopen();  // the close flushes, so merged values are read back from table files
  Batch b;
  b.add(S::kCounters, "n", 1);
  ASSERT_OK(store_->commit(b));
  Reopen();
  auto n = store_->counter(S::kCounters, "n");
  ASSERT_OK(n);
  EXPECT_EQ(*n, 50 * 3 - 50 + 1);
}

TEST_F(StoreTest, CounterWithMalformedValueIsCorruption) {
  Open();
  Put(S::kCounters, "bad", "xyz");
  auto r = store_->counter(S::kCounters, "bad");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kCorruption);
}

TEST_F(StoreTest, DataPersistsAcrossReopen) {
  Open();
  for (int i = 0; i < 1000; ++i) {
    Batch b;
    b.put(S::kInstances, "i" + std::to_string(i), "r" + std::to_string(i));
    b.put(S::kIndexes, KeyBuilder().text("state").text("open").text("i" + std::to_string(i)).build(), "");
    ASSERT_OK(store_->commit(b, /*sync=*/i % 100 == 0));
  }
  Reopen();
  EXPECT_EQ(Get(S::kInstances, "i0"), "r0");
  EXPECT_EQ(Get(S::kInstances, "i999"), "r999");
  EXPECT_EQ(Keys(store_->scan_prefix(S::kIndexes, KeyBuilder().text("state").text("open").prefix())).size(), 1000u);
}

// A clean close flushes every family, so the next open has no log records to replay.
TEST_F(StoreTest, CleanCloseLeavesNoLogToReplay) {
  Open();
  for (int i = 0; i < 100; ++i) Put(static_cast<Space>(i % kLayout.size()), "k" + std::to_string(i), "v");
  store_.reset();
  uintmax_t log_bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    if (entry.path().extension() == ".log") log_bytes += entry.file_size();
  }
  EXPECT_EQ(log_bytes, 0u);
  Open();
  EXPECT_EQ(Get(S::kInstances, "k1"), "v");
}

// Descriptors held by the test until released: every one this process may still open, so
// that RocksDB's next log or table file cannot be created.
class DescriptorHog {
 public:
  // Lowers the soft limit to what is open now plus `room`, then takes all of it.
  explicit DescriptorHog(int room) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(open_now() + room);
    ::setrlimit(RLIMIT_NOFILE, &low);
    for (;;) {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      fds_.push_back(fd);
    }
  }
  ~DescriptorHog() { release(); }
  void release() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  static int open_now() {
    int n = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
  }
  rlimit saved_{};
  std::vector<int> fds_;
};

// Out of descriptors, a memtable switch cannot create its next log file and RocksDB stops
// accepting writes. Every write then fails as unavailable (never internal) and health() names
// the reason; once descriptors are free again, writes resume without reopening, and nothing
// committed before is lost.
TEST_F(StoreTest, WritesStopAsUnavailableWhenOutOfDescriptorsAndResumeAfter) {
  StoreOptions options;
  options.memtable_bytes = 64u << 10;
  Open(options);
  const std::string value(4096, 'x');
  std::vector<int> committed;
  auto write = [&](int i) {
    Batch b;
    b.put(S::kInstances, "k" + std::to_string(i), value);
    auto r = store_->commit(b);
    if (r) committed.push_back(i);
    return r;
  };
  for (int i = 0; i < 10; ++i) ASSERT_OK(write(i));
  bool stopped = false;
  {
    DescriptorHog hog(0);
    for (int i = 10; i < 210 && !stopped; ++i) {
      auto r = write(i);
      if (r) continue;
      EXPECT_EQ(r.error().code, Code::kUnavailable) << r.error().message;
      stopped = true;
    }
    ASSERT_TRUE(stopped) << "no write failed while out of descriptors";
    Store::Health health = store_->health();
    ASSERT_TRUE(health.stopped.has_value());
    EXPECT_GE(health.background_errors, 1u);
    auto again = write(100000);
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().code, Code::kUnavailable);
    hog.release();
  }
  // Resume is tried at most every kResumeIntervalMs: retry until it is due (bounded).
  bool resumed = false;
  for (int attempt = 0; attempt < 100 && !resumed; ++attempt) {
    resumed = write(200000).has_value();
    if (!resumed) std::this_thread::sleep_for(std::chrono::milliseconds(kResumeIntervalMs / 4));
  }
  ASSERT_TRUE(resumed) << store_->health().stopped.value_or("");
  EXPECT_FALSE(store_->health().stopped.has_value());
  EXPECT_GE(store_->health().recoveries, 1u);
  for (int i : committed) EXPECT_EQ(Get(S::kInstances, "k" + std::to_string(i)), value);
  Reopen();
  for (int i : committed) EXPECT_EQ(Get(S::kInstances, "k" + std::to_string(i)), value);
}

// A key deleted with single_del vanishes with its put when both meet in a flush; a del()
// leaves a tombstone in the table for every later scan to step over. The same writes go to two
// families, deleted one way in each, and the tables written at close are compared.
TEST_F(StoreTest, SingleDeleteLeavesNoTombstone) {
  Open();
  auto key = [](int i) { return KeyBuilder().text("s").text("open").text("i" + std::to_string(1000 + i)).build(); };
  for (int i = 0; i < 100; ++i) {
    Batch b;
    b.put(S::kIndexes, key(i), "");
    b.put(S::kInstanceEvents, key(i), "");
    ASSERT_OK(store_->commit(b));
  }
  Batch b;
  for (int i = 0; i < 60; ++i) {
    b.single_del(S::kIndexes, key(i));
    b.del(S::kInstanceEvents, key(i));
  }
  ASSERT_OK(store_->commit(b));
  EXPECT_EQ(Keys(store_->scan_prefix(S::kIndexes, "")), Keys(store_->scan_prefix(S::kInstanceEvents, "")));
  Reopen();  // closing flushes every family
  auto table_count = [&](Space space, const std::string& name) {
    auto all = store_->property(space, "rocksdb.aggregated-table-properties");
    EXPECT_TRUE(all.has_value());
    const std::string field = "# " + name + "=";
    const size_t at = all ? all->find(field) : std::string::npos;
    return at == std::string::npos ? -1 : std::stoll(all->substr(at + field.size()));
  };
  // RocksDB's "entries" counts deletions too.
  EXPECT_EQ(table_count(S::kIndexes, "entries"), 40);
  EXPECT_EQ(table_count(S::kIndexes, "deletions"), 0);
  EXPECT_EQ(table_count(S::kInstanceEvents, "entries"), 100);
  EXPECT_EQ(table_count(S::kInstanceEvents, "deletions"), 60);
  EXPECT_EQ(Keys(store_->scan_prefix(S::kIndexes, "")).size(), 40u);
  EXPECT_EQ(Get(S::kIndexes, key(0)), std::nullopt);
  EXPECT_EQ(Get(S::kIndexes, key(60)), "");
}

// The sequences the writer produces besides put-then-delete, each taken through a flush and a
// full compaction (which fails as corruption if RocksDB finds the SingleDelete contract broken):
// a key deleted and put again in one batch (an instance that leaves a state and comes back),
// and a timer deleted twice (a stale timer dropped after its state was left).
TEST_F(StoreTest, SingleDeleteSequencesSurviveCompaction) {
  Open();
  auto commit = [&](auto... ops) {
    Batch b;
    (ops(b), ...);
    ASSERT_OK(store_->commit(b));
  };
  auto put = [](Space sp, std::string k) { return [=](Batch& b) { b.put(sp, k, "v"); }; };
  auto sdel = [](Space sp, std::string k) { return [=](Batch& b) { b.single_del(sp, k); }; };
  commit(put(S::kIndexes, "back"));
  commit(sdel(S::kIndexes, "back"), put(S::kIndexes, "back"));  // left a state and re-entered it
  commit(put(S::kTimers, "twice"));
  commit(sdel(S::kTimers, "twice"));
  commit(sdel(S::kTimers, "twice"));  // a stale timer dropped again
  Reopen();
  ASSERT_OK(store_->compact());
  EXPECT_EQ(Get(S::kIndexes, "back"), "v");
  EXPECT_EQ(Get(S::kTimers, "twice"), std::nullopt);
  commit(sdel(S::kIndexes, "back"));
  Reopen();
  ASSERT_OK(store_->compact());
  EXPECT_EQ(Get(S::kIndexes, "back"), std::nullopt);
  EXPECT_TRUE(Keys(store_->scan_prefix(S::kIndexes, "")).empty());
  EXPECT_TRUE(Keys(store_->scan_prefix(S::kTimers, "")).empty());
  // The family stays writable after those compactions.
  commit(put(S::kIndexes, "after"));
  EXPECT_EQ(Get(S::kIndexes, "after"), "v");
}

// Only the families kept for single_del take it, and they never take del(): a batch breaking
// either rule is refused whole.
TEST_F(StoreTest, CommitRefusesTheWrongDeletionForAFamily) {
  Open();
  Put(S::kIndexes, "k", "v");
  Put(S::kInstances, "i", "r");
  for (auto wrong : std::vector<std::function<void(Batch&)>>{
           [](Batch& b) { b.del(S::kIndexes, "k"); },
           [](Batch& b) { b.del(S::kTimers, "t"); },
           [](Batch& b) { b.single_del(S::kInstances, "i"); },
       }) {
    Batch b;
    b.put(S::kEvents, "e", "x");
    wrong(b);
    auto r = store_->commit(b);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Code::kInternal);
    EXPECT_EQ(Get(S::kEvents, "e"), std::nullopt);
  }
  EXPECT_EQ(Get(S::kIndexes, "k"), "v");
  EXPECT_EQ(Get(S::kInstances, "i"), "r");
}

TEST_F(StoreTest, OpenWithoutCreateFailsOnMissingFolder) {
  StoreOptions options;
  options.create_if_missing = false;
  auto r = Store::open(dir_, kLayout, options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
  EXPECT_FALSE(r.error().message.empty());
  EXPECT_FALSE(std::filesystem::exists(dir_)) << "nothing created";
}

// RocksDB asked to create a database where a folder holds table files but no CURRENT starts an
// empty one and deletes those files. A database is created only where the folder is missing
// or empty (`pioneer user list` on a damaged copy must not wipe it).
TEST_F(StoreTest, NeverCreatesADatabaseOverAFolderThatHoldsFiles) {
  Open();
  Batch b;
  b.put(S::kInstances, "i", "r");
  ASSERT_TRUE(store_->commit(b, true).has_value());
  store_.reset();
  std::filesystem::remove(std::filesystem::path(dir_) / "CURRENT");
  std::vector<std::string> before;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) before.push_back(e.path().filename().string());
  std::sort(before.begin(), before.end());
  auto r = Store::open(dir_, kLayout);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kBadRequest);
  EXPECT_NE(r.error().message.find("refusing to create"), std::string::npos) << r.error().message;
  std::vector<std::string> after;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) after.push_back(e.path().filename().string());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(after, before) << "the folder is left as it was";
}

// Another application's RocksDB is refused, not given our column families.
TEST_F(StoreTest, RefusesAnotherApplicationsRocksDb) {
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir_, &raw).ok());
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), "k", "v").ok());
    delete raw;
  }
  for (bool read_only : {false, true}) {
    StoreOptions options;
    options.read_only = read_only;
    auto r = Store::open(dir_, kLayout, options);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("not a Pioneer database"), std::string::npos) << r.error().message;
  }
  std::vector<std::string> families;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_, &families).ok());
  EXPECT_EQ(families, std::vector<std::string>{rocksdb::kDefaultColumnFamilyName});
}

TEST_F(StoreTest, CheckpointWhileWriting) {
  Open();
  constexpr int kBefore = 500;
  for (int i = 0; i < kBefore; ++i) {
    Batch b;
    b.put(S::kEvents, u64_key(i), "e");
    b.add(S::kCounters, "events", 1);
    ASSERT_OK(store_->commit(b, /*sync=*/false));
  }

  std::atomic<bool> stop{false};
  std::atomic<int> written{kBefore};
  std::thread writer([&] {
    for (int i = kBefore; !stop.load(); ++i) {
      Batch b;
      b.put(S::kEvents, u64_key(i), "e");
      b.add(S::kCounters, "events", 1);
      if (!store_->commit(b, /*sync=*/false)) return;
      written = i + 1;
    }
  });
  // The writes overlap the checkpoint: the writer has had writes acknowledged before it starts
  // and goes on until it has had more acknowledged after it ended.
  while (written.load() == kBefore) std::this_thread::yield();
  const int at_start = written.load();
  const std::string copy = (root_ / "copy").string();
  auto r = store_->checkpoint(copy);
  const int at_end = written.load();
  while (written.load() == at_end) std::this_thread::yield();
  stop = true;
  writer.join();
  ASSERT_OK(r);
  EXPECT_GT(at_start, kBefore);
  EXPECT_GT(written.load(), at_end);

  // The copy is a consistent point in time: it has everything committed before the call, none
  // of what was committed after it returned, and its counter agrees with its events because
  // each batch carried both.
  auto snapshot = Store::open(copy, kLayout);
  ASSERT_OK(snapshot);
  const size_t events = Keys((*snapshot)->scan(S::kEvents, "", "")).size();
  EXPECT_GE(events, static_cast<size_t>(at_start));
  EXPECT_LE(events, static_cast<size_t>(at_end) + 1);  // + the one whose ack was in flight
  auto counted = (*snapshot)->counter(S::kCounters, "events");
  ASSERT_OK(counted);
  EXPECT_EQ(static_cast<size_t>(*counted), events);

  // The source kept going and is unaffected by the copy.
  auto source_count = store_->counter(S::kCounters, "events");
  ASSERT_OK(source_count);
  EXPECT_EQ(*source_count, written.load());
  Put(S::kMeta, "after", "1");
  EXPECT_EQ(Get(**snapshot, S::kMeta, "after"), std::nullopt);
}

TEST_F(StoreTest, CheckpointRefusesExistingDestination) {
  Open();
  const fs::path dest = root_ / "exists";
  fs::create_directory(dest);
  auto r = store_->checkpoint(dest.string());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInternal);
}

// The names of the folder's files whose name starts with "LOG" (RocksDB's info log and the
// old ones it rotated away), each with its inode.
std::map<std::string, uint64_t> info_logs(const std::string& dir) {
  std::map<std::string, uint64_t> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    struct stat st {};
    if (name.rfind("LOG", 0) == 0 && ::stat(entry.path().c_str(), &st) == 0) out[name] = st.st_ino;
  }
  return out;
}

TEST_F(StoreTest, SecondOpenOfLockedFolderFails) {
  Open();
  Put(S::kMeta, "k", "v");
  const auto logs = info_logs(dir_);
  ASSERT_EQ(logs.count("LOG"), 1u);
  auto second = Store::open(dir_, kLayout);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Code::kInternal);
  EXPECT_NE(second.error().message.find("database is locked by another process"), std::string::npos)
      << second.error().message;
  // The first store is untouched by the refused open, its info log included (RocksDB would
  // rotate it before finding its own lock taken).
  EXPECT_EQ(Get(S::kMeta, "k"), "v");
  EXPECT_EQ(info_logs(dir_), logs);
}

// The child half of LockedByAnotherProcess: runs only when that test spawns it.
TEST(StoreLockChild, OpenFails) {
  const char* dir = std::getenv("PIONEER_LOCK_CHILD_DIR");
  if (dir == nullptr) GTEST_SKIP() << "run by StoreTest.LockedByAnotherProcess";
  auto r = Store::open(dir, kLayout);
  std::ofstream(std::string(dir) + ".child") << (r ? std::string("opened") : r.error().message);
  ASSERT_FALSE(r.has_value());
}

// Another process holds the folder (the usual case: a second server started by mistake). The
// in-process test above cannot cover it, since RocksDB checks its own process first.
TEST_F(StoreTest, LockedByAnotherProcess) {
  Open();
  const auto logs = info_logs(dir_);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back("PIONEER_LOCK_CHILD_DIR=" + dir_);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  std::string filter = "--gtest_filter=StoreLockChild.OpenFails";
  char* argv[] = {exe.data(), filter.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, envp.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);

  std::ifstream in(dir_ + ".child");
  std::stringstream message;
  message << in.rdbuf();
  EXPECT_NE(message.str().find("database is locked by another process"), std::string::npos)
      << "child saw: " << message.str();
  EXPECT_EQ(info_logs(dir_), logs) << "the refused open rotated the holder's info log";
}

// An open that fails leaves the folder's lock file behind; the folder still counts as empty.
TEST_F(StoreTest, AFolderHoldingOnlyTheLockFileIsEmpty) {
  fs::create_directories(dir_);
  std::ofstream(dir_ + "/pioneer.lock").put('\0');
  Open();
  Put(S::kMeta, "k", "v");
  EXPECT_EQ(Get(S::kMeta, "k"), "v");
}

// A reader (verify, export) beside a running server: the server's compaction deletes table
// files the reader has not opened yet. RocksDB opens only about a quarter of max_open_files'
// worth of them at start, so a database of more files failed such reads half-way ("No such
// file"). A read-only open now opens every table file at start, and an open file outlives its
// deletion.
TEST_F(StoreTest, AReaderKeepsReadingWhileTheWriterCompactsItsFilesAway) {
  Open();
  store_.reset();
  {
    // 100 table files of 50 keys each, left uncompacted.
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const std::string& n : names) {
      rocksdb::ColumnFamilyOptions cf;
      cf.disable_auto_compactions = true;
      descriptors.emplace_back(n, cf);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir_, descriptors, &handles, &raw).ok());
    rocksdb::ColumnFamilyHandle* instances = nullptr;
    for (auto* h : handles) {
      if (h->GetName() == kLayout.name(S::kInstances)) instances = h;
    }
    ASSERT_NE(instances, nullptr);
    for (int f = 0; f < 100; ++f) {
      for (int k = 0; k < 50; ++k) {
        const std::string key = "i" + std::to_string(100000 + k * 100 + f);
        ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), instances, key, std::string(100, 'v')).ok());
      }
      ASSERT_TRUE(raw->Flush(rocksdb::FlushOptions(), instances).ok());
    }
    for (auto* h : handles) ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
    delete raw;
  }
  Open();
  StoreOptions ro;
  ro.read_only = true;
  auto reader = Store::open(dir_, kLayout, ro);
  ASSERT_OK(reader);
  ASSERT_OK(store_->compact_space(S::kInstances));  // the 100 files become one; they are deleted
  size_t tables = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) tables += entry.path().extension() == ".sst";
  EXPECT_LT(tables, 10u);
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "i" + std::to_string(100000 + i);
    auto got = (*reader)->get(S::kInstances, key);
    ASSERT_TRUE(got.has_value()) << key << ": " << got.error().message;
    ASSERT_TRUE(got->has_value()) << key;
  }
  EXPECT_EQ(Keys((*reader)->scan_prefix(S::kInstances, "i")).size(), 5000u);
}

TEST_F(StoreTest, ReadOnlySeesDataAndRefusesWrites) {
  Open();
  Put(S::kInstances, "i1", "r1");
  Batch b;
  b.add(S::kCounters, "n", 7);
  ASSERT_OK(store_->commit(b));

  // Read-only takes no lock: it opens while the writer still holds the folder.
  StoreOptions ro;
  ro.read_only = true;
  auto reader = Store::open(dir_, kLayout, ro);
  ASSERT_OK(reader);
  EXPECT_EQ(Get(**reader, S::kInstances, "i1"), "r1");
  auto n = (*reader)->counter(S::kCounters, "n");
  ASSERT_OK(n);
  EXPECT_EQ(*n, 7);
  EXPECT_EQ(Keys((*reader)->scan_prefix(S::kInstances, "i")).size(), 1u);

  Batch w;
  w.put(S::kInstances, "i2", "r2");
  auto r = (*reader)->commit(w);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInternal);
  reader->reset();

  // After a clean close the reader opens on its own and still refuses writes.
  store_.reset();
  Open(ro);
  EXPECT_EQ(Get(S::kInstances, "i1"), "r1");
  EXPECT_FALSE(store_->commit(w).has_value());
}

// Verify and export run beside a live server: they must not create, rotate or rewrite files.
TEST_F(StoreTest, ReadOnlyLeavesFolderUntouched) {
  Open();
  Put(S::kInstances, "i1", "r1");
  store_.reset();
  auto listing = [&] {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir_)) {
      files.push_back(e.path().filename().string() + " " + std::to_string(e.file_size()) + " " +
                      std::to_string(e.last_write_time().time_since_epoch().count()));
    }
    std::sort(files.begin(), files.end());
    return files;
  };
  const std::vector<std::string> before = listing();
  StoreOptions ro;
  ro.read_only = true;
  Open(ro);
  EXPECT_EQ(Get(S::kInstances, "i1"), "r1");
  store_.reset();
  EXPECT_EQ(listing(), before);
}

TEST_F(StoreTest, ReadOnlyOpenOfMissingFolderFails) {
  StoreOptions ro;
  ro.read_only = true;
  auto r = Store::open(dir_, kLayout, ro);
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(StoreTest, Property) {
  Open();
  Put(S::kInstances, "i1", "r1");
  auto keys = store_->property(S::kInstances, "rocksdb.estimate-num-keys");
  ASSERT_TRUE(keys.has_value());
  EXPECT_EQ(*keys, "1");
  EXPECT_EQ(store_->property(S::kInstances, "rocksdb.no-such-property"), std::nullopt);
}

}  // namespace
}  // namespace pioneer::storage
