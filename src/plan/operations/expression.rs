//! EventBridge Scheduler's schedule expressions, checked offline. The plan parses every
//! schedule's `cron(...)`, `rate(...)` or `at(...)` and its time zone here, so that a bad
//! schedule is refused, with the fix, before anything is deployed; and it previews the next
//! fire times in the schedule's own zone and a monthly run count for the cost estimate.

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

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

mod cron;
use cron::parse_cron;
pub use cron::Cron;

#[cfg(test)]
mod tests;
