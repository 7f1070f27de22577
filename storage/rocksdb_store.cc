// RocksStore: the Store on RocksDB, and Store::open. This is the only file that includes a
// RocksDB header.
//
// Each Space is one column family of the Layout given to open(); the families share one LRU
// block cache and each has a 10-bit bloom filter for point lookups. Counters (kCounters
// families) are int64 little-endian values combined by an addition merge operator, so adding
// never reads before writing.
//
// Thread-safety: rocksdb::DB is thread-safe and the family handles do not change after open,
// so every method may be called from many threads at once. The destructor must not race with
// other calls; it flushes every family so that the next open has no write-ahead log to replay.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <cerrno>
#include <cstring>
#include <cstdarg>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/listener.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include "storage/store.h"

namespace pioneer::storage {
namespace {

rocksdb::Slice to_slice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

Error to_error(const rocksdb::Status& s, std::string_view what) {
  if (s.IsCorruption()) {
    return Error::make(Code::kCorruption, "存储数据已损坏（stored data is corrupt, " +
                                              std::string(what) + ": " + s.ToString() + "）");
  }
  return Error::make(Code::kInternal,
                     "存储操作失败（storage error, " + std::string(what) + ": " + s.ToString() + "）");
}

// RocksDB reports a held LOCK file as an IOError: "lock hold by current process" when this
// process already has the database open, "While lock file" when another process has.
bool is_lock_error(const rocksdb::Status& s) {
  if (!s.IsIOError()) return false;
  const std::string text = s.ToString();
  return text.find("lock hold by current process") != std::string::npos ||
         text.find("While lock file") != std::string::npos;
}

// Counter values and merge operands: 8 bytes, little-endian two's complement.
std::string encode_i64(int64_t v) {
  std::string out(8, '\0');
  const auto u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((u >> (8 * i)) & 0xFF);
  return out;
}

bool decode_i64(std::string_view in, int64_t* v) {
  if (in.size() != 8) return false;
  uint64_t u = 0;
  for (int i = 7; i >= 0; --i) u = (u << 8) | static_cast<uint8_t>(in[i]);
  *v = static_cast<int64_t>(u);
  return true;
}

// Adds int64 operands. A malformed value makes the merge (and so the read) fail as corruption.
class AddInt64 final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
             const rocksdb::Slice& operand, std::string* merged,
             rocksdb::Logger* /*logger*/) const override {
    int64_t base = 0;
    int64_t delta = 0;
    if (existing != nullptr && !decode_i64(existing->ToStringView(), &base)) return false;
    if (!decode_i64(operand.ToStringView(), &delta)) return false;
    // Unsigned addition: wraps instead of signed-overflow undefined behaviour.
    *merged = encode_i64(static_cast<int64_t>(static_cast<uint64_t>(base) + static_cast<uint64_t>(delta)));
    return true;
  }
  // Recorded in the OPTIONS file; keep it stable.
  const char* Name() const override { return "pioneer.AddInt64"; }
};

// Read-only opening must not touch the folder, but RocksDB would create it and rotate the
// writer's LOG file to start its own info log; this logger discards the messages instead.
class DiscardLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

// The folder's own lock, taken before RocksDB is asked to open it. RocksDB starts its info log
// (renaming the running server's LOG to LOG.old.*) before it tries its LOCK file, so a second
// `pioneer serve`, or `org add` on a live folder, would rotate the server's log on its way to
// being refused. flock(2) belongs to the open file description, so this
// lock also refuses a second open in the same process, and closing another descriptor of the
// file does not drop it (as it would drop RocksDB's fcntl lock). The kernel releases it when
// the process dies, kill -9 included.
class FolderLock {
 public:
  static constexpr const char* kFileName = "pioneer.lock";

  FolderLock() = default;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  FolderLock(FolderLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FolderLock& operator=(FolderLock&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~FolderLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }

  // Creates the folder when missing. Fails with the same message as RocksDB's own lock.
  static Result<FolderLock> take(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    const std::string path = dir + "/" + kFileName;
    FolderLock lock;
    lock.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock.fd_ < 0) {
      return fail(Code::kInternal, "无法打开 " + path + "（cannot open the folder's lock file: " +
                                       std::strerror(errno) + "）");
    }
    if (::flock(lock.fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err == EWOULDBLOCK) {
        return fail(Code::kInternal, "数据库 " + dir + " 已被占用（database is locked by another process）");
      }
      return fail(Code::kInternal, "无法锁定 " + path + "（cannot lock the folder: " + std::strerror(err) + "）");
    }
    return lock;
  }

