//! Move the alias back to the previous (or a given) version of the state machine. Versions
//! pin function versions, so the old version runs the old code.

use anyhow::{anyhow, bail};

use crate::aws::deploy::Clients;
use crate::config::Config;
use crate::plan::definition::arns::version_number;

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolledBack {
    /// The alias serves the wanted version already.
    Already { alias: String, version: String },
    Moved {
        alias: String,
        from: String,
        to: String,
    },
}

/// Points the alias of `machine_name` at version `to`, else at the newest version older
/// than the one it serves.
pub async fn rollback(
    config: &Config,
    machine_name: &str,
    to: Option<u64>,
) -> anyhow::Result<RolledBack> {
    let alias = config.alias();
    let sdk = crate::aws::sdk_config(config.file.region.as_deref()).await;
    let sfn = Clients::new(&sdk).sfn;
    let name = machine_name;
    let arn = sfn
        .find(name)
        .await?
        .ok_or_else(|| anyhow!("there is no state machine {name} to roll back"))?;
    let current = sfn
        .alias_target(&arn, &alias)
        .await?
        .ok_or_else(|| anyhow!("{name} has no alias {alias}; deploy first"))?;
    let current_number = version_number(&current)
        .ok_or_else(|| anyhow!("the alias {alias} points at {current}, which is not a version"))?;
    let target = match to {
        Some(version) => {
            let wanted = format!("{arn}:{version}");
            if !sfn.version_exists(&wanted).await? {
                bail!("{name} has no version {version}");
            }
            wanted
        }
        None => {
            let mut found = None;
            for version in (1..current_number).rev() {
                let candidate = format!("{arn}:{version}");
                if sfn.version_exists(&candidate).await? {
                    found = Some(candidate);
                    break;
                }
            }
            found.ok_or_else(|| anyhow!("{name} has no version older than {current_number}"))?
        }
    };
    if target == current {
        return Ok(RolledBack::Already {
            alias,
            version: target,
        });
    }
    sfn.point_alias(&arn, &alias, &target, true).await?;
    Ok(RolledBack::Moved {
        alias,
        from: current,
        to: target,
    })
}
