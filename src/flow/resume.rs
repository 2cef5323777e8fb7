//! `kedro-sfn execute --resume EXECUTION`: a new run on the live alias that writes under a
//! failed run's data version and skips the tasks that succeeded in it (child machines
//! included), so only what failed and what follows it runs, with today's code.

use std::collections::BTreeMap;

use anyhow::{anyhow, Context};
use serde_json::{Map, Value};

use crate::aws::deploy::Clients;
use crate::aws::sfn::{ExecutionStatus, StepFunctions};
use crate::config::Config;
use crate::plan::changes::child::pinned_children;
use crate::plan::definition::arns::state_machine_name_of;
use crate::plan::definition::asl::inline_children;
use crate::plan::resume::{resume_input, skipped_tasks, ResumeRefused};

use super::execution::{run_execution, ExecutionRequest, Started};
use super::Reporter;

/// What to resume, and how the new run is started.
#[derive(Debug, Clone)]
pub struct ResumeRequest {
    /// The failed execution: its name (of this state machine) or its ARN.
    pub execution: String,
    /// Params over the failed run's.
    pub params: Map<String, Value>,
    pub name: Option<String>,
    pub wait: bool,
}

/// Resumes a failed execution of `machine_name` on the alias the config names.
pub async fn resume(
    config: &Config,
    machine_name: &str,
    request: &ResumeRequest,
    reporter: &dyn Reporter,
) -> anyhow::Result<Started> {
    let sdk = crate::aws::sdk_config(config.file.region.as_deref()).await;
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let clients = Clients::new(&sdk);
    let sfn = &clients.sfn;
    let machine = sfn
        .find(machine_name)
        .await?
        .ok_or_else(|| anyhow!("there is no state machine {machine_name}; deploy first"))?;
    let execution_arn = if request.execution.starts_with("arn:") {
        request.execution.clone()
    } else {
        format!(
            "{}:{}",
            machine.replacen(":stateMachine:", ":execution:", 1),
            request.execution
        )
    };
    let failed = sfn
        .describe(&execution_arn)
        .await
        .with_context(|| format!("cannot read the execution to resume ({execution_arn})"))?;
    if !matches!(
        failed.end.status,
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
    ) {
        return Err(ResumeRefused::NotFailed {
            execution: failed.name.clone(),
            status: failed.end.status.as_str().to_string(),
        }
        .into());
    }
    reporter.progress(&format!(
        "reading what {} ran and what succeeded",
        failed.name
    ));
    let ran = sfn.definition_of_execution(&execution_arn).await?;
    let ran = with_children(sfn, &ran, None).await?;
    let mut outcomes = sfn.task_outcomes(&execution_arn).await?;
    // A child machine that failed: its own tasks that succeeded count too.
    for child in std::mem::take(&mut outcomes.children).into_values() {
        let inner = sfn.task_outcomes(&child).await?;
        outcomes.succeeded.extend(inner.succeeded);
    }
    let alias = config.alias();
    let served = sfn.read(&machine, &alias, None).await?;
    let today = with_children(sfn, &served.definition, Some(&alias)).await?;
    let skip = skipped_tasks(&failed.name, &ran, &today, &outcomes.succeeded)?;
    // The text its tasks were given, so the version is theirs to the character.
    let start_time = outcomes
        .start_time
        .clone()
        .unwrap_or_else(|| failed.start_time.clone());
    let input = resume_input(
        failed.input.as_deref(),
        request.params.clone(),
        &failed.name,
        &start_time,
        &skip,
    );
    reporter.result(&format!(
        "resuming {} (started {start_time}): its data version, and {} that succeeded in it skipped{}",
        failed.name,
        crate::report::review::counted(skip.len(), "task", "tasks"),
        if skip.is_empty() {
            String::new()
        } else {
            format!(": {}", crate::report::review::capped(&skip, 20))
        }
    ));
    let run = ExecutionRequest {
        input: input.to_string(),
        name: request.name.clone(),
        wait: request.wait,
    };
    let target = format!("{machine}:{alias}");
    run_execution(sfn, &target, &region, &run, reporter).await
}

/// The definition with each child machine it starts inlined (read at the version it
/// names), so that its tasks are all in one definition.
async fn with_children(
    sfn: &StepFunctions,
    root: &Value,
    alias: Option<&str>,
) -> anyhow::Result<Value> {
    let references = crate::plan::definition::asl::started_children(root);
    if references.is_empty() {
        return Ok(root.clone());
    }
    let pinned = pinned_children(root);
    let mut children: BTreeMap<String, Value> = BTreeMap::new();
    for reference in references {
        let name = state_machine_name_of(reference).to_string();
        let unversioned = match pinned.get(&name) {
            Some(_) => reference
                .rsplit_once(':')
                .map_or(reference, |(arn, _)| arn)
                .to_string(),
            None => reference.to_string(),
        };
        let read = sfn
            .read(
                &unversioned,
                alias.unwrap_or(crate::config::defaults::ALIAS),
                Some(reference).filter(|_| pinned.contains_key(&name)),
            )
            .await?;
        children.insert(name, read.definition);
    }
    Ok(inline_children(root, &|reference| {
        children.get(state_machine_name_of(reference)).cloned()
    }))
}
