#include "tests/engine/test_support.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "engine/core/spaces.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tools/demo.h"

namespace pioneer::testing {

namespace {

using storage::Op;
using engine::Space;

// Checks every batch the engine commits against the contract of Batch::single_del in the two
// families written with it (index entries and armed timers): a key is never put while present,
// never deleted with del() (the store refuses that too), and an index entry is deleted only while
// present; a timer may be deleted a second time, but only one that was there (a stale timer,
// dropped after its state was left), never a key the writer computed wrongly. Breaking the
// contract would not fail at once in RocksDB but leave entries that reappear, or fail a later
// compaction, so every test that runs the engine through EngineHarness checks it as it goes.
class SingleDeleteContractStore final : public ForwardingStore {
 public:
  explicit SingleDeleteContractStore(std::unique_ptr<storage::Store> inner) : ForwardingStore(std::move(inner)) {
    for (storage::Space space : {Space::kIndexes, Space::kTimers}) {
      for (auto c = inner_->scan_prefix(space, ""); c->valid(); c->next()) present_.emplace(space, c->key());
    }
  }

  Result<void> commit(const storage::Batch& batch, bool sync) override {
    std::lock_guard lock(mu_);
    std::set<std::pair<storage::Space, std::string>> after = present_, gone = gone_;
    for (const Op& op : batch.ops()) {
      if (!engine::store_layout().single_deleted(op.space)) continue;
      const auto key = std::make_pair(op.space, op.key);
      const bool there = after.count(key) > 0;
      const std::string where = std::string(engine::store_layout().name(op.space)) + " key " + printable(op.key);
      switch (op.kind) {
        case Op::Kind::kPut:
          if (there) ADD_FAILURE() << "put twice: " << where;
          after.insert(key);
          gone.erase(key);
          break;
        case Op::Kind::kSingleDelete:
          if (!there && (op.space == Space::kIndexes || gone.count(key) == 0)) {
            ADD_FAILURE() << "single_del of a key that is not there: " << where;
          }
          after.erase(key);
          gone.insert(key);
          break;
        case Op::Kind::kDelete:
          ADD_FAILURE() << "del() in a family written with single_del: " << where;
          break;
        case Op::Kind::kRepairDelete:
          ADD_FAILURE() << "repair_del() while the engine runs: " << where;
          break;
        case Op::Kind::kAdd:
          break;  // counters only (Batch::add)
      }
    }
    auto committed = inner_->commit(batch, sync);
    if (committed) {
      present_ = std::move(after);
      gone_ = std::move(gone);
    }
    return committed;
  }

 private:
  static std::string printable(std::string_view key) {
    std::string out;
    for (char c : key) out += c == storage::kSep ? '|' : (static_cast<unsigned char>(c) < 0x20 ? '.' : c);
    return out;
  }

  std::mutex mu_;
  std::set<std::pair<storage::Space, std::string>> present_;
  std::set<std::pair<storage::Space, std::string>> gone_;  // single-deleted since open and not put again
};

}  // namespace

EngineHarness::EngineHarness(const std::string& dir) {
  if (dir.empty()) {
    owned_ = std::make_unique<TempDir>();
    dir_ = owned_->path() + "/db";
  } else {
    dir_ = dir;
  }
  open();
}

EngineHarness::EngineHarness(std::function<void(engine::EngineOptions&)> configure)
    : owned_(std::make_unique<TempDir>()), dir_(owned_->path() + "/db"), configure_(std::move(configure)) {
  open();
}

EngineHarness::~EngineHarness() { close(); }

void EngineHarness::open() {
  engine::EngineOptions options;
  options.data_dir = dir_;
  options.clock = &clock_;
  if (configure_) configure_(options);
  options.wrap_store = [inner_wrap = std::move(options.wrap_store)](std::unique_ptr<storage::Store> store) {
    if (inner_wrap) store = inner_wrap(std::move(store));
    return std::unique_ptr<storage::Store>(std::make_unique<SingleDeleteContractStore>(std::move(store)));
  };
  auto opened = engine::Engine::open(options);
  if (!opened) {
    ADD_FAILURE() << "open: " << opened.error().message;
    std::abort();
  }
  engine_ = std::move(*opened);
  auto loaded = engine_->load_workflows_dir(source_path("workflows"));
  if (!loaded) {
    ADD_FAILURE() << "workflows: " << loaded.error().message << loaded.error().details().dump();
    std::abort();
  }
  auto seeded = engine::seed_demo(*engine_, dir_ + "-tokens.json");
  if (!seeded) {
    ADD_FAILURE() << "demo: " << seeded.error().message;
    std::abort();
  }
}

void EngineHarness::close() { engine_.reset(); }

engine::Principal EngineHarness::user(const std::string& id) {
  auto p = engine_->user(id);
  if (!p) {
    ADD_FAILURE() << "no demo user " << id;
    return {};
  }
  return *p;
}

Result<engine::Reply> EngineHarness::create(const std::string& who, const std::string& workflow, const std::string& org,
                                            Json fields, std::optional<std::string> comment) {
  return engine_->execute(
      engine::Command{engine::CreateInstance{workflow, org, std::move(fields), std::move(comment)}, user(who), {}, {}});
}

Result<engine::Reply> EngineHarness::fire(const std::string& who, const std::string& id, const std::string& transition,
                                          Json fields, std::optional<std::string> comment,
                                          std::optional<int64_t> expected_version) {
  return engine_->execute(engine::Command{
      engine::FireTransition{id, transition, std::move(fields), std::move(comment), expected_version}, user(who), {}, {}});
}

Result<engine::Reply> EngineHarness::comment(const std::string& who, const std::string& id, const std::string& text) {
  return engine_->execute(engine::Command{engine::AddComment{id, text}, user(who), {}, {}});
}

void EngineHarness::advance(int64_t ms) {
  clock_.advance(ms);
  engine_->poke_timers();
  // The writer fires due timers in its next batch; a barrier command after the poke cannot
  // overtake them, so once it has been answered every due timer has fired.
  for (int i = 0; i < 3; ++i) {
    engine_->drain();
    (void)engine_->execute(engine::Command{engine::RevokeTokens{"nobody"}, engine::Principal::system_principal(), {}, {}});
  }
}

std::map<std::string, std::string> EngineHarness::snapshot() {
  std::map<std::string, std::string> out;
  const storage::Layout& layout = engine::store_layout();
  for (size_t s = 0; s < layout.size(); ++s) {
    const auto space = static_cast<storage::Space>(s);
    for (auto c = engine_->store().scan_prefix(space, ""); c->valid(); c->next()) {
      out[std::string(layout.name(space)) + "/" + std::string(c->key())] = std::string(c->value());
    }
  }
  return out;
}

std::string new_project(EngineHarness& h, const std::string& title, const std::string& dept, const std::string& who) {
  auto r = h.create(who, "yizhi-yixiang", dept, {{"title", title}, {"goal", "g"}, {"area", "service"}});
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return r ? r->body["id"].get<std::string>() : "";
}

std::string assigned_project(EngineHarness& h, const std::string& title, const std::string& due_date) {
  const std::string id = new_project(h, title);
  auto issued = h.fire("wang.wei", id, "issue");
  EXPECT_TRUE(issued.has_value()) << issued.error().message;
  auto assigned = h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", due_date}});
  EXPECT_TRUE(assigned.has_value()) << assigned.error().message;
  return id;
}

}  // namespace pioneer::testing
