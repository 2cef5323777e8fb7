//! The `### Schedules and alerts` section: each schedule with its next three runs in its
//! own time zone and what deploy does to it, the alert, and what the schedules cost per
//! month against what is deployed. The only report that needs the time: `now` comes in
//! from the edge, so the same input and the same `now` give the same bytes.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Utc};

use crate::plan::changes::{ChangeSet, OperationAction};
use crate::plan::operations::expression::{self, Expression};
use crate::plan::Plan;

use super::escape::{code, text};
use super::run_cost::{usd, usd_delta};

/// How many next runs each schedule shows.
const NEXT_RUNS: usize = 3;

/// Runs per 30-day month of `expression` in `zone`, from `now` (0 where either does not
/// parse: the config check refuses those before a plan is made).
pub fn runs_per_month(expression_text: &str, zone: &str, now: DateTime<Utc>) -> f64 {
    match (
        expression::parse(expression_text),
        expression::parse_timezone(zone),
    ) {
        (Ok(parsed), Ok(zone)) => parsed.runs_per_month(zone, now),
        _ => 0.0,
    }
}

/// The next runs, as `Mon 7 Dec 06:00` in the schedule's zone (with the year when it is
/// not this year's).
fn next_runs(expression_text: &str, zone: &str, now: DateTime<Utc>) -> String {
    let (Ok(parsed), Ok(tz)) = (
        expression::parse(expression_text),
        expression::parse_timezone(zone),
    ) else {
        return "—".into();
    };
    let fires = parsed.next_fires(tz, now, NEXT_RUNS);
    if fires.is_empty() {
        return "none (in the past)".into();
    }
    let this_year = now.with_timezone(&tz).year();
    let shown: Vec<String> = fires
        .iter()
        .map(|t| match t.year() == this_year {
            true => t.format("%a %-d %b %H:%M").to_string(),
            false => t.format("%a %-d %b %Y %H:%M").to_string(),
        })
        .collect();
    let mut text = shown.join(", ");
    if matches!(parsed, Expression::Rate { .. }) {
        text.push_str(" (a rate counts from the deploy)");
    }
    text
}

fn action_text(action: Option<&OperationAction>) -> String {
    match action {
        None => "—".into(),
        Some(OperationAction::Create) => "create".into(),
        Some(OperationAction::Keep) => "no change".into(),
        Some(OperationAction::Delete) => "**delete**".into(),
        Some(OperationAction::Update { reasons }) => format!("update: {}", reasons.join(", ")),
    }
}

/// The terminal's lines for the schedules and the alert: each schedule with its next run.
pub fn terminal_lines(plan: &Plan, now: DateTime<Utc>) -> Vec<String> {
    let ops = &plan.operations;
    let mut lines: Vec<String> = ops
        .schedules
        .iter()
        .map(|s| {
            let next = match s.enabled {
                true => next_runs(&s.expression, &s.timezone, now)
                    .split(", ")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                false => "paused".to_string(),
            };
            format!(
                "  schedule {}: {} {}, next {next}",
                s.name, s.expression, s.timezone
            )
        })
        .collect();
    if let Some(alert) = &ops.alert {
        lines.push(format!(
            "  alert: runs that end {} go to {}",
            alert.statuses.join(", "),
            alert.topic_arn
        ));
    }
    lines
}

