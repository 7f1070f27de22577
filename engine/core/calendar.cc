#include "engine/core/calendar.h"
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include "common/input.h"
#include "engine/core/codec.h"

namespace pioneer::engine {
namespace {

namespace chr = std::chrono;

constexpr int64_t kDayMs = 86'400'000;
constexpr size_t kMaxEntries = 64;
constexpr int64_t kMaxHolidayDays = 31;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

constexpr int64_t days_of(int y, unsigned m, unsigned d) {
  return chr::sys_days(chr::year_month_day(chr::year(y), chr::month(m), chr::day(d))).time_since_epoch().count();
}

chr::year_month_day civil(int64_t day) { return chr::year_month_day(chr::sys_days(chr::days(day))); }

constexpr int64_t first_day_of_year(int y) { return days_of(y, 1, 1); }

// Monday-to-Friday days in (-inf, day], up to a constant: day -3 (1969-12-29) was a Monday.
int64_t weekdays_through(int64_t day) {
  const int64_t m = day + 3;
  const int64_t weeks = floor_div(m, 7);
  const int64_t r = m - 7 * weeks;  // 0 = Monday ... 6 = Sunday
  return 5 * weeks + std::min<int64_t>(r + 1, 5);
}

bool is_weekend(int64_t day) {
  const int w = weekday_of_day(day);
  return w == 0 || w == 6;
}

std::string both(const std::string& zh, const std::string& en) { return zh + "（" + en + "）"; }

// 1900-01-01 and 9999-12-31, the first and last day a count may start from or reach.
constexpr int64_t kLowDay = first_day_of_year(kFirstYear), kHighDay = first_day_of_year(kLastYear + 1) - 1;

std::unexpected<Error> out_of_range() {
  return fail(Code::kBadRequest, both("日期须在 1900-01-01 至 9999-12-31 之间", "dates must lie between 1900-01-01 and 9999-12-31"));
}

// Collects the problems of one file, each with the JSON path it concerns.
class Checker {
 public:
  explicit Checker(const Json& root) : root_(root) {}
  Result<YearCalendar> run();

 private:
  void problem(std::string path, const std::string& zh, const std::string& en) {
    problems_.push_back(Json{{"path", std::move(path)}, {"message", both(zh, en)}});
  }
  void only_keys(const Json& obj, const std::string& path, std::initializer_list<std::string_view> keys);
  std::optional<std::string> text(const Json& obj, const std::string& path, std::string_view key, bool required);
  std::optional<int64_t> date(const Json& obj, const std::string& path, std::string_view key, bool in_year);
  template <class Each>
  void each_object(const std::string& key, bool required, Each each);
  void read_source();
  void read_holidays();
  void read_workdays();
  void check_holiday_overlaps();

  const Json& root_;
  YearCalendar out_;
  Json problems_ = Json::array();
};

std::string at(const std::string& path, std::string_view key) { return path.empty() ? std::string(key) : path + "." + std::string(key); }
std::string at(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

void Checker::only_keys(const Json& obj, const std::string& path, std::initializer_list<std::string_view> keys) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      problem(at(path, key), "日历文件没有这一项 '" + key + "'", "unknown key '" + key + "' in a calendar file");
    }
  }
}

std::optional<std::string> Checker::text(const Json& obj, const std::string& path, std::string_view key, bool required) {
  const std::string p = at(path, key);
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) problem(p, "缺少 " + p, p + " is required");
    return std::nullopt;
  }
  if (!it->is_string() || it->get_ref<const std::string&>().empty() || it->get_ref<const std::string&>().size() > 1000) {
    problem(p, p + " 应为不超过 1000 字节的非空字符串", p + " must be a non-empty string of at most 1000 bytes");
    return std::nullopt;
  }
  return it->get<std::string>();
}

std::optional<int64_t> Checker::date(const Json& obj, const std::string& path, std::string_view key, bool in_year) {
  auto t = text(obj, path, key, true);
  if (!t) return std::nullopt;
  const std::string p = at(path, key);
  auto day = parse_day(*t);
  if (!day) {
    problem(p, p + " 不是有效日期 '" + *t + "'，应如 2026-10-01", p + " is not a date like 2026-10-01: '" + *t + "'");
    return std::nullopt;
  }
  if (in_year && out_.year != 0 && year_of_day(*day) != out_.year) {
    problem(p, p + " " + *t + " 不在 " + std::to_string(out_.year) + " 年内",
            p + " " + *t + " is not in " + std::to_string(out_.year));
    return std::nullopt;
  }
  return day;
}

