#include "engine/core/duration.h"

#include "engine/core/calendar.h"
#include "engine/core/definition.h"

namespace pioneer::engine {

std::optional<Duration> parse_duration(std::string_view text) {
  if (auto workdays = parse_workdays(text)) return Duration{Duration::Unit::kWorkdays, *workdays};
  if (auto ms = parse_duration_ms(text)) return Duration{Duration::Unit::kMilliseconds, *ms};
  return std::nullopt;
}

}  // namespace pioneer::engine
