// Administration on the engine over a real RocksDB store: migrating running instances,
// the reach of a department's administrator, definition versions, users and tokens.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "common/crypto.h"
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

// docs/definitions.md "Versions": moving a running instance to a new version is an explicit, checked
// operation with the state mapping given. Version 2 renames in_progress to leading and adds a
// field; the instance keeps its history, its to-do entries and timers follow the new version,
// and verify passes before and after a restart.
TEST(Administration, AnAdministratorMovesARunningInstanceToANewVersion) {
  EngineHarness h;
  const engine::Principal admin = h.user("admin");
  const std::string id = assigned_project(h, "迁移到新版本");  // due 2027-03-31
  ASSERT_OK(h.fire("zhang.min", id, "claim"));
  const std::string closed = new_project(h, "已撤回");
  ASSERT_OK(h.fire("wang.wei", closed, "withdraw", Json::object(), "不再办理"));
  auto def = h.engine().definition("yizhi-yixiang");
  ASSERT_OK(def);
  std::string text = (*def)->source.dump();
  for (size_t p = text.find("\"in_progress\""); p != std::string::npos; p = text.find("\"in_progress\"", p)) {
    text.replace(p, 13, "\"leading\"");
  }
  Json v2 = Json::parse(text);
  v2["fields"]["summary"] = {{"type", "text"}, {"label", {{"zh", "小结"}}}};
  ASSERT_OK(h.engine().execute(Command{engine::RegisterDefinition{v2}, admin, {}, {}}));
  auto migrate = [&](const engine::Principal& who, const std::string& instance, int version,
                     std::map<std::string, std::string> states, std::optional<int64_t> expected = {}) {
    return h.engine().execute(Command{engine::MigrateInstance{instance, version, std::move(states), "按新版本办理", expected}, who, {}, {}});
  };

  // Refusals change nothing.
  const auto before = h.snapshot();
  ASSERT_CODE(migrate(h.user("wang.wei"), id, 2, {{"in_progress", "leading"}}), Code::kForbidden);
  ASSERT_CODE(migrate(admin, id, 2, {}), Code::kInvalidField);  // version 2 has no in_progress
  ASSERT_CODE(migrate(admin, id, 2, {{"in_progress", "closed"}}), Code::kInvalidField);  // terminal
  ASSERT_CODE(migrate(admin, id, 3, {{"in_progress", "leading"}}), Code::kInvalidField);  // no such version
  ASSERT_CODE(migrate(admin, id, 1, {}), Code::kInvalidField);                           // already there
  ASSERT_CODE(migrate(admin, id, 1, {}, 1), Code::kVersionConflict);                     // stale first, as for transitions
  ASSERT_CODE(migrate(admin, id, 2, {{"in_progress", "leading"}}, 1), Code::kVersionConflict);
  ASSERT_CODE(migrate(admin, closed, 2, {}), Code::kTransitionNotAllowed);
  ASSERT_CODE(migrate(admin, "01NOSUCHINSTANCE0000000000", 2, {}), Code::kNotFound);
  EXPECT_EQ(h.snapshot(), before);

  auto moved = migrate(admin, id, 2, {{"in_progress", "leading"}});
  ASSERT_OK(moved);
  EXPECT_EQ(moved->body["workflow_version"], 2) << moved->body;
  EXPECT_EQ(moved->body["state"], "leading");
  auto events = h.engine().history(admin, id);
  ASSERT_OK(events);
  const engine::Event& last = events->back();
  EXPECT_EQ(last.type, "migrated");
  EXPECT_EQ(last.from, "in_progress");
  EXPECT_EQ(last.to, "leading");
  EXPECT_EQ(last.changes, (Json{{"workflow_version", 2}, {"previous_version", 1}}));
  EXPECT_EQ(last.comment, "按新版本办理");

  // The work goes on under version 2: its new field, its to-do list, its timers.
  ASSERT_OK(h.fire("zhang.min", id, "report_progress", {{"progress", "p"}, {"percent", 50}}));
  auto tasks = h.engine().tasks(h.user("zhang.min"), 50, "");
  ASSERT_OK(tasks);
  ASSERT_EQ(tasks->items.size(), 1u);
  EXPECT_EQ(tasks->items[0]["state"], "leading");
  auto verified = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(verified);
  EXPECT_TRUE(verified->ok) << verified->to_json().dump();
  h.reopen();
  auto view = h.engine().instance_view(admin, id);
  ASSERT_OK(view);
  EXPECT_EQ((*view)["workflow_version"], 2);
  h.advance(200 * kDayMs);  // past 2027-03-31: the overdue timer of "leading" fires
  view = h.engine().instance_view(admin, id);
  ASSERT_OK(view);
  EXPECT_EQ((*view)["overdue"], true) << *view;
  // Back to version 1: the reminder and the overdue mark that fired do not fire again.
  auto count_timer_events = [&] {
    auto all = h.engine().history(admin, id);
    EXPECT_TRUE(all.has_value());
    return all ? std::count_if(all->begin(), all->end(), [](const engine::Event& e) { return e.type == "reminded" || e.type == "overdue"; })
               : 0;
  };
  const auto fired_before = count_timer_events();
  EXPECT_EQ(fired_before, 2);
  ASSERT_OK(migrate(admin, id, 1, {{"leading", "in_progress"}}));
  h.advance(kDayMs);
  EXPECT_EQ(count_timer_events(), fired_before);
  // The dossier carries the versions its events were made under, and proves intact.
  auto dossier = engine::export_dossier(h.engine().store(), h.engine().roles(), id);
  ASSERT_OK(dossier);
  EXPECT_EQ((*dossier)["definition"]["version"], 1);
  ASSERT_EQ((*dossier)["earlier_definitions"].size(), 2u);
  EXPECT_EQ((*dossier)["earlier_definitions"][0]["version"], 1);
  EXPECT_EQ((*dossier)["earlier_definitions"][1]["version"], 2);
  EXPECT_TRUE((*dossier)["earlier_definitions"][1]["source"]["states"].contains("leading"));
  EXPECT_TRUE(engine::verify_dossier(*dossier).ok);
  auto against = engine::verify_dossier_against_store(*dossier, h.engine().store(), h.engine().roles());
  ASSERT_OK(against);
  EXPECT_TRUE(against->ok) << against->to_json().dump();
  // Offline, the list must be the versions the hash-chained migrated events name.
  Json dropped = *dossier;
  dropped.erase("earlier_definitions");
  EXPECT_FALSE(engine::verify_dossier(dropped).ok);
  Json swapped = *dossier;
  std::swap(swapped["earlier_definitions"][0], swapped["earlier_definitions"][1]);
  EXPECT_FALSE(engine::verify_dossier(swapped).ok);
  Json edited = *dossier;
  edited["earlier_definitions"][1]["source"]["title"]["zh"] = "篡改";
  against = engine::verify_dossier_against_store(edited, h.engine().store(), h.engine().roles());
  ASSERT_OK(against);
  EXPECT_FALSE(against->ok);
  verified = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(verified);
  EXPECT_TRUE(verified->ok) << verified->to_json().dump();
}

