#include "engine/engine.h"

#include <filesystem>
#include <future>

#include "common/crypto.h"
#include "engine/audit/reindex.h"
#include "engine/core/admin_rules.h"
#include "engine/core/codec.h"
#include "engine/core/indexer.h"
#include "engine/core/rules.h"
#include "engine/core/spaces.h"
#include "engine/read/reads.h"
#include "engine/write/engine_state.h"
#include "storage/keys.h"

namespace pioneer::engine {

namespace {
// The database's format version, stored in kMeta "schema" when the database is created and
// checked at every open; a build refuses a schema it does not know. Within schema 1, a field
// added to a stored record later is optional and its absence reads as its empty value
// (Instance::fired_timers), so records written without it need no rewriting.
constexpr std::string_view kSchema = "1";
}  // namespace

Engine::Engine(EngineOptions options) : state_(std::make_unique<EngineState>()) { state_->options = std::move(options); }

Engine::~Engine() {
  if (state_) state_->sequencer.reset();  // finishes queued commands, then the store closes
}

namespace {

// A database whose index entries an older build derived: refused until reindexed, unless it
// holds no instance yet (then there is nothing derived, and the current format is recorded).
Result<void> check_index_format(storage::Store& store) {
  auto format = store.get(Space::kMeta, kIndexFormatKey);
  if (!format) return fail(format.error());
  if (*format && **format == kIndexFormat) return {};
  auto any = store.scan_prefix(Space::kInstances, "");
  if (any->valid()) {
    const std::string was = *format ? **format : "1";
    return fail(Code::kBadRequest, "数据库的索引格式 " + was + " 已过时，请先运行 pioneer reindex（the database's index format " + was +
                                       " is older than this build's " + kIndexFormat + ": run pioneer reindex first）");
  }
  if (auto st = any->status(); !st) return fail(st.error());
  storage::Batch batch;
  batch.put(Space::kMeta, kIndexFormatKey, kIndexFormat);
  return store.commit(batch, true);
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::open(EngineOptions options) {
  std::unique_ptr<Engine> engine(new Engine(std::move(options)));
  EngineState& s = *engine->state_;
  s.clock = s.options.clock ? s.options.clock : &s.system_clock;
  if (s.options.data_dir.empty()) return fail(Code::kBadRequest, "未指定数据目录（no data directory given）");
  storage::StoreOptions store_options;
  store_options.create_if_missing = s.options.create_if_missing;
  store_options.memtable_bytes = s.options.memtable_bytes;
  store_options.expiring_space = Space::kIdempotency;
  store_options.expired = [clock = s.clock](std::string_view value) {
    Json record = Json::parse(value, nullptr, false);
    if (!record.is_object() || !record.contains("at") || !record["at"].is_number_integer()) return false;
    return record["at"].get<int64_t>() + kIdempotencyTtlMs <= clock->now_ms();
  };
  auto store = storage::Store::open(s.options.data_dir, engine::store_layout(), store_options);
  if (!store) return fail(store.error());
  s.store = s.options.wrap_store ? s.options.wrap_store(std::move(*store)) : std::move(*store);

  // The hash algorithm is chosen when the database is created and never changes after.
  auto algorithm = s.store->get(Space::kMeta, "hash_algorithm");
  if (!algorithm) return fail(algorithm.error());
  if (*algorithm) {
    s.options.hash_algorithm = **algorithm;
  } else {
    if (!digest_hex(s.options.hash_algorithm, "")) {
      return fail(Code::kBadRequest, "不支持的摘要算法 '" + s.options.hash_algorithm + "'（unsupported hash algorithm; use sha256 or sm3）");
    }
    storage::Batch init;
    init.put(Space::kMeta, "hash_algorithm", s.options.hash_algorithm);
    init.put(Space::kMeta, "schema", std::string(kSchema));
    init.put(Space::kMeta, kIndexFormatKey, kIndexFormat);
    if (auto st = s.store->commit(init, true); !st) return fail(st.error());
  }
  auto schema = s.store->get(Space::kMeta, "schema");
  if (!schema) return fail(schema.error());
  if (*schema && **schema != kSchema) {
    return fail(Code::kBadRequest, "数据库格式版本 " + **schema + " 不受此版本支持（database schema " + **schema +
                                       " is not one this build reads: " + std::string(kSchema) + "）");
  }
  if (auto st = check_index_format(*s.store); !st) return fail(st.error());
  auto pending = s.store->get(Space::kMeta, kReindexPendingKey);
  if (!pending) return fail(pending.error());
  if (*pending) {
    return fail(Code::kCorruption, "上次的重建索引没有完成，请再运行 pioneer reindex（a reindex was interrupted: run pioneer reindex "
                                   "again before serving）");
  }
  if (auto st = s.directory.load(*s.store); !st) return fail(st.error());
  if (auto st = s.registry.load(*s.store, s.options.roles); !st) return fail(st.error());
  auto seq = Sequencer::start(Sequencer::Deps{*s.store, s.directory, s.registry, *s.clock, s.options.roles,
                                              s.options.queue_limit, s.options.max_batch,
                                              s.options.utc_offset_minutes, s.options.hash_algorithm,
                                              &s.read_cache});
  if (!seq) return fail(seq.error());
  s.sequencer = std::move(*seq);
  return engine;
}

void Engine::set_publisher(Publisher publisher) { state_->sequencer->set_publisher(std::move(publisher)); }
void Engine::submit(Command command, ReplyCallback done) { state_->sequencer->submit(std::move(command), std::move(done)); }

Result<Reply> Engine::execute(Command command) {
  std::promise<Result<Reply>> promise;
  auto future = promise.get_future();
  submit(std::move(command), [&promise](Result<Reply> r) { promise.set_value(std::move(r)); });
  Result<Reply> reply = future.get();
  if (reply && !reply->body_text.empty()) {
    reply->body = Json::parse(reply->body_text);
    reply->body_text.clear();
  }
  return reply;
}

void Engine::stop_accepting() { state_->sequencer->stop_accepting(); }
void Engine::poke_timers() { state_->sequencer->poke(); }
void Engine::drain() { state_->sequencer->drain(); }
uint64_t Engine::head_seq() const { return state_->sequencer->head_seq(); }
EngineMetrics Engine::metrics() const { return state_->sequencer->metrics(); }
const Clock& Engine::clock() const { return *state_->clock; }
storage::Store& Engine::store() { return *state_->store; }
const RoleCatalog& Engine::roles() const { return state_->options.roles; }
Result<void> Engine::checkpoint(const std::string& dest) { return state_->store->checkpoint(dest); }

Result<uint64_t> Engine::sweep_idempotency() {
  if (auto compacted = state_->store->compact_space(Space::kIdempotency); !compacted) return fail(compacted.error());
  // After a full compaction each key is stored once and no deletion is left: the estimate is
  // the count.
  auto keys = state_->store->property(Space::kIdempotency, "rocksdb.estimate-num-keys");
  return keys ? std::strtoull(keys->c_str(), nullptr, 10) : 0;
}

uint64_t Engine::idempotency_expired() const { return state_->store->expired_dropped(); }

// ---- principals ----

Result<Principal> Engine::authenticate(std::string_view token) const {
  if (token.empty()) return fail(Code::kUnauthenticated, "缺少令牌（missing bearer token）");
  return state_->directory.authenticate_hash(sha256_hex(token), state_->clock->now_ms());
}

Engine::Credential Engine::credential(std::string_view token) { return Credential{sha256_hex(token), 0, 0, nullptr, 0}; }

bool Engine::still_authenticated(const Credential& c) const {
  return Directory::still_valid(c.generation, c.expires_ms, c.last_used.get(), c.idle_ms,
                                state_->directory.generation(), state_->clock->now_ms());
}

Result<Principal> Engine::authenticate(Credential& c) const {
  Directory::TokenCheck check;
  auto who = state_->directory.authenticate_hash(c.token_hash, state_->clock->now_ms(), &check);
  if (!who) check = Directory::TokenCheck{};
  c.generation = check.generation;
  c.expires_ms = check.expires_ms;
  c.last_used = std::move(check.last_used);
  c.idle_ms = check.idle_ms;
  return who;
}

std::optional<std::string> Engine::password_hash(std::string_view user_id) const {
  return state_->directory.password_hash(user_id);
}

Result<void> Engine::may_set_password(const Principal& who, std::string_view user_id) const {
  const AdminEnv env{state_->directory, state_->options.roles};
  return decide_set_password(env, SetPassword{std::string(user_id), "$argon2id$", false}, who);
}

Result<Principal> Engine::user(std::string_view id) const {
  auto u = state_->directory.find_user(id);
  if (!u) return fail(Code::kNotFound, "用户不存在（no such user）");
  return Directory::principal_of(*u);
}

std::vector<Org> Engine::orgs() const { return state_->directory.orgs(); }

std::vector<UserRecord> Engine::user_records() const { return state_->directory.users(); }

std::vector<Principal> Engine::users() const {
  std::vector<Principal> out;
  for (const UserRecord& u : state_->directory.users()) out.push_back(Directory::principal_of(u));
  return out;
}

// ---- definitions ----

std::vector<DefinitionSummary> Engine::workflows() const {
  std::vector<DefinitionSummary> out;
  for (const DefinitionPtr& d : state_->registry.latest_all()) out.push_back({d->id, d->version, d->title});
  return out;
}

Result<DefinitionPtr> Engine::definition(std::string_view id, std::optional<int> version) const {
  DefinitionPtr d = version ? state_->registry.get(id, *version) : state_->registry.latest(id);
  if (!d) return fail(Code::kNotFound, "工作流 '" + std::string(id) + "' 不存在（no such workflow）");
  return d;
}

Result<std::vector<Definition>> read_workflows_dir(const std::string& dir, const RoleCatalog& roles) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path().string());
  }
  if (ec) return fail(Code::kNotFound, "无法读取工作流目录 " + dir + "（cannot read workflows directory: " + ec.message() + "）");
  std::sort(files.begin(), files.end());
  // Validate all first: one bad file refuses the whole set, with every problem listed.
  std::vector<Definition> defs;
  Json problems = Json::array();
  for (const std::string& file : files) {
    auto def = load_definition_file(file, roles);
    if (!def) {
      problems.push_back({{"file", file}, {"message", def.error().message}, {"details", def.error().details()}});
      continue;
    }
    defs.push_back(std::move(*def));
  }
  if (!problems.empty()) {
    return fail(Code::kInvalidDefinition, "工作流定义有误（invalid workflow definitions）", Json{{"files", problems}});
  }
  return defs;
}

