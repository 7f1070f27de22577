// Result<T>: the value-or-error type every module returns instead of throwing.
//
// An Error carries a stable machine code (the codes of docs/api.md), a message a person can act on
// (Chinese first, then English in parentheses) and optional structured details. Exceptions
// never cross a module boundary: JSON and library exceptions are caught where they arise and
// turned into an Error. Thread-safe as values are.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json_fwd.hpp>

namespace pioneer {

using Json = nlohmann::json;

enum class Code {
  kInvalidJson,           // 400
  kBadRequest,            // 400
  kUnauthenticated,       // 401
  kInvalidCredentials,    // 401: wrong user or password at login (one answer for both)
  kForbidden,             // 403
  kNotFound,              // 404
  kVersionConflict,       // 409
  kTransitionNotAllowed,  // 409
  kIdempotencyConflict,   // 409
  kPayloadTooLarge,       // 413
  kTooManyAttempts,       // 429: too many failed logins; Retry-After says when to try again
  kMissingFields,         // 422
  kInvalidField,          // 422
  kInvalidDefinition,     // 422
  kOverloaded,            // 503
  kUnavailable,           // 503: storage is not accepting writes for now (a background error)
  kInternal,              // 500: a bug or an I/O failure; the detail goes to the log only
  kCorruption,            // 500: stored data failed a check
};

// The stable wire name of a code ("missing_fields", ...).
std::string_view code_name(Code code);

// The details are JSON, held behind a pointer so that this header needs only nlohmann's forward
// declarations: a file that reads or writes details includes <nlohmann/json.hpp> itself.
struct Error {
  Code code = Code::kInternal;
  std::string message;

  // {} when none were given.
  const Json& details() const;

  static Error make(Code code, std::string message);
  static Error make(Code code, std::string message, Json details);

 private:
  std::shared_ptr<const Json> details_;  // null: {}
};

template <class T>
using Result = std::expected<T, Error>;

// Shorthand for returning an error from a function that returns Result<T>.
std::unexpected<Error> fail(Code code, std::string message);
std::unexpected<Error> fail(Code code, std::string message, Json details);
inline std::unexpected<Error> fail(Error error) { return std::unexpected(std::move(error)); }

}  // namespace pioneer
