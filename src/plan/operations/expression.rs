//! EventBridge Scheduler's schedule expressions, checked offline. The plan parses every
//! schedule's `cron(...)`, `rate(...)` or `at(...)` and its time zone here, so that a bad
//! schedule is refused, with the fix, before anything is deployed; and it previews the next
//! fire times in the schedule's own zone and a monthly run count for the cost estimate.

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::{Tz, TzOffset};

/// A parsed schedule expression: what the plan checks, previews and prices (deploy sends the
/// text itself, unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    /// cron(minutes hours day-of-month month day-of-week year)
    Cron(Cron),
    /// rate(value unit)
    Rate { value: u32, unit: RateUnit },
    /// at(yyyy-mm-ddThh:mm:ss): once, in the schedule's time zone
    At(NaiveDateTime),
}

/// The unit of a `rate()`: Scheduler knows only these three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    /// `minute` / `minutes`
    Minutes,
    /// `hour` / `hours`
    Hours,
    /// `day` / `days`
    Days,
}

impl RateUnit {
    fn minutes(self) -> u32 {
        match self {
            RateUnit::Minutes => 1,
            RateUnit::Hours => 60,
            RateUnit::Days => 1440,
        }
    }

    fn singular(self) -> &'static str {
        match self {
            RateUnit::Minutes => "minute",
            RateUnit::Hours => "hour",
            RateUnit::Days => "day",
        }
    }
}

/// A parsed `cron()`: each field as a bit set (bit 0 = the field's lowest value), so that
/// finding the fire times is a few shifts per candidate minute, with no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    /// Bit 0 = January.
    months: u16,
    /// Bit 0 = 1970, up to 2199.
    years: [u64; 4],
    days: DayRule,
}

/// Which days of a month a cron fires on: day-of-month or day-of-week, never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayRule {
    /// Bit 0 = the 1st.
    OfMonth(u32),
    /// `L` in day-of-month.
    LastOfMonth,
    /// `LW`.
    LastWeekdayOfMonth,
    /// `15W`: the weekday nearest the 15th, within the month.
    NearestWeekday(u32),
    /// Bit 0 = Sunday.
    OfWeek(u8),
    /// `5L`: the month's last Thursday (0 = Sunday).
    LastInMonth(u32),
    /// `3#2`: the month's second Tuesday (0 = Sunday).
    Nth { weekday: u32, nth: u32 },
}

/// Why an expression or a time zone was refused, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpressionError(pub String);

fn error(message: impl Into<String>) -> ExpressionError {
    ExpressionError(message.into())
}

const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2199;
/// How far ahead `next_fires` looks for a cron that fires rarely (or no more).
const SEARCH_DAYS: i64 = 8 * 366;
const MONTH_MINUTES: f64 = 30.0 * 24.0 * 60.0;
const FORMS: &str =
    "write cron(minutes hours day-of-month month day-of-week year), rate(value unit) or at(yyyy-mm-ddThh:mm:ss)";
const CRON_SHAPE: &str =
    "Scheduler's cron has 6: minutes hours day-of-month month day-of-week year";

/// Parses a schedule expression as Scheduler would, so that a typo fails the plan, not the
/// deploy; the error quotes the text and says how to write it.
pub fn parse(text: &str) -> Result<Expression, ExpressionError> {
    let text = text.trim();
    if let Some(inner) = enclosed(text, "cron")? {
        return parse_cron(text, inner).map(Expression::Cron);
    }
    if let Some(inner) = enclosed(text, "rate")? {
        return parse_rate(text, inner);
    }
    if let Some(inner) = enclosed(text, "at")? {
        return parse_at(text, inner).map(Expression::At);
    }
    if text.is_empty() {
        return Err(error(format!("the schedule expression is empty; {FORMS}")));
    }
    let lower = text.to_ascii_lowercase();
    if ["cron(", "rate(", "at("]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return Err(error(format!(
            "`{text}`: write cron(, rate( and at( in lower case"
        )));
    }
    Err(error(format!(
        "`{text}` is not a schedule expression; {FORMS}"
    )))
}

/// Parses the schedule's time zone: Scheduler takes IANA names only, and a misspelt one
/// would otherwise only fail at deploy.
pub fn parse_timezone(text: &str) -> Result<Tz, ExpressionError> {
    if let Ok(zone) = text.parse::<Tz>() {
        return Ok(zone);
    }
    let hint = "use an IANA time zone name such as Europe/Paris or UTC";
    let wanted = text.trim();
    if wanted.is_empty() {
        return Err(error(format!("the time zone is empty; {hint}")));
    }
    let close = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|z| z.name().eq_ignore_ascii_case(wanted));
    Err(error(match close {
        Some(zone) => format!(
            "`{text}` is not a time zone name; did you mean {}? (names are case-sensitive)",
            zone.name()
        ),
        None => format!("`{text}` is not a time zone name; {hint}"),
    }))
}