// An administrator of one department (admin@city/education: the CLI may grant it) acts within
// it: revokes the tokens of its people, moves its instances; definitions belong to the whole
// tree, and so do the other departments.
TEST(Administration, ADepartmentAdministratorActsWithinItsDepartmentOnly) {
  EngineHarness h;
  const engine::Principal system = engine::Principal::system_principal();
  ASSERT_OK(h.engine().execute(
      Command{engine::PutUser{"edu.admin", "教育局管理员", "city/education", {{"admin", "city/education"}}}, system, {}, {}}));
  const engine::Principal edu = h.user("edu.admin");
  auto def = h.engine().definition("yizhi-yixiang");
  ASSERT_OK(def);
  Json changed = (*def)->source;
  changed["title"]["zh"] = "一支一项（教育局改）";
  ASSERT_CODE(h.engine().execute(Command{engine::RegisterDefinition{changed}, edu, {}, {}}), Code::kForbidden);
  // Finance is out of its sight: answered like a person who does not exist.
  ASSERT_CODE(h.engine().execute(Command{engine::RevokeTokens{"li.na"}, edu, {}, {}}), Code::kNotFound);
  ASSERT_CODE(h.engine().execute(Command{engine::RevokeTokens{"no.such.user"}, edu, {}, {}}), Code::kNotFound);
  ASSERT_OK(h.engine().execute(Command{engine::RevokeTokens{"chen.jie"}, edu, {}, {}}));       // education
  // The administrator of the whole tree still does all of it.
  ASSERT_OK(h.engine().execute(Command{engine::RegisterDefinition{changed}, h.user("admin"), {}, {}}));
  ASSERT_OK(h.engine().execute(Command{engine::RevokeTokens{"li.na"}, h.user("admin"), {}, {}}));
  // Migrating: another department's instance is not even visible to it.
  const std::string finance = new_project(h, "财政局的项目");
  ASSERT_CODE(h.engine().execute(Command{engine::MigrateInstance{finance, 2, {}, {}, {}}, edu, {}, {}}), Code::kNotFound);
  const std::string education = new_project(h, "教育局的项目", "city/education", "chen.jie");
  auto moved = h.engine().execute(Command{engine::MigrateInstance{education, 2, {}, {}, {}}, edu, {}, {}});
  ASSERT_CODE(moved, Code::kInvalidField);  // it was created on version 2: it may be seen and tried
}

