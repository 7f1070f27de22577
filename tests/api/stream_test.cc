// End-to-end tests of the WebSocket stream (docs/api.md "The stream") against the real binary.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "tests/api/test_client.h"

namespace pioneer::test {
namespace {

bool is_event(const Json& m) { return m.is_object() && m.value("type", "") == "event"; }
uint64_t seq_of(const Json& m) { return m["event"]["seq"].get<uint64_t>(); }

class StreamTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    server_ = std::make_unique<ServerProcess>(std::move(extra));
    ASSERT_TRUE(server_->started()) << server_->log();
    api_ = std::make_unique<Api>(*server_);
  }
  void SetUp() override { start(); }
  void TearDown() override {
    if (server_ && server_->started()) {
      EXPECT_EQ(server_->stop(), 0) << server_->log();
    }
  }

  std::string create_project(const std::string& title) {
    auto r = api_->post("wang.wei", "/api/v1/instances",
                        {{"workflow", "yizhi-yixiang"}, {"org", "city/finance"},
                         {"fields", {{"title", title}, {"goal", "目标"}, {"area", "service"}}}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", "");
  }
  void fire(const std::string& user, const std::string& id, const std::string& t, const Json& fields = Json::object(),
            const std::string& comment = "") {
    auto r = api_->fire(user, id, t, fields, comment);
    EXPECT_EQ(r.status, 200) << user << " " << t << ": " << r.body;
  }
  // The seqs /api/v1/events shows `user` after `since`.
  // Pages on with next_since until it reaches head (a page may be short before that).
  std::vector<uint64_t> feed(const std::string& user, uint64_t since = 0, int limit = 1000) {
    std::vector<uint64_t> out;
    for (int calls = 0; calls < 10000; ++calls) {
      auto r = api_->get(user, "/api/v1/events?limit=" + std::to_string(limit) + "&since=" + std::to_string(since));
      EXPECT_EQ(r.status, 200) << r.body;
      Json page = r.json();
      for (const auto& e : page["items"]) out.push_back(e["seq"].get<uint64_t>());
      if (!page["next_since"].is_number_unsigned()) {
        ADD_FAILURE() << "no next_since: " << page;
        return out;
      }
      if (page["next_since"] == page["head"]) return out;
      EXPECT_GT(page["next_since"].get<uint64_t>(), since) << page;
      since = page["next_since"];
    }
    ADD_FAILURE() << "the feed never caught up";
    return out;
  }
  std::string stream_target(uint64_t since) { return "/api/v1/stream?since=" + std::to_string(since); }
  // Reads event frames until seq `last`; returns their seqs (heartbeats skipped).
  std::vector<uint64_t> read_through(WsClient& ws, uint64_t last, std::vector<Json>* frames = nullptr) {
    std::vector<uint64_t> seqs;
    auto done = ws.read_until(
        [&](const Json& m) {
          if (!is_event(m)) return false;
          seqs.push_back(seq_of(m));
          if (frames) frames->push_back(m);
          return seq_of(m) >= last;
        },
        nullptr, 15s);
    EXPECT_TRUE(done.has_value()) << "stream ended before seq " << last << " (close code " << ws.close_code() << ")";
    return seqs;
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Api> api_;
};

TEST_F(StreamTest, RefusesBadTokensBeforeTheUpgrade) {
  // A WsClient is good for one handshake: a fresh one per attempt.
  WsClient none, bad, bad_query, bad_since, header, query;
  EXPECT_EQ(none.connect(server_->port(), "/api/v1/stream"), 401);
  EXPECT_EQ(bad.connect(server_->port(), "/api/v1/stream", "pio_wrong"), 401);
  EXPECT_EQ(bad_query.connect(server_->port(), "/api/v1/stream?access_token=pio_wrong"), 401);
  EXPECT_EQ(bad_since.connect(server_->port(), "/api/v1/stream?since=x", server_->token("li.na")), 400);
  EXPECT_EQ(header.connect(server_->port(), "/api/v1/stream", server_->token("li.na")), 101);
  EXPECT_EQ(query.connect(server_->port(), "/api/v1/stream?access_token=" + server_->token("li.na")), 101);
  WsClient elsewhere;
  EXPECT_EQ(elsewhere.connect(server_->port(), "/api/v1/me", server_->token("li.na")), 404);
}

TEST_F(StreamTest, ReplaysStoredEventsThenDeliversLiveOnes) {
  std::string a = create_project("A");
  std::string b = create_project("B");
  fire("wang.wei", a, "issue");
  std::vector<uint64_t> stored = feed("li.na");
  ASSERT_EQ(stored.size(), 3u);

  WsClient ws;
  ASSERT_EQ(ws.connect(server_->port(), stream_target(0), server_->token("li.na")), 101);
  EXPECT_EQ(read_through(ws, stored.back()), stored);

  // Without since: only what happens from now on.
  WsClient live;
  ASSERT_EQ(live.connect(server_->port(), "/api/v1/stream", server_->token("li.na")), 101);

  fire("wang.wei", b, "issue");
  std::vector<Json> frames;
  uint64_t head = feed("li.na").back();
  read_through(ws, head, &frames);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0]["event"]["instance_id"], b);
  EXPECT_EQ(frames[0]["event"]["transition"], "issue");
  EXPECT_TRUE(frames[0]["mine"].get<bool>()) << "li.na (organ committee) acts next on an issued topic";

  std::vector<Json> live_frames;
  EXPECT_EQ(read_through(live, head, &live_frames), std::vector<uint64_t>{head});
  // The claim is addressed to the branch and the committee, not to the party group: wang.wei
  // sees it with mine=false.
  WsClient author;
  ASSERT_EQ(author.connect(server_->port(), "/api/v1/stream", server_->token("wang.wei")), 101);
  fire("li.na", b, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2099-12-31"}});
  fire("zhang.min", b, "claim");
  std::vector<Json> author_frames;
  read_through(author, feed("wang.wei").back(), &author_frames);
  ASSERT_EQ(author_frames.size(), 2u);
  EXPECT_EQ(author_frames[1]["event"]["transition"], "claim");
  EXPECT_FALSE(author_frames[1]["mine"].get<bool>()) << author_frames[1];
}

TEST_F(StreamTest, ResumesWithoutGapOrDuplicate) {
  std::string id = create_project("续传");
  WsClient ws;
  ASSERT_EQ(ws.connect(server_->port(), stream_target(0), server_->token("li.na")), 101);
  std::vector<uint64_t> first = read_through(ws, feed("li.na").back());
  ws.close();

  // While disconnected.
  fire("wang.wei", id, "issue");
  fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2099-12-31"}});
  fire("li.na", id, "urge", {}, "请认领");
  std::vector<uint64_t> missed = feed("li.na", first.back());
  ASSERT_EQ(missed.size(), 3u);

  // Reconnect with the last seq seen while writers keep committing: every event exactly once.
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    for (int i = 0; i < 30; ++i) {
      auto r = api_->post("li.na", "/api/v1/instances/" + id + "/comments", {{"comment", "评论 " + std::to_string(i)}});
      EXPECT_EQ(r.status, 201) << r.body;
    }
    writing = false;
  });
  WsClient again;
  ASSERT_EQ(again.connect(server_->port(), stream_target(first.back()), server_->token("li.na")), 101);
  writer.join();
  std::vector<uint64_t> expected = feed("li.na", first.back());
  ASSERT_EQ(expected.size(), 33u);
  EXPECT_EQ(read_through(again, expected.back()), expected);
}

