// The working-day calendar and the working-day duration syntax: pure functions, no store.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/input.h"
#include "engine/core/calendar.h"
#include "engine/core/duration.h"

namespace pioneer::engine {
namespace {

int64_t D(std::string_view text) {
  auto day = parse_day(text);
  EXPECT_TRUE(day.has_value()) << text;
  return day.value_or(0);
}

const Calendar& shipped() {
  static const Calendar calendar = [] {
    auto loaded = load_calendar_dir(PIONEER_SOURCE_DIR "/calendars");
    EXPECT_TRUE(loaded.has_value()) << (loaded ? "" : loaded.error().message);
    return loaded ? *loaded : Calendar();
  }();
  return calendar;
}

std::string add(const Calendar& c, std::string_view day, int64_t n) {
  auto out = c.add_workdays(D(day), n);
  return out ? format_day(*out) : "error: " + out.error().message;
}

// The notice of 2025-11-04, transcribed independently of calendars/cn-2026.json.
const std::vector<std::pair<std::string, std::string>> kHolidays2026 = {
    {"2026-01-01", "2026-01-03"}, {"2026-02-15", "2026-02-23"}, {"2026-04-04", "2026-04-06"}, {"2026-05-01", "2026-05-05"},
    {"2026-06-19", "2026-06-21"}, {"2026-09-25", "2026-09-27"}, {"2026-10-01", "2026-10-07"}};
const std::vector<std::string> kWorkdays2026 = {"2026-01-04", "2026-02-14", "2026-02-28",
                                                "2026-05-09", "2026-09-20", "2026-10-10"};

TEST(Calendar, EveryDayOf2026IsWhatTheNoticeSays) {
  std::set<int64_t> holidays, shifted;
  for (const auto& [from, to] : kHolidays2026) {
    for (int64_t d = D(from); d <= D(to); ++d) holidays.insert(d);
  }
  for (const std::string& w : kWorkdays2026) shifted.insert(D(w));
  ASSERT_EQ(holidays.size(), 3u + 9 + 3 + 5 + 3 + 3 + 7);  // 共3天, 共9天, ...
  int workdays = 0;
  for (int64_t d = D("2026-01-01"); d <= D("2026-12-31"); ++d) {
    const int w = weekday_of_day(d);
    DayKind expected = (w == 0 || w == 6) ? DayKind::kWeekend : DayKind::kWorkday;
    if (holidays.contains(d)) expected = DayKind::kHoliday;
    if (shifted.contains(d)) expected = DayKind::kShiftedWorkday;
    EXPECT_EQ(day_kind_name(shipped().kind(d)), day_kind_name(expected)) << format_day(d);
    workdays += shipped().is_workday(d) ? 1 : 0;
  }
  EXPECT_EQ(workdays, 248);  // 261 weekdays, 19 of them holidays, 6 weekend days worked
}

TEST(Calendar, TheNoticesWeekdaysHold) {
  // The notice names the weekday of each date; a transcription error would move them.
  EXPECT_EQ(weekday_of_day(D("2026-01-01")), 4);  // 周四
  EXPECT_EQ(weekday_of_day(D("2026-01-04")), 0);  // 周日上班
  EXPECT_EQ(weekday_of_day(D("2026-02-14")), 6);
  EXPECT_EQ(weekday_of_day(D("2026-02-15")), 0);
  EXPECT_EQ(weekday_of_day(D("2026-02-23")), 1);
  EXPECT_EQ(weekday_of_day(D("2026-02-28")), 6);
  EXPECT_EQ(weekday_of_day(D("2026-04-04")), 6);
  EXPECT_EQ(weekday_of_day(D("2026-05-01")), 5);
  EXPECT_EQ(weekday_of_day(D("2026-05-09")), 6);
  EXPECT_EQ(weekday_of_day(D("2026-06-19")), 5);
  EXPECT_EQ(weekday_of_day(D("2026-09-20")), 0);
  EXPECT_EQ(weekday_of_day(D("2026-09-25")), 5);
  EXPECT_EQ(weekday_of_day(D("2026-10-01")), 4);
  EXPECT_EQ(weekday_of_day(D("2026-10-07")), 3);
  EXPECT_EQ(weekday_of_day(D("2026-10-10")), 6);
}

TEST(Calendar, ShippedFileNamesItsSource) {
  const YearCalendar* y = shipped().year(2026);
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->source_title, "国务院办公厅关于2026年部分节假日安排的通知");
  EXPECT_EQ(format_day(y->source_issued), "2025-11-04");
  EXPECT_EQ(y->holidays.size(), 7u);
  EXPECT_EQ(shipped().years(), std::vector<int>{2026});
}

TEST(Calendar, FiveWorkdaysAfterTheThirtiethOfSeptemberIsTheThirteenthOfOctober) {
  // GET /api/v1/calendar/add?date=2026-09-30&workdays=5: 10-08, 10-09, 10-10 (调休), 10-12, 10-13.
  EXPECT_EQ(add(shipped(), "2026-09-30", 5), "2026-10-13");
  EXPECT_EQ(add(Calendar(), "2026-09-30", 5), "2026-10-07");  // weekends only
}

TEST(Calendar, AddingAcrossHolidays) {
  EXPECT_EQ(add(shipped(), "2026-02-13", 1), "2026-02-14");  // the Saturday worked
  EXPECT_EQ(add(shipped(), "2026-02-14", 1), "2026-02-24");  // over the Spring Festival
  EXPECT_EQ(add(shipped(), "2026-04-30", 1), "2026-05-06");
  EXPECT_EQ(add(shipped(), "2026-05-06", 3), "2026-05-09");  // 05-07, 05-08, 05-09 (周六上班)
  EXPECT_EQ(add(shipped(), "2026-09-18", 1), "2026-09-20");  // 周日上班
  EXPECT_EQ(add(shipped(), "2026-09-24", 1), "2026-09-28");  // over 中秋
  EXPECT_EQ(add(shipped(), "2026-10-03", 0), "2026-10-03");  // n = 0 is the day itself
  // Starting on a holiday: the next working day is the first.
  EXPECT_EQ(add(shipped(), "2026-10-03", 1), "2026-10-08");
}

TEST(Calendar, AddingBackwards) {
  EXPECT_EQ(add(shipped(), "2026-10-13", -5), "2026-09-30");
  EXPECT_EQ(add(shipped(), "2026-10-08", -1), "2026-09-30");
  EXPECT_EQ(add(shipped(), "2026-02-24", -1), "2026-02-14");
  EXPECT_EQ(add(shipped(), "2026-01-05", -1), "2026-01-04");   // 元旦's Sunday worked
  EXPECT_EQ(add(shipped(), "2026-01-04", -1), "2025-12-31");   // into 2025 (no file: a Wednesday)
}

TEST(Calendar, GoingBackUndoesGoingForwardFromAWorkingDay) {
  const Calendar& c = shipped();
  for (int64_t from = D("2025-12-20"); from <= D("2027-01-10"); ++from) {
    if (!c.is_workday(from)) continue;
    for (int64_t n : {1, 2, 5, 10}) {
      auto to = c.add_workdays(from, n);
      ASSERT_TRUE(to.has_value());
      EXPECT_EQ(c.add_workdays(*to, -n), from) << format_day(from) << " + " << n;
    }
  }
}

TEST(Calendar, AcrossTheYearBoundaryAndThroughAMissingYear) {
  // 2027 has no file: Monday to Friday. 2026-12-31 is a Thursday.
  EXPECT_EQ(add(shipped(), "2026-12-31", 1), "2027-01-01");
  EXPECT_EQ(add(shipped(), "2026-12-31", 2), "2027-01-04");
  EXPECT_EQ(shipped().missing_years(2026, 2028), (std::vector<int>{2027, 2028}));
  // Through a whole missing year and back into a year with a file: 2025 is missing, 2026 not.
  Calendar c = shipped();
  YearCalendar y2028;
  y2028.year = 2028;
  y2028.source_title = "测试";
  y2028.holidays = {{"元旦", D("2028-01-01"), D("2028-01-03")}};
  c.set_year(y2028);
  EXPECT_EQ(c.missing_years(2026, 2028), std::vector<int>{2027});
  // 2027-12-31 is a Friday; 2028-01-01..03 (Sat-Mon) are off; Tue 01-04 is the first.
  EXPECT_EQ(add(c, "2027-12-31", 1), "2028-01-04");
  EXPECT_EQ(add(c, "2028-01-04", -1), "2027-12-31");
  // From 2026-12-31 across all of 2027 (261 weekdays) into 2028.
  EXPECT_EQ(add(c, "2026-12-31", 262), "2028-01-04");
  EXPECT_EQ(add(shipped(), "2026-12-31", 262), "2028-01-03");
}

TEST(Calendar, WorkdaysBetweenAgreesWithAdding) {
  const Calendar& c = shipped();
  EXPECT_EQ(c.workdays_between(D("2026-09-30"), D("2026-10-13")), 5);
  EXPECT_EQ(c.workdays_between(D("2026-10-13"), D("2026-09-30")), -5);
  EXPECT_EQ(c.workdays_between(D("2026-10-01"), D("2026-10-07")), 0);
  EXPECT_EQ(c.workdays_between(D("2025-12-31"), D("2026-12-31")), 248);
  EXPECT_EQ(c.workdays_between(D("2026-05-05"), D("2026-05-05")), 0);
  EXPECT_EQ(c.workdays_between(D("2026-12-31"), D("2027-12-31")), 261);  // 2027: no file
  // For every pair of days in a window around 国庆 and the year's end, the two agree.
  for (int64_t from = D("2026-09-15"); from <= D("2026-10-20"); from += 3) {
    for (int64_t to = from; to <= D("2027-01-20"); ++to) {
      auto n = c.workdays_between(from, to);
      ASSERT_TRUE(n.has_value());
      auto back = c.add_workdays(from, *n);
      ASSERT_TRUE(back.has_value());
      if (c.is_workday(to)) {
        EXPECT_EQ(*back, to) << format_day(from) << " -> " << format_day(to);
      } else if (*n == 0) {
        EXPECT_EQ(*back, from);
      } else {
        EXPECT_LT(*back, to);  // the last working day before `to`
        EXPECT_TRUE(c.is_workday(*back));
      }
    }
  }
  EXPECT_FALSE(c.workdays_between(D("2026-01-01"), 10'000'000).has_value());
}

TEST(Calendar, LimitsAreRefusedNotLooped) {
  const Calendar& c = shipped();
  EXPECT_FALSE(c.add_workdays(D("2026-01-01"), kMaxWorkdays + 1).has_value());
  EXPECT_FALSE(c.add_workdays(D("2026-01-01"), -kMaxWorkdays - 1).has_value());
  EXPECT_TRUE(c.add_workdays(D("2026-01-01"), kMaxWorkdays).has_value());
  EXPECT_FALSE(c.add_workdays(D("9999-12-31"), 1).has_value());
  EXPECT_FALSE(c.add_workdays(D("1900-01-01"), -1).has_value());
  EXPECT_EQ(c.add_workdays(D("1900-01-01"), -1).error().code, Code::kBadRequest);
  EXPECT_FALSE(c.add_workdays(INT64_MAX, 0).has_value());
  // Days outside 1900-9999 follow the weekday rule, whatever their number.
  EXPECT_EQ(c.kind(D("1900-01-01") - 1), DayKind::kWeekend);  // 1899-12-31, a Sunday
  EXPECT_EQ(c.kind(D("1900-01-01") - 2), DayKind::kWeekend);
  EXPECT_EQ(c.kind(D("1900-01-01") - 3), DayKind::kWorkday);
  for (int64_t far : {INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1}) {
    const int w = weekday_of_day(far);
    ASSERT_GE(w, 0);
    ASSERT_LE(w, 6);
    EXPECT_EQ(c.kind(far), (w == 0 || w == 6) ? DayKind::kWeekend : DayKind::kWorkday);
  }
}

TEST(Calendar, DatesEndAtTheEndOfTheDayInChinaStandardTime) {
  // 2026-09-30 ends at 2026-09-30T16:00:00Z (midnight in Beijing).
  const int64_t end = day_end_instant(D("2026-09-30"));
  EXPECT_EQ(end, (D("2026-09-30") * 86400 + 16 * 3600) * 1000);
  EXPECT_EQ(day_of_instant(end - 1), D("2026-09-30"));
  EXPECT_EQ(day_of_instant(end), D("2026-10-01"));
  EXPECT_EQ(day_of_instant(-1, 0), -1);  // floor, not truncation
  // A 公示 of 5 working days posted on Wednesday 2026-09-30 at 10:00 Beijing time ends with 10-13.
  const int64_t posted = (D("2026-09-30") * 86400 + 2 * 3600) * 1000;
  auto due = shipped().workday_due(posted, 5);
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(*due, day_end_instant(D("2026-10-13")));
  // At 23:30 Beijing time on 09-30 it is still the 30th (15:30 UTC), at 00:30 on 10-01 not.
  EXPECT_EQ(day_of_instant((D("2026-09-30") * 86400 + 15 * 3600 + 1800) * 1000), D("2026-09-30"));
  EXPECT_EQ(day_of_instant((D("2026-09-30") * 86400 + 16 * 3600 + 1800) * 1000), D("2026-10-01"));
}

TEST(Calendar, DayTextRoundTrips) {
  EXPECT_EQ(format_day(D("2026-02-28")), "2026-02-28");
  EXPECT_EQ(format_day(0), "1970-01-01");
  EXPECT_FALSE(parse_day("2026-02-29").has_value());
  EXPECT_TRUE(parse_day("2028-02-29").has_value());
  EXPECT_FALSE(parse_day("1899-12-31").has_value());
  EXPECT_FALSE(parse_day("2026-1-01").has_value());
  EXPECT_FALSE(parse_day("2026-01-01 ").has_value());
  EXPECT_FALSE(parse_day("２026-01-01").has_value());
  EXPECT_EQ(year_of_day(D("2026-12-31")), 2026);
}

TEST(Duration, WorkingDaysBesideCalendarTime) {
  EXPECT_EQ(parse_workdays("P5WD"), 5);
  EXPECT_EQ(parse_workdays("-P3WD"), -3);
  EXPECT_EQ(parse_workdays("P0WD"), 0);
  EXPECT_EQ(parse_workdays("P25000WD"), 25000);
  for (std::string_view bad : {"P25001WD", "P5D", "+P5WD", "PWD", "P5W", "P5WDX", "PT5WD", "P1W2WD", "P-5WD", "--P5WD",
                               "p5wd", "P5 WD", "", "-", "P", "P99999999999999999999WD"}) {
    EXPECT_FALSE(parse_workdays(bad).has_value()) << bad;
  }
  EXPECT_EQ(parse_duration("P5WD"), (Duration{Duration::Unit::kWorkdays, 5}));
  EXPECT_EQ(parse_duration("-P3WD"), (Duration{Duration::Unit::kWorkdays, -3}));
  EXPECT_EQ(parse_duration("P5D"), (Duration{Duration::Unit::kMilliseconds, 5 * 86'400'000LL}));
  EXPECT_EQ(parse_duration("-PT12H"), (Duration{Duration::Unit::kMilliseconds, -12 * 3'600'000LL}));
  EXPECT_FALSE(parse_duration("P5WDT1H").has_value());
  EXPECT_FALSE(parse_duration("P1Y").has_value());
}

// ---- the file format ----

std::string shipped_text() { return read_file(PIONEER_SOURCE_DIR "/calendars/cn-2026.json").value_or(""); }

// The shipped file with one JSON pointer replaced (or removed when `value` is discarded).
std::string edited(const std::string& pointer, const Json& value) {
  Json j = Json::parse(shipped_text());
  if (value.is_discarded()) {
    j.erase(pointer.substr(1));
  } else {
    j[Json::json_pointer(pointer)] = value;
  }
  return j.dump();
}

std::string refusal(const std::string& text) {
  auto parsed = parse_year_calendar(text);
  if (parsed) return "accepted";
  EXPECT_EQ(parsed.error().code, Code::kInvalidDefinition);
  return parsed.error().details().value("problems", Json::array()).dump();
}

TEST(CalendarFile, CanonicalFormRoundTrips) {
  auto parsed = parse_year_calendar(shipped_text());
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  auto again = parse_year_calendar(year_calendar_json(*parsed).dump());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *parsed);
}

