// Directory: the org tree, the users and their token hashes, cached in memory.
//
// Loaded from the store at open and updated by the writer after each committed batch, so
// authentication and visibility checks never touch the disk. Thread-safe (a shared mutex:
// many readers, the writer alone updates).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "engine/core/model.h"
#include "engine/core/rules.h"

namespace pioneer::storage {
class Store;
}

namespace pioneer::engine {

struct UserRecord {
  std::string id;
  std::string name;
  std::string home_org;
  std::vector<RoleGrant> roles;
};

struct TokenRecord {
  std::string user_id;
  int64_t expires_ms = 0;  // 0: never
};

class Directory final : public OrgView {
 public:
  Result<void> load(const storage::Store& store);

  std::optional<Org> find_org(std::string_view id) const override;
  bool user_exists(std::string_view id) const override;
  std::optional<UserRecord> find_user(std::string_view id) const;
  std::vector<Org> orgs() const;
  std::vector<UserRecord> users() const;
  bool empty() const;

  // What a successful authentication depended on: the directory's generation when it was made
  // and the token's expiry. While generation() is unchanged and now < expires_ms (or it is 0),
  // authenticating the same hash again gives the same principal.
  struct TokenCheck {
    uint64_t generation = 0;
    int64_t expires_ms = 0;  // 0: never
  };
  // The principal holding this token hash at `now`, or kUnauthenticated; `check`, when given,
  // receives what the answer depended on.
  Result<Principal> authenticate_hash(const std::string& token_hash, int64_t now_ms,
                                      TokenCheck* check = nullptr) const;
  // Moves forward with every change to orgs, users or tokens (from 1; 0 is never current).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  static Principal principal_of(const UserRecord& user);

  // Updates after a committed batch (writer thread only).
  void put_org(const Org& org);
  void put_user(const UserRecord& user);
  void put_token(const std::string& token_hash, const TokenRecord& token);
  void revoke_user_tokens(const std::string& user_id);
  std::vector<std::string> token_hashes_of(std::string_view user_id) const;

  // Store records.
  static std::string org_key(std::string_view id);
  static std::string user_key(std::string_view id);
  static std::string token_key(std::string_view hash);
  static std::string encode_user(const UserRecord& user);
  static std::string encode_token(const TokenRecord& token);

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, Org, std::less<>> orgs_;
  std::map<std::string, UserRecord, std::less<>> users_;
  std::map<std::string, TokenRecord, std::less<>> tokens_;  // by hex SHA-256 of the token
  // Written under the unique lock after each change, read without a lock (generation()).
  std::atomic<uint64_t> generation_{1};
};

}  // namespace pioneer::engine
