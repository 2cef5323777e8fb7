//! `kedro-sfn rollback`: move the alias back to the previous (or a given) version of the
//! state machine. Versions pin function versions, so the old version runs the old code.

use anyhow::{anyhow, bail, Context};
use clap::Args;

use crate::aws::{self, deploy::Clients};

use super::{configured_machine_name, SettingsArgs};

#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// The directory whose kedro-sfn.yml names the state machine.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project: std::path::PathBuf,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The version number to serve (default: the newest version older than the current one).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<u64>,
}

/// The number at the end of a version ARN (`…:stateMachine:name:12`).
fn version_number(arn: &str) -> Option<u64> {
    arn.rsplit(':').next()?.parse().ok()
}

pub fn run(args: &RollbackArgs) -> anyhow::Result<()> {
    let config = args.settings.load(&args.project)?;
    let name = configured_machine_name(&config)?;
    let alias = config
        .file
        .state_machine
        .alias
        .clone()
        .unwrap_or_else(|| super::deploy::DEFAULT_ALIAS.into());
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let sdk = aws::sdk_config(config.file.region.as_deref()).await;
        let clients = Clients::new(&sdk);
        let arn = clients
            .sfn
            .find(&name)
            .await?
            .ok_or_else(|| anyhow!("there is no state machine {name} to roll back"))?;
        let current = clients
            .sfn
            .alias_target(&arn, &alias)
            .await?
            .ok_or_else(|| anyhow!("{name} has no alias {alias}; deploy first"))?;
        let current_number = version_number(&current).ok_or_else(|| {
            anyhow!("the alias {alias} points at {current}, which is not a version")
        })?;
        let target = match args.to {
            Some(version) => {
                let arn = format!("{arn}:{version}");
                if !clients.sfn.version_exists(&arn).await? {
                    bail!("{name} has no version {version}");
                }
                arn
            }
            None => {
                let mut found = None;
                for version in (1..current_number).rev() {
                    let candidate = format!("{arn}:{version}");
                    if clients.sfn.version_exists(&candidate).await? {
                        found = Some(candidate);
                        break;
                    }
                }
                found.ok_or_else(|| anyhow!("{name} has no version older than {current_number}"))?
            }
        };
        if target == current {
            println!("the alias {alias} serves {target} already");
            return Ok(());
        }
        clients.sfn.point_alias(&arn, &alias, &target, true).await?;
        println!("alias {alias}: {current} -> {target}");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_come_from_the_arn() {
        assert_eq!(
            version_number("arn:aws:states:eu-west-1:1:stateMachine:m:12"),
            Some(12)
        );
        assert_eq!(
            version_number("arn:aws:states:eu-west-1:1:stateMachine:m"),
            None
        );
    }
}
