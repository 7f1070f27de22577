// The pinned demo data of docs/domain.md: its org tree and users, for `pioneer serve --demo`.
#pragma once

#include <string>

#include "common/result.h"

namespace pioneer::engine {

class Engine;

// On an engine whose store holds no orgs yet: creates the demo orgs and users, issues each
// user a fresh token and password (Argon2id-hashed in the store) and writes {"users": [{id,
// name, home_org, roles: [{role, org}], token, password}]} to tokens_path. On a store that
// already holds orgs it changes nothing and returns false.
Result<bool> seed_demo(Engine& engine, const std::string& tokens_path);

}  // namespace pioneer::engine
