// The provable-history tools: pioneer export / verify --dossier, and the online backup
// (pioneer backup) taken while another writer keeps committing.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/crypto.h"
#include "common/password.h"
#include "engine/audit/reindex.h"
#include "engine/audit/verify.h"
#include "engine/core/codec.h"
#include "engine/core/indexer.h"
#include "engine/core/spaces.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/engine/test_support.h"

namespace pioneer::testing {
namespace {

using engine::Command;

struct CliRun {
  int status = -1;  // exit code
  std::string out;  // stdout and stderr together
};

// Runs the real pioneer binary with these arguments (killed after `timeout_s` seconds when
// given: a serve that should have refused to start).
CliRun pioneer(const std::string& args, int timeout_s = 0) {
  CliRun r;
  const std::string command = (timeout_s > 0 ? "timeout " + std::to_string(timeout_s) + " " : std::string()) +
                              std::string(PIONEER_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// A yizhi-yixiang instance taken to `assigned` with an urge, interleaved with a second instance
// so that the first one's events are not adjacent in the global log. Returns the first id.
std::string make_history(EngineHarness& h) {
  auto a = h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", "档案甲"}, {"goal", "g"}, {"area", "service"}});
  EXPECT_TRUE(a.has_value());
  auto b = h.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", "档案乙"}, {"goal", "g"}, {"area", "service"}});
  EXPECT_TRUE(b.has_value());
  const std::string id = a->body["id"];
  const std::string other = b->body["id"];
  EXPECT_TRUE(h.fire("wang.wei", id, "issue").has_value());
  EXPECT_TRUE(h.fire("wang.wei", other, "issue").has_value());
  auto assigned = h.fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2027-03-31"}});
  EXPECT_TRUE(assigned.has_value()) << (assigned ? "" : assigned.error().message);
  EXPECT_TRUE(h.comment("li.na", id, "请尽快认领").has_value());
  return id;
}

// A closed database under tmp/db holding make_history's instances; returns its folder.
std::string database_with_history(const TempDir& tmp) {
  const std::string dir = tmp.path() + "/db";
  EngineHarness h(dir);
  make_history(h);
  h.close();
  return dir;
}

class DossierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    harness_ = std::make_unique<EngineHarness>(tmp_.path() + "/db");  // opens it
    id_ = make_history(*harness_);
    harness_->close();  // export opens read-only anyway; closed, the CLI sees everything flushed
    file_ = tmp_.path() + "/dossier.json";
    CliRun r = pioneer("export --data " + tmp_.path() + "/db --instance " + id_ + " --out " + file_);
    ASSERT_EQ(r.status, 0) << r.out;
    dossier_ = Json::parse(read_file(file_));
  }

  TempDir tmp_;
  std::unique_ptr<EngineHarness> harness_;
  std::string id_;
  std::string file_;
  Json dossier_;
};

TEST_F(DossierTest, ExportThenVerifyPassesOfflineAndAgainstTheDatabase) {
  EXPECT_EQ(dossier_["format"], "pioneer-dossier/1");
  EXPECT_EQ(dossier_["hash_algorithm"], "sha256");
  EXPECT_EQ(dossier_["instance"]["id"], id_);
  EXPECT_EQ(dossier_["definition"]["id"], "yizhi-yixiang");
  EXPECT_TRUE(dossier_["definition"]["source"].is_object());
  const Json& events = dossier_["events"];
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(dossier_["instance"]["version"], events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["instance_seq"], i + 1);
    EXPECT_EQ(events[i]["hash"].get<std::string>().size(), 64u);
    EXPECT_EQ(events[i]["prev_hash"].get<std::string>().size(), 64u);
  }
  // Chained after the event before it in the log (the demo directory's last one here).
  EXPECT_NE(events[0]["prev_hash"], std::string(64, '0'));