Result<std::vector<std::pair<std::string, int>>> Engine::load_workflows_dir(const std::string& dir) {
  auto defs = read_workflows_dir(dir, state_->options.roles);
  if (!defs) return fail(defs.error());
  return register_workflows(*defs);
}

Result<std::vector<std::pair<std::string, int>>> Engine::register_workflows(const std::vector<Definition>& defs) {
  // A file equal to any version already stored is left alone: restarting with the shipped
  // files must not undo a newer version registered through the API (the registration compares
  // with the newest version only, so the file would come back as a version after it). Going back to an older definition is a registration through the API.
  auto stored_already = [&](const Definition& def) {
    DefinitionPtr latest = state_->registry.latest(def.id);
    if (!latest) return false;
    Json file = def.source;
    file.erase("version");
    for (int v = 1; v <= latest->version; ++v) {
      DefinitionPtr stored = state_->registry.get(def.id, v);
      if (!stored) continue;
      Json source = stored->source;
      source.erase("version");
      if (source == file) return true;
    }
    return false;
  };
  std::vector<std::pair<std::string, int>> registered;
  for (const Definition& def : defs) {
    if (stored_already(def)) continue;
    auto reply = execute(Command{RegisterDefinition{def.source}, Principal::system_principal(), {}, {}});
    if (!reply) return fail(reply.error());
    if (reply->body.value("registered", false)) registered.emplace_back(def.id, reply->body.value("version", 0));
  }
  return registered;
}

