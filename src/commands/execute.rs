//! `kedro-sfn execute`: start an execution of the deployed state machine (a re-run by hand)
//! and, with `--wait`, follow it to its end.

use clap::Args;

use crate::flow::execution::{execute_configured, ExecutionRequest};
use crate::flow::prepare::configured_machine_name;
use crate::flow::{block_on, Terminal};

use super::DeployedArgs;

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Example:\n  kedro-sfn execute --input '{\"params\": {\"model_options.test_size\": 0.3}}' --wait"
)]
pub struct ExecuteArgs {
    #[command(flatten)]
    pub deployed: DeployedArgs,
    /// The execution's input (runtime params under "params").
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub input: String,
    /// The execution's name (default: kedro-sfn-<time>).
    #[arg(long, value_name = "NAME")]
    pub execution_name: Option<String>,
    /// Follow the execution to its end; the exit code tells whether it succeeded.
    #[arg(long)]
    pub wait: bool,
}

pub fn run(args: &ExecuteArgs) -> anyhow::Result<()> {
    let config = args.deployed.load()?;
    let name = configured_machine_name(&config)?;
    let request = ExecutionRequest {
        input: args.input.clone(),
        name: args.execution_name.clone(),
        wait: args.wait,
    };
    block_on(execute_configured(&config, &name, &request, &Terminal))?.succeeded()?;
    Ok(())
}
