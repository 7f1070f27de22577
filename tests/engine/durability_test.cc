// Durability: a child process submits commands from several threads and reports each one the
// engine acknowledged; the parent kills it with SIGKILL mid-stream, reopens the store, and
// finds every acknowledged command, a gap-free sequence and an intact hash chain.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <thread>

#include "engine/audit/verify.h"
#include "tests/engine/test_support.h"
#include "tools/demo.h"

namespace pioneer::testing {
namespace {

using engine::Command;

// Runs in the forked child: never returns.
[[noreturn]] void child_main(const std::string& dir, int out_fd) {
  engine::EngineOptions options;
  options.data_dir = dir;
  auto opened = engine::Engine::open(options);
  if (!opened) _exit(10);
  engine::Engine& e = **opened;
  if (!e.load_workflows_dir(source_path("workflows"))) _exit(11);
  if (!engine::seed_demo(e, dir + "-tokens.json")) _exit(12);
  auto party = e.user("wang.wei");
  auto committee = e.user("li.na");
  if (!party || !committee) _exit(13);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        auto created = e.execute(Command{engine::CreateInstance{"yizhi-yixiang", "city/finance",
                                                                {{"title", "耐久" + std::to_string(t) + "-" + std::to_string(i)},
                                                                 {"goal", "g"}, {"area", "service"}},
                                                                std::nullopt},
                                         *party, {}, {}});
        if (!created) continue;
        const std::string id = created->body["id"];
        auto ack = [&](int64_t version) {
          // One write() per line: lines shorter than PIPE_BUF never interleave.
          std::string line = id + " " + std::to_string(version) + "\n";
          if (write(out_fd, line.data(), line.size()) < 0) _exit(14);
        };
        ack(created->body["version"]);
        auto issued = e.execute(Command{engine::FireTransition{id, "issue", Json::object(), std::nullopt, std::nullopt},
                                        *party, {}, {}});
        if (issued) ack(issued->body["version"]);
        auto urged = e.execute(Command{engine::AddComment{id, "请抓紧"}, *committee, {}, {}});
        if (urged) ack(urged->body["version"]);
      }
    });
  }
  for (auto& th : threads) th.join();
  _exit(0);
}

TEST(Durability, EveryAcknowledgedCommandSurvivesSigkill) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/db";
  std::map<std::string, int64_t> acknowledged;  // instance -> highest acknowledged version
  size_t acks = 0;
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      child_main(dir, fds[1]);
    }
    close(fds[1]);
    FILE* in = fdopen(fds[0], "r");
    ASSERT_NE(in, nullptr);
    char line[256];
    size_t seen = 0;
    const size_t kill_after = 300 + round * 150;
    // Records one acknowledgement line ("ID VERSION").
    auto take = [&](const char* text) {
      std::istringstream parts(text);
      std::string id;
      int64_t version = 0;
      parts >> id >> version;
      if (!id.empty()) {
        acknowledged[id] = std::max(acknowledged[id], version);
        ++seen;
      }
    };
    while (seen < kill_after && fgets(line, sizeof line, in) != nullptr) take(line);
    // Kill it while writes are still in flight, then collect the lines already written:
    // every one of them was acknowledged before the kill.
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    while (fgets(line, sizeof line, in) != nullptr) take(line);
    fclose(in);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child ended on its own (exit " << WEXITSTATUS(status) << ")";
    ASSERT_GE(seen, kill_after);
    acks += seen;

    // Reopen: everything acknowledged is there, and the log is whole.
    engine::EngineOptions options;
    options.data_dir = dir;
    auto reopened = engine::Engine::open(options);
    ASSERT_OK(reopened);
    auto admin = (*reopened)->user("admin");
    ASSERT_OK(admin);
    for (const auto& [id, version] : acknowledged) {
      auto in_store = (*reopened)->instance(*admin, id);
      ASSERT_OK(in_store);
      EXPECT_GE(in_store->version, version) << id;
    }
    auto report = engine::verify_store((*reopened)->store(), (*reopened)->roles());
    ASSERT_OK(report);
    EXPECT_TRUE(report->ok) << report->to_json().dump(2);
    EXPECT_EQ(report->events_checked, (*reopened)->head_seq());
  }
  std::printf("durability: %zu acknowledged writes checked over 3 SIGKILL cycles\n", acks);
}

}  // namespace
}  // namespace pioneer::testing
