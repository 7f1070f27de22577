// The plain types the engine's parts and its callers share: the engine's options, the read
// path's filters and pages, the writer's metrics and callbacks. No behaviour; the write and read
// libraries include this header, never the facade (engine/engine.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "engine/core/definition.h"
#include "engine/core/model.h"

namespace pioneer::storage {
class Store;
}

namespace pioneer::engine {

// Bounds on the work of one events_after call. A caller who may see few instances is served
// from those instances' histories (a seek each); anyone else by walking the log, looking at no
// more than max_examined events per call, so that a page (or one step of a stream's replay)
// stays short even for a caller who may see almost nothing of a long log.
struct EventScan {
  size_t max_examined = 10000;
  size_t max_merged_instances = 2000;
  // ... and only when more than this many events lie after `since`: a short tail (a stream
  // reconnecting) is cheaper to walk than every visible instance's history.
  size_t merge_after = 1000;
};

struct EngineOptions {
  std::string data_dir;
  // Create a database when data_dir does not exist or is empty (serve, org add, user add);
  // otherwise opening a folder without one fails.
  bool create_if_missing = true;
  RoleCatalog roles = RoleCatalog::defaults();
  const Clock* clock = nullptr;        // nullptr: the system clock
  size_t queue_limit = 10000;          // waiting commands before submit() answers overloaded
  size_t max_batch = 1024;             // commands decided and committed together at most
  std::string hash_algorithm = "sha256";  // for a new database: "sha256" or "sm3"
  size_t memtable_bytes = 0;  // storage::StoreOptions::memtable_bytes (0 = RocksDB's default)
  // Days count in this UTC offset when a date field becomes a moment (a due date ends at
  // midnight at the end of that day there). China Standard Time by default.
  int utc_offset_minutes = 8 * 60;
  // Index entries one list or to-do page looks at, at most. A filter the index does not narrow
  // (a rare one-character title search, say) could otherwise walk the whole database on an
  // I/O thread; the page then ends early, with a next_cursor to go on.
  size_t page_scan_limit = 5000;
  EventScan event_scan;  // the event feed's bounds
  // Tests only: wraps the opened store (fault injection). Empty: the store as opened.
  std::function<std::unique_ptr<storage::Store>(std::unique_ptr<storage::Store>)> wrap_store;
};

// Filters of GET /api/v1/instances; empty means "any".
struct InstanceFilter {
  std::string workflow;
  std::string state;
  std::string org;           // this org or anything under it
  std::string assignee_org;  // assigned to this org or anything under it
  bool overdue_only = false;
  std::string text;          // substring of the title
  std::string created_by;    // created by this user (我发起的: the caller's own id)
};

// What a to-do list is narrowed to (GET /api/v1/tasks).
struct TaskFilter {
  std::string workflow;
  bool overdue_only = false;
};

// How a read returns instance views: as Json values (tests, tools), or as JSON text ready to
// send (the API: no tree is built; the same bytes the Json would dump to).
enum class ViewForm { kJson, kText };

struct InstancePage {
  std::vector<Json> items;          // instance views with actions, for the caller (kJson)
  std::vector<std::string> texts;   // the same as JSON text (kText)
  std::optional<std::string> next_cursor;
  size_t size() const { return items.size() + texts.size(); }
};

struct EventPage {
  std::vector<Event> items;
  uint64_t head = 0;  // the newest sequence in the log when the page was read
  // Where the next page starts (pass it as `since`): the last item's seq when the page is full,
  // the last event looked at when the walk stopped early (EventScan::max_examined), else head.
  uint64_t next_since = 0;
  // Nothing more up to head: the reader has caught up.
  bool caught_up() const { return next_since >= head; }
};

struct DefinitionSummary {
  std::string id;
  int version = 0;
  Label title;
};

// How long an idempotency record answers a retry (docs/api.md "Idempotency").
inline constexpr int64_t kIdempotencyTtlMs = 24LL * 3600 * 1000;

struct EngineMetrics {
  uint64_t commands = 0;
  uint64_t batches = 0;
  uint64_t events = 0;
  uint64_t queue_depth = 0;
  uint64_t overloaded = 0;
  // batch size histogram buckets: 1, 2-4, 5-16, 17-64, 65-256, 257+
  std::vector<uint64_t> batch_size_buckets;
  // Time to write and sync one batch (the store's commit), non-cumulative buckets with upper
  // bounds kCommitBucketsMs (ms) and one more for longer; and the total in microseconds.
  static constexpr double kCommitBucketsMs[] = {0.5, 1, 2, 5, 10, 20, 50};
  std::vector<uint64_t> commit_buckets;
  uint64_t commit_us_total = 0;
};

using Publisher = std::function<void(const std::vector<Event>& committed)>;
using ReplyCallback = std::function<void(Result<Reply>)>;

}  // namespace pioneer::engine