 private:
  int fd_ = -1;
};

// Whether a folder holds nothing but our lock file (left by an open that failed or a folder
// locked before RocksDB created its database there).
bool holds_nothing(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().filename() != FolderLock::kFileName) return false;
  }
  return !ec;
}

// What RocksDB reports about background errors. RocksDB calls the listener on its own threads
// with its mutex held, so it only records; the store reads the record (an atomic flag while
// healthy) and asks RocksDB to resume. Shared by the store and RocksDB's options.
class BackgroundErrors final : public rocksdb::EventListener {
 public:
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override {
    if (error == nullptr || error->ok()) return;
    std::string text = std::string(reason_name(reason)) + ": " + error->ToString();
    std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"storage stopped accepting writes\",\"reason\":\"%s\"}\n",
                 escape(text).c_str());
    std::lock_guard lock(mu_);
    reason_ = std::move(text);
    ++errors_;
    stopped_.store(true);
  }
  void OnErrorRecoveryEnd(const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    if (info.new_bg_error.ok()) recovered();
  }

  bool stopped() const { return stopped_.load(std::memory_order_relaxed); }

  // Storage accepts writes again (RocksDB recovered by itself, Resume() succeeded, or a write
  // went through).
  void recovered() {
    std::lock_guard lock(mu_);
    if (!stopped_.load()) return;
    stopped_.store(false);
    reason_.clear();
    ++recoveries_;
    std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"storage accepts writes again\"}\n");
  }

  Store::Health health() const {
    std::lock_guard lock(mu_);
    Store::Health out;
    if (stopped_.load()) out.stopped = reason_;
    out.background_errors = errors_;
    out.recoveries = recoveries_;
    return out;
  }

  // Whether a resume attempt is due (at most one every kResumeIntervalMs, across threads).
  bool resume_due() {
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch()).count();
    int64_t last = last_resume_ms_.load();
    return now - last >= kResumeIntervalMs && last_resume_ms_.compare_exchange_strong(last, now);
  }

 private:
  static const char* reason_name(rocksdb::BackgroundErrorReason reason) {
    switch (reason) {
      case rocksdb::BackgroundErrorReason::kFlush: return "flush";
      case rocksdb::BackgroundErrorReason::kCompaction: return "compaction";
      case rocksdb::BackgroundErrorReason::kWriteCallback: return "write";
      case rocksdb::BackgroundErrorReason::kMemTable: return "new log file";
      case rocksdb::BackgroundErrorReason::kManifestWrite: return "manifest";
      case rocksdb::BackgroundErrorReason::kFlushNoWAL: return "flush";
      case rocksdb::BackgroundErrorReason::kManifestWriteNoWAL: return "manifest";
    }
    return "background";
  }
  static std::string escape(const std::string& text) {
    std::string out;
    for (char c : text) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out;
  }

  mutable std::mutex mu_;
  std::atomic<bool> stopped_{false};
  std::string reason_;
  uint64_t errors_ = 0;
  uint64_t recoveries_ = 0;
  std::atomic<int64_t> last_resume_ms_{0};
};

// The file system RocksDB writes through, with one change: running out of file descriptors
// (EMFILE, ENFILE) is marked retryable. RocksDB treats a plain I/O error in a flush or on a new
// log file as fatal, after which only reopening the database helps; a retryable one stops
// writes only until RocksDB (or Store::try_resume) resumes, which works once descriptors are
// free again. Nothing else is changed.
class DescriptorAwareFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  explicit DescriptorAwareFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target)
      : rocksdb::FileSystemWrapper(target) {}
  const char* Name() const override { return "PioneerDescriptorAware"; }

  rocksdb::IOStatus NewSequentialFile(const std::string& f, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* r, rocksdb::IODebugContext* d) override {
    return mark(target()->NewSequentialFile(f, o, r, d));
  }
  rocksdb::IOStatus NewRandomAccessFile(const std::string& f, const rocksdb::FileOptions& o,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* r,
                                        rocksdb::IODebugContext* d) override {
    return mark(target()->NewRandomAccessFile(f, o, r, d));
  }
  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* d) override {
    return mark(target()->NewWritableFile(f, o, r, d));
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* d) override {
    return mark(target()->ReopenWritableFile(f, o, r, d));
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r, rocksdb::IODebugContext* d) override {
    return mark(target()->ReuseWritableFile(f, old, o, r, d));
  }
  rocksdb::IOStatus NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* r, rocksdb::IODebugContext* d) override {
    return mark(target()->NewRandomRWFile(f, o, r, d));
  }
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                 std::unique_ptr<rocksdb::FSDirectory>* r, rocksdb::IODebugContext* d) override {
    return mark(target()->NewDirectory(name, o, r, d));
  }

 private:
  static rocksdb::IOStatus mark(rocksdb::IOStatus s) {
    if (s.IsIOError()) {
      const std::string text = s.ToString();
      if (text.find(std::strerror(EMFILE)) != std::string::npos || text.find(std::strerror(ENFILE)) != std::string::npos) {
        s.SetRetryable(true);
      }
    }
    return s;
  }
};