TEST(CalendarFile, EveryCheckRefuses) {
  const Json discard = Json(Json::value_t::discarded);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {edited("/format", 2), "format"},
      {edited("/year", 1899), "year"},
      {edited("/year", "2026"), "year"},
      {edited("/year", 2027), "不在 2027 年内"},            // every date now lies outside the year
      {edited("/extra", 1), "unknown key 'extra'"},
      {edited("/source/title", ""), "source.title"},
      {edited("/source", discard), "source"},
      {edited("/source/issued", "2025-11-31"), "source.issued"},
      {edited("/holidays/1/to", "2026-02-01"), "ends before it starts"},
      {edited("/holidays/0/from", "2025-12-31"), "is not in 2026"},
      {edited("/holidays/1/to", "2026-03-30"), "longer than 31 days"},
      {edited("/holidays/3/from", "2026-04-06"), "overlap"},
      {edited("/holidays/2/name", "春节"), "used twice"},
      {edited("/holidays/0/colour", "red"), "unknown key 'colour'"},
      {edited("/workdays/0/date", "2026-01-05"), "not a Saturday or Sunday"},
      {edited("/workdays/0/date", "2026-10-03"), "both a day of 国庆节 and a workday"},
      {edited("/workdays/0/date", "2026-02-14"), "listed twice"},
      {edited("/workdays/0/date", "2027-01-02"), "is not in 2026"},
      {edited("/workdays/0/for", "除夕"), "'除夕'"},
      {edited("/holidays", Json::object()), "holidays must be an array"},
      {edited("/workdays", Json::array({1})), "workdays[0] must be an object"},
      {"[]", ""},
      {"{", ""},
      {std::string(100, '[') + std::string(100, ']'), ""},
  };
  for (const auto& [text, expected] : cases) {
    const std::string why = refusal(text);
    EXPECT_NE(why, "accepted") << text;
    EXPECT_NE(why.find(expected), std::string::npos) << why;
  }
  // A file with problems names each one.
  Json j = Json::parse(shipped_text());
  j["format"] = 3;
  j["workdays"][0]["date"] = "2026-01-05";
  auto parsed = parse_year_calendar(j.dump());
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().details()["problems"].size(), 2u);
  EXPECT_NE(parsed.error().message.find("2 处错误"), std::string::npos);
}

TEST(CalendarFile, AYearWithoutShiftedWorkdaysIsFine) {
  Json j = Json::parse(shipped_text());
  j.erase("workdays");
  j["holidays"] = Json::array();
  auto parsed = parse_year_calendar(j.dump());
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_TRUE(parsed->workdays.empty());
}

TEST(CalendarFile, LoadingAFolder) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("pioneer-calendar-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) { std::ofstream(dir / name) << text; };
  write("README.md", "not a calendar");
  write("cn-2026.json", shipped_text());
  auto loaded = load_calendar_dir(dir.string());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->years(), std::vector<int>{2026});
  write("cn-2027.json", shipped_text());  // holds 2026
  loaded = load_calendar_dir(dir.string());
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().message.find("cn-2027.json"), std::string::npos);
  fs::remove(dir / "cn-2027.json");
  write("cn-2027.json", "{}");
  loaded = load_calendar_dir(dir.string());
  ASSERT_FALSE(loaded.has_value());
  EXPECT_FALSE(loaded.error().details()["problems"].empty());
  fs::remove_all(dir);
  loaded = load_calendar_dir(dir.string());
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(loaded->years().empty());
}

}  // namespace
}  // namespace pioneer::engine
