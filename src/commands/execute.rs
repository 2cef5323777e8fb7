//! `kedro-sfn execute`: start an execution of the deployed state machine (a re-run by hand)
//! and, with `--wait`, follow it to its end.

use clap::Args;

use crate::flow::execution::{execute_configured, ExecutionRequest};
use crate::flow::prepare::configured_machine_name;
use crate::flow::resume::{resume, ResumeRequest};
use crate::flow::{block_on, Terminal};

use super::DeployedArgs;

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  kedro-sfn execute --params model_options.test_size=0.3,epochs=10 --wait\n  kedro-sfn execute --input '{\"params\": {\"model_options.test_size\": 0.3}}' --wait\n  kedro-sfn execute --resume kedro-sfn-1765000000-123 --wait"
)]
pub struct ExecuteArgs {
    #[command(flatten)]
    pub deployed: DeployedArgs,
    /// The execution's input (runtime params under "params").
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub input: String,
    /// Runtime params in `kedro run --params` syntax (`key=value,other.key=2`), for every
    /// task's Kedro session; they win over the same keys in --input.
    #[arg(long, value_name = "KEY=VALUE,...")]
    pub params: Option<String>,
    /// The execution's name (default: kedro-sfn-<time>).
    #[arg(long, value_name = "NAME")]
    pub execution_name: Option<String>,
    /// Follow the execution to its end; the exit code tells whether it succeeded.
    #[arg(long)]
    pub wait: bool,
    /// Resume a failed execution (its name or ARN): a new run on the alias, under its data
    /// version and with its params (--params over them), that skips every task that
    /// succeeded in it. Refused when such a task is gone or runs other nodes now.
    #[arg(long, value_name = "EXECUTION", conflicts_with = "input")]
    pub resume: Option<String>,
}

pub fn run(args: &ExecuteArgs) -> anyhow::Result<()> {
    let config = args.deployed.load()?;
    let name = configured_machine_name(&config)?;
    if let Some(execution) = &args.resume {
        let params = match &args.params {
            Some(text) => crate::pipeline::params::parse_params(text)?,
            None => serde_json::Map::new(),
        };
        let request = ResumeRequest {
            execution: execution.clone(),
            params,
            name: args.execution_name.clone(),
            wait: args.wait,
        };
        block_on(resume(&config, &name, &request, &Terminal))?.succeeded()?;
        return Ok(());
    }
    let input = match &args.params {
        None => args.input.clone(),
        Some(text) => {
            let given: serde_json::Value = serde_json::from_str(&args.input)
                .map_err(|e| anyhow::anyhow!("--input is not JSON ({e}): {}", args.input))?;
            let params = crate::pipeline::params::parse_params(text)?;
            crate::pipeline::params::input_with_params(&given, params).to_string()
        }
    };
    let request = ExecutionRequest {
        input,
        name: args.execution_name.clone(),
        wait: args.wait,
    };
    block_on(execute_configured(&config, &name, &request, &Terminal))?.succeeded()?;
    Ok(())
}
