// apply_config_file(): a JSON file whose keys are ServerConfig member names.
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "api/server.h"
#include "common/input.h"
#include "common/result.h"

namespace pioneer::api {

namespace {

using Setter = std::function<std::string(const Json&, ServerConfig&)>;

template <class T>
Setter number(T ServerConfig::*member, const char* name) {
  return [member, name](const Json& v, ServerConfig& c) -> std::string {
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      return std::string(name) + " must be a non-negative integer";
    }
    c.*member = static_cast<T>(v.get<int64_t>());
    return "";
  };
}

Setter text(std::string ServerConfig::*member, const char* name) {
  return [member, name](const Json& v, ServerConfig& c) -> std::string {
    if (!v.is_string()) return std::string(name) + " must be a string";
    c.*member = v.get<std::string>();
    return "";
  };
}

Setter flag(bool ServerConfig::*member, const char* name) {
  return [member, name](const Json& v, ServerConfig& c) -> std::string {
    if (!v.is_boolean()) return std::string(name) + " must be true or false";
    c.*member = v.get<bool>();
    return "";
  };
}

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = {
      {"data_dir", text(&ServerConfig::data_dir, "data_dir")},
      {"listen", text(&ServerConfig::listen, "listen")},
      {"demo", flag(&ServerConfig::demo, "demo")},
      {"workflows_dir", text(&ServerConfig::workflows_dir, "workflows_dir")},
      {"roles_file", text(&ServerConfig::roles_file, "roles_file")},
      {"tls_cert", text(&ServerConfig::tls_cert, "tls_cert")},
      {"tls_key", text(&ServerConfig::tls_key, "tls_key")},
      {"threads", number(&ServerConfig::threads, "threads")},
      {"body_limit", number(&ServerConfig::body_limit, "body_limit")},
      {"header_limit", number(&ServerConfig::header_limit, "header_limit")},
      {"idle_timeout_s", number(&ServerConfig::idle_timeout_s, "idle_timeout_s")},
      {"request_timeout_s", number(&ServerConfig::request_timeout_s, "request_timeout_s")},
      {"ws_message_limit", number(&ServerConfig::ws_message_limit, "ws_message_limit")},
      {"ws_queue_limit", number(&ServerConfig::ws_queue_limit, "ws_queue_limit")},
      {"ws_send_buffer", number(&ServerConfig::ws_send_buffer, "ws_send_buffer")},
      {"heartbeat_s", number(&ServerConfig::heartbeat_s, "heartbeat_s")},
      {"max_connections", number(&ServerConfig::max_connections, "max_connections")},
      {"max_connections_per_address", number(&ServerConfig::max_connections_per_address, "max_connections_per_address")},
      {"queue_limit", number(&ServerConfig::queue_limit, "queue_limit")},
      {"page_scan_limit", number(&ServerConfig::page_scan_limit, "page_scan_limit")},
      {"feed_scan_events", number(&ServerConfig::feed_scan_events, "feed_scan_events")},
      {"feed_merge_instances", number(&ServerConfig::feed_merge_instances, "feed_merge_instances")},
      {"hash_algorithm", text(&ServerConfig::hash_algorithm, "hash_algorithm")},
      {"public_origin", text(&ServerConfig::public_origin, "public_origin")},
      {"session_idle_s", number(&ServerConfig::session_idle_s, "session_idle_s")},
      {"session_max_s", number(&ServerConfig::session_max_s, "session_max_s")},
      {"login_max_failures", number(&ServerConfig::login_max_failures, "login_max_failures")},
      {"login_max_address_failures", number(&ServerConfig::login_max_address_failures, "login_max_address_failures")},
      {"login_window_s", number(&ServerConfig::login_window_s, "login_window_s")},
      {"password_threads", number(&ServerConfig::password_threads, "password_threads")},
      {"memtable_bytes", number(&ServerConfig::memtable_bytes, "memtable_bytes")},
  };
  return table;
}

}  // namespace

std::string apply_config_file(const std::string& path, ServerConfig& config) {
  std::optional<std::string> text = read_file(path);
  if (!text) return "cannot read config file " + path;
  Json json = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return "config file " + path + " is not a JSON object";
  }
  // Check every key before changing anything, so a bad file changes nothing.
  ServerConfig changed = config;
  for (const auto& item : json.items()) {
    auto it = setters().find(item.key());
    if (it == setters().end()) return "config file " + path + ": unknown key " + item.key();
    if (std::string problem = it->second(item.value(), changed); !problem.empty()) {
      return "config file " + path + ": " + problem;
    }
  }
  if (changed.threads < 1) return "config file " + path + ": threads must be at least 1";
  if (changed.heartbeat_s < 1) return "config file " + path + ": heartbeat_s must be at least 1";
  if (changed.ws_queue_limit < 1) return "config file " + path + ": ws_queue_limit must be at least 1";
  if (changed.page_scan_limit < 1) return "config file " + path + ": page_scan_limit must be at least 1";
  if (changed.session_idle_s < 1 || changed.session_max_s < 1) {
    return "config file " + path + ": session_idle_s and session_max_s must be at least 1";
  }
  if (changed.login_max_failures < 1 || changed.login_max_address_failures < 1 || changed.login_window_s < 1) {
    return "config file " + path + ": the login limits must be at least 1";
  }
  if (changed.password_threads < 1) return "config file " + path + ": password_threads must be at least 1";
  if (changed.feed_scan_events < 1) return "config file " + path + ": feed_scan_events must be at least 1";
  config = std::move(changed);
  return "";
}

}  // namespace pioneer::api
