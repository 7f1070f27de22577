// The directory while the engine runs: sessions, disabling, and directory events in the
// hash-chained log (engine/core/admin_rules.h), on a real store with a manual clock.
#include <gtest/gtest.h>

#include "common/crypto.h"
#include "engine/audit/verify.h"
#include "engine/core/admin_rules.h"
#include "engine/core/codec.h"
#include "storage/keys.h"
#include "engine/core/spaces.h"
#include "tests/engine/test_support.h"

namespace pioneer::testing {
namespace {

using engine::Command;

constexpr int64_t kHourMs = 3600 * 1000;

// The directory events of the log, oldest first.
std::vector<engine::Event> directory_events(EngineHarness& h, const engine::Principal& who) {
  auto page = h.engine().events_after(who, 0, 1000, engine::EventScan{100000, 2000, 1000});
  EXPECT_TRUE(page.has_value());
  std::vector<engine::Event> out;
  for (auto& e : page->items) {
    if (e.type == engine::kDirectoryEvent) out.push_back(e);
  }
  return out;
}

TEST(Directory, ASessionEndsAfterItsIdleTimeAndAtItsEndWhateverTheUse) {
  EngineHarness h;
  const std::string token = new_token();
  const engine::Principal zhang = h.user("zhang.min");
  ASSERT_OK(h.engine().execute(Command{engine::OpenSession{"zhang.min", sha256_hex(token), kStartMs + 10 * kHourMs,
                                                           2 * kHourMs}, zhang, {}, {}}));
  engine::Engine::Credential c = engine::Engine::credential(token);
  ASSERT_OK(h.engine().authenticate(c));
  for (int i = 0; i < 4; ++i) {  // used every 90 minutes: it stays open
    h.clock().advance(90 * 60 * 1000);
    EXPECT_TRUE(h.engine().still_authenticated(c)) << i;
  }
  h.clock().advance(2 * kHourMs);  // two hours idle
  EXPECT_FALSE(h.engine().still_authenticated(c));
  EXPECT_FALSE(h.engine().authenticate(token).has_value());

  // Used all along, a session still ends at its absolute end.
  const std::string busy = new_token();
  ASSERT_OK(h.engine().execute(Command{engine::OpenSession{"zhang.min", sha256_hex(busy), h.clock().now_ms() + 3 * kHourMs,
                                                           2 * kHourMs}, zhang, {}, {}}));
  for (int i = 0; i < 5; ++i) {
    h.clock().advance(kHourMs);
    EXPECT_EQ(h.engine().authenticate(busy).has_value(), i < 2) << i;
  }
}

TEST(Directory, NobodyOpensASessionForSomeoneElse) {
  EngineHarness h;
  ASSERT_CODE(h.engine().execute(Command{engine::OpenSession{"admin", sha256_hex(new_token()), 0, kHourMs},
                                         h.user("zhang.min"), {}, {}}),
              Code::kForbidden);
}

TEST(Directory, DisablingAPersonRefusesTheirTokensAtOnceAndEnablingRestoresThem) {
  EngineHarness h;
  const std::string token = new_token();
  const engine::Principal system = engine::Principal::system_principal();
  ASSERT_OK(h.engine().execute(Command{engine::IssueToken{"zheng.xin", sha256_hex(token), 0}, system, {}, {}}));
  engine::Engine::Credential c = engine::Engine::credential(token);
  ASSERT_OK(h.engine().authenticate(c));
  engine::PatchUser off{"zheng.xin", std::nullopt, std::nullopt, std::nullopt, true};
  ASSERT_OK(h.engine().execute(Command{off, h.user("admin"), {}, {}}));
  EXPECT_FALSE(h.engine().still_authenticated(c));
  EXPECT_FALSE(h.engine().authenticate(c).has_value());
  engine::PatchUser on{"zheng.xin", std::nullopt, std::nullopt, std::nullopt, false};
  ASSERT_OK(h.engine().execute(Command{on, h.user("admin"), {}, {}}));
  EXPECT_TRUE(h.engine().authenticate(c).has_value());
}

TEST(Directory, EveryChangeIsADirectoryEventInTheChainWithoutThePassword) {
  EngineHarness h;
  const engine::Principal admin = h.user("admin");
  const std::string hash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
  ASSERT_OK(h.engine().execute(Command{engine::PutOrg{{"city/finance/b3", "市财政局第三党支部", "branch", ""}, true}, admin, {}, {}}));
  engine::PutUser put{"qian.feng", "钱峰", "city/finance/b3", {{"branch_secretary", "city/finance/b3"}}, true, hash};
  ASSERT_OK(h.engine().execute(Command{put, admin, {}, {}}));
  ASSERT_OK(h.engine().execute(Command{engine::RenameOrg{"city/finance/b3", "第三支部"}, admin, {}, {}}));
  ASSERT_OK(h.engine().execute(Command{engine::RevokeTokens{"qian.feng"}, admin, {}, {}}));

  const auto events = directory_events(h, admin);
  ASSERT_GE(events.size(), 4u);
  const engine::Event& user_event = events[events.size() - 3];
  EXPECT_EQ(user_event.actor_id, "admin");
  EXPECT_EQ(user_event.changes["what"], "user");
  EXPECT_EQ(user_event.changes["user"]["roles"][0]["role"], "branch_secretary");
  EXPECT_TRUE(user_event.changes["before"].is_null());
  EXPECT_EQ(events.back().changes["what"], "tokens_revoked");
  for (const auto& e : events) EXPECT_EQ(engine::encode_event(e).find("argon2"), std::string::npos);

  // Visible to administrators over the org, to no one else.
  EXPECT_TRUE(directory_events(h, h.user("wang.wei")).empty());
  EXPECT_TRUE(directory_events(h, h.user("zhang.min")).empty());

  // verify covers them: intact, then an edited one is found.
  auto verified = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(verified);
  EXPECT_TRUE(verified->ok) << verified->to_json().dump(2);
  auto stored = h.engine().store().get(engine::Space::kEvents, storage::u64_key(user_event.seq));
  ASSERT_OK(stored);
  ASSERT_TRUE(stored->has_value());
  std::string edited = **stored;
  const size_t at = edited.find("branch_secretary");
  ASSERT_NE(at, std::string::npos);
  edited.replace(at, std::string("branch_secretary").size(), "admin");
  storage::Batch b;
  b.put(engine::Space::kEvents, storage::u64_key(user_event.seq), edited);
  ASSERT_OK(h.engine().store().commit(b));
  auto bad = engine::verify_store(h.engine().store(), h.engine().roles());
  ASSERT_OK(bad);
  EXPECT_FALSE(bad->ok);
  EXPECT_EQ(bad->first_bad_seq, user_event.seq);
}

TEST(Directory, ARefusedChangeWritesNothing) {
  EngineHarness h;
  const auto before = h.snapshot();
  engine::PatchUser escalate{"zhang.min", std::nullopt, std::nullopt,
                             std::vector<engine::RoleGrant>{{"admin", "city"}}, std::nullopt};
  ASSERT_CODE(h.engine().execute(Command{escalate, h.user("zhang.min"), {}, {}}), Code::kForbidden);
  ASSERT_CODE(h.engine().execute(Command{engine::PutOrg{{"other", "另一个根", "city", ""}}, engine::Principal::system_principal(), {}, {}}),
              Code::kInvalidField);
  EXPECT_EQ(h.snapshot(), before);
}

}  // namespace
}  // namespace pioneer::testing