// Drops expired values in compaction (StoreOptions::expired), counting them.
class ExpiryFilter final : public rocksdb::CompactionFilter {
 public:
  explicit ExpiryFilter(std::function<bool(std::string_view)> expired) : expired_(std::move(expired)) {}
  bool Filter(int /*level*/, const rocksdb::Slice& /*key*/, const rocksdb::Slice& value, std::string* /*new_value*/,
              bool* /*value_changed*/) const override {
    if (!expired_(value.ToStringView())) return false;
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  const char* Name() const override { return "pioneer.Expiry"; }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  std::function<bool(std::string_view)> expired_;
  mutable std::atomic<uint64_t> dropped_{0};
};

// A cursor owns the bound strings because RocksDB keeps pointers to them for the iterator's
// whole life. Members are declared so that the iterator is destroyed first.
class RocksCursor final : public Cursor {
 public:
  // A null family (absent in a read-only database) gives an empty cursor.
  RocksCursor(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string_view lower,
              std::string_view upper)
      : lower_(lower), upper_(upper), lower_slice_(lower_), upper_slice_(upper_) {
    rocksdb::ReadOptions read;
    read.iterate_lower_bound = &lower_slice_;
    if (!upper_.empty()) read.iterate_upper_bound = &upper_slice_;
    it_.reset(cf != nullptr ? db->NewIterator(read, cf) : rocksdb::NewEmptyIterator());
    it_->Seek(lower_slice_);
  }

  bool valid() const override { return it_->Valid(); }
  void next() override { it_->Next(); }
  std::string_view key() const override { return it_->key().ToStringView(); }
  std::string_view value() const override { return it_->value().ToStringView(); }
  Result<void> status() const override {
    rocksdb::Status s = it_->status();
    if (!s.ok()) return fail(to_error(s, "scan"));
    return {};
  }

 private:
  std::string lower_;
  std::string upper_;
  rocksdb::Slice lower_slice_;
  rocksdb::Slice upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

Error unavailable() {
  return Error::make(Code::kUnavailable,
                     "存储暂时不能写入，请稍后重试（storage is not accepting writes for now; retry later）");
}

class RocksStore final : public Store {
 public:
  // handles: every opened family (to release on close); spaces: the family of each Space, null
  // when a read-only database lacks it.
  RocksStore(FolderLock lock, std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
             Layout layout, std::vector<rocksdb::ColumnFamilyHandle*> spaces, bool read_only,
             std::shared_ptr<BackgroundErrors> errors, std::unique_ptr<ExpiryFilter> expiry,
             std::shared_ptr<rocksdb::Env> env)
      : env_(std::move(env)), expiry_(std::move(expiry)), lock_(std::move(lock)), db_(std::move(db)), handles_(std::move(handles)),
        layout_(std::move(layout)), spaces_(std::move(spaces)), read_only_(read_only), errors_(std::move(errors)) {}

