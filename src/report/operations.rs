//! The `### Schedules and alerts` section: each schedule with its next three runs in its
//! own time zone and what deploy does to it, the alert, and what the schedules cost per
//! month against what is deployed. The only report that needs the time: `now` comes in
//! from the edge, so the same input and the same `now` give the same bytes.

use std::fmt::Write;

use chrono::{DateTime, Utc};

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

/// The next runs, as `Mon 7 Dec 06:00` in the schedule's zone.
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
    let mut shown: Vec<String> = fires
        .iter()
        .map(|t| t.format("%a %-d %b %Y %H:%M").to_string())
        .collect();
    if matches!(parsed, Expression::Rate { .. }) {
        shown.push("(counted from the deploy)".into());
    }
    shown.join(", ")
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
        out.push_str("| Schedule | When | Time zone | Next runs | Params | Change |\n|---|---|---|---|---|---|\n");
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
            let _ = writeln!(
                out,
                "| {} | {when} | {} | {} | {params} | {} |",
                code(&schedule.name),
                text(&schedule.timezone),
                text(&next),
                action_text(action)
            );
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
            let _ = writeln!(
                out,
                "Alert: runs that end {} are sent to {} (EventBridge rule {}): {}.\n",
                alert.statuses.join(", "),
                code(&alert.topic_arn),
                code(&alert.rule),
                action_text(changed.map(|c| &c.alert))
            );
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
    let (runs_before, per_run_before) = deployed.unwrap_or((0.0, 0.0));
    let cost_before = runs_before * per_run_before;
    let cost_after = planned_runs * per_run;
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
    out.push_str(
        "\nA 30-day month of the enabled schedules, each run at the expected cost above; runs \
         started by hand are not counted.\n\n",
    );
    out
}

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
