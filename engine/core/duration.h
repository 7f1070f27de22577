// The durations a definition may give (timer `after`, `at_field` `offset`, `due_in`): calendar
// time as ISO 8601 ("P7D", "PT12H", "-P7D"; parse_duration_ms in definition.h) or working days
// ("P5WD", "-P3WD"; parse_workdays in calendar.h), which the working-day calendar resolves.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace pioneer::engine {

struct Duration {
  enum class Unit { kMilliseconds, kWorkdays };
  Unit unit = Unit::kMilliseconds;
  int64_t amount = 0;  // milliseconds or working days; negative goes backwards
  bool operator==(const Duration&) const = default;
};

// "P5WD" / "-P3WD" as working days, else what parse_duration_ms accepts as milliseconds;
// nullopt for text that is neither (the caller reports it with its JSON path).
std::optional<Duration> parse_duration(std::string_view text);

}  // namespace pioneer::engine
