#include "common/result.h"

#include <nlohmann/json.hpp>

namespace pioneer {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kInvalidJson: return "invalid_json";
    case Code::kBadRequest: return "bad_request";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kInvalidCredentials: return "invalid_credentials";
    case Code::kForbidden: return "forbidden";
    case Code::kNotFound: return "not_found";
    case Code::kVersionConflict: return "version_conflict";
    case Code::kTransitionNotAllowed: return "transition_not_allowed";
    case Code::kIdempotencyConflict: return "idempotency_conflict";
    case Code::kPayloadTooLarge: return "payload_too_large";
    case Code::kTooManyAttempts: return "too_many_attempts";
    case Code::kMissingFields: return "missing_fields";
    case Code::kInvalidField: return "invalid_field";
    case Code::kInvalidDefinition: return "invalid_definition";
    case Code::kOverloaded: return "overloaded";
    case Code::kUnavailable: return "unavailable";
    case Code::kInternal: return "internal";
    case Code::kCorruption: return "corruption";
  }
  return "internal";
}

const Json& Error::details() const {
  static const Json empty = Json::object();
  return details_ ? *details_ : empty;
}

Error Error::make(Code code, std::string message) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

Error Error::make(Code code, std::string message, Json details) {
  Error e = make(code, std::move(message));
  e.details_ = std::make_shared<const Json>(std::move(details));
  return e;
}

std::unexpected<Error> fail(Code code, std::string message) {
  return std::unexpected(Error::make(code, std::move(message)));
}

std::unexpected<Error> fail(Code code, std::string message, Json details) {
  return std::unexpected(Error::make(code, std::move(message), std::move(details)));
}

}  // namespace pioneer
