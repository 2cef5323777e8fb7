//! `kedro-sfn deploy`: plan, read what is deployed, apply the change set, and optionally
//! start an execution and follow it.

use std::path::PathBuf;

use clap::Args;

use crate::flow::execution::ExecutionRequest;
use crate::flow::session::{deploy, plan_pipeline, DeployRequest, Durations};
use crate::flow::{block_on, Terminal};

use super::{SettingsArgs, SourceArgs, TargetArgs};

#[derive(Debug, Clone, Args)]
#[command(after_help = "Example:\n  kedro-sfn deploy --env aws --start-execution --wait")]
pub struct DeployArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Where the plan, the summary and deploy.json are written.
    #[arg(long, value_name = "DIR", default_value = "kedro-sfn-plan")]
    pub out: PathBuf,
    /// After deploying, start an execution of the new version.
    #[arg(long)]
    pub start_execution: bool,
    /// The execution's input (runtime params under "params").
    #[arg(
        long,
        value_name = "JSON",
        default_value = "{}",
        requires = "start_execution"
    )]
    pub input: String,
    /// The execution's name (default: kedro-sfn-<time>).
    #[arg(long, value_name = "NAME", requires = "start_execution")]
    pub execution_name: Option<String>,
    /// Follow the execution to its end; the exit code tells whether it succeeded.
    #[arg(long, requires = "start_execution")]
    pub wait: bool,
}

pub fn run(args: &DeployArgs) -> anyhow::Result<()> {
    let reporter = Terminal;
    crate::flow::outputs::clear_stale(&args.out)?;
    let config = args.settings.load(&args.source.kedro.project)?;
    let project = &args.source.kedro.project;
    let target = args.target.request(project);
    let request = DeployRequest {
        target: &target,
        project,
        out: &args.out,
        execution: args.start_execution.then(|| ExecutionRequest {
            input: args.input.clone(),
            name: args.execution_name.clone(),
            wait: args.wait,
        }),
    };
    block_on(async {
        let durations = Durations::Past(args.target.history);
        let planned = plan_pipeline(
            &args.source.source(),
            &config,
            durations,
            Some(&args.out),
            &reporter,
        )
        .await?;
        deploy(config, planned.plan, &request, &reporter).await?;
        Ok(())
    })
}