  // Flushing every memtable makes the write-ahead log obsolete, so the next open replays
  // nothing (milliseconds instead of seconds with a million instances). A failed flush loses
  // nothing, since the log still holds the data; it only makes the next open slower, and a
  // destructor has no one to report to.
  ~RocksStore() override {
    if (!read_only_) db_->Flush(rocksdb::FlushOptions(), handles_).PermitUncheckedError();
    for (rocksdb::ColumnFamilyHandle* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }

  Result<std::optional<std::string>> get(Space space, std::string_view key) const override {
    rocksdb::ColumnFamilyHandle* cf = family(space);
    if (cf == nullptr) return std::optional<std::string>();
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf, to_slice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return fail(to_error(s, "get"));
    return std::optional<std::string>(std::move(value));
  }

  Result<std::vector<std::optional<std::string>>> multi_get(
      Space space, const std::vector<std::string>& keys) const override {
    std::vector<std::optional<std::string>> out(keys.size());
    rocksdb::ColumnFamilyHandle* cf = family(space);
    if (cf == nullptr || keys.empty()) return out;
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    db_->MultiGet(rocksdb::ReadOptions(), cf, keys.size(), slices.data(), values.data(),
                  statuses.data());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok()) return fail(to_error(statuses[i], "multi_get"));
      out[i] = values[i].ToString();
    }
    return out;
  }

  std::unique_ptr<Cursor> scan(Space space, std::string_view lower,
                               std::string_view upper) const override {
    return std::make_unique<RocksCursor>(db_.get(), family(space), lower, upper);
  }

  Result<int64_t> counter(Space space, std::string_view key) const override {
    auto value = get(space, key);
    if (!value) return fail(value.error());
    if (!value->has_value()) return 0;
    int64_t n = 0;
    if (!decode_i64(**value, &n)) {
      return fail(Code::kCorruption, "计数器的值无效（counter value is not 8 bytes）");
    }
    return n;
  }

  Result<void> commit(const Batch& batch, bool sync) override {
    if (read_only_) {
      return fail(Code::kInternal, "数据库以只读方式打开，不能写入（the database is open read-only）");
    }
    rocksdb::WriteBatch wb;
    for (const Op& op : batch.ops()) {
      rocksdb::ColumnFamilyHandle* cf = family(op.space);
      if (cf == nullptr) {
        return fail(Code::kInternal, "未知的存储空间（unknown storage space " +
                                         std::to_string(static_cast<int>(op.space)) + "）");
      }
      const bool misplaced = layout_.single_deleted(op.space)
                                 ? op.kind == Op::Kind::kDelete
                                 : op.kind == Op::Kind::kSingleDelete || op.kind == Op::Kind::kRepairDelete;
      if (misplaced) {
        const char* what = op.kind == Op::Kind::kDelete ? "del()" : op.kind == Op::Kind::kSingleDelete ? "single_del()" : "repair_del()";
        return fail(Code::kInternal, std::string(what) + " 不能用于存储空间 " + std::string(layout_.name(op.space)) +
                                         "（not allowed in this storage space, see Batch::single_del）");
      }
      rocksdb::Status s;
      switch (op.kind) {
        case Op::Kind::kPut: s = wb.Put(cf, op.key, op.value); break;
        case Op::Kind::kDelete: s = wb.Delete(cf, op.key); break;
        case Op::Kind::kSingleDelete: s = wb.SingleDelete(cf, op.key); break;
        case Op::Kind::kRepairDelete: s = wb.Delete(cf, op.key); break;
        case Op::Kind::kAdd: s = wb.Merge(cf, op.key, encode_i64(op.delta)); break;
      }
      if (!s.ok()) return fail(to_error(s, "commit"));
    }
    if (!try_resume()) return fail(unavailable());
    rocksdb::WriteOptions write;
    write.sync = sync;
    rocksdb::Status s = db_->Write(write, &wb);
    if (!s.ok()) return fail(errors_->stopped() ? unavailable() : to_error(s, "commit"));
    return {};
  }

  Health health() const override { return errors_->health(); }
  uint64_t expired_dropped() const override { return expiry_ ? expiry_->dropped() : 0; }

  bool try_resume() override {
    if (!errors_->stopped()) return true;
    if (!errors_->resume_due()) return false;
    // Resume() flushes what the error left in memory and clears the error when that works;
    // it answers Busy while RocksDB's own recovery is running.
    if (db_->Resume().ok()) errors_->recovered();
    return !errors_->stopped();
  }

  Result<void> checkpoint(const std::string& dest) override {
    rocksdb::Checkpoint* raw = nullptr;
    rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
    std::unique_ptr<rocksdb::Checkpoint> cp(raw);
    // The default log_size_for_flush (0) flushes first, so the copy needs no log replay.
    if (s.ok()) s = cp->CreateCheckpoint(dest);
    if (!s.ok()) return fail(to_error(s, "checkpoint to " + dest));
    return {};
  }

