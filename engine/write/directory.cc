#include "engine/write/directory.h"

#include <mutex>

#include "common/crypto.h"
#include "engine/core/codec.h"
#include "engine/core/spaces.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace pioneer::engine {

using storage::KeyBuilder;
std::string Directory::org_key(std::string_view id) { return KeyBuilder().text("org").text(id).build(); }
std::string Directory::user_key(std::string_view id) { return KeyBuilder().text("user").text(id).build(); }
std::string Directory::token_key(std::string_view hash) { return KeyBuilder().text("token").text(hash).build(); }
std::string Directory::password_key(std::string_view id) { return KeyBuilder().text("password").text(id).build(); }

std::string Directory::encode_user(const UserRecord& u) {
  Json roles = Json::array();
  for (const RoleGrant& g : u.roles) roles.push_back({{"role", g.role}, {"org", g.org}});
  Json j{{"id", u.id}, {"name", u.name}, {"home_org", u.home_org}, {"roles", roles}};
  if (u.disabled) j["disabled"] = true;
  return j.dump();
}

std::string Directory::encode_token(const TokenRecord& t) {
  Json j{{"user", t.user_id}, {"expires", t.expires_ms}};
  if (t.session) {
    j["session"] = true;
    j["idle"] = t.idle_ms;
  }
  return j.dump();
}

namespace {

TokenRecord decode_token(const Json& j) {
  TokenRecord t{j.value("user", ""), j.value("expires", int64_t{0})};
  t.session = j.value("session", false);
  t.idle_ms = j.value("idle", int64_t{0});
  if (t.session) t.last_used = std::make_shared<std::atomic<int64_t>>(-1);  // -1: not used since start
  return t;
}

}  // namespace

Result<void> Directory::load(const storage::Store& store) {
  std::unique_lock lock(mu_);
  orgs_.clear();
  users_.clear();
  tokens_.clear();
  passwords_.clear();
  for (auto c = store.scan_prefix(Space::kPrincipals, ""); c->valid(); c->next()) {
    auto parts = storage::split_key(c->key());
    if (parts.size() != 2) continue;
    Json j = Json::parse(c->value(), nullptr, false);
    if (!j.is_object()) return fail(Code::kCorruption, "用户或组织记录损坏（corrupt principal record）");
    if (parts[0] == "org") {
      auto org = decode_org(c->value());
      if (!org) return fail(org.error());
      orgs_[org->id] = *org;
    } else if (parts[0] == "user") {
      UserRecord u{j.value("id", ""), j.value("name", ""), j.value("home_org", ""), {}, j.value("disabled", false)};
      for (const Json& g : j.value("roles", Json::array())) u.roles.push_back({g.value("role", ""), g.value("org", "")});
      users_[u.id] = std::move(u);
    } else if (parts[0] == "token") {
      tokens_[std::string(parts[1])] = decode_token(j);
    } else if (parts[0] == "password") {
      passwords_[std::string(parts[1])] = j.value("hash", "");
    }
  }
  generation_.fetch_add(1, std::memory_order_release);
  return {};
}

std::optional<Org> Directory::find_org(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = orgs_.find(id);
  if (it == orgs_.end()) return std::nullopt;
  return it->second;
}

bool Directory::user_exists(std::string_view id) const {
  std::shared_lock lock(mu_);
  return users_.find(id) != users_.end();
}

std::optional<UserRecord> Directory::find_user(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = users_.find(id);
  if (it == users_.end()) return std::nullopt;
  return it->second;
}

std::vector<Org> Directory::orgs() const {
  std::shared_lock lock(mu_);
  std::vector<Org> out;
  for (const auto& [id, org] : orgs_) out.push_back(org);
  return out;
}

std::vector<std::string> Directory::root_orgs() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, org] : orgs_) {
    if (org.parent.empty()) out.push_back(id);
  }
  return out;
}

std::vector<UserRecord> Directory::users() const {
  std::shared_lock lock(mu_);
  std::vector<UserRecord> out;
  for (const auto& [id, u] : users_) out.push_back(u);
  return out;
}

bool Directory::empty() const {
  std::shared_lock lock(mu_);
  return orgs_.empty();
}

Principal Directory::principal_of(const UserRecord& u) {
  Principal p;
  p.id = u.id;
  p.name = u.name;
  p.home_org = u.home_org;
  p.roles = u.roles;
  return p;
}