void Checker::read_source() {
  auto it = root_.find("source");
  if (it == root_.end() || !it->is_object()) {
    problem("source", "缺少 source（发布通知的标题和日期）", "source (the notice's title and date) is required");
    return;
  }
  only_keys(*it, "source", {"title", "issuer", "issued", "url"});
  out_.source_title = text(*it, "source", "title", true).value_or("");
  out_.source_issuer = text(*it, "source", "issuer", false).value_or("");
  out_.source_url = text(*it, "source", "url", false).value_or("");
  out_.source_issued = date(*it, "source", "issued", false).value_or(0);
}

// Calls each(entry, path) for every object of the array `key` (at most kMaxEntries); a problem
// for anything else.
template <class Each>
void Checker::each_object(const std::string& key, bool required, Each each) {
  auto it = root_.find(key);
  if (it == root_.end() && !required) return;
  if (it == root_.end() || !it->is_array() || it->size() > kMaxEntries) {
    problem(key, key + " 应为至多 64 项的数组", key + " must be an array of at most 64 entries");
    return;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string p = at(key, i);
    if ((*it)[i].is_object()) {
      each((*it)[i], p);
    } else {
      problem(p, p + " 应为对象", p + " must be an object");
    }
  }
}

void Checker::read_holidays() {
  std::set<std::string> names;
  each_object("holidays", true, [&](const Json& h, const std::string& p) {
    only_keys(h, p, {"name", "from", "to"});
    auto name = text(h, p, "name", true);
    auto from = date(h, p, "from", true), to = date(h, p, "to", true);
    if (name && !names.insert(*name).second) {
      problem(at(p, "name"), "节日名称 '" + *name + "' 重复", "holiday name '" + *name + "' is used twice");
    }
    if (!name || !from || !to) return;
    if (*to < *from) {
      problem(at(p, "to"), p + " 结束早于开始", p + " ends before it starts");
    } else if (*to - *from + 1 > kMaxHolidayDays) {
      problem(at(p, "to"), p + " 超过 31 天", p + " is longer than 31 days");
    } else {
      out_.holidays.push_back(Holiday{*name, *from, *to});
    }
  });
  std::sort(out_.holidays.begin(), out_.holidays.end(),
            [](const Holiday& a, const Holiday& b) { return a.first < b.first; });
  check_holiday_overlaps();
}

void Checker::check_holiday_overlaps() {
  for (size_t i = 1; i < out_.holidays.size(); ++i) {
    const Holiday &a = out_.holidays[i - 1], &b = out_.holidays[i];
    if (b.first <= a.last) {
      problem("holidays", "节日 '" + a.name + "' 与 '" + b.name + "' 的日期重叠",
              "holidays '" + a.name + "' and '" + b.name + "' overlap");
    }
  }
}

void Checker::read_workdays() {
  // A year may have no 调休: the key may be left out.
  each_object("workdays", false, [&](const Json& w, const std::string& p) {
    only_keys(w, p, {"date", "for"});
    auto day = date(w, p, "date", true);
    auto for_name = text(w, p, "for", true);
    if (!day || !for_name) return;
    const std::string d = format_day(*day);
    if (!is_weekend(*day)) {
      problem(at(p, "date"), d + " 不是周六或周日，无需调休上班", d + " is not a Saturday or Sunday, so it cannot be a shifted workday");
    }
    if (std::none_of(out_.holidays.begin(), out_.holidays.end(), [&](const Holiday& h) { return h.name == *for_name; })) {
      problem(at(p, "for"), "调休所对应的节日 '" + *for_name + "' 不在本文件中",
              "the holiday '" + *for_name + "' this workday makes up for is not in the file");
    }
    for (const Holiday& h : out_.holidays) {
      if (*day >= h.first && *day <= h.last) {
        problem(at(p, "date"), d + " 既是 " + h.name + " 假期又是上班日", d + " is both a day of " + h.name + " and a workday");
      }
    }
    if (std::any_of(out_.workdays.begin(), out_.workdays.end(), [&](const ShiftedWorkday& x) { return x.day == *day; })) {
      problem(at(p, "date"), d + " 重复列出", d + " is listed twice");
      return;
    }
    out_.workdays.push_back(ShiftedWorkday{*day, *for_name});
  });
  std::sort(out_.workdays.begin(), out_.workdays.end(),
            [](const ShiftedWorkday& a, const ShiftedWorkday& b) { return a.day < b.day; });
}