/// The section; empty when nothing is planned and nothing deployed changes.
pub fn render(plan: &Plan, changes: Option<&ChangeSet>, now: DateTime<Utc>) -> String {
    let ops = &plan.operations;
    let changed = changes.map(|c| &c.operations);
    let deleted: Vec<&str> = changed
        .map(|c| {
            c.schedules
                .iter()
                .filter(|s| s.action == OperationAction::Delete)
                .map(|s| s.name.as_str())
                .collect()
        })
        .unwrap_or_default();
    let alert_deleted = changed.is_some_and(|c| c.alert == OperationAction::Delete);
    if ops.is_empty() && deleted.is_empty() && !alert_deleted {
        return String::new();
    }
    let mut out = String::from("### Schedules and alerts\n\n");
    if !ops.schedules.is_empty() || !deleted.is_empty() {
        out.push_str(match changed {
            Some(_) => "| Schedule | When | Time zone | Next runs | Params | Change |\n|---|---|---|---|---|---|\n",
            None => "| Schedule | When | Time zone | Next runs | Params |\n|---|---|---|---|---|\n",
        });
        for schedule in &ops.schedules {
            let action = changed.and_then(|c| {
                c.schedules
                    .iter()
                    .find(|s| s.name == schedule.name)
                    .map(|s| &s.action)
            });
            let when = if schedule.enabled {
                code(&schedule.expression)
            } else {
                format!("{} (paused)", code(&schedule.expression))
            };
            let next = if schedule.enabled {
                next_runs(&schedule.expression, &schedule.timezone, now)
            } else {
                "— (paused)".into()
            };
            let params = serde_json::from_str::<serde_json::Value>(&schedule.input)
                .ok()
                .and_then(|input| input.get("params").cloned())
                .filter(|p| p.as_object().is_some_and(|m| !m.is_empty()))
                .map_or_else(|| "—".to_string(), |p| code(&p.to_string()));
            let _ = write!(
                out,
                "| {} | {when} | {} | {} | {params} |",
                code(&schedule.name),
                text(&schedule.timezone),
                text(&next),
            );
            if changed.is_some() {
                let _ = write!(out, " {} |", action_text(action));
            }
            out.push('\n');
        }
        for name in &deleted {
            let _ = writeln!(out, "| {} | — | — | — | — | **delete** |", code(name));
        }
        out.push('\n');
        if let Some(group) = changed.map(|c| &c.group) {
            if *group != OperationAction::Keep {
                let _ = writeln!(
                    out,
                    "Schedule group {}: {}.\n",
                    code(&ops.group),
                    action_text(Some(group))
                );
            }
        }
    }
    match &ops.alert {
        Some(alert) => {
            let _ = write!(
                out,
                "Alert: runs that end {} are sent to {} (EventBridge rule {})",
                alert.statuses.join(", "),
                code(&alert.topic_arn),
                code(&alert.rule),
            );
            if let Some(changed) = changed {
                let _ = write!(out, ": {}", action_text(Some(&changed.alert)));
            }
            out.push_str(".\n\n");
        }
        None if alert_deleted => {
            let _ = writeln!(
                out,
                "Alert: the rule {} is **deleted** (no `alerts:` in the config).\n",
                code(&ops.rule)
            );
        }
        None => {}
    }
    out.push_str(&monthly(plan, changes, now));
    out
}

/// The monthly runs and cost, planned against deployed.
fn monthly(plan: &Plan, changes: Option<&ChangeSet>, now: DateTime<Utc>) -> String {
    let planned_runs: f64 = plan
        .operations
        .schedules
        .iter()
        .filter(|s| s.enabled)
        .map(|s| runs_per_month(&s.expression, &s.timezone, now))
        .sum();
    let per_run = plan.timing.estimate.total_usd;
    let deployed = changes.and_then(|c| {
        let runs: f64 = c
            .operations
            .deployed_timetable
            .iter()
            .map(|(expression, zone)| runs_per_month(expression, zone, now))
            .sum();
        c.deployed_run.as_ref().map(|run| (runs, run.total_usd))
    });
    if planned_runs == 0.0 && deployed.is_none_or(|(runs, _)| runs == 0.0) {
        return String::new();
    }
    let mut out =
        String::from("| Per month | Deployed | Planned | Change |\n|---|---:|---:|---:|\n");
    let cost_after = planned_runs * per_run;
    let Some((runs_before, per_run_before)) = deployed.or(changes.map(|_| (0.0, 0.0))) else {
        let mut out = String::from("| Per month | Planned |\n|---|---:|\n");
        let _ = writeln!(out, "| Scheduled runs | {} |", runs(planned_runs));
        let _ = writeln!(out, "| **Cost** | {} |", usd(cost_after));
        out.push_str(MONTH_NOTE);
        return out;
    };
    let cost_before = runs_before * per_run_before;
    let _ = writeln!(
        out,
        "| Scheduled runs | {} | {} | {} |",
        runs(runs_before),
        runs(planned_runs),
        runs_delta(planned_runs - runs_before)
    );
    let _ = writeln!(
        out,
        "| **Cost** | {} | {} | {} |",
        usd(cost_before),
        usd(cost_after),
        usd_delta(cost_after - cost_before)
    );
    out.push_str(MONTH_NOTE);
    out
}

