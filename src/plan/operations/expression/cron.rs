//! `cron(...)`: its six fields parsed into bit sets, and the times it fires in a zone.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::{Tz, TzOffset};

use super::{error, ExpressionError, CRON_SHAPE, FIRST_YEAR, LAST_YEAR};

/// A parsed `cron()`: each field as a bit set (bit 0 = the field's lowest value), so that
/// finding the fire times is a few shifts per candidate minute, with no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    pub(super) minutes: u64,
    pub(super) hours: u32,
    /// Bit 0 = January.
    pub(super) months: u16,
    /// Bit 0 = 1970, up to 2199.
    pub(super) years: [u64; 4],
    pub(super) days: DayRule,
}

/// Which days of a month a cron fires on: day-of-month or day-of-week, never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DayRule {
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

pub(super) fn parse_cron(text: &str, inner: &str) -> Result<Cron, ExpressionError> {
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
    pub(super) fn scan(
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