Result<YearCalendar> Checker::run() {
  if (!root_.is_object()) return fail(Code::kInvalidDefinition, both("日历文件应为 JSON 对象", "a calendar file must be a JSON object"));
  only_keys(root_, "", {"format", "year", "source", "holidays", "workdays"});
  auto format = root_.find("format");
  if (format == root_.end() || !format->is_number_integer() || format->get<int64_t>() != 1) {
    problem("format", "format 应为 1", "format must be 1");
  }
  auto year = root_.find("year");
  if (year == root_.end() || !year->is_number_integer() || year->get<int64_t>() < kFirstYear ||
      year->get<int64_t>() > kLastYear) {
    problem("year", "year 应为 1900 至 9999 之间的整数", "year must be an integer from 1900 to 9999");
  } else {
    out_.year = static_cast<int>(year->get<int64_t>());
  }
  read_source();
  read_holidays();
  read_workdays();
  if (!problems_.empty()) {
    const std::string first = problems_[0]["message"].get<std::string>();
    const std::string count = std::to_string(problems_.size());
    return fail(Code::kInvalidDefinition,
                "日历文件有 " + count + " 处错误（the calendar file has " + count + " problem(s)）：" + first,
                Json{{"problems", problems_}});
  }
  return std::move(out_);
}

}  // namespace

std::optional<int64_t> parse_day(std::string_view text) {
  auto day = parse_date_days(text);
  if (!day || *day < kLowDay) return std::nullopt;
  return day;
}

// Days 1900-01-01 .. 9999-12-31 are formatted as format_time formats their midnight.
std::string format_day(int64_t day) { return format_time(day * kDayMs).substr(0, 10); }

int year_of_day(int64_t day) { return static_cast<int>(civil(day).year()); }

// Day 0 (1970-01-01) was a Thursday; written so that no day number overflows.
int weekday_of_day(int64_t day) { return static_cast<int>((day % 7 + 11) % 7); }

int64_t day_of_instant(int64_t ms, int utc_offset_minutes) {
  return floor_div(ms + static_cast<int64_t>(utc_offset_minutes) * 60'000, kDayMs);
}

int64_t day_end_instant(int64_t day, int utc_offset_minutes) {
  return (day + 1) * kDayMs - static_cast<int64_t>(utc_offset_minutes) * 60'000;
}

std::optional<int64_t> parse_workdays(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  if (text.size() < 4 || text.front() != 'P' || !text.ends_with("WD")) return std::nullopt;
  const std::string_view digits = text.substr(1, text.size() - 3);
  if (digits.empty() || digits.size() > 9) return std::nullopt;
  int64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > kMaxWorkdays) return std::nullopt;
  return negative ? -n : n;
}

std::string_view day_kind_name(DayKind kind) {
  switch (kind) {
    case DayKind::kWorkday: return "workday";
    case DayKind::kWeekend: return "weekend";
    case DayKind::kHoliday: return "holiday";
    case DayKind::kShiftedWorkday: return "shifted_workday";
  }
  return "workday";
}

Result<YearCalendar> parse_year_calendar(std::string_view text) {
  if (!json_depth_within(text, 8)) {
    return fail(Code::kInvalidDefinition, both("日历文件嵌套过深", "the calendar file nests too deep"));
  }
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return fail(Code::kInvalidDefinition, both("日历文件不是合法的 JSON", "the calendar file is not valid JSON"));
  return Checker(json).run();
}

Json year_calendar_json(const YearCalendar& y) {
  Json source{{"title", y.source_title}, {"issued", format_day(y.source_issued)}};
  if (!y.source_issuer.empty()) source["issuer"] = y.source_issuer;
  if (!y.source_url.empty()) source["url"] = y.source_url;
  Json holidays = Json::array(), workdays = Json::array();
  for (const Holiday& h : y.holidays) holidays.push_back({{"name", h.name}, {"from", format_day(h.first)}, {"to", format_day(h.last)}});
  for (const ShiftedWorkday& w : y.workdays) workdays.push_back({{"date", format_day(w.day)}, {"for", w.holiday}});
  return Json{{"format", 1}, {"year", y.year}, {"source", std::move(source)}, {"holidays", std::move(holidays)},
              {"workdays", std::move(workdays)}};
}

void Calendar::set_year(YearCalendar file) {
  const int64_t first = first_day_of_year(file.year);
  const int64_t length = first_day_of_year(file.year + 1) - first;
  Year y;
  y.kinds.resize(static_cast<size_t>(length));
  for (int64_t d = 0; d < length; ++d) y.kinds[d] = is_weekend(first + d) ? DayKind::kWeekend : DayKind::kWorkday;
  for (const Holiday& h : file.holidays) {
    for (int64_t d = h.first; d <= h.last; ++d) y.kinds[d - first] = DayKind::kHoliday;
  }
  for (const ShiftedWorkday& w : file.workdays) y.kinds[w.day - first] = DayKind::kShiftedWorkday;
  y.file = std::move(file);
  const int year = y.file.year;
  years_[year] = std::move(y);
}

