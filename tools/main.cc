// pioneer: the one binary. Subcommands in the way git/etcdctl users expect:
//   serve      run the HTTP + WebSocket server
//   validate   check workflow definition files, listing every problem
//   verify     prove a database intact (hash chain, sequence, indexes), or a dossier
//   export     one instance's dossier (definition version, every event with hashes) as JSON
//   backup     online copy of a database (checkpoint while serving), verified
//   reindex    rebuild the index entries, timers and counters from the records (server stopped)
//   org, user  manage the org tree, users and their tokens (server stopped)
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "api/admin_client.h"
#include "api/server.h"
#include "common/crypto.h"
#include "common/input.h"
#include "common/password.h"
#include "engine/audit/reindex.h"
#include "engine/audit/verify.h"
#include "engine/core/codec.h"
#include "engine/core/definition.h"
#include "engine/core/spaces.h"
#include "engine/engine.h"
#include "storage/store.h"

namespace {

using namespace pioneer;
using namespace pioneer::engine;

Result<RoleCatalog> load_roles(const std::string& path) {
  if (path.empty()) return RoleCatalog::defaults();
  return RoleCatalog::load_file(path);
}

int report(const Error& e) {
  std::cerr << "pioneer: " << e.message;
  if (!e.details().empty()) std::cerr << "\n" << e.details().dump(2);
  std::cerr << "\n";
  return 1;
}

Result<std::unique_ptr<Engine>> open_engine(const std::string& data, const std::string& roles_file,
                                             bool may_create) {
  auto roles = load_roles(roles_file);
  if (!roles) return fail(roles.error());
  EngineOptions options;
  options.data_dir = data;
  options.create_if_missing = may_create;
  options.roles = *roles;
  return Engine::open(options);
}

// `user passwd`: the first line of standard input is the new password (a terminal shows it; pipe
// it in from a password manager or `read -s`). Every login session of the user ends.
int set_password(Engine& e, const std::string& user_id) {
  std::string password;
  std::getline(std::cin, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (auto problem = password_problem(password)) {
    std::cerr << "pioneer: " << *problem << "\n";
    return 1;
  }
  auto hash = hash_password(password);
  if (!hash) {
    std::cerr << "pioneer: 无法计算密码摘要（hashing the password failed）\n";
    return 1;
  }
  auto r = e.execute(Command{SetPassword{user_id, std::move(*hash), false}, Principal::system_principal(), {}, {}});
  if (!r) return report(r.error());
  std::cout << r->body.dump() << "\n";
  return 0;
}

int cmd_validate(const std::vector<std::string>& files, const std::string& roles_file) {
  auto roles = load_roles(roles_file);
  if (!roles) return report(roles.error());
  int bad = 0;
  for (const std::string& file : files) {
    auto def = load_definition_file(file, *roles);
    if (def) {
      std::cout << file << ": ok (" << def->id << ", " << def->states.size() << " states, " << def->transitions.size()
                << " transitions)\n";
      continue;
    }
    ++bad;
    std::cout << file << ": " << def.error().message << "\n";
    for (const Json& p : def.error().details().value("problems", Json::array())) {
      std::cout << "  " << p.value("path", "") << ": " << p.value("message", "") << "\n";
    }
  }
  return bad == 0 ? 0 : 1;
}

int cmd_verify(const std::string& data, const std::string& roles_file) {
  auto roles = load_roles(roles_file);
  if (!roles) return report(roles.error());
  storage::StoreOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  auto store = storage::Store::open(data, engine::store_layout(), options);
  if (!store) return report(store.error());
  auto result = verify_store(**store, *roles);
  if (!result) return report(result.error());
  std::cout << result->to_json().dump(2) << "\n";
  if (result->ok) {
    std::cerr << "verify: 完好（intact）: " << result->events_checked << " events, " << result->instances_checked
              << " instances\n";
    return 0;
  }
  std::cerr << "verify: 发现问题（problems found）";
  if (result->first_bad_seq) std::cerr << "; first bad event: " << result->first_bad_seq;
  std::cerr << "\n";
  return 2;
}

// pioneer reindex: takes the database's lock (the server must be stopped), rebuilds the derived
// families, then proves the result with verify_store.
int cmd_reindex(const std::string& data, const std::string& roles_file) {
  auto roles = load_roles(roles_file);
  if (!roles) return report(roles.error());
  storage::StoreOptions options;
  options.create_if_missing = false;
  auto store = storage::Store::open(data, engine::store_layout(), options);
  if (!store) return report(store.error());
  ReindexOptions reindex_options;
  reindex_options.progress = [](const std::string& line) { std::cerr << line << "\n"; };
  auto rebuilt = reindex_store(**store, *roles, reindex_options);
  if (!rebuilt) return report(rebuilt.error());
  std::cerr << "reindex: 完成，开始核对（done; verifying the whole database）\n";
  auto result = verify_store(**store, *roles);
  if (!result) return report(result.error());
  std::cout << Json{{"reindex", rebuilt->to_json()}, {"verify", result->to_json()}}.dump(2) << "\n";
  std::cerr << "reindex: " << rebuilt->instances << " 个实例（instances）; 补写索引项 " << rebuilt->index_entries_written
            << " / " << rebuilt->index_entries << "（index entries written / implied）; 补写定时器 " << rebuilt->timers_written
            << " / " << rebuilt->timers << "（timers written / implied）; 删除多余索引项 " << rebuilt->stray_index_entries
            << "、多余定时器 " << rebuilt->stray_timers << "（stray entries / timers deleted）; 更正计数 "
            << rebuilt->counters_corrected << "（counters corrected）\n";
  if (rebuilt->unreadable_instances > 0) {
    std::cerr << "reindex: " << rebuilt->unreadable_instances
              << " 个实例记录无法读取或缺少工作流定义，其索引未动；修复后请再运行 reindex（records unreadable or without "
                 "their definition: their entries were left as they are; run reindex again once they are repaired）\n";
  }
  if (result->ok) {
    std::cerr << "verify: 完好（intact）: " << result->events_checked << " events, " << result->instances_checked
              << " instances\n";
    return 0;
  }
  std::cerr << "verify: 仍有问题（problems remain that reindex does not rebuild: see the report）\n";
  return 2;
}

storage::StoreOptions read_only_options() {
  storage::StoreOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  return options;
}

// pioneer export: read-only, so it runs while the server is serving.
int cmd_export(const std::string& data, const std::string& instance_id, const std::string& out,
               const std::string& roles_file) {
  auto roles = load_roles(roles_file);
  if (!roles) return report(roles.error());
  auto store = storage::Store::open(data, engine::store_layout(), read_only_options());
  if (!store) return report(store.error());
  auto dossier = export_dossier(**store, *roles, instance_id);
  if (!dossier) return report(dossier.error());
  const std::string text = dossier->dump(2) + "\n";
  if (out.empty() || out == "-") {
    std::cout << text << std::flush;
    if (!std::cout) {
      std::cerr << "pioneer: 无法写入标准输出（cannot write standard output）\n";
      return 1;
    }
    return 0;
  }
  std::ofstream file(out, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) {
    std::cerr << "pioneer: 无法写入（cannot write） " << out << "\n";
    return 1;
  }
  std::cerr << "export: " << dossier->at("events").size() << " events of " << instance_id << " -> " << out << "\n";
  return 0;
}

// pioneer verify --dossier FILE [--data DIR]
int cmd_verify_dossier(const std::string& file, const std::string& data, const std::string& roles_file) {
  std::optional<std::string> text = read_file(file);
  if (!text) {
    std::cerr << "pioneer: 无法读取（cannot read） " << file << "\n";
    return 1;
  }
  // A dossier is evidence handed over by others: a text nested deeper than any dossier would
  // crash the checks below (they copy values, which recurses per level) instead of failing them.
  if (!json_depth_within(*text, 64)) {
    std::cerr << "pioneer: 档案的 JSON 嵌套过深，不是本程序导出的档案（the dossier's JSON nests deeper than 64 levels: "
                 "not a dossier this program wrote）: " << file << "\n";
    return 2;
  }
  Json dossier = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (dossier.is_discarded()) {
    std::cerr << "pioneer: 不是有效的 JSON（not valid JSON）: " << file << "\n";
    return 2;
  }
  VerifyReport result;
  if (data.empty()) {
    result = verify_dossier(dossier);
  } else {
    auto roles = load_roles(roles_file);
    if (!roles) return report(roles.error());
    auto store = storage::Store::open(data, engine::store_layout(), read_only_options());
    if (!store) return report(store.error());
    auto checked = verify_dossier_against_store(dossier, **store, *roles);
    if (!checked) return report(checked.error());
    result = std::move(*checked);
  }
  std::cout << result.to_json().dump(2) << "\n";
  if (result.ok) {
    std::cerr << "verify: 档案完好（dossier intact）: " << result.events_checked << " events"
              << (data.empty() ? " (offline; see README for what that proves)" : ", each identical to the database's")
              << "\n";
    return 0;
  }
  std::cerr << "verify: 发现问题（problems found）";
  if (result.first_bad_seq) std::cerr << "; first bad event: seq " << result.first_bad_seq;
  std::cerr << "\n";
  return 2;
}

// pioneer backup: checkpoint of a read-only open (no lock, so the server keeps serving), then
// verify_store() on the copy; retried when the copy does not verify.
int cmd_backup(const std::string& data, const std::string& dest, int attempts, const std::string& roles_file) {
  auto roles = load_roles(roles_file);
  if (!roles) return report(roles.error());
  auto result = backup_store(data, dest, *roles, attempts, [](const std::string& line) { std::cerr << "backup: " << line << "\n"; });
  if (!result) return report(result.error());
  std::cout << result->to_json().dump(2) << "\n";
  std::cerr << "backup: " << data << " -> " << dest << ": 已校验（verified）: " << result->verified.events_checked
            << " events, hash chain intact, " << result->verified.instances_checked
            << " instances with their indexes, counters and timers; attempts: " << result->attempts
            << ". Restore: pioneer serve --data " << dest << "\n";
  return 0;
}

// "role@org" -> RoleGrant
std::optional<RoleGrant> parse_grant(const std::string& text) {
  size_t at = text.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == text.size()) return std::nullopt;
  return RoleGrant{text.substr(0, at), text.substr(at + 1)};
}

int issue_token(Engine& engine, const std::string& user, int64_t ttl_days) {
  const std::string token = new_token();
  int64_t expires = ttl_days > 0 ? engine.clock().now_ms() + ttl_days * 86400000LL : 0;
  auto r = engine.execute(Command{IssueToken{user, sha256_hex(token), expires}, Principal::system_principal(), {}, {}});
  if (!r) return report(r.error());
  std::cout << "token for " << user << " (shown once; only its hash is kept): " << token << "\n" << std::flush;
  if (!std::cout) {
    std::cerr << "pioneer: 令牌已保存但无法输出，请用 pioneer user token 另发一个（the token was stored but could not be "
                 "written out: issue another with pioneer user token）\n";
    return 1;
  }
  return 0;
}

}  // namespace

