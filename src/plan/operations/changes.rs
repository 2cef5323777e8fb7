//! What is deployed of the schedules and the alert, as plain data, and what deploy must do
//! to make it what is planned. Only what kedro-sfn owns is ever changed: a group or rule of
//! the planned name without this machine's tag, or a schedule in the group without its
//! record, is a clash; a deploy is refused rather than take it over.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{alert_message, alert_pattern, alias_arn, owner_record, Operations};
use crate::plan::functions::OWNER_TAG;

/// One deployed schedule, as Scheduler describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeployedSchedule {
    pub expression: String,
    pub timezone: Option<String>,
    pub input: Option<String>,
    pub enabled: bool,
    pub flexible_window_minutes: u32,
    pub target_arn: String,
    pub role_arn: String,
    pub description: Option<String>,
}

/// The deployed rule and its target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeployedRule {
    pub tags: BTreeMap<String, String>,
    pub pattern: Option<String>,
    pub enabled: bool,
    pub targets: Vec<RuleTarget>,
}

/// One target of the deployed rule: what it is sent to and how the event is made into
/// the message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleTarget {
    /// What RemoveTargets names it by.
    pub id: String,
    pub arn: String,
    pub input_paths: BTreeMap<String, String>,
    pub template: Option<String>,
}

/// What is deployed of a machine's operations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeployedOperations {
    /// The schedule group, when it exists: its tags.
    pub group: Option<BTreeMap<String, String>>,
    pub schedules: BTreeMap<String, DeployedSchedule>,
    pub rule: Option<DeployedRule>,
}

/// What happens to one schedule, the group or the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum OperationAction {
    Create,
    Update { reasons: Vec<String> },
    Keep,
    Delete,
}

/// One schedule's change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleChange {
    pub name: String,
    #[serde(flatten)]
    pub action: OperationAction,
}

/// Everything deploy does to schedules and the alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationsChanges {
    pub group: OperationAction,
    pub schedules: Vec<ScheduleChange>,
    pub alert: OperationAction,
    /// Names held by something kedro-sfn does not own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clashes: Vec<String>,
    /// The (expression, time zone) of each enabled schedule deployed now, kedro-sfn's own:
    /// what today's monthly runs are counted from.
    #[serde(skip)]
    pub deployed_timetable: Vec<(String, String)>,
}

impl Default for OperationsChanges {
    fn default() -> Self {
        OperationsChanges {
            group: OperationAction::Keep,
            schedules: Vec::new(),
            alert: OperationAction::Keep,
            clashes: Vec::new(),
            deployed_timetable: Vec::new(),
        }
    }
}

impl OperationsChanges {
    /// True when deploy has nothing to do here.
    pub fn is_empty(&self) -> bool {
        self.group == OperationAction::Keep
            && self.alert == OperationAction::Keep
            && self
                .schedules
                .iter()
                .all(|s| s.action == OperationAction::Keep)
    }

    /// How many resources change.
    pub fn count(&self) -> usize {
        let changed = |a: &OperationAction| usize::from(*a != OperationAction::Keep);
        changed(&self.group)
            + changed(&self.alert)
            + self
                .schedules
                .iter()
                .map(|s| changed(&s.action))
                .sum::<usize>()
    }
}

/// Where the machine stands, for the comparison: its ARN when deployed, its alias, its
/// region (the alert's console link).
#[derive(Debug, Clone, Copy)]
pub struct MachineRef<'a> {
    pub machine: &'a str,
    pub arn: Option<&'a str>,
    pub alias: &'a str,
    pub region: &'a str,
}