impl Expression {
    /// The next `count` times the schedule fires strictly after `after`, in `zone`.
    /// For rate(): counted from `after` (Scheduler counts from the schedule's creation; the
    /// preview says so elsewhere). For at(): the one time if it is after `after`, else none.
    pub fn next_fires(&self, zone: Tz, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Tz>> {
        let mut fires = Vec::new();
        if count == 0 {
            return fires;
        }
        match self {
            Expression::Cron(cron) => {
                let until = after
                    .checked_add_signed(TimeDelta::days(SEARCH_DAYS))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                cron.scan(zone, after, until, |fire| {
                    fires.push(fire);
                    fires.len() < count
                });
            }
            Expression::Rate { value, unit } => {
                let Some(step) =
                    TimeDelta::try_minutes(i64::from(*value) * i64::from(unit.minutes()))
                else {
                    return fires;
                };
                let mut next = after;
                while fires.len() < count {
                    match next.checked_add_signed(step) {
                        Some(time) => next = time,
                        None => break,
                    }
                    fires.push(next.with_timezone(&zone));
                }
            }
            Expression::At(local) => fires.extend(at_fire(zone, *local).filter(|t| *t > after)),
        }
        fires
    }

    /// Runs per 30-day month, for a monthly cost: cron counted over the 28 days (4 weeks,
    /// 40,320 minutes) following `after` and scaled by 30/28; rate exactly (30 days / interval);
    /// at() = 0 if already past else 1 (it fires once).
    pub fn runs_per_month(&self, zone: Tz, after: DateTime<Utc>) -> f64 {
        match self {
            Expression::Cron(cron) => {
                let Some(until) = after.checked_add_signed(TimeDelta::days(28)) else {
                    return 0.0;
                };
                let mut runs = 0u32;
                cron.scan(zone, after, until, |_| {
                    runs += 1;
                    true
                });
                f64::from(runs) * 30.0 / 28.0
            }
            Expression::Rate { value, unit } => {
                MONTH_MINUTES / (f64::from(*value) * f64::from(unit.minutes()))
            }
            Expression::At(local) => {
                if at_fire(zone, *local).is_some_and(|t| t > after) {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// The instant of an at() in `zone`: the earlier one when the wall time repeats (fall back),
/// none when it does not exist (spring forward).
fn at_fire(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Tz>> {
    zone.from_local_datetime(&local).earliest()
}

/// What is inside `name(...)`, if `text` starts with `name(`.
fn enclosed<'a>(text: &'a str, name: &str) -> Result<Option<&'a str>, ExpressionError> {
    let Some(rest) = text.strip_prefix(name).and_then(|r| r.strip_prefix('(')) else {
        return Ok(None);
    };
    match rest.strip_suffix(')') {
        Some(inner) => Ok(Some(inner)),
        None => Err(error(format!(
            "`{text}` does not end with ): write {name}(...)"
        ))),
    }
}

fn parse_rate(text: &str, inner: &str) -> Result<Expression, ExpressionError> {
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let &[value, unit] = parts.as_slice() else {
        return Err(error(format!(
            "`{text}` is not rate(value unit); write e.g. rate(5 minutes), rate(1 hour) or rate(1 day)"
        )));
    };
    let value = match value.parse::<u32>() {
        Ok(v) if v > 0 => v,
        _ => {
            return Err(error(format!(
                "`{text}`: the rate value `{value}` must be a whole number of 1 or more, e.g. rate(5 minutes)"
            )))
        }
    };
    let (singular, plural) = match unit.strip_suffix('s') {
        Some(singular) => (singular, true),
        None => (unit, false),
    };
    let unit = match singular {
        "minute" => RateUnit::Minutes,
        "hour" => RateUnit::Hours,
        "day" => RateUnit::Days,
        "week" => {
            return Err(error(format!(
                "`{text}`: `{unit}` is not a rate unit; use minutes, hours or days, e.g. rate({} days)",
                value.saturating_mul(7)
            )))
        }
        _ => {
            return Err(error(format!(
                "`{text}`: `{unit}` is not a rate unit; use minutes, hours or days (a cron expression for calendar schedules)"
            )))
        }
    };
    let wants_plural = value != 1;
    if plural != wants_plural {
        let (rule, s) = if wants_plural {
            ("a value other than 1 takes the plural unit", "s")
        } else {
            ("a value of 1 takes the singular unit", "")
        };
        let fix = format!("rate({value} {}{s})", unit.singular());
        return Err(error(format!("`{text}`: {rule}; write {fix}")));
    }
    Ok(Expression::Rate { value, unit })
}

fn parse_at(text: &str, inner: &str) -> Result<NaiveDateTime, ExpressionError> {
    let shaped = inner.len() == 19
        && inner.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return Err(error(format!(
            "`{text}` is not at(yyyy-mm-ddThh:mm:ss); write e.g. at(2027-03-01T09:30:00)"
        )));
    }
    match NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S") {
        // A leap second (:60) parses, but Scheduler has none.
        Ok(time) if time.nanosecond() == 0 => Ok(time),
        _ => Err(error(format!(
            "`{text}`: `{inner}` is not a real date and time"
        ))),
    }
}

/// One cron field: its name in messages, its values, and its names (JAN.., SUN..).
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    allowed: &'static str,
}

const fn field(
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    allowed: &'static str,
) -> Field {
    Field {
        name,
        min,
        max,
        names,
        allowed,
    }
}

const MINUTES: Field = field("minutes", 0, 59, &[], "0-59");
const HOURS: Field = field("hours", 0, 23, &[], "0-23");
const DAY_OF_MONTH: Field = field("day-of-month", 1, 31, &[], "1-31");
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const MONTH: Field = field("month", 1, 12, &MONTHS, "1-12 (or JAN-DEC)");
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const DAY_OF_WEEK: Field = field("day-of-week", 1, 7, &DAYS, "1-7 (or SUN-SAT; 1 = Sunday)");
const YEAR: Field = field("year", 1970, 2199, &[], "1970-2199");

fn parse_cron(text: &str, inner: &str) -> Result<Cron, ExpressionError> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    let &[minutes, hours, dom, month, dow, year] = fields.as_slice() else {
        return Err(error(wrong_field_count(text, &fields)));
    };
    let fail = |message: String| error(format!("`{text}`: {message}"));
    let all = [minutes, hours, dom, month, dow, year];
    let with = |index: usize, value: &'static str| {
        let mut fixed = all;
        fixed[index] = value;
        format!("cron({})", fixed.join(" "))
    };
    let minutes = parse_list(&MINUTES, minutes).map_err(fail)?[0];
    let hours = parse_list(&HOURS, hours).map_err(fail)?[0] as u32;
    let months = parse_list(&MONTH, month).map_err(fail)?[0] as u16;
    let years = parse_list(&YEAR, year).map_err(fail)?;
    let days = match (dom, dow) {
        ("?", "?") => {
            let fix = with(2, "*");
            return Err(fail(format!(
                "day-of-month and day-of-week are both ?; one of them must say which days, e.g. {fix}"
            )));
        }
        ("*", "*") => {
            let fix = with(4, "?");
            return Err(fail(format!(
                "you cannot use * in both day-of-month and day-of-week; put ? in one of them, e.g. {fix}"
            )));
        }
        ("?", _) => day_of_week(dow).map_err(fail)?,
        (_, "?") => day_of_month(dom).map_err(fail)?,
        _ => {
            let fix = match (dom, dow) {
                ("*", _) => with(2, "?"),
                (_, "*") => with(4, "?"),
                _ => format!("{} or {}", with(4, "?"), with(2, "?")),
            };
            return Err(fail(format!(
                "day-of-month `{dom}` and day-of-week `{dow}` are both set; Scheduler needs ? in one of them, e.g. {fix}"
            )));
        }
    };
    Ok(Cron {
        minutes,
        hours,
        months,
        years,
        days,
    })
}

