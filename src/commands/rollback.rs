//! `kedro-sfn rollback`: move the alias back to the previous (or a given) version of the
//! state machine (see [`crate::flow::rollback`]).

use clap::Args;

use crate::flow::prepare::configured_machine_name;
use crate::flow::rollback::{rollback, RolledBack};
use crate::flow::{block_on, Reporter, Terminal};

use super::DeployedArgs;

#[derive(Debug, Clone, Args)]
#[command(after_help = "Example:\n  kedro-sfn rollback --to 3")]
pub struct RollbackArgs {
    #[command(flatten)]
    pub deployed: DeployedArgs,
    /// The version number to serve (default: the newest version older than the current one).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<u64>,
}

pub fn run(args: &RollbackArgs) -> anyhow::Result<()> {
    let config = args.deployed.load()?;
    let name = configured_machine_name(&config)?;
    let reporter = Terminal;
    match block_on(rollback(&config, &name, args.to))? {
        RolledBack::Already { alias, version } => {
            reporter.result(&format!("the alias {alias} serves {version} already"))
        }
        RolledBack::Moved { alias, from, to } => {
            reporter.result(&format!("alias {alias}: {from} -> {to}"))
        }
    }
    Ok(())
}
