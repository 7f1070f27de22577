// Passwords (common/password.h): Argon2id through libargon2, parameters in the stored hash.
#include <gtest/gtest.h>

#include "common/password.h"

namespace pioneer {
namespace {

TEST(Password, TheHashIsArgon2idWithItsParametersAndASaltOfItsOwn) {
  auto a = hash_password("correct horse battery");
  auto b = hash_password("correct horse battery");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << *a;
  EXPECT_NE(*a, *b);  // salted
  EXPECT_TRUE(verify_password(*a, "correct horse battery"));
  EXPECT_FALSE(verify_password(*a, "correct horse batterx"));
  EXPECT_FALSE(verify_password("$argon2id$garbage", "x"));
  EXPECT_FALSE(verify_password("plain text", "plain text"));
  // A cheaper hash still verifies: its parameters travel with it.
  auto light = hash_password("random-secret-123", kRandomSecretCost);
  ASSERT_TRUE(light);
  EXPECT_EQ(light->rfind("$argon2id$v=19$m=64,t=1,p=1$", 0), 0u) << *light;
  EXPECT_TRUE(verify_login_password(light, "random-secret-123"));
  EXPECT_FALSE(verify_login_password(light, "random-secret-124"));
  EXPECT_FALSE(verify_login_password(std::nullopt, "anything-at-all"));
}

TEST(Password, AtLeastTenCharactersCountedAsCharacters) {
  EXPECT_TRUE(password_problem("123456789").has_value());
  EXPECT_FALSE(password_problem("1234567890").has_value());
  EXPECT_FALSE(password_problem("党建工作密码口令十个").has_value());  // ten characters, thirty bytes
  EXPECT_TRUE(password_problem("党建工作密码口令九").has_value());
  EXPECT_TRUE(password_problem("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5").has_value());  // not UTF-8
  EXPECT_TRUE(password_problem(std::string(2000, 'a')).has_value());
}

}  // namespace
}  // namespace pioneer
