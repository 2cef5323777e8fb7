use super::cron::DayRule;
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
