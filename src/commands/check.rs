//! `kedro-sfn check`: refuse, with every offender named, what would break on Lambda.

use clap::Args;

use crate::flow::session::{plan_pipeline, Durations};
use crate::flow::{block_on, Reporter, Terminal};

use super::{SettingsArgs, SourceArgs};

#[derive(Debug, Clone, Args)]
#[command(after_help = "Example:\n  kedro-sfn check --env aws --group-by none")]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Reports the findings; fails when there is an error among them. Runs the whole planner, so
/// that limits only a rendered definition shows (its size) are checked too.
pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let reporter = Terminal;
    let config = args.settings.load(&args.source.kedro.project)?;
    let source = args.source.source();
    let planned = block_on(plan_pipeline(
        &source,
        &config,
        Durations::Configured,
        None,
        &reporter,
    ))?;
    let (doc, plan) = (planned.doc, planned.plan);
    let on_ecs = match plan.ecs_tasks.len() {
        0 => String::new(),
        n => format!("; {n} on ECS Fargate"),
    };
    reporter.result(&format!(
        "check passed: pipeline {} has {} nodes in {} tasks (grouped by {}{on_ecs}), {} warning(s)",
        doc.pipeline,
        doc.nodes.len(),
        plan.tasks.len(),
        config.group_by(),
        plan.findings.warnings().count()
    ));
    Ok(())
}