TEST(Administration, RegisteringAChangedDefinitionMakesANewVersionAndInstancesKeepTheirs) {
  EngineHarness h;
  const std::string old_id = new_project(h, "老版本");
  auto def = h.engine().definition("yizhi-yixiang");
  ASSERT_OK(def);
  Json changed = (*def)->source;
  changed["states"]["draft"]["label"]["zh"] = "起草";
  const engine::Principal admin = h.user("admin");
  auto reg = h.engine().execute(Command{engine::RegisterDefinition{changed}, admin, {}, {}});
  ASSERT_OK(reg);
  EXPECT_EQ(reg->status, 201);
  EXPECT_EQ(reg->body["version"], 2);
  // The same content again is no new version.
  auto same = h.engine().execute(Command{engine::RegisterDefinition{changed}, admin, {}, {}});
  ASSERT_OK(same);
  EXPECT_EQ(same->body["version"], 2);
  EXPECT_EQ(same->body["registered"], false);
  ASSERT_CODE(h.engine().execute(Command{engine::RegisterDefinition{changed}, h.user("wang.wei"), {}, {}}),
              Code::kForbidden);
  Json broken = changed;
  broken["create"]["to"] = "nowhere";
  ASSERT_CODE(h.engine().execute(Command{engine::RegisterDefinition{broken}, admin, {}, {}}), Code::kInvalidDefinition);
  const std::string new_id = new_project(h, "新版本");
  auto old_view = h.engine().instance_view(admin, old_id);
  auto new_view = h.engine().instance_view(admin, new_id);
  ASSERT_OK(old_view);
  ASSERT_OK(new_view);
  EXPECT_EQ((*old_view)["workflow_version"], 1);
  EXPECT_EQ((*old_view)["state_label"]["zh"], "草拟");
  EXPECT_EQ((*new_view)["workflow_version"], 2);
  EXPECT_EQ((*new_view)["state_label"]["zh"], "起草");
  h.reopen();  // versions persist; the harness loads workflows/ again, as serve --workflows does
  auto after = h.engine().instance_view(admin, old_id);
  ASSERT_OK(after);
  EXPECT_EQ((*after)["state_label"]["zh"], "草拟");
  // The shipped file equals version 1: it does not come back as version 3 over the registered 2.
  auto latest = h.engine().definition("yizhi-yixiang");
  ASSERT_OK(latest);
  EXPECT_EQ((*latest)->version, 2);
  const std::string newest_id = new_project(h, "重启之后");
  auto newest = h.engine().instance_view(admin, newest_id);
  ASSERT_OK(newest);
  EXPECT_EQ((*newest)["workflow_version"], 2);
}

TEST(Administration, TheSystemsUserIdIsReserved) {
  EngineHarness h;
  const engine::Principal system = engine::Principal::system_principal();
  auto r = h.engine().execute(Command{engine::PutUser{"system", "冒名", "city", {}}, system, {}, {}});
  ASSERT_CODE(r, Code::kInvalidField);
  EXPECT_NE(r.error().message.find("reserved"), std::string::npos) << r.error().message;
  ASSERT_CODE(h.engine().user("system"), Code::kNotFound);
}