/// Compares what is planned with what is deployed.
pub fn changes(
    planned: &Operations,
    deployed: &DeployedOperations,
    machine: MachineRef<'_>,
) -> OperationsChanges {
    let record = owner_record(machine.machine);
    let mut clashes = Vec::new();
    let ours = |tags: &BTreeMap<String, String>| {
        tags.get(OWNER_TAG).map(String::as_str) == Some(machine.machine)
    };
    let group_ours = deployed.group.as_ref().map(&ours);
    let group = match (group_ours, planned.schedules.is_empty()) {
        (Some(false), false) => {
            clashes.push(format!("schedule group {}", planned.group));
            OperationAction::Keep
        }
        (Some(_), false) => OperationAction::Keep,
        (None, false) => OperationAction::Create,
        // Emptied by this deploy, and only ours left in it: the group goes too.
        (Some(true), true)
            if deployed
                .schedules
                .values()
                .all(|s| s.description.as_deref() == Some(record.as_str())) =>
        {
            OperationAction::Delete
        }
        _ => OperationAction::Keep,
    };
    let mut schedules = Vec::new();
    if group_ours != Some(false) {
        let target = machine.arn.map(|arn| alias_arn(arn, machine.alias));
        for schedule in &planned.schedules {
            let action = match deployed.schedules.get(&schedule.name) {
                None => OperationAction::Create,
                Some(current) if current.description.as_deref() != Some(record.as_str()) => {
                    clashes.push(format!("schedule {}/{}", planned.group, schedule.name));
                    OperationAction::Keep
                }
                Some(current) => {
                    let mut reasons = Vec::new();
                    if current.expression != schedule.expression {
                        reasons.push(format!(
                            "expression {} → {}",
                            current.expression, schedule.expression
                        ));
                    }
                    if current.timezone.as_deref().unwrap_or("UTC") != schedule.timezone {
                        reasons.push(format!(
                            "time zone {} → {}",
                            current.timezone.as_deref().unwrap_or("UTC"),
                            schedule.timezone
                        ));
                    }
                    if !same_json(current.input.as_deref(), &schedule.input) {
                        reasons.push("params".into());
                    }
                    if current.enabled != schedule.enabled {
                        reasons.push(
                            if schedule.enabled {
                                "enabled"
                            } else {
                                "disabled"
                            }
                            .into(),
                        );
                    }
                    if current.flexible_window_minutes != schedule.flexible_window_minutes {
                        reasons.push(format!(
                            "flexible window {} → {} min",
                            current.flexible_window_minutes, schedule.flexible_window_minutes
                        ));
                    }
                    if target.as_deref() != Some(current.target_arn.as_str()) {
                        reasons.push("target".into());
                    }
                    if planned.schedule_role_arn.as_deref() != Some(current.role_arn.as_str()) {
                        reasons.push("role".into());
                    }
                    if reasons.is_empty() {
                        OperationAction::Keep
                    } else {
                        OperationAction::Update { reasons }
                    }
                }
            };
            schedules.push(ScheduleChange {
                name: schedule.name.clone(),
                action,
            });
        }
        for (name, current) in &deployed.schedules {
            let planned_here = planned.schedules.iter().any(|s| &s.name == name);
            if !planned_here && current.description.as_deref() == Some(record.as_str()) {
                schedules.push(ScheduleChange {
                    name: name.clone(),
                    action: OperationAction::Delete,
                });
            }
        }
    }
    let alert = match (&planned.alert, &deployed.rule) {
        (None, None) => OperationAction::Keep,
        (None, Some(rule)) if ours(&rule.tags) => OperationAction::Delete,
        (None, Some(_)) => OperationAction::Keep,
        (Some(_), None) => OperationAction::Create,
        (Some(_), Some(rule)) if !ours(&rule.tags) => {
            clashes.push(format!("EventBridge rule {}", planned.rule));
            OperationAction::Keep
        }
        (Some(alert), Some(rule)) => {
            let mut reasons = Vec::new();
            let pattern = machine.arn.map(|arn| alert_pattern(arn, &alert.statuses));
            if !same_json(rule.pattern.as_deref(), pattern.as_deref().unwrap_or("")) {
                reasons.push("statuses".into());
            }
            if !rule.enabled {
                reasons.push("enabled".into());
            }
            let (paths, template) = alert_message(machine.region);
            let as_planned = |t: &RuleTarget| {
                t.arn == alert.topic_arn
                    && t.input_paths == paths
                    && t.template.as_deref() == Some(template.as_str())
            };
            if !(rule.targets.len() == 1 && rule.targets.iter().all(as_planned)) {
                let topics: Vec<&str> = rule.targets.iter().map(|t| t.arn.as_str()).collect();
                reasons.push(if topics != [alert.topic_arn.as_str()] {
                    format!("topic {} → {}", topics.join(", "), alert.topic_arn)
                } else {
                    "message".into()
                });
            }
            if reasons.is_empty() {
                OperationAction::Keep
            } else {
                OperationAction::Update { reasons }
            }
        }
    };
    let deployed_timetable = deployed
        .schedules
        .values()
        .filter(|s| s.enabled && s.description.as_deref() == Some(record.as_str()))
        .map(|s| {
            let zone = s.timezone.clone().unwrap_or_else(|| "UTC".into());
            (s.expression.clone(), zone)
        })
        .collect();
    OperationsChanges {
        group,
        schedules,
        alert,
        clashes,
        deployed_timetable,
    }
}

