// Store: the small ordered key-value interface the engine persists through.
//
// Keys and values are byte strings, ordered bytewise within each Space (a RocksDB column
// family). Writes happen only as whole Batches: a batch is applied atomically, and with
// sync=true commit() returns only after it is durable (fsync of the write-ahead log).
// Reads see the latest committed state. All methods are thread-safe; many readers may run
// while one writer commits. Nothing outside storage/ includes a RocksDB header.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace pioneer::storage {

// A space is one column family. The store knows none by name: its user hands Store::open the
// list (a Layout), and Space{i} is the i-th family of that list.
enum class Space : uint8_t {};

struct Family {
  enum class Kind : uint8_t {
    kPlain,
    kSingleDeleted,  // keys are deleted with Batch::single_del and never with del()
    kCounters,       // int64 values combined by Batch::add (a merge: adding never reads)
  };
  std::string_view name;  // the on-disk column family name
  Kind kind = Kind::kPlain;
};

struct Layout {
  std::vector<Family> families;  // Space{i} is families[i]; append only, never rename
  // The family a database of this layout always has: a RocksDB database without it belongs to
  // another application and is refused rather than given these families.
  Space marker{};

  size_t size() const { return families.size(); }
  const Family* family(Space space) const {
    const auto i = static_cast<size_t>(space);
    return i < families.size() ? &families[i] : nullptr;
  }
  std::string_view name(Space space) const {
    const Family* f = family(space);
    return f ? f->name : std::string_view("?");
  }
  bool single_deleted(Space space) const {
    const Family* f = family(space);
    return f && f->kind == Family::Kind::kSingleDeleted;
  }
};

// One write of a batch.
struct Op {
  // kAdd: counter += delta (a kCounters family only). kSingleDelete: see Batch::single_del. kRepairDelete:
  // see Batch::repair_del.
  enum class Kind : uint8_t { kPut, kDelete, kAdd, kSingleDelete, kRepairDelete };
  Kind kind;
  Space space;
  std::string key;
  std::string value;  // kPut: the value; kAdd: unused
  int64_t delta = 0;  // kAdd only
};

// An ordered list of writes applied atomically. Later writes to a key win.
class Batch {
 public:
  void put(Space space, std::string key, std::string value) {
    ops_.push_back(Op{Op::Kind::kPut, space, std::move(key), std::move(value), 0});
  }
  void del(Space space, std::string key) {
    ops_.push_back(Op{Op::Kind::kDelete, space, std::move(key), {}, 0});
  }
  // RocksDB's SingleDelete, in the kSingleDeleted families only. Contract: the key was put at
  // most once since its previous single_del (deleting an absent key is harmless), and it is never
  // deleted with del(). Where the deletion meets its put — at the next flush when the put is
  // still in the memtable, otherwise in whichever compaction brings them together — both vanish;
  // a del() tombstone instead lives until compaction carries it to the last level, and every scan
  // across the range steps over it until then. Breaking the contract: a key put twice reappears
  // after its deletion, and a single_del whose next older write of the key is a Delete fails the
  // flush or compaction as corruption, after which RocksDB accepts no more writes.
  void single_del(Space space, std::string key) {
    ops_.push_back(Op{Op::Kind::kSingleDelete, space, std::move(key), {}, 0});
  }
  // A plain Delete in a kSingleDeleted family, for repair only (a rebuild of derived data, with no
  // writer running, followed by compact_space of the family, which leaves each key that is still
  // there with exactly one put and removes the rest). A writer must never use it: a single_del
  // whose next older write is a Delete fails the compaction.
  void repair_del(Space space, std::string key) {
    ops_.push_back(Op{Op::Kind::kRepairDelete, space, std::move(key), {}, 0});
  }
  void add(Space space, std::string key, int64_t delta) {
    ops_.push_back(Op{Op::Kind::kAdd, space, std::move(key), {}, delta});
  }
  void append(const Batch& other) { ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end()); }
  // Orders the writes by (space, key), keeping the order of writes to the same key, so the
  // result of committing is unchanged. RocksDB's memtable is a skip list that starts each
  // insert from where the previous one in the same family ended: keys in order skip most of
  // the search (the committer spent a third of its time searching the skip list).
  void sort_by_key() {
    std::stable_sort(ops_.begin(), ops_.end(), [](const Op& a, const Op& b) {
      return a.space != b.space ? a.space < b.space : a.key < b.key;
    });
  }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }
  void clear() { ops_.clear(); }

 private:
  std::vector<Op> ops_;
};

// A forward cursor over [lower, upper) of one space. Valid only while its Store lives.
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual bool valid() const = 0;
  virtual void next() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  // Ok unless the underlying scan hit an I/O error or corruption.
  virtual Result<void> status() const = 0;
};