TEST(Administration, TokensAuthenticateUntilRevoked) {
  EngineHarness h;
  const std::string token = new_token();
  const engine::Principal system = engine::Principal::system_principal();
  ASSERT_OK(h.engine().execute(Command{engine::IssueToken{"li.na", sha256_hex(token), 0}, system, {}, {}}));
  auto who = h.engine().authenticate(token);
  ASSERT_OK(who);
  EXPECT_EQ(who->id, "li.na");
  ASSERT_CODE(h.engine().authenticate(token + "x"), Code::kUnauthenticated);
  ASSERT_CODE(h.engine().authenticate(""), Code::kUnauthenticated);
  const std::string expiring = new_token();
  ASSERT_OK(h.engine().execute(
      Command{engine::IssueToken{"li.na", sha256_hex(expiring), h.clock().now_ms() + kDayMs}, system, {}, {}}));
  ASSERT_OK(h.engine().authenticate(expiring));
  h.clock().advance(kDayMs);
  ASSERT_CODE(h.engine().authenticate(expiring), Code::kUnauthenticated);
  ASSERT_OK(h.engine().execute(Command{engine::RevokeTokens{"li.na"}, system, {}, {}}));
  ASSERT_CODE(h.engine().authenticate(token), Code::kUnauthenticated);
  h.reopen();
  ASSERT_CODE(h.engine().authenticate(token), Code::kUnauthenticated);
}

// A session's credential (the token's hash) is checked again for free only while nothing the
// answer depends on changed: any org, user or token change, or the token's expiry, sends it
// back to the directory.
TEST(Administration, ACredentialNeedsNoLookupUntilSomethingItDependsOnChanges) {
  EngineHarness h;
  const engine::Principal system = engine::Principal::system_principal();
  const std::string token = new_token();
  ASSERT_OK(h.engine().execute(
      Command{engine::IssueToken{"li.na", sha256_hex(token), h.clock().now_ms() + kDayMs}, system, {}, {}}));
  engine::Engine::Credential c = engine::Engine::credential(token);
  EXPECT_EQ(c.token_hash, sha256_hex(token));
  EXPECT_FALSE(h.engine().still_authenticated(c));  // never checked
  auto who = h.engine().authenticate(c);
  ASSERT_OK(who);
  EXPECT_EQ(who->id, "li.na");
  EXPECT_TRUE(h.engine().still_authenticated(c));

  // Another user's token: the directory changed, so the next check looks again (and passes).
  ASSERT_OK(h.engine().execute(Command{engine::IssueToken{"wang.wei", sha256_hex(new_token()), 0}, system, {}, {}}));
  EXPECT_FALSE(h.engine().still_authenticated(c));
  ASSERT_OK(h.engine().authenticate(c));
  EXPECT_TRUE(h.engine().still_authenticated(c));

  // The user's roles change: the new ones come back from the next check.
  auto before = h.engine().user("li.na");
  ASSERT_OK(before);
  ASSERT_OK(h.engine().execute(
      Command{engine::PutUser{"li.na", before->name, before->home_org, {{"party_group", "city"}}}, system, {}, {}}));
  EXPECT_FALSE(h.engine().still_authenticated(c));
  who = h.engine().authenticate(c);
  ASSERT_OK(who);
  ASSERT_EQ(who->roles.size(), 1u);
  EXPECT_EQ(who->roles[0].role, "party_group");

  // Expiry: nothing changed in the directory, but the clock passed the token's end.
  h.clock().advance(kDayMs - 1);
  EXPECT_TRUE(h.engine().still_authenticated(c));
  h.clock().advance(1);
  EXPECT_FALSE(h.engine().still_authenticated(c));
  ASSERT_CODE(h.engine().authenticate(c), Code::kUnauthenticated);
  EXPECT_FALSE(h.engine().still_authenticated(c));  // a failed check is never "still" good

  // Revocation of an unexpiring token.
  const std::string forever = new_token();
  ASSERT_OK(h.engine().execute(Command{engine::IssueToken{"li.na", sha256_hex(forever), 0}, system, {}, {}}));
  engine::Engine::Credential f = engine::Engine::credential(forever);
  ASSERT_OK(h.engine().authenticate(f));
  h.clock().advance(100 * kDayMs);
  EXPECT_TRUE(h.engine().still_authenticated(f));
  ASSERT_OK(h.engine().execute(Command{engine::RevokeTokens{"li.na"}, system, {}, {}}));
  EXPECT_FALSE(h.engine().still_authenticated(f));
  ASSERT_CODE(h.engine().authenticate(f), Code::kUnauthenticated);
}

}  // namespace
}  // namespace pioneer::testing
