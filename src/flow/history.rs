//! Past executions of the deployed machine: how long each task really took. Read before
//! planning, so the machine's shape and the plan's run time and cost rest on measurements;
//! bounded in calls and time, and never a reason for a plan to fail.

use std::time::Duration;

use crate::aws::deploy::Clients;
use crate::aws::sfn::{StepFunctions, TaskRunRecord};
use crate::config::Config;
use crate::plan::definition::arns::without_number_suffix;
use crate::plan::definition::asl::{inline_children, started_children};
use crate::plan::estimate::durations::History;

use super::Reporter;

/// The most time reading the history may take; past it the plan goes on without.
const TIME_BUDGET: Duration = Duration::from_secs(20);

/// Pages of history read per execution (1,000 events each: ~250 tasks per page).
const MAX_PAGES_PER_EXECUTION: usize = 20;

/// Reads the durations of the last `executions` successful executions of the state machine
/// `machine_name`, and the definition its alias serves (whose shape the plan keeps while it
/// is about as fast). No machine, no executions, no permission, throttling or a slow endpoint
/// give an empty (or partial) history with a note saying why, never an error.
pub async fn read_history(
    config: &Config,
    machine_name: &str,
    executions: usize,
    reporter: &dyn Reporter,
) -> History {
    if executions == 0 {
        return History::unavailable("Past executions were not read (--history 0).");
    }
    let sdk = crate::aws::sdk_config_for_optional_reads(config.file.region.as_deref()).await;
    if sdk.region().is_none() {
        return History::unavailable("Past executions were not read: no AWS region.");
    }
    let clients = Clients::new(&sdk);
    reporter.progress(&format!(
        "reading the durations of up to {executions} past execution(s) of {machine_name}"
    ));
    let mut history = History::default();
    let alias = config.alias();
    let reading = read_into(&clients.sfn, machine_name, &alias, executions, &mut history);
    match tokio::time::timeout(TIME_BUDGET, reading).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) if history.executions == 0 => {
            history.note = Some(format!(
                "Past executions could not be read ({error}): configured durations are used."
            ));
        }
        Ok(Err(error)) => {
            history.note = Some(format!(
                "Past executions were read in part ({error}): {} execution(s) give the durations.",
                history.executions
            ));
        }
        Err(_) => {
            history.note = Some(format!(
                "Reading past executions took longer than {} s: {} execution(s) were read.",
                TIME_BUDGET.as_secs(),
                history.executions
            ));
        }
    }
    match &history.note {
        Some(note) => reporter.progress(&format!("note: {note}")),
        None if history.executions > 0 => reporter.progress(&format!(
            "durations of {} task(s) from {} past execution(s) ({} AWS reads)",
            history.task_count(),
            history.executions,
            clients.calls.count().reads
        )),
        None => {}
    }
    history
}

async fn read_into(
    sfn: &StepFunctions,
    machine_name: &str,
    alias: &str,
    executions: usize,
    history: &mut History,
) -> Result<(), crate::aws::AwsError> {
    let Some(machine) = sfn.find(machine_name).await? else {
        return Ok(());
    };
    let root = sfn.read(&machine, alias, None).await?.definition;
    // A split machine: its tasks ran in the children, each execution named as the root's.
    let mut children = Vec::new();
    for reference in started_children(&root) {
        let arn = without_number_suffix(reference).to_string();
        let definition = sfn.read(&arn, alias, Some(reference)).await?.definition;
        children.push((arn, reference.to_string(), definition));
    }
    history.deployed_definition = Some(if children.is_empty() {
        root
    } else {
        inline_children(&root, &|reference| {
            children
                .iter()
                .find(|(_, version, _)| version == reference)
                .map(|(_, _, definition)| definition.clone())
        })
    });
    for execution in sfn.recent_successes(&machine, executions).await? {
        let runs = sfn.task_runs(&execution, MAX_PAGES_PER_EXECUTION).await?;
        record_runs(history, &runs);
        for (child, _, _) in &children {
            let Some(child_execution) = child_execution(&execution, child) else {
                continue;
            };
            let runs = sfn
                .task_runs(&child_execution, MAX_PAGES_PER_EXECUTION)
                .await?;
            record_runs(history, &runs);
        }
        history.executions += 1;
    }
    Ok(())
}

/// The child machine's execution that a root execution started: the same name, under the
/// child (`arn:…:execution:<root>:<name>` -> `arn:…:execution:<child>:<name>`).
fn child_execution(root_execution: &str, child_machine: &str) -> Option<String> {
    let (_, name) = root_execution.rsplit_once(':')?;
    let (prefix, child) = child_machine.split_once(":stateMachine:")?;
    Some(format!("{prefix}:execution:{child}:{name}"))
}

/// Adds one execution's task runs: only those that ended and say which nodes they ran.
fn record_runs(history: &mut History, runs: &[TaskRunRecord]) {
    for run in runs {
        if let (Some(nodes), Some(exited)) = (&run.nodes, run.exited_s) {
            history.record(nodes, exited - run.entered_s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_execution_is_the_root_execution_under_the_child() {
        assert_eq!(
            child_execution(
                "arn:aws:states:eu-west-1:1:execution:big:run-7",
                "arn:aws:states:eu-west-1:1:stateMachine:big--ns_000-ns_017"
            )
            .as_deref(),
            Some("arn:aws:states:eu-west-1:1:execution:big--ns_000-ns_017:run-7")
        );
    }
}
