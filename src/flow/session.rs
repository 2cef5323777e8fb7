//! The sequence every front end runs, written once: load the pipeline, read how long its
//! tasks took, plan or refuse; then compare with what is deployed, apply, and start an
//! execution. `check`, `run-task`, `plan`, `deploy` and the action take the steps they need
//! from here, in this order, so the sequence cannot drift between them.

use std::path::Path;

use super::apply::apply_prepared;
use super::execution::{execute_deployed, ExecutionRequest};
use super::history::read_history;
use super::planning::plan_or_refuse;
use super::prepare::{prepare, TargetRequest};
use super::source::{load_pipeline, Source};
use super::Reporter;
use crate::config::Config;
use crate::pipeline::PipelineDoc;
use crate::plan::estimate::durations::History;
use crate::plan::{machine_name, Plan};

/// Where a plan's task durations come from, beside `duration_s` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durations {
    /// The config's, else the default: no AWS call (check, run-task).
    Configured,
    /// The config's, and the plan says past executions were not read (`--offline`).
    Offline,
    /// The medians of up to this many past successful executions of the deployed machine.
    Past(usize),
}

/// A pipeline and its plan.
#[derive(Debug, Clone)]
pub struct Planned {
    pub doc: PipelineDoc,
    pub plan: Plan,
}

/// Loads the pipeline, reads its durations, and plans; or reports every problem and fails
/// with [`super::planning::Refused`] (its `summary.md` written into `out`, when given).
pub async fn plan_pipeline(
    source: &Source,
    config: &Config,
    durations: Durations,
    out: Option<&Path>,
    reporter: &dyn Reporter,
) -> anyhow::Result<Planned> {
    let doc = load_pipeline(source, config, reporter)?;
    let history = match durations {
        Durations::Configured => History::default(),
        Durations::Offline => History::unavailable("Past executions were not read (--offline)."),
        Durations::Past(executions) => {
            read_history(config, &machine_name(&doc, config), executions, reporter).await
        }
    };
    let plan = plan_or_refuse(&doc, config, history, out, reporter)?;
    Ok(Planned { doc, plan })
}

/// Where a deploy writes and what it targets besides the plan.
#[derive(Debug, Clone)]
pub struct DeployRequest<'a> {
    pub target: &'a TargetRequest,
    /// The checkout the image is built from (its commit names the version).
    pub project: &'a Path,
    /// Where the plan files and `deploy.json` go.
    pub out: &'a Path,
    /// Start an execution of the new version, and how.
    pub execution: Option<ExecutionRequest>,
}

/// Compares the plan with what is deployed, applies the change set, and starts (and, if
/// asked, follows) an execution; an execution that did not succeed is an error.
pub async fn deploy(
    config: Config,
    plan: Plan,
    request: &DeployRequest<'_>,
    reporter: &dyn Reporter,
) -> anyhow::Result<()> {
    let prepared = prepare(config, plan, request.target, reporter).await?;
    let applied = apply_prepared(
        &prepared,
        request.project,
        request.out,
        &request.target.image_dir,
        reporter,
    )
    .await?;
    if let Some(execution) = &request.execution {
        execute_deployed(&prepared, &applied, execution, reporter)
            .await?
            .succeeded()?;
    }
    Ok(())
}