/// The message for a cron without 6 fields: most often a Unix cron (5) or a Quartz one (7).
fn wrong_field_count(text: &str, fields: &[&str]) -> String {
    match *fields {
        [minutes, hours, dom, month, dow] => {
            let unix_days = dow.bytes().any(|b| b.is_ascii_digit());
            let example = if dow == "*" && dom != "?" {
                format!("cron({minutes} {hours} {dom} {month} ? *)")
            } else if dom == "*" && !unix_days {
                format!("cron({minutes} {hours} ? {month} {dow} *)")
            } else {
                "cron(0 6 * * ? *)".to_string()
            };
            let note = if unix_days {
                " (day-of-week counts from 1 = Sunday, not 0)"
            } else {
                ""
            };
            format!(
                "`{text}` has 5 fields; {CRON_SHAPE}, e.g. {example}. One of day-of-month and day-of-week must be ?{note}"
            )
        }
        [_, ref rest @ ..] if fields.len() == 7 => format!(
            "`{text}` has 7 fields; {CRON_SHAPE} and no seconds, e.g. cron({})",
            rest.join(" ")
        ),
        _ => {
            let n = fields.len();
            let s = if n == 1 { "" } else { "s" };
            format!("`{text}` has {n} field{s}; {CRON_SHAPE}, e.g. cron(0 6 * * ? *)")
        }
    }
}

