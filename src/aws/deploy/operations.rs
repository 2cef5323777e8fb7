//! The schedules and the alert, applied once the alias serves the new version (schedules
//! start the alias): the group first, then each schedule, then the rule; deletions last,
//! the group after its schedules.

use std::collections::BTreeMap;

use super::{Applied, DeployError, Job};
use crate::aws::operations::{RuleInput, ScheduleInput};
use crate::plan::changes::OperationAction;
use crate::plan::functions::OWNER_TAG;
use crate::plan::operations::{alert_message, alert_pattern, alias_arn, owner_record};

/// Applies `job.changes.operations`; does nothing when it is empty.
pub(super) async fn apply(
    job: &Job<'_>,
    applied: &Applied,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), DeployError> {
    let changes = &job.changes.operations;
    if changes.is_empty() {
        return Ok(());
    }
    let ops = &job.plan.operations;
    let client = &job.clients.operations;
    let machine = &job.plan.state_machine.name;
    let machine_arn = applied.state_machine_arn.as_deref().ok_or_else(|| {
        DeployError::Aws(crate::aws::AwsError::other(
            "deploying the schedules and the alert",
            "the state machine has no ARN after its deploy",
        ))
    })?;
    let record = owner_record(machine);
    let mut tags: BTreeMap<String, String> = job.target.extra_tags.clone();
    tags.insert(OWNER_TAG.to_string(), machine.clone());
    if changes.group == OperationAction::Create {
        client.create_group(&ops.group, &tags).await?;
        progress(&format!("schedule group {} created", ops.group));
    }
    let target = alias_arn(machine_arn, &job.target.alias);
    let role = ops.schedule_role_arn.as_deref().unwrap_or_default();
    for change in &changes.schedules {
        let create = match &change.action {
            OperationAction::Create => true,
            OperationAction::Update { .. } => false,
            OperationAction::Keep | OperationAction::Delete => continue,
        };
        let Some(schedule) = ops.schedules.iter().find(|s| s.name == change.name) else {
            continue;
        };
        let input = ScheduleInput {
            group: &ops.group,
            schedule,
            target_arn: &target,
            role_arn: role,
            description: &record,
        };
        client.put_schedule(input, create).await?;
        let done = if create { "created" } else { "updated" };
        progress(&format!("schedule {} {done}", schedule.name));
    }
    match (&changes.alert, &ops.alert) {
        (OperationAction::Create | OperationAction::Update { .. }, Some(alert)) => {
            let (input_paths, template) = alert_message(&job.target.region);
            let pattern = alert_pattern(machine_arn, &alert.statuses);
            client
                .put_rule(&RuleInput {
                    name: &alert.rule,
                    pattern: &pattern,
                    description: &record,
                    tags: &tags,
                    topic_arn: &alert.topic_arn,
                    input_paths: &input_paths,
                    template: &template,
                })
                .await?;
            progress(&format!("alert rule {} -> {}", alert.rule, alert.topic_arn));
        }
        (OperationAction::Delete, _) => {
            // The ids as this deploy read them: RemoveTargets needs them before DeleteRule.
            let ids: Vec<String> = job
                .deployment
                .operations
                .rule
                .iter()
                .flat_map(|rule| rule.targets.iter().map(|t| t.id.clone()))
                .collect();
            client.delete_rule(&ops.rule, &ids).await?;
            progress(&format!("alert rule {} deleted", ops.rule));
        }
        _ => {}
    }
    for change in &changes.schedules {
        if change.action == OperationAction::Delete {
            client.delete_schedule(&ops.group, &change.name).await?;
            progress(&format!("schedule {} deleted", change.name));
        }
    }
    if changes.group == OperationAction::Delete {
        client.delete_group(&ops.group).await?;
        progress(&format!("schedule group {} deleted", ops.group));
    }
    Ok(())
}