struct StoreOptions {
  bool create_if_missing = true;
  // Block cache for the whole database, bytes.
  size_t block_cache_bytes = 64u << 20;
  // Read-only opening (verify, export) takes no lock and never writes.
  bool read_only = false;
  // Bytes a family's memtable holds before it is flushed to a table file and a new log file is
  // started; 0 = RocksDB's default (64 MiB). Small values make files turn over fast (tests).
  size_t memtable_bytes = 0;
  // Values that may be dropped once they have expired: every compaction of `expiring_space`
  // drops each value for which `expired(value)` holds (called on RocksDB's threads, for as long
  // as the store is open). A dropped key reads as absent afterwards.
  std::optional<Space> expiring_space;
  std::function<bool(std::string_view value)> expired;
};

class Store {
 public:
  virtual ~Store() = default;

  // Opens (or creates) the database in `dir` with the families of `layout` (created when
  // missing; families the database has beyond them are opened and left alone). Fails with
  // kInternal when the folder is locked by another process or unreadable, kCorruption when
  // RocksDB reports corruption.
  static Result<std::unique_ptr<Store>> open(const std::string& dir, const Layout& layout,
                                             const StoreOptions& options = {});

  // The value at key, std::nullopt when absent.
  virtual Result<std::optional<std::string>> get(Space space, std::string_view key) const = 0;

  // Many point reads at once (faster than a loop of get()); results in the order of keys.
  virtual Result<std::vector<std::optional<std::string>>> multi_get(
      Space space, const std::vector<std::string>& keys) const = 0;

  // A cursor over keys k with lower <= k < upper; an empty upper means "to the end".
  virtual std::unique_ptr<Cursor> scan(Space space, std::string_view lower,
                                       std::string_view upper) const = 0;

  // The cursor over every key that starts with prefix.
  std::unique_ptr<Cursor> scan_prefix(Space space, std::string_view prefix) const;

  // The counter at key in a kCounters family, 0 when absent.
  virtual Result<int64_t> counter(Space space, std::string_view key) const = 0;

  // Applies the whole batch atomically. With sync, returns only after it is durable.
  virtual Result<void> commit(const Batch& batch, bool sync = true) = 0;

  // Writes a consistent point-in-time copy of the database to dest (which must not exist),
  // while other threads keep reading and committing.
  virtual Result<void> checkpoint(const std::string& dest) = 0;

  // Compacts every space down to its last level and waits for it (the bulk generator, so that
  // a generated database is measured in a settled state, not with a compaction backlog).
  virtual Result<void> compact() { return {}; }
  // The same for one space: afterwards each of its keys has exactly one version (no snapshots
  // are held by this store), and no deletion is left.
  virtual Result<void> compact_space(Space space) {
    (void)space;
    return compact();
  }

  // A RocksDB statistic or property for /metrics and diagnostics ("rocksdb.estimate-num-keys").
  virtual std::optional<std::string> property(Space space, std::string_view name) const = 0;

  // Whether storage accepts writes. After a background error (a flush, compaction or new log
  // file that could not be written: out of file descriptors, disk full) RocksDB refuses every
  // write until it has recovered. While that lasts, health() names the reason, commit() first
  // tries to resume (at most every kResumeInterval; RocksDB also retries by itself) and, when
  // storage is still stopped, fails with kUnavailable: nothing of the batch is written, and
  // nothing committed before is lost. A failed write that leaves storage stopped also fails
  // with kUnavailable.
  struct Health {
    std::optional<std::string> stopped;  // the reason writes are refused; nullopt when healthy
    uint64_t background_errors = 0;      // background errors since open
    uint64_t recoveries = 0;             // times writes were accepted again
  };
  virtual Health health() const { return {}; }
  // Values compactions dropped as expired (StoreOptions::expired) since open.
  virtual uint64_t expired_dropped() const { return 0; }
  // Asks storage to resume after a background error (at most once every kResumeIntervalMs;
  // commit(), /healthz and a timer call it). Returns true when storage accepts writes.
  virtual bool try_resume() { return true; }
};

inline constexpr int kResumeIntervalMs = 200;

// Table files a writing store keeps open at most (RocksDB's table cache).
inline constexpr int kMaxOpenTableFiles = 256;
// Descriptors a writing store may need at once: its open table files, plus its logs, manifest,
// info log, flush and compaction outputs and a checkpoint's files. A server must leave these
// free whatever its clients do (api/server.cc derives its connection limit from this).
inline constexpr size_t kStoreDescriptorReserve = 512;

// The smallest key greater than every key that starts with prefix ("" when there is none).
std::string prefix_end(std::string_view prefix);

}  // namespace pioneer::storage