/// A field of `,` lists, `-` ranges, `*` and `/` increments, as bits (bit 0 = `field.min`).
fn parse_list(field: &Field, text: &str) -> Result<[u64; 4], String> {
    if text.contains('?') {
        return Err(format!(
            "{} `{text}`: ? stands alone, and only in day-of-month or day-of-week",
            field.name
        ));
    }
    let mut bits = [0u64; 4];
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!("{} `{text}` has an empty item", field.name));
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(parse_step(field, item, step)?)),
            None => (item, None),
        };
        let (low, high) = if range == "*" {
            (field.min, field.max)
        } else if let Some((first, last)) = range.split_once('-') {
            let (low, high) = (value(field, first)?, value(field, last)?);
            if low > high {
                return Err(descending(field, item, (first, low), (last, high)));
            }
            (low, high)
        } else {
            let low = value(field, range)?;
            (low, if step.is_some() { field.max } else { low })
        };
        for v in (low..=high).step_by(step.unwrap_or(1) as usize) {
            let i = v - field.min;
            bits[(i / 64) as usize] |= 1u64 << (i % 64);
        }
    }
    Ok(bits)
}

/// The increment after `/`: 1 up to the number of values the field has (as Quartz).
fn parse_step(field: &Field, item: &str, step: &str) -> Result<u32, String> {
    let span = field.max - field.min + 1;
    match step.parse::<u32>() {
        Ok(step) if (1..=span).contains(&step) => Ok(step),
        _ => Err(format!(
            "{} `{item}`: the increment after / must be a whole number from 1 to {span}",
            field.name
        )),
    }
}

/// Scheduler's ranges only go up: say so, and write the two ranges it means.
fn descending(field: &Field, item: &str, first: (&str, u32), last: (&str, u32)) -> String {
    let name_or_number = |token: &str, v: u32, name: Option<&&str>| match name {
        Some(name) if !token.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
        _ => v.to_string(),
    };
    let top = name_or_number(first.0, field.max, field.names.last());
    let bottom = name_or_number(last.0, field.min, field.names.first());
    let upper = if first.1 == field.max {
        first.0.to_string()
    } else {
        format!("{}-{top}", first.0)
    };
    let lower = if last.1 == field.min {
        last.0.to_string()
    } else {
        format!("{bottom}-{}", last.0)
    };
    let fix = if item.contains('/') {
        "split it into two ranges that go up".to_string()
    } else {
        format!("write {upper},{lower}")
    };
    format!(
        "{} range `{item}` goes down; Scheduler's ranges go up and do not wrap around: {fix}",
        field.name
    )
}

