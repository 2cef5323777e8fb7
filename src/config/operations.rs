//! The `schedules:`, `schedule_role_arn:` and `alerts:` sections: how a deployed pipeline
//! runs in production (on a schedule, with a failure sent to a topic). Checked when the
//! config is loaded, so a bad expression or zone is refused before anything is planned.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `schedules.<name>:` one EventBridge Scheduler schedule that starts the state machine's
/// alias.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Scheduler's own syntax: `cron(0 6 * * ? *)`, `rate(1 day)`, `at(2027-01-01T06:00:00)`.
    pub expression: String,
    /// An IANA time zone the cron fields are read in (default UTC).
    pub timezone: Option<String>,
    /// The execution's runtime params, as `--params` gives them.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// `false` keeps the schedule deployed but paused (default true).
    pub enabled: Option<bool>,
    /// Scheduler may start the run up to this many minutes late, to spread load (default 0:
    /// exactly on time).
    pub flexible_window_minutes: Option<u32>,
}

/// `alerts:` where the state machine's failed runs are announced.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// The SNS topic the rule publishes to (its policy must let events.amazonaws.com
    /// publish).
    pub sns_topic_arn: String,
    /// The execution statuses that alert (default FAILED, TIMED_OUT, ABORTED).
    pub statuses: Option<Vec<String>>,
}

/// The statuses an alert goes out on when `alerts.statuses` is not given.
pub const DEFAULT_ALERT_STATUSES: [&str; 3] = ["FAILED", "TIMED_OUT", "ABORTED"];
/// The statuses Step Functions' status-change events carry.
pub const ALERT_STATUSES: [&str; 6] = [
    "ABORTED",
    "FAILED",
    "PENDING_REDRIVE",
    "RUNNING",
    "SUCCEEDED",
    "TIMED_OUT",
];
/// Scheduler's longest flexible window.
pub const FLEXIBLE_WINDOW_MAX: u32 = 1440;

