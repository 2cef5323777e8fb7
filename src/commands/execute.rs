//! `kedro-sfn execute`: start an execution of the deployed state machine (a re-run by hand)
//! and, with `--wait`, follow it to its end.

use anyhow::{anyhow, Context};
use clap::Args;

use crate::aws::{self, deploy::Clients};

use super::deploy::{run_execution, ExecutionRequest};
use super::{configured_machine_name, SettingsArgs};

#[derive(Debug, Clone, Args)]
pub struct ExecuteArgs {
    /// The directory whose kedro-sfn.yml names the state machine.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project: std::path::PathBuf,
    #[command(flatten)]
    pub settings: SettingsArgs,
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
    let config = args.settings.load(&args.project)?;
    let name = configured_machine_name(&config)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let sdk = aws::sdk_config(config.file.region.as_deref()).await;
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let clients = Clients::new(&sdk);
        let arn = clients
            .sfn
            .find(&name)
            .await?
            .ok_or_else(|| anyhow!("there is no state machine {name}; deploy first"))?;
        let alias = format!(
            "{arn}:{}",
            config
                .file
                .state_machine
                .alias
                .as_deref()
                .unwrap_or(super::deploy::DEFAULT_ALIAS)
        );
        let request = ExecutionRequest {
            target: &alias,
            fallback: Some(&arn),
            region: &region,
            input: &args.input,
            name: args.execution_name.clone(),
            wait: args.wait,
        };
        run_execution(&clients.sfn, &request).await
    })
}