// Raises the soft limit on open files to the hard one. A reader (verify, export, backup) opens
// every table file of the database at start (storage/rocksdb_store.cc), and the server holds a
// descriptor per WebSocket client; the usual soft limit of 1,024 is the kernel's default, not a
// choice.
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

namespace {

// Every option of every subcommand, as CLI11 parses them, and the subcommands themselves.
struct Cli {
  std::string roles_file;
  api::ServerConfig server;
  std::string config_file;
  std::vector<std::string> files;
  std::string data = "data";
  std::string dossier_file, instance_id, out_file, backup_dest;
  int backup_attempts = 5;
  std::string org_id, org_name, org_kind;
  std::string user_id, user_name, user_home;
  std::vector<std::string> grants;
  int64_t ttl_days = 0;
  std::string server_url, admin_token, ca_file;

  CLI::App *serve = nullptr, *validate = nullptr, *verify = nullptr, *exp = nullptr, *backup = nullptr,
           *reindex = nullptr, *org_add = nullptr, *org_list = nullptr, *user_add = nullptr, *user_token = nullptr,
           *user_revoke = nullptr, *user_passwd = nullptr, *user_list = nullptr;
  CLI::Option *verify_data = nullptr, *verify_dossier = nullptr;
};

void add_serve(CLI::App& app, Cli& c) {
  c.serve = app.add_subcommand("serve", "运行服务 (run the HTTP + WebSocket server)");
  c.serve->add_option("--config", c.config_file, "JSON config file (keys as the flags; flags win)");
  c.serve->add_option("--data", c.server.data_dir, "RocksDB data folder (created if missing)");
  c.serve->add_option("--listen", c.server.listen, "HOST:PORT (port 0 picks a free one)");
  c.serve->add_flag("--demo", c.server.demo, "seed the demo org and users into an empty folder");
  c.serve->add_option("--workflows", c.server.workflows_dir, "folder of workflow definitions");
  c.serve->add_option("--roles", c.server.roles_file, "roles and org kinds (JSON); default: built in");
  c.serve->add_option("--tls-cert", c.server.tls_cert, "PEM certificate chain: serve HTTPS and WSS");
  c.serve->add_option("--tls-key", c.server.tls_key, "PEM private key");
  c.serve->add_option("--threads", c.server.threads, "I/O threads");
  c.serve->add_option("--hash", c.server.hash_algorithm, "event hash for a new database: sha256 or sm3");
  c.serve->add_option("--ws-send-buffer", c.server.ws_send_buffer,
                      "kernel send buffer per WebSocket, bytes (0: the kernel's default)");
}

// validate, verify, export, backup, reindex.
void add_database_tools(CLI::App& app, Cli& c) {
  c.validate = app.add_subcommand("validate", "检查工作流定义 (check workflow definition files)");
  c.validate->add_option("files", c.files, "definition files")->required();
  c.validate->add_option("--roles", c.roles_file, "roles configuration (JSON)");

  c.verify = app.add_subcommand("verify", "校验数据库或档案 (prove a database, or a dossier, intact)");
  c.verify_data = c.verify->add_option("--data", c.data, "data folder (with --dossier: also compare with it)");
  c.verify_dossier = c.verify->add_option("--dossier", c.dossier_file, "a dossier written by pioneer export");
  c.verify->add_option("--roles", c.roles_file, "roles configuration (JSON)");

  c.exp = app.add_subcommand("export", "导出实例档案 (one instance's dossier as JSON; read-only, runs while serving)");
  c.exp->add_option("--data", c.data, "data folder")->required();
  c.exp->add_option("--instance", c.instance_id, "instance id")->required();
  c.exp->add_option("--out", c.out_file, "file to write (default: standard output)");
  c.exp->add_option("--roles", c.roles_file, "roles configuration (JSON)");

  c.backup = app.add_subcommand("backup", "在线备份 (verified copy of a database while the server runs)");
  c.backup->add_option("--data", c.data, "data folder")->required();
  c.backup->add_option("--to", c.backup_dest, "new folder for the copy (must not exist)")->required();
  c.backup->add_option("--attempts", c.backup_attempts, "checkpoints to try before giving up (default 5)");
  c.backup->add_option("--roles", c.roles_file, "roles configuration (JSON)");

  c.reindex = app.add_subcommand("reindex", "重建索引 (rebuild index entries, timers and counters from the records; server stopped)");
  c.reindex->add_option("--data", c.data, "data folder")->required();
  c.reindex->add_option("--roles", c.roles_file, "roles configuration (JSON)");
}

void add_org(CLI::App& app, Cli& c) {
  auto* org = app.add_subcommand("org", "管理组织 (manage org units; server stopped)");
  org->require_subcommand(1);
  c.org_add = org->add_subcommand("add", "add or rename an org unit");
  c.org_add->add_option("--data", c.data, "data folder")->required();
  c.org_add->add_option("--id", c.org_id, "path, e.g. city/finance/b3")->required();
  c.org_add->add_option("--name", c.org_name, "name, e.g. 市财政局第三党支部")->required();
  c.org_add->add_option("--kind", c.org_kind, "department, branch, ...")->required();
  c.org_list = org->add_subcommand("list", "list the org tree");
  c.org_list->add_option("--data", c.data, "data folder")->required();
}

void add_user(CLI::App& app, Cli& c) {
  auto* user = app.add_subcommand("user", "管理用户 (manage users and tokens; server stopped)");
  user->require_subcommand(1);
  c.user_add = user->add_subcommand("add", "add or update a user and print a new token once");
  c.user_add->add_option("--data", c.data, "data folder")->required();
  c.user_add->add_option("--id", c.user_id, "user id, e.g. qian.feng")->required();
  c.user_add->add_option("--name", c.user_name, "name, e.g. 钱峰")->required();
  c.user_add->add_option("--home", c.user_home, "home org")->required();
  c.user_add->add_option("--role", c.grants, "ROLE@ORG, repeatable");
  c.user_add->add_option("--ttl-days", c.ttl_days, "token lifetime in days (0: no expiry)");
  c.user_token = user->add_subcommand("token", "issue another token for a user (printed once)");
  c.user_token->add_option("--data", c.data, "data folder")->required();
  c.user_token->add_option("--id", c.user_id, "user id")->required();
  c.user_token->add_option("--ttl-days", c.ttl_days, "token lifetime in days (0: no expiry)");
  c.user_revoke = user->add_subcommand(
      "revoke", "revoke every token of a user: --data with the server stopped, or --server while it runs");
  auto* revoke_data = c.user_revoke->add_option("--data", c.data, "data folder (server stopped)");
  auto* revoke_server = c.user_revoke->add_option("--server", c.server_url, "running server, http(s)://HOST:PORT");
  c.user_revoke->add_option("--ca", c.ca_file, "with an https:// server: PEM file of the CA (or the certificate) to trust")
      ->needs(revoke_server);
  c.user_revoke->add_option("--token", c.admin_token, "an administrator's token (with --server)");
  revoke_data->excludes(revoke_server);
  c.user_revoke->add_option("--id", c.user_id, "user id")->required();
  c.user_passwd = user->add_subcommand("passwd", "set a user's password, read from standard input (server stopped)");
  c.user_passwd->add_option("--data", c.data, "data folder")->required();
  c.user_passwd->add_option("--id", c.user_id, "user id")->required();
  c.user_list = user->add_subcommand("list", "list users and their roles");
  c.user_list->add_option("--data", c.data, "data folder")->required();
}

// Flags given on the command line win over the config file: apply the file to a copy of the
// defaults, then re-apply the flags that were given.
int run_serve(Cli& c) {
  if (!c.config_file.empty()) {
    api::ServerConfig merged;
    if (std::string err = api::apply_config_file(c.config_file, merged); !err.empty()) {
      std::cerr << "pioneer: " << err << "\n";
      return 1;
    }
    const api::ServerConfig& flags = c.server;
    auto given = [&](const char* flag) { return c.serve->count(flag) > 0; };
    if (given("--data")) merged.data_dir = flags.data_dir;
    if (given("--listen")) merged.listen = flags.listen;
    if (given("--demo")) merged.demo = flags.demo;
    if (given("--workflows")) merged.workflows_dir = flags.workflows_dir;
    if (given("--roles")) merged.roles_file = flags.roles_file;
    if (given("--tls-cert")) merged.tls_cert = flags.tls_cert;
    if (given("--tls-key")) merged.tls_key = flags.tls_key;
    if (given("--threads")) merged.threads = flags.threads;
    if (given("--hash")) merged.hash_algorithm = flags.hash_algorithm;
    if (given("--ws-send-buffer")) merged.ws_send_buffer = flags.ws_send_buffer;
    c.server = merged;
  }
  return api::serve(c.server);
}

// The server holds the database: ask it, so open streams of that user close at once.
int run_revoke_online(const Cli& c) {
  auto reply = api::revoke_user_tokens(c.server_url, c.admin_token, c.user_id, std::chrono::seconds(10), c.ca_file);
  if (!reply.error.empty()) {
    std::cerr << "pioneer: " << reply.error << "\n";
    return 1;
  }
  std::cout << reply.body << "\n";
  return reply.status == 200 ? 0 : 1;
}

int run_verify(const Cli& c) {
  if (c.verify_dossier->count()) return cmd_verify_dossier(c.dossier_file, c.verify_data->count() ? c.data : "", c.roles_file);
  if (!c.verify_data->count()) {
    std::cerr << "pioneer: verify 需要 --data DIR 或 --dossier FILE（verify needs --data DIR or --dossier FILE）\n";
    return 1;
  }
  return cmd_verify(c.data, c.roles_file);
}

int cmd_org_add(Engine& e, const Cli& c) {
  std::optional<Org> before;
  for (Org& o : e.orgs()) {
    if (o.id == c.org_id) before = std::move(o);
  }
  auto r = e.execute(Command{PutOrg{Org{c.org_id, c.org_name, c.org_kind, ""}}, Principal::system_principal(), {}, {}});
  if (!r) return report(r.error());
  std::cout << r->body.dump() << "\n";
  if (before) {
    std::cerr << "org add: 组织 " << c.org_id << " 已存在，已更新（existing org updated）: " << before->kind << " "
              << before->name << " -> " << c.org_kind << " " << c.org_name << "\n";
  }
  return 0;
}

std::string grants_text(const std::vector<RoleGrant>& gs) {
  std::string out;
  for (const RoleGrant& g : gs) out += (out.empty() ? "" : ", ") + g.role + "@" + g.org;
  return out.empty() ? std::string("-") : out;
}

int cmd_user_add(Engine& e, const Cli& c) {
  std::vector<RoleGrant> roles;
  for (const std::string& g : c.grants) {
    auto grant = parse_grant(g);
    if (!grant) {
      std::cerr << "pioneer: --role 应为 ROLE@ORG（--role must be ROLE@ORG）: " << g << "\n";
      return 1;
    }
    roles.push_back(*grant);
  }
  auto before = e.user(c.user_id);
  auto r = e.execute(Command{PutUser{c.user_id, c.user_name, c.user_home, roles}, Principal::system_principal(), {}, {}});
  if (!r) return report(r.error());
  if (before) {
    // Adding a user that exists replaces its name, home and roles: say so, with what it had.
    auto after = e.user(c.user_id);
    std::cerr << "user add: 用户 " << c.user_id << " 已存在，已替换其姓名、所在组织和角色，原有令牌仍然有效（existing user "
              << "updated; earlier tokens stay valid）: " << before->name << " " << before->home_org << " ["
              << grants_text(before->roles) << "] -> "
              << (after ? after->name + " " + after->home_org + " [" + grants_text(after->roles) + "]" : std::string("?"))
              << "\n";
  }
  return issue_token(e, c.user_id, c.ttl_days);
}

// org and user subcommands on the database (server stopped).
int run_directory(const Cli& c) {
  if ((*c.user_add || *c.user_token) && (c.ttl_days < 0 || c.ttl_days > 36500)) {
    std::cerr << "pioneer: --ttl-days 须为 0（不过期）到 36500 之间的整数（--ttl-days must be 0, no expiry, to 36500）\n";
    return 1;
  }
  // Only adding creates a database (in a folder that does not exist or is empty); listing,
  // issuing a token or revoking needs one.
  auto engine = open_engine(c.data, c.roles_file, /*may_create=*/*c.org_add || *c.user_add);
  if (!engine) return report(engine.error());
  Engine& e = **engine;
  if (*c.org_add) return cmd_org_add(e, c);
  if (*c.org_list) {
    for (const Org& o : e.orgs()) std::cout << o.id << "\t" << o.kind << "\t" << o.name << "\n";
    return 0;
  }
  if (*c.user_add) return cmd_user_add(e, c);
  if (*c.user_token) return issue_token(e, c.user_id, c.ttl_days);
  if (*c.user_passwd) return set_password(e, c.user_id);
  if (*c.user_revoke) {
    auto r = e.execute(Command{RevokeTokens{c.user_id}, Principal::system_principal(), {}, {}});
    if (!r) return report(r.error());
    std::cout << r->body.dump() << "\n";
    return 0;
  }
  if (*c.user_list) {
    for (const Principal& p : e.users()) {
      std::cout << p.id << "\t" << p.name << "\t" << p.home_org;
      for (const RoleGrant& g : p.roles) std::cout << "\t" << g.role << "@" << g.org;
      std::cout << "\n";
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  raise_open_file_limit();
  CLI::App app{"Pioneer — 机关党建工作流引擎 (workflow engine for party-building mechanisms)"};
  app.require_subcommand(1);
  Cli c;
  add_serve(app, c);
  add_database_tools(app, c);
  add_org(app, c);
  add_user(app, c);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own words are English: say first, in Chinese, what kind of mistake it is.
    std::cerr << "pioneer: 命令行参数有误，见 pioneer --help（bad command line arguments）\n";
    return app.exit(e);
  }
  if (*c.serve) return run_serve(c);
  if (*c.validate) return cmd_validate(c.files, c.roles_file);
  if (*c.user_revoke && !c.server_url.empty()) return run_revoke_online(c);
  if (*c.verify) return run_verify(c);
  if (*c.exp) return cmd_export(c.data, c.instance_id, c.out_file, c.roles_file);
  if (*c.backup) return cmd_backup(c.data, c.backup_dest, c.backup_attempts, c.roles_file);
  if (*c.reindex) return cmd_reindex(c.data, c.roles_file);
  return run_directory(c);
}