TEST_F(StreamTest, NeverSendsWhatTheUserMayNotSee) {
  WsClient b2;
  ASSERT_EQ(b2.connect(server_->port(), "/api/v1/stream?since=0&access_token=" + server_->token("liu.yang")), 101);
  WsClient edu;
  ASSERT_EQ(edu.connect(server_->port(), stream_target(0), server_->token("chen.jie")), 101);

  std::string one = create_project("一支部");
  fire("wang.wei", one, "issue");
  fire("li.na", one, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2099-12-31"}});
  fire("zhang.min", one, "claim");
  std::string two = create_project("二支部");
  fire("wang.wei", two, "issue");
  fire("li.na", two, "assign", {{"branch", "city/finance/b2"}, {"due_date", "2099-12-31"}});
  fire("liu.yang", two, "claim");
  auto edu_project = api_->post("chen.jie", "/api/v1/instances",
                                {{"workflow", "yizhi-yixiang"}, {"org", "city/education"}, {"fields", {{"title", "教育"}}}});
  ASSERT_EQ(edu_project.status, 201);

  std::vector<Json> frames;
  uint64_t last_b2 = feed("liu.yang").back();
  read_through(b2, last_b2, &frames);
  bool assign_mine = false;
  for (const auto& f : frames) {
    EXPECT_EQ(f["event"]["instance_id"], two) << "b2's secretary got " << f;
    if (f["event"]["transition"] == "assign") assign_mine = f["mine"].get<bool>();
  }
  EXPECT_TRUE(assign_mine) << "the assignment to b2 is addressed to b2's secretary";

  std::vector<Json> edu_frames;
  read_through(edu, feed("chen.jie").back(), &edu_frames);
  ASSERT_EQ(edu_frames.size(), 1u);
  EXPECT_EQ(edu_frames[0]["event"]["instance_id"], edu_project.json()["id"]);
}

// The live stream sends an event to those who may see its instance once it is committed (the
// scope recorded in the event), so an instance that moves into a client's view arrives with the
// event that brought it; its earlier history is fetched. The rule a client follows (README,
// "Visibility"): an event whose instance_seq is more than one past the last one it holds for
// that instance means a gap; fill it from GET /api/v1/instances/{id}/events. This test is that
// client: a project assigned to b2, declined, assigned to b1, declined there, assigned to b2
// again. b2's view of the project ends complete, each event once, with one fetch per arrival.
TEST_F(StreamTest, AClientFillsTheHistoryOfAnInstanceThatComesIntoViewFromInstanceSeq) {
  WsClient b2;
  ASSERT_EQ(b2.connect(server_->port(), "/api/v1/stream", server_->token("liu.yang")), 101);
  // The session starts (and takes its head) after the upgrade; its answer to a subscribe comes
  // after that, so the events below are live for it, not a replay of current visibility.
  ASSERT_TRUE(b2.send(R"({"type":"subscribe"})"));
  ASSERT_TRUE(b2.read_until([](const Json& m) { return m.value("type", "") == "subscribed"; }));
  std::string id = create_project("来回指派");

  std::map<int64_t, uint64_t> held;  // instance_seq -> seq: what the client holds of the project
  std::vector<int64_t> fetched_at;   // the instance_seqs whose arrival made the client fetch
  uint64_t last_frame = 0;
  // The client's loop, until the frame of the latest event b2 may see.
  auto follow = [&] {
    const std::vector<uint64_t> visible = feed("liu.yang");
    ASSERT_FALSE(visible.empty());
    const uint64_t last = visible.back();
    auto done = b2.read_until(
        [&](const Json& m) {
          if (!is_event(m)) return false;
          const Json& e = m["event"];
          EXPECT_GT(seq_of(m), last_frame) << "frames in sequence order, each once";
          last_frame = seq_of(m);
          EXPECT_EQ(e["instance_id"], id);
          const int64_t n = e["instance_seq"].get<int64_t>();
          const int64_t top = held.empty() ? 0 : held.rbegin()->first;
          if (n > top + 1) {  // a gap: the instance came (back) into view
            fetched_at.push_back(n);
            auto r = api_->get("liu.yang", "/api/v1/instances/" + id + "/events");
            EXPECT_EQ(r.status, 200) << r.body;
            const Json page = r.json();
            for (const auto& h : page["items"]) held[h["instance_seq"].get<int64_t>()] = h["seq"].get<uint64_t>();
          }
          held[n] = seq_of(m);
          return seq_of(m) >= last;
        },
        nullptr, 15s);
    ASSERT_TRUE(done.has_value()) << "the stream ended before seq " << last << " (close code " << b2.close_code() << ")";
  };

  fire("wang.wei", id, "issue");
  fire("li.na", id, "assign", {{"branch", "city/finance/b2"}, {"due_date", "2099-12-31"}});
  follow();
  fire("liu.yang", id, "decline", {}, "本支部力量不足");
  follow();
  fire("li.na", id, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2099-12-31"}});
  fire("zhang.min", id, "decline", {}, "另有任务");
  fire("li.na", id, "assign", {{"branch", "city/finance/b2"}, {"due_date", "2099-12-31"}});
  follow();
  fire("liu.yang", id, "claim");
  follow();

  auto history = api_->get("liu.yang", "/api/v1/instances/" + id + "/events");
  ASSERT_EQ(history.status, 200) << history.body;
  const Json stored = history.json();
  std::vector<uint64_t> expected;
  for (const auto& e : stored["items"]) expected.push_back(e["seq"].get<uint64_t>());
  ASSERT_EQ(expected.size(), 8u) << history.body;
  std::vector<uint64_t> assembled;
  for (const auto& [n, seq] : held) assembled.push_back(seq);
  EXPECT_EQ(assembled, expected);
  // Assigned to b2 at instance_seq 3 (1 and 2 unseen), and again at 7 after b1's turn (5, 6).
  EXPECT_EQ(fetched_at, (std::vector<int64_t>{3, 7}));
  // A fresh replay, as after a reconnect from 0, shows the whole history in order.
  WsClient replay;
  ASSERT_EQ(replay.connect(server_->port(), stream_target(0), server_->token("liu.yang")), 101);
  EXPECT_EQ(read_through(replay, expected.back()), expected);
}

TEST_F(StreamTest, SubscribeNarrowsButNeverWidens) {
  WsClient ws;
  ASSERT_EQ(ws.connect(server_->port(), "/api/v1/stream", server_->token("li.na")), 101);
  ASSERT_TRUE(ws.send(R"({"type":"subscribe","workflow":"inspection-rectification"})"));
  auto ack = ws.read_until([](const Json& m) { return m.value("type", "") == "subscribed"; });
  ASSERT_TRUE(ack) << "no subscribed frame";
  EXPECT_EQ((*ack)["workflow"], "inspection-rectification");

  create_project("被过滤");
  auto finding = api_->post("zhou.hua", "/api/v1/instances",
                            {{"workflow", "inspection-rectification"}, {"org", "city/finance"},
                             {"fields", {{"title", "问题"}, {"category", "style"}, {"description", "d"},
                                         {"severity", "general"}, {"due_date", "2099-01-01"}}}});
  ASSERT_EQ(finding.status, 201) << finding.body;
  auto next = ws.read_until(is_event);
  ASSERT_TRUE(next);
  EXPECT_EQ((*next)["event"]["workflow"], "inspection-rectification") << *next;

  // Bad messages get an error frame; the stream goes on.
  ASSERT_TRUE(ws.send("hello"));
  auto error = ws.read_until([](const Json& m) { return m.value("type", "") == "error"; });
  ASSERT_TRUE(error);
  EXPECT_EQ((*error)["error"]["code"], "invalid_json");
  ASSERT_TRUE(ws.send(R"({"type":"subscribe","org":5})"));
  EXPECT_TRUE(ws.read_until([](const Json& m) { return m.value("type", "") == "error"; }));
  ASSERT_TRUE(ws.send(R"({"type":"shout"})"));
  EXPECT_TRUE(ws.read_until([](const Json& m) { return m.value("type", "") == "error"; }));

  // Asking for the whole city does not show li.na another department.
  ASSERT_TRUE(ws.send(R"({"type":"subscribe","org":"city"})"));
  ASSERT_TRUE(ws.read_until([](const Json& m) { return m.value("type", "") == "subscribed"; }));
  ASSERT_EQ(api_->post("chen.jie", "/api/v1/instances",
                       {{"workflow", "yizhi-yixiang"}, {"org", "city/education"}, {"fields", {{"title", "教育"}}}})
                .status,
            201);
  std::string mine = create_project("财政");
  auto after = ws.read_until(is_event);
  ASSERT_TRUE(after);
  EXPECT_EQ((*after)["event"]["instance_id"], mine) << *after;

  // Narrow to a subtree: b2 only; a b1 assignment is not delivered, a b2 one is.
  ASSERT_TRUE(ws.send(R"({"type":"subscribe","org":"city/finance/b2"})"));
  ASSERT_TRUE(ws.read_until([](const Json& m) { return m.value("type", "") == "subscribed"; }));
  fire("wang.wei", mine, "issue");
  fire("li.na", mine, "assign", {{"branch", "city/finance/b1"}, {"due_date", "2099-12-31"}});
  std::string other = create_project("二支部");
  fire("wang.wei", other, "issue");
  fire("li.na", other, "assign", {{"branch", "city/finance/b2"}, {"due_date", "2099-12-31"}});
  auto b2 = ws.read_until(is_event);
  ASSERT_TRUE(b2);
  EXPECT_EQ((*b2)["event"]["instance_id"], other) << *b2;
  EXPECT_EQ((*b2)["event"]["transition"], "assign") << *b2;
}

TEST_F(StreamTest, ClosesOversizedClientMessagesAndKeepsServing) {
  WsClient ws;
  ASSERT_EQ(ws.connect(server_->port(), "/api/v1/stream", server_->token("li.na")), 101);
  ws.send(std::string(70 * 1024, 'x'));
  EXPECT_FALSE(ws.read(5s).has_value());
  EXPECT_FALSE(ws.is_open());
  EXPECT_EQ(http(server_->port(), "GET", "/healthz").status, 200);
}

TEST_F(StreamTest, ShutdownClosesStreamsWithGoingAway) {
  WsClient ws;
  ASSERT_EQ(ws.connect(server_->port(), "/api/v1/stream", server_->token("li.na")), 101);
  std::thread stopper([&] { EXPECT_EQ(server_->stop(), 0) << server_->log(); });
  EXPECT_FALSE(ws.read_until([](const Json&) { return false; }, nullptr, 10s).has_value());
  stopper.join();
  EXPECT_EQ(ws.close_code(), 1001);
}

class StreamConfigTest : public StreamTest {
 protected:
  void SetUp() override {}
};

// A raw loopback socket with a receive timeout.
int raw_connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// A masked client text frame (RFC 6455 §5.2), payload under 126 bytes.
std::string client_frame(const std::string& text) {
  std::string frame;
  frame += static_cast<char>(0x81);
  frame += static_cast<char>(0x80 | text.size());
  const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  for (unsigned char m : mask) frame += static_cast<char>(m);
  for (size_t i = 0; i < text.size(); ++i) frame += static_cast<char>(text[i] ^ mask[i % 4]);
  return frame;
}

// The server's resident memory (VmRSS), in KiB.
long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// A client that sent its first frame in the same packet as the upgrade request lost it: the
// bytes the HTTP session had read past the request never reached the WebSocket session, so a
// subscribe was silently dropped. Now they are the start of the stream.
TEST_F(StreamTest, FirstFrameSentWithTheUpgradeRequestIsNotLost) {
  int fd = raw_connect(server_->port());
  ASSERT_GE(fd, 0);
  const std::string request =
      "GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Authorization: Bearer " + server_->token("li.na") + "\r\n\r\n" +
      client_frame(R"({"type":"subscribe","workflow":"inspection-rectification"})");
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  std::string received;
  char buf[4096];
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       std::chrono::steady_clock::now() < deadline && received.find("\"subscribed\"") == std::string::npos;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    received.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  EXPECT_TRUE(received.starts_with("HTTP/1.1 101")) << received.substr(0, 200);
  EXPECT_NE(received.find("\"subscribed\""), std::string::npos) << "the first frame was lost: " << received;
  EXPECT_NE(received.find("inspection-rectification"), std::string::npos) << received;
}

// A client that sent messages without reading grew the server's memory without bound: every
// message queued a reply frame, and only live events counted against ws_queue_limit. Now every
// queued frame counts: the session closes 4008 and the server's memory stays flat.
TEST_F(StreamConfigTest, ClientSendingWithoutReadingCannotGrowServerMemory) {
  ConfigFile config(R"({"ws_queue_limit": 64, "ws_send_buffer": 16384})");
  start({"--config", config.path});
  int fd = raw_connect(server_->port());
  ASSERT_GE(fd, 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  const std::string upgrade =
      "GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Authorization: Bearer " + server_->token("li.na") + "\r\n\r\n";
  ASSERT_EQ(::send(fd, upgrade.data(), upgrade.size(), MSG_NOSIGNAL), static_cast<ssize_t>(upgrade.size()));
  char head[512];
  ASSERT_GT(::recv(fd, head, sizeof head, 0), 0);  // the 101 (and nothing is read after it)
  const long before = rss_kib(server_->pid());
  ASSERT_GT(before, 0);
  // 200,000 junk messages (each answered with an error frame), never reading an answer.
  std::string chunk;
  for (int i = 0; i < 1000; ++i) chunk += client_frame("x");
  timeval send_timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  size_t sent = 0;
  long peak = before;
  std::string metrics;
  // Up to 1,000,000 messages (7 MB), until the server has given up on the session; the socket
  // stays open and unread meanwhile.
  for (int i = 0; i < 1000; ++i) {
    ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed, or stopped reading
    sent += static_cast<size_t>(n);
    if (i % 50 == 49) {
      peak = std::max(peak, rss_kib(server_->pid()));
      metrics = http(server_->port(), "GET", "/metrics").body;
      if (metrics.find("pioneer_stream_lagging_total 1") != std::string::npos) break;
    }
  }
  for (int i = 0; i < 100 && metrics.find("pioneer_stream_lagging_total 1") == std::string::npos; ++i) {
    std::this_thread::sleep_for(50ms);
    peak = std::max(peak, rss_kib(server_->pid()));
    metrics = http(server_->port(), "GET", "/metrics").body;
  }
  peak = std::max(peak, rss_kib(server_->pid()));
  ::close(fd);
  std::printf("sent %zu bytes of messages; server VmRSS %ld KiB before, %ld KiB at most\n", sent, before, peak);
  EXPECT_NE(metrics.find("pioneer_stream_lagging_total 1"), std::string::npos) << "closed 4008: " << metrics;
  EXPECT_LT(peak - before, 32 * 1024) << "a client that never reads grew server memory";
  for (int i = 0; i < 100; ++i) {
    metrics = http(server_->port(), "GET", "/metrics").body;
    if (metrics.find("\npioneer_stream_sessions 0\n") != std::string::npos) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_NE(metrics.find("\npioneer_stream_sessions 0\n"), std::string::npos) << metrics;
  EXPECT_EQ(http(server_->port(), "GET", "/healthz").status, 200);
}

// With the feed's bounds made tiny, the walk over events a user may not see goes in many short
// steps, on /events and in the stream's replay alike: each user still gets exactly their events.
TEST_F(StreamConfigTest, ReplayWalksTheLogInBoundedSteps) {
  ConfigFile config(R"({"feed_scan_events": 2, "feed_merge_instances": 0, "page_scan_limit": 2})");
  start({"--config", config.path});
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(create_project("步进" + std::to_string(i)));
  fire("wang.wei", ids[4], "issue");
  fire("li.na", ids[4], "assign", {{"branch", "city/finance/b2"}, {"due_date", "2099-12-31"}});
  auto edu = api_->post("chen.jie", "/api/v1/instances",
                        {{"workflow", "yizhi-yixiang"}, {"org", "city/education"}, {"fields", {{"title", "教育"}}}});
  ASSERT_EQ(edu.status, 201);

  const std::vector<uint64_t> b2 = feed("liu.yang");
  ASSERT_EQ(b2.size(), 3u);  // created, issued, assigned: ids[4] only
  EXPECT_EQ(feed("liu.yang", 0, 1), b2);
  const std::vector<uint64_t> all = feed("zhou.hua");
  ASSERT_EQ(all.size(), 9u);

  WsClient ws;
  ASSERT_EQ(ws.connect(server_->port(), stream_target(0), server_->token("liu.yang")), 101);
  EXPECT_EQ(read_through(ws, b2.back()), b2);
  WsClient edu_ws;
  ASSERT_EQ(edu_ws.connect(server_->port(), stream_target(0), server_->token("chen.jie")), 101);
  std::vector<Json> frames;
  read_through(edu_ws, all.back(), &frames);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0]["event"]["instance_id"], edu.json()["id"]);
  // Live events after a replay that walked: still exactly once.
  fire("liu.yang", ids[4], "claim", {});
  const uint64_t claim = feed("liu.yang").back();
  EXPECT_EQ(read_through(ws, claim), std::vector<uint64_t>{claim});
}

TEST_F(StreamConfigTest, HeartbeatWhenIdle) {
  ConfigFile config(R"({"heartbeat_s": 1})");
  start({"--config", config.path});
  WsClient ws;
  ASSERT_EQ(ws.connect(server_->port(), "/api/v1/stream", server_->token("li.na")), 101);
  auto beat = ws.read(4s);
  ASSERT_TRUE(beat);
  EXPECT_EQ((*beat)["type"], "heartbeat");
  EXPECT_TRUE((*beat)["head"].is_number_unsigned());
  // At every interval while idle, not every other one (the heartbeat is not traffic that makes
  // the next one unneeded): two more, each within 1.6 s of the one before, where every other
  // interval would take 2.
  for (int i = 0; i < 2; ++i) {
    auto next = ws.read(1600ms);
    ASSERT_TRUE(next) << "heartbeat " << i + 2;
    EXPECT_EQ((*next)["type"], "heartbeat");
  }
}

TEST_F(StreamConfigTest, LaggingClientIsClosedWhileOthersKeepUp) {
  ConfigFile config(R"({"ws_queue_limit": 8, "ws_send_buffer": 16384})");
  start({"--config", config.path});
  std::string id = create_project("大量评论");
  WsClient slow, fast;
  // The slow client never reads, with a tiny receive buffer so the server's writes stall.
  ASSERT_EQ(slow.connect(server_->port(), "/api/v1/stream", server_->token("li.na"), 4096), 101);
  ASSERT_EQ(fast.connect(server_->port(), "/api/v1/stream", server_->token("li.na")), 101);

  constexpr int kComments = 200;
  std::thread writer([&] {
    std::string text(8000, 'x');
    for (int i = 0; i < kComments; ++i) {
      auto r = api_->post("li.na", "/api/v1/instances/" + id + "/comments", {{"comment", text + std::to_string(i)}});
      ASSERT_EQ(r.status, 201) << r.body;
    }
  });
  int received = 0;
  auto last = fast.read_until(
      [&](const Json& m) { return is_event(m) && ++received == kComments; }, nullptr, 60s);
  writer.join();
  EXPECT_TRUE(last.has_value()) << "the reading client got " << received << " of " << kComments;

  // The server gave up on the slow one.
  auto metrics = http(server_->port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("pioneer_stream_lagging_total 1"), std::string::npos) << metrics;
  int slow_events = 0;
  while (auto m = slow.read(5s)) {
    if (is_event(*m)) ++slow_events;
    if (slow_events > kComments) break;
  }
  EXPECT_FALSE(slow.is_open());
  EXPECT_LT(slow_events, kComments);
  EXPECT_TRUE(slow.close_code() == 4008 || slow.close_code() == 0) << slow.close_code();
  std::printf("lagging client: %d events, close code %d\n", slow_events, slow.close_code());
  EXPECT_EQ(http(server_->port(), "GET", "/healthz").status, 200);
}

}  // namespace
}  // namespace pioneer::test