  Result<void> compact() override {
    rocksdb::CompactRangeOptions options;
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    for (rocksdb::ColumnFamilyHandle* cf : handles_) {
      rocksdb::Status s = db_->CompactRange(options, cf, nullptr, nullptr);
      if (!s.ok()) return fail(to_error(s, "compact"));
    }
    return {};
  }

  Result<void> compact_space(Space space) override {
    rocksdb::ColumnFamilyHandle* cf = family(space);
    if (cf == nullptr) return {};
    rocksdb::CompactRangeOptions options;
    // kForce, not kForceOptimized: every file of the last level is rewritten too, so versions
    // of a key that lie in different files of different levels all meet once.
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    rocksdb::Status s = db_->CompactRange(options, cf, nullptr, nullptr);
    if (!s.ok()) return fail(to_error(s, "compact " + std::string(layout_.name(space))));
    return {};
  }

  std::optional<std::string> property(Space space, std::string_view name) const override {
    rocksdb::ColumnFamilyHandle* cf = family(space);
    std::string value;
    if (cf == nullptr || !db_->GetProperty(cf, to_slice(name), &value)) return std::nullopt;
    return value;
  }

 private:
  rocksdb::ColumnFamilyHandle* family(Space space) const {
    const auto i = static_cast<size_t>(space);
    return i < spaces_.size() ? spaces_[i] : nullptr;
  }