// ---- reads ----

Result<Instance> Engine::instance(const Principal& who, std::string_view id) const {
  auto in = reads::read_instance(*state_, id);
  if (!in) return fail(in.error());
  if (!*in || !who.can_see((*in)->org, (*in)->assignee_org)) {
    return fail(Code::kNotFound, "找不到实例 '" + std::string(id) + "'（instance not found）");
  }
  return std::move(**in);
}

Result<Json> Engine::instance_view(const Principal& who, std::string_view id) const {
  auto in = instance(who, id);
  if (!in) return fail(in.error());
  return reads::view(*state_, *in, who);
}

Result<std::string> Engine::instance_view_text(const Principal& who, std::string_view id) const {
  auto in = instance(who, id);
  if (!in) return fail(in.error());
  return reads::view_text(*state_, *in, who);
}

Result<std::vector<Event>> Engine::history(const Principal& who, std::string_view id) const {
  auto in = instance(who, id);
  if (!in) return fail(in.error());
  auto seqs = reads::history_seqs(*state_, id);
  if (!seqs) return fail(seqs.error());
  return reads::read_events(*state_, *seqs);
}

Result<std::vector<std::string>> Engine::history_text(const Principal& who, std::string_view id) const {
  auto in = instance(who, id);
  if (!in) return fail(in.error());
  auto seqs = reads::history_seqs(*state_, id);
  if (!seqs) return fail(seqs.error());
  return reads::read_event_texts(*state_, *seqs);
}

Result<InstancePage> Engine::list_instances(const Principal& who, const InstanceFilter& filter, size_t limit,
                                            std::string_view cursor, ViewForm form) const {
  return reads::list_instances(*state_, who, filter, limit, cursor, form);
}

Result<InstancePage> Engine::tasks(const Principal& who, size_t limit, std::string_view cursor, ViewForm form,
                                   const TaskFilter& filter) const {
  return reads::tasks(*state_, who, limit, cursor, form, filter);
}

Result<EventPage> Engine::events_after(const Principal& who, uint64_t since, size_t limit,
                                       std::optional<EventScan> scan) const {
  return reads::events_after(*state_, who, since, limit, scan);
}

Result<Json> Engine::stats(const Principal& who, std::string_view workflow, std::string_view group_by) const {
  return reads::stats(*state_, who, workflow, group_by);
}

bool Engine::may_see(const Principal& who, const Event& event) const {
  if (event.type == kDirectoryEvent) return may_see_directory_event(who, event);
  return who.can_see(event.org, event.assignee_org);
}

}  // namespace pioneer::engine