/// What the monthly figures count.
const MONTH_NOTE: &str = "\nA 30-day month of the enabled schedules, each run at the \
    expected cost above; runs started by hand are not counted.\n\n";

fn runs(value: f64) -> String {
    if (value - value.round()).abs() < 0.05 {
        format!("{}", value.round() as i64)
    } else {
        format!("{value:.1}")
    }
}

fn runs_delta(value: f64) -> String {
    match value {
        v if v.abs() < 0.05 => "±0".into(),
        v if v > 0.0 => format!("+{}", runs(v)),
        v => format!("−{}", runs(-v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_config, Config};
    use crate::plan::changes::{changes, Deployment, Target};

    fn plan_with(yaml: &str) -> Plan {
        let mut rng = crate::synthetic::Rng::new(1);
        let doc = crate::synthetic::modular_doc(2, 3, &mut rng);
        let config = Config {
            source: None,
            file: parse_config(yaml, "test").expect("config"),
        };
        crate::plan::plan(&doc, &config).expect("plan")
    }

    fn now() -> DateTime<Utc> {
        "2026-12-06T06:30:00Z".parse().expect("time")
    }

    const YAML: &str = "schedules:\n  nightly:\n    expression: cron(0 6 * * ? *)\n    timezone: Europe/Paris\n    params: {run_date: '2026-01-01'}\n  paused:\n    expression: rate(1 hour)\n    enabled: false\nschedule_role_arn: arn:aws:iam::123456789012:role/s\nalerts:\n  sns_topic_arn: arn:aws:sns:eu-west-1:123456789012:alerts\n";

    #[test]
    fn next_runs_in_the_zone_and_the_month_offline() {
        let plan = plan_with(YAML);
        let section = render(&plan, None, now());
        assert!(section.contains("| `nightly` | `cron(0 6 * * ? *)` | Europe/Paris | Mon 7 Dec 06:00, Tue 8 Dec 06:00, Wed 9 Dec 06:00 | `{\"run_date\":\"2026-01-01\"}` |"), "{section}");
        assert!(section.contains("`rate(1 hour)` (paused)"), "{section}");
        assert!(section.contains("| Scheduled runs | 30 |"), "{section}");
        let per_run = plan.timing.estimate.total_usd;
        assert!(
            section.contains(&format!("| **Cost** | {} |", usd(30.0 * per_run))),
            "{section}"
        );
        assert!(
            !section.contains("Change"),
            "offline, nothing is compared: {section}"
        );
        // The same input and time, the same bytes.
        assert_eq!(section, render(&plan_with(YAML), None, now()));
        // A run next year says its year.
        let late: DateTime<Utc> = "2026-12-31T12:00:00Z".parse().expect("time");
        assert!(
            render(&plan, None, late).contains("Fri 1 Jan 2027 06:00, Sat 2 Jan 2027 06:00"),
            "{}",
            render(&plan, None, late)
        );
    }

    #[test]
    fn against_a_deployment_each_schedule_says_what_happens_and_the_month_compares() {
        let plan = plan_with(YAML);
        let set = changes(&plan, &Deployment::default(), &Target::with_image(None));
        let review = crate::report::review::Review::of(&plan, &set);
        let title = crate::report::review::verdict(&plan, &set, &review);
        assert!(
            title.starts_with("🆕 first deploy: ")
                && title.ends_with(" · 2 schedules added · alert added"),
            "{title}"
        );
        let section = render(&plan, Some(&set), now());
        assert!(section.contains("| create |"), "{section}");
        assert!(
            section.contains("| Scheduled runs | 0 | 30 | +30 |"),
            "{section}"
        );
        assert!(section.contains("alerts`): create."), "{section}");
        let none = plan_with("");
        assert_eq!(render(&none, None, now()), "");
        let set = changes(&none, &Deployment::default(), &Target::with_image(None));
        assert_eq!(render(&none, Some(&set), now()), "");
    }
}
