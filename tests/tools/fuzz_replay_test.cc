// Replays every kept fuzz input through the fuzz targets' own code under the normal build:
// the seed corpora (fuzz/corpus/TARGET/) and the inputs that once crashed, hung or leaked
// (fuzz/regressions/TARGET/). A target aborts on a broken property, so a regression that comes
// back kills this test and names the file in the log before it does.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz/targets.h"

namespace pioneer::fuzz {
// Test names and failure messages show the target's name.
void PrintTo(const Target& target, std::ostream* os) { *os << target.name; }
}  // namespace pioneer::fuzz

namespace pioneer::testing {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs(const fuzz::Target& target, const std::string& kind) {
  const fs::path dir = fs::path(PIONEER_FUZZ_DIR) / kind / std::string(target.name);
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Runs the target on each file in a child process, so that one input that still crashes is
// reported by name and the others still run. Returns "" or what went wrong.
std::string replay(const fuzz::Target& target, const std::vector<fs::path>& files) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    for (const fs::path& file : files) {
      std::ifstream in(file, std::ios::binary);
      std::stringstream s;
      s << in.rdbuf();
      const std::string input = s.str();
      target.run(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    }
    std::fflush(nullptr);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  std::string names;
  for (const fs::path& file : files) names += " " + file.string();
  return "the " + std::string(target.name) + " target died (" +
         (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status)) : "exit " + std::to_string(WEXITSTATUS(status))) +
         ") on" + names + "; the reason is printed above";
}

class FuzzReplay : public ::testing::TestWithParam<fuzz::Target> {};

TEST_P(FuzzReplay, SeedsAndRegressionsPass) {
  const auto seeds = inputs(GetParam(), "corpus");
  EXPECT_FALSE(seeds.empty()) << "no seed corpus for " << GetParam().name;
  if (!seeds.empty()) {
    const std::string failed = replay(GetParam(), seeds);
    EXPECT_EQ(failed, "");
  }
  for (const fs::path& regression : inputs(GetParam(), "regressions")) {
    const std::string failed = replay(GetParam(), {regression});
    EXPECT_EQ(failed, "") << "regression " << regression.filename() << " is back (or not fixed yet)";
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, ::testing::ValuesIn(fuzz::all_targets()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace pioneer::testing