  std::shared_ptr<rocksdb::Env> env_;     // first: these outlive the database, which uses them
  std::unique_ptr<ExpiryFilter> expiry_;
  FolderLock lock_;  // released after the database has closed
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  Layout layout_;
  std::vector<rocksdb::ColumnFamilyHandle*> spaces_;
  bool read_only_;
  std::shared_ptr<BackgroundErrors> errors_;
};

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& dir, const Layout& layout, const StoreOptions& options) {
  if (layout.family(layout.marker) == nullptr) {
    return fail(Code::kInternal, "存储布局无效（the layout names no marker family）");
  }
  // What is in the folder decides what may happen to it. RocksDB, asked to create a database
  // where a folder holds table files but no CURRENT (a damaged copy, a half-restored backup),
  // starts an empty one and deletes those files as obsolete; so a database is created only in a
  // folder that does not exist or is empty.
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool exists = fs::exists(dir, ec);
  const bool has_database = fs::exists(fs::path(dir) / "CURRENT", ec);
  if (!has_database) {
    if (!options.create_if_missing || options.read_only) {
      return fail(Code::kNotFound, "没有数据库：" + dir + "（no database in " + dir + "）");
    }
    if (exists && !(fs::is_directory(dir, ec) && holds_nothing(dir))) {
      return fail(Code::kBadRequest, "文件夹 " + dir + " 不是空的，也没有数据库，不在其中新建（" + dir +
                                         " is not an empty folder and holds no database: refusing to create one there）");
    }
  }
  rocksdb::DBOptions db_options;
  // Read-only opening never creates anything, not even the folder.
  db_options.create_if_missing = options.create_if_missing && !options.read_only;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  // Bounds the log that must be replayed after a crash: older logs force a flush.
  db_options.max_total_wal_size = 32 << 20;
  db_options.keep_log_file_num = 5;
  auto errors = std::make_shared<BackgroundErrors>();
  db_options.listeners.push_back(errors);
  std::shared_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(
      std::make_shared<DescriptorAwareFileSystem>(rocksdb::FileSystem::Default()));
  db_options.env = env.get();
  // Open fast on a large database: do not read every table's statistics at open, and open
  // table files lazily (with an unlimited table cache RocksDB opens all of them up front;
  // with a bounded one it opens a quarter of the capacity at start and the rest on demand).
  db_options.skip_stats_update_on_db_open = true;
  db_options.max_open_files = kMaxOpenTableFiles;
  if (options.read_only) {
    db_options.info_log = std::make_shared<DiscardLogger>();
    // A reader (verify, export, backup) runs beside a serving writer whose compactions delete
    // table files. Opened lazily, a file could be gone by the time the reader needs it (the
    // bounded table cache opens only ~a quarter of its capacity at start); all opened at start,
    // each stays readable after its deletion for as long as the reader lives.
    db_options.max_open_files = -1;
  }

  rocksdb::BlockBasedTableOptions table;
  // Few large shards: RocksDB's default splits the cache into 64 shards (1 MiB each at 64 MiB),
  // and an entry larger than its shard — the index block of a 64 MiB table file is ~0.5 MiB
  // uncompressed, and a million instances make many such files — is dropped as soon as its
  // reader releases it. Every iterator then read and decompressed the index block again
  // (half of a list page's time at 1,000,000 instances, bench/README.md).
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes, /*num_shard_bits=*/2);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Index and filter blocks live in the block cache (bounded memory, charged to the cache)
  // rather than pinned per open table; level-0 ones stay pinned because they are hot.
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  // ... and are partitioned: a table file's index and bloom filter are cut into 4 KiB pieces
  // under a small top level (kept pinned), so a lookup loads only the pieces it needs. Whole,
  // they are ~1.5 MiB per 64 MiB file; at 1,000,000 instances they outgrow the cache's
  // high-priority half and were read and decompressed again on almost every point read (verify
  // spent most of its time there). Tables written with whole index blocks keep them until
  // compaction rewrites them; RocksDB reads both.
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.pin_top_level_index_and_filter = true;
  rocksdb::ColumnFamilyOptions family_options;
  if (options.memtable_bytes > 0) family_options.write_buffer_size = options.memtable_bytes;
  family_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  // Every existing family must be opened (RocksDB refuses otherwise), including ones a newer
  // version may have added. Listing fails for a database that does not exist yet; Open then
  // creates it or reports why it cannot.
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(db_options, dir, &names).ok()) {
    names = {rocksdb::kDefaultColumnFamilyName};
  } else if (std::find(names.begin(), names.end(), layout.name(layout.marker)) == names.end()) {
    // Another application's RocksDB: opening it would add our families to it.
    return fail(Code::kBadRequest, dir + " 不是 Pioneer 数据库（" + dir + " is not a Pioneer database: it has no '" +
                                       std::string(layout.name(layout.marker)) + "' family）");
  }
  // A writer locks the folder before RocksDB touches it; a reader takes no lock and writes nothing.
  FolderLock lock;
  if (!options.read_only) {
    auto taken = FolderLock::take(dir);
    if (!taken) return fail(taken.error());
    lock = std::move(*taken);
    for (const Family& f : layout.families) {
      std::string name(f.name);
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
    }
  }
  std::unique_ptr<ExpiryFilter> expiry;
  if (options.expiring_space && options.expired && !options.read_only) expiry = std::make_unique<ExpiryFilter>(options.expired);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) {
    rocksdb::ColumnFamilyOptions cf = family_options;
    const bool counters = std::any_of(layout.families.begin(), layout.families.end(), [&](const Family& f) {
      return f.name == name && f.kind == Family::Kind::kCounters;
    });
    if (counters) cf.merge_operator = std::make_shared<AddInt64>();
    if (expiry && options.expiring_space && name == layout.name(*options.expiring_space)) cf.compaction_filter = expiry.get();
    descriptors.emplace_back(name, cf);
  }

  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s;
  if (options.read_only) {
    // A serving writer may delete a table file between the reader reading the MANIFEST and
    // opening the file (a compaction finishing): RocksDB then reports the file missing, even
    // as corruption. The next attempt reads the newer MANIFEST. A file still missing after a
    // few attempts is really missing.
    for (int attempt = 1;; ++attempt) {
      s = rocksdb::DB::OpenForReadOnly(db_options, dir, descriptors, &handles, &raw);
      if (s.ok() || attempt == 5 || s.ToString().find("No such file or directory") == std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20 * attempt));
    }
  } else {
    s = rocksdb::DB::Open(db_options, dir, descriptors, &handles, &raw);
  }
  if (!s.ok()) {
    if (is_lock_error(s)) {
      return fail(Code::kInternal, "数据库 " + dir +
                                       " 已被占用（database is locked by another process）: " +
                                       s.ToString());
    }
    return fail(to_error(s, "open " + dir));
  }

  std::vector<rocksdb::ColumnFamilyHandle*> spaces(layout.size(), nullptr);
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    for (size_t i = 0; i < layout.size(); ++i) {
      if (h->GetName() == layout.families[i].name) spaces[i] = h;
    }
  }
  return std::make_unique<RocksStore>(std::move(lock), std::unique_ptr<rocksdb::DB>(raw), std::move(handles), layout,
                                      std::move(spaces), options.read_only, std::move(errors), std::move(expiry), std::move(env));
}

}  // namespace pioneer::storage
