#include "tests/engine/test_support.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "engine/demo.h"
#include "storage/store.h"

namespace pioneer::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "pioneer-test-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string source_path(const std::string& relative) { return std::string(PIONEER_SOURCE_DIR) + "/" + relative; }

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
  auto opened = engine::Engine::open(options);
  if (!opened) {
    ADD_FAILURE() << "open: " << opened.error().message;
    std::abort();
  }
  engine_ = std::move(*opened);
  auto loaded = engine_->load_workflows_dir(source_path("workflows"));
  if (!loaded) {
    ADD_FAILURE() << "workflows: " << loaded.error().message << loaded.error().details.dump();
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
  for (int s = 0; s < storage::kSpaceCount; ++s) {
    auto space = static_cast<storage::Space>(s);
    for (auto c = engine_->store().scan_prefix(space, ""); c->valid(); c->next()) {
      out[std::string(storage::space_name(space)) + "/" + std::string(c->key())] = std::string(c->value());
    }
  }
  return out;
}

}  // namespace pioneer::testing
