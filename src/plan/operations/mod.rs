//! Running in production, planned like the rest: the EventBridge Scheduler schedules that
//! start the state machine's alias, and the EventBridge rule that sends failed runs to an
//! SNS topic. Pure: the config gives what is wanted ([`plan`]), the deployment comes in as
//! plain data, and [`changes`] says what deploy must create, update or delete.

pub mod changes;
pub mod expression;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::config::operations::DEFAULT_ALERT_STATUSES;
use crate::config::Config;
use crate::plan::definition::names::short_hash;

/// What every schedule and rule kedro-sfn owns says it is, so that one made by hand in the
/// same group, or of the same name, is never updated or deleted.
pub fn owner_record(machine: &str) -> String {
    format!("kedro-sfn state-machine={machine}")
}

/// One schedule as planned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedSchedule {
    pub name: String,
    pub expression: String,
    /// The IANA zone its cron fields are read in.
    pub timezone: String,
    /// The execution input it starts the alias with (compact JSON): the runtime params.
    pub input: String,
    pub enabled: bool,
    /// 0: exactly on time.
    pub flexible_window_minutes: u32,
}

/// The failure alert as planned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedAlert {
    pub rule: String,
    pub topic_arn: String,
    pub statuses: Vec<String>,
}

/// Schedules and alert of one state machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operations {
    /// The schedule group that holds this machine's schedules (and only them).
    pub group: String,
    /// The rule that would carry the alert: also what is pruned when `alerts:` goes.
    pub rule: String,
    pub schedules: Vec<PlannedSchedule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<PlannedAlert>,
}

impl Operations {
    /// True when the config asks for neither schedules nor an alert.
    pub fn is_empty(&self) -> bool {
        self.schedules.is_empty() && self.alert.is_none()
    }
}

/// Scheduler's and EventBridge's names: at most 64 characters.
const NAME_MAX: usize = 64;

/// `kedro-sfn-<machine><suffix>`, shortened with a hash of the whole where it would pass 64.
fn owned_name(machine: &str, suffix: &str) -> String {
    let full = format!("kedro-sfn-{machine}{suffix}");
    if full.len() <= NAME_MAX {
        return full;
    }
    let hash = short_hash(&full, 8);
    let keep = NAME_MAX - "kedro-sfn-".len() - suffix.len() - hash.len() - 1;
    let head: String = machine.chars().take(keep).collect();
    format!("kedro-sfn-{head}-{hash}{suffix}")
}

/// The schedules and alert the config asks for, for the state machine `machine`.
pub fn plan(config: &Config, machine: &str) -> Operations {
    let file = &config.file;
    let schedules = file
        .schedules
        .iter()
        .map(|(name, schedule)| {
            let params: Map<String, Value> = schedule
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            PlannedSchedule {
                name: name.clone(),
                expression: schedule.expression.trim().to_string(),
                timezone: schedule.timezone.clone().unwrap_or_else(|| "UTC".into()),
                input: crate::pipeline::params::input_with_params(&json!({}), params).to_string(),
                enabled: schedule.enabled.unwrap_or(true),
                flexible_window_minutes: schedule.flexible_window_minutes.unwrap_or(0),
            }
        })
        .collect();
    let rule = owned_name(machine, "-alerts");
    let alert = file.alerts.as_ref().map(|alerts| {
        let mut statuses = alerts.statuses.clone().unwrap_or_else(|| {
            DEFAULT_ALERT_STATUSES
                .iter()
                .map(|s| s.to_string())
                .collect()
        });
        statuses.sort();
        statuses.dedup();
        PlannedAlert {
            rule: rule.clone(),
            topic_arn: alerts.sns_topic_arn.clone(),
            statuses,
        }
    });
    Operations {
        group: owned_name(machine, ""),
        rule,
        schedules,
        schedule_role_arn: file.schedule_role_arn.clone(),
        alert,
    }
}

/// The rule's event pattern: this machine's executions entering one of `statuses`.
pub fn alert_pattern(machine_arn: &str, statuses: &[String]) -> String {
    json!({
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"stateMachineArn": [machine_arn], "status": statuses},
    })
    .to_string()
}

/// The message the topic receives: EventBridge's input transformer, paths and template.
/// It names the machine, the run, its status, the error (for a task kedro-sfn planned,
/// `<Task state>.Failed`: the Task state, named after its node) and the console link.
pub fn alert_message(region: &str) -> (BTreeMap<String, String>, String) {
    let paths: BTreeMap<String, String> = [
        ("machine", "$.detail.stateMachineArn"),
        ("execution", "$.detail.executionArn"),
        ("name", "$.detail.name"),
        ("status", "$.detail.status"),
        ("error", "$.detail.error"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let console = format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/<execution>"
    );
    // A JSON string as the template: SNS then delivers plain text. Not the cause: it is
    // JSON text itself (the handler's error), which the console link shows in full.
    let template = format!(
        "\"kedro-sfn: the run <name> of <machine> ended <status>. Error: <error>. Console: {console}\""
    );
    (paths, template)
}

/// The ARN schedules start: the machine's alias, so a rollback moves them with it.
pub fn alias_arn(machine_arn: &str, alias: &str) -> String {
    format!("{machine_arn}:{alias}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_names_fit_in_64_and_stay_distinct() {
        assert_eq!(owned_name("spaceflights", ""), "kedro-sfn-spaceflights");
        assert_eq!(
            owned_name("spaceflights", "-alerts"),
            "kedro-sfn-spaceflights-alerts"
        );
        let long_a = "a".repeat(80);
        let long_b = format!("{}b", "a".repeat(79));
        for suffix in ["", "-alerts"] {
            let (a, b) = (owned_name(&long_a, suffix), owned_name(&long_b, suffix));
            assert!(a.len() <= 64 && b.len() <= 64, "{a} {b}");
            assert_ne!(a, b);
            assert!(a.ends_with(suffix));
        }
    }

    #[test]
    fn schedules_and_alert_from_the_config() {
        let config = Config {
            source: None,
            file: crate::config::parse_config(
                "schedules:\n  nightly:\n    expression: cron(0 6 * * ? *)\n    timezone: Europe/Paris\n    params: {run_date: \"2026-01-01\", n: 2}\n  weekly:\n    expression: rate(7 days)\n    enabled: false\nschedule_role_arn: arn:aws:iam::123456789012:role/sched\nalerts:\n  sns_topic_arn: arn:aws:sns:eu-west-1:123456789012:alerts\n",
                "test",
            )
            .unwrap(),
        };
        let ops = plan(&config, "spaceflights");
        assert_eq!(ops.group, "kedro-sfn-spaceflights");
        assert_eq!(ops.schedules.len(), 2);
        let nightly = &ops.schedules[0];
        assert_eq!(nightly.name, "nightly");
        assert_eq!(nightly.timezone, "Europe/Paris");
        assert_eq!(
            nightly.input,
            r#"{"params":{"n":2,"run_date":"2026-01-01"}}"#
        );
        assert!(nightly.enabled);
        assert_eq!(ops.schedules[1].timezone, "UTC");
        assert!(!ops.schedules[1].enabled);
        assert_eq!(ops.schedules[1].input, r#"{"params":{}}"#);
        let alert = ops.alert.unwrap();
        assert_eq!(alert.statuses, ["ABORTED", "FAILED", "TIMED_OUT"]);
        assert_eq!(alert.rule, "kedro-sfn-spaceflights-alerts");
        let pattern: Value =
            serde_json::from_str(&alert_pattern("arn:m", &alert.statuses)).unwrap();
        assert_eq!(pattern["detail"]["stateMachineArn"][0], "arn:m");
    }
}