const YearCalendar* Calendar::year(int year) const {
  auto it = years_.find(year);
  return it == years_.end() ? nullptr : &it->second.file;
}

std::vector<int> Calendar::years() const {
  std::vector<int> out;
  for (const auto& [year, y] : years_) out.push_back(year);
  return out;
}

std::vector<int> Calendar::missing_years(int first, int last) const {
  std::vector<int> out;
  for (int y = first; y <= last; ++y) {
    if (!years_.contains(y)) out.push_back(y);
  }
  return out;
}

DayKind Calendar::kind(int64_t day) const {
  auto it = day < kLowDay || day > kHighDay ? years_.end() : years_.find(year_of_day(day));
  if (it == years_.end()) return is_weekend(day) ? DayKind::kWeekend : DayKind::kWorkday;
  return it->second.kinds[static_cast<size_t>(day - first_day_of_year(it->first))];
}

Result<int64_t> Calendar::add_workdays(int64_t day, int64_t n) const {
  if (n > kMaxWorkdays || n < -kMaxWorkdays) {
    return fail(Code::kBadRequest, both("工作日数不能超过 " + std::to_string(kMaxWorkdays),
                                        "a working-day count must be at most " + std::to_string(kMaxWorkdays)));
  }
  if (day < kLowDay || day > kHighDay) return out_of_range();
  const int64_t step = n < 0 ? -1 : 1;
  for (int64_t left = n < 0 ? -n : n; left > 0;) {
    day += step;
    if (day < kLowDay || day > kHighDay) return out_of_range();
    if (is_workday(day)) --left;
  }
  return day;
}

Result<int64_t> Calendar::workdays_between(int64_t from, int64_t to) const {
  if (from < kLowDay || from > kHighDay || to < kLowDay || to > kHighDay) return out_of_range();
  if (to < from) {
    auto back = workdays_between(to, from);
    if (back) *back = -*back;
    return back;
  }
  int64_t count = weekdays_through(to) - weekdays_through(from);
  // Correct for the special days of the years with a file that fall in (from, to].
  for (auto it = years_.lower_bound(year_of_day(from)); it != years_.end() && it->first <= year_of_day(to); ++it) {
    for (const Holiday& h : it->second.file.holidays) {
      for (int64_t d = std::max(h.first, from + 1); d <= std::min(h.last, to); ++d) count -= is_weekend(d) ? 0 : 1;
    }
    for (const ShiftedWorkday& w : it->second.file.workdays) count += (w.day > from && w.day <= to) ? 1 : 0;
  }
  return count;
}

Result<int64_t> Calendar::workday_due(int64_t start_ms, int64_t n, int utc_offset_minutes) const {
  auto day = add_workdays(day_of_instant(start_ms, utc_offset_minutes), n);
  if (!day) return fail(day.error());
  return day_end_instant(*day, utc_offset_minutes);
}

Result<Calendar> load_calendar_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  Calendar calendar;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return calendar;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) files.push_back(it->path());
  if (ec) return fail(Code::kNotFound, both("无法读取日历目录 '" + dir + "'", "cannot read the calendars folder '" + dir + "'"));
  std::sort(files.begin(), files.end());
  for (const fs::path& path : files) {
    const std::string name = path.filename().string();
    if (!name.starts_with("cn-") || !name.ends_with(".json")) continue;
    const std::string where = "'" + path.string() + "'";
    const std::optional<int64_t> year = name.size() == 12 ? parse_day(name.substr(3, 4) + "-01-01") : std::nullopt;
    std::optional<std::string> text = read_file(path.string());
    if (!year || !text) {
      return fail(Code::kInvalidDefinition, both("日历文件 " + where + " 应命名为 cn-YYYY.json 且可读取",
                                                 "calendar file " + where + " must be named cn-YYYY.json and be readable"));
    }
    auto parsed = parse_year_calendar(*text);
    if (!parsed) {
      return fail(Code::kInvalidDefinition, both("日历文件 " + where, "calendar file " + where) + "：" + parsed.error().message,
                  parsed.error().details());
    }
    if (parsed->year != year_of_day(*year)) {
      return fail(Code::kInvalidDefinition, both("日历文件 " + where + " 的 year 与文件名不符", "calendar file " + where +
                                                 " holds another year than its name says"));
    }
    calendar.set_year(std::move(*parsed));
  }
  return calendar;
}

}  // namespace pioneer::engine
