// The working-day calendar: which civil days are 工作日 in China, as the State Council's yearly
// notice on public holidays sets them (放假 days, and the weekend days worked in exchange, 调休).
//
// A day is a civil day in China Standard Time, counted from 1970-01-01 (day 0; earlier days are
// negative), the same numbering as a `date` field. A year is described by one file,
// calendars/cn-YYYY.json (the format is in docs/calendars.md and YearCalendar below). A year
// without a file counts Monday to Friday as working days; missing_years() names such years so
// that the operator can be told to add the file.
//
// Calendar is a plain value: no I/O except load_calendar_dir(), no clock, no threads. Const
// member functions may be called from any number of threads at once; set_year() may not run
// beside them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace pioneer::engine {

// China Standard Time, UTC+8, all year (no daylight saving).
inline constexpr int kChinaUtcOffsetMinutes = 8 * 60;
// The longest working-day count accepted anywhere (about 100 years of working days), so that
// every count is answered in bounded time.
inline constexpr int64_t kMaxWorkdays = 25'000;
// Years a calendar file, a date and a result may lie in.
inline constexpr int kFirstYear = 1900, kLastYear = 9999;

// "YYYY-MM-DD" (a real date, years 1900-9999) as a day number; nullopt otherwise. The same
// reading as a `date` field's (parse_date_days in codec.h), limited to the calendar's years.
std::optional<int64_t> parse_day(std::string_view text);
// The day as "YYYY-MM-DD" (for days 1900-01-01 .. 9999-12-31).
std::string format_day(int64_t day);
// The calendar year the day falls in.
int year_of_day(int64_t day);
// 0 = Sunday ... 6 = Saturday.
int weekday_of_day(int64_t day);

// The civil day an instant (milliseconds since the Unix epoch) falls in, at the given offset.
int64_t day_of_instant(int64_t ms, int utc_offset_minutes = kChinaUtcOffsetMinutes);
// When a day ends: the first millisecond of the following day at the given offset. A deadline
// given as a date is met by anything done before this instant (the whole day counts).
int64_t day_end_instant(int64_t day, int utc_offset_minutes = kChinaUtcOffsetMinutes);

// The working-day duration of a definition: "P5WD" is 5, "-P3WD" is -3, "P0WD" is 0. Exactly
// an optional '-', 'P', decimal digits, "WD"; nullopt for anything else (including "P5D", a
// '+' sign, a time part, or a count above kMaxWorkdays).
std::optional<int64_t> parse_workdays(std::string_view text);

enum class DayKind {
  kWorkday,         // Monday to Friday, not a holiday
  kWeekend,         // Saturday or Sunday, not worked
  kHoliday,         // 放假: a day of a holiday period (weekdays and weekend days alike)
  kShiftedWorkday,  // 调休上班: a Saturday or Sunday worked in exchange for a holiday
};
std::string_view day_kind_name(DayKind kind);  // "workday", "weekend", "holiday", "shifted_workday"

struct Holiday {
  std::string name;  // 元旦, 春节, ...
  int64_t first = 0, last = 0;  // days, inclusive
  bool operator==(const Holiday&) const = default;
};

struct ShiftedWorkday {
  int64_t day = 0;
  std::string holiday;  // the name of the holiday it makes up for
  bool operator==(const ShiftedWorkday&) const = default;
};

// One year's file. Holidays are sorted by first day and disjoint; shifted workdays are sorted.
struct YearCalendar {
  int year = 0;
  std::string source_title;  // the notice, e.g. 国务院办公厅关于2026年部分节假日安排的通知
  std::string source_issuer;  // may be empty
  int64_t source_issued = 0;  // the day the notice was issued
  std::string source_url;  // may be empty
  std::vector<Holiday> holidays;
  std::vector<ShiftedWorkday> workdays;
  bool operator==(const YearCalendar&) const = default;
};

// Reads one year's file (JSON text). Refuses, with kInvalidDefinition and every problem listed
// in details.problems as {path, message}: text that is not JSON or nests too deep; a key the
// format does not have; a format other than 1; a year outside 1900-9999; a source without a
// title or issue date; a holiday without a name, with a name used twice, with a date that is
// not a real date or lies outside the year, ending before it starts, longer than 31 days, or
// overlapping another; more than 64 holidays or workdays; a workday outside the year, on a
// Monday to Friday, inside a holiday, listed twice, or naming a holiday the file does not have.
// Nothing is returned unless every check passes.
Result<YearCalendar> parse_year_calendar(std::string_view text);
// The file's canonical JSON: parse_year_calendar(year_calendar_json(y).dump()) == y.
Json year_calendar_json(const YearCalendar& year);

class Calendar {
 public:
  // No years: Monday to Friday work, every year is missing.
  Calendar() = default;

  // Installs a parsed year, replacing the year's previous file if any.
  void set_year(YearCalendar year);
  // The file of `year`, or nullptr when the year has none.
  const YearCalendar* year(int year) const;
  // The years that have a file, ascending.
  std::vector<int> years() const;
  // The years from `first` to `last` (inclusive, ascending) without a file.
  std::vector<int> missing_years(int first, int last) const;

  // What the day is. Days outside 1900-9999 are answered as in a year without a file.
  DayKind kind(int64_t day) const;
  bool is_workday(int64_t day) const {
    const DayKind k = kind(day);
    return k == DayKind::kWorkday || k == DayKind::kShiftedWorkday;
  }

  // The day `n` working days after `day` (n > 0) or before it (n < 0): the n-th working day
  // counted from the next (previous) day, whether or not `day` itself is a working day; `day`
  // itself when n == 0. kBadRequest when |n| > kMaxWorkdays or when `day` or the result lies
  // outside 1900-01-01 .. 9999-12-31.
  Result<int64_t> add_workdays(int64_t day, int64_t n) const;

  // The working days in (from, to] when from <= to, and minus those in (to, from] otherwise,
  // so that add_workdays(from, workdays_between(from, to)) == to whenever `to` is a working day
  // after `from`. Linear in the number of special days in range, never in its length.
  // kBadRequest when either day lies outside 1900-01-01 .. 9999-12-31.
  Result<int64_t> workdays_between(int64_t from, int64_t to) const;

  // When something due `n` working days after the instant `start_ms` is due: the end
  // (day_end_instant) of add_workdays(day of start_ms, n), days taken at the given offset. The
  // day of `start_ms` does not count (the 民法典's rule for periods counted in days), so a
  // notice posted on a Friday for 5 working days ends with the following Friday.
  Result<int64_t> workday_due(int64_t start_ms, int64_t n, int utc_offset_minutes = kChinaUtcOffsetMinutes) const;

 private:
  struct Year {
    YearCalendar file;
    std::vector<DayKind> kinds;  // one per day of the year, from January 1st
  };
  std::map<int, Year> years_;
};

// Loads every file of a calendars folder: each must be named cn-YYYY.json, hold that year and
// pass parse_year_calendar(); other files (a README, say) are ignored. A folder that is absent
// or empty gives an empty Calendar. kNotFound when the folder cannot be read, kInvalidDefinition
// naming the file for the first file that does not pass; then nothing is returned.
Result<Calendar> load_calendar_dir(const std::string& dir);

}  // namespace pioneer::engine