  CliRun offline = pioneer("verify --dossier " + file_);
  EXPECT_EQ(offline.status, 0) << offline.out;
  EXPECT_NE(offline.out.find("\"ok\": true"), std::string::npos) << offline.out;
  CliRun against = pioneer("verify --dossier " + file_ + " --data " + tmp_.path() + "/db");
  EXPECT_EQ(against.status, 0) << against.out;
}

TEST_F(DossierTest, OneEditedByteOfOneEventIsCaughtAndTheEventNamed) {
  // Change one byte of the last event (the urge): its actor id "li.na" becomes "li.nb".
  std::string text = read_file(file_);
  const Json& events = dossier_["events"];
  const Json& target = events[events.size() - 1];
  const uint64_t seq = target["seq"];
  const std::string needle = "\"seq\": " + std::to_string(seq) + ",";
  const size_t at = text.find(needle);
  ASSERT_NE(at, std::string::npos);
  // The event object opens before its first key; the actor's "id": "li.na" comes first in it
  // (keys are sorted), before "seq" — search the object's span for it.
  const size_t open = text.rfind("{\n      \"actor\"", at);
  ASSERT_NE(open, std::string::npos);
  const size_t li = text.find("\"li.na\"", open);
  ASSERT_NE(li, std::string::npos);
  ASSERT_LT(li, at);
  text[li + 5] = 'b';  // "li.nb"
  write_file(file_, text);

  CliRun r = pioneer("verify --dossier " + file_);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("事件 seq " + std::to_string(seq) + "（"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hash mismatch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("first bad event: seq " + std::to_string(seq)), std::string::npos) << r.out;
}

TEST_F(DossierTest, EveryOtherKindOfTamperingIsCaught) {
  ASSERT_TRUE(engine::verify_dossier(dossier_).ok);
  auto broken = [&](const std::function<void(Json&)>& edit) {
    Json d = dossier_;
    edit(d);
    return !engine::verify_dossier(d).ok;
  };
  // A middle event removed (and the version lowered to match): instance_seq has a gap.
  EXPECT_TRUE(broken([](Json& d) {
    d["events"].erase(1);
    d["instance"]["version"] = d["events"].size();
  }));
  // Two events swapped.
  EXPECT_TRUE(broken([](Json& d) { std::swap(d["events"][1], d["events"][2]); }));
  // The same meaning in other bytes: the time written with an offset (hash of the decoded
  // value would still match; the canonical-form check catches it).
  EXPECT_TRUE(broken([](Json& d) {
    const int64_t ms = *engine::parse_time(d["events"][0]["at"].get<std::string>());
    d["events"][0]["at"] = engine::format_time(ms).substr(0, 19) + "+00:00";
  }));
  // A key added to an event.
  EXPECT_TRUE(broken([](Json& d) { d["events"][0]["note"] = "x"; }));
  // An event re-hashed after the edit (a forger who recomputes the hash) but whose successor
  // in the global log is in the dossier: the chain to it breaks.
  EXPECT_TRUE(broken([](Json& d) {
    // events[0] and events[1] are global neighbours only if seq differs by one; find a pair.
    for (size_t i = 0; i + 1 < d["events"].size(); ++i) {
      if (d["events"][i + 1]["seq"].get<uint64_t>() == d["events"][i]["seq"].get<uint64_t>() + 1) {
        Json& e = d["events"][i];
        e["comment"] = "改过的";
        Json content = e;
        content.erase("hash");
        e["hash"] = *digest_hex("sha256", content.dump());
        return;
      }
    }
    d["events"][0]["seq"] = 0;  // no adjacent pair: make the test fail loudly instead
  }));
  // The instance's state rewritten.
  EXPECT_TRUE(broken([](Json& d) { d["instance"]["state"] = "completed"; }));
  // Another definition version claimed.
  EXPECT_TRUE(broken([](Json& d) { d["definition"]["version"] = 99; }));
  // An event of another instance slipped in.
  EXPECT_TRUE(broken([](Json& d) { d["events"][1]["instance_id"] = "01OTHER"; }));
  // Malformed shapes are problems, never crashes.
  EXPECT_TRUE(broken([](Json& d) { d["events"] = 3; }));
  EXPECT_TRUE(broken([](Json& d) { d["events"][0] = Json::array(); }));
  EXPECT_TRUE(broken([](Json& d) { d["events"][0].erase("hash"); }));
  EXPECT_TRUE(broken([](Json& d) { d = Json("x"); }));
}

TEST_F(DossierTest, DroppingTheNewestEventsPassesOfflineButNotAgainstTheDatabase) {
  // The documented limit of an offline check: the newest event removed together with the
  // version lowered is consistent on its own. Checked against the database, it is not.
  Json d = dossier_;
  d["events"].erase(d["events"].size() - 1);
  d["instance"]["version"] = d["events"].size();
  d["instance"]["state"] = d["events"].back()["to"].is_string() ? d["events"].back()["to"] : d["instance"]["state"];
  const auto offline = engine::verify_dossier(d);
  EXPECT_TRUE(offline.ok) << Json(offline.problems).dump();

  storage::StoreOptions ro;
  ro.read_only = true;
  ro.create_if_missing = false;
  auto store = storage::Store::open(tmp_.path() + "/db", engine::store_layout(), ro);
  ASSERT_OK(store);
  auto against = engine::verify_dossier_against_store(d, **store);
  ASSERT_OK(against);
  EXPECT_FALSE(against->ok);
}

// The snapshot and the definition are outside the hash chain: against the database, an edited
// title or definition is caught.
TEST_F(DossierTest, AnEditedSnapshotOrDefinitionIsCaughtAgainstTheDatabase) {
  CliRun clean = pioneer("verify --dossier " + file_ + " --data " + tmp_.path() + "/db");
  EXPECT_EQ(clean.status, 0) << clean.out;
  for (const char* pointer : {"/instance/fields/title", "/instance/title", "/definition/source/title/zh"}) {
    Json d = dossier_;
    d[Json::json_pointer(pointer)] = "篡改";
    write_file(tmp_.path() + "/edited.json", d.dump(2));
    CliRun r = pioneer("verify --dossier " + tmp_.path() + "/edited.json --data " + tmp_.path() + "/db");
    EXPECT_EQ(r.status, 2) << pointer << ": " << r.out;
    EXPECT_NE(r.out.find("differs from the database"), std::string::npos) << pointer << ": " << r.out;
  }
}

TEST(Verify, AStoredEventRewrittenInOtherBytesWithTheSameMeaningIsCaught) {
  TempDir tmp;
  const std::string dir = database_with_history(tmp);
  uint64_t seq = 3;
  {
    auto store = storage::Store::open(dir, engine::store_layout());
    ASSERT_OK(store);
    auto bytes = (*store)->get(engine::Space::kEvents, storage::u64_key(seq));
    ASSERT_OK(bytes);
    ASSERT_TRUE(bytes->has_value());
    Json j = Json::parse(**bytes);
    j["x_note"] = "added";  // decode ignores it, so the recomputed hash still matches
    storage::Batch b;
    b.put(engine::Space::kEvents, storage::u64_key(seq), j.dump());
    ASSERT_OK((*store)->commit(b));
  }
  CliRun r = pioneer("verify --data " + dir);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("first bad event: 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("canonical"), std::string::npos) << r.out;
}

// pioneer reindex repairs damage to the derived families that verify reports, refuses while
// another process holds the database, and says when damage outside them remains.
TEST(Reindex, TheCommandLineRepairsWhatVerifyReports) {
  TempDir tmp;
  const std::string dir = database_with_history(tmp);
  {
    auto store = storage::Store::open(dir, engine::store_layout());
    ASSERT_OK(store);
    storage::Batch b;
    auto first = (*store)->scan_prefix(engine::Space::kIndexes, "");
    ASSERT_TRUE(first->valid());
    b.single_del(engine::Space::kIndexes, std::string(first->key()));
    b.put(engine::Space::kIndexes, storage::KeyBuilder().text("o").org("city").text("01NOSUCHINSTANCE0000000000").build(), "o");
    ASSERT_OK((*store)->commit(b));
  }
  EXPECT_EQ(pioneer("verify --data " + dir).status, 2);
  {
    auto held = storage::Store::open(dir, engine::store_layout());  // as a running server would
    ASSERT_OK(held);
    CliRun refused = pioneer("reindex --data " + dir);
    EXPECT_NE(refused.status, 0) << refused.out;
    EXPECT_NE(refused.out.find("已被占用"), std::string::npos) << refused.out;
  }
  CliRun r = pioneer("reindex --data " + dir);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("删除多余索引项 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reindex: 2/4 "), std::string::npos) << r.out;  // says what it is doing
  EXPECT_NE(r.out.find("reindex: 4/4 "), std::string::npos) << r.out;
  EXPECT_EQ(pioneer("verify --data " + dir).status, 0);
  {
    auto store = storage::Store::open(dir, engine::store_layout());
    ASSERT_OK(store);
    storage::Batch b;
    b.del(engine::Space::kInstanceEvents, engine::index::history_key(std::string(engine::index::id_of(
        std::string((*store)->scan_prefix(engine::Space::kIndexes, "")->key()))), 1));
    ASSERT_OK((*store)->commit(b));
  }
  CliRun remains = pioneer("reindex --data " + dir);
  EXPECT_EQ(remains.status, 2) << remains.out;
  EXPECT_NE(remains.out.find("problems remain"), std::string::npos) << remains.out;
}

TEST(Verify, NeedsDataOrDossier) {
  CliRun r = pioneer("verify");
  EXPECT_NE(r.status, 0);
  CliRun missing = pioneer("verify --dossier /nonexistent/dossier.json");
  EXPECT_NE(missing.status, 0);
}

// What an operator mistypes is refused with a message and an exit code: no abort, no database
// created where none was meant, nothing half-done.
TEST(Cli, BadPathsAndValuesAreRefusedWithoutCrashOrCreation) {
  TempDir tmp;
  namespace fs = std::filesystem;
  // A folder where a file is expected: validate, --roles.
  CliRun folder = pioneer("validate " + tmp.path());
  EXPECT_EQ(folder.status, 1) << folder.out;
  EXPECT_NE(folder.out.find("cannot read"), std::string::npos) << folder.out;
  CliRun roles = pioneer("verify --data " + tmp.path() + "/nothing --roles " + tmp.path());
  EXPECT_EQ(roles.status, 1) << roles.out;
  // Commands that read or change an existing database do not create one.
  const std::string missing = tmp.path() + "/typo";
  for (const std::string& args : {"org list --data " + missing, "user list --data " + missing,
                                  "user token --data " + missing + " --id bob", "user revoke --data " + missing + " --id bob",
                                  "reindex --data " + missing}) {
    CliRun r = pioneer(args);
    EXPECT_NE(r.status, 0) << args << ": " << r.out;
    EXPECT_NE(r.out.find("no database"), std::string::npos) << args << ": " << r.out;
    EXPECT_FALSE(fs::exists(missing)) << args << " created " << missing;
  }
  const std::string empty = tmp.path() + "/empty";
  fs::create_directory(empty);
  EXPECT_NE(pioneer("user list --data " + empty).status, 0);
  EXPECT_TRUE(fs::is_empty(empty));
  // A token lifetime out of range changes nothing.
  CliRun ttl = pioneer("user add --data " + tmp.path() + "/new --id bob --name 鲍勃 --home city --ttl-days -1");
  EXPECT_EQ(ttl.status, 1) << ttl.out;
  EXPECT_FALSE(fs::exists(tmp.path() + "/new"));
  // A dossier nested 100,000 deep is refused before it is parsed (it crashed the checks).
  write_file(tmp.path() + "/deep.json", "{\"events\":" + std::string(100000, '[') + std::string(100000, ']') + "}");
  CliRun deep = pioneer("verify --dossier " + tmp.path() + "/deep.json");
  EXPECT_EQ(deep.status, 2) << deep.out.substr(0, 300);
  EXPECT_NE(deep.out.find("deeper than 64"), std::string::npos) << deep.out.substr(0, 300);
}

// Names that would break the listings (a tab, a newline) or that are not UTF-8 (the record is
// JSON: the writer threw and the program aborted) are refused; adding what exists says so.
TEST(Cli, NamesAreCheckedAndUpdatesAreAnnounced) {
  TempDir tmp;
  const std::string data = "--data " + tmp.path() + "/db";
  ASSERT_EQ(pioneer("org add " + data + " --id city --name 市委 --kind department").status, 0);
  for (const std::string& name : {std::string("\"$(printf '\\377\\376')\""), std::string("\"$(printf 'a\\tb')\""),
                                  std::string("\"$(printf 'a\\nb')\"")}) {
    CliRun org = pioneer("org add " + data + " --id city/x --name " + name + " --kind department");
    EXPECT_EQ(org.status, 1) << name << ": " << org.out;
    EXPECT_NE(org.out.find("\"field\": \"name\""), std::string::npos) << name << ": " << org.out;
    EXPECT_NE(org.out.find("组织名称"), std::string::npos) << name << ": " << org.out;
    CliRun user = pioneer("user add " + data + " --id bob --name " + name + " --home city");
    EXPECT_EQ(user.status, 1) << name << ": " << user.out;
  }
  EXPECT_EQ(pioneer("org list " + data).out, "city\tdepartment\t市委\n");
  EXPECT_EQ(pioneer("user list " + data).out, "");

  // A grant named twice is held once; adding the user again replaces its roles, and says so.
  CliRun added = pioneer("user add " + data + " --id bob --name 鲍勃 --home city --role admin@city --role admin@city");
  ASSERT_EQ(added.status, 0) << added.out;
  EXPECT_EQ(added.out.find("已存在"), std::string::npos) << added.out;
  EXPECT_EQ(pioneer("user list " + data).out, "bob\t鲍勃\tcity\tadmin@city\n");
  CliRun again = pioneer("user add " + data + " --id bob --name 鲍勃 --home city --role party_group@city");
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("已存在"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("[admin@city] -> 鲍勃 city [party_group@city]"), std::string::npos) << again.out;
  CliRun renamed = pioneer("org add " + data + " --id city --name 市直机关 --kind department");
  ASSERT_EQ(renamed.status, 0) << renamed.out;
  EXPECT_NE(renamed.out.find("department 市委 -> department 市直机关"), std::string::npos) << renamed.out;
}

// The tree has one root: a second org without a parent is refused, by the CLI as by the API
// (its administrator would otherwise have counted as the administrator of everything).
TEST(Cli, ASecondRootOrgIsRefused) {
  TempDir tmp;
  const std::string data = "--data " + tmp.path() + "/db";
  ASSERT_EQ(pioneer("org add " + data + " --id city --name 市委 --kind city").status, 0);
  CliRun second = pioneer("org add " + data + " --id other --name 另一个根 --kind city");
  EXPECT_EQ(second.status, 1) << second.out;
  EXPECT_NE(second.out.find("second_root"), std::string::npos) << second.out;
  EXPECT_EQ(pioneer("org list " + data).out, "city\tcity\t市委\n");
}

// `user passwd` reads the password from standard input, refuses a short one, and the password
// then logs in (checked against the stored Argon2id hash by opening the database again).
TEST(Cli, UserPasswdSetsAPasswordFromStandardInput) {
  TempDir tmp;
  const std::string data = "--data " + tmp.path() + "/db";
  ASSERT_EQ(pioneer("org add " + data + " --id city --name 市委 --kind city").status, 0);
  ASSERT_EQ(pioneer("user add " + data + " --id bob --name 鲍勃 --home city").status, 0);
  std::ofstream(tmp.path() + "/short") << "short\n";
  std::ofstream(tmp.path() + "/good") << "a-good-password-1\n";
  CliRun too_short = pioneer("user passwd " + data + " --id bob < " + tmp.path() + "/short");
  EXPECT_EQ(too_short.status, 1) << too_short.out;
  EXPECT_EQ(pioneer("user passwd " + data + " --id nobody < " + tmp.path() + "/good").status, 1);
  CliRun set = pioneer("user passwd " + data + " --id bob < " + tmp.path() + "/good");
  ASSERT_EQ(set.status, 0) << set.out;
  EXPECT_EQ(set.out.find("argon2"), std::string::npos) << set.out;
  engine::EngineOptions options;
  options.data_dir = tmp.path() + "/db";
  options.create_if_missing = false;
  auto opened = engine::Engine::open(options);
  ASSERT_TRUE(opened.has_value());
  auto hash = (*opened)->password_hash("bob");
  ASSERT_TRUE(hash.has_value());
  EXPECT_TRUE(verify_password(*hash, "a-good-password-1"));
  EXPECT_FALSE(verify_password(*hash, "short"));
}

// serve checks what it can before it opens, or creates, the database: bad workflow files and an
// address in use leave no database behind.
TEST(Cli, ServeCreatesNothingWhenItCannotStart) {
  TempDir tmp;
  namespace fs = std::filesystem;
  const std::string data = tmp.path() + "/new";
  CliRun no_workflows = pioneer("serve --data " + data + " --listen 127.0.0.1:0 --workflows " + tmp.path() + "/nope", 20);
  EXPECT_EQ(no_workflows.status, 1) << no_workflows.out;
  EXPECT_FALSE(fs::exists(data));

  const int held = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(held, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(held, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(held, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(held, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  CliRun in_use = pioneer("serve --data " + data + " --listen 127.0.0.1:" + port + " --workflows " +
                              source_path("workflows"), 20);
  ::close(held);
  EXPECT_EQ(in_use.status, 1) << in_use.out;
  EXPECT_NE(in_use.out.find("cannot listen"), std::string::npos) << in_use.out;
  EXPECT_FALSE(fs::exists(data));
}

TEST(Verify, AnInterruptedReindexIsNotIntact) {
  TempDir tmp;
  const std::string dir = database_with_history(tmp);
  EXPECT_EQ(pioneer("verify --data " + dir).status, 0);
  {
    auto store = storage::Store::open(dir, engine::store_layout());
    ASSERT_OK(store);
    storage::Batch b;
    b.put(engine::Space::kMeta, engine::kReindexPendingKey, "1");
    ASSERT_OK((*store)->commit(b));
  }
  CliRun r = pioneer("verify --data " + dir);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("reindex was interrupted"), std::string::npos) << r.out;
  CliRun backup = pioneer("backup --data " + dir + " --to " + tmp.path() + "/copy --attempts 1");
  EXPECT_NE(backup.status, 0) << backup.out;
}

TEST(Backup, RefusesADestinationInsideTheDataFolder) {
  TempDir tmp;
  const std::string dir = database_with_history(tmp);
  CliRun r = pioneer("backup --data " + dir + " --to " + dir + "/copy");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("inside the data folder"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir + "/copy"));
}

// ---- online backup ----

// Writes through an Engine from two threads until told to stop, remembering what was
// acknowledged (instance -> highest acknowledged version).
class Writer {
 public:
  explicit Writer(engine::Engine& e) : e_(e) {
    for (int t = 0; t < 2; ++t) threads_.emplace_back([this, t] { run(t); });
  }
  ~Writer() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& th : threads_) {
      if (th.joinable()) th.join();
    }
  }
  std::map<std::string, int64_t> acknowledged() {
    std::lock_guard lock(mu_);
    return acked_;
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return acks_;
  }

 private:
  void ack(const std::string& id, int64_t v) {
    std::lock_guard lock(mu_);
    int64_t& have = acked_[id];
    have = std::max(have, v);
    ++acks_;
  }
  void run(int t) {
    auto party = e_.user("wang.wei");
    auto committee = e_.user("li.na");
    if (!party || !committee) return;
    for (int i = 0; !stop_; ++i) {
      auto created = e_.execute(Command{engine::CreateInstance{"yizhi-yixiang", "city/finance",
                                                               {{"title", "备份" + std::to_string(t) + "-" + std::to_string(i)},
                                                                {"goal", "g"}, {"area", "service"}},
                                                               std::nullopt},
                                        *party, {}, {}});
      if (!created) continue;
      const std::string id = created->body["id"];
      ack(id, created->body["version"]);
      auto issued = e_.execute(Command{engine::FireTransition{id, "issue", Json::object(), std::nullopt, std::nullopt}, *party, {}, {}});
      if (issued) ack(id, issued->body["version"]);
      auto urged = e_.execute(Command{engine::AddComment{id, "备份中"}, *committee, {}, {}});
      if (urged) ack(id, urged->body["version"]);
    }
  }

  engine::Engine& e_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<std::string, int64_t> acked_;
  size_t acks_ = 0;
  std::vector<std::thread> threads_;
};

// Opens an engine on the copy, checks every write acknowledged before the backup began, and
// that the copy takes new writes (restore = serving from the copy).
void expect_restorable(const std::string& copy, const std::map<std::string, int64_t>& before) {
  EngineHarness restored(copy);
  engine::Engine& e = restored.engine();
  const engine::Principal party = restored.user("wang.wei");
  for (const auto& [id, version] : before) {
    auto in = e.instance(party, id);
    ASSERT_OK(in);
    EXPECT_GE(in->version, version) << id;
  }
  auto fresh = restored.create("wang.wei", "yizhi-yixiang", "city/finance", {{"title", "恢复后新建"}, {"goal", "g"}, {"area", "service"}});
  ASSERT_OK(fresh);
  restored.close();
  storage::StoreOptions ro;
  ro.read_only = true;
  ro.create_if_missing = false;
  auto store = storage::Store::open(copy, engine::store_layout(), ro);
  ASSERT_OK(store);
  auto report = engine::verify_store(**store, engine::RoleCatalog::defaults());
  ASSERT_OK(report);
  EXPECT_TRUE(report->ok) << report->to_json().dump();
}

TEST(Backup, UnderWriteLoadInTheSameProcessCopiesAVerifiedDatabaseThatServes) {
  // RocksDB's read-only open takes no LOCK, so it succeeds even in the process that holds the
  // database open for writing; the writer keeps committing throughout.
  TempDir tmp;
  const std::string dir = tmp.path() + "/db";
  EngineHarness h(dir);
  Writer writer(h.engine());
  while (writer.count() < 50) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (int round = 0; round < 3; ++round) {
    const auto before = writer.acknowledged();
    const std::string copy = tmp.path() + "/copy" + std::to_string(round);
    std::vector<std::string> log;
    auto result = engine::backup_store(dir, copy, engine::RoleCatalog::defaults(), 5,
                                       [&](const std::string& line) { log.push_back(line); });
    ASSERT_OK(result);
    EXPECT_TRUE(result->verified.ok);
    EXPECT_GT(result->verified.events_checked, 0u);
    // The writer was not stopped by the backup: it goes on committing.
    const size_t during = writer.count();
    for (int i = 0; i < 500 && writer.count() == during; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_GT(writer.count(), during);
    expect_restorable(copy, before);
  }
  writer.stop();
  h.close();
}

TEST(Backup, TheCommandLineCopiesWhileAnotherProcessHoldsTheDatabase) {
  // pioneer backup runs in its own process while this one writes, like a backup of a server.
  TempDir tmp;
  const std::string dir = tmp.path() + "/db";
  EngineHarness h(dir);
  Writer writer(h.engine());
  while (writer.count() < 50) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto before = writer.acknowledged();
  CliRun r = pioneer("backup --data " + dir + " --to " + tmp.path() + "/copy");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("verified"), std::string::npos) << r.out;
  // A second backup to the same place is refused, and leaves the first copy alone.
  CliRun again = pioneer("backup --data " + dir + " --to " + tmp.path() + "/copy");
  EXPECT_NE(again.status, 0) << again.out;
  writer.stop();
  h.close();
  expect_restorable(tmp.path() + "/copy", before);
}

}  // namespace
}  // namespace pioneer::testing
