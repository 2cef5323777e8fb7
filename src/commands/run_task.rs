//! `kedro-sfn run-task`: runs one task of the planned state machine on this machine (see
//! [`crate::flow::run_task`]); prints the handler's result.

use clap::Args;

use crate::flow::run_task::{run_task, RunTaskRequest};
use crate::flow::{Reporter, Terminal};

use super::{SettingsArgs, SourceArgs};

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Example:\n  kedro-sfn run-task --env aws --task preprocess_companies_node --start-time 2026-11-27T10:00:00Z"
)]
pub struct RunTaskArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The task: its state name, or the name of a Kedro node in it.
    #[arg(long, value_name = "NAME")]
    pub task: String,
    /// The execution input, as Step Functions would pass it (runtime params under "params").
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub input: String,
    /// The execution's name (default: local-<start time>).
    #[arg(long, value_name = "NAME")]
    pub execution_name: Option<String>,
    /// The execution's start time, ISO 8601 (default: now); it sets the save version, so
    /// give the same one to every task of one run.
    #[arg(long, value_name = "TIME")]
    pub start_time: Option<String>,
}

pub fn run(args: &RunTaskArgs) -> anyhow::Result<()> {
    let reporter = Terminal;
    let config = args.settings.load(&args.source.kedro.project)?;
    let request = RunTaskRequest {
        task: args.task.clone(),
        input: args.input.clone(),
        execution_name: args.execution_name.clone(),
        start_time: args.start_time.clone(),
    };
    let result = run_task(&args.source.source(), &config, &request, &reporter)?;
    reporter.result(&serde_json::to_string_pretty(&result)?);
    Ok(())
}