Result<Principal> Directory::authenticate_hash(const std::string& token_hash, int64_t now_ms,
                                                TokenCheck* check) const {
  auto refused = [] { return fail(Code::kUnauthenticated, "令牌无效或已过期（invalid or expired token）"); };
  std::shared_lock lock(mu_);
  // The map lookup finds the candidate; the final comparison is constant-time so that the
  // time taken says nothing about how much of a guessed hash matched.
  auto it = tokens_.lower_bound(token_hash);
  if (it == tokens_.end() || !constant_time_equal(it->first, token_hash)) return refused();
  const TokenRecord& token = it->second;
  if (token.expires_ms != 0 && token.expires_ms <= now_ms) return refused();
  auto user = users_.find(token.user_id);
  if (user == users_.end() || user->second.disabled) return refused();
  // Read under the shared lock: every change moves the generation under the unique lock, so
  // this is the generation of exactly the state the answer was read from.
  TokenCheck found{generation_.load(std::memory_order_relaxed), token.expires_ms, token.last_used, token.idle_ms};
  if (token.session &&
      !still_valid(found.generation, found.expires_ms, found.last_used.get(), found.idle_ms, found.generation, now_ms)) {
    return refused();
  }
  if (check) *check = std::move(found);
  return principal_of(user->second);
}

bool Directory::still_valid(uint64_t checked_generation, int64_t expires_ms, std::atomic<int64_t>* last_used,
                            int64_t idle_ms, uint64_t generation, int64_t now_ms) {
  if (checked_generation == 0 || checked_generation != generation) return false;
  if (expires_ms != 0 && now_ms >= expires_ms) return false;
  if (!last_used) return true;
  const int64_t last = last_used->load(std::memory_order_relaxed);
  if (last >= 0 && now_ms >= last + idle_ms) return false;
  if (now_ms > last) last_used->store(now_ms, std::memory_order_relaxed);
  return true;
}

void Directory::put_org(const Org& org) {
  std::unique_lock lock(mu_);
  orgs_[org.id] = org;
  generation_.fetch_add(1, std::memory_order_release);
}

void Directory::put_user(const UserRecord& user) {
  std::unique_lock lock(mu_);
  users_[user.id] = user;
  generation_.fetch_add(1, std::memory_order_release);
}

void Directory::put_token(const std::string& hash, const TokenRecord& token) {
  std::unique_lock lock(mu_);
  tokens_[hash] = token;
  generation_.fetch_add(1, std::memory_order_release);
}

void Directory::revoke_user_tokens(const std::string& user_id) {
  std::unique_lock lock(mu_);
  std::erase_if(tokens_, [&](const auto& kv) { return kv.second.user_id == user_id; });
  generation_.fetch_add(1, std::memory_order_release);
}

void Directory::revoke_user_sessions(const std::string& user_id) {
  std::unique_lock lock(mu_);
  std::erase_if(tokens_, [&](const auto& kv) { return kv.second.user_id == user_id && kv.second.session; });
  generation_.fetch_add(1, std::memory_order_release);
}

void Directory::remove_token(const std::string& token_hash) {
  std::unique_lock lock(mu_);
  tokens_.erase(token_hash);
  generation_.fetch_add(1, std::memory_order_release);
}

std::optional<TokenRecord> Directory::find_token(std::string_view token_hash) const {
  std::shared_lock lock(mu_);
  auto it = tokens_.find(token_hash);
  if (it == tokens_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Directory::session_hashes_of(std::string_view user_id) const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [hash, token] : tokens_) {
    if (token.user_id == user_id && token.session) out.push_back(hash);
  }
  return out;
}

std::optional<std::string> Directory::password_hash(std::string_view user_id) const {
  std::shared_lock lock(mu_);
  auto user = users_.find(user_id);
  if (user == users_.end() || user->second.disabled) return std::nullopt;  // logs in as no one
  auto it = passwords_.find(user_id);
  if (it == passwords_.end()) return std::nullopt;
  return it->second;
}

void Directory::put_password(const std::string& user_id, const std::string& hash) {
  std::unique_lock lock(mu_);
  passwords_[user_id] = hash;
  generation_.fetch_add(1, std::memory_order_release);
}

std::vector<std::string> Directory::token_hashes_of(std::string_view user_id) const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [hash, token] : tokens_) {
    if (token.user_id == user_id) out.push_back(hash);
  }
  return out;
}

}  // namespace pioneer::engine
