//! `kedro-sfn deploy`: plan, read what is deployed, apply the change set, and optionally
//! start an execution and follow it.

use std::path::PathBuf;

use clap::Args;

use crate::flow::apply::apply_prepared;
use crate::flow::execution::{execute_deployed, ExecutionRequest};
use crate::flow::history::read_history;
use crate::flow::planning::plan_or_refuse;
use crate::flow::prepare::prepare;
use crate::flow::source::load_pipeline;
use crate::flow::{block_on, Terminal};
use crate::plan::machine_name;

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
    let config = args.settings.load(&args.source.kedro.project)?;
    let doc = load_pipeline(&args.source.source(), &config, &reporter)?;
    let machine = machine_name(&doc, &config);
    let history = block_on(async {
        Ok(read_history(&config, &machine, args.target.history, &reporter).await)
    })?;
    let plan = plan_or_refuse(&doc, &config, history, Some(&args.out), &reporter)?;
    block_on(async {
        let prepared = prepare(
            config,
            plan,
            &args.target.request(&args.source.kedro.project),
            &reporter,
        )
        .await?;
        let applied = apply_prepared(
            &prepared,
            &args.source.kedro.project,
            &args.out,
            &args.target.image_dir,
            &reporter,
        )
        .await?;
        if args.start_execution {
            let request = ExecutionRequest {
                input: args.input.clone(),
                name: args.execution_name.clone(),
                wait: args.wait,
            };
            execute_deployed(&prepared, &applied, &request, &reporter)
                .await?
                .succeeded()?;
        }
        Ok(())
    })
}
