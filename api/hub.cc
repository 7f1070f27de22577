#include "api/hub.h"

#include <algorithm>

#include "api/http.h"
#include "engine/core/codec.h"

namespace pioneer::api {

std::shared_ptr<const StreamEvent> StreamEvent::make(engine::Event event) {
  auto out = std::make_shared<StreamEvent>();
  // Serialise the event once; the two frames differ only in their tail.
  std::string event_text =
      engine::event_json(event).dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string head = "{\"type\":\"event\",\"event\":" + event_text;
  out->frame_mine = std::make_shared<const std::string>(head + ",\"mine\":true}");
  out->frame_other = std::make_shared<const std::string>(std::move(head) + ",\"mine\":false}");
  out->event = std::move(event);
  return out;
}

void Hub::subscribe(std::weak_ptr<Subscriber> subscriber) {
  std::lock_guard lock(mu_);
  if (closed_) {
    if (auto s = subscriber.lock()) s->going_away();
    return;
  }
  if (auto s = subscriber.lock()) subscribers_[s.get()] = std::move(subscriber);
}

void Hub::unsubscribe(const Subscriber* subscriber) {
  std::lock_guard lock(mu_);
  subscribers_.erase(subscriber);
}

void Hub::publish(const std::vector<engine::Event>& events) {
  if (events.empty()) return;
  {
    // Nobody listening: count the events, serialise nothing. A stream that connects later
    // reads them from the log (it registers before it reads, so none falls in between).
    std::lock_guard lock(mu_);
    if (subscribers_.empty()) {
      published_ += events.size();
      return;
    }
  }
  // Serialise outside the lock: the I/O threads subscribe and unsubscribe meanwhile.
  auto batch = std::make_shared<std::vector<std::shared_ptr<const StreamEvent>>>();
  batch->reserve(events.size());
  for (const engine::Event& e : events) batch->push_back(StreamEvent::make(e));
  StreamBatch shared = std::move(batch);

  std::lock_guard lock(mu_);
  published_ += events.size();
  if (closed_) return;
  // deliver() only posts, so holding the lock here is short; it also guarantees that after
  // close_all() returns no session receives another batch.
  std::erase_if(subscribers_, [&](const auto& entry) {
    auto s = entry.second.lock();
    if (!s) return true;
    s->deliver(shared);
    return false;
  });
}

void Hub::recheck_all() {
  std::lock_guard lock(mu_);
  for (const auto& [key, w] : subscribers_) {
    if (auto s = w.lock()) s->recheck_credentials();
  }
}

void Hub::close_all() {
  std::unordered_map<const Subscriber*, std::weak_ptr<Subscriber>> subscribers;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    subscribers.swap(subscribers_);
  }
  for (auto& [key, w] : subscribers) {
    if (auto s = w.lock()) s->going_away();
  }
}

size_t Hub::size() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

uint64_t Hub::published() const {
  std::lock_guard lock(mu_);
  return published_;
}

bool is_mine(const engine::Principal& who, const engine::Event& event) {
  for (const engine::AudienceEntry& entry : event.audience) {
    if (!entry.user.empty()) {
      if (entry.user == who.id) return true;
      continue;
    }
    for (const engine::RoleGrant& grant : who.roles) {
      if (grant.role == entry.role && engine::org_covers(grant.org, entry.org)) return true;
    }
  }
  return false;
}

bool StreamFilter::admits(const engine::Event& event) const {
  if (!workflow.empty() && event.workflow != workflow) return false;
  if (!org.empty() && !engine::org_covers(org, event.org) &&
      !(!event.assignee_org.empty() && engine::org_covers(org, event.assignee_org))) {
    return false;
  }
  return true;
}

Result<StreamFilter> parse_client_message(std::string_view text) {
  auto parsed = parse_client_json(text);  // depth-guarded: a client's message
  if (!parsed) {
    return fail(Code::kInvalidJson, "消息不是合法的 JSON（message is not valid JSON）", parsed.error().details());
  }
  Json& message = *parsed;
  if (!message.is_object() || !message.contains("type") || !message["type"].is_string()) {
    return fail(Code::kBadRequest, "消息须为带 type 的 JSON 对象（message must be an object with a type）");
  }
  if (message["type"] != "subscribe") {
    return fail(Code::kBadRequest, "未知的消息类型（unknown message type）",
                Json{{"type", message["type"]}});
  }
  StreamFilter filter;
  std::vector<std::string> unknown;
  for (auto& [key, value] : message.items()) {
    if (key == "type") continue;
    if (key != "workflow" && key != "org") {
      unknown.push_back(key);
      continue;
    }
    if (!value.is_string()) {
      return fail(Code::kBadRequest, "字段 " + key + " 须为字符串（" + key + " must be a string）",
                  Json{{"field", key}});
    }
    (key == "workflow" ? filter.workflow : filter.org) = value.get<std::string>();
  }
  if (!unknown.empty()) {
    return fail(Code::kBadRequest, "未知字段（unknown keys）", Json{{"unknown", unknown}});
  }
  return filter;
}

std::string heartbeat_frame(uint64_t head) {
  return Json{{"type", "heartbeat"}, {"head", head}}.dump();
}

std::string error_frame(const Error& error) {
  return Json{{"type", "error"},
              {"error", {{"code", code_name(error.code)}, {"message", error.message},
                         {"details", error.details()}}}}
      .dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string subscribed_frame(const StreamFilter& filter) {
  Json out{{"type", "subscribed"}};
  out["workflow"] = filter.workflow.empty() ? Json(nullptr) : Json(filter.workflow);
  out["org"] = filter.org.empty() ? Json(nullptr) : Json(filter.org);
  return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace pioneer::api