/// The same JSON document, however it is spaced or its keys ordered.
fn same_json(deployed: Option<&str>, planned: &str) -> bool {
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
    match deployed {
        Some(text) => parse(text).is_some() && parse(text) == parse(planned),
        None => planned.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::operations::{PlannedAlert, PlannedSchedule};

    const ARN: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:sf";

    fn machine() -> MachineRef<'static> {
        MachineRef {
            machine: "sf",
            arn: Some(ARN),
            alias: "live",
            region: "eu-west-1",
        }
    }

    fn planned(names: &[&str], alert: bool) -> Operations {
        Operations {
            group: "kedro-sfn-sf".into(),
            rule: "kedro-sfn-sf-alerts".into(),
            schedules: names
                .iter()
                .map(|n| PlannedSchedule {
                    name: n.to_string(),
                    expression: "cron(0 6 * * ? *)".into(),
                    timezone: "Europe/Paris".into(),
                    input: r#"{"params":{}}"#.into(),
                    enabled: true,
                    flexible_window_minutes: 0,
                })
                .collect(),
            schedule_role_arn: Some("arn:aws:iam::123456789012:role/s".into()),
            alert: alert.then(|| PlannedAlert {
                rule: "kedro-sfn-sf-alerts".into(),
                topic_arn: "arn:aws:sns:eu-west-1:123456789012:t".into(),
                statuses: vec!["FAILED".into()],
            }),
        }
    }

    /// What a deploy of `ops` leaves behind.
    fn deployed(ops: &Operations) -> DeployedOperations {
        let tags: BTreeMap<String, String> = [(OWNER_TAG.to_string(), "sf".to_string())].into();
        DeployedOperations {
            group: (!ops.schedules.is_empty()).then(|| tags.clone()),
            schedules: ops
                .schedules
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        DeployedSchedule {
                            expression: s.expression.clone(),
                            timezone: Some(s.timezone.clone()),
                            input: Some(r#"{ "params": {} }"#.into()),
                            enabled: true,
                            flexible_window_minutes: 0,
                            target_arn: format!("{ARN}:live"),
                            role_arn: ops.schedule_role_arn.clone().unwrap(),
                            description: Some(owner_record("sf")),
                        },
                    )
                })
                .collect(),
            rule: ops.alert.as_ref().map(|a| {
                let (paths, template) = alert_message("eu-west-1");
                DeployedRule {
                    tags: tags.clone(),
                    pattern: Some(alert_pattern(ARN, &a.statuses)),
                    enabled: true,
                    targets: vec![RuleTarget {
                        id: "kedro-sfn-alert".into(),
                        arn: a.topic_arn.clone(),
                        input_paths: paths,
                        template: Some(template),
                    }],
                }
            }),
        }
    }

    #[test]
    fn first_deploy_creates_and_a_redeploy_keeps() {
        let ops = planned(&["nightly"], true);
        let first = changes(&ops, &DeployedOperations::default(), machine());
        assert_eq!(first.group, OperationAction::Create);
        assert_eq!(first.schedules[0].action, OperationAction::Create);
        assert_eq!(first.alert, OperationAction::Create);
        assert_eq!(first.count(), 3);
        let again = changes(&ops, &deployed(&ops), machine());
        assert!(again.is_empty(), "{again:?}");
        assert_eq!(again.count(), 0);
    }

    #[test]
    fn updates_say_why_and_removed_ones_are_deleted() {
        let before = planned(&["nightly", "weekly"], true);
        let mut after = planned(&["nightly"], false);
        after.schedules[0].expression = "cron(0 7 * * ? *)".into();
        after.schedules[0].input = r#"{"params":{"a":1}}"#.into();
        let diff = changes(&after, &deployed(&before), machine());
        assert_eq!(
            diff.schedules[0].action,
            OperationAction::Update {
                reasons: vec![
                    "expression cron(0 6 * * ? *) → cron(0 7 * * ? *)".into(),
                    "params".into()
                ]
            }
        );
        assert_eq!(diff.schedules[1].name, "weekly");
        assert_eq!(diff.schedules[1].action, OperationAction::Delete);
        assert_eq!(diff.alert, OperationAction::Delete);
        assert_eq!(diff.group, OperationAction::Keep);
        let none = changes(&planned(&[], false), &deployed(&before), machine());
        assert_eq!(none.group, OperationAction::Delete);
    }

    #[test]
    fn what_others_own_is_a_clash_and_never_touched() {
        let ops = planned(&["nightly"], true);
        let mut theirs = deployed(&ops);
        for schedule in theirs.schedules.values_mut() {
            schedule.description = Some("made by hand".into());
        }
        theirs.schedules.insert(
            "other".into(),
            DeployedSchedule {
                description: None,
                ..Default::default()
            },
        );
        if let Some(rule) = theirs.rule.as_mut() {
            rule.tags.clear();
        }
        let diff = changes(&ops, &theirs, machine());
        assert_eq!(
            diff.clashes,
            [
                "schedule kedro-sfn-sf/nightly",
                "EventBridge rule kedro-sfn-sf-alerts"
            ]
        );
        assert!(diff.is_empty(), "nothing of theirs changes: {diff:?}");
        // Not planned, not ours: never deleted, and the group that holds it stays.
        let gone = changes(&planned(&[], false), &theirs, machine());
        assert!(gone.is_empty(), "{gone:?}");
        let mut foreign_group = deployed(&ops);
        foreign_group.group = Some(BTreeMap::new());
        assert_eq!(
            changes(&ops, &foreign_group, machine()).clashes,
            ["schedule group kedro-sfn-sf"]
        );
    }
}
