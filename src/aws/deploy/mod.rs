//! Reads what is deployed and executes the steps of a change set (decided, pure, by
//! [`crate::plan::changes::steps`]), in an order that keeps the running
//! state machine working if any step fails: functions first (new versions; the machine
//! still names the old ones), then the state machine (a new version), then the alias, then
//! the functions of removed tasks. A rerun after a failure reads again and converges.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

mod operations;
mod read;
mod steps;

pub use read::read_deployment;
use steps::{delete_removed, point_aliases, probe_versions, publish_machines, put_functions};

use super::ecs::Ecs;
use super::lambda::Lambda;
use super::sfn::{StepFunctions, Validation};
use super::{AwsError, Calls};
use crate::plan::changes::steps::steps;
use crate::plan::changes::{ChangeSet, ChildAction, Deployment, FunctionAction, Target};
use crate::plan::Plan;

/// The AWS clients a deploy uses, sharing one call counter.
#[derive(Debug, Clone)]
pub struct Clients {
    pub lambda: Lambda,
    pub ecs: Ecs,
    pub sfn: StepFunctions,
    pub operations: super::operations::Operations,
    pub calls: Arc<Calls>,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let calls = Arc::new(Calls::default());
        Clients {
            lambda: Lambda::new(config, calls.clone()),
            ecs: Ecs::new(config, calls.clone()),
            sfn: StepFunctions::new(config, calls.clone()),
            operations: super::operations::Operations::new(config, calls.clone()),
            calls,
        }
    }
}

/// Why a deploy stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{} resource(s) exist with the names this state machine needs but are not tagged {}={} (schedules: not described as its own): {}. kedro-sfn never overwrites what it does not own; rename the state machine (state_machine.name) or remove them", .names.len(), crate::plan::functions::OWNER_TAG, .machine, .names.join(", "))]
    Clash { machine: String, names: Vec<String> },
    #[error("{count} function(s) could not be deployed; {}. Fix the cause and deploy again:\n{list}", if *.first { "no state machine was created, so nothing runs until a deploy succeeds" } else { "the state machine and its alias were left as they were, so executions keep running the previous version" })]
    Functions {
        count: usize,
        list: String,
        /// Nothing was deployed before: there is no previous version to keep running.
        first: bool,
    },
    #[error("{count} new function version(s) failed their probe: each would fail its task before a node runs. The state machine and its alias were left as they were (the new versions serve nothing). Fix the cause, build the image again and deploy:\n{list}")]
    Probe { count: usize, list: String },
    #[error("Step Functions rejects the definition: {0}")]
    InvalidDefinition(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// One line per distinct error, naming what it stopped: a missing role fails every
/// function alike, and is said once.
fn grouped_failures(failures: Vec<(String, String)>) -> String {
    // Errors that differ only by the resource's own name are one error.
    let mut by_error: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (name, error) in failures {
        let key = error.replace(&format!(" {name}"), "");
        by_error.entry(key).or_default().push((name, error));
    }
    by_error
        .into_iter()
        .map(|(error, mut failed)| {
            failed.sort();
            let names: Vec<String> = failed.iter().map(|(name, _)| name.clone()).collect();
            match failed.as_slice() {
                [(one, original)] => format!("  - {one}: {original}"),
                _ => {
                    const SHOWN: usize = 5;
                    let more = names.len().saturating_sub(SHOWN);
                    let mut list = names
                        .iter()
                        .take(SHOWN)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ");
                    if more > 0 {
                        list.push_str(&format!(" and {more} more"));
                    }
                    format!("  - {} of them ({list}): {error}", names.len())
                }
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a deploy did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    pub state_machine_arn: Option<String>,
    /// The version the alias now serves.
    pub version_arn: Option<String>,
    /// Function -> the version its Task names.
    pub function_versions: BTreeMap<String, u64>,
    /// Task definition family -> the revision its Task names.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub task_definition_revisions: BTreeMap<String, u64>,
    /// Child machine -> the version ARN the root starts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub child_versions: BTreeMap<String, String>,
    pub deleted: Vec<String>,
    /// What Step Functions said of the definitions sent (`None`: none were sent).
    pub validation: Option<Validation>,
    /// The definition as sent (or as already deployed).
    pub definition: serde_json::Value,
    /// The probes run before the state machine changed (`None`: none were asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<Probes>,
}

/// What one deploy works from, all decided before anything changes.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    pub clients: &'a Clients,
    pub plan: &'a Plan,
    pub deployment: &'a Deployment,
    pub changes: &'a ChangeSet,
    pub target: &'a Target,
    pub concurrency: usize,
    /// The new state machine version's description: the commit and a one-line summary.
    pub version_description: &'a str,
    /// Invoke each new or changed function version once with a probe before the state
    /// machine changes (see [`probe_versions`]).
    pub probe: bool,
}

/// The probes a deploy ran: how many versions, and how long they took together.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Probes {
    pub count: usize,
    pub seconds: f64,
}

/// Applies the change set in the steps [`steps`] decides. Nothing mutating happens when it
/// is empty.
pub async fn apply(job: Job<'_>, progress: &(dyn Fn(&str) + Sync)) -> Result<Applied, DeployError> {
    let Job {
        plan,
        deployment,
        changes,
        ..
    } = job;
    if !changes.clashes.is_empty() {
        return Err(DeployError::Clash {
            machine: plan.state_machine.name.clone(),
            names: changes.clashes.clone(),
        });
    }
    let mut applied = kept(deployment, changes);
    if changes.is_empty() {
        return Ok(applied);
    }
    let steps = steps(plan, changes);
    let pool = Arc::new(Semaphore::new(job.concurrency.max(1)));
    put_functions(&job, &steps, &pool, &mut applied, progress).await?;
    if job.probe {
        applied.probes = Some(probe_versions(&job, &steps, &applied, &pool, progress).await?);
    }
    publish_machines(&job, &mut applied, progress).await?;
    point_aliases(&job, &applied, progress).await?;
    operations::apply(&job, &applied, progress).await?;
    for version in &changes.retention.deleted_versions {
        job.clients.sfn.delete_version(version).await?;
        progress(&format!("deleted the old version {version}"));
    }
    delete_removed(&job, &steps.deletions, &pool, &mut applied, progress).await?;
    Ok(applied)
}

/// What a deploy starts from: the deployed machine, and the versions of everything kept.
fn kept(deployment: &Deployment, changes: &ChangeSet) -> Applied {
    Applied {
        state_machine_arn: deployment.machine.as_ref().map(|m| m.arn.clone()),
        version_arn: deployment
            .machine
            .as_ref()
            .and_then(|m| m.alias_version_arn.clone()),
        function_versions: changes
            .functions
            .iter()
            .filter(|f| f.action == FunctionAction::Keep)
            .filter_map(|f| Some((f.name.clone(), f.version?)))
            .collect(),
        task_definition_revisions: changes
            .ecs_tasks
            .iter()
            .filter(|t| t.action == FunctionAction::Keep)
            .filter_map(|t| Some((t.family.clone(), t.revision?)))
            .collect(),
        child_versions: changes
            .children
            .iter()
            .filter(|c| c.action == ChildAction::Keep)
            .filter_map(|c| {
                let arn = &deployment.children.get(&c.name)?.arn;
                Some((c.name.clone(), format!("{arn}:{}", c.version?)))
            })
            .collect(),
        deleted: Vec::new(),
        validation: None,
        definition: changes.definition.clone(),
        probes: None,
    }
}
