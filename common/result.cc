#include "common/result.h"

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

}  // namespace pioneer