/// The first schedule or alert setting that cannot be used, as (key, message).
pub fn validate(
    schedules: &BTreeMap<String, ScheduleConfig>,
    schedule_role_arn: Option<&str>,
    alerts: Option<&AlertsConfig>,
) -> Result<(), (String, String)> {
    for (name, schedule) in schedules {
        let key = |field: &str| format!("schedules.{name}.{field}");
        schedule_name(name).map_err(|m| (format!("schedules.{name}"), m))?;
        crate::plan::operations::expression::parse(&schedule.expression)
            .map_err(|e| (key("expression"), e.to_string()))?;
        if let Some(zone) = &schedule.timezone {
            crate::plan::operations::expression::parse_timezone(zone)
                .map_err(|e| (key("timezone"), e.to_string()))?;
        }
        if let Some(minutes) = schedule.flexible_window_minutes {
            if minutes > FLEXIBLE_WINDOW_MAX {
                return Err((
                    key("flexible_window_minutes"),
                    format!("{minutes} minutes: Scheduler takes 0 (exactly on time) to {FLEXIBLE_WINDOW_MAX}"),
                ));
            }
        }
    }
    match schedule_role_arn {
        Some(role) => super::role_arn(role).map_err(|m| ("schedule_role_arn".into(), m))?,
        None if !schedules.is_empty() => {
            return Err((
                "schedule_role_arn".into(),
                "schedules need a role that EventBridge Scheduler assumes to start the state \
                 machine: set schedule_role_arn (`kedro-sfn init` prints its trust and policy)"
                    .into(),
            ))
        }
        None => {}
    }
    if let Some(alerts) = alerts {
        topic_arn(&alerts.sns_topic_arn).map_err(|m| ("alerts.sns_topic_arn".into(), m))?;
        if let Some(statuses) = &alerts.statuses {
            if statuses.is_empty() {
                return Err((
                    "alerts.statuses".into(),
                    format!(
                        "an empty list alerts on nothing; leave the key out for {} or name some of {}",
                        DEFAULT_ALERT_STATUSES.join(", "),
                        ALERT_STATUSES.join(", ")
                    ),
                ));
            }
            if let Some(bad) = statuses
                .iter()
                .find(|s| !ALERT_STATUSES.contains(&s.as_str()))
            {
                return Err((
                    "alerts.statuses".into(),
                    format!(
                        "`{}` is not an execution status; use some of {}",
                        bad.escape_debug(),
                        ALERT_STATUSES.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Scheduler's schedule names: 1 to 64 of letters, digits, `-`, `_` and `.`.
fn schedule_name(name: &str) -> Result<(), String> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if (1..=64).contains(&name.len()) && name.chars().all(legal) {
        Ok(())
    } else {
        Err(format!(
            "`{}` cannot be a schedule's name: Scheduler takes 1 to 64 letters, digits, `-`, `_` and `.`",
            name.escape_debug()
        ))
    }
}

/// `arn:aws:sns:REGION:ACCOUNT:TOPIC`.
fn topic_arn(value: &str) -> Result<(), String> {
    let parts: Vec<&str> = value.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && super::validate::region(parts[3]).is_ok()
        && super::validate::account_id(parts[4]).is_ok()
        && !parts[5].is_empty()
        && parts[5].len() <= 256
        && parts[5]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    match ok {
        true => Ok(()),
        false => Err(format!(
            "`{}` is not an SNS topic ARN: it looks like `arn:aws:sns:eu-west-1:123456789012:pipeline-alerts`",
            value.escape_debug()
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_config, ConfigError};

    fn refusal(yaml: &str) -> (String, String) {
        let file = parse_config(yaml, "kedro-sfn.yml").expect("parses");
        match crate::config::validate_file(&file, "kedro-sfn.yml") {
            Err(ConfigError::Invalid { key, message, .. }) => (key, message),
            other => panic!("{yaml}: {other:?}"),
        }
    }

    const ROLE: &str = "schedule_role_arn: arn:aws:iam::123456789012:role/s\n";

    #[test]
    fn each_bad_setting_is_named_with_what_is_allowed() {
        for (yaml, key, fragment) in [
            (
                format!("schedules:\n  'my schedule':\n    expression: rate(1 day)\n{ROLE}"),
                "schedules.my schedule",
                "1 to 64 letters, digits",
            ),
            (
                format!("schedules:\n  n:\n    expression: rate(1 day)\n    flexible_window_minutes: 2000\n{ROLE}"),
                "schedules.n.flexible_window_minutes",
                "0 (exactly on time) to 1440",
            ),
            (
                format!("schedules:\n  n:\n    expression: cron(0 6 ? * 0 *)\n{ROLE}"),
                "schedules.n.expression",
                "cron(0 6 ? * 0 *)",
            ),
            (
                "schedules:\n  n:\n    expression: rate(1 day)\nschedule_role_arn: scheduler\n".to_string(),
                "schedule_role_arn",
                "is not an IAM role ARN",
            ),
            (
                "alerts:\n  sns_topic_arn: arn:aws:sqs:eu-west-1:123456789012:q\n".to_string(),
                "alerts.sns_topic_arn",
                "is not an SNS topic ARN",
            ),
            (
                "alerts:\n  sns_topic_arn: arn:aws:sns:eu-west-1:123456789012:t\n  statuses: []\n".to_string(),
                "alerts.statuses",
                "an empty list alerts on nothing",
            ),
            (
                "alerts:\n  sns_topic_arn: arn:aws:sns:eu-west-1:123456789012:t\n  statuses: [FAIL]\n".to_string(),
                "alerts.statuses",
                "`FAIL` is not an execution status; use some of ABORTED, FAILED",
            ),
        ] {
            let (got_key, message) = refusal(&yaml);
            assert_eq!(got_key, key, "{yaml}: {message}");
            assert!(message.contains(fragment), "{yaml}: {message}");
        }
    }

    #[test]
    fn a_complete_section_is_accepted() {
        let yaml = format!(
            "schedules:\n  nightly:\n    expression: cron(0 6 * * ? *)\n    timezone: Europe/Paris\n    params: {{run_date: '2026-01-01'}}\n    enabled: true\n    flexible_window_minutes: 15\n{ROLE}alerts:\n  sns_topic_arn: arn:aws:sns:eu-west-1:123456789012:t\n  statuses: [FAILED, TIMED_OUT]\n"
        );
        let file = parse_config(&yaml, "kedro-sfn.yml").expect("parses");
        crate::config::validate_file(&file, "kedro-sfn.yml").expect("valid");
    }
}