/// One value: a number in the field's range or, for month and day-of-week, a name.
fn value(field: &Field, token: &str) -> Result<u32, String> {
    if token.is_empty() {
        return Err(format!(
            "{} is missing a value; use {}",
            field.name, field.allowed
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_digit()) {
        return match field
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(token))
        {
            Some(i) => Ok(field.min + i as u32),
            None => Err(format!(
                "{} `{token}` is not valid; use {}",
                field.name, field.allowed
            )),
        };
    }
    match token.parse::<u32>() {
        Ok(v) if (field.min..=field.max).contains(&v) => Ok(v),
        _ => Err(format!(
            "{} `{token}` is out of range {}",
            field.name, field.allowed
        )),
    }
}

fn day_of_month(text: &str) -> Result<DayRule, String> {
    if text.eq_ignore_ascii_case("L") {
        return Ok(DayRule::LastOfMonth);
    }
    if text.eq_ignore_ascii_case("LW") {
        return Ok(DayRule::LastWeekdayOfMonth);
    }
    if let Some(day) = text.strip_suffix(['W', 'w']) {
        if !day.is_empty() && day.bytes().all(|b| b.is_ascii_digit()) {
            return value(&DAY_OF_MONTH, day).map(DayRule::NearestWeekday);
        }
    }
    if text.contains(['L', 'l', 'W', 'w']) {
        return Err(format!(
            "day-of-month `{text}`: L and W stand alone: L (the last day), LW (the last weekday) \
             or one day with W, such as 15W (the weekday nearest the 15th)"
        ));
    }
    Ok(DayRule::OfMonth(parse_list(&DAY_OF_MONTH, text)?[0] as u32))
}

fn day_of_week(text: &str) -> Result<DayRule, String> {
    // As in Quartz, L alone is the last day of the week: every Saturday.
    if text.eq_ignore_ascii_case("L") {
        return Ok(DayRule::OfWeek(1 << 6));
    }
    if let Some(day) = text.strip_suffix(['L', 'l']) {
        if !day.contains([',', '-', '/', '*', '#']) {
            return value(&DAY_OF_WEEK, day).map(|d| DayRule::LastInMonth(d - 1));
        }
    }
    if let Some((day, nth)) = text.split_once('#') {
        let weekday = value(&DAY_OF_WEEK, day)? - 1;
        return match nth.parse::<u32>() {
            Ok(nth @ 1..=5) => Ok(DayRule::Nth { weekday, nth }),
            _ => Err(format!(
                "day-of-week `{text}`: the number after # is the week of the month, 1-5"
            )),
        };
    }
    if text.contains(['L', 'l']) {
        return Err(format!(
            "day-of-week `{text}`: L stands alone (Saturday) or after one day, such as 6L (the month's last Friday)"
        ));
    }
    Ok(DayRule::OfWeek(parse_list(&DAY_OF_WEEK, text)?[0] as u8))
}

impl Cron {
    fn has_year(&self, year: i32) -> bool {
        usize::try_from(year - FIRST_YEAR).is_ok_and(|i| {
            self.years
                .get(i / 64)
                .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
        })
    }

    fn has_month(&self, month: u32) -> bool {
        (self.months >> (month - 1)) & 1 == 1
    }

    /// Calls `visit` with each fire in (`after`, `until`], in order, until it returns false.
    /// Local dates are walked one by one (skipping whole years and months that cannot match)
    /// from the day before `after`'s local date: the strict `after` check drops what is past.
    fn scan(
        &self,
        zone: Tz,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        mut visit: impl FnMut(DateTime<Tz>) -> bool,
    ) {
        let local_date = |t: DateTime<Utc>| t.with_timezone(&zone).date_naive();
        let (Some(mut date), Some(last)) =
            (local_date(after).pred_opt(), local_date(until).succ_opt())
        else {
            return;
        };
        let (after, until) = (after.naive_utc(), until.naive_utc());
        while date <= last {
            let year = date.year();
            if year > LAST_YEAR {
                return;
            }
            let next = if !self.has_year(year) {
                NaiveDate::from_ymd_opt(year.max(FIRST_YEAR - 1) + 1, 1, 1)
            } else if !self.has_month(date.month()) {
                first_of_next_month(date)
            } else {
                if self.days.matches(date) && !self.fire_on(date, zone, after, until, &mut visit) {
                    return;
                }
                date.succ_opt()
            };
            let Some(next) = next else { return };
            date = next;
        }
    }

    /// Visits the fires of one matching day in order; false once the scan should stop.
    fn fire_on(
        &self,
        date: NaiveDate,
        zone: Tz,
        after: NaiveDateTime,
        until: NaiveDateTime,
        visit: &mut impl FnMut(DateTime<Tz>) -> bool,
    ) -> bool {
        let steady = steady_offset(zone, date);
        for hour in bits(u64::from(self.hours)) {
            for minute in bits(self.minutes) {
                let Some(local) = date.and_hms_opt(hour, minute, 0) else {
                    continue;
                };
                let fire: DateTime<Tz> = match steady {
                    Some((offset, shift)) => match local.checked_sub_signed(shift) {
                        Some(utc) => DateTime::from_naive_utc_and_offset(utc, offset),
                        None => continue,
                    },
                    // A DST change today: the earlier of a repeated time, none in a gap.
                    None => match zone.from_local_datetime(&local).earliest() {
                        Some(fire) => fire,
                        None => continue,
                    },
                };
                let utc = fire.naive_utc();
                if utc > until {
                    return false;
                }
                if utc > after && !visit(fire) {
                    return false;
                }
            }
        }
        true
    }
}

/// The zone's offset on `date` when it holds all day (no DST change), and local minus UTC:
/// converting each fire is then a subtraction rather than a search of the zone's history.
fn steady_offset(zone: Tz, date: NaiveDate) -> Option<(TzOffset, TimeDelta)> {
    let start = zone
        .offset_from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .single()?;
    let end = zone
        .offset_from_local_datetime(&date.and_hms_opt(23, 59, 59)?)
        .single()?;
    let fixed = start.fix();
    let shift = TimeDelta::seconds(i64::from(fixed.local_minus_utc()));
    (fixed == end.fix()).then_some((start, shift))
}

impl DayRule {
    fn matches(self, date: NaiveDate) -> bool {
        let day = date.day();
        let weekday = date.weekday().num_days_from_sunday();
        let last = days_in_month(date.year(), date.month());
        // The weekday (0 = Sunday) of another day of the same month.
        let weekday_of = |other: u32| (weekday + 35 + other - day) % 7;
        match self {
            DayRule::OfMonth(days) => (days >> (day - 1)) & 1 == 1,
            DayRule::LastOfMonth => day == last,
            DayRule::LastWeekdayOfMonth => day == nearest_weekday(last, weekday_of(last), last),
            DayRule::NearestWeekday(target) => {
                target <= last && day == nearest_weekday(target, weekday_of(target), last)
            }
            DayRule::OfWeek(days) => (days >> weekday) & 1 == 1,
            DayRule::LastInMonth(wanted) => weekday == wanted && day + 7 > last,
            DayRule::Nth {
                weekday: wanted,
                nth,
            } => weekday == wanted && (day - 1) / 7 + 1 == nth,
        }
    }
}

/// `W`: the weekday nearest `target` (of weekday `weekday`, 0 = Sunday) without leaving the
/// month: a Saturday 1st moves to Monday the 3rd, a Sunday last day to the Friday before.
fn nearest_weekday(target: u32, weekday: u32, last: u32) -> u32 {
    match weekday {
        6 if target == 1 => 3,
        6 => target - 1,
        0 if target == last => target - 2,
        0 => target + 1,
        _ => target,
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    match date.month() {
        12 => NaiveDate::from_ymd_opt(date.year() + 1, 1, 1),
        month => NaiveDate::from_ymd_opt(date.year(), month + 1, 1),
    }
}

/// The positions of the set bits of `mask`, lowest first.
fn bits(mut mask: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let bit = mask.trailing_zeros();
            mask &= mask - 1;
            bit
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
            .unwrap()
            .and_utc()
    }

    fn zone(name: &str) -> Tz {
        parse_timezone(name).unwrap()
    }

    /// The next `n` fires after `after`, both in UTC as yyyy-mm-ddThh:mm.
    fn fires(text: &str, zone_name: &str, after: &str, n: usize) -> Vec<String> {
        let fires = parse(text)
            .unwrap()
            .next_fires(zone(zone_name), utc(after), n);
        let as_utc = |t: &DateTime<Tz>| t.with_timezone(&Utc).format("%Y-%m-%dT%H:%M").to_string();
        fires.iter().map(as_utc).collect()
    }

    fn refused(text: &str) -> String {
        parse(text).unwrap_err().0
    }

    fn runs(text: &str, zone_name: &str) -> f64 {
        parse(text)
            .unwrap()
            .runs_per_month(zone(zone_name), utc("2026-12-06T06:30"))
    }

    #[test]
    fn parses_what_scheduler_takes() {
        for text in [
            "cron(0 6 * * ? *)",
            "cron(0/15 * * * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(0 10 ? * 6L 2027)",
            "cron(15 10 ? * 3#2 *)",
            "cron(0 12 LW * ? *)",
            "cron(0 12 15W * ? *)",
            "cron(*/5 8-17 ? jan,Jul-DEC sun,7 2026-2030/2)",
            "cron(5-30/5 0 L * ? *)",
            "rate(5 minutes)",
            "rate(1 hour)",
            "rate(1 day)",
            "at(2027-03-01T09:30:00)",
        ] {
            assert!(parse(text).is_ok(), "{text}: {:?}", parse(text));
        }
        assert_eq!(
            parse(" rate(1 hour) "),
            Ok(Expression::Rate {
                value: 1,
                unit: RateUnit::Hours
            })
        );
        let Ok(Expression::Cron(cron)) = parse("cron(0/15 18 ? * MON-FRI *)") else {
            panic!()
        };
        assert_eq!(
            (cron.minutes, cron.hours),
            (1 | (1 << 15) | (1 << 30) | (1 << 45), 1 << 18)
        );
        assert_eq!(cron.days, DayRule::OfWeek(0b0011_1110));
    }

    #[test]
    fn refuses_with_the_fix() {
        for (text, fragment) in [
            ("cron(0 6 * * *)", "`cron(0 6 * * *)` has 5 fields; Scheduler's cron has 6: minutes hours day-of-month month day-of-week year, e.g. cron(0 6 * * ? *). One of day-of-month and day-of-week must be ?"),
            ("cron(0 6 * * 1-5)", "1 = Sunday"),
            ("cron(0 0 6 * * ? *)", "has 7 fields; Scheduler's cron has 6: minutes hours day-of-month month day-of-week year and no seconds, e.g. cron(0 6 * * ? *)"),
            ("cron(0 6 * * * *)", "cannot use * in both day-of-month and day-of-week; put ? in one of them, e.g. cron(0 6 * * ? *)"),
            ("cron(0 6 ? * ? *)", "both ?"),
            ("cron(0 18 * * MON-FRI *)", "e.g. cron(0 18 ? * MON-FRI *)"),
            ("cron(0 24 * * ? *)", "hours `24` is out of range 0-23"),
            ("cron(60 1 * * ? *)", "minutes `60` is out of range 0-59"),
            ("cron(0 1 ? 13 * *)", "month `13` is out of range 1-12"),
            ("cron(0 1 32 * ? *)", "day-of-month `32` is out of range 1-31"),
            ("cron(0 1 ? * 0 *)", "day-of-week `0` is out of range 1-7"),
            ("cron(0 1 * * ? 2200)", "year `2200` is out of range 1970-2199"),
            ("cron(0 6 ? * FOO *)", "day-of-week `FOO` is not valid; use 1-7 (or SUN-SAT; 1 = Sunday)"),
            ("cron(0 6 ? * FRI-MON *)", "goes down; Scheduler's ranges go up and do not wrap around: write FRI-SAT,SUN-MON"),
            ("cron(0/0 6 * * ? *)", "increment after / must be a whole number from 1 to 60"),
            ("cron(0 ? * * ? *)", "? stands alone"),
            ("cron(0 6 ? * 3#6 *)", "1-5"),
            ("cron(0 6 1,15W * ? *)", "L and W stand alone"),
            ("cron(0 6 * * ? *", "does not end with )"),
            ("rate(0 minutes)", "must be a whole number of 1 or more"),
            ("rate(5 minute)", "a value other than 1 takes the plural unit; write rate(5 minutes)"),
            ("rate(1 minutes)", "a value of 1 takes the singular unit; write rate(1 minute)"),
            ("rate(2 weeks)", "`weeks` is not a rate unit; use minutes, hours or days, e.g. rate(14 days)"),
            ("at(2027-03-01 09:30)", "is not at(yyyy-mm-ddThh:mm:ss); write e.g. at(2027-03-01T09:30:00)"),
            ("at(2027-02-30T09:30:00)", "not a real date"),
            ("daily", "`daily` is not a schedule expression; write cron(minutes hours day-of-month month day-of-week year), rate(value unit) or at(yyyy-mm-ddThh:mm:ss)"),
            ("", "empty"),
            ("CRON(0 6 * * ? *)", "lower case"),
        ] {
            let message = refused(text);
            assert!(message.contains(fragment), "{text}: {message}");
        }
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(zone("Europe/Paris").name(), "Europe/Paris");
        assert_eq!(zone("America/New_York").name(), "America/New_York");
        assert_eq!(zone("UTC"), Tz::UTC);
        for text in ["Europe/Pariss", "CET+1", ""] {
            let message = parse_timezone(text).unwrap_err().0;
            assert!(
                message.contains("use an IANA time zone name such as Europe/Paris or UTC"),
                "{message}"
            );
        }
        let message = parse_timezone("europe/paris").unwrap_err().0;
        assert!(message.contains("did you mean Europe/Paris?"), "{message}");
    }

    #[test]
    fn cron_fires_on_local_wall_time() {
        let daily = "cron(0 6 * * ? *)";
        // 06:00 CET is 05:00 UTC; 06:00 CEST, 04:00 UTC.
        let winter = ["2026-12-07T05:00", "2026-12-08T05:00", "2026-12-09T05:00"];
        assert_eq!(fires(daily, "Europe/Paris", "2026-12-06T06:30", 3), winter);
        let summer = ["2026-07-01T04:00", "2026-07-02T04:00", "2026-07-03T04:00"];
        assert_eq!(fires(daily, "Europe/Paris", "2026-07-01T00:00", 3), summer);
        let quarter = ["2026-07-01T00:15", "2026-07-01T00:30"];
        assert_eq!(
            fires("cron(0/15 * * * ? *)", "UTC", "2026-07-01T00:00", 2),
            quarter
        );
        assert!(fires(daily, "UTC", "2026-07-01T00:00", 0).is_empty());
    }

    #[test]
    fn cron_across_daylight_saving_changes() {
        let night = "cron(30 2 * * ? *)";
        // 2027-03-28: 02:00 CET jumps to 03:00 CEST, so 02:30 does not happen that day.
        let spring = ["2027-03-27T01:30", "2027-03-29T00:30", "2027-03-30T00:30"];
        assert_eq!(fires(night, "Europe/Paris", "2027-03-26T12:00", 3), spring);
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice, fires once.
        let autumn = ["2026-10-24T00:30", "2026-10-25T00:30", "2026-10-26T01:30"];
        assert_eq!(fires(night, "Europe/Paris", "2026-10-23T12:00", 3), autumn);
    }

    #[test]
    fn cron_special_days() {
        let after = "2026-12-01T00:00";
        let last_fridays = ["2027-01-29T10:00", "2027-02-26T10:00", "2027-03-26T10:00"];
        assert_eq!(
            fires("cron(0 10 ? * 6L 2027)", "UTC", after, 3),
            last_fridays
        );
        let second_tuesdays = ["2026-12-08T10:15", "2027-01-12T10:15", "2027-02-09T10:15"];
        assert_eq!(
            fires("cron(15 10 ? * 3#2 *)", "UTC", after, 3),
            second_tuesdays
        );
        // 2027-02-28 is a Sunday: the last weekday is Friday the 26th.
        let last_weekdays = ["2026-12-31T12:00", "2027-01-29T12:00", "2027-02-26T12:00"];
        assert_eq!(fires("cron(0 12 LW * ? *)", "UTC", after, 3), last_weekdays);
        let last_days = ["2027-02-28T00:00", "2027-03-31T00:00"];
        assert_eq!(
            fires("cron(0 0 L * ? *)", "UTC", "2027-01-31T00:00", 2),
            last_days
        );
        assert_eq!(
            fires("cron(0 0 ? * L *)", "UTC", after, 1),
            ["2026-12-05T00:00"]
        );
        // The 15th of August 2026 is a Saturday: Friday the 14th; of November, a Sunday: the 16th.
        let mid = "cron(0 12 15W * ? *)";
        let august = ["2026-08-14T12:00", "2026-09-15T12:00"];
        assert_eq!(fires(mid, "UTC", "2026-08-01T00:00", 2), august);
        assert_eq!(
            fires(mid, "UTC", "2026-11-01T00:00", 1),
            ["2026-11-16T12:00"]
        );
    }

    #[test]
    fn cron_year_field() {
        let new_year = ["2027-01-01T06:00", "2027-01-02T06:00"];
        assert_eq!(
            fires("cron(0 6 * * ? 2027)", "UTC", "2026-12-31T12:00", 2),
            new_year
        );
        assert!(fires("cron(0 6 31 12 ? 2027)", "UTC", "2027-12-31T07:00", 1).is_empty());
        assert!(fires("cron(0 6 30 2 ? *)", "UTC", "2026-01-01T00:00", 1).is_empty());
    }

    #[test]
    fn rate_and_at_fires() {
        let after = "2026-12-06T06:30";
        let daily = ["2026-12-07T06:30", "2026-12-08T06:30", "2026-12-09T06:30"];
        assert_eq!(fires("rate(1 day)", "Europe/Paris", after, 3), daily);
        let once = "at(2027-03-01T09:30:00)";
        assert_eq!(fires(once, "Europe/Paris", after, 3), ["2027-03-01T08:30"]);
        assert!(fires(once, "Europe/Paris", "2027-04-01T00:00", 3).is_empty());
    }

    #[test]
    fn runs_per_month_for_the_cost() {
        for (text, zone_name, want, tolerance) in [
            ("cron(0 6 * * ? *)", "Europe/Paris", 30.0, 1e-9),
            ("cron(0/15 * * * ? *)", "UTC", 2880.0, 1e-9),
            ("cron(0 18 ? * MON-FRI *)", "UTC", 30.0 * 20.0 / 28.0, 0.01),
            ("cron(* * * * ? *)", "UTC", 43_200.0, 1e-9),
            ("cron(0 6 * * ? 2020)", "UTC", 0.0, 0.0),
            ("rate(1 hour)", "UTC", 720.0, 0.0),
            ("rate(5 minutes)", "UTC", 8640.0, 0.0),
            ("at(2027-03-01T09:30:00)", "Europe/Paris", 1.0, 0.0),
            ("at(2026-03-01T09:30:00)", "Europe/Paris", 0.0, 0.0),
        ] {
            let got = runs(text, zone_name);
            assert!((got - want).abs() <= tolerance, "{text}: {got}, not {want}");
        }
    }
}
